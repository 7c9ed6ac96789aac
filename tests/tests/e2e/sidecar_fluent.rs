//! The fluent forward source end to end: real clients (the `fluent-logger` package, frames
//! built with the `msgpack` package) send to the real sidecar over its unix socket and TCP;
//! the lines arrive in CloudWatch Logs (the emulator) redacted, exactly once, with their
//! container and ECS fields, read back by the AWS CLI. The test command installs both
//! packages; a missing one fails these tests (never skips).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tests::emulator::{unique_name, Emulator};
use tests::sidecar::{free_port, Sidecar, Workspace};

const LIMIT: Duration = Duration::from_secs(60);
const SHIPPED: &str = "aistudio_sidecar_events_shipped_total";

/// Runs `tests/clients/fluent_forward.py` and returns the JSON it printed.
fn client(args: &[&str]) -> serde_json::Value {
    tests::python_client("fluent_forward.py", args)
}

fn config(group: &str, socket: Option<&Path>, port: u16) -> String {
    let socket = socket
        .map(|s| format!("socket_path = \"{}\"\n", s.display()))
        .unwrap_or_default();
    format!(
        "[sources.fluent]\n{socket}address = \"127.0.0.1:{port}\"\n[sinks.cloudwatch_logs]\nlog_group = \"{group}\"\nlog_stream = \"task-1\"\nbatch_timeout_ms = 100\n"
    )
}

/// Every shipped event as (seq, parsed message), read back page by page by the AWS CLI.
fn shipped(emulator: &Emulator, group: &str) -> Vec<(u64, serde_json::Value)> {
    emulator
        .log_messages(group, "task-1")
        .expect("get-log-events through the AWS CLI")
        .iter()
        .map(|text| {
            let message: serde_json::Value = serde_json::from_str(text)
                .unwrap_or_else(|_| panic!("every forward line ships as JSON: {text}"));
            let seq = message["seq"]
                .as_u64()
                .unwrap_or_else(|| panic!("no seq: {text}"));
            (seq, message)
        })
        .collect()
}

/// (seq, CloudWatch timestamp) of every event (one page: the test sends fewer than 10,000).
fn timestamps(emulator: &Emulator, group: &str) -> Vec<(u64, i64)> {
    let out = emulator
        .aws_cli(&[
            "logs",
            "get-log-events",
            "--log-group-name",
            group,
            "--log-stream-name",
            "task-1",
            "--start-from-head",
        ])
        .expect("get-log-events through the AWS CLI");
    out["events"]
        .as_array()
        .expect("an events array")
        .iter()
        .filter_map(|e| {
            let message: serde_json::Value = serde_json::from_str(e["message"].as_str()?).ok()?;
            Some((message["seq"].as_u64()?, e["timestamp"].as_i64()?))
        })
        .collect()
}

fn assert_redacted_with_metadata(events: &[(u64, serde_json::Value)]) {
    for (seq, message) in events {
        let text = message.to_string();
        assert!(!text.contains("@example.com"), "not redacted: {text}");
        assert!(
            text.contains(&format!("user{seq}")) || text.contains("[REDACTED"),
            "{text}"
        );
        assert_eq!(
            message["container_name"], "/ecs-aistudio-server-1",
            "{text}"
        );
        assert_eq!(message["ecs_cluster"], "aistudio-dev", "{text}");
        assert_eq!(
            message["ecs_task_definition"], "aistudio-server:7",
            "{text}"
        );
        assert_eq!(message["source"], "stdout", "{text}");
        if seq % 5 == 4 {
            assert!(message["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("plain text from")));
        } else {
            assert_eq!(message["event"], "job.completed", "{text}");
        }
    }
}

fn counts(events: &[(u64, serde_json::Value)]) -> BTreeMap<u64, usize> {
    let mut counts = BTreeMap::new();
    for (seq, _) in events {
        *counts.entry(*seq).or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn fluent_logger_over_the_unix_socket_and_tcp_arrives_redacted_exactly_once() {
    let emulator = Emulator::shared();
    let ws = Workspace::new();
    let group = format!("/aws/ecs/{}", unique_name("aistudio-dev-firelens"));
    let socket = ws.path("run/fluent.sock");
    // A stale socket file, as a killed run leaves it: replaced at start.
    std::fs::create_dir_all(ws.path("run")).unwrap();
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let port = free_port();
    let mut sidecar = Sidecar::start(
        ws.tmp.path(),
        &config(&group, Some(&socket), port),
        &emulator.child_env(),
        Stdio::null(),
    )
    .unwrap();
    let port_arg = port.to_string();
    let socket_arg = socket.display().to_string();
    // The API answers once every source listens.
    sidecar.wait_metric_at_least(SHIPPED, 0.0, LIMIT).await;
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&socket).unwrap().permissions());
    assert_eq!(
        mode & 0o777,
        0o660,
        "the socket's mode is sources.fluent.socket_mode"
    );
    let sent = client(&[
        "logger",
        "--socket",
        &socket_arg,
        "--start",
        "0",
        "--count",
        "300",
    ]);
    assert_eq!(sent["sent"], 300);
    let sent = client(&[
        "logger", "--port", &port_arg, "--start", "300", "--count", "300",
    ]);
    assert_eq!(sent["sent"], 300);
    sidecar.wait_metric_at_least(SHIPPED, 600.0, LIMIT).await;
    sidecar.stop(LIMIT).await;
    assert!(!socket.exists(), "the socket file is removed at shutdown");

    let events = shipped(emulator, &group);
    let want: BTreeMap<u64, usize> = (0..600).map(|s| (s, 1)).collect();
    assert_eq!(counts(&events), want, "every record exactly once");
    assert_redacted_with_metadata(&events);
    assert!(events.iter().all(|(_, m)| m["tag"] == "server.stdout"));
}

#[tokio::test]
async fn every_forward_mode_is_acked_and_bad_connections_disturb_nothing() {
    let emulator = Emulator::shared();
    let ws = Workspace::new();
    let group = format!("/aws/ecs/{}", unique_name("aistudio-dev-forward"));
    let port = free_port();
    let mut sidecar = Sidecar::start(
        ws.tmp.path(),
        &config(&group, None, port),
        &emulator.child_env(),
        Stdio::null(),
    )
    .unwrap();
    // The API answers once every source listens.
    sidecar.wait_metric_at_least(SHIPPED, 0.0, LIMIT).await;
    let port_arg = port.to_string();
    let report = client(&[
        "frames",
        "--port",
        &port_arg,
        "--rounds",
        "2",
        "--per-frame",
        "50",
    ]);
    // 2 rounds of Message (1 event), Forward, PackedForward, CompressedPackedForward (50 each).
    assert_eq!(report["acked"], 8, "{report}");
    let total = report["events"].as_u64().unwrap();
    assert_eq!(total, 2 * (1 + 3 * 50));
    assert_eq!(report["bad_closed"]["malformed"], true, "{report}");
    assert_eq!(report["bad_closed"]["oversized"], true, "{report}");
    // Acked means accepted: everything acked is already shipped or held by the sink.
    sidecar
        .wait_metric_at_least(SHIPPED, total as f64, LIMIT)
        .await;
    sidecar.stop(LIMIT).await;
    let stderr = sidecar.stderr();
    assert!(stderr.contains("not msgpack"), "{stderr}");
    assert!(
        stderr.contains("larger than sources.fluent.max_frame_bytes"),
        "{stderr}"
    );

    let events = shipped(emulator, &group);
    let want: BTreeMap<u64, usize> = (0..total).map(|s| (s, 1)).collect();
    assert_eq!(counts(&events), want, "every event exactly once");
    assert_redacted_with_metadata(&events);
    // EventTime's nanoseconds and integer seconds both become the event's timestamp.
    let times = report["times"].as_object().unwrap();
    let stamps = timestamps(emulator, &group);
    assert_eq!(stamps.len() as u64, total);
    for (seq, timestamp) in &stamps {
        assert_eq!(
            times[&seq.to_string()].as_i64(),
            Some(*timestamp),
            "seq {seq}"
        );
    }
}

#[tokio::test]
async fn kill_9_under_acked_traffic_loses_nothing_that_was_acked() {
    let emulator = Emulator::shared();
    let ws = Workspace::new();
    let group = format!("/aws/ecs/{}", unique_name("aistudio-dev-fluent-kill"));
    let port = free_port();
    let config = config(&group, None, port);
    let mut first =
        Sidecar::start(ws.tmp.path(), &config, &emulator.child_env(), Stdio::null()).unwrap();
    first.wait_metric_at_least(SHIPPED, 0.0, LIMIT).await;
    // The client resends every frame until it is acked, as `require_ack_response` does.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/fluent_forward.py");
    let (frames, per_frame) = (60u64, 100u64);
    let client = std::process::Command::new("python3")
        .arg(&script)
        .args(["resend", "--port", &port.to_string()])
        .args([
            "--frames",
            &frames.to_string(),
            "--per-frame",
            &per_frame.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs the resending client");
    // Kill in the middle of the stream: some frames acked, some in flight, some not sent.
    first.wait_metric_at_least(SHIPPED, 1500.0, LIMIT).await;
    first.signal("KILL");
    assert_eq!(first.wait_exit(LIMIT).await, None, "killed by the signal");
    let mut second =
        Sidecar::start(ws.tmp.path(), &config, &emulator.child_env(), Stdio::null()).unwrap();
    let out = tokio::task::spawn_blocking(move || client.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "{} {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["acked"].as_array().unwrap().len() as u64,
        frames,
        "{report}"
    );
    assert!(
        report["retries"].as_u64().unwrap() > 0,
        "the kill made the client resend: {report}"
    );
    second.wait_metric_at_least(SHIPPED, 1.0, LIMIT).await;
    second.stop(LIMIT).await;

    let events = shipped(emulator, &group);
    let counts = counts(&events);
    let total = frames * per_frame;
    let missing: Vec<u64> = (0..total).filter(|s| !counts.contains_key(s)).collect();
    assert!(
        missing.is_empty(),
        "every acked event arrived; missing {missing:?}"
    );
    // Duplicates only from what was in flight at the kill (the frame being sent and the
    // batches not yet confirmed), never the whole stream.
    let duplicated = counts.values().filter(|&&n| n > 1).count() as u64;
    assert!(
        duplicated <= 5 * per_frame,
        "{duplicated} duplicated of {total}"
    );
    assert_redacted_with_metadata(&events);
}

#[tokio::test]
async fn with_a_shared_key_only_clients_that_prove_it_are_heard() {
    let emulator = Emulator::shared();
    let ws = Workspace::new();
    let group = format!("/aws/ecs/{}", unique_name("aistudio-dev-fluent-auth"));
    let port = free_port();
    let key = "forward-shared-key-9f8e7d";
    let config = config(&group, None, port).replace(
        "[sources.fluent]\n",
        "[sources.fluent]\nshared_key_env = \"AISTUDIO_FLUENT_SHARED_KEY\"\n",
    );
    let mut env = emulator.child_env();
    env.push(("AISTUDIO_FLUENT_SHARED_KEY", key.to_owned()));
    let mut sidecar = Sidecar::start(ws.tmp.path(), &config, &env, Stdio::null()).unwrap();
    sidecar.wait_metric_at_least(SHIPPED, 0.0, LIMIT).await;
    let report = client(&[
        "auth",
        "--port",
        &port.to_string(),
        "--key",
        key,
        "--count",
        "20",
    ]);
    assert_eq!(report["pong_ok"], true, "{report}");
    assert_eq!(report["acked"], 20, "{report}");
    assert_eq!(report["wrong_key_pong"], false, "{report}");
    assert_eq!(report["wrong_key_closed"], true, "{report}");
    assert_eq!(report["no_ping_closed"], true, "{report}");
    sidecar.wait_metric_at_least(SHIPPED, 20.0, LIMIT).await;
    sidecar.stop(LIMIT).await;
    let stderr = sidecar.stderr();
    assert!(stderr.contains("shared key mismatch"), "{stderr}");
    assert!(!stderr.contains(key), "the key is never logged: {stderr}");
    let events = shipped(emulator, &group);
    let want: BTreeMap<u64, usize> = (0..20).map(|s| (s, 1)).collect();
    assert_eq!(
        counts(&events),
        want,
        "only the authenticated client's events"
    );

    // Without the secret in the environment the sidecar refuses to start, naming the variable.
    let mut unset =
        Sidecar::start(ws.tmp.path(), &config, &emulator.child_env(), Stdio::null()).unwrap();
    assert_ne!(unset.wait_exit(LIMIT).await, Some(0));
    assert!(
        unset.stderr().contains("AISTUDIO_FLUENT_SHARED_KEY"),
        "{}",
        unset.stderr()
    );
}

#[tokio::test]
async fn with_users_only_the_right_password_is_heard_and_no_secret_is_logged() {
    let emulator = Emulator::shared();
    let ws = Workspace::new();
    let group = format!("/aws/ecs/{}", unique_name("aistudio-dev-fluent-users"));
    let port = free_port();
    let (key, password) = ("forward-shared-key-5c4b3a", "user-password-e1d2c3");
    let config = config(&group, None, port).replace(
        "[sources.fluent]\n",
        "[sources.fluent]\nshared_key_env = \"AISTUDIO_FLUENT_SHARED_KEY\"\nusers = [{ username = \"firelens\", password_env = \"AISTUDIO_FLUENT_FIRELENS_PASSWORD\" }]\n",
    );
    let mut env = emulator.child_env();
    env.push(("AISTUDIO_FLUENT_SHARED_KEY", key.to_owned()));
    env.push(("AISTUDIO_FLUENT_FIRELENS_PASSWORD", password.to_owned()));
    let mut sidecar = Sidecar::start(ws.tmp.path(), &config, &env, Stdio::null()).unwrap();
    sidecar.wait_metric_at_least(SHIPPED, 0.0, LIMIT).await;
    let port_s = port.to_string();
    let report = client(&[
        "users",
        "--port",
        &port_s,
        "--key",
        key,
        "--user",
        "firelens",
        "--password",
        password,
        "--count",
        "10",
    ]);
    assert_eq!(report["pong_ok"], true, "{report}");
    assert_eq!(report["acked"], 10, "{report}");
    for refused in ["wrong_password", "unknown_user", "no_user"] {
        let answer = &report[refused];
        assert_eq!(answer["pong"], false, "{refused}: {report}");
        assert_eq!(answer["closed"], true, "{refused}: {report}");
        // One reason for both: a client cannot probe which usernames exist.
        assert_eq!(answer["reason"], "username/password mismatch", "{report}");
    }
    sidecar.wait_metric_at_least(SHIPPED, 10.0, LIMIT).await;
    sidecar.stop(LIMIT).await;
    let stderr = sidecar.stderr();
    assert!(
        stderr.contains("wrong_password") && stderr.contains("unknown_user"),
        "{stderr}"
    );
    for secret in [key, password, "firelens", "nobody"] {
        assert!(!stderr.contains(secret), "{secret} logged: {stderr}");
    }
    let events = shipped(emulator, &group);
    let want: BTreeMap<u64, usize> = (0..10).map(|s| (s, 1)).collect();
    assert_eq!(
        counts(&events),
        want,
        "only the authenticated user's events"
    );

    // Without the password in the environment the sidecar refuses to start, naming the variable.
    env.pop();
    let mut unset = Sidecar::start(ws.tmp.path(), &config, &env, Stdio::null()).unwrap();
    assert_ne!(unset.wait_exit(LIMIT).await, Some(0));
    assert!(
        unset.stderr().contains("AISTUDIO_FLUENT_FIRELENS_PASSWORD"),
        "{}",
        unset.stderr()
    );
}

#[tokio::test]
async fn dockers_partial_messages_are_joined_and_nothing_is_lost() {
    let emulator = Emulator::shared();
    let ws = Workspace::new();
    let group = format!("/aws/ecs/{}", unique_name("aistudio-dev-fluent-partial"));
    let port = free_port();
    let mut sidecar = Sidecar::start(
        ws.tmp.path(),
        &config(&group, None, port),
        &emulator.child_env(),
        Stdio::null(),
    )
    .unwrap();
    sidecar.wait_metric_at_least(SHIPPED, 0.0, LIMIT).await;
    let report = client(&["partials", "--port", &port.to_string(), "--start", "7"]);
    let parts = report["parts"].as_u64().unwrap();
    assert_eq!(parts, 3, "{report}");
    assert_eq!(report["acked"], parts, "{report}");
    // One joined line, one flushed unfinished line, and the acked frames' parts one by one.
    let want = 2 + parts;
    sidecar
        .wait_metric_at_least(SHIPPED, want as f64, LIMIT)
        .await;
    sidecar.stop(LIMIT).await;

    let messages = emulator.log_messages(&group, "task-1").unwrap();
    assert_eq!(messages.len() as u64, want, "{messages:?}");
    let lines: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| serde_json::from_str(m).expect("every line is JSON"))
        .collect();
    let joined: Vec<&serde_json::Value> = lines.iter().filter(|l| l["seq"] == 7).collect();
    assert_eq!(joined.len(), 1, "the three parts became one contract line");
    let message = joined[0]["message"].as_str().unwrap();
    assert!(message.len() > 40_000 && !message.contains("longuser@example.com"));
    assert_eq!(joined[0]["container_name"], "/ecs-aistudio-server-1");
    assert!(joined[0].get("partial_id").is_none());
    let acked_parts = lines.iter().filter(|l| l["partial_id"] == "acked").count() as u64;
    assert_eq!(
        acked_parts, parts,
        "acked parts ship one by one, with their partial fields"
    );
    let unfinished: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| {
            l.get("partial_id").is_none()
                && l["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("{\"level\""))
        })
        .collect();
    assert_eq!(
        unfinished.len(),
        1,
        "the unfinished line is flushed at close: {lines:?}"
    );
    assert!(!messages.iter().any(|m| m.contains("@example.com")));
}

#[tokio::test]
async fn a_thousand_connections_malformed_floods_and_a_100_mb_frame_leave_every_valid_event() {
    let emulator = Emulator::shared();
    let ws = Workspace::new();
    let group = format!("/aws/ecs/{}", unique_name("aistudio-dev-fluent-flood"));
    let port = free_port();
    let mut sidecar = Sidecar::start(
        ws.tmp.path(),
        &config(&group, None, port),
        &emulator.child_env(),
        Stdio::null(),
    )
    .unwrap();
    sidecar.wait_metric_at_least(SHIPPED, 0.0, LIMIT).await;
    let report = client(&[
        "flood",
        "--port",
        &port.to_string(),
        "--connections",
        "1000",
    ]);
    assert_eq!(report["acked"], 1000, "{report}");
    assert_eq!(report["malformed_closed"], 200, "{report}");
    assert_eq!(report["big_refused"], true, "{report}");
    sidecar.wait_metric_at_least(SHIPPED, 1000.0, LIMIT).await;
    sidecar.stop(LIMIT).await;
    let events = shipped(emulator, &group);
    let want: BTreeMap<u64, usize> = (0..1000).map(|s| (s, 1)).collect();
    assert_eq!(counts(&events), want, "every valid event exactly once");
}

#[tokio::test]
async fn a_live_socket_or_a_plain_file_at_the_socket_path_is_left_alone_and_refused() {
    let ws = Workspace::new();
    let live = ws.path("live.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&live).unwrap();
    let plain = ws.path("plain.sock");
    std::fs::write(&plain, "not a socket").unwrap();
    for (path, why) in [
        (&live, "another process is listening on it"),
        (&plain, "not a socket"),
    ] {
        let config = format!(
            "[sources.fluent]\nsocket_path = \"{}\"\n[sinks.stdout]\n",
            path.display()
        );
        let mut sidecar = Sidecar::start(ws.tmp.path(), &config, &[], Stdio::null()).unwrap();
        assert_ne!(sidecar.wait_exit(LIMIT).await, Some(0));
        let stderr = sidecar.stderr();
        assert!(
            stderr.contains(why) && stderr.contains("sources.fluent.socket_path"),
            "{stderr}"
        );
        assert!(path.exists(), "{} was left in place", path.display());
    }
    assert_eq!(std::fs::read_to_string(&plain).unwrap(), "not a socket");
}
