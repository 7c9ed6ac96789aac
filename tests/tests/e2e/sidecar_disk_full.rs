//! The file sink on a full disk (#24): the real sidecar writes to a 4 MiB tmpfs that a filler
//! file has filled. While the disk is full it writes no half line, drops nothing, counts every
//! failed write and says `degraded` on `/health`; once the filler is deleted every event
//! arrives, each exactly once, without a restart.
//!
//! Needs root (it mounts a tmpfs, as the drill does); CI and `scripts/test.sh` run as
//! root. A user without it gets a test failure that says so, never a silent pass.

use std::process::{Command, Stdio};
use std::time::Duration;

use tests::sidecar::{append_lines, contract_line, health, read_lines, seq_of, Sidecar, Workspace};

const LIMIT: Duration = Duration::from_secs(60);
const TMPFS_BYTES: u64 = 4 * 1024 * 1024;
/// Lines the source reads: about 0.6 MB once redacted, so they fit once the filler is gone.
const LINES: usize = 5_000;
const DEGRADED_AFTER_SECS: u64 = 5;
/// Space left on the full disk: less than one chunk of lines (about 128 KiB), so the first
/// write stops part-way through a line.
const LEFT_FREE: u64 = 10_000;

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: std::path::PathBuf) -> Self {
        std::fs::create_dir_all(&at).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={TMPFS_BYTES}")])
            .arg("tmpfs")
            .arg(&at)
            .output()
            .expect("mount runs");
        assert!(
            out.status.success(),
            "this drill mounts a tmpfs and needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self(at)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the tmpfs but for [`LEFT_FREE`] bytes, so the sink's first write lands in part.
fn fill(path: &std::path::Path) {
    use std::io::Write;
    let mut file = std::fs::File::create(path).expect("filler");
    let block = vec![b'x'; 64 * 1024];
    while file.write_all(&block).is_ok() {}
    let len = file.metadata().expect("filler size").len();
    file.set_len(len.saturating_sub(LEFT_FREE))
        .expect("shrink the filler");
}

#[tokio::test]
async fn a_full_disk_holds_the_events_and_writes_whole_lines_when_space_returns() {
    let ws = Workspace::new();
    let disk = Tmpfs::mount(ws.path("disk"));
    fill(&disk.0.join("filler"));
    append_lines(
        &ws.path("app.log"),
        &(0..LINES).map(contract_line).collect::<Vec<_>>(),
    );
    let out = disk.0.join("logs.ndjson");
    let config = format!(
        "shutdown_deadline_secs = 2\n[[sources.file]]\ninclude = [\"{}\"]\npoll_interval_ms = 20\n[sinks.file]\npath = \"{}\"\n[api]\ndegraded_after_secs = {DEGRADED_AFTER_SECS}\n",
        ws.path("*.log").display(),
        out.display()
    );
    let mut sidecar =
        Sidecar::start(ws.tmp.path(), &config, &[], Stdio::null()).expect("the sidecar starts");
    // Full: the first write lands in part, fails, and is retried...
    sidecar
        .wait_metric_at_least("aistudio_sidecar_retries_total", 3.0, LIMIT)
        .await;
    // ...and whatever part of a write reached the disk is cut back: only whole lines.
    let text = std::fs::read(&out).unwrap_or_default();
    assert!(
        text.is_empty() || text.ends_with(b"\n"),
        "a half-written line is left on the full disk ({} bytes)",
        text.len()
    );
    let start = std::time::Instant::now();
    let body = loop {
        let (_, body) = health(&sidecar).await;
        if body["status"] == "degraded" {
            break body;
        }
        assert!(start.elapsed() < LIMIT, "never degraded: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(body["reasons"], serde_json::json!(["not_delivering"]));
    assert_eq!(
        sidecar
            .metric("aistudio_sidecar_events_dropped_total")
            .await,
        Some(0.0)
    );
    // Space returns: everything arrives, once, in whole lines, without a restart.
    std::fs::remove_file(disk.0.join("filler")).expect("free the disk");
    sidecar
        .wait_metric_at_least("aistudio_sidecar_events_shipped_total", LINES as f64, LIMIT)
        .await;
    let lines = read_lines(&out);
    let mut seqs: Vec<u64> = lines.iter().filter_map(|l| seq_of(l)).collect();
    assert_eq!(seqs.len(), lines.len(), "every line is a whole event");
    seqs.sort_unstable();
    assert_eq!(seqs, (0..LINES as u64).collect::<Vec<_>>());
    let stderr = sidecar.stderr();
    assert_eq!(
        stderr.matches("local sink write failed").count(),
        1,
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("local sink writing again").count(),
        1,
        "{stderr}"
    );
    let start = std::time::Instant::now();
    while health(&sidecar).await.1["status"] != "ok" {
        assert!(start.elapsed() < LIMIT, "health never recovered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sidecar.stop(LIMIT).await;
}
