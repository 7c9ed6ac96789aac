//! End-to-end: the JWT edge cases on the real binary, with tokens signed independently
//! (Python's `hmac`) — a `crit` header is rejected (RFC 7515 §4.1.11), two `Authorization`
//! headers are rejected as ambiguous, and a missing `sub` or `exp` is named in the error.
// Test helpers may unwrap: a panic is the test failing.
#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};
use tests::server_harness::{api_addr, chat_body, env_with, events, raw_request, sign_jwt, Server};

const SECRET: &str = "e2e-secret-value";

fn exp() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600
}

/// POSTs a chat request with these `Authorization` header values over a raw connection
/// (so two headers really are two headers); returns the status and the parsed body.
async fn send(server: &Server, authorizations: &[String]) -> (u16, Value) {
    let body = chat_body("gpt-4o", false, "jwt").to_string();
    let auth: String = authorizations
        .iter()
        .map(|a| format!("Authorization: {a}\r\n"))
        .collect();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (status, text, _) = raw_request(api_addr(server), &head).await;
    let json = &text[text.find("\r\n\r\n").unwrap() + 4..];
    (status, serde_json::from_str(json).unwrap())
}

fn message(v: &Value) -> &str {
    v["error"]["message"].as_str().unwrap()
}

#[tokio::test]
async fn crit_duplicate_authorization_and_missing_claims_are_rejected_by_name() {
    let server = Server::start(&env_with(&[("JWT_SECRET", SECRET)])).await;
    let hs = json!({"alg": "HS256", "typ": "JWT"});
    let good = sign_jwt(SECRET, &hs, &json!({"sub": "uma", "exp": exp()}));
    // Control: the independent signer's token is accepted.
    let (status, _) = send(&server, &[format!("Bearer {good}")]).await;
    assert_eq!(status, 200);

    let crit = sign_jwt(
        SECRET,
        &json!({"alg": "HS256", "typ": "JWT", "crit": ["exp"]}),
        &json!({"sub": "uma", "exp": exp()}),
    );
    let (status, v) = send(&server, &[format!("Bearer {crit}")]).await;
    assert_eq!(status, 401);
    assert!(message(&v).contains("crit"), "{v}");

    let (status, v) = send(
        &server,
        &[format!("Bearer {good}"), format!("Bearer {good}")],
    )
    .await;
    assert_eq!(
        status, 401,
        "two headers are ambiguous even when both are valid"
    );
    assert!(
        message(&v).contains("more than one Authorization header"),
        "{v}"
    );

    let no_sub = sign_jwt(SECRET, &hs, &json!({"exp": exp()}));
    let (status, v) = send(&server, &[format!("Bearer {no_sub}")]).await;
    assert_eq!(status, 401);
    assert!(message(&v).contains("`sub`"), "{v}");
    let no_exp = sign_jwt(SECRET, &hs, &json!({"sub": "uma"}));
    let (status, v) = send(&server, &[format!("Bearer {no_exp}")]).await;
    assert_eq!(status, 401);
    assert!(message(&v).contains("`exp`"), "{v}");

    let logs = server.stop(&[&good, &crit, &no_sub, &no_exp]).await;
    let reasons: Vec<&str> = events(&logs, "auth.rejected")
        .iter()
        .map(|l| l["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "unsupported_critical_header",
            "ambiguous_authorization",
            "missing_claim",
            "missing_claim"
        ]
    );
}
