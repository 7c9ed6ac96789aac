//! End-to-end: the real `aistudio-server` binary over real sockets — streaming over HTTP/1.1 and
//! h2c, non-stream JSON, health, metrics, auth failures, the 429, bad input, disconnects, failures.
// Test helpers may unwrap: a panic is the test failing.
#![allow(clippy::unwrap_used)]

use base64_free::b64url;
use reqwest::{header, StatusCode, Version};
use serde_json::{json, Value};
use tests::server_harness::{chat_body, env_with, events, mint_token, sse_data, sse_text, Server};

/// Minimal base64url (no padding) so the test crafts `alg: none` tokens without extra crates.
mod base64_free {
    pub fn b64url(input: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in input.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            let chars = chunk.len() + 1;
            for i in 0..chars {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }
}

const PROMPT: &str = "the quick secret prompt zebra-4711";

async fn post(
    client: &reqwest::Client,
    server: &Server,
    token: &str,
    body: &Value,
) -> reqwest::Response {
    client
        .post(server.chat_url())
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn streams_over_http1_and_h2c_and_answers_json() {
    let server = Server::start(&env_with(&[])).await;
    let token = server.token("alice");

    // HTTP/1.1 stream.
    let h1 = reqwest::Client::new();
    let r = h1
        .post(server.chat_url())
        .bearer_auth(&token)
        .header("x-request-id", "req-e2e-1")
        .json(&chat_body("gpt-4o", true, PROMPT))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.version(), Version::HTTP_11);
    assert_eq!(r.headers()["x-request-id"], "req-e2e-1");
    assert_eq!(r.headers()[header::CONTENT_TYPE], "text/event-stream");
    let data = sse_data(&r.text().await.unwrap());
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let h1_text = sse_text(&data);
    assert!(!h1_text.is_empty());

    // h2c (prior knowledge) on the same port.
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let r = post(&h2, &server, &token, &chat_body("gpt-4o", true, PROMPT)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.version(), Version::HTTP_2);
    let data = sse_data(&r.text().await.unwrap());
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    assert_eq!(
        sse_text(&data),
        h1_text,
        "the simulated provider is deterministic"
    );

    // Non-stream JSON over h2c.
    let r = post(&h2, &server, &token, &chat_body("gpt-4o", false, PROMPT)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["content"], h1_text.as_str());
    assert_eq!(v["usage"]["completion_tokens"], 8);

    // Health and metrics.
    let r = h1
        .get(format!("{}/api/health", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "ok");
    assert!(v["version"].is_string() && v["uptime_s"].is_u64());
    let metrics = h1
        .get(server.metrics_url())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "aistudio_http_requests_total{route=\"/v1/chat/completions\",method=\"POST\",status=\"200\"} 3",
        "aistudio_tokens_streamed_total{provider=\"simulated\"} 24",
        "aistudio_time_to_first_token_seconds_bucket",
        "aistudio_job_duration_seconds_bucket",
        "aistudio_active_streams 0",
    ] {
        assert!(metrics.contains(needle), "metrics lack {needle}:\n{metrics}");
    }

    let logs = server.stop(&[PROMPT, &token]).await;
    let req = events(&logs, "http.request");
    assert!(req.iter().any(|l| l["requestId"] == "req-e2e-1"
        && l["endpoint"] == "/v1/chat/completions"
        && l["userId"] == "alice"));
    assert_eq!(events(&logs, "job.completed").len(), 3);
    assert!(events(&logs, "job.completed")
        .iter()
        .all(|l| l["tokens"] == 8));
    assert_eq!(events(&logs, "job.first_token").len(), 3);
    assert_eq!(events(&logs, "provider.response").len(), 3);
}

#[tokio::test]
async fn every_auth_failure_is_a_401_json_error() {
    let server = Server::start(&env_with(&[])).await;
    let secret = server.secret.clone().unwrap();
    let client = reqwest::Client::new();
    let body = chat_body("gpt-4o", false, PROMPT);
    let payload = b64url(br#"{"sub":"mallory","exp":99999999999}"#);
    let alg_none = format!("{}.{payload}.", b64url(br#"{"alg":"none","typ":"JWT"}"#));
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("missing", None, "missing_token"),
        ("malformed", Some("not-a-jwt".into()), "malformed_token"),
        (
            "expired",
            Some(mint_token(&secret, "u", -120, None)),
            "token_expired",
        ),
        (
            "not yet valid",
            Some(mint_token(&secret, "u", 600, Some(300))),
            "token_not_yet_valid",
        ),
        (
            "wrong signature",
            Some(mint_token("some-other-secret", "u", 600, None)),
            "invalid_signature",
        ),
        ("alg none", Some(alg_none), "unsupported_algorithm"),
    ];
    for (name, token, _) in &cases {
        let mut req = client.post(server.chat_url()).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{name}");
        assert!(r.headers().contains_key(header::WWW_AUTHENTICATE), "{name}");
        let v: Value = r.json().await.unwrap();
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{name}: {v}"
        );
    }
    let ok = post(&client, &server, &server.token("bob"), &body).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let secrets: Vec<&str> = cases
        .iter()
        .filter_map(|c| c.1.as_deref())
        .chain([secret.as_str(), PROMPT])
        .collect();
    let logs = server.stop(&secrets).await;
    let reasons: Vec<&str> = events(&logs, "auth.rejected")
        .iter()
        .map(|l| l["reason"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = cases.iter().map(|c| c.2).collect();
    assert_eq!(reasons, expected);
    assert_eq!(
        events(&logs, "job.created").len(),
        1,
        "rejected requests create no job"
    );
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after() {
    let server = Server::start(&env_with(&[("RATE_LIMIT_PER_MINUTE", "2")])).await;
    let client = reqwest::Client::new();
    let token = server.token("carol");
    let body = chat_body("gpt-4o", false, PROMPT);
    for _ in 0..2 {
        assert_eq!(
            post(&client, &server, &token, &body).await.status(),
            StatusCode::OK
        );
    }
    let r = post(&client, &server, &token, &body).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // A sliding 60 s window: the first request leaves it 60 s after it was made.
    assert!((59..=60).contains(&retry), "Retry-After {retry}");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    // Per user: dave is unaffected.
    assert_eq!(
        post(&client, &server, &server.token("dave"), &body)
            .await
            .status(),
        StatusCode::OK
    );
    let logs = server.stop(&[PROMPT, &token]).await;
    let rejected = events(&logs, "ratelimit.rejected");
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["userId"], "carol");
}

#[tokio::test]
async fn bad_input_is_4xx_in_openai_shape_never_500() {
    let server = Server::start(&env_with(&[("BODY_LIMIT_BYTES", "2048")])).await;
    let client = reqwest::Client::new();
    let token = server.token("erin");
    let raw = |b: &'static str| {
        client
            .post(server.chat_url())
            .bearer_auth(&token)
            .header(header::CONTENT_TYPE, "application/json")
            .body(b)
            .send()
    };
    for b in [
        "{\"model\":",
        "\"just a string\"",
        r#"{"model":"gpt-4o","messages":[]}"#,
        r#"{"model":"gpt-4o","messages":[{"role":"user","content":{"x":1}}]}"#,
        r#"{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"max_tokens":"ten"}"#,
        r#"{"model":["gpt-4o"],"messages":[{"role":"user","content":"x"}]}"#,
    ] {
        let r = raw(b).await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{b}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error", "{b}");
    }
    let r = post(&client, &server, &token, &chat_body("gpt-7", true, PROMPT)).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "model_not_found");
    let big = "word ".repeat(1000);
    let r = post(&client, &server, &token, &chat_body("gpt-4o", false, &big)).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let logs = server.stop(&[PROMPT, &token]).await;
    assert!(events(&logs, "http.request")
        .iter()
        .all(|l| l["status"].as_u64().unwrap() < 500));
}

#[tokio::test]
async fn client_disconnect_mid_stream_cancels_the_job() {
    let server = Server::start(&env_with(&[
        ("SIM_TOKENS_PER_SECOND", "50"),
        ("SIM_COMPLETION_TOKENS", "100000"),
    ]))
    .await;
    let client = reqwest::Client::new();
    let token = server.token("frank");
    let mut r = post(
        &client,
        &server,
        &token,
        &chat_body("gemini-1.5-pro", true, PROMPT),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    // Read until a content token has arrived, then hang up.
    let mut got = String::new();
    while !got.contains("\"content\":\"") || sse_text(&sse_data(&got)).is_empty() {
        let chunk = r.chunk().await.unwrap().expect("stream ended early");
        got.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(r);
    drop(client);
    let cancelled = server.wait_for(|v| v["event"] == "job.cancelled").await;
    assert_eq!(cancelled["reason"], "client_disconnected");
    assert_eq!(cancelled["userId"], "frank");
    assert!(cancelled["tokens"].as_u64().unwrap() >= 1);
    let metrics = reqwest::get(server.metrics_url())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("aistudio_active_streams 0"), "{metrics}");
    let logs = server.stop(&[PROMPT, &token]).await;
    assert!(events(&logs, "job.completed").is_empty());
}

#[tokio::test]
async fn provider_failures_end_the_stream_with_an_error_and_log_job_failed() {
    let server = Server::start(&env_with(&[("SIM_FAILURE_RATE", "1.0")])).await;
    let client = reqwest::Client::new();
    let token = server.token("gina");
    let r = post(&client, &server, &token, &chat_body("gpt-4o", true, PROMPT)).await;
    let data = sse_data(&r.text().await.unwrap());
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "provider_error");
    assert!(!data.iter().any(|d| d == "[DONE]"));
    let r = post(
        &client,
        &server,
        &token,
        &chat_body("gpt-4o", false, PROMPT),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    let logs = server.stop(&[PROMPT, &token]).await;
    let failed = events(&logs, "job.failed");
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[0]["error"]["name"], "SimulatedFailure");
    assert_eq!(failed[0]["level"], "error");
    assert!(events(&logs, "provider.response")
        .iter()
        .all(|l| l["status"] == 500));
}

#[tokio::test]
async fn auth_disabled_dev_flag_warns_and_serves_anonymous() {
    let server = Server::start(&[
        ("AUTH_DISABLED", "true"),
        ("SIM_TTFT_MS", "0"),
        ("SIM_COMPLETION_TOKENS", "3"),
    ])
    .await;
    let r = reqwest::Client::new()
        .post(server.chat_url())
        .json(&json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let logs = server.stop(&[]).await;
    let warn = events(&logs, "server.auth_disabled");
    assert_eq!(warn.len(), 1);
    assert_eq!(warn[0]["level"], "warn");
    assert_eq!(events(&logs, "job.created")[0]["userId"], "anonymous");
}

/// A field of `/proc/PID/status` or `/proc/PID/limits` (the first number after `key`).
fn proc_number(pid: u32, file: &str, key: &str, nth: usize) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).unwrap();
    let line = text.lines().find(|l| l.starts_with(key)).unwrap();
    let value = line[key.len()..].split_whitespace().nth(nth).unwrap();
    value.parse().unwrap_or(u64::MAX) // "unlimited"
}

#[tokio::test]
async fn server_raises_its_open_files_limit_and_presizes_the_descriptor_table() {
    let server = Server::start(&env_with(&[])).await;
    let pid = server.pid();
    let soft = proc_number(pid, "limits", "Max open files", 0);
    let hard = proc_number(pid, "limits", "Max open files", 1);
    assert_eq!(soft, hard, "the soft limit is raised to the hard one");
    let fd_size = proc_number(pid, "status", "FDSize:", 0);
    assert!(
        fd_size >= hard.min(65_536),
        "descriptor table sized {fd_size}, limit {hard}"
    );
    let warned = !events(&server.logs(), "server.fd_limit").is_empty();
    assert_eq!(warned, hard < 16_384, "warns only below 16,384");
    server.stop(&[]).await;
}

#[tokio::test]
async fn a_low_open_files_limit_is_a_warning_and_the_server_still_serves() {
    let server = Server::start_with_nofile(&env_with(&[]), 512).await;
    let logs = server.logs();
    let warning = events(&logs, "server.fd_limit");
    assert_eq!(warning.len(), 1, "{logs:?}");
    assert_eq!(warning[0]["level"], "warn");
    assert_eq!(warning[0]["softLimit"], 512);
    assert!(proc_number(server.pid(), "status", "FDSize:", 0) >= 512);
    // 512 descriptors: the connection cap leaves room for the health reserve and headroom.
    let cap = events(&logs, "server.connection_cap");
    assert_eq!(cap.len(), 1, "{logs:?}");
    assert_eq!(cap[0]["maxConnections"], 512 - 256 - 32);
    assert_eq!(
        events(&logs, "server.started")[0]["maxConnections"],
        512 - 256 - 32
    );
    let health = reqwest::get(format!("{}/api/health", server.url()))
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    server.stop(&[]).await;
}
