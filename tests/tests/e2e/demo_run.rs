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

/// A folder holding the demo's two binaries under their real names (the demo looks for
/// `aistudio-server` and `aistudio-sidecar` in `--bin-dir`), linked to the ones Cargo built
/// for this package.
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

/// A datum's contribution: Stats `Sum`, or Σ value × count.
fn datum_sum(d: &Value) -> f64 {
    if let Some(values) = d["Values"].as_array() {
        values
            .iter()
            .zip(d["Counts"].as_array().unwrap())
            .map(|(v, c)| v.as_f64().unwrap() * c.as_f64().unwrap())
            .sum()
    } else {
        d["StatisticValues"]["Sum"].as_f64().unwrap()
    }
}

/// Sums of `metric` per dimension-name set (e.g. `[Environment]` and
/// `[Environment, Provider]`): each set partitions the same observations, so every total must
/// be the same number.
fn totals_by_dimension_set(datums: &[Value], metric: &str) -> BTreeMap<Vec<String>, f64> {
    let mut out = BTreeMap::new();
    for d in datums.iter().filter(|d| d["MetricName"] == metric) {
        let mut names: Vec<String> = d["Dimensions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["Name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        *out.entry(names).or_insert(0.0) += datum_sum(d);
    }
    out
}

/// Observations a datum stands for: Σ counts, or Stats `SampleCount`.
fn datum_count(d: &Value) -> f64 {
    if let Some(counts) = d["Counts"].as_array() {
        counts.iter().map(|c| c.as_f64().unwrap()).sum()
    } else {
        d["StatisticValues"]["SampleCount"].as_f64().unwrap()
    }
}

/// Mean of `metric` over datums carrying the dimension `name` = `value`.
fn mean_where(datums: &[Value], metric: &str, name: &str, value: &str) -> f64 {
    let chosen: Vec<&Value> = with_dimension(datums, metric, name, value).collect();
    let count: f64 = chosen.iter().map(|d| datum_count(d)).sum();
    assert!(count > 0.0, "no {metric} datums for {name}={value}");
    chosen.iter().map(|d| datum_sum(d)).sum::<f64>() / count
}

/// The production failure-rate alarm, evaluated by the offline engine over the demo's
/// datums as one period (the run is shorter than the alarm's 5-minute period): the compared
/// value and the state it decides.
fn failure_rate_over_the_run(datums: &[Value]) -> (f64, f64, alarm_eval::State) {
    let (defs, problems) = provision::definitions::load(&root()).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    let ph = provision::render::Placeholders::defaults("prod", "us-east-1");
    let rendered = provision::render::render(&defs, &ph).unwrap();
    let spec = rendered
        .alarms
        .iter()
        .find(|a| a.alarm_name == "aistudio-prod-jobs-failure-rate-high")
        .expect("the failure-rate alarm is defined");
    let alarm = alarm_eval::Alarm::from_json(&serde_json::to_value(spec).unwrap()).unwrap();
    let data: Vec<Vec<alarm_eval::evaluate::PeriodData>> = alarm
        .metrics
        .iter()
        .map(|m| {
            // The alarm reads the Environment-only series.
            let total: f64 = datums
                .iter()
                .filter(|d| d["MetricName"] == m.metric_name.as_str())
                .filter(|d| d["Dimensions"].as_array().unwrap().len() == 1)
                .map(datum_sum)
                .sum();
            vec![if total > 0.0 {
                alarm_eval::evaluate::PeriodData::Value(total)
            } else {
                alarm_eval::evaluate::PeriodData::Missing
            }]
        })
        .collect();
    let timeline = alarm_eval::simulate(&alarm, &data, 1, alarm_eval::State::Ok, 1).unwrap();
    let row = &timeline.rows[0];
    (
        row.value
            .expect("enough jobs finished for the volume guard"),
        alarm.threshold,
        row.decision.state,
    )
}

/// The datums of `metric` carrying the dimension `name` = `value`.
fn with_dimension<'a>(
    datums: &'a [Value],
    metric: &'a str,
    name: &'a str,
    value: &'a str,
) -> impl Iterator<Item = &'a Value> {
    datums
        .iter()
        .filter(move |d| d["MetricName"] == metric)
        .filter(move |d| {
            d["Dimensions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["Name"] == name && x["Value"] == value)
        })
}

/// Sum of `metric` over datums carrying the dimension `name` = `value`.
fn sum_where(datums: &[Value], metric: &str, name: &str, value: &str) -> u64 {
    with_dimension(datums, metric, name, value)
        .map(datum_sum)
        .sum::<f64>() as u64
}

#[test]
fn demo_outputs_match_what_went_in() {
    let bin = bin_dir();
    let ws = Workspace::new();
    let (out, work, secrets_file) = (ws.path("out"), ws.path("work"), ws.path("secrets.json"));
    let mut cmd = Command::new(tests::binary("e2e-aistudio-demo"));
    cmd.args(["--duration", DURATION_SECS, "--rate", "8", "--out"])
        .arg(&out)
        .arg("--work-dir")
        .arg(&work)
        .arg("--secrets-out")
        .arg(&secrets_file)
        .arg("--definitions")
        .arg(root())
        .arg("--bin-dir")
        .arg(bin.path());
    // The local default: no AWS settings from the machine.
    for var in aistudio_core::catalog::AWS_SETTING_VARS {
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
    // The run ends with a next step, and its clock does not claim more traffic than it had:
    // the time after the traffic is shown as catch-up and shutdown (the old frame ended at
    // "13.6 s / 12 s").
    assert!(stdout.contains("\nNext: open "), "{stdout}");
    let header = stdout
        .lines()
        .find(|l| l.starts_with("AI Studio demo"))
        .unwrap();
    assert!(
        header.contains(&format!("s of traffic (planned {DURATION_SECS} s) + "))
            && header.contains("s catch-up and shutdown")
            && !header.contains(&format!("/ {DURATION_SECS} s")),
        "{header}"
    );

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
    // One datum count in the summary: the sidecar's counter is read after its final flush,
    // like the file (it was read before SIGTERM and fell short).
    assert_eq!(
        summary["sidecar"]["metric_datums_published"]
            .as_u64()
            .unwrap(),
        datums.len() as u64,
        "{summary}"
    );
    for d in &datums {
        assert_eq!(d["Namespace"], "AIStudio/Streaming");
        assert_eq!(d["Dimensions"][0]["Name"], "Environment");
        assert_eq!(d["Dimensions"][0]["Value"], "dev");
    }
    let expected = [
        ("JobsCreated", n("jobs")),
        ("JobsCompleted", n("jobs") - n("streams_failed")),
        ("JobsFailed", n("streams_failed")),
        ("RateLimitedRequests", n("rate_limited")),
    ];
    for (metric, want) in expected {
        let totals = totals_by_dimension_set(&datums, metric);
        assert!(!totals.is_empty(), "no {metric} datums");
        for (dims, total) in &totals {
            assert_eq!(
                *total as u64, want,
                "{metric} by {dims:?}: {totals:?} vs {counts}"
            );
        }
    }
    // Every chat request the generator made is counted on its endpoint; the other series
    // (the demo's readiness check on /api/health, any Environment-only series) agree.
    assert_eq!(
        sum_where(&datums, "RequestCount", "Endpoint", "/v1/chat/completions"),
        n("requests"),
        "{counts}"
    );
    let requests = totals_by_dimension_set(&datums, "RequestCount");
    let first = requests.values().next().copied().unwrap();
    assert!(requests.values().all(|t| *t == first), "{requests:?}");
    for (dims, total) in totals_by_dimension_set(&datums, "ErrorCount") {
        assert_eq!(total as u64, n("server_errors"), "ErrorCount by {dims:?}");
    }

    // Failures mid-stream: the streams answered 200, so the HTTP 5xx rate cannot see them;
    // the failure-rate alarm (prod's definition, on the offline engine) goes to ALARM.
    let chat_5xx = sum_where(&datums, "ErrorCount", "Endpoint", "/v1/chat/completions");
    assert!(
        chat_5xx < n("streams_failed"),
        "{chat_5xx} 5xx vs {} failed streams",
        n("streams_failed")
    );
    let (rate, threshold, state) = failure_rate_over_the_run(&datums);
    let failed = n("streams_failed") as f64;
    let finished = n("jobs") as f64;
    assert!(
        (rate - 100.0 * failed / finished).abs() < 1e-9,
        "rate {rate} vs {failed} of {finished}"
    );
    assert!(rate > threshold, "failure rate {rate} % <= {threshold} %");
    assert_eq!(state, alarm_eval::State::Alarm);

    // ProviderLatencyMs is the provider's first byte, not the job: the slow provider waits
    // 900 ms for its first token, then streams 39 more at 20 a second (1,950 ms).
    let provider = mean_where(&datums, "ProviderLatencyMs", "Provider", "sim-slow");
    let job = mean_where(&datums, "ProcessingLatencyMs", "Provider", "sim-slow");
    assert!(provider >= 900.0, "provider latency {provider} ms");
    assert!(
        job - provider >= 1_900.0,
        "job {job} ms vs provider latency {provider} ms"
    );

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

    // The previews of the demo's own datums: an index page printed at the end, and data in
    // every AIStudio/Streaming widget of these two dashboards (a widget without data means
    // a metric, dimension or stat the sidecar does not publish as the dashboard reads it).
    let index = out.join("previews").join("index.html");
    assert!(index.is_file(), "{stdout}");
    assert!(
        stdout.contains(&format!("Dashboard previews: {}", index.display())),
        "{stdout}"
    );
    assert!(report.contains("previews"), "{report}");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("previews/preview.json")).unwrap()).unwrap();
    for stem in ["streaming-jobs", "application-performance"] {
        let definition: Value = serde_json::from_slice(
            &std::fs::read(root().join("dashboards").join(format!("{stem}.json"))).unwrap(),
        )
        .unwrap();
        let preview = manifest["dashboards"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == format!("aistudio-dev-{stem}"))
            .unwrap_or_else(|| panic!("no preview of {stem}: {manifest}"));
        let mut checked = 0;
        for (i, widget) in definition["widgets"].as_array().unwrap().iter().enumerate() {
            // Rows naming the namespace; "." rows continue one of them. SEARCH-only widgets
            // name it inside a string and are not previewed.
            let reads_app = widget["properties"]["metrics"]
                .as_array()
                .is_some_and(|rows| rows.iter().any(|r| r[0] == "AIStudio/Streaming"));
            if !reads_app {
                continue;
            }
            let got = &preview["widgets"][i];
            assert_eq!(
                got["status"], "data",
                "{stem} widget {i} has no data: {got}"
            );
            checked += 1;
        }
        assert!(
            checked >= 3,
            "{stem}: only {checked} AIStudio/Streaming widgets"
        );
    }
}
