//! `aistudio-sidecar alarms test`, the real binary: every shipped alarm test passes, a test
//! that expects the wrong thing fails with its timeline (text and JUnit), and a malformed file
//! is an error naming file and line.

use std::process::{Command, Output};

use tests::sidecar::sidecar_binary;
use tests::workspace_root;

fn alarms_test(args: &[&str]) -> Output {
    Command::new(sidecar_binary())
        .args(["alarms", "test"])
        .args(args)
        .current_dir(workspace_root())
        .output()
        .expect("the sidecar runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn every_shipped_alarm_test_passes() {
    let out = alarms_test(&[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let passed = stdout.lines().filter(|l| l.starts_with("PASS")).count();
    let alarms = std::fs::read_dir(workspace_root().join("alarms"))
        .expect("alarms/")
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.ends_with(".toml") && name != "topics.toml"
        })
        .count();
    assert!(
        passed >= 2 * alarms,
        "{passed} passing tests for {alarms} alarms"
    );
    assert!(!stdout.contains("FAIL"), "{stdout}");
}

#[test]
fn a_wrong_expectation_fails_with_a_timeline_in_text_and_junit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("wrong.toml");
    std::fs::write(
        &file,
        r#"alarm = "jobs-failed-high"
env = "prod"
start = 2026-01-05T10:00:00Z

[[test]]
name = "claims that no failures fire"
state = "OK"
series = [{ metric = "JobsFailed", values = "0 0 0" }]
expect = { 3 = "ALARM" }
"#,
    )
    .expect("write");
    let path = file.to_string_lossy().into_owned();
    let out = alarms_test(&[&path]);
    let stdout = text(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("FAIL"), "{stdout}");
    assert!(stdout.contains("claims that no failures fire"), "{stdout}");
    // The timeline shows the expected and the actual state of the failing period.
    assert!(
        stdout.contains("ALARM") && stdout.contains("OK"),
        "{stdout}"
    );
    assert!(
        text(&out.stderr).contains("alarm tests failed"),
        "{}",
        text(&out.stderr)
    );

    let junit = alarms_test(&["--format", "junit", &path]);
    let xml = text(&junit.stdout);
    assert!(!junit.status.success());
    assert!(xml.contains("<testsuite"), "{xml}");
    assert!(xml.contains("<failure"), "{xml}");
}

#[test]
fn a_malformed_file_names_its_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("broken.toml");
    std::fs::write(
        &file,
        "alarm = \"no-such-alarm\"\nenv = \"prod\"\nstart = 2026-01-05T10:00:00Z\n\n[[test]]\nname = \"x\"\nseries = [{ metric = \"JobsFailed\", values = \"1 2\" }]\nexpect = { 1 = \"OK\" }\n",
    )
    .expect("write");
    let out = alarms_test(&[&file.to_string_lossy()]);
    let stdout = text(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("broken.toml"), "{stdout}");
    assert!(stdout.contains("no-such-alarm"), "{stdout}");
}
