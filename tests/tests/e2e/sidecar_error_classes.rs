//! Error classes that keep data, with the real sidecar against the emulator: expired
//! credentials and denied permissions hold the batch (retried with back-off, counted, logged
//! once, never dropped) until they clear; `DataAlreadyAcceptedException` for a batch the
//! service applied before the answer was lost counts as delivered, so the file checkpoint
//! moves and a restart sends nothing again.

use std::process::Stdio;
use std::time::Duration;

use tests::emulator::Emulator;
use tests::sidecar::{append_lines, contract_line, seq_of, Sidecar, Workspace};

const LIMIT: Duration = Duration::from_secs(60);
const SHIPPED: &str = "aistudio_sidecar_events_shipped_total";
const LINES: usize = 300;
const GROUP: &str = "/aws/ecs/aistudio-dev-frontend";

fn config(ws: &Workspace) -> String {
    format!(
        "[[sources.file]]\ninclude = [\"{}\"]\npoll_interval_ms = 20\n[sinks.cloudwatch_logs]\nlog_group = \"{GROUP}\"\nlog_stream = \"t\"\nbatch_timeout_ms = 50\n",
        ws.path("*.log").display()
    )
}

/// Seqs read back from the emulator with the AWS CLI, in order.
fn shipped_seqs(emulator: &Emulator) -> Vec<u64> {
    emulator
        .log_messages(GROUP, "t")
        .expect("the AWS CLI reads the stream back")
        .iter()
        .filter_map(|m| seq_of(m))
        .collect()
}

async fn counter(sidecar: &Sidecar, name: &str) -> f64 {
    sidecar
        .metric(name)
        .await
        .unwrap_or_else(|| panic!("{name} is exported"))
}

#[tokio::test]
async fn expired_credentials_and_denied_access_hold_the_data_until_they_clear() {
    let emulator = Emulator::start().unwrap();
    emulator
        .inject_fault("PutLogEvents", 400, "ExpiredTokenException", 2)
        .await
        .unwrap();
    emulator
        .inject_fault("PutLogEvents", 400, "AccessDeniedException", 2)
        .await
        .unwrap();
    let ws = Workspace::new();
    append_lines(
        &ws.path("app.log"),
        &(0..LINES).map(contract_line).collect::<Vec<_>>(),
    );
    let mut sidecar = Sidecar::start(
        ws.tmp.path(),
        &config(&ws),
        &emulator.child_env(),
        Stdio::null(),
    )
    .unwrap();
    sidecar
        .wait_metric_at_least(SHIPPED, LINES as f64, LIMIT)
        .await;
    // Scraped while the sidecar runs (a scrape after exit would read nothing).
    assert!(counter(&sidecar, "aistudio_sidecar_sink_unauthorized_total").await >= 4.0);
    assert_eq!(
        counter(&sidecar, "aistudio_sidecar_events_dropped_total").await,
        0.0
    );
    assert_eq!(
        counter(&sidecar, "aistudio_sidecar_sink_errors_total").await,
        0.0
    );
    let (code, body) = tests::sidecar::health(&sidecar).await;
    assert_eq!(
        (code, &body["status"]),
        (200, &serde_json::json!("ok")),
        "recovered: {body}"
    );
    sidecar.stop(LIMIT).await;
    assert_eq!(
        shipped_seqs(&emulator),
        (0..LINES as u64).collect::<Vec<_>>()
    );
    // Four refusals within a minute: one loud line, not one per retry.
    let loud = sidecar
        .stderr()
        .matches("refused the sidecar's credentials or permissions")
        .count();
    assert_eq!(loud, 1, "{}", sidecar.stderr());
}

#[tokio::test]
async fn data_already_accepted_counts_as_delivered() {
    let emulator = Emulator::start().unwrap();
    // The first PutLogEvents is applied, and its answer replaced by the error.
    emulator
        .inject_fault_with("PutLogEvents", 400, "DataAlreadyAcceptedException", 1, true)
        .await
        .unwrap();
    let ws = Workspace::new();
    append_lines(
        &ws.path("app.log"),
        &(0..LINES).map(contract_line).collect::<Vec<_>>(),
    );
    let config = config(&ws);
    let mut sidecar =
        Sidecar::start(ws.tmp.path(), &config, &emulator.child_env(), Stdio::null()).unwrap();
    sidecar
        .wait_metric_at_least(SHIPPED, LINES as f64, LIMIT)
        .await;
    assert_eq!(
        counter(&sidecar, "aistudio_sidecar_events_dropped_total").await,
        0.0
    );
    assert_eq!(
        counter(&sidecar, "aistudio_sidecar_sink_errors_total").await,
        0.0
    );
    sidecar.stop(LIMIT).await;
    assert_eq!(
        shipped_seqs(&emulator),
        (0..LINES as u64).collect::<Vec<_>>()
    );
    // The checkpoint moved past the accepted batch: a restart sends only the new line.
    append_lines(&ws.path("app.log"), &[contract_line(LINES)]);
    let mut restarted =
        Sidecar::start(ws.tmp.path(), &config, &emulator.child_env(), Stdio::null()).unwrap();
    restarted.wait_metric_at_least(SHIPPED, 1.0, LIMIT).await;
    assert_eq!(
        counter(&restarted, SHIPPED).await,
        1.0,
        "{}",
        restarted.stderr()
    );
    restarted.stop(LIMIT).await;
    assert_eq!(
        shipped_seqs(&emulator),
        (0..=LINES as u64).collect::<Vec<_>>()
    );
}
