//! Bounded configuration and a shutdown-aware tailer, with the real binary: absurd values are
//! refused by `validate` (and `run`) naming the allowed range, and a file source with the
//! longest allowed poll interval still stops at once on SIGTERM (its idle sleep watches the
//! shutdown).

use std::process::Stdio;
use std::time::{Duration, Instant};

use tests::sidecar::{append_lines, contract_line, health, run_sidecar, Sidecar, Workspace};

#[test]
fn absurd_values_are_refused_naming_the_allowed_range() {
    let ws = Workspace::new();
    let path = ws.path("bad.toml");
    std::fs::write(
        &path,
        "shutdown_deadline_secs = 86400\n[[sources.file]]\ninclude = [\"/var/log/x/*.log\"]\npoll_interval_ms = 120000\n",
    )
    .unwrap();
    let path = path.display().to_string();
    let (code, _, stderr) = run_sidecar(&["validate", "--config", &path]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "sources.file[0].poll_interval_ms: 120000 is out of range; allowed 10..=10000"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("shutdown_deadline_secs: 86400 is out of range; allowed 1..=120"),
        "{stderr}"
    );
    let (code, _, stderr) = run_sidecar(&["run", "--config", &path]);
    assert_eq!(code, Some(1), "run refuses it too: {stderr}");
}

#[test]
fn every_sink_and_metric_interval_size_and_count_is_bounded() {
    let ws = Workspace::new();
    let path = ws.path("bad.toml");
    std::fs::write(
        &path,
        "[sinks.cloudwatch_logs]\nlog_group = \"/aws/ecs/x\"\nbatch_timeout_ms = 0\nmax_in_flight = 500\n\
         [metrics]\nflush_grace_ms = 3600000\nbatch_delay_ms = 999999\nmax_dimension_sets_per_metric = 0\n\
         max_pending_datums = 50000000\nfile_max_bytes = 10\n",
    )
    .unwrap();
    let (code, _, stderr) = run_sidecar(&["validate", "--config", &path.display().to_string()]);
    assert_eq!(code, Some(1), "{stderr}");
    for line in [
        "sinks.cloudwatch_logs.batch_timeout_ms: 0 is out of range; allowed 1..=60000",
        "sinks.cloudwatch_logs.max_in_flight: 500 is out of range; allowed 1..=16",
        "metrics.flush_grace_ms: 3600000 is out of range; allowed 0..=60000",
        "metrics.batch_delay_ms: 999999 is out of range; allowed 0..=60000",
        "metrics.max_dimension_sets_per_metric: 0 is out of range; allowed 1..=10000",
        "metrics.max_pending_datums: 50000000 is out of range; allowed 1..=1000000",
        "metrics.file_max_bytes: 10 is out of range; allowed 4096..=10737418240",
    ] {
        assert!(stderr.contains(line), "missing `{line}`: {stderr}");
    }
}

#[tokio::test]
async fn a_long_poll_interval_does_not_hold_the_shutdown() {
    let ws = Workspace::new();
    append_lines(&ws.path("app.log"), &[contract_line(0)]);
    let config = format!(
        "shutdown_deadline_secs = 5\n[[sources.file]]\ninclude = [\"{}\"]\npoll_interval_ms = 10000\n[sinks.file]\npath = \"{}\"\n",
        ws.path("*.log").display(),
        ws.path("out.ndjson").display()
    );
    let mut sidecar = Sidecar::start(ws.tmp.path(), &config, &[], Stdio::null()).unwrap();
    sidecar
        .wait_metric_at_least(
            "aistudio_sidecar_events_shipped_total",
            1.0,
            Duration::from_secs(30),
        )
        .await;
    health(&sidecar).await;
    // The tailer is now in its 10 s idle sleep.
    let signalled = Instant::now();
    sidecar.signal("TERM");
    let code = sidecar.wait_exit(Duration::from_secs(30)).await;
    let took = signalled.elapsed();
    assert_eq!(code, Some(0), "{}", sidecar.stderr());
    assert!(
        took < Duration::from_secs(2),
        "SIGTERM to exit took {took:?} with a 10 s poll interval"
    );
    println!("poll_interval_ms = 10000: SIGTERM to exit {took:?}");
}
