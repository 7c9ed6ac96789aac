//! The `kill -9` drill (#24): the real sidecar tails a file that grows at 1,000 lines/s into
//! CloudWatch Logs (the emulator) and is killed at 10 random points under load, restarted each
//! time; then again with a 512 KiB memory budget, the whole file written up front and the
//! first calls throttled, so the reader outruns the sink and events go through the disk
//! buffer (killed at random times there: 1 MiB batches make shipped counts jump; when a
//! fast machine delivers the file before enough kills, another backlog is appended and
//! throttled again, so the drill always reaches its kill points). Read back with the AWS
//! CLI after each kill: no line may be lost, and each kill's
//! duplicates must stay within what was in flight (one ledger: the file checkpoint and the
//! disk buffer's pointer are written the moment a chunk is delivered or spilled, so nothing
//! is replayed from both).

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use aistudio_core::limits::{LOG_EVENT_OVERHEAD_BYTES, MAX_LOG_BATCH_BYTES, MAX_LOG_BATCH_EVENTS};
use daemon::testing::CHUNK_MAX_LINES;
use tests::emulator::{unique_name, Emulator};
use tests::sidecar::{append_lines, contract_line, now_ms, seq_of, Sidecar, Workspace};

const LIMIT: Duration = Duration::from_secs(90);
const LINES: usize = 15_000;
/// The writer appends this many lines every [`WRITE_EVERY`]: 1,000 lines/s.
const WRITE_BATCH: usize = 10;
const WRITE_EVERY: Duration = Duration::from_millis(10);
/// Lines already in the file when the disk-buffer drill starts: all of them, more than a
/// batch and the memory queues hold, so the reader outruns the sink and spills.
const SPILL_BACKLOG: usize = LINES;
/// The disk-buffer drill kills each run a random 1..=this many ms after it read its first line.
const MAX_KILL_DELAY_MS: u64 = 1_500;
/// Throttled PutLogEvents calls at the start of the disk-buffer drill.
const THROTTLED_CALLS: u32 = 6;
/// Kill points the disk-buffer drill must reach before the file is delivered.
const MIN_SPILL_KILLS: usize = 3;
const KILLS: usize = 10;
/// Lines appended for the memory drill's next runs when it delivered the file before its last
/// kill point.
const TOPUP_LINES: usize = 2_000;
/// A run is killed once it shipped a random count of events in 1..=this.
const MAX_SHIPPED_BEFORE_KILL: u64 = 400;

/// xorshift64: random kill points, reproducible from the printed seed.
struct Points(u64);

impl Points {
    fn next(&mut self, max: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        1 + self.0 % max
    }
}

/// The offset the log file's checkpoint holds (0 without one).
fn checkpoint_offset(ws: &Workspace) -> u64 {
    std::fs::read_to_string(ws.path("data/checkpoints-0.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["files"][0]["offset"].as_u64())
        .unwrap_or(0)
}

/// (messages, distinct seqs) in the stream now.
fn read_back(emulator: &Emulator, group: &str) -> (usize, BTreeSet<u64>) {
    let messages = match emulator.log_messages(group, "t") {
        Ok(messages) => messages,
        // killed before its first delivery created the group: nothing delivered yet
        Err(err) if format!("{err:#}").contains("ResourceNotFoundException") => Vec::new(),
        Err(err) => panic!("the AWS CLI reads the stream back: {err:#}"),
    };
    let seqs = messages.iter().filter_map(|m| seq_of(m)).collect();
    (messages.len(), seqs)
}

/// The most events one PutLogEvents batch of these messages can hold: what one request in
/// flight (`max_in_flight = 1`) can duplicate when the sidecar dies before its answer.
fn one_batch(emulator: &Emulator, group: &str) -> usize {
    let shortest = emulator
        .log_messages(group, "t")
        .expect("the AWS CLI reads the stream back")
        .iter()
        .map(String::len)
        .min()
        .unwrap_or(1);
    (MAX_LOG_BATCH_BYTES / (shortest + LOG_EVENT_OVERHEAD_BYTES)).min(MAX_LOG_BATCH_EVENTS)
}

/// Runs the drill with `extra` config; returns the lines written and the duplicates each
/// kill caused.
async fn drill(name: &str, extra: &str, points: &mut Points) -> (usize, Vec<usize>) {
    let spill = !extra.is_empty();
    // its own emulator: the drill injects throttling, which must not reach other tests'
    // sidecars, and other tests' traffic must not slow the deliveries it times
    let private = Emulator::start().expect("private emulator");
    let emulator = &private;
    let group = format!("/aws/ecs/{}", unique_name(name));
    let ws = Workspace::new();
    let log = ws.path("app.log");
    // With the small budget a backlog is there from the start, so the reader outruns the
    // sink and spills; the writer adds the rest while the sidecar is killed and restarted.
    let backlog = if spill { SPILL_BACKLOG } else { 0 };
    if spill {
        throttle(emulator).await;
    }
    append_lines(&log, &(0..backlog).map(contract_line).collect::<Vec<_>>());
    let mut lines = LINES;
    let writer = tokio::spawn({
        let log = log.clone();
        async move {
            let mut tick = tokio::time::interval(WRITE_EVERY);
            for from in (backlog..LINES).step_by(WRITE_BATCH) {
                tick.tick().await;
                let to = (from + WRITE_BATCH).min(LINES);
                append_lines(&log, &(from..to).map(contract_line).collect::<Vec<_>>());
            }
        }
    });
    let config = format!(
        "[[sources.file]]\ninclude = [\"{}\"]\npoll_interval_ms = 20\n[sinks.cloudwatch_logs]\nlog_group = \"{group}\"\nlog_stream = \"t\"\nbatch_timeout_ms = 50\n{extra}",
        ws.path("*.log").display()
    );
    let mut extra_before = 0;
    let mut delivered = 0;
    let mut per_kill = Vec::new();
    for kills in 0..KILLS {
        if delivered == lines && kills < if spill { MIN_SPILL_KILLS } else { KILLS } {
            // Delivered before enough kill points (a fast machine and an idle emulator): more
            // lines for the next runs, and for the disk-buffer drill another backlog for the
            // reader to outrun the (again throttled) sink with.
            let more = if spill { SPILL_BACKLOG } else { TOPUP_LINES };
            if spill {
                throttle(emulator).await;
            }
            append_lines(
                &log,
                &(lines..lines + more).map(contract_line).collect::<Vec<_>>(),
            );
            lines += more;
        }
        let left = (lines - delivered) as u64;
        if left == 0 {
            break;
        }
        let mut sidecar =
            Sidecar::start(ws.tmp.path(), &config, &emulator.child_env(), Stdio::null())
                .expect("the sidecar starts");
        if spill {
            // Batches of up to 1 MiB make shipped counts jump: kill at a random time instead,
            // once the run is up (it may have no line left to read: the file can be read to
            // its end, with the rest of what is undelivered in the disk buffer).
            tests::sidecar::health(&sidecar).await;
            tokio::time::sleep(Duration::from_millis(points.next(MAX_KILL_DELAY_MS))).await;
        } else {
            let at = points.next(MAX_SHIPPED_BEFORE_KILL.min(left));
            sidecar
                .wait_metric_at_least("aistudio_sidecar_events_shipped_total", at as f64, LIMIT)
                .await;
        }
        if spill && kills == 0 {
            // The first run spills while the throttled sink waits (a later run may start with
            // the disk buffer still full from the one before and never need to spill).
            sidecar
                .wait_metric_at_least("aistudio_sidecar_events_spilled_total", 1.0, LIMIT)
                .await;
        }
        sidecar.signal("KILL");
        assert_eq!(sidecar.wait_exit(LIMIT).await, None, "killed by the signal");
        let (total, distinct) = read_back(emulator, &group);
        delivered = distinct.len();
        let extra_now = total - delivered;
        // Duplicates show up in the run after the kill that caused them.
        if kills > 0 {
            per_kill.push(extra_now - extra_before);
        }
        extra_before = extra_now;
    }
    // A last run finishes the file: once its checkpoint (written as chunks are delivered or
    // spilled) reaches the end of the file, a SIGTERM drains the rest. Watching the checkpoint
    // rather than polling the emulator keeps the emulator free for the sidecar.
    writer.await.expect("the writer finished");
    let end = std::fs::metadata(ws.path("app.log"))
        .expect("the log file")
        .len();
    let mut sidecar = Sidecar::start(ws.tmp.path(), &config, &emulator.child_env(), Stdio::null())
        .expect("the sidecar starts");
    // Its signal handlers are in place once the API answers (the checkpoint may already be
    // at the end, and a SIGTERM before that would kill it with the default action).
    tests::sidecar::health(&sidecar).await;
    let started = std::time::Instant::now();
    while checkpoint_offset(&ws) < end {
        assert!(
            started.elapsed() < LIMIT,
            "{name}: checkpoint {} of {end} bytes; stderr: {}",
            checkpoint_offset(&ws),
            sidecar.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sidecar.stop(LIMIT).await;
    let (total, distinct) = read_back(emulator, &group);
    let missing: Vec<u64> = (0..lines as u64)
        .filter(|seq| !distinct.contains(seq))
        .collect();
    assert!(
        missing.is_empty(),
        "{name}: {} lines lost, first {:?}, last {:?}; stderr: {}",
        missing.len(),
        missing.first(),
        missing.last(),
        sidecar.stderr()
    );
    per_kill.push((total - distinct.len()) - extra_before);
    // From memory, a kill can repeat at most the one batch in flight. Through the disk
    // buffer, also the disk record the delivered batch ended in the middle of (it is freed
    // only when all of it is delivered), and the chunk spilled when the kill landed (on disk,
    // its file checkpoint not yet written): one batch and two chunks. Chunks that went to
    // disk behind one still in memory are not replayed by the file too: the checkpoint keeps
    // them as ranges done ahead, which the next run skips (before, one kill repeated 9,497).
    let bound = one_batch(emulator, &group) + if spill { 2 * CHUNK_MAX_LINES } else { 0 };
    assert!(
        per_kill.iter().all(|d| *d <= bound),
        "{name}: a kill duplicated more than was in flight ({bound} events): {per_kill:?}"
    );
    if spill {
        assert!(
            per_kill.len() >= MIN_SPILL_KILLS,
            "{name}: only {} kills",
            per_kill.len()
        );
    } else {
        assert_eq!(
            per_kill.len(),
            KILLS,
            "every kill point was reached before the end of the file"
        );
    }
    (lines, per_kill)
}

/// A few throttled calls hold the sink back while the reader runs ahead (a debug build's
/// redaction is slower than the emulator otherwise).
async fn throttle(emulator: &Emulator) {
    emulator
        .inject_fault("PutLogEvents", 400, "ThrottlingException", THROTTLED_CALLS)
        .await
        .expect("the emulator takes the fault");
}

fn report(name: &str, lines: usize, per_kill: &[usize]) -> usize {
    let total: usize = per_kill.iter().sum();
    let mut sorted = per_kill.to_vec();
    sorted.sort_unstable();
    println!(
        "kill -9 drill ({name}): {lines} lines, {} kills, lost 0, duplicated {total} ({:.2} %); per kill {per_kill:?}, median {}, max {}",
        per_kill.len(),
        total as f64 * 100.0 / lines as f64,
        sorted.get(sorted.len() / 2).copied().unwrap_or(0),
        sorted.last().copied().unwrap_or(0)
    );
    total
}

#[tokio::test]
async fn kill_9_at_random_points_loses_nothing_and_duplicates_little() {
    let seed = now_ms() as u64 | 1;
    println!("kill points seed {seed}");
    let mut points = Points(seed);
    let (memory_lines, memory) = drill("kill-drill-memory", "", &mut points).await;
    let (spill_lines, spill) = drill(
        "kill-drill-spill",
        "[buffer]\nmax_memory_bytes = 524288\n",
        &mut points,
    )
    .await;
    report("memory", memory_lines, &memory);
    report("disk buffer", spill_lines, &spill);
    // The 1 % target is a figure, reported above and in README, not asserted: what a kill
    // repeats is the batch in flight, and how full that batch is depends on how slow the
    // emulator is at that moment (0 % on an idle machine, 2-5 % seen with two other builds
    // running). The guarantee, each kill within its in-flight window, is asserted in `drill`.
}
