//! What the real sidecar's file source will and will not read (#24): a symbolic link is not
//! followed unless asked, and then never out of the glob's directory nor into `/proc`; a glob
//! into `/proc` is refused by `validate`; a file truncated over and over stops being re-read;
//! an unreadable file is reported once, shown on `/health`, and read as soon as it opens.

use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::process::Stdio;
use std::time::Duration;

use tests::sidecar::{
    append_lines, contract_line, health, read_lines, run_sidecar, seq_of, Sidecar, Workspace,
};

const LIMIT: Duration = Duration::from_secs(60);
const MARKER: &str = "private-file-outside-the-log-directory";

/// Waits until the file sink's output holds `count` lines; returns them.
async fn wait_output(sidecar: &Sidecar, path: &std::path::Path, count: usize) -> Vec<String> {
    let start = std::time::Instant::now();
    loop {
        let lines = read_lines(path);
        if lines.len() >= count {
            return lines;
        }
        assert!(
            start.elapsed() < LIMIT,
            "{} of {count} lines arrived; stderr: {}",
            lines.len(),
            sidecar.stderr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn config(ws: &Workspace, follow: bool) -> String {
    format!(
        "[[sources.file]]\ninclude = [\"{}\"]\npoll_interval_ms = 20\nfollow_symlinks = {follow}\n[sinks.file]\npath = \"{}\"\n",
        ws.path("in/*.log").display(),
        ws.path("out/logs.ndjson").display()
    )
}

/// `in/real.log` (lines 0..10), a private file outside `in/`, a target inside `in/sub/` that
/// the glob does not match (lines 100..105), and links to each and to `/proc/self/status`.
fn layout(ws: &Workspace) {
    std::fs::create_dir_all(ws.path("in/sub")).expect("mkdir");
    append_lines(
        &ws.path("in/real.log"),
        &(0..10).map(contract_line).collect::<Vec<_>>(),
    );
    std::fs::write(
        ws.path("private.txt"),
        format!("{{\"message\":\"{MARKER}\"}}\n"),
    )
    .expect("write");
    append_lines(
        &ws.path("in/sub/target.txt"),
        &(100..105).map(contract_line).collect::<Vec<_>>(),
    );
    symlink(ws.path("private.txt"), ws.path("in/out.log")).expect("link");
    symlink("sub/target.txt", ws.path("in/linked.log")).expect("link");
    symlink("/proc/self/status", ws.path("in/proc.log")).expect("link");
}

/// Appends lines 10..20 to `in/real.log` and waits for all 20 (plus `extra`) to arrive: by
/// then the source has polled the refused links many times.
async fn second_batch(sidecar: &Sidecar, ws: &Workspace, extra: usize) -> Vec<String> {
    append_lines(
        &ws.path("in/real.log"),
        &(10..20).map(contract_line).collect::<Vec<_>>(),
    );
    wait_output(sidecar, &ws.path("out/logs.ndjson"), 20 + extra).await
}

fn seqs(lines: &[String]) -> Vec<u64> {
    let mut seqs: Vec<u64> = lines.iter().filter_map(|l| seq_of(l)).collect();
    seqs.sort_unstable();
    seqs
}

#[tokio::test]
async fn links_are_not_followed_by_default() {
    let ws = Workspace::new();
    layout(&ws);
    let mut sidecar = Sidecar::start(ws.tmp.path(), &config(&ws, false), &[], Stdio::null())
        .expect("the sidecar starts");
    wait_output(&sidecar, &ws.path("out/logs.ndjson"), 10).await;
    let lines = second_batch(&sidecar, &ws, 0).await;
    assert_eq!(seqs(&lines), (0..20).collect::<Vec<_>>(), "only real.log");
    assert!(!lines.iter().any(|l| l.contains(MARKER)));
    let stderr = sidecar.stderr();
    assert_eq!(
        stderr.matches("is a symbolic link").count(),
        3,
        "each link reported once over many polls: {stderr}"
    );
    sidecar.stop(LIMIT).await;
}

#[tokio::test]
async fn followed_links_stay_inside_the_directory_and_out_of_proc() {
    let ws = Workspace::new();
    layout(&ws);
    let mut sidecar = Sidecar::start(ws.tmp.path(), &config(&ws, true), &[], Stdio::null())
        .expect("the sidecar starts");
    let lines = second_batch(&sidecar, &ws, 5).await;
    // real.log and the link inside the directory, each line once; nothing else.
    assert_eq!(
        seqs(&lines),
        (0..20).chain(100..105).collect::<Vec<_>>(),
        "{lines:?}"
    );
    assert!(!lines.iter().any(|l| l.contains(MARKER)));
    assert!(!lines.iter().any(|l| l.contains("VmRSS")), "no /proc lines");
    assert_eq!(
        sidecar.metric("aistudio_sidecar_lines_read_total").await,
        Some(25.0)
    );
    let stderr = sidecar.stderr();
    assert_eq!(
        stderr
            .matches("resolves outside the directories of the source's include globs")
            .count(),
        1,
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("resolves into /proc, /sys or /dev").count(),
        1,
        "{stderr}"
    );
    sidecar.stop(LIMIT).await;
}

#[test]
fn validate_refuses_a_glob_into_proc() {
    let ws = Workspace::new();
    let path = ws.path("sidecar.toml");
    std::fs::write(
        &path,
        "[[sources.file]]\ninclude = [\"/proc/*/status\"]\n[sinks.file]\npath = \"out.ndjson\"\n",
    )
    .expect("write");
    let (code, _, stderr) = run_sidecar(&["validate", "--config", &path.to_string_lossy()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("sources.file[0].include: `/proc/*/status` reads from /proc"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_file_truncated_over_and_over_stops_being_reread() {
    let ws = Workspace::new();
    std::fs::create_dir_all(ws.path("in")).expect("mkdir");
    let log = ws.path("in/loop.log");
    let mut sidecar = Sidecar::start(ws.tmp.path(), &config(&ws, false), &[], Stdio::null())
        .expect("the sidecar starts");
    // Each round rewrites the file in place with new content, as a pseudo-file reads, and
    // waits until the sidecar read it; from the 11th truncation on it is no longer read.
    let mut read = 0.0;
    for round in 0..11 {
        std::fs::write(&log, format!("{}\n", contract_line(1000 + round))).expect("rewrite");
        read = sidecar
            .wait_metric_at_least("aistudio_sidecar_lines_read_total", read + 1.0, LIMIT)
            .await;
    }
    let start = std::time::Instant::now();
    while !sidecar.stderr().contains("file truncated too often") {
        assert!(
            start.elapsed() < LIMIT,
            "never given up: {}",
            sidecar.stderr()
        );
        std::fs::write(&log, format!("{}\n", contract_line(5000))).expect("rewrite");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let at_give_up = sidecar
        .metric("aistudio_sidecar_lines_read_total")
        .await
        .unwrap_or(0.0);
    // Rewritten again, then a normal file gets a line: once that line arrives the source has
    // polled past the rewrites, and read only the normal file's line.
    for round in 0..5 {
        std::fs::write(&log, format!("{}\n", contract_line(9000 + round))).expect("rewrite");
    }
    append_lines(&ws.path("in/normal.log"), &[contract_line(7)]);
    let start = std::time::Instant::now();
    while !read_lines(&ws.path("out/logs.ndjson"))
        .iter()
        .any(|l| seq_of(l) == Some(7))
    {
        assert!(start.elapsed() < LIMIT, "normal.log never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        sidecar.metric("aistudio_sidecar_lines_read_total").await,
        Some(at_give_up + 1.0),
        "only normal.log's line after the give-up"
    );
    assert_eq!(
        sidecar.stderr().matches("file truncated too often").count(),
        1
    );
    sidecar.stop(LIMIT).await;
}

#[tokio::test]
async fn an_unreadable_file_is_reported_once_and_read_once_it_opens() {
    let ws = Workspace::new();
    std::fs::create_dir_all(ws.path("in")).expect("mkdir");
    let locked = ws.path("in/locked.log");
    append_lines(&locked, &(0..5).map(contract_line).collect::<Vec<_>>());
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    append_lines(&ws.path("in/open.log"), &[contract_line(50)]);
    // Root reads any file: run the sidecar as `nobody` then, so the permission applies.
    let root = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(1)
        == 0;
    let mut sidecar = if root {
        std::fs::set_permissions(ws.tmp.path(), std::fs::Permissions::from_mode(0o777))
            .expect("chmod");
        std::fs::set_permissions(ws.path("in"), std::fs::Permissions::from_mode(0o777))
            .expect("chmod");
        Sidecar::start_as(65534, 65534, ws.tmp.path(), &config(&ws, false), &[])
    } else {
        Sidecar::start(ws.tmp.path(), &config(&ws, false), &[], Stdio::null())
    }
    .expect("the sidecar starts");
    wait_output(&sidecar, &ws.path("out/logs.ndjson"), 1).await;
    let start = std::time::Instant::now();
    loop {
        let (_, body) = health(&sidecar).await;
        if body["reasons"] == serde_json::json!(["source_unreadable"]) {
            break;
        }
        assert!(start.elapsed() < LIMIT, "health never said so: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        sidecar
            .metric("aistudio_sidecar_source_files_unreadable")
            .await,
        Some(1.0)
    );
    // Once readable it is read (the retry backoff starts at a second), and health recovers.
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let lines = wait_output(&sidecar, &ws.path("out/logs.ndjson"), 6).await;
    assert_eq!(seqs(&lines), vec![0, 1, 2, 3, 4, 50]);
    let start = std::time::Instant::now();
    while health(&sidecar).await.1["status"] != "ok" {
        assert!(start.elapsed() < LIMIT, "health never recovered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stderr = sidecar.stderr();
    assert_eq!(
        stderr.matches("file source: cannot open").count(),
        1,
        "{stderr}"
    );
    assert_eq!(stderr.matches("file readable again").count(), 1, "{stderr}");
    sidecar.stop(LIMIT).await;
}
