//! `/health` tells the truth about the real sidecar: a sink that never delivers (a black-hole
//! endpoint) is `degraded` with `not_delivering`, answered 503 only when the operator asked
//! for it; a sink whose every write fails (`/dev/full`) holds its events, is `degraded` with
//! `not_delivering`, and every failed write is counted; each change of state is logged once,
//! not per poll.

use std::process::Stdio;
use std::time::Duration;

use tests::sidecar::{
    append_lines, aws_env_for, black_hole, contract_line, health, Sidecar, Workspace,
};

const LIMIT: Duration = Duration::from_secs(60);
const DEGRADED_AFTER_SECS: u64 = 5;
const DEGRADED_LINE: &str = "sidecar health degraded";

/// Polls `/health` until its status is `want`, returning the HTTP status and body.
async fn wait_status(sidecar: &Sidecar, want: &str) -> (u16, serde_json::Value) {
    let start = std::time::Instant::now();
    loop {
        let (code, body) = health(sidecar).await;
        if body["status"] == want {
            return (code, body);
        }
        assert!(
            start.elapsed() < LIMIT,
            "health never became {want}: {body}; stderr: {}",
            sidecar.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn file_source(ws: &Workspace, lines: usize) -> String {
    append_lines(
        &ws.path("app.log"),
        &(0..lines).map(contract_line).collect::<Vec<_>>(),
    );
    format!(
        "[[sources.file]]\ninclude = [\"{}\"]\npoll_interval_ms = 20\n",
        ws.path("*.log").display()
    )
}

#[tokio::test]
async fn a_sink_that_never_delivers_is_degraded_and_503_when_asked() {
    let (address, mut accepted) = black_hole().await;
    let ws = Workspace::new();
    let config = format!(
        "shutdown_deadline_secs = 1\n{}[sinks.cloudwatch_logs]\nlog_group = \"/aws/ecs/health\"\nlog_stream = \"t\"\n[api]\ndegraded_after_secs = {DEGRADED_AFTER_SECS}\nfail_when_degraded = true\n",
        file_source(&ws, 200)
    );
    let mut sidecar = Sidecar::start(
        ws.tmp.path(),
        &config,
        &aws_env_for(&address),
        Stdio::null(),
    )
    .unwrap();
    tokio::time::timeout(LIMIT, accepted.wait_for(|held| *held > 0))
        .await
        .expect("the sidecar connects to the endpoint")
        .expect("the black hole is running");
    // Within the window a slow sink is not reported; past it, it is (whichever this poll
    // sees on a loaded machine, the status must match the stall it reports).
    let (code, body) = health(&sidecar).await;
    let stalled = body["stalled_ms"].as_i64().unwrap_or(-1);
    let want = if stalled < (DEGRADED_AFTER_SECS * 1000) as i64 {
        (200, "ok")
    } else {
        (503, "degraded")
    };
    assert_eq!(
        (code, body["status"].as_str().unwrap_or("")),
        want,
        "{body}"
    );

    let (code, body) = wait_status(&sidecar, "degraded").await;
    assert_eq!(code, 503, "fail_when_degraded answers 503: {body}");
    assert_eq!(body["reasons"], serde_json::json!(["not_delivering"]));
    assert_eq!(body["events_shipped"], 0);
    assert!(
        body["stalled_ms"].as_i64().unwrap_or(0) >= (DEGRADED_AFTER_SECS * 1000) as i64,
        "{body}"
    );
    assert!(body["queued_events"].as_i64().unwrap_or(0) > 0, "{body}");
    // The state change is logged (by the watcher, within a tick)...
    let start = std::time::Instant::now();
    while !sidecar.stderr().contains(DEGRADED_LINE) {
        assert!(
            start.elapsed() < LIMIT,
            "never logged: {}",
            sidecar.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // ...once: polled for three more watcher ticks, the state holds and nothing more is logged.
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        assert_eq!(health(&sidecar).await.1["status"], "degraded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let logged = sidecar.stderr().matches(DEGRADED_LINE).count();
    assert_eq!(logged, 1, "{}", sidecar.stderr());
    sidecar.stop(LIMIT).await;
}

#[tokio::test]
async fn a_sink_failing_every_write_holds_its_events_is_degraded_and_counted() {
    let ws = Workspace::new();
    let config = format!(
        "shutdown_deadline_secs = 1\n{}[sinks.file]\npath = \"/dev/full\"\n[api]\ndegraded_after_secs = {DEGRADED_AFTER_SECS}\n",
        file_source(&ws, 3000)
    );
    let mut sidecar = Sidecar::start(ws.tmp.path(), &config, &[], Stdio::null()).unwrap();
    // Every failed write is counted as a retry, and the events are held, not dropped.
    sidecar
        .wait_metric_at_least("aistudio_sidecar_retries_total", 3.0, LIMIT)
        .await;
    let (code, body) = wait_status(&sidecar, "degraded").await;
    assert_eq!(code, 200, "the default keeps 200 with a degraded body");
    assert_eq!(body["reasons"], serde_json::json!(["not_delivering"]));
    assert_eq!(body["events_shipped"], 0);
    assert_eq!(
        sidecar
            .metric("aistudio_sidecar_events_dropped_total")
            .await,
        Some(0.0),
        "held, not dropped, while running"
    );
    // The failing state is logged once, however many attempts fail.
    let retries = sidecar
        .metric("aistudio_sidecar_retries_total")
        .await
        .unwrap_or(0.0);
    assert!(retries >= 3.0);
    assert_eq!(
        sidecar.stderr().matches("local sink write failed").count(),
        1,
        "{}",
        sidecar.stderr()
    );
    // At the deadline the held events are failed back (the file checkpoint stays before
    // them) and the process exits on time.
    let stop = std::time::Instant::now();
    sidecar.stop(LIMIT).await;
    assert!(
        stop.elapsed() < Duration::from_secs(3),
        "exited {:?} after SIGTERM with a 1 s deadline",
        stop.elapsed()
    );
    let checkpoint =
        std::fs::read_to_string(ws.path("data/checkpoints-0.json")).unwrap_or_default();
    let offset = serde_json::from_str::<serde_json::Value>(&checkpoint)
        .ok()
        .and_then(|v| v["files"][0]["offset"].as_u64())
        .unwrap_or(0);
    assert_eq!(
        offset, 0,
        "nothing was written, so nothing is checkpointed: {checkpoint}"
    );
}
