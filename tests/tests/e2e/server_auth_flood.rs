//! End-to-end: a bad-token flood against the real binary. 5,000 requests with a forged
//! token, back to back on keep-alive connections from one address (reconnecting whenever
//! the server closes one): after the per-peer burst the answers turn from 401 to 429 with
//! `Retry-After`, every connection is closed after its 10th failure, a valid token from the
//! same address is still served, and the log volume stays bounded by the sampling (full
//! lines per interval plus one summary) while the summaries account for every rejection.
// Test helpers may unwrap: a panic is the test failing.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use tests::server_harness::{api_addr, chat_body, env_with, events, metric_sum, scrape, Server};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const FLOOD: usize = 5_000;
/// The defaults the test relies on (server/src/config: auth.failure_burst,
/// auth.max_failures_per_connection, logging.sample_burst).
const PEER_BURST: usize = 20;
const PER_CONNECTION: usize = 10;
const SAMPLE_BURST: usize = 10;
const SAMPLE_INTERVAL_MS: u64 = 1_000;

/// One response: status, whether the server announced `Connection: close`, `Retry-After`.
struct Answer {
    status: u16,
    close: bool,
    retry_after: Option<u64>,
}

async fn exchange(tcp: &mut TcpStream, request: &[u8]) -> Option<Answer> {
    tcp.write_all(request).await.ok()?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tcp.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
        let Some(end) = text.find("\r\n\r\n") else {
            continue;
        };
        let header = |name: &str| {
            text[..end]
                .lines()
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
        };
        let len: usize = header("content-length:").unwrap().parse().unwrap();
        if got.len() < end + 4 + len {
            continue;
        }
        return Some(Answer {
            status: text[9..12].parse().unwrap(),
            close: header("connection:").is_some_and(|v| v == "close"),
            retry_after: header("retry-after:").map(|v| v.parse().unwrap()),
        });
    }
}

fn post(bearer: &str) -> Vec<u8> {
    let body = chat_body("gpt-4o", false, "flood").to_string();
    format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {bearer}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[tokio::test]
async fn a_bad_token_flood_gets_429s_closed_connections_and_bounded_logs() {
    let interval = SAMPLE_INTERVAL_MS.to_string();
    let server = Server::start(&env_with(&[("LOG_SAMPLE_INTERVAL_MS", &interval)])).await;
    let addr = api_addr(&server);
    let forged =
        post("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5IiwiZXhwIjo5OTk5OTk5OTk5fQ.Zm9yZ2Vk");
    let (mut unauthorized, mut limited, mut connections) = (0usize, 0usize, 1usize);
    let mut retry_after = Vec::new();
    let mut on_this_connection = 0usize;
    let mut closes_after = Vec::new();
    let started = Instant::now();
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut sent = 0;
    while sent < FLOOD {
        let Some(answer) = exchange(&mut tcp, &forged).await else {
            // Closed without an answer (only after a `Connection: close`, asserted below).
            tcp = TcpStream::connect(addr).await.unwrap();
            connections += 1;
            on_this_connection = 0;
            continue;
        };
        sent += 1;
        on_this_connection += 1;
        match answer.status {
            401 => unauthorized += 1,
            429 => {
                limited += 1;
                retry_after.push(answer.retry_after.expect("429 carries Retry-After"));
            }
            s => panic!("unexpected status {s}"),
        }
        if answer.close {
            closes_after.push(on_this_connection);
            tcp = TcpStream::connect(addr).await.unwrap();
            connections += 1;
            on_this_connection = 0;
        }
    }
    let flood_time = started.elapsed();
    // A valid token from the same address is served all the same.
    let token = server.token("trent");
    let mut fresh = TcpStream::connect(addr).await.unwrap();
    let ok = exchange(&mut fresh, &post(&token)).await.unwrap();
    assert_eq!(
        ok.status, 200,
        "a valid token is never refused by the failure limit"
    );

    let metrics = scrape(&server).await;
    let logs = server.stop(&[&token]).await;
    let rejected_full = events(&logs, "auth.rejected").len();
    let rejected_http = logs
        .iter()
        .filter(|l| l["event"] == "http.request" && matches!(l["status"].as_u64(), Some(401 | 429)))
        .count();
    let summaries = events(&logs, "server.log_suppressed");
    let summarised: u64 = summaries
        .iter()
        .filter(|l| l["suppressedEvent"] == "auth.rejected")
        .map(|l| l["count"].as_u64().unwrap())
        .sum();
    let flood_lines = logs
        .iter()
        .filter(|l| {
            let e = l["event"].as_str().unwrap_or("");
            e == "auth.rejected"
                || e == "server.log_suppressed"
                || (e == "http.request" && l["status"] != 200)
        })
        .count();
    let bytes: usize = logs.iter().map(|l| l.to_string().len() + 1).sum();
    println!(
        "flood: {FLOOD} forged tokens in {flood_time:?} over {connections} connections: {unauthorized} × 401, \
         {limited} × 429; log lines for the flood {flood_lines} (auth.rejected {rejected_full}, their http.request \
         {rejected_http}, summaries {}), all lines {} ({bytes} bytes)",
        summaries.len(),
        logs.len()
    );
    assert_eq!(
        unauthorized, PEER_BURST,
        "401 until the per-peer burst is spent"
    );
    assert_eq!(limited, FLOOD - PEER_BURST, "then 429");
    assert!(
        retry_after.iter().all(|&s| (1..=60).contains(&s)),
        "Retry-After within the window"
    );
    assert!(
        closes_after.iter().all(|&n| n == PER_CONNECTION),
        "each connection closed right after its {PER_CONNECTION}th failure: {closes_after:?}"
    );
    assert_eq!(connections, FLOOD / PER_CONNECTION + 1);
    assert_eq!(
        metric_sum(&metrics, "aistudio_auth_rejected_total"),
        FLOOD as f64
    );
    // Nothing is lost: every rejection is either a full line or counted in a summary.
    assert_eq!(rejected_full as u64 + summarised, FLOOD as u64);
    assert_eq!(
        rejected_full, rejected_http,
        "a sampled-out rejection drops its http.request line too"
    );
    // Bounded: per interval at most SAMPLE_BURST full rejections (two lines each) and one summary.
    let intervals =
        (flood_time.as_millis() as u64 + 2 * SAMPLE_INTERVAL_MS) / SAMPLE_INTERVAL_MS + 1;
    let bound = intervals as usize * (2 * SAMPLE_BURST + 1);
    assert!(
        flood_lines <= bound,
        "{flood_lines} log lines for the flood, over the bound {bound} for {intervals} intervals"
    );
    assert!(flood_time < Duration::from_secs(120));
}
