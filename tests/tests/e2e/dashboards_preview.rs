//! `aistudio-sidecar dashboards preview`, the real binary: bad input (a datum file that is
//! missing, a line that is not a datum, a dashboard that does not parse, a widget kind the
//! preview cannot draw) gives one error line per problem naming file and widget, the pages
//! of everything else are still written, and the exit code says it failed; and datums read
//! back from the AWS emulator with GetMetricData, after the AWS CLI wrote them, are drawn.
// Test helpers may unwrap: a panic is the test failing.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use tests::emulator::Emulator;

fn copy_definitions(to: &Path) {
    for dir in ["dashboards", "alarms"] {
        std::fs::create_dir_all(to.join(dir)).unwrap();
        for entry in std::fs::read_dir(tests::workspace_root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                std::fs::copy(&path, to.join(dir).join(path.file_name().unwrap())).unwrap();
            }
        }
    }
}

fn preview(args: &[&str], env: &[(&str, String)]) -> (bool, String, String) {
    let mut cmd = Command::new(tests::binary("e2e-aistudio-sidecar"));
    cmd.args(["dashboards", "preview"]).args(args);
    for var in aistudio_core::catalog::AWS_SETTING_VARS {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_input_is_one_line_per_problem_and_the_rest_is_still_written() {
    let ws = tempfile::tempdir().unwrap();
    let root = ws.path().join("defs");
    copy_definitions(&root);
    std::fs::write(
        root.join("dashboards/broken.json"),
        "{\"widgets\": [{\"type\": ",
    )
    .unwrap();
    std::fs::write(
        root.join("dashboards/logs.json"),
        r#"{"widgets": [{"type": "log", "x": 0, "y": 0, "width": 24, "height": 6, "properties": {"title": "Errors", "query": "fields @message"}}]}"#,
    )
    .unwrap();
    let data = ws.path().join("metrics.ndjson");
    std::fs::write(
        &data,
        "{\"Namespace\":\"AIStudio/Streaming\",\"MetricName\":\"JobsCreated\",\"Dimensions\":[{\"Name\":\"Environment\",\"Value\":\"dev\"}],\"Timestamp\":1796121000,\"Unit\":\"Count\",\"StatisticValues\":{\"SampleCount\":3.0,\"Sum\":3.0,\"Minimum\":1.0,\"Maximum\":1.0}}\nnot a datum\n{\"Namespace\":\"N\",\"MetricName\":\"M\",\"Timestamp\":\"alice.smith@example.com\"}\n",
    )
    .unwrap();
    let out = ws.path().join("previews");
    let missing = ws.path().join("gone.ndjson");
    let (ok, stdout, stderr) = preview(
        &[
            "--env",
            "dev",
            "--data",
            data.to_str().unwrap(),
            "--data",
            missing.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--dir",
            root.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!ok, "bad input must fail the command: {stdout}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    let has = |parts: &[&str]| errors.iter().any(|l| parts.iter().all(|p| l.contains(p)));
    assert!(has(&["broken.json", "EOF"]), "{stderr}");
    assert!(
        has(&["gone.ndjson", "cannot read the datum file"]),
        "{stderr}"
    );
    assert!(
        has(&["metrics.ndjson", "line 2", "not a metric datum"]),
        "{stderr}"
    );
    assert!(
        has(&[
            "logs.json",
            "widgets[0] \"Errors\"",
            "`log` is not supported"
        ]),
        "{stderr}"
    );
    // A message quoting the input is redacted, on the terminal and in the index page.
    assert!(
        has(&["metrics.ndjson", "line 3", "[REDACTED:email]"]),
        "{stderr}"
    );
    assert!(!stderr.contains("alice.smith@example.com"), "{stderr}");
    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(index.contains("[REDACTED:email]") && !index.contains("alice.smith"));
    assert_eq!(errors.len(), 5, "{stderr}");
    assert!(
        stderr.contains("aistudio-sidecar: error: 5 problem(s) in the input"),
        "{stderr}"
    );
    // Everything else was written: the four shipped dashboards and the log one, and the index.
    assert!(
        stdout.contains(&format!("open {}", out.join("index.html").display())),
        "{stdout}"
    );
    for name in [
        "application-performance",
        "streaming-jobs",
        "ecs-service-health",
        "database-performance",
        "logs",
    ] {
        assert!(
            out.join(format!("aistudio-dev-{name}.html")).is_file(),
            "{name}"
        );
        assert!(
            out.join(format!("aistudio-dev-{name}.png")).is_file(),
            "{name}"
        );
    }
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("preview.json")).unwrap()).unwrap();
    let jobs = manifest["dashboards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "aistudio-dev-streaming-jobs")
        .unwrap();
    let per5 = jobs["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["title"] == "Jobs per 5 minutes")
        .unwrap();
    assert_eq!(per5["status"], "data");
    assert_eq!(per5["series"][0]["label"], "created");
    assert_eq!(per5["series"][0]["points"], 1);
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn datums_read_back_from_cloudwatch_with_get_metric_data_are_drawn() {
    // A private emulator: moto ignores the namespace in GetMetricData with dimensions, and
    // these metric names are the catalog's, shared with other tests.
    let emulator = Emulator::start().unwrap();
    let ts = now_secs() - 600;
    let datums = serde_json::json!([
        {"MetricName": "JobsCreated", "Dimensions": [{"Name": "Environment", "Value": "staging"}], "Value": 7, "Unit": "Count", "Timestamp": ts},
        {"MetricName": "JobsFailed", "Dimensions": [{"Name": "Environment", "Value": "staging"}], "Value": 2, "Unit": "Count", "Timestamp": ts}
    ]);
    emulator
        .aws_cli(&[
            "cloudwatch",
            "put-metric-data",
            "--namespace",
            "AIStudio/Streaming",
            "--metric-data",
            &datums.to_string(),
        ])
        .unwrap();
    let ws = tempfile::tempdir().unwrap();
    let out = ws.path().join("previews");
    let root = tests::workspace_root();
    let (ok, stdout, stderr) = preview(
        &[
            "--env",
            "staging",
            "--cloudwatch",
            "--minutes",
            "60",
            "--out",
            out.to_str().unwrap(),
            "--dir",
            root.to_str().unwrap(),
        ],
        &emulator.child_env(),
    );
    assert!(ok, "{stdout}\n{stderr}");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("preview.json")).unwrap()).unwrap();
    assert!(manifest["source"]
        .as_str()
        .unwrap()
        .contains("GetMetricData"));
    let jobs = manifest["dashboards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "aistudio-staging-streaming-jobs")
        .unwrap();
    // The widget drawing created and failed jobs (found by its legend, not its title).
    let per5 = jobs["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| {
            w["series"]
                .as_array()
                .is_some_and(|s| s.iter().any(|x| x["label"] == "created"))
        })
        .unwrap();
    assert_eq!(per5["status"], "data", "{per5}");
    let series = |label: &str| {
        per5["series"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["label"] == label)
            .unwrap()
            .clone()
    };
    assert_eq!(series("created")["points"], 1, "{per5}");
    assert_eq!(series("failed")["points"], 1, "{per5}");
    assert_eq!(series("cancelled")["missing"], "no data", "{per5}");
}
