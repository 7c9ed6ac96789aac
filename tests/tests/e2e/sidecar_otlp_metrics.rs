//! OTLP/HTTP metrics end to end: the OpenTelemetry Python SDK's own metric exporter sends a
//! counter, an explicit-bucket histogram, an exponential histogram and a gauge named after
//! catalog metrics (cumulative, then delta with gzip) to the real sidecar, which publishes
//! them through its metric stage with PutMetricData to the emulator; the AWS CLI reads them
//! back. Points that do not map onto the catalog are rejected in `partial_success`, naming
//! the metric or attribute and never a value. The test command installs the SDK; a missing
//! one fails these tests (never skips).

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tests::emulator::Emulator;
use tests::sidecar::{free_port, read_lines, Sidecar, Workspace};

const LIMIT: Duration = Duration::from_secs(60);
const NAMESPACE: &str = "AIStudio/Streaming";

fn now_secs() -> i64 {
    tests::sidecar::now_ms() / 1_000
}

fn export(endpoint: &str, provider: &str, delta: bool) -> Value {
    let mut args = vec!["--endpoint", endpoint, "--provider", provider];
    if delta {
        args.extend(["--delta", "--gzip"]);
    }
    tests::python_client("otlp_metrics.py", &args)
}

#[tokio::test]
async fn sdk_counters_histograms_and_gauges_reach_cloudwatch_through_the_metric_stage() {
    // A private emulator: moto 5.2 ignores the namespace in GetMetricData with dimensions,
    // and the catalog's metric names are fixed.
    let emulator = Emulator::start().unwrap();
    let ws = Workspace::new();
    let port = free_port();
    // Periods close only on SIGTERM (an hour of grace): one PutMetricData carries it all.
    let config = format!(
        "[sources.otlp]\naddress = \"127.0.0.1:{port}\"\n[sinks.file]\npath = \"{}\"\n[metrics]\nmode = \"put_metric_data\"\nflush_grace_ms = 3600000\nsidecar_health = false\n",
        ws.path("shipped.ndjson").display()
    );
    let mut sidecar =
        Sidecar::start(ws.tmp.path(), &config, &emulator.child_env(), Stdio::null()).unwrap();
    sidecar
        .wait_metric_at_least("aistudio_sidecar_events_shipped_total", 0.0, LIMIT)
        .await;
    let endpoint = format!("http://127.0.0.1:{port}/v1/metrics");
    let cumulative = export(&endpoint, "openai", false);
    let delta = export(&endpoint, "bedrock", true);
    for run in [&cumulative, &delta] {
        assert!(
            run["results"].as_array().is_some_and(|r| r.len() >= 2),
            "the flush and the shutdown exported: {run}"
        );
    }
    sidecar.stop(LIMIT).await;

    let env = ("Environment", "dev".to_owned());
    let mut queries = Vec::new();
    let mut want: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    let mut query = |metric: &'static str, dims: Vec<(&'static str, String)>, stat, value, tol| {
        let id = format!("q{}", queries.len());
        want.insert(id.clone(), (value, tol));
        queries.push((id, metric, dims, stat));
    };
    for (provider, run) in [("openai", &cumulative), ("bedrock", &delta)] {
        let by_provider = vec![env.clone(), ("Provider", provider.to_owned())];
        let f = |key: &str| run[key].as_f64().unwrap();
        // A cumulative counter is published as its increase: 70 once, although both exports
        // carried 70.
        query(
            "TokensStreamed",
            by_provider.clone(),
            "Sum",
            f("tokens"),
            0.0,
        );
        let by_endpoint = vec![env.clone(), ("Endpoint", format!("/v1/{provider}"))];
        query(
            "ResponseTimeMs",
            by_endpoint.clone(),
            "SampleCount",
            f("response_count"),
            0.0,
        );
        // Every value sits on its bucket's representative (a middle, or the min / max).
        query(
            "ResponseTimeMs",
            by_endpoint,
            "Sum",
            f("response_sum"),
            1e-9,
        );
        query(
            "TimeToFirstTokenMs",
            by_provider.clone(),
            "SampleCount",
            f("first_token_count"),
            0.0,
        );
        // Seconds became milliseconds; exponential buckets at the SDK's scale are within 1%.
        let first_token_ms = f("first_token_sum_ms");
        query(
            "TimeToFirstTokenMs",
            by_provider.clone(),
            "Sum",
            first_token_ms,
            first_token_ms * 0.01,
        );
    }
    // The Environment roll-up holds both providers, as for log-derived metrics.
    query(
        "TokensStreamed",
        vec![env.clone()],
        "Sum",
        cumulative["tokens"].as_f64().unwrap() + delta["tokens"].as_f64().unwrap(),
        0.0,
    );
    let now = now_secs();
    let got = emulator
        .metric_points(NAMESPACE, &queries, now - 3_600, now + 600)
        .unwrap();
    for (id, metric, dims, stat) in &queries {
        let (value, tolerance) = want[id];
        let have = got.get(id).map_or(f64::NAN, |(_, sum)| *sum);
        assert!(
            (have - value).abs() <= tolerance,
            "{metric} {stat} {dims:?}: CloudWatch has {have}, the SDK recorded {value}"
        );
    }
    // The gauge: every sample (one per collection) is 420 ms.
    let gauge_queries: Vec<_> = ["SampleCount", "Sum"]
        .into_iter()
        .map(|stat| {
            (
                stat.to_owned(),
                "ProcessingLatencyMs",
                vec![env.clone(), ("Provider", "openai".to_owned())],
                stat,
            )
        })
        .collect();
    let gauge = emulator
        .metric_points(NAMESPACE, &gauge_queries, now - 3_600, now + 600)
        .unwrap();
    let (samples, sum) = (gauge["SampleCount"].1, gauge["Sum"].1);
    assert!(samples >= 1.0, "{gauge:?}");
    assert_eq!(sum / samples, 420.0, "{gauge:?}");
    // Distributions kept their shape: the request carried Values/Counts, not an average.
    let listed = emulator
        .aws_cli(&["cloudwatch", "list-metrics", "--namespace", NAMESPACE])
        .unwrap();
    let text = listed.to_string();
    assert!(
        !text.contains("service.name") && !text.contains("aistudio-server"),
        "resource attributes are not dimensions: {text}"
    );
    let calls = emulator.calls().await.unwrap();
    assert_eq!(calls["PutMetricData"]["count"], 1, "{calls}");
}

#[tokio::test]
async fn points_outside_the_catalog_are_rejected_in_partial_success_without_their_values() {
    let ws = Workspace::new();
    let port = free_port();
    let datums = ws.path("datums.ndjson");
    let config = format!(
        "[sources.otlp]\naddress = \"127.0.0.1:{port}\"\nmax_body_bytes = 65536\n[sinks.file]\npath = \"{}\"\n[metrics]\nmode = \"file\"\nfile_path = \"{}\"\nflush_grace_ms = 3600000\nsidecar_health = false\n",
        ws.path("shipped.ndjson").display(),
        datums.display()
    );
    let mut sidecar = Sidecar::start(ws.tmp.path(), &config, &[], Stdio::null()).unwrap();
    sidecar
        .wait_metric_at_least("aistudio_sidecar_events_shipped_total", 0.0, LIMIT)
        .await;
    let url = format!("http://127.0.0.1:{port}/v1/metrics");
    let now_ns = (tests::sidecar::now_ms() * 1_000_000).to_string();
    let point = |attributes: Value, value: i64| json!({"attributes": attributes, "timeUnixNano": now_ns, "asInt": value.to_string()});
    let attr = |key: &str, value: &str| json!([{"key": key, "value": {"stringValue": value}}]);
    let delta_sum = |points: Vec<Value>| json!({"aggregationTemporality": 1, "isMonotonic": true, "dataPoints": points});
    let body = json!({"resourceMetrics": [{"resource": {"attributes": attr("service.name", "x")},
    "scopeMetrics": [{"metrics": [
        {"name": "WidgetsSold", "unit": "1", "sum": delta_sum(vec![point(json!([]), 3)])},
        {"name": "TokensStreamed", "unit": "{token}", "sum": delta_sum(vec![
            point(attr("provider", "anthropic"), 4),
            point(attr("userId", "u-secret-417"), 5),
        ])},
        {"name": "JobsCreated", "unit": "1", "gauge": {"dataPoints": [point(json!([]), 1)]}},
        {"name": "ResponseTimeMs", "unit": "By", "gauge": {"dataPoints": [point(json!([]), 1)]}},
    ]}]}]});
    let http = reqwest::Client::new();
    let response = http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let answer: Value = response.json().await.unwrap();
    let partial = &answer["partialSuccess"];
    // proto3 JSON writes an int64 as a string; receivers take either form.
    assert_eq!(
        partial["rejectedDataPoints"].to_string().trim_matches('"'),
        "4",
        "{answer}"
    );
    let message = partial["errorMessage"].as_str().unwrap();
    for reason in [
        "`WidgetsSold` is not a metric of the AIStudio/Streaming catalog (1 data point)",
        "`TokensStreamed`: attribute `userId` is not a dimension (allowed attributes: provider) (1 data point)",
        "`JobsCreated` is a counter metric in the catalog; send it as a monotonic sum, not a gauge",
        "`ResponseTimeMs` has unit `By`, the catalog's is Milliseconds",
    ] {
        assert!(message.contains(reason), "{reason} in {message}");
    }
    assert!(!message.contains("u-secret-417"), "{message}");

    // Bad requests: the status codes OTLP asks for, no body quoted.
    let response = http
        .post(&url)
        .json(&json!({"resourceMetrics": "u-secret-417"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert!(!response.text().await.unwrap().contains("u-secret-417"));
    let response = http
        .post(&url)
        .header("content-type", "text/plain")
        .body("u-secret-417")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 415);
    let response = http
        .post(&url)
        .header("content-type", "application/x-protobuf")
        .body(vec![0u8; 70_000])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);
    sidecar.stop(LIMIT).await;

    // The accepted point was published, the rejected ones were not.
    let lines = read_lines(&datums);
    let tokens: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|d| d["MetricName"] == "TokensStreamed")
        .collect();
    let by_provider = tokens
        .iter()
        .find(|d| d["Dimensions"].to_string().contains("anthropic"))
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert_eq!(by_provider["StatisticValues"]["Sum"], 4.0, "{by_provider}");
    let text = lines.join("\n");
    assert!(
        !text.contains("WidgetsSold") && !text.contains("u-secret-417"),
        "{text}"
    );
    let stderr = sidecar.stderr();
    assert!(
        stderr.contains("metric points rejected") && !stderr.contains("u-secret-417"),
        "{stderr}"
    );
}
