//! The real sidecar's metric outputs without AWS: EMF lines through the log path checked
//! against the published EMF rules, the Prometheus endpoint parsed by the reference Python
//! parser (`prometheus_client`), and the local NDJSON datum file — each compared with the
//! lines that went in.
// Test helpers may unwrap: a panic is the test failing.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use tests::sidecar::{read_lines, Sidecar, Workspace};

const LIMIT: Duration = Duration::from_secs(60);
const PROVIDERS: [&str; 3] = ["openai", "bedrock", "google"];

/// Contract lines: job.created / job.completed / http.request, plus lines that must not
/// count (a NaN duration, a non-JSON line, an event outside the catalog).
fn workload(n: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for i in 0..n {
        let provider = PROVIDERS[i % 3];
        lines.push(json!({"level": "info", "event": "job.created", "provider": provider, "userId": format!("u{i}"), "jobId": format!("job-{i}")}).to_string());
        lines.push(json!({"level": "info", "event": "job.completed", "provider": provider, "duration": (i * 37 % 5_000) + 5, "tokens": i % 50, "requestId": format!("req-{i}")}).to_string());
        lines.push(json!({"level": if i % 10 == 0 { "error" } else { "info" }, "event": "http.request", "endpoint": "/v1/chat/completions", "method": "POST", "status": if i % 10 == 0 { 503 } else { 200 }, "duration": i % 700 + 1}).to_string());
    }
    lines.push(r#"{"event":"job.completed","provider":"openai","duration":"NaN"}"#.to_owned());
    lines.push("plain text job.created".to_owned());
    lines.push(r#"{"event":"server.started","port":1}"#.to_owned());
    lines
}

fn expected(n: usize) -> BTreeMap<(&'static str, &'static str), (f64, f64)> {
    // (metric, provider) -> (samples, sum)
    let mut out: BTreeMap<(&str, &str), (f64, f64)> = BTreeMap::new();
    for i in 0..n {
        let p = PROVIDERS[i % 3];
        let add = |out: &mut BTreeMap<_, (f64, f64)>, key, v: f64| {
            let e = out.entry(key).or_default();
            e.0 += 1.0;
            e.1 += v;
        };
        add(&mut out, ("JobsCreated", p), 1.0);
        add(&mut out, ("JobsCompleted", p), 1.0);
        add(&mut out, ("TokensStreamed", p), (i % 50) as f64);
        add(
            &mut out,
            ("ProcessingLatencyMs", p),
            ((i * 37 % 5_000) + 5) as f64,
        );
    }
    // The NaN line is a completed job (counted) whose duration is rejected (not published).
    let e = out.entry(("JobsCompleted", "openai")).or_default();
    e.0 += 1.0;
    e.1 += 1.0;
    out
}

fn write_stdin(sidecar: &mut Sidecar, lines: &[String]) {
    let stdin = sidecar.stdin().unwrap();
    for line in lines {
        writeln!(stdin, "{line}").unwrap();
    }
    stdin.flush().unwrap();
}

const UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// The EMF specification's rules for one log event; returns what is wrong.
fn emf_violations(line: &str) -> Vec<String> {
    let mut bad = Vec::new();
    if line.len() > 1_048_576 - 26 {
        bad.push("event over 1 MB".into());
    }
    let Ok(Value::Object(root)) = serde_json::from_str::<Value>(line) else {
        return vec!["not a JSON object".into()];
    };
    let Some(aws) = root.get("_aws").and_then(Value::as_object) else {
        return vec!["no _aws object".into()];
    };
    if aws.get("Timestamp").is_none_or(|t| t.as_u64().is_none()) {
        bad.push("_aws.Timestamp must be a non-negative integer (epoch ms)".into());
    }
    let Some(directives) = aws.get("CloudWatchMetrics").and_then(Value::as_array) else {
        return vec!["_aws.CloudWatchMetrics must be an array".into()];
    };
    if directives.is_empty() {
        bad.push("no metric directive".into());
    }
    for d in directives {
        let ns = d["Namespace"].as_str().unwrap_or("");
        if ns.trim().is_empty() || ns.len() > 1_024 {
            bad.push(format!("Namespace `{ns}` must be 1-1024 characters"));
        }
        for set in d["Dimensions"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            let set = set.as_array().map(Vec::as_slice).unwrap_or(&[]);
            if set.len() > 30 {
                bad.push("more than 30 dimensions in a set".into());
            }
            for name in set {
                let name = name.as_str().unwrap_or("");
                if !root.get(name).is_some_and(Value::is_string) {
                    bad.push(format!(
                        "dimension `{name}` is not a top-level string member"
                    ));
                }
            }
        }
        if d.get("Dimensions").is_some_and(|v| !v.is_array()) {
            bad.push("Dimensions must be an array of arrays".into());
        }
        let metrics = d["Metrics"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        if metrics.is_empty() || metrics.len() > 100 {
            bad.push(format!("{} metrics in a directive (1-100)", metrics.len()));
        }
        for m in metrics {
            let name = m["Name"].as_str().unwrap_or("");
            if name.is_empty() || name.len() > 1_024 {
                bad.push("metric Name must be 1-1024 characters".into());
            }
            match root.get(name) {
                Some(Value::Number(_)) => {}
                Some(Value::Array(values))
                    if values.len() <= 100 && values.iter().all(Value::is_number) => {}
                other => bad.push(format!(
                    "metric `{name}` value must be a number or ≤ 100 numbers, is {other:?}"
                )),
            }
            if let Some(unit) = m.get("Unit") {
                if !unit.as_str().is_some_and(|u| UNITS.contains(&u)) {
                    bad.push(format!("unit {unit} is not a CloudWatch unit"));
                }
            }
            if let Some(r) = m.get("StorageResolution") {
                if !(r == 1 || r == 60) {
                    bad.push(format!("StorageResolution {r} must be 1 or 60"));
                }
            }
        }
    }
    bad
}

#[test]
fn emf_validator_catches_broken_lines() {
    let good = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["D"]],"Metrics":[{"Name":"M","Unit":"Count"}]}]},"D":"x","M":[1,2]}"#;
    assert_eq!(emf_violations(good), Vec::<String>::new());
    for broken in [
        good.replace("\"D\":\"x\",", ""),
        good.replace("[1,2]", "\"1\""),
        good.replace("\"Count\"", "\"Things\""),
        good.replace("\"Timestamp\":1", "\"Timestamp\":\"now\""),
        good.replace("\"Namespace\":\"N\"", "\"Namespace\":\"\""),
    ] {
        assert!(!emf_violations(&broken).is_empty(), "{broken}");
    }
}

#[tokio::test]
async fn emf_lines_through_the_log_path_follow_the_spec_and_carry_every_observation() {
    let ws = Workspace::new();
    let n = 600;
    let mut sidecar = Sidecar::start(
        ws.tmp.path(),
        "[metrics]\nmode = \"emf\"\n",
        &[],
        Stdio::piped(),
    )
    .unwrap();
    write_stdin(&mut sidecar, &workload(n));
    sidecar.close_stdin();
    assert_eq!(
        sidecar.wait_exit(LIMIT).await,
        Some(0),
        "{}",
        sidecar.stderr()
    );

    let shipped = read_lines(&ws.path("data/logs.ndjson"));
    let emf: Vec<&String> = shipped.iter().filter(|l| l.contains("\"_aws\"")).collect();
    assert_eq!(
        shipped.len() - emf.len(),
        workload(n).len(),
        "every log line still shipped"
    );
    assert!(!emf.is_empty());
    let mut got: BTreeMap<(String, String), (f64, f64)> = BTreeMap::new();
    for line in &emf {
        let problems = emf_violations(line);
        assert!(problems.is_empty(), "{problems:?} in {line}");
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "AIStudio/Streaming"
        );
        assert_eq!(v["Environment"], "dev");
        for m in v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
        {
            let name = m["Name"].as_str().unwrap();
            // Keyed by the extra dimension's value; `-` is the Environment-only roll-up.
            let provider = v["Provider"]
                .as_str()
                .or(v["Endpoint"].as_str())
                .unwrap_or("-")
                .to_owned();
            let values: Vec<f64> = match &v[name] {
                Value::Array(a) => a.iter().filter_map(Value::as_f64).collect(),
                x => vec![x.as_f64().unwrap()],
            };
            let e = got.entry((name.to_owned(), provider)).or_default();
            e.0 += values.len() as f64;
            e.1 += values.iter().sum::<f64>();
        }
        for id in ["userId", "jobId", "requestId"] {
            assert!(v.get(id).is_none(), "{id} in an EMF line");
        }
    }
    for ((metric, provider), (samples, sum)) in expected(n) {
        let (got_samples, got_sum) = got[&(metric.to_owned(), provider.to_owned())];
        if metric == "ProcessingLatencyMs" {
            assert_eq!(
                got_samples, samples,
                "{metric} {provider}: every observation"
            );
            assert!(
                (got_sum - sum).abs() <= sum * 0.005,
                "{metric} {provider}: {got_sum} vs {sum}"
            );
        } else {
            // Sums are published once per period: the sum is exact.
            assert_eq!(got_sum, sum, "{metric} {provider}");
        }
    }
    let errors = got[&("ErrorCount".to_owned(), "-".to_owned())].1;
    assert_eq!(
        errors,
        (n / 10) as f64,
        "5xx responses, rolled up to Environment"
    );
    let created = got[&("JobsCreated".to_owned(), "-".to_owned())].1;
    assert_eq!(
        created, n as f64,
        "the roll-up counts every provider's jobs"
    );
}

/// Parses Prometheus text with the reference Python parser; returns (family type, sample
/// name, labels, value) per sample. Fails the test if the parser refuses the text.
fn parse_prometheus(text: &str) -> Vec<(String, String, BTreeMap<String, String>, f64)> {
    let python = std::env::var("AISTUDIO_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let script = "import sys, json\nfrom prometheus_client.parser import text_string_to_metric_families\nout = []\nfor fam in text_string_to_metric_families(sys.stdin.read()):\n    for s in fam.samples:\n        out.append([fam.type, s.name, s.labels, s.value])\nprint(json.dumps(out))\n";
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (install the test tools: scripts/test.sh)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client refused the exposition: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples: Vec<(String, String, BTreeMap<String, String>, f64)> =
        serde_json::from_slice(&out.stdout).unwrap();
    samples
}

#[tokio::test]
async fn prometheus_endpoint_parses_and_the_local_datum_file_adds_up() {
    let ws = Workspace::new();
    let n = 300;
    let lines = workload(n);
    // No AWS settings: the local default writes datums to <data_dir>/metrics.ndjson.
    let mut sidecar = Sidecar::start(ws.tmp.path(), "", &[], Stdio::piped()).unwrap();
    write_stdin(&mut sidecar, &lines);
    sidecar
        .wait_metric_at_least(
            "aistudio_sidecar_events_shipped_total",
            lines.len() as f64,
            LIMIT,
        )
        .await;
    let text = reqwest::get(format!("http://127.0.0.1:{}/metrics", sidecar.api_port))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let samples = parse_prometheus(&text);
    let find = |name: &str, provider: Option<&str>| -> (String, f64) {
        let found = samples
            .iter()
            .find(|(_, s, labels, _)| {
                s == name
                    && labels.get("environment").is_some_and(|e| e == "dev")
                    && provider.is_none_or(|p| labels.get("provider").is_some_and(|l| l == p))
            })
            .unwrap_or_else(|| panic!("{name} {provider:?} not in {text}"));
        (found.0.clone(), found.3)
    };
    for ((metric, provider), (samples_n, sum)) in expected(n) {
        match metric {
            "ProcessingLatencyMs" => {
                let (kind, count) = find(
                    "aistudio_streaming_processing_latency_ms_count",
                    Some(provider),
                );
                assert_eq!((kind.as_str(), count), ("histogram", samples_n));
                let (_, total) = find(
                    "aistudio_streaming_processing_latency_ms_sum",
                    Some(provider),
                );
                assert_eq!(total, sum, "Prometheus gets raw values");
            }
            _ => {
                let name = format!("aistudio_streaming_{}_total", tests_snake(metric));
                let (kind, value) = find(&name, Some(provider));
                assert_eq!(
                    (kind.as_str(), value),
                    ("counter", sum),
                    "{name} {provider}"
                );
            }
        }
    }
    let (_, errors) = find("aistudio_streaming_error_count_total", None);
    assert_eq!(errors, (n / 10) as f64);
    let own = |name: &str| {
        samples
            .iter()
            .filter(|(_, s, _, _)| s == name)
            .map(|x| x.3)
            .sum::<f64>()
    };
    assert_eq!(
        own("aistudio_sidecar_lines_read_total"),
        lines.len() as f64,
        "health counters share the endpoint"
    );
    assert_eq!(
        own("aistudio_sidecar_metric_values_rejected_total"),
        1.0,
        "the NaN duration"
    );
    assert!(samples
        .iter()
        .all(|(_, _, labels, _)| !labels.contains_key("user_id")
            && !labels.contains_key("request_id")));

    sidecar.close_stdin();
    assert_eq!(
        sidecar.wait_exit(LIMIT).await,
        Some(0),
        "{}",
        sidecar.stderr()
    );
    let datums: Vec<Value> = read_lines(&ws.path("data/metrics.ndjson"))
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut got: BTreeMap<(String, String), (f64, f64)> = BTreeMap::new();
    for d in &datums {
        assert_eq!(d["Namespace"], "AIStudio/Streaming");
        assert_eq!(
            d["Dimensions"][0],
            json!({"Name": "Environment", "Value": "dev"})
        );
        let provider = d["Dimensions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["Name"] == "Provider")
            .map_or("-".to_owned(), |x| x["Value"].as_str().unwrap().to_owned());
        let e = got
            .entry((d["MetricName"].as_str().unwrap().to_owned(), provider))
            .or_default();
        if let Some(values) = d["Values"].as_array() {
            assert!(values.len() <= 150);
            let counts = d["Counts"].as_array().unwrap();
            e.0 += counts.iter().filter_map(Value::as_f64).sum::<f64>();
            e.1 += values
                .iter()
                .zip(counts)
                .map(|(v, c)| v.as_f64().unwrap() * c.as_f64().unwrap())
                .sum::<f64>();
        } else {
            e.0 += d["StatisticValues"]["SampleCount"].as_f64().unwrap();
            e.1 += d["StatisticValues"]["Sum"].as_f64().unwrap();
        }
    }
    for ((metric, provider), (samples_n, sum)) in expected(n) {
        let (got_n, got_sum) = got[&(metric.to_owned(), provider.to_owned())];
        assert_eq!(got_n, samples_n, "{metric} {provider}");
        assert!(
            (got_sum - sum).abs() <= sum * 0.005,
            "{metric} {provider}: {got_sum} vs {sum}"
        );
    }
}

fn tests_snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}
