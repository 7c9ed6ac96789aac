//! Operating the real sidecar: the TCP source, an infrastructure-made log group with an ECS
//! task stream name, events CloudWatch refuses, `validate`, and the health endpoint.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use tests::emulator::{unique_name, Emulator};
use tests::sidecar::{
    free_port, now_ms, read_lines, rfc3339_ms, run_sidecar, seq_of, Sidecar, Workspace,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMIT: Duration = Duration::from_secs(60);
const SHIPPED: &str = "aistudio_sidecar_events_shipped_total";

#[tokio::test]
async fn tcp_source_lines_arrive_and_health_reports_ok() {
    let ws = Workspace::new();
    let port = free_port();
    let config = format!(
        "[sources.tcp]\naddress = \"127.0.0.1:{port}\"\n[sinks.file]\npath = \"{}\"\n",
        ws.path("out.ndjson").display()
    );
    let mut sidecar = Sidecar::start(ws.tmp.path(), &config, &[], Stdio::null()).unwrap();
    let health = loop {
        match reqwest::get(format!("http://127.0.0.1:{}/health", sidecar.api_port)).await {
            Ok(resp) => break resp,
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    assert_eq!(health.status(), 200);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["status"], "ok");

    // Two writers; the second closes without a final newline.
    let mut first = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut second = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    for seq in 0..100 {
        writeln!(
            first,
            "{{\"seq\":{seq},\"message\":\"from carol@example.net\"}}"
        )
        .unwrap();
    }
    write!(second, "{{\"seq\":100}}").unwrap();
    drop(first);
    drop(second);
    sidecar.wait_metric_at_least(SHIPPED, 101.0, LIMIT).await;
    sidecar.stop(LIMIT).await;
    let out = read_lines(&ws.path("out.ndjson"));
    let mut seqs: Vec<u64> = out.iter().filter_map(|l| seq_of(l)).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..=100).collect::<Vec<u64>>());
    assert!(out.iter().all(|l| !l.contains("carol@example.net")));
}

/// Answers every request with an ECS task metadata (v4) `/task` document.
async fn fake_ecs_metadata(task_arn: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the fake metadata endpoint");
    let addr = listener.local_addr().expect("its address");
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let body =
                serde_json::json!({"Cluster": "aistudio-prod", "TaskARN": task_arn}).to_string();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}/v4/container")
}

#[tokio::test]
async fn existing_group_is_used_as_is_with_the_ecs_task_stream_and_refused_events_are_counted() {
    let emulator = Emulator::start().unwrap();
    let group = format!("/aws/ecs/{}", unique_name("aistudio-prod-frontend"));
    emulator
        .aws_cli(&["logs", "create-log-group", "--log-group-name", &group])
        .unwrap();
    let task_id = "5f0e1d2c3b4a49e8a7b6c5d4e3f2a1b0";
    let metadata = fake_ecs_metadata(format!(
        "arn:aws:ecs:us-east-1:123456789012:task/aistudio-prod/{task_id}"
    ))
    .await;

    let ws = Workspace::new();
    let old = rfc3339_ms(now_ms() - 20 * 86_400_000);
    let mut lines: Vec<String> = (0..3)
        .map(|seq| format!("{{\"timestamp\":\"{old}\",\"seq\":{seq}}}"))
        .collect();
    lines.extend((3..5).map(|seq| {
        format!(
            "{{\"timestamp\":\"{}\",\"seq\":{seq}}}",
            rfc3339_ms(now_ms())
        )
    }));
    std::fs::write(ws.path("app.log"), lines.join("\n") + "\n").unwrap();
    let config = format!(
        "environment = \"prod\"\n[[sources.file]]\ninclude = [\"{}\"]\npoll_interval_ms = 20\n\
         [sinks.cloudwatch_logs]\nlog_group = \"{group}\"\nbatch_timeout_ms = 100\n",
        ws.path("app.log").display()
    );
    let mut env = emulator.child_env();
    env.push(("ECS_CONTAINER_METADATA_URI_V4", metadata));
    let mut sidecar = Sidecar::start(ws.tmp.path(), &config, &env, Stdio::null()).unwrap();
    sidecar.wait_metric_at_least(SHIPPED, 2.0, LIMIT).await;
    let rejected = sidecar
        .metric("aistudio_sidecar_events_rejected_total{reason=\"too_old\"}")
        .await;
    assert_eq!(
        rejected,
        Some(3.0),
        "three events older than 14 days are refused and counted"
    );
    sidecar.stop(LIMIT).await;

    // The stream is named after the ECS task; only the accepted lines are in it.
    let messages = emulator.log_messages(&group, task_id).unwrap();
    let seqs: Vec<u64> = messages.iter().filter_map(|m| seq_of(m)).collect();
    assert_eq!(seqs, vec![3, 4]);
    let calls = emulator.calls().await.unwrap();
    assert_eq!(
        calls["CreateLogGroup"]["count"], 1,
        "only the CLI created the group: {calls}"
    );
    // Old and new lines are more than 24 h apart: two batches, one call each, and the refused
    // batch is never sent again.
    assert_eq!(
        calls["PutLogEvents"]["count"], 2,
        "refused events are never re-sent: {calls}"
    );
    let groups = emulator
        .aws_cli(&[
            "logs",
            "describe-log-groups",
            "--log-group-name-prefix",
            &group,
        ])
        .unwrap();
    assert!(
        groups["logGroups"][0].get("retentionInDays").is_none(),
        "an infrastructure-made group keeps its retention: {groups}"
    );

    // The sidecar published its own losses for the sidecar-events-lost alarm: read back with
    // the CLI, the three refused events and no drop, in Environment=prod.
    let now = now_ms() / 1000;
    let prod = || vec![("Environment", "prod".to_owned())];
    let points = emulator
        .metric_points(
            "AIStudio/Streaming",
            &[
                ("rejected".into(), "SidecarEventsRejected", prod(), "Sum"),
                ("dropped".into(), "SidecarEventsDropped", prod(), "Sum"),
            ],
            now - 600,
            now + 120,
        )
        .unwrap();
    let out = &points;
    let (rejected_points, rejected) = points["rejected"];
    assert!(
        rejected_points >= 1,
        "SidecarEventsRejected published: {out:?}"
    );
    assert_eq!(rejected, 3.0, "{out:?}");
    let (dropped_points, dropped) = points["dropped"];
    assert!(dropped_points >= 1, "zeros are published too: {out:?}");
    assert_eq!(dropped, 0.0, "{out:?}");
}

#[test]
fn validate_reports_every_problem_with_its_key_and_exits_non_zero() {
    let ws = Workspace::new();
    let bad = ws.path("bad.toml");
    std::fs::write(
        &bad,
        "environment = \"qa\"\n[sinks.cloudwatch_logs]\nretention_days = 31\nmax_in_flight = 0\n[[sources.file]]\ninclude = []\n",
    )
    .unwrap();
    let (code, _, stderr) = run_sidecar(&["validate", "--config", bad.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stderr}");
    for key in [
        "environment:",
        "sinks.cloudwatch_logs.retention_days:",
        "sinks.cloudwatch_logs.max_in_flight:",
        "sources.file[0].include:",
    ] {
        assert!(stderr.contains(key), "missing {key} in {stderr}");
    }
    assert!(stderr.contains("bad.toml"), "names the file: {stderr}");

    let typo = ws.path("typo.toml");
    std::fs::write(&typo, "[sinks.cloudwatch_logs]\nlog_grup = \"x\"\n").unwrap();
    let (code, _, stderr) = run_sidecar(&["validate", "--config", typo.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains(&format!(
            "{}:2:1: sinks.cloudwatch_logs.log_grup: unknown key; rename it to `log_group`",
            typo.display()
        )),
        "{stderr}"
    );

    let good = ws.path("good.toml");
    std::fs::write(
        &good,
        "environment = \"staging\"\n[sinks.cloudwatch_logs]\n",
    )
    .unwrap();
    let (code, stdout, stderr) = run_sidecar(&["validate", "--config", good.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("ok"));
}

#[test]
fn the_sidecars_own_error_messages_are_redacted() {
    let ws = Workspace::new();
    let bad = ws.path("leaky.toml");
    // A value that quotes personal data and a key ends up in the error message.
    std::fs::write(
        &bad,
        "[sinks.cloudwatch_logs]\nlog_group = \"/aws/ecs/dave@example.com sk-proj-abcdefghijklmnopqrstuvwxyz0123\"\n",
    )
    .unwrap();
    let (code, _, stderr) = run_sidecar(&["validate", "--config", bad.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("sinks.cloudwatch_logs.log_group"),
        "{stderr}"
    );
    assert!(!stderr.contains("dave@example.com"), "{stderr}");
    assert!(
        !stderr.contains("sk-proj-abcdefghijklmnopqrstuvwxyz0123"),
        "{stderr}"
    );
    assert!(stderr.contains("[REDACTED:"), "{stderr}");
}

#[tokio::test]
async fn the_sidecars_own_logs_are_redacted() {
    let ws = Workspace::new();
    // The tailer logs the paths it follows; this one carries an e-mail address.
    let dir = ws.path("erin@example.com");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("app.log"), "{\"seq\":0}\n").unwrap();
    let config = format!(
        "[[sources.file]]\ninclude = [\"{}/*.log\"]\n[sinks.file]\npath = \"{}\"\n",
        dir.display(),
        ws.path("out.ndjson").display()
    );
    let mut sidecar = Sidecar::start(ws.tmp.path(), &config, &[], Stdio::null()).unwrap();
    sidecar.wait_metric_at_least(SHIPPED, 1.0, LIMIT).await;
    sidecar.stop(LIMIT).await;
    let logs = sidecar.stderr();
    assert!(logs.contains("file source: tailing"), "{logs}");
    assert!(!logs.contains("erin@example.com"), "{logs}");
    for line in logs.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("own logs are JSON lines");
    }
}

#[tokio::test]
async fn a_sink_output_that_cannot_be_opened_fails_start_up() {
    let ws = Workspace::new();
    std::fs::write(ws.path("not-a-dir"), "x").unwrap();
    let config = format!(
        "[sinks.file]\npath = \"{}\"\n",
        ws.path("not-a-dir").join("out.ndjson").display()
    );
    let mut sidecar = Sidecar::start(ws.tmp.path(), &config, &[], Stdio::piped()).unwrap();
    assert_eq!(
        sidecar.wait_exit(LIMIT).await,
        Some(1),
        "{}",
        sidecar.stderr()
    );
    let stderr = sidecar.stderr();
    assert!(
        stderr.contains("cannot open the file sink's output"),
        "{stderr}"
    );
}

#[tokio::test]
async fn lines_a_sink_cannot_write_are_dropped_counted_and_published_for_the_alarm() {
    let ws = Workspace::new();
    // Every write fails (`/dev/full`): the sink holds the lines until the shutdown deadline,
    // then fails them back, counted as dropped.
    let datums = ws.path("metrics.ndjson");
    let config = format!(
        "environment = \"staging\"\nshutdown_deadline_secs = 1\n[sinks.file]\npath = \"/dev/full\"\n\
         [metrics]\nmode = \"file\"\nfile_path = \"{}\"\n",
        datums.display()
    );
    let mut sidecar = Sidecar::start(ws.tmp.path(), &config, &[], Stdio::piped()).unwrap();
    let stdin = sidecar.stdin().unwrap();
    for seq in 0..5 {
        writeln!(stdin, "{{\"level\":\"info\",\"seq\":{seq}}}").unwrap();
    }
    sidecar.close_stdin();
    sidecar
        .wait_metric_at_least("aistudio_sidecar_retries_total", 1.0, LIMIT)
        .await;
    // Held, not dropped, while it runs; dropped when the deadline passes.
    assert_eq!(
        sidecar
            .metric("aistudio_sidecar_events_dropped_total")
            .await,
        Some(0.0)
    );
    sidecar.stop(LIMIT).await;
    assert!(
        sidecar.stderr().contains("local sink gave up on a write"),
        "{}",
        sidecar.stderr()
    );

    let lines = read_lines(&datums);
    let total = |metric: &str| -> (usize, f64) {
        let found: Vec<f64> = lines
            .iter()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|d| d["MetricName"] == metric)
            .inspect(|d| {
                assert_eq!(
                    d["Dimensions"],
                    serde_json::json!([{"Name": "Environment", "Value": "staging"}]),
                    "{d}"
                );
                assert_eq!(d["Unit"], "Count", "{d}");
            })
            .map(|d| d["StatisticValues"]["Sum"].as_f64().unwrap())
            .collect();
        (found.len(), found.iter().sum())
    };
    assert_eq!(total("SidecarEventsDropped").1, 5.0, "{lines:?}");
    let (rejected_datums, rejected) = total("SidecarEventsRejected");
    assert!(rejected_datums >= 1, "a zero is published too: {lines:?}");
    assert_eq!(rejected, 0.0);
}
