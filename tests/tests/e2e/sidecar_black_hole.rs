//! The AWS endpoint as a black hole (it accepts TCP and never answers, as a broken NAT or a
//! stuck proxy does): the real sidecar, tailing a file, must still stop by its shutdown
//! deadline after SIGTERM and exit 0, because every AWS attempt has a timeout and is raced
//! against the deadline; what it could not deliver is failed back to the file checkpoint, so a
//! restart against a working endpoint delivers every line.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tests::emulator::{unique_name, Emulator};
use tests::sidecar::{append_lines, aws_env_for, black_hole, Sidecar, Workspace};

const LIMIT: Duration = Duration::from_secs(60);
const DEADLINE_SECS: u64 = 3;
/// Past the deadline the sidecar gives its sinks up to 2 s to fail back (`GIVE_UP_GRACE`);
/// with attempts raced against the deadline they need a fraction of it.
const EXIT_BOUND: Duration = Duration::from_secs(DEADLINE_SECS + 2);

/// A contract line without a `timestamp`: it takes the time it is read, so CloudWatch's
/// 14-day window accepts it on the restart whenever the test runs.
fn line(i: usize) -> String {
    format!(
        r#"{{"level":"info","message":"line {i}","event":"http.request","endpoint":"/v1/chat/completions","status":200,"duration":5}}"#
    )
}

#[tokio::test]
async fn sigterm_ends_by_the_deadline_when_the_endpoint_never_answers() {
    let (address, mut accepted) = black_hole().await;
    let ws = Workspace::new();
    let lines: Vec<String> = (0..500).map(line).collect();
    append_lines(&ws.path("app.log"), &lines);
    let config = format!(
        "shutdown_deadline_secs = {DEADLINE_SECS}\n[[sources.file]]\ninclude = [\"{}\"]\npoll_interval_ms = 20\n[sinks.cloudwatch_logs]\nlog_group = \"/aws/ecs/black-hole\"\nlog_stream = \"task-1\"\n",
        ws.path("*.log").display()
    );
    let env = aws_env_for(&address);
    let mut sidecar = Sidecar::start(ws.tmp.path(), &config, &env, Stdio::null()).unwrap();
    sidecar
        .wait_metric_at_least("aistudio_sidecar_lines_read_total", 500.0, LIMIT)
        .await;
    // The sink's first call is in the black hole.
    tokio::time::timeout(LIMIT, accepted.wait_for(|held| *held > 0))
        .await
        .expect("the sidecar connects to the endpoint")
        .expect("the black hole is running");
    assert_eq!(
        sidecar
            .metric("aistudio_sidecar_events_shipped_total")
            .await,
        Some(0.0)
    );

    let signalled = Instant::now();
    sidecar.signal("TERM");
    let code = sidecar.wait_exit(LIMIT).await;
    let took = signalled.elapsed();
    assert_eq!(code, Some(0), "{}", sidecar.stderr());
    assert!(
        took >= Duration::from_secs(DEADLINE_SECS),
        "exited after {took:?}, before the deadline, with nothing delivered"
    );
    assert!(
        took < EXIT_BOUND,
        "exited after {took:?}; the bound is {EXIT_BOUND:?}; stderr: {}",
        sidecar.stderr()
    );
    println!("black hole: SIGTERM to exit {took:?} with a {DEADLINE_SECS} s deadline");

    // Nothing was delivered, so nothing was checkpointed: a restart against a working
    // endpoint ships every line.
    let emulator = Emulator::shared();
    let group = format!("/aws/ecs/{}", unique_name("black-hole-after"));
    let config = config.replace("/aws/ecs/black-hole", &group);
    let mut restarted =
        Sidecar::start(ws.tmp.path(), &config, &emulator.child_env(), Stdio::null()).unwrap();
    restarted
        .wait_metric_at_least("aistudio_sidecar_events_shipped_total", 500.0, LIMIT)
        .await;
    restarted.stop(LIMIT).await;
    let messages = emulator.log_messages(&group, "task-1").unwrap();
    assert_eq!(messages.len(), 500);
}
