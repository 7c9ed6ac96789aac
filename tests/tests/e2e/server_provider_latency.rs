//! End-to-end: `provider.response` carries the provider's own latency (asked → first token) in
//! `duration`, which `ProviderLatencyMs` publishes, and its whole stream in `streamDuration`;
//! for a provider with a slow stream the first is far below the job's duration, and time to
//! first token (what the user waits, from the request's arrival) is at least the provider's.
// Test helpers may unwrap: a panic is the test failing.
#![allow(clippy::unwrap_used)]

use serde_json::Value;
use tests::server_harness::{chat_body, env_with, events, sse_data, sse_text, Server};

/// The simulated provider's delay before its first token, ms.
const TTFT_MS: u64 = 150;
/// Tokens per second and tokens per completion: a 2 s stream after the first token.
const TOKENS_PER_SECOND: u64 = 20;
const COMPLETION_TOKENS: u64 = 40;

fn field(line: &Value, name: &str) -> u64 {
    line[name]
        .as_u64()
        .unwrap_or_else(|| panic!("`{name}` missing in {line}"))
}

#[tokio::test]
async fn provider_latency_is_the_providers_first_byte_not_the_job_duration() {
    let ttft = TTFT_MS.to_string();
    let tps = TOKENS_PER_SECOND.to_string();
    let tokens = COMPLETION_TOKENS.to_string();
    let server = Server::start(&env_with(&[
        ("SIM_TTFT_MS", &ttft),
        ("SIM_TOKENS_PER_SECOND", &tps),
        ("SIM_COMPLETION_TOKENS", &tokens),
        ("SIM_FAILURE_RATE", "0"),
    ]))
    .await;
    let token = server.token("paula");
    let body = reqwest::Client::new()
        .post(server.chat_url())
        .bearer_auth(token)
        .json(&chat_body("gpt-4o", true, "hello"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!sse_text(&sse_data(&body)).is_empty());
    server.wait_for(|l| l["event"] == "job.completed").await;
    let logs = server.stop(&[]).await;

    let provider = events(&logs, "provider.response");
    let completed = events(&logs, "job.completed");
    let first = events(&logs, "job.first_token");
    assert_eq!((provider.len(), completed.len(), first.len()), (1, 1, 1));
    let latency = field(provider[0], "duration");
    let stream = field(provider[0], "streamDuration");
    let job = field(completed[0], "duration");
    let user_ttft = field(first[0], "duration");
    // The stream after the first token lasts (tokens - 1) / tps seconds at least.
    let stream_floor = (COMPLETION_TOKENS - 1) * 1000 / TOKENS_PER_SECOND;
    assert!(
        (TTFT_MS..TTFT_MS + stream_floor / 2).contains(&latency),
        "provider latency {latency} ms should be the {TTFT_MS} ms first-token delay"
    );
    assert!(job >= TTFT_MS + stream_floor, "job took {job} ms");
    assert!(
        stream >= TTFT_MS + stream_floor && stream <= job,
        "stream {stream} ms, job {job} ms"
    );
    assert!(
        job > latency * 5,
        "job {job} ms vs provider latency {latency} ms"
    );
    assert!(
        user_ttft >= latency,
        "time to first token {user_ttft} < provider {latency}"
    );
    assert_eq!(provider[0]["status"], 200);
}

#[tokio::test]
async fn a_provider_failing_mid_stream_reports_the_time_to_its_first_token() {
    let server = Server::start(&env_with(&[
        ("SIM_TTFT_MS", "100"),
        ("SIM_TOKENS_PER_SECOND", "20"),
        ("SIM_COMPLETION_TOKENS", "20"),
        ("SIM_FAILURE_RATE", "1"),
    ]))
    .await;
    let token = server.token("quentin");
    let status = reqwest::Client::new()
        .post(server.chat_url())
        .bearer_auth(token)
        .json(&chat_body("gpt-4o", true, "hello"))
        .send()
        .await
        .unwrap();
    // A stream that fails after it started has already answered 200: the failure is in the
    // body, which is what the failure-rate alarm exists for.
    assert_eq!(status.status(), 200);
    let _ = status.text().await;
    server.wait_for(|l| l["event"] == "job.failed").await;
    let logs = server.stop(&[]).await;
    let provider = events(&logs, "provider.response");
    assert_eq!(provider.len(), 1);
    let latency = field(provider[0], "duration");
    let stream = field(provider[0], "streamDuration");
    assert!((100..400).contains(&latency), "latency {latency} ms");
    // It failed after half its tokens: about 9 gaps of 50 ms after the first token.
    assert!(
        stream >= latency + 400,
        "stream {stream} ms, latency {latency} ms"
    );
    assert_eq!(provider[0]["status"], 500);
}
