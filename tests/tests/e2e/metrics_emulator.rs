//! `AIStudio/Streaming` metrics for real: the streaming server under load writes its log, the
//! sidecar derives the catalog metrics and publishes them with PutMetricData to the emulator,
//! and the AWS CLI reads them back to compare with what the server logged. Plus the request
//! limits, gzip and retries of the PutMetricData sink against the emulator.
// Test helpers may unwrap: a panic is the test failing.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, VecDeque};
use std::process::Stdio;
use std::time::Duration;

use aistudio_core::aws::AwsClients;
use daemon::datum::{Datum, DatumValue, Unit, MAX_DATUMS_PER_REQUEST, MAX_REQUEST_BYTES};
use daemon::testing::take_request;
use daemon::testing::CloudWatchMetricsSink;
use daemon::testing::{Exporter, StageCounters};
use tests::emulator::{unique_name, Emulator};
use tests::server_harness::{chat_body, env_with, events, Server};
use tests::sidecar::{Sidecar, Workspace};
use tokio_util::sync::CancellationToken;

const LIMIT: Duration = Duration::from_secs(60);
const NAMESPACE: &str = "AIStudio/Streaming";

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `(id, metric, dimensions, statistic)` of one get-metric-data query.
type Query<'a> = tests::emulator::MetricQuery<'a>;

/// The sum of each query's values over the window.
fn read_back(
    emulator: &Emulator,
    queries: &[Query<'_>],
    start: i64,
    end: i64,
) -> BTreeMap<String, f64> {
    emulator
        .metric_points(NAMESPACE, queries, start, end)
        .unwrap()
        .into_iter()
        .map(|(id, (_, sum))| (id, sum))
        .collect()
}

#[tokio::test]
async fn server_load_to_sidecar_to_cloudwatch_counts_and_sums_match_the_server_log() {
    // A private emulator: moto 5.2 ignores the namespace in GetMetricData with dimensions,
    // and the catalog's metric names are fixed.
    let emulator = Emulator::start().unwrap();
    let ws = Workspace::new();
    let log = ws.path("server.log");
    let log_s = log.display().to_string();
    let server = Server::start(&env_with(&[
        ("LOG_FILE", &log_s),
        ("RATE_LIMIT_PER_MINUTE", "6"),
        ("SIM_FAILURE_RATE", "0.25"),
    ]))
    .await;

    // The sidecar tails the server's log; periods never close on their own here (grace of an
    // hour), so what reaches CloudWatch is the flush on SIGTERM.
    let config = format!(
        "[[sources.file]]\ninclude = [\"{}\"]\npoll_interval_ms = 20\n[sinks.file]\npath = \"{}\"\n[metrics]\nmode = \"put_metric_data\"\nflush_grace_ms = 3600000\n",
        log.display(),
        ws.path("shipped.ndjson").display()
    );
    let mut sidecar =
        Sidecar::start(ws.tmp.path(), &config, &emulator.child_env(), Stdio::null()).unwrap();

    // Simulated load: 4 users × 9 requests, concurrent; the rate limit (6/min) rejects some,
    // a quarter of the jobs fail, one user sends a bad token.
    let client = reqwest::Client::new();
    let mut tasks = tokio::task::JoinSet::new();
    for user in 0..4 {
        let token = if user == 3 {
            "garbage".to_owned()
        } else {
            server.token(&format!("user-{user}"))
        };
        for i in 0..9 {
            let request = client
                .post(server.chat_url())
                .bearer_auth(token.clone())
                .json(&chat_body(
                    if i % 2 == 0 {
                        "gpt-4o"
                    } else {
                        "claude-3-5-sonnet"
                    },
                    i % 3 != 0,
                    "hello",
                ));
            tasks.spawn(async move {
                let response = request.send().await.unwrap();
                let _ = response.bytes().await;
            });
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let logs = server.stop(&[]).await;
    let lines = logs.len() as f64;
    sidecar
        .wait_metric_at_least("aistudio_sidecar_events_shipped_total", lines, LIMIT)
        .await;
    sidecar.stop(LIMIT).await;

    // What the server logged, aggregated independently of the sidecar's code.
    let mut expected: BTreeMap<String, f64> = BTreeMap::new();
    let mut queries = Vec::new();
    let env = ("Environment", "dev".to_owned());
    let mut by_provider =
        |event: &str, metric: &'static str, field: Option<&str>, stat: &'static str| {
            let mut per: BTreeMap<String, f64> = BTreeMap::new();
            for line in events(&logs, event) {
                let provider = line["provider"].as_str().unwrap_or("unknown").to_owned();
                let value = field.map_or(Some(1.0), |f| line[f].as_f64());
                if let Some(value) = value {
                    *per.entry(provider).or_default() +=
                        if stat == "SampleCount" { 1.0 } else { value };
                }
            }
            for (provider, value) in per {
                let id = format!("q{}", queries.len());
                expected.insert(id.clone(), value);
                queries.push((id, metric, vec![env.clone(), ("Provider", provider)], stat));
            }
        };
    by_provider("job.created", "JobsCreated", None, "Sum");
    by_provider("job.completed", "JobsCompleted", None, "SampleCount");
    by_provider("job.failed", "JobsFailed", None, "Sum");
    by_provider("job.completed", "TokensStreamed", Some("tokens"), "Sum");
    by_provider(
        "job.completed",
        "ProcessingLatencyMs",
        Some("duration"),
        "SampleCount",
    );
    by_provider(
        "job.completed",
        "ProcessingLatencyMs",
        Some("duration"),
        "Sum",
    );
    let mut per_endpoint: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for line in events(&logs, "http.request") {
        let entry = per_endpoint
            .entry(line["endpoint"].as_str().unwrap_or("unknown").to_owned())
            .or_default();
        entry.0 += 1.0;
        entry.1 += line["duration"].as_f64().unwrap_or(0.0);
    }
    for (endpoint, (count, total)) in &per_endpoint {
        for (metric, stat, value) in [
            ("RequestCount", "Sum", *count),
            ("ResponseTimeMs", "SampleCount", *count),
            ("ResponseTimeMs", "Sum", *total),
        ] {
            let id = format!("q{}", queries.len());
            expected.insert(id.clone(), value);
            queries.push((
                id,
                metric,
                vec![env.clone(), ("Endpoint", endpoint.clone())],
                stat,
            ));
        }
    }
    let rate_limited = events(&logs, "ratelimit.rejected").len() as f64;
    if rate_limited > 0.0 {
        expected.insert("rl".into(), rate_limited);
        queries.push(("rl".into(), "RateLimitedRequests", vec![env.clone()], "Sum"));
    }
    assert!(
        expected.len() >= 8,
        "the run covered the catalog: {expected:?}"
    );
    assert!(
        !events(&logs, "job.failed").is_empty() && rate_limited > 0.0,
        "failures and rate limiting happened"
    );

    let now = now_secs();
    let got = read_back(&emulator, &queries, now - 3_600, now + 600);
    for (id, metric, dims, stat) in &queries {
        let want = expected[id];
        let have = got.get(id).copied().unwrap_or(f64::NAN);
        // Counts are exact; sums of distributions are within the buckets' 0.5%.
        let tolerance = if *stat == "Sum" && metric.ends_with("Ms") {
            want * 0.005
        } else {
            0.0
        };
        assert!(
            (have - want).abs() <= tolerance,
            "{metric} {stat} {dims:?}: CloudWatch has {have}, the server logged {want}"
        );
    }

    // Every call within the limits; with this few datums, one request (the minimum).
    let calls = emulator.calls().await.unwrap();
    let put = &calls["PutMetricData"];
    assert_eq!(put["count"], 1, "{calls}");
    assert!(put["bytes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|b| b.as_u64().unwrap() as usize <= MAX_REQUEST_BYTES));
    // No high-cardinality value became a dimension.
    let listed = emulator
        .aws_cli(&["cloudwatch", "list-metrics", "--namespace", NAMESPACE])
        .unwrap();
    let text = listed.to_string();
    assert!(
        !text.contains("user-") && !text.contains("req") && !text.contains("job-"),
        "{text}"
    );
}

fn datum(metric: &str, shard: usize, timestamp_ms: i64) -> Datum {
    Datum {
        metric: metric.into(),
        dimensions: vec![
            ("Environment".into(), "dev".to_owned()),
            ("Shard".into(), format!("shard-{}", shard % 3)),
        ]
        .into(),
        timestamp_ms,
        unit: Unit::Milliseconds,
        storage_resolution: 60,
        value: DatumValue::Distribution {
            values: vec![10.0, 20.0, shard as f64 + 100.0],
            counts: vec![1.0, 2.0, 3.0],
        },
    }
}

/// A PutMetricData sink aimed at `emulator`, and the exporter holding its counters.
async fn sink_to(emulator: &Emulator) -> (CloudWatchMetricsSink, Exporter) {
    let clients = AwsClients::from_sdk_config(&emulator.sdk_config().await);
    let exporter = Exporter::new();
    let sink =
        CloudWatchMetricsSink::new(&clients, NAMESPACE.into(), StageCounters::new(&exporter));
    (sink, exporter)
}

#[tokio::test]
async fn put_metric_data_requests_are_full_gzip_compressed_and_retried() {
    let emulator = Emulator::start().unwrap();
    let (sink, exporter) = sink_to(&emulator).await;
    let metric = unique_name("BatchLatencyMs");
    let base = (now_secs() - 3 * 3_600) / 60 * 60 * 1000;
    let total = 2_500;
    let mut pending: VecDeque<Datum> = (0..total)
        .map(|i| datum(&metric, i, base + (i as i64 % 120) * 60_000))
        .collect();
    let uncompressed: usize = pending
        .iter()
        .map(|d| d.to_json(NAMESPACE).to_string().len())
        .sum();
    emulator
        .inject_fault("PutMetricData", 400, "Throttling", 2)
        .await
        .unwrap();
    let force = CancellationToken::new();
    let mut requests = 0;
    while let Some(request) = take_request(&mut pending, false) {
        assert!(request.len() <= MAX_DATUMS_PER_REQUEST);
        sink.send(request, &force).await;
        requests += 1;
    }
    assert_eq!(
        requests,
        total.div_ceil(MAX_DATUMS_PER_REQUEST),
        "the minimum number of requests"
    );

    let calls = emulator.calls().await.unwrap();
    let put = &calls["PutMetricData"];
    assert_eq!(
        put["count"],
        3 + 2,
        "three requests, the first throttled twice: {calls}"
    );
    let sizes: Vec<usize> = put["bytes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_u64().unwrap() as usize)
        .collect();
    let sent: usize = sizes.iter().sum();
    assert!(sizes.iter().all(|s| *s <= MAX_REQUEST_BYTES), "{sizes:?}");
    // Bodies on the wire are gzip: far smaller than the same datums as JSON (5 sends, 3 of them
    // the same first request, against one copy of every datum).
    assert!(
        sent * 2 < uncompressed,
        "sent {sent} bytes for {uncompressed} bytes of datums: not compressed"
    );
    let text = exporter.render();
    assert!(
        text.contains(&format!(
            "aistudio_sidecar_metric_datums_published_total {total}"
        )),
        "{text}"
    );
    assert!(
        text.contains("aistudio_sidecar_metric_retries_total 2"),
        "{text}"
    );

    // The AWS CLI reads every observation back: per datum 1 + 2 + 3 samples.
    let queries: Vec<Query<'_>> = (0..3)
        .map(|s| {
            (
                format!("s{s}"),
                metric.as_str(),
                vec![
                    ("Environment", "dev".to_owned()),
                    ("Shard", format!("shard-{s}")),
                ],
                "SampleCount",
            )
        })
        .collect();
    let start = base / 1000 - 60;
    let got = read_back(&emulator, &queries, start, start + 3 * 3_600);
    let samples: f64 = got.values().sum();
    assert_eq!(samples, (total * 6) as f64, "{got:?}");
}

#[tokio::test]
async fn a_refused_request_is_dropped_and_counted_not_retried_forever() {
    let emulator = Emulator::start().unwrap();
    let (sink, exporter) = sink_to(&emulator).await;
    emulator
        .inject_fault("PutMetricData", 400, "InvalidParameterValue", 1)
        .await
        .unwrap();
    let now_ms = now_secs() * 1000;
    let stale = datum("Stale", 0, now_ms - 15 * 86_400_000);
    sink.send(
        vec![datum("Refused", 0, now_ms), stale],
        &CancellationToken::new(),
    )
    .await;
    let text = exporter.render();
    assert!(
        text.contains("aistudio_sidecar_metric_datums_dropped_total 2"),
        "{text}"
    );
    assert!(
        text.contains("aistudio_sidecar_metric_values_rejected_total{reason=\"outside_window\"} 1"),
        "{text}"
    );
    assert_eq!(emulator.calls().await.unwrap()["PutMetricData"]["count"], 1);
}
