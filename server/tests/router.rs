//! Router tests: the whole axum app driven in-process with `tower::ServiceExt::oneshot`.
// Test helpers may unwrap: a panic is the test failing (clippy.toml allows it in #[test] fns only).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::http::{header, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use server::config::{Config, ProviderConfig};
use server::routes::{router, AppState};
use server::shutdown::Drain;
use tower::ServiceExt as _;

const SECRET: &str = "router-test-secret";

fn config() -> Config {
    let mut c = Config::default();
    c.auth.jwt_secret = Some(SECRET.into());
    c.server.body_limit_bytes = 4096;
    for p in c.providers.values_mut() {
        if let ProviderConfig::Simulated(s) = p {
            s.ttft_ms = 0;
            s.tokens_per_second = 0;
            s.completion_tokens = 4;
        }
    }
    c
}

fn app_with(c: Config) -> (Router, Arc<Drain>) {
    let drain = Drain::new();
    let state = AppState::new(c, Arc::clone(&drain)).unwrap();
    (router(Arc::new(state)), drain)
}

fn app() -> Router {
    app_with(config()).0
}

fn token(sub: &str) -> String {
    server::auth::issue_token(SECRET, sub, 600, None).unwrap()
}

fn chat(body: Value, sub: &str) -> Request<Body> {
    Request::post("/v1/chat/completions")
        .header(header::AUTHORIZATION, format!("Bearer {}", token(sub)))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn hello(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
}

async fn body_json(r: axum::response::Response) -> Value {
    serde_json::from_slice(&to_bytes(r.into_body(), 1 << 20).await.unwrap()).unwrap()
}

#[tokio::test]
async fn health_is_ok_with_version_and_uptime() {
    let r = app()
        .oneshot(Request::get("/api/health").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v = body_json(r).await;
    assert_eq!(v["status"], "ok");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert!(v["uptime_s"].is_u64());
}

#[tokio::test]
async fn non_stream_completion_has_openai_shape() {
    let r = app()
        .oneshot(chat(hello("gpt-4o", false), "alice"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().contains_key("x-request-id"));
    let v = body_json(r).await;
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "gpt-4o");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert!(!v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .is_empty());
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["completion_tokens"], 4);
}

#[tokio::test]
async fn stream_sends_chunks_then_done() {
    let r = app()
        .oneshot(chat(hello("claude-3-5-sonnet", true), "alice"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CONTENT_TYPE], "text/event-stream");
    let text = String::from_utf8(to_bytes(r.into_body(), 1 << 20).await.unwrap().to_vec()).unwrap();
    let data: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(*data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(chunks.len(), 1 + 4 + 1, "role, 4 tokens, finish");
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk"));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(chunks[5]["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn stream_usage_chunk_when_asked() {
    let mut body = hello("gpt-4o", true);
    body["stream_options"] = json!({"include_usage": true});
    let r = app().oneshot(chat(body, "alice")).await.unwrap();
    let text = String::from_utf8(to_bytes(r.into_body(), 1 << 20).await.unwrap().to_vec()).unwrap();
    assert!(text.contains("\"usage\":{"), "{text}");
}

#[tokio::test]
async fn unknown_model_is_404_in_openai_shape() {
    let r = app()
        .oneshot(chat(hello("gpt-9", false), "alice"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let v = body_json(r).await;
    assert_eq!(v["error"]["code"], "model_not_found");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert_eq!(v["error"]["param"], "model");
}

#[tokio::test]
async fn malformed_bodies_are_400_never_500() {
    let bodies = [
        "{",
        "null",
        r#"{"model":"gpt-4o","messages":[]}"#,
        r#"{"model":"gpt-4o","messages":[{"role":"user","content":1}]}"#,
        r#"{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"stream":1}"#,
    ];
    for b in bodies {
        let req = Request::post("/v1/chat/completions")
            .header(header::AUTHORIZATION, format!("Bearer {}", token("u")))
            .body(Body::from(b))
            .unwrap();
        let r = app().oneshot(req).await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{b}");
        assert_eq!(body_json(r).await["error"]["type"], "invalid_request_error");
    }
}

#[tokio::test]
async fn oversized_body_is_413() {
    let big = "x".repeat(10_000);
    let r = app()
        .oneshot(chat(
            json!({"model": "gpt-4o", "messages": [{"role": "user", "content": big}]}),
            "u",
        ))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body_json(r).await["error"]["code"], "request_too_large");
}

#[tokio::test]
async fn missing_and_bad_tokens_are_401_json() {
    let no_auth = Request::post("/v1/chat/completions")
        .body(Body::from(hello("gpt-4o", false).to_string()))
        .unwrap();
    let r = app().oneshot(no_auth).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key(header::WWW_AUTHENTICATE));
    assert!(body_json(r).await["error"]["message"]
        .as_str()
        .unwrap()
        .contains("missing"));

    let expired = server::auth::issue_token(SECRET, "u", -60, None).unwrap();
    let req = Request::post("/v1/chat/completions")
        .header(header::AUTHORIZATION, format!("Bearer {expired}"))
        .body(Body::from(hello("gpt-4o", false).to_string()))
        .unwrap();
    let r = app().oneshot(req).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body_json(r).await["error"]["code"], "token_expired");
}

#[tokio::test]
async fn rate_limit_is_429_with_retry_after() {
    let mut c = config();
    c.rate_limit.requests_per_minute = 2;
    let (app, _) = app_with(c);
    for _ in 0..2 {
        let r = app
            .clone()
            .oneshot(chat(hello("gpt-4o", false), "carol"))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = app
        .clone()
        .oneshot(chat(hello("gpt-4o", false), "carol"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // A sliding 60 s window: the first request leaves it 60 s after it was made.
    assert!((59..=60).contains(&retry), "{retry}");
    assert_eq!(body_json(r).await["error"]["code"], "rate_limit_exceeded");
    // Another user still gets through.
    let r = app
        .oneshot(chat(hello("gpt-4o", false), "dave"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn draining_turns_health_503_and_refuses_new_jobs() {
    let (app, drain) = app_with(config());
    assert_eq!(
        drain.drain(std::time::Duration::from_secs(1)).await,
        server::shutdown::DrainOutcome::Finished
    );
    let r = app
        .clone()
        .oneshot(Request::get("/api/health").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body_json(r).await["status"], "draining");
    let r = app
        .oneshot(chat(hello("gpt-4o", true), "alice"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()[header::RETRY_AFTER], "1");
}

#[tokio::test]
async fn request_id_is_echoed_or_generated() {
    let req = Request::get("/api/health")
        .header("x-request-id", "abc-123")
        .body(Body::empty())
        .unwrap();
    let r = app().oneshot(req).await.unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
    let req = Request::get("/api/health")
        .header("x-request-id", "bad id with spaces")
        .body(Body::empty())
        .unwrap();
    let r = app().oneshot(req).await.unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap();
    assert_ne!(id, "bad id with spaces");
    assert_eq!(id.len(), 36, "a generated uuid");
}

#[tokio::test]
async fn simulated_failure_is_502_without_stream_and_error_chunk_with() {
    let mut c = config();
    for p in c.providers.values_mut() {
        if let ProviderConfig::Simulated(s) = p {
            s.failure_rate = 1.0;
        }
    }
    let (app, _) = app_with(c);
    let r = app
        .clone()
        .oneshot(chat(hello("gpt-4o", false), "u"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(body_json(r).await["error"]["code"], "provider_error");
    let r = app.oneshot(chat(hello("gpt-4o", true), "u")).await.unwrap();
    let text = String::from_utf8(to_bytes(r.into_body(), 1 << 20).await.unwrap().to_vec()).unwrap();
    assert!(text.contains("\"error\""), "{text}");
    assert!(
        !text.contains("[DONE]"),
        "a failed stream must not look complete"
    );
}

#[tokio::test]
async fn unknown_path_is_openai_shaped_404() {
    let r = app()
        .oneshot(Request::get("/nope").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(body_json(r).await["error"]["message"].is_string());
}

#[tokio::test]
async fn models_lists_the_defaults() {
    let r = app()
        .oneshot(Request::get("/v1/models").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let v = body_json(r).await;
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["claude-3-5-sonnet", "gemini-1.5-pro", "gpt-4o"]);
}

#[tokio::test]
async fn two_authorization_headers_are_ambiguous() {
    let t = token("vera");
    let req = Request::post("/v1/chat/completions")
        .header(header::AUTHORIZATION, format!("Bearer {t}"))
        .header(header::AUTHORIZATION, format!("Bearer {t}"))
        .body(Body::from(hello("gpt-4o", false).to_string()))
        .unwrap();
    let r = app().oneshot(req).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(body_json(r).await["error"]["message"]
        .as_str()
        .unwrap()
        .contains("more than one Authorization header"));
}

/// Sends one chat request for `user`; returns the status and `Retry-After`.
async fn status_and_retry(app: &Router, user: &str) -> (StatusCode, Option<u64>) {
    let r = app
        .clone()
        .oneshot(chat(hello("gpt-4o", false), user))
        .await
        .unwrap();
    let retry = r
        .headers()
        .get(header::RETRY_AFTER)
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (r.status(), retry)
}

#[tokio::test(start_paused = true)]
async fn the_default_rate_limit_is_10_per_user_in_any_minute_with_exact_retry_after() {
    use std::time::Duration;
    use tokio::time::advance;
    let c = config();
    assert_eq!(c.rate_limit.requests_per_minute, 10, "the guide's default");
    let (app, _) = app_with(c);
    // Ten requests 1 s apart, at t = 0 … 9 s.
    for i in 0..10 {
        assert_eq!(
            status_and_retry(&app, "edgar").await.0,
            StatusCode::OK,
            "#{i}"
        );
        advance(Duration::from_secs(1)).await;
    }
    // t = 10 s: the 11th is refused until the first leaves the window at t = 60 s.
    assert_eq!(
        status_and_retry(&app, "edgar").await,
        (StatusCode::TOO_MANY_REQUESTS, Some(50))
    );
    // t = 59.999 s: 1 ms to go, still refused; Retry-After rounds up to 1.
    advance(Duration::from_millis(49_999)).await;
    assert_eq!(
        status_and_retry(&app, "edgar").await,
        (StatusCode::TOO_MANY_REQUESTS, Some(1))
    );
    // t = 60 s: exactly one slot is free.
    advance(Duration::from_millis(1)).await;
    assert_eq!(status_and_retry(&app, "edgar").await.0, StatusCode::OK);
    assert_eq!(
        status_and_retry(&app, "edgar").await,
        (StatusCode::TOO_MANY_REQUESTS, Some(1)),
        "the next frees at t = 61 s, when the second request leaves"
    );
    advance(Duration::from_secs(1)).await;
    assert_eq!(status_and_retry(&app, "edgar").await.0, StatusCode::OK);
}
