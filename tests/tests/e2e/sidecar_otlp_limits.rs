//! The OTLP listener's connection limits with real sockets against the real sidecar: a
//! slowloris head is cut off at `header_read_timeout_ms`, a trickled body gets 408, a
//! connection past `max_connections` is closed at once, an idle keep-alive connection lives
//! past the header timeout and is closed at `idle_timeout_ms`; the source stays up and a
//! valid export still succeeds afterwards.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tests::sidecar::{free_port, Sidecar, Workspace};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LIMIT: Duration = Duration::from_secs(60);
const HEADER_MS: u64 = 1_000;
const IDLE_MS: u64 = 3_000;
const MAX_CONNECTIONS: usize = 4;

/// A valid delta-counter export as raw HTTP/1.1.
fn export_request(keep_alive: bool) -> Vec<u8> {
    let now_ns = (tests::sidecar::now_ms() * 1_000_000).to_string();
    let body = serde_json::json!({"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": "JobsCreated", "unit": "1", "sum": {"aggregationTemporality": 1,
         "isMonotonic": true, "dataPoints": [{"timeUnixNano": now_ns, "asInt": "1"}]}}]}]}]})
    .to_string();
    format!(
        "POST /v1/metrics HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n{body}",
        body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    )
    .into_bytes()
}

/// Reads until the server closes (EOF or reset); returns what came and when it closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Instant) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (out, Instant::now()),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server kept the connection open past {limit:?}"),
        }
    }
}

/// Reads one response head and its (small, length-delimited) body.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("an answer in time")
            .expect("readable");
        assert!(
            n > 0,
            "closed before answering: {}",
            String::from_utf8_lossy(&out)
        );
        out.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&out).into_owned();
        if let Some(head_end) = text.find("\r\n\r\n") {
            let length = text[..head_end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if out.len() >= head_end + 4 + length {
                return text;
            }
        }
    }
}

#[tokio::test]
async fn slow_heads_bodies_and_surplus_or_idle_connections_are_closed_and_exports_go_on() {
    let ws = Workspace::new();
    let port = free_port();
    let config = format!(
        "[sources.otlp]\naddress = \"127.0.0.1:{port}\"\nmax_connections = {MAX_CONNECTIONS}\nheader_read_timeout_ms = {HEADER_MS}\nidle_timeout_ms = {IDLE_MS}\nbody_read_timeout_ms = 500\naccept_timeout_ms = 100\n[sinks.file]\npath = \"{}\"\n[metrics]\nmode = \"file\"\nfile_path = \"{}\"\nsidecar_health = false\n",
        ws.path("shipped.ndjson").display(),
        ws.path("datums.ndjson").display()
    );
    let mut sidecar = Sidecar::start(ws.tmp.path(), &config, &[], Stdio::null()).unwrap();
    sidecar
        .wait_metric_at_least("aistudio_sidecar_events_shipped_total", 0.0, LIMIT)
        .await;
    let address = format!("127.0.0.1:{port}");

    // The cap (first, while no other connection is open): four silent connections hold
    // every slot; a fifth is closed at once, the four only at their header timeout.
    let mut held = Vec::new();
    let opened = Instant::now();
    for _ in 0..MAX_CONNECTIONS {
        held.push(TcpStream::connect(&address).await.unwrap());
    }
    let mut surplus = TcpStream::connect(&address).await.unwrap();
    let (_, closed) = read_until_closed(&mut surplus, Duration::from_secs(5)).await;
    let surplus_after = closed - opened;
    assert!(
        surplus_after < Duration::from_millis(HEADER_MS / 2),
        "the connection past the cap was closed after {surplus_after:?}"
    );
    for stream in &mut held {
        let (_, closed) = read_until_closed(stream, Duration::from_secs(10)).await;
        assert!(
            closed - opened >= Duration::from_millis(HEADER_MS - 100),
            "a connection within the cap lived its header timeout"
        );
    }

    // Slowloris: a head sent a byte every 50 ms would take 10 s; it is cut off at ~1 s.
    let mut slow = TcpStream::connect(&address).await.unwrap();
    let started = Instant::now();
    let head = b"POST /v1/metrics HTTP/1.1\r\nHost: localhost\r\nX-Padding: ".repeat(4);
    let mut cut_off = None;
    for byte in head.iter().cycle().take(200) {
        if slow.write_all(&[*byte]).await.is_err() {
            cut_off = Some(started.elapsed());
            break;
        }
        let mut probe = [0u8; 64];
        if let Ok(read) =
            tokio::time::timeout(Duration::from_millis(50), slow.read(&mut probe)).await
        {
            assert!(
                matches!(read, Ok(0) | Err(_)),
                "no answer to a partial head"
            );
            cut_off = Some(started.elapsed());
            break;
        }
    }
    let cut_off = cut_off.expect("the slowloris connection was closed");
    assert!(
        cut_off >= Duration::from_millis(HEADER_MS - 100)
            && cut_off < Duration::from_millis(HEADER_MS * 3),
        "closed after {cut_off:?}, header timeout {HEADER_MS} ms"
    );

    // A trickled body: its head is complete, the body never is: 408 at body + accept timeout.
    let mut trickle = TcpStream::connect(&address).await.unwrap();
    trickle
        .write_all(b"POST /v1/metrics HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
        .await
        .unwrap();
    let answer = read_response(&mut trickle).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    // Keep-alive: an idle connection outlives the header timeout (a second request on it at
    // 2 s is answered), then closes at the idle timeout.
    let mut kept = TcpStream::connect(&address).await.unwrap();
    kept.write_all(&export_request(true)).await.unwrap();
    let answer = read_response(&mut kept).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    tokio::time::sleep(Duration::from_millis(HEADER_MS * 2)).await;
    kept.write_all(&export_request(true)).await.unwrap();
    let answer = read_response(&mut kept).await;
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "idle past the header timeout: {answer}"
    );
    let idle_from = Instant::now();
    let (rest, closed) = read_until_closed(&mut kept, Duration::from_millis(IDLE_MS * 3)).await;
    assert!(rest.is_empty());
    let idle = closed - idle_from;
    assert!(
        idle >= Duration::from_millis(IDLE_MS - 300) && idle < Duration::from_millis(IDLE_MS * 2),
        "idle connection closed after {idle:?}, idle timeout {IDLE_MS} ms"
    );

    // The source is still up: a normal client's export succeeds.
    let response = reqwest::Client::new()
        .post(format!("http://{address}/v1/metrics"))
        .header("content-type", "application/json")
        .body(
            String::from_utf8(export_request(false))
                .unwrap()
                .split("\r\n\r\n")
                .nth(1)
                .unwrap()
                .to_owned(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    sidecar.stop(LIMIT).await;
    let stderr = sidecar.stderr();
    assert!(
        stderr.contains("connection refused, sources.otlp.max_connections are open"),
        "{stderr}"
    );
}
