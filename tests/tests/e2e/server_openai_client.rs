//! End-to-end: the official `openai` Python client (PyPI) against the real server, streaming and not.
//! The repo's test command installs `openai`; if it is missing this test fails (never skips).
// Test helpers may unwrap: a panic is the test failing.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use serde_json::Value;
use tests::server_harness::{chat_body, env_with, events, Server};

const PROMPT: &str = "python client prompt mango-1234";

fn run_client(server: &Server, token: &str, mode: &str) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/openai_chat.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .args(["--base-url", &format!("{}/v1", server.url())])
        .args([
            "--api-key",
            token,
            "--model",
            "gpt-4o",
            "--mode",
            mode,
            "--prompt",
            PROMPT,
        ])
        .output()
        .expect("python3 is required for the openai client test");
    assert!(
        out.status.success(),
        "openai client ({mode}) failed with {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn official_openai_python_client_streams_and_completes() {
    let server = Server::start(&env_with(&[("SIM_COMPLETION_TOKENS", "12")])).await;
    let token = server.token("python-user");
    let expected: Value = reqwest::Client::new()
        .post(server.chat_url())
        .bearer_auth(&token)
        .json(&chat_body("gpt-4o", false, PROMPT))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let expected = expected["choices"][0]["message"]["content"]
        .as_str()
        .unwrap();

    let stream = run_client(&server, &token, "stream");
    assert_eq!(stream["content"], expected);
    assert_eq!(stream["finish_reason"], "stop");
    assert_eq!(
        stream["chunks"],
        1 + 12 + 1,
        "role chunk, 12 tokens, finish chunk"
    );
    assert_eq!(stream["model"], "gpt-4o");
    assert_eq!(stream["unknown_model_error"], 404);

    let whole = run_client(&server, &token, "nonstream");
    assert_eq!(whole["content"], expected);
    assert_eq!(whole["finish_reason"], "stop");
    assert_eq!(whole["completion_tokens"], 12);
    assert!(whole["id"].as_str().unwrap().starts_with("chatcmpl-"));

    let logs = server.stop(&[PROMPT, &token]).await;
    assert_eq!(events(&logs, "job.completed").len(), 3);
}
