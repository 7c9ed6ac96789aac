//! End-to-end: the `openai` provider against a real OpenAI-compatible upstream (another
//! `aistudio-server`): streaming through, cancelling upstream on disconnect, error mapping.
// Test helpers may unwrap: a panic is the test failing.
#![allow(clippy::unwrap_used)]

use reqwest::{header, StatusCode};
use serde_json::Value;
use tests::server_harness::{chat_body, env_with, events, mint_token, sse_data, sse_text, Server};

const UPSTREAM_SECRET: &str = "upstream-secret";
const PROMPT: &str = "proxied prompt kiwi-9981";

async fn upstream(extra: &[(&str, &str)]) -> Server {
    let mut env = vec![("JWT_SECRET", UPSTREAM_SECRET)];
    env.extend_from_slice(extra);
    Server::start(&env_with(&env)).await
}

async fn proxy(upstream: &Server, api_key: &str, models: &str) -> Server {
    let base = format!("{}/v1", upstream.url());
    Server::start(&env_with(&[
        ("OPENAI_BASE_URL", &base),
        ("OPENAI_API_KEY", api_key),
        ("OPENAI_MODELS", models),
        ("OPENAI_TIMEOUT_MS", "5000"),
    ]))
    .await
}

#[tokio::test]
async fn streams_and_answers_through_the_upstream() {
    let up = upstream(&[]).await;
    let key = mint_token(UPSTREAM_SECRET, "proxy-service", 600, None);
    let px = proxy(&up, &key, "gpt-4o").await;
    let token = px.token("julia");
    let client = reqwest::Client::new();

    let direct: Value = client
        .post(up.chat_url())
        .bearer_auth(mint_token(UPSTREAM_SECRET, "direct", 600, None))
        .json(&chat_body("gpt-4o", false, PROMPT))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let expected = direct["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_string();

    let r = client
        .post(px.chat_url())
        .bearer_auth(&token)
        .json(&chat_body("gpt-4o", true, PROMPT))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let data = sse_data(&r.text().await.unwrap());
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    assert_eq!(sse_text(&data), expected);

    let r = client
        .post(px.chat_url())
        .bearer_auth(&token)
        .json(&chat_body("gpt-4o", false, PROMPT))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], expected.as_str());

    // Models not routed to openai still come from the simulated provider.
    let r = client
        .post(px.chat_url())
        .bearer_auth(&token)
        .json(&chat_body("gemini-1.5-pro", false, PROMPT))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let px_logs = px.stop(&[PROMPT, &token, &key]).await;
    let up_logs = up.stop(&[PROMPT, &key]).await;
    let openai_jobs: Vec<_> = events(&px_logs, "job.completed")
        .into_iter()
        .filter(|l| l["provider"] == "openai")
        .collect();
    assert_eq!(openai_jobs.len(), 2);
    assert!(events(&px_logs, "provider.response")
        .iter()
        .any(|l| l["provider"] == "openai" && l["status"] == 200));
    // The upstream saw the proxy's key (its sub), not the end user's token.
    assert_eq!(
        events(&up_logs, "job.created")
            .iter()
            .filter(|l| l["userId"] == "proxy-service")
            .count(),
        2
    );
}

#[tokio::test]
async fn client_disconnect_cancels_the_upstream_request() {
    let up = upstream(&[
        ("SIM_TOKENS_PER_SECOND", "50"),
        ("SIM_COMPLETION_TOKENS", "100000"),
    ])
    .await;
    let key = mint_token(UPSTREAM_SECRET, "proxy-service", 600, None);
    let px = proxy(&up, &key, "gpt-4o").await;
    let token = px.token("kim");
    let client = reqwest::Client::new();
    let mut r = client
        .post(px.chat_url())
        .bearer_auth(&token)
        .json(&chat_body("gpt-4o", true, PROMPT))
        .send()
        .await
        .unwrap();
    let mut got = String::new();
    while sse_text(&sse_data(&got)).is_empty() {
        got.push_str(&String::from_utf8_lossy(
            &r.chunk().await.unwrap().expect("stream ended early"),
        ));
    }
    drop(r);
    drop(client);
    let px_cancel = px.wait_for(|v| v["event"] == "job.cancelled").await;
    assert_eq!(px_cancel["reason"], "client_disconnected");
    let up_cancel = up.wait_for(|v| v["event"] == "job.cancelled").await;
    assert_eq!(up_cancel["reason"], "client_disconnected");
    assert_eq!(up_cancel["userId"], "proxy-service");
    px.stop(&[PROMPT, &token, &key]).await;
    up.stop(&[PROMPT, &key]).await;
}

#[tokio::test]
async fn upstream_errors_map_to_clear_client_errors() {
    let up = upstream(&[("RATE_LIMIT_PER_MINUTE", "1")]).await;
    let client = reqwest::Client::new();

    // Wrong API key upstream → 502 naming the key setting, not a 401 to our client.
    let bad_key = mint_token("not-the-upstream-secret", "proxy", 600, None);
    let px = proxy(&up, &bad_key, "gpt-4o").await;
    let token = px.token("lee");
    let r = client
        .post(px.chat_url())
        .bearer_auth(&token)
        .json(&chat_body("gpt-4o", true, PROMPT))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "upstream_auth_failed");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("OPENAI_API_KEY"));
    let px_logs = px.stop(&[PROMPT, &token, &bad_key]).await;
    let failed = events(&px_logs, "job.failed");
    assert_eq!(failed[0]["error"]["name"], "UpstreamStatus");
    assert!(events(&px_logs, "provider.response")
        .iter()
        .any(|l| l["status"] == 401));

    // Model unknown upstream → 404; upstream rate limit → 429 with Retry-After.
    let key = mint_token(UPSTREAM_SECRET, "proxy", 600, None);
    let px = proxy(&up, &key, "gpt-4o,gpt-unknown").await;
    let token = px.token("lee");
    let r = client
        .post(px.chat_url())
        .bearer_auth(&token)
        .json(&chat_body("gpt-unknown", false, PROMPT))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "model_not_found");
    let r = client
        .post(px.chat_url())
        .bearer_auth(&token)
        .json(&chat_body("gpt-4o", false, PROMPT))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "upstream allows 1/min and the 404 used it"
    );
    assert!(r.headers().contains_key(header::RETRY_AFTER));
    px.stop(&[PROMPT, &token, &key]).await;
    up.stop(&[PROMPT, &key]).await;

    // Upstream gone → 502 upstream_unreachable.
    let dead = Server::start(&env_with(&[])).await;
    let dead_url = dead.url();
    dead.stop(&[]).await;
    let px = Server::start(&env_with(&[
        ("OPENAI_BASE_URL", &format!("{dead_url}/v1")),
        ("OPENAI_MODELS", "gpt-4o"),
    ]))
    .await;
    let token = px.token("lee");
    let r = client
        .post(px.chat_url())
        .bearer_auth(&token)
        .json(&chat_body("gpt-4o", true, PROMPT))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "upstream_unreachable");
    px.stop(&[PROMPT, &token]).await;
}
