//! The one-command demo (`aistudio-demo`, what `scripts/demo.sh` runs) for a short duration on
//! the local default: every line the server and the app wrote comes out redacted (lines out =
//! lines in, event by event), no secret the generator sent appears in any output file, the
//! metric datums count exactly the requests, jobs, failures and rejections the generator saw,
//! and the output folder holds the rendered dashboards and alarms and the report.
// Test helpers may unwrap: a panic is the test failing.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tests::sidecar::{read_lines, Workspace};

/// Seconds of traffic (the limit for this test is 20).
const DURATION_SECS: &str = "12";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Builds the three binaries (debug, the shared target dir) and returns their folder.
fn build() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args([
            "build",
            "-p",
            "server",
            "--bin",
            "aistudio-server",
            "-p",
            "daemon",
            "--bin",
            "aistudio-sidecar",
            "-p",
            "demo",
            "--bin",
            "aistudio-demo",
        ])
        .current_dir(root())
        .status()
        .unwrap();
    assert!(status.success(), "cargo build failed");
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("debug")
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn event_counts(lines: &[String]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for l in lines {
        let v: Value = serde_json::from_str(l).unwrap_or(Value::Null);
        let event = v["event"].as_str().unwrap_or("(not json)").to_owned();
        *out.entry(event).or_default() += 1;
    }
    out
}

/// Sum of a Count metric's values (Stats `Sum`, or Σ value × count), per metric name, over
/// datums whose dimensions include all of `filter`.
fn metric_sums(datums: &[Value], filter: &[(&str, &str)]) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for d in datums {
        let dims = d["Dimensions"].as_array().unwrap();
        let has = |(n, v): &(&str, &str)| dims.iter().any(|x| x["Name"] == *n && x["Value"] == *v);
        if !filter.iter().all(has) {
            continue;
        }
        let sum = if let Some(values) = d["Values"].as_array() {
            values
                .iter()
                .zip(d["Counts"].as_array().unwrap())
                .map(|(v, c)| v.as_f64().unwrap() * c.as_f64().unwrap())
                .sum()
        } else {
            d["StatisticValues"]["Sum"].as_f64().unwrap()
        };
        *out.entry(d["MetricName"].as_str().unwrap().to_owned())
            .or_insert(0.0) += sum;
    }
    out
}

#[test]
fn demo_outputs_match_what_went_in() {
    let bin = build();
    let ws = Workspace::new();
    let (out, work, secrets_file) = (ws.path("out"), ws.path("work"), ws.path("secrets.json"));
    let mut cmd = Command::new(bin.join("aistudio-demo"));
    cmd.args(["--duration", DURATION_SECS, "--rate", "8", "--out"])
        .arg(&out)
        .arg("--work-dir")
        .arg(&work)
        .arg("--secrets-out")
        .arg(&secrets_file)
        .arg("--definitions")
        .arg(root())
        .arg("--bin-dir")
        .arg(&bin);
    // The local default: no AWS settings from the machine.
    for var in [
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ] {
        cmd.env_remove(var);
    }
    let output = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("Where everything went"), "{stdout}");

    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let counts = &summary["counts"];
    let n = |k: &str| counts[k].as_u64().unwrap();
    assert_eq!(summary["server_exit"], 0);
    assert_eq!(summary["sidecar_exit"], 0);
    assert_eq!(summary["aws"], false);
    // The traffic mix happened: every kind of request and line is represented.
    for k in [
        "streams_completed",
        "streams_failed",
        "slow_streams",
        "unauthorized",
        "rate_limited",
        "app_lines",
    ] {
        assert!(n(k) > 0, "no {k}: {counts}");
    }
    assert_eq!(n("transport_errors"), 0, "{counts}");

    // Lines out = lines in, event by event.
    let raw: Vec<String> = ["server.log", "app.log"]
        .iter()
        .flat_map(|f| read_lines(&work.join("logs").join(f)))
        .collect();
    let shipped = read_lines(&out.join("logs.ndjson"));
    assert_eq!(shipped.len(), raw.len(), "lines out != lines in");
    assert_eq!(summary["lines_in"].as_u64().unwrap(), raw.len() as u64);
    assert_eq!(event_counts(&shipped), event_counts(&raw));
    assert_eq!(
        event_counts(&raw).get("app.support_ticket").copied(),
        Some(n("app_lines") as usize)
    );

    // No secret the generator sent appears in any output file, although the raw logs hold
    // them (so this check can fail).
    let secrets: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(&secrets_file).unwrap()).unwrap();
    assert!(secrets.len() > 10, "{secrets:?}");
    let raw_text = raw.join("\n");
    assert!(
        secrets
            .iter()
            .filter(|s| raw_text.contains(s.as_str()))
            .count()
            > 0,
        "the raw logs should carry some of the generator's secrets"
    );
    let mut outputs = Vec::new();
    files_under(&out, &mut outputs);
    assert!(outputs.len() > 5, "{outputs:?}");
    for file in &outputs {
        let text = String::from_utf8_lossy(&std::fs::read(file).unwrap()).into_owned();
        for s in &secrets {
            assert!(
                !text.contains(s.as_str()),
                "secret {s:?} leaked into {}",
                file.display()
            );
        }
    }
    assert!(shipped.iter().any(|l| l.contains("[REDACTED:email]")));

    // Metric counts match the requests made.
    let datums: Vec<Value> = read_lines(&out.join("metrics.ndjson"))
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        summary["metric_datums"].as_u64().unwrap(),
        datums.len() as u64
    );
    for d in &datums {
        assert_eq!(d["Namespace"], "AIStudio/Streaming");
        assert_eq!(d["Dimensions"][0]["Name"], "Environment");
        assert_eq!(d["Dimensions"][0]["Value"], "dev");
    }
    let chat = metric_sums(&datums, &[("Endpoint", "/v1/chat/completions")]);
    let all = metric_sums(&datums, &[]);
    let get = |m: &BTreeMap<String, f64>, k: &str| m.get(k).copied().unwrap_or(0.0) as u64;
    assert_eq!(
        get(&chat, "RequestCount"),
        n("requests"),
        "{all:?} vs {counts}"
    );
    assert_eq!(get(&all, "JobsCreated"), n("jobs"), "{all:?} vs {counts}");
    assert_eq!(
        get(&all, "JobsFailed"),
        n("streams_failed"),
        "{all:?} vs {counts}"
    );
    assert_eq!(
        get(&all, "JobsCompleted"),
        n("jobs") - n("streams_failed"),
        "{all:?} vs {counts}"
    );
    assert_eq!(get(&all, "RateLimitedRequests"), n("rate_limited"));
    assert_eq!(get(&chat, "ErrorCount"), n("server_errors"));

    // Dashboards and alarms rendered; the report names the outputs.
    assert_eq!(
        summary["provision_error"],
        Value::Null,
        "provision render failed"
    );
    for sub in ["dashboards", "alarms"] {
        let dir = out.join("provision").join(sub);
        let count = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .count();
        assert!(count > 0, "{} is empty", dir.display());
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("logs.ndjson") && report.contains("metrics.ndjson"));
    assert!(report.contains(&format!("| lines in (server + app) | {} |", raw.len())));
}
