//! End-to-end: every line the server writes during a varied run (to `LOG_FILE`, rotated by size)
//! is parsed and checked against the log contract (ARCHITECTURE.md); every contract event appears and
//! no prompt, completion, Authorization header or API key is ever logged.
// Test helpers may unwrap: a panic is the test failing.
#![allow(clippy::unwrap_used)]

use reqwest::StatusCode;
use serde_json::Value;
use tests::server_harness::{
    chat_body, check_logs, env_with, events, read_log_files, sse_data, sse_text, Server,
    CONTRACT_EVENTS,
};

const PROMPT: &str = "confidential prompt papaya-5150";

#[tokio::test]
async fn every_line_of_a_varied_run_meets_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let log_s = log.to_str().unwrap().to_string();
    let up_secret = "upstream-secret-logs";
    let up = Server::start(&env_with(&[
        ("JWT_SECRET", up_secret),
        ("SIM_TOKENS_PER_SECOND", "50"),
        ("SIM_COMPLETION_TOKENS", "100000"),
    ]))
    .await;
    let api_key = tests::server_harness::mint_token(up_secret, "proxy", 600, None);
    let base = format!("{}/v1", up.url());
    let mut server = Server::start(&env_with(&[
        ("LOG_FILE", &log_s),
        ("LOG_MAX_BYTES", "4096"),
        ("LOG_MAX_FILES", "50"),
        ("RATE_LIMIT_PER_MINUTE", "6"),
        ("OPENAI_BASE_URL", &base),
        ("OPENAI_API_KEY", &api_key),
        ("OPENAI_MODELS", "claude-3-5-sonnet,gpt-unknown"),
    ]))
    .await;
    let token = server.token("olga");
    let client = reqwest::Client::new();
    let send = |model: &str, stream: bool, bearer: &str| {
        client
            .post(server.chat_url())
            .bearer_auth(bearer.to_string())
            .json(&chat_body(model, stream, PROMPT))
            .send()
    };

    // 1: a completed stream, keeping its text to prove it is not logged.
    let r = send("gpt-4o", true, &token).await.unwrap();
    let completion = sse_text(&sse_data(&r.text().await.unwrap()));
    assert!(completion.len() > 10);
    // 2: non-stream.
    assert_eq!(
        send("gpt-4o", false, &token).await.unwrap().status(),
        StatusCode::OK
    );
    // 3: unknown model.
    assert_eq!(
        send("nope", false, &token).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    // 4: auth rejected.
    assert_eq!(
        send("gpt-4o", false, "garbage").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    // 5: upstream stream cancelled by the client.
    let mut r = send("claude-3-5-sonnet", true, &token).await.unwrap();
    let mut got = String::new();
    while sse_text(&sse_data(&got)).is_empty() {
        got.push_str(&String::from_utf8_lossy(&r.chunk().await.unwrap().unwrap()));
    }
    drop(r);
    // 6: a failing upstream call: routed to openai, unknown upstream → 404 and job.failed.
    assert_eq!(
        send("gpt-unknown", false, &token).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    // 7..: exhaust the limit of 6 → ratelimit.rejected.
    let mut limited = false;
    for _ in 0..6 {
        if send("gpt-4o", false, &token).await.unwrap().status() == StatusCode::TOO_MANY_REQUESTS {
            limited = true;
            break;
        }
    }
    assert!(limited, "the 6/min limit must trip");
    let health = reqwest::get(format!("{}/api/health", server.url()))
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    server.sigterm();
    assert_eq!(server.wait_exit().await, Some(0));
    up.stop(&[PROMPT, &api_key]).await;

    let rotated = dir.path().join("server.log.1");
    assert!(
        rotated.exists(),
        "LOG_MAX_BYTES=4096 must have rotated the file"
    );
    let logs: Vec<Value> = read_log_files(&log);
    let mut secrets = vec![PROMPT, token.as_str(), api_key.as_str(), "garbage"];
    // Every completion word run longer than a single vocabulary word would be a leak.
    secrets.push(completion.as_str());
    check_logs(&logs, &secrets);
    for ev in CONTRACT_EVENTS {
        assert!(!events(&logs, ev).is_empty(), "no {ev} line in the run");
    }
    // Every job has exactly one terminal event.
    let created: Vec<&str> = events(&logs, "job.created")
        .iter()
        .map(|l| l["jobId"].as_str().unwrap())
        .collect();
    for id in &created {
        let terminal = logs
            .iter()
            .filter(|l| l["jobId"] == *id)
            .filter(|l| {
                matches!(
                    l["event"].as_str(),
                    Some("job.completed" | "job.failed" | "job.cancelled")
                )
            })
            .count();
        assert_eq!(terminal, 1, "job {id} has {terminal} terminal events");
    }
    // requestId ties a job to its http.request line.
    let job = events(&logs, "job.completed")[0];
    assert!(events(&logs, "http.request")
        .iter()
        .any(|l| l["requestId"] == job["requestId"]));
}
