//! The OTLP/HTTP source end to end: the OpenTelemetry Python SDK's own OTLP/HTTP exporter
//! (protobuf, with and without gzip) sends to the real sidecar; the records arrive in
//! CloudWatch Logs (the emulator) redacted, exactly once, read back by the AWS CLI. A
//! pipeline that cannot accept answers 503 with `Retry-After`, and bad bodies 400/415. The
//! test command installs the SDK; a missing one fails these tests (never skips).

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use tests::emulator::{unique_name, Emulator};
use tests::sidecar::{aws_env_for, black_hole, free_port, Sidecar, Workspace};

const LIMIT: Duration = Duration::from_secs(60);
const SHIPPED: &str = "aistudio_sidecar_events_shipped_total";

fn export(endpoint: &str, start: usize, count: usize, gzip: bool) -> serde_json::Value {
    let (start, count) = (start.to_string(), count.to_string());
    let mut args = vec!["--endpoint", endpoint, "--start", &start, "--count", &count];
    if gzip {
        args.push("--gzip");
    }
    tests::python_client("otlp_export.py", &args)
}

#[tokio::test]
async fn the_sdk_exporter_ships_redacted_records_exactly_once_with_gzip_and_without() {
    let emulator = Emulator::shared();
    let ws = Workspace::new();
    let group = format!("/aws/ecs/{}", unique_name("aistudio-dev-otlp"));
    let port = free_port();
    let config = format!(
        "[sources.otlp]\naddress = \"127.0.0.1:{port}\"\n[sinks.cloudwatch_logs]\nlog_group = \"{group}\"\nlog_stream = \"task-1\"\nbatch_timeout_ms = 100\n"
    );
    let mut sidecar =
        Sidecar::start(ws.tmp.path(), &config, &emulator.child_env(), Stdio::null()).unwrap();
    // The API answers once every source listens.
    sidecar.wait_metric_at_least(SHIPPED, 0.0, LIMIT).await;
    let endpoint = format!("http://127.0.0.1:{port}/v1/logs");
    let plain = export(&endpoint, 0, 250, false);
    let gzip = export(&endpoint, 250, 250, true);
    // Every export the SDK made succeeded (the script fails otherwise): the answer came after
    // the records were accepted, so they are all shipped or held already.
    assert!(plain["results"].as_array().is_some_and(|r| !r.is_empty()));
    assert!(gzip["results"].as_array().is_some_and(|r| !r.is_empty()));
    sidecar.wait_metric_at_least(SHIPPED, 500.0, LIMIT).await;
    sidecar.stop(LIMIT).await;

    let messages = emulator.log_messages(&group, "task-1").unwrap();
    let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
    for text in &messages {
        let line: serde_json::Value = serde_json::from_str(text).unwrap();
        let seq = line["seq"]
            .as_u64()
            .unwrap_or_else(|| panic!("no seq: {text}"));
        *counts.entry(seq).or_default() += 1;
        assert!(!text.contains("@example.com"), "not redacted: {text}");
        assert_eq!(line["event"], "job.completed", "{text}");
        assert_eq!(
            line["resource"]["service.name"], "aistudio-server",
            "{text}"
        );
        assert_eq!(line["scope"]["name"], "aistudio", "{text}");
        if seq % 3 == 0 {
            assert_eq!(line["level"], "warn", "{text}");
            assert!(
                line["trace_id"].as_str().is_some_and(|t| t.len() == 32),
                "a record logged in a span keeps its trace id: {text}"
            );
            assert!(
                line["span_id"].as_str().is_some_and(|t| t.len() == 16),
                "{text}"
            );
        } else {
            assert_eq!(line["level"], "info", "{text}");
        }
    }
    let want: BTreeMap<u64, usize> = (0..500).map(|s| (s, 1)).collect();
    assert_eq!(counts, want, "every record exactly once");
}

#[tokio::test]
async fn a_pipeline_that_cannot_accept_says_retry_later_and_bad_bodies_are_refused() {
    // CloudWatch never answers: nothing is delivered, so nothing can be acknowledged.
    let (address, _accepted) = black_hole().await;
    let ws = Workspace::new();
    let port = free_port();
    let config = format!(
        "shutdown_deadline_secs = 1\n[sources.otlp]\naddress = \"127.0.0.1:{port}\"\naccept_timeout_ms = 300\n[sinks.cloudwatch_logs]\nlog_group = \"/aws/ecs/otlp\"\nlog_stream = \"t\"\n"
    );
    let sidecar = Sidecar::start(
        ws.tmp.path(),
        &config,
        &aws_env_for(&address),
        Stdio::null(),
    )
    .unwrap();
    sidecar.wait_metric_at_least(SHIPPED, 0.0, LIMIT).await;
    let url = format!("http://127.0.0.1:{port}/v1/logs");
    let http = reqwest::Client::new();
    let body = serde_json::json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"timeUnixNano": "1795568523456000000", "severityNumber": 9,
         "body": {"stringValue": "waiting for card 4111 1111 1111 1111"}}
    ]}]}]});
    let response = http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(
        response.status().as_u16(),
        503,
        "{:?}",
        response.text().await
    );
    assert_eq!(response.headers()["retry-after"], "1");
    let text = response.text().await.unwrap();
    assert!(
        !text.contains("4111"),
        "an answer never echoes the request: {text}"
    );

    let response = http
        .post(&url)
        .header("content-type", "application/x-protobuf")
        .body(vec![0xff, 0xff, 0xff, 0x07])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    // A JSON body of the wrong shape: refused without quoting the value back.
    let response = http
        .post(&url)
        .json(&serde_json::json!({"resourceLogs": "card 4111 1111 1111 1111"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let text = response.text().await.unwrap();
    assert!(text.contains("line 1") && !text.contains("4111"), "{text}");
    let response = http
        .post(&url)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 415);
    let response = http
        .post(&url)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body("not gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let stderr = sidecar.stderr();
    assert!(!stderr.contains("4111 1111"), "{stderr}");
}
