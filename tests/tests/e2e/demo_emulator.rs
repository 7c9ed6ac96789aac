//! `scripts/demo.sh --emulator`: the demo against the project's AWS emulator, with the
//! dashboards and alarms applied there. Its underlying command (`aistudio-demo --apply` with
//! the emulator's settings, what `scripts/emulator.sh` runs) is checked with the AWS CLI: every
//! line is in the log group the demo names, the metrics count the generator's jobs, every
//! rendered alarm exists, and each AWS CLI command the demo prints runs and reads them back.
//! `scripts/emulator.sh` itself starts a fresh emulator for a command and passes its exit code.
// Test helpers may unwrap: a panic is the test failing.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tests::emulator::Emulator;
use tests::sidecar::Workspace;

/// Seconds of traffic: enough for every kind of request, short for the suite.
const DURATION_SECS: &str = "8";
/// Dimension values given as CloudWatch writes them (the emulator has no load balancer).
const LOAD_BALANCER: &str = "app/aistudio-emulator-alb/0123456789abcdef";
const TARGET_GROUP: &str = "targetgroup/aistudio-emulator-tg/0123456789abcdef";

fn root() -> PathBuf {
    tests::workspace_root()
}

/// The demo's two binaries under their real names, linked to the ones Cargo built.
fn bin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, built) in [
        ("aistudio-server", "e2e-aistudio-server"),
        ("aistudio-sidecar", "e2e-aistudio-sidecar"),
    ] {
        std::os::unix::fs::symlink(tests::binary(built), dir.path().join(name)).unwrap();
    }
    dir
}

/// Every message of every stream of `group`, read back with the AWS CLI.
fn group_messages(emulator: &Emulator, group: &str) -> Vec<String> {
    let streams = emulator
        .aws_cli(&["logs", "describe-log-streams", "--log-group-name", group])
        .unwrap();
    let mut messages = Vec::new();
    for stream in streams["logStreams"].as_array().unwrap() {
        let name = stream["logStreamName"].as_str().unwrap();
        messages.extend(emulator.log_messages(group, name).unwrap());
    }
    messages
}

/// Runs one printed command as a user would paste it, with the emulator's settings.
fn run_printed(emulator: &Emulator, command: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", command])
        .envs(emulator.child_env())
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "`{command}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn alarm_names_rendered(out: &Path) -> BTreeSet<String> {
    std::fs::read_dir(out.join("provision").join("alarms"))
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            path.file_stem().unwrap().to_string_lossy().into_owned()
        })
        .collect()
}

#[test]
fn the_emulator_demo_ships_applies_and_prints_commands_that_read_it_back() {
    let emulator = Emulator::start().unwrap();
    let bin = bin_dir();
    let ws = Workspace::new();
    let (out, secrets_file) = (ws.path("out"), ws.path("secrets.json"));
    let output = Command::new(tests::binary("e2e-aistudio-demo"))
        .args(["--duration", DURATION_SECS, "--rate", "8", "--apply"])
        .args([
            "--load-balancer",
            LOAD_BALANCER,
            "--target-group",
            TARGET_GROUP,
        ])
        .arg("--out")
        .arg(&out)
        .arg("--secrets-out")
        .arg(&secrets_file)
        .arg("--definitions")
        .arg(root())
        .arg("--bin-dir")
        .arg(bin.path())
        .envs(emulator.child_env())
        .env_remove("AWS_PROFILE")
        .env_remove("AISTUDIO_ENV")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let group = "/aws/ecs/aistudio-dev-frontend";
    assert!(
        stdout.contains(&format!("The logs are in the log group {group}")),
        "{stdout}"
    );
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["aws"], true, "{summary}");
    assert_eq!(summary["applied"], true, "{summary}");
    assert_eq!(summary["apply_error"], Value::Null, "{summary}");
    assert_eq!(summary["log_group"], group, "{summary}");

    // The logs: every line the server and the app wrote, redacted, in the named group.
    let messages = group_messages(&emulator, group);
    assert_eq!(
        messages.len() as u64,
        summary["lines_in"].as_u64().unwrap(),
        "{summary}"
    );
    assert!(messages.iter().any(|m| m.contains("[REDACTED:email]")));
    let secrets: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(&secrets_file).unwrap()).unwrap();
    assert!(secrets.len() > 10);
    for message in &messages {
        for secret in &secrets {
            assert!(!message.contains(secret.as_str()), "{secret} in {message}");
        }
    }

    // The metrics: JobsCreated at Environment=dev sums to the jobs the generator started.
    let jobs = summary["counts"]["jobs"].as_u64().unwrap();
    assert!(jobs > 0, "{summary}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let points = emulator
        .metric_points(
            "AIStudio/Streaming",
            &[(
                "jobs".into(),
                "JobsCreated",
                vec![("Environment", "dev".to_owned())],
                "Sum",
            )],
            now - 900,
            now + 300,
        )
        .unwrap();
    assert_eq!(points["jobs"].1, jobs as f64, "{points:?}");

    // The alarms: every one `provision render` wrote for dev exists in the emulator.
    let rendered = alarm_names_rendered(&out);
    assert!(rendered.len() >= 5, "{rendered:?}");
    let alarms = emulator
        .aws_cli(&[
            "cloudwatch",
            "describe-alarms",
            "--alarm-name-prefix",
            "aistudio-dev-",
        ])
        .unwrap();
    let live: BTreeSet<String> = ["MetricAlarms", "CompositeAlarms"]
        .iter()
        .flat_map(|kind| alarms[kind].as_array().cloned().unwrap_or_default())
        .map(|a| a["AlarmName"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(live, rendered);

    // Each printed command runs as printed and reads the run back.
    let printed: Vec<&str> = stdout
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("aws --endpoint-url "))
        .collect();
    assert_eq!(printed.len(), 4, "{stdout}");
    let json = |text: &str| -> Value { serde_json::from_str(text).unwrap() };
    let logs = json(&run_printed(&emulator, printed[0]));
    assert_eq!(logs["events"].as_array().unwrap().len(), 5, "{logs}");
    let listed = json(&run_printed(&emulator, printed[1]));
    assert!(
        listed["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["MetricName"] == "JobsCreated"),
        "{listed}"
    );
    let stats = json(&run_printed(&emulator, printed[2]));
    let summed: f64 = stats["MetricDataResults"][0]["Values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert_eq!(summed, jobs as f64, "{stats}");
    let states = run_printed(&emulator, printed[3]);
    let state_lines: Vec<&str> = states.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        state_lines.len(),
        live.len() - alarms["CompositeAlarms"].as_array().map_or(0, Vec::len),
        "{states}"
    );
    for line in state_lines {
        let (name, state) = line.split_once('\t').unwrap();
        assert!(rendered.contains(name), "{line}");
        assert!(
            ["OK", "ALARM", "INSUFFICIENT_DATA"].contains(&state.trim()),
            "{line}"
        );
    }
}

#[test]
fn the_emulator_script_runs_a_command_against_a_fresh_emulator() {
    let output = Command::new("bash")
        .arg(root().join("scripts/emulator.sh"))
        .args([
            "sh",
            "-c",
            "aws logs create-log-group --log-group-name /demo/emulator-script && aws logs describe-log-groups --output text; exit 3",
        ])
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(3),
        "the command's exit code: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("AWS emulator at http://127.0.0.1:"),
        "{stdout}"
    );
    assert!(stdout.contains("/demo/emulator-script"), "{stdout}");
}
