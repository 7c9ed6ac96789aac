//! All-or-nothing start-up of the real sidecar: a busy API port, a busy TCP source port, or a
//! component that cannot open (a sink's disk buffer) makes `run` exit non-zero at once with
//! one `error:` line naming what to change, and nothing half-started reads, ships or
//! checkpoints a line.

use std::net::TcpListener;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tests::sidecar::{append_lines, contract_line, free_port, read_lines, Sidecar, Workspace};

/// A failed start must end well within this (it used to hang until `kill -9`).
const EXIT_BOUND: Duration = Duration::from_secs(5);

/// A workspace with a log file of 100 lines and the config of a file source reading it.
fn with_file_source() -> (Workspace, String) {
    let ws = Workspace::new();
    let lines: Vec<String> = (0..100).map(contract_line).collect();
    append_lines(&ws.path("app.log"), &lines);
    let config = format!(
        "[[sources.file]]\ninclude = [\"{}\"]\npoll_interval_ms = 20\n",
        ws.path("*.log").display()
    );
    (ws, config)
}

/// Waits for the exit, then checks the one error line and that nothing ran: no output line
/// and no checkpoint. Returns the error line.
async fn assert_failed_start(mut sidecar: Sidecar, ws: &Workspace, output: &str) -> String {
    let started = Instant::now();
    let code = sidecar.wait_exit(EXIT_BOUND).await;
    let took = started.elapsed();
    let stderr = sidecar.stderr();
    assert_eq!(code, Some(1), "exit code; stderr: {stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("aistudio-sidecar: error:"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line; stderr: {stderr}");
    assert!(
        read_lines(&ws.path(output)).is_empty(),
        "a half-started pipeline shipped lines; stderr: {stderr}"
    );
    assert!(
        !ws.path("data/checkpoints-0.json").exists(),
        "a half-started pipeline saved a checkpoint"
    );
    println!("failed start exited 1 after {took:?}: {}", errors[0]);
    errors[0].to_owned()
}

#[tokio::test]
async fn a_busy_api_port_exits_non_zero_at_once() {
    let (ws, mut config) = with_file_source();
    config.push_str(&format!(
        "[sinks.file]\npath = \"{}\"\n",
        ws.path("out.ndjson").display()
    ));
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let sidecar = Sidecar::start_on(port, ws.tmp.path(), &config, &[], Stdio::null()).unwrap();
    let error = assert_failed_start(sidecar, &ws, "out.ndjson").await;
    assert!(
        error.contains(&format!("cannot listen on 127.0.0.1:{port}"))
            && error.contains("api.address"),
        "{error}"
    );
}

#[tokio::test]
async fn a_busy_tcp_source_port_exits_non_zero_at_once() {
    let (ws, mut config) = with_file_source();
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    config.push_str(&format!(
        "[sources.tcp]\naddress = \"127.0.0.1:{port}\"\n[sinks.file]\npath = \"{}\"\n",
        ws.path("out.ndjson").display()
    ));
    let sidecar = Sidecar::start(ws.tmp.path(), &config, &[], Stdio::null()).unwrap();
    let error = assert_failed_start(sidecar, &ws, "out.ndjson").await;
    assert!(
        error.contains(&format!("127.0.0.1:{port}")) && error.contains("sources.tcp.address"),
        "{error}"
    );
}

/// The second sink's disk buffer cannot open (its directory is a regular file) after the
/// first sink already started: the started one must not keep the process alive.
#[tokio::test]
async fn a_component_failing_after_others_started_exits_non_zero_at_once() {
    let (ws, mut config) = with_file_source();
    std::fs::create_dir_all(ws.path("buffers")).unwrap();
    std::fs::write(ws.path("buffers/stdout"), "not a directory").unwrap();
    config.push_str(&format!(
        "[sinks.file]\npath = \"{}\"\n[sinks.stdout]\n[buffer]\ndir = \"{}\"\n",
        ws.path("out.ndjson").display(),
        ws.path("buffers").display()
    ));
    let sidecar = Sidecar::start(ws.tmp.path(), &config, &[], Stdio::null()).unwrap();
    let error = assert_failed_start(sidecar, &ws, "out.ndjson").await;
    assert!(error.contains("disk buffer"), "{error}");
}

/// The control: the same config with a free port starts, and SIGTERM still ends it with 0.
#[tokio::test]
async fn the_same_config_with_free_ports_runs() {
    let (ws, mut config) = with_file_source();
    let port = free_port();
    config.push_str(&format!(
        "[sources.tcp]\naddress = \"127.0.0.1:{port}\"\n[sinks.file]\npath = \"{}\"\n",
        ws.path("out.ndjson").display()
    ));
    let mut sidecar = Sidecar::start(ws.tmp.path(), &config, &[], Stdio::null()).unwrap();
    sidecar
        .wait_metric_at_least(
            "aistudio_sidecar_events_shipped_total",
            100.0,
            Duration::from_secs(30),
        )
        .await;
    sidecar.signal("TERM");
    assert_eq!(
        sidecar.wait_exit(Duration::from_secs(30)).await,
        Some(0),
        "{}",
        sidecar.stderr()
    );
    assert_eq!(read_lines(&ws.path("out.ndjson")).len(), 100);
}
