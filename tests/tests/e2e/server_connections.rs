//! End-to-end: the connection limits of the real binary on real sockets — the header-read
//! timeout (a silent client and a head sent one byte at a time are both closed), the idle
//! keep-alive timeout (longer, and separate from the header timeout), the per-peer cap
//! (another loopback address still gets in) and the health reserve at the total cap.
// Test helpers may unwrap: a panic is the test failing.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;
use tests::server_harness::{
    api_addr, chat_body, env_with, metric_sum, raw_health, raw_request, scrape, Server,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

const HEADER_MS: u64 = 1_000;
const IDLE_MS: u64 = 3_000;

/// Waits until the server closes `tcp` and returns how long that took from `since`.
async fn closed_after(tcp: &mut TcpStream, since: Instant) -> Duration {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(20), tcp.read(&mut buf))
            .await
            .expect("the server never closed the connection")
        {
            Ok(0) | Err(_) => return since.elapsed(),
            Ok(_) => {}
        }
    }
}

/// Reads one HTTP/1.1 response with a `content-length` body; returns the status.
async fn read_response(tcp: &mut TcpStream) -> u16 {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tcp.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed mid-response");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .expect("content-length");
            if got.len() >= end + 4 + len {
                return text[9..12].parse().unwrap();
            }
        }
    }
}

const HEALTH_KEEPALIVE: &[u8] = b"GET /api/health HTTP/1.1\r\nHost: t\r\n\r\n";

#[tokio::test]
async fn silent_and_slow_heads_hit_the_header_timeout_and_idle_keepalive_the_idle_timeout() {
    let (h, i) = (HEADER_MS.to_string(), IDLE_MS.to_string());
    let server = Server::start(&env_with(&[
        ("HEADER_READ_TIMEOUT_MS", &h),
        ("IDLE_TIMEOUT_MS", &i),
    ]))
    .await;
    let addr = api_addr(&server);
    let silent = async {
        let t0 = Instant::now();
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        closed_after(&mut tcp, t0).await
    };
    let trickle = async {
        let t0 = Instant::now();
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let (mut rd, mut wr) = tcp.split();
        let head = b"GET /api/health HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let writer = async {
            for b in head {
                if wr.write_all(&[*b]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            std::future::pending::<()>().await;
        };
        let mut buf = [0u8; 64];
        tokio::select! {
            () = writer => unreachable!(),
            _ = rd.read(&mut buf) => t0.elapsed(),
        }
    };
    let keepalive = async {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(HEALTH_KEEPALIVE).await.unwrap();
        assert_eq!(read_response(&mut tcp).await, 200);
        // Idle for longer than the header-read timeout: an idle pause is not a slow head.
        tokio::time::sleep(Duration::from_millis(HEADER_MS + 500)).await;
        tcp.write_all(HEALTH_KEEPALIVE).await.unwrap();
        assert_eq!(
            read_response(&mut tcp).await,
            200,
            "kept alive past the header timeout"
        );
        let t0 = Instant::now();
        closed_after(&mut tcp, t0).await
    };
    let (silent, trickle, idle) = tokio::join!(silent, trickle, keepalive);
    println!("closed after: silent {silent:?}, one byte per 100 ms {trickle:?}, idle keep-alive {idle:?}");
    let header = Duration::from_millis(HEADER_MS);
    let idle_timeout = Duration::from_millis(IDLE_MS);
    assert!(
        silent >= header && silent < idle_timeout,
        "silent closed after {silent:?}"
    );
    assert!(
        trickle >= header && trickle < idle_timeout,
        "a head that keeps trickling is still closed at the header timeout, after {trickle:?}"
    );
    assert!(
        idle >= idle_timeout,
        "idle connection closed early, after {idle:?}"
    );
    let m = scrape(&server).await;
    assert_eq!(
        metric_sum(
            &m,
            "aistudio_connections_timed_out_total{timeout=\"header_read\"}"
        ),
        2.0
    );
    assert_eq!(
        metric_sum(&m, "aistudio_connections_timed_out_total{timeout=\"idle\"}"),
        1.0
    );
    server.stop(&[]).await;
}

async fn connect_from(source: [u8; 4], addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((source, 0))).unwrap();
    socket.connect(addr).await.unwrap()
}

#[tokio::test]
async fn per_peer_cap_closes_the_extra_connection_and_other_peers_still_get_in() {
    let server = Server::start(&env_with(&[("MAX_CONNECTIONS_PER_PEER", "3")])).await;
    let addr = api_addr(&server);
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut tcp = connect_from([127, 0, 0, 1], addr).await;
        // Each one is served (and kept alive), so it surely holds its slot.
        tcp.write_all(HEALTH_KEEPALIVE).await.unwrap();
        assert_eq!(read_response(&mut tcp).await, 200);
        held.push(tcp);
    }
    let (status, _) = raw_health(addr).await;
    assert_eq!(
        status, 0,
        "the fourth connection from 127.0.0.1 is closed unanswered"
    );
    let mut other = connect_from([127, 0, 0, 2], addr).await;
    other.write_all(HEALTH_KEEPALIVE).await.unwrap();
    assert_eq!(
        read_response(&mut other).await,
        200,
        "127.0.0.2 is another peer"
    );
    let m = scrape(&server).await;
    assert_eq!(
        metric_sum(
            &m,
            "aistudio_connections_refused_total{reason=\"per_peer_cap\"}"
        ),
        1.0
    );
    drop(held);
    let logs = server.stop(&[]).await;
    assert_eq!(
        tests::server_harness::events(&logs, "server.connection_refused").len(),
        1
    );
}

#[tokio::test]
async fn at_the_cap_with_every_slot_busy_the_reserve_answers_health_only() {
    let server = Server::start(&env_with(&[
        ("MAX_CONNECTIONS", "2"),
        ("SIM_TOKENS_PER_SECOND", "5"),
        ("SIM_COMPLETION_TOKENS", "100000"),
        ("DRAIN_DEADLINE_MS", "100"),
    ]))
    .await;
    let addr = api_addr(&server);
    let token = server.token("rita");
    let body = chat_body("gpt-4o", true, "hold a slot").to_string();
    let post = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut streams = Vec::new();
    for _ in 0..2 {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(post.as_bytes()).await.unwrap();
        let mut buf = [0u8; 4096];
        let mut got = String::new();
        while !got.contains("data: ") {
            let n = tcp.read(&mut buf).await.unwrap();
            assert!(n > 0);
            got.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        streams.push(tcp);
    }
    let (status, _) = raw_health(addr).await;
    assert_eq!(status, 200, "health is answered at the cap");
    let (status, text, _) = raw_request(
        addr,
        &post.replace("Host: t", "Host: t\r\nConnection: close"),
    )
    .await;
    assert_eq!(status, 503, "{text}");
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    let v: Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["error"]["code"], "server_at_capacity");
    assert!(text.to_ascii_lowercase().contains("retry-after: 1"));
    drop(streams);
    server.stop(&[&token]).await;
}

#[tokio::test]
async fn a_body_sent_too_slowly_is_answered_408() {
    let server = Server::start(&env_with(&[("BODY_READ_TIMEOUT_MS", "500")])).await;
    let token = server.token("sam");
    let mut tcp = TcpStream::connect(api_addr(&server)).await.unwrap();
    // The head promises 100 bytes; only 10 come.
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"model\":"
    );
    let t0 = Instant::now();
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), tcp.read_to_end(&mut got))
        .await
        .expect("the server answered and closed");
    let waited = t0.elapsed();
    let text = String::from_utf8_lossy(&got);
    println!("408 and close after {waited:?}");
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("request_timeout"), "{text}");
    assert!(
        waited >= Duration::from_millis(500),
        "answered after {waited:?}"
    );
    server.stop(&[&token]).await;
}
