//! The real sidecar binary end to end: lines in, redacted lines out, counted one by one, through
//! rotation, restarts, signals, throttling and bad input.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use daemon::testing::CHUNK_MAX_LINES;
use tests::emulator::{unique_name, Emulator};
use tests::sidecar::{append_lines, contract_line, read_lines, seq_of, Sidecar, Workspace};

const LIMIT: Duration = Duration::from_secs(60);
const SHIPPED: &str = "aistudio_sidecar_events_shipped_total";

fn file_source(ws: &Workspace, glob: &str) -> String {
    format!(
        "[[sources.file]]\ninclude = [\"{}\"]\npoll_interval_ms = 20\n",
        ws.path(glob).display()
    )
}

fn file_sink(ws: &Workspace) -> String {
    format!(
        "[sinks.file]\npath = \"{}\"\n",
        ws.path("out.ndjson").display()
    )
}

/// Counts how many times each seq arrived.
fn seq_counts(lines: &[String]) -> BTreeMap<u64, usize> {
    let mut counts = BTreeMap::new();
    for line in lines {
        let seq = seq_of(line).unwrap_or_else(|| panic!("not a contract line: {line}"));
        *counts.entry(seq).or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn stdin_to_the_local_default_redacts_and_keeps_every_line_in_order() {
    let ws = Workspace::new();
    let mut sidecar = Sidecar::start(ws.tmp.path(), "", &[], Stdio::piped()).unwrap();
    let lines: Vec<String> = (0..2_000).map(contract_line).collect();
    {
        let stdin = sidecar.stdin().expect("piped stdin");
        for line in &lines {
            writeln!(stdin, "{line}").unwrap();
        }
        writeln!(
            stdin,
            "plain text from alice@example.org with key sk-proj-abcdefghijklmnopqrstuvwx"
        )
        .unwrap();
    }
    sidecar.close_stdin();
    assert_eq!(
        sidecar.wait_exit(LIMIT).await,
        Some(0),
        "{}",
        sidecar.stderr()
    );

    // The embedded default: <data_dir>/logs.ndjson.
    let out = read_lines(&ws.path("data/logs.ndjson"));
    assert_eq!(out.len(), lines.len() + 1);
    for (i, line) in out[..lines.len()].iter().enumerate() {
        assert_eq!(seq_of(line), Some(i as u64), "order kept");
        assert!(!line.contains("@example.com"), "e-mail leaked: {line}");
        let value: serde_json::Value = serde_json::from_str(line).expect("still JSON");
        assert_eq!(value["requestId"], format!("req-{i:08}"), "ids survive");
    }
    let plain = &out[lines.len()];
    assert!(plain.starts_with("plain text from "), "{plain}");
    assert!(
        !plain.contains("alice@example.org") && !plain.contains("sk-proj-"),
        "{plain}"
    );
    assert!(
        sidecar.stderr().contains("local file"),
        "says it runs on the local default"
    );
}

#[tokio::test]
async fn file_source_ships_to_cloudwatch_exactly_once_in_order() {
    let emulator = Emulator::shared();
    let ws = Workspace::new();
    let group = format!("/aws/ecs/{}", unique_name("aistudio-dev-frontend"));
    let lines: Vec<String> = (0..1_500).map(contract_line).collect();
    append_lines(&ws.path("app.log"), &lines);
    let config = format!(
        "{}[sinks.cloudwatch_logs]\nlog_group = \"{group}\"\nlog_stream = \"task-1\"\nbatch_timeout_ms = 100\n",
        file_source(&ws, "*.log")
    );
    let mut sidecar =
        Sidecar::start(ws.tmp.path(), &config, &emulator.child_env(), Stdio::null()).unwrap();
    sidecar
        .wait_metric_at_least(SHIPPED, lines.len() as f64, LIMIT)
        .await;
    sidecar.stop(LIMIT).await;

    let messages = emulator.log_messages(&group, "task-1").unwrap();
    let seqs: Vec<u64> = messages.iter().filter_map(|m| seq_of(m)).collect();
    let expected: Vec<u64> = (0..lines.len() as u64).collect();
    assert_eq!(seqs, expected, "every line exactly once, in order");
    assert!(messages.iter().all(|m| !m.contains("@example.com")));

    // The group was created with the seeds' retention.
    let groups = emulator
        .aws_cli(&[
            "logs",
            "describe-log-groups",
            "--log-group-name-prefix",
            &group,
        ])
        .unwrap();
    assert_eq!(groups["logGroups"][0]["retentionInDays"], 30);
}

#[tokio::test]
async fn throttled_calls_are_retried_and_nothing_is_lost_or_repeated() {
    let emulator = Emulator::start().unwrap();
    emulator
        .inject_fault("PutLogEvents", 400, "ThrottlingException", 3)
        .await
        .unwrap();
    let ws = Workspace::new();
    let lines: Vec<String> = (0..300).map(contract_line).collect();
    append_lines(&ws.path("app.log"), &lines);
    let config = format!(
        "{}[sinks.cloudwatch_logs]\nlog_group = \"/aws/ecs/aistudio-dev-frontend\"\nlog_stream = \"t\"\nbatch_timeout_ms = 50\n",
        file_source(&ws, "*.log")
    );
    let mut sidecar =
        Sidecar::start(ws.tmp.path(), &config, &emulator.child_env(), Stdio::null()).unwrap();
    sidecar.wait_metric_at_least(SHIPPED, 300.0, LIMIT).await;
    let retries = sidecar
        .metric("aistudio_sidecar_retries_total")
        .await
        .unwrap();
    assert!(
        retries >= 3.0,
        "three throttled calls were retried: {retries}"
    );
    sidecar.stop(LIMIT).await;
    let seqs: Vec<u64> = emulator
        .log_messages("/aws/ecs/aistudio-dev-frontend", "t")
        .unwrap()
        .iter()
        .filter_map(|m| seq_of(m))
        .collect();
    assert_eq!(seqs, (0..300).collect::<Vec<u64>>());
    let calls = emulator.calls().await.unwrap();
    assert!(
        calls["PutLogEvents"]["count"].as_u64().unwrap() >= 4,
        "{calls}"
    );
}

#[tokio::test]
async fn rename_and_copytruncate_rotation_lose_and_repeat_nothing() {
    let ws = Workspace::new();
    let config = format!("{}{}", file_source(&ws, "app.log"), file_sink(&ws));
    let mut sidecar = Sidecar::start(ws.tmp.path(), &config, &[], Stdio::null()).unwrap();
    let log = ws.path("app.log");
    let batch = |from: usize| -> Vec<String> { (from..from + 200).map(contract_line).collect() };

    append_lines(&log, &batch(0));
    sidecar.wait_metric_at_least(SHIPPED, 200.0, LIMIT).await;
    // Rename-and-create: the writer's last lines land in the old file just before the rename.
    append_lines(&log, &batch(200));
    std::fs::rename(&log, ws.path("app.log.1")).unwrap();
    append_lines(&log, &batch(400));
    sidecar.wait_metric_at_least(SHIPPED, 600.0, LIMIT).await;
    // copytruncate: copy away, truncate in place, keep writing to the same file.
    std::fs::copy(&log, ws.path("app.log.2")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&log)
        .unwrap();
    append_lines(&log, &batch(600));
    sidecar.wait_metric_at_least(SHIPPED, 800.0, LIMIT).await;
    sidecar.stop(LIMIT).await;

    let counts = seq_counts(&read_lines(&ws.path("out.ndjson")));
    assert_eq!(counts.len(), 800, "every line arrived");
    assert!(counts.values().all(|&n| n == 1), "no line repeated");
}

#[tokio::test]
async fn kill_9_then_restart_resumes_from_the_checkpoint() {
    let ws = Workspace::new();
    let config = format!("{}{}", file_source(&ws, "app.log"), file_sink(&ws));
    let total = 20_000;
    let lines: Vec<String> = (0..total).map(contract_line).collect();
    append_lines(&ws.path("app.log"), &lines[..total / 2]);
    let first = Sidecar::start(ws.tmp.path(), &config, &[], Stdio::null()).unwrap();
    // Killed mid-file, well past the first chunk: a run without checkpoints would re-send at
    // least this many lines.
    let shipped = first
        .wait_metric_at_least(SHIPPED, (total / 4) as f64, LIMIT)
        .await;
    first.signal("KILL");
    drop(first);
    append_lines(&ws.path("app.log"), &lines[total / 2..]);

    let mut second = Sidecar::start(ws.tmp.path(), &config, &[], Stdio::null()).unwrap();
    // The restart ships everything not checkpointed before the kill.
    let start = std::time::Instant::now();
    loop {
        let counts = seq_counts(&read_lines(&ws.path("out.ndjson")));
        if counts.len() == total {
            let duplicates: usize = counts.values().map(|n| n - 1).sum();
            // At-least-once, one ledger: the checkpoint moves the moment a chunk is written,
            // so only the chunk written when the kill landed may repeat.
            assert!(
                duplicates <= CHUNK_MAX_LINES,
                "{duplicates} duplicates after a kill at {shipped} shipped lines (window {CHUNK_MAX_LINES})"
            );
            break;
        }
        assert!(
            start.elapsed() < LIMIT,
            "only {} of {total} lines after restart",
            counts.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    second.stop(LIMIT).await;
}

#[tokio::test]
async fn sigterm_under_load_exits_zero_and_a_restart_finishes_the_file() {
    let ws = Workspace::new();
    let config = format!("{}{}", file_source(&ws, "app.log"), file_sink(&ws));
    let total = 50_000;
    let lines: Vec<String> = (0..total).map(contract_line).collect();
    append_lines(&ws.path("app.log"), &lines);
    let mut first = Sidecar::start(ws.tmp.path(), &config, &[], Stdio::null()).unwrap();
    first.wait_metric_at_least(SHIPPED, 1.0, LIMIT).await;
    first.stop(LIMIT).await;
    let after_first = read_lines(&ws.path("out.ndjson")).len();
    drop(first);

    let mut second = Sidecar::start(ws.tmp.path(), &config, &[], Stdio::null()).unwrap();
    let start = std::time::Instant::now();
    loop {
        let counts = seq_counts(&read_lines(&ws.path("out.ndjson")));
        if counts.len() == total {
            // A clean stop checkpoints exactly what was written: nothing repeats.
            assert!(
                counts.values().all(|&n| n == 1),
                "a SIGTERM stop must not duplicate"
            );
            break;
        }
        assert!(
            start.elapsed() < LIMIT,
            "{} of {total} (first run wrote {after_first})",
            counts.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    second.stop(LIMIT).await;
}

#[tokio::test]
async fn malformed_and_oversized_lines_all_arrive() {
    let ws = Workspace::new();
    let mut input: Vec<u8> = Vec::new();
    input.extend_from_slice(b"{\"broken json\": \n");
    input.extend_from_slice(b"bytes \xff\xfe not utf-8 from bob@example.com\n");
    let huge = "x".repeat(2_500_000);
    input.extend_from_slice(format!("{{\"message\":\"{huge}\"}}\n").as_bytes());
    input.extend_from_slice(b"\n");
    // A flood: 20,000 malformed lines of every kind, each must come out as exactly one line.
    let flood = 20_000;
    for i in 0..flood {
        match i % 4 {
            0 => input.extend_from_slice(format!("{{\"unterminated\": \"{i}\n").as_bytes()),
            1 => {
                input.extend_from_slice(b"\x00\x01\xc3\x28 binary ");
                input.extend_from_slice(format!("{i}\n").as_bytes());
            }
            2 => input.extend_from_slice(format!("[1, 2, {i}\n").as_bytes()),
            _ => input.extend_from_slice(
                format!("{{\"deep\": {}{i}{}}}\n", "[".repeat(200), "]".repeat(200)).as_bytes(),
            ),
        }
    }
    input.extend_from_slice(b"last line without newline");
    std::fs::write(ws.path("in.bin"), &input).unwrap();
    let config = file_sink(&ws);
    let mut sidecar = Sidecar::start(
        ws.tmp.path(),
        &config,
        &[],
        Stdio::from(std::fs::File::open(ws.path("in.bin")).unwrap()),
    )
    .unwrap();
    assert_eq!(
        sidecar.wait_exit(LIMIT).await,
        Some(0),
        "{}",
        sidecar.stderr()
    );
    let out = read_lines(&ws.path("out.ndjson"));
    assert_eq!(out[0], "{\"broken json\": ");
    assert!(
        out[1].starts_with("bytes ") && !out[1].contains("bob@example.com"),
        "{}",
        out[1]
    );
    // The 2.5 MB line exceeds CloudWatch's 1 MiB event limit: split, with visible markers.
    let pieces: Vec<&String> = out
        .iter()
        .filter(|l| l.contains("[aistudio-sidecar: split"))
        .collect();
    assert!(pieces.len() >= 2, "{} pieces", pieces.len());
    assert!(pieces.iter().all(|p| p.len() <= 1_048_576 - 26));
    let x_count: usize = out.iter().map(|p| p.matches('x').count()).sum();
    assert!(
        x_count >= 2_500_000,
        "no byte of the huge line lost: {x_count}"
    );
    let flood_out = &out[out.len() - 1 - flood..out.len() - 1];
    for (i, line) in flood_out.iter().enumerate() {
        assert!(
            line.contains(&i.to_string()),
            "flood line {i} kept its content: {line}"
        );
    }
    assert_eq!(out[out.len() - 2 - flood], "");
    assert_eq!(out[out.len() - 1], "last line without newline");
}

#[tokio::test]
async fn a_60_second_outage_with_full_buffers_loses_and_repeats_nothing() {
    let emulator = Emulator::start().unwrap();
    let ws = Workspace::new();
    let group = "/aws/ecs/aistudio-staging-frontend";
    // ~600-byte lines: 4,000 of them (2.4 MB) overflow a 512 KiB memory budget and a 1 MiB
    // disk buffer while CloudWatch is unreachable, so the sources must wait.
    let pad = "p".repeat(520);
    let line = |seq: usize| {
        serde_json::json!({"event": "http.request", "message": pad, "seq": seq}).to_string()
    };
    let config = format!(
        "{}[sinks.cloudwatch_logs]\nlog_group = \"{group}\"\nlog_stream = \"outage\"\nbatch_timeout_ms = 100\n\
         [buffer]\nmax_memory_bytes = 524288\nmax_disk_bytes = 1048576\n",
        file_source(&ws, "app.log")
    );
    append_lines(&ws.path("app.log"), &(0..500).map(line).collect::<Vec<_>>());
    let mut sidecar =
        Sidecar::start(ws.tmp.path(), &config, &emulator.child_env(), Stdio::null()).unwrap();
    sidecar.wait_metric_at_least(SHIPPED, 500.0, LIMIT).await;

    emulator.outage(60).await.unwrap();
    append_lines(
        &ws.path("app.log"),
        &(500..4_000).map(line).collect::<Vec<_>>(),
    );
    // While AWS is down the sidecar spills to disk, then the sources wait for room.
    sidecar
        .wait_metric_at_least("aistudio_sidecar_events_spilled_total", 1.0, LIMIT)
        .await;
    let during = sidecar.metric(SHIPPED).await.unwrap_or_default();
    assert!(
        during < 4_000.0,
        "nothing can ship during the outage: {during}"
    );

    sidecar
        .wait_metric_at_least(SHIPPED, 4_000.0, Duration::from_secs(180))
        .await;
    // Scraped while it runs: after the exit the API is gone and a scrape reads nothing.
    let dropped = sidecar
        .metric("aistudio_sidecar_events_dropped_total")
        .await;
    assert_eq!(dropped, Some(0.0), "nothing dropped during the outage");
    sidecar.stop(LIMIT).await;

    let seqs: Vec<u64> = emulator
        .log_messages(group, "outage")
        .unwrap()
        .iter()
        .filter_map(|m| seq_of(m))
        .collect();
    // Compare summaries, not 4,000-element vectors, so a failure message stays readable.
    let first_out_of_order = seqs.iter().enumerate().find(|(i, s)| **s != *i as u64);
    assert_eq!(seqs.len(), 4_000, "every line exactly once");
    assert_eq!(first_out_of_order, None, "lines arrive in order");
}
