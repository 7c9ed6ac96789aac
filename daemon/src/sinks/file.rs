//! Local sinks: NDJSON to a size-rotated file (the embedded default) or to stdout, whole
//! lines only, holding what a full disk refused until it fits.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aistudio_core::backoff::Backoff;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::event::{fail_all, LogEvent};
use crate::telemetry::{SidecarEvent, Telemetry};

/// Rotate the local file at this size.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 100 * 1024 * 1024;
/// Allowed `max_bytes`: at least one event of the largest size a line is cut to (1 MiB, the
/// CloudWatch Logs event limit), so a file never rotates before it holds a whole event; at most
/// 1 TiB, far past any disk a sidecar gets, which catches a misplaced digit.
pub const MAX_FILE_BYTES_RANGE: std::ops::RangeInclusive<u64> =
    aistudio_core::limits::DEFAULT_MAX_LINE_BYTES as u64..=1 << 40;
/// Rotated files kept (`logs.ndjson.1` … `.N`).
pub const DEFAULT_MAX_FILES: u32 = 5;

/// `[sinks.file]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    /// File the redacted lines are appended to, one per line.
    pub path: PathBuf,
    /// Rotate when the file reaches this many bytes.
    #[serde(default = "default_max_file_bytes")]
    pub max_bytes: u64,
    /// Rotated files to keep.
    #[serde(default = "default_max_files")]
    pub max_files: u32,
}

fn default_max_file_bytes() -> u64 {
    DEFAULT_MAX_FILE_BYTES
}
fn default_max_files() -> u32 {
    DEFAULT_MAX_FILES
}

/// First wait after a failed write (a full disk, an I/O error)...
const RETRY_INITIAL: Duration = Duration::from_millis(100);
/// ...and the longest, so space freed on the volume is used within two seconds.
const RETRY_CAP: Duration = Duration::from_secs(2);
/// A waiting sink looks at the shutdown deadline at least this often.
const DEADLINE_CHECK: Duration = Duration::from_millis(50);

/// Where a local sink writes.
#[derive(Debug, Clone)]
pub enum LocalTarget {
    /// A rotated file.
    File(FileSinkConfig),
    /// The process's stdout.
    Stdout,
}

/// Opens the sink's output, so that start-up fails at once on a path it cannot write.
pub fn open(target: LocalTarget) -> std::io::Result<LocalSink> {
    Ok(LocalSink {
        writer: Writer::open(&target)?,
    })
}

/// An opened local sink, run on its own thread by [`LocalSink::run_blocking`].
pub struct LocalSink {
    writer: Writer,
}

impl LocalSink {
    /// Writes events until the channel closes. Each received group is flushed before its
    /// acknowledgements are released, so a checkpoint never runs ahead of the file. A failed
    /// write (a full disk) leaves no half line: the file is cut back to its last whole line
    /// and the same events are written again, with backoff, until they fit or `force` (the
    /// shutdown deadline) fails them back to their source.
    pub fn run_blocking(
        mut self,
        mut rx: mpsc::Receiver<Vec<LogEvent>>,
        telemetry: Telemetry,
        force: CancellationToken,
    ) {
        let mut failing = Failing::default();
        while let Some(events) = rx.blocking_recv() {
            let count = events.len();
            match self.deliver(&events, &telemetry, &force, &mut failing) {
                Ok(bytes) => {
                    telemetry.emit(SidecarEvent::EventsShipped(count as u64));
                    telemetry.emit(SidecarEvent::BytesShipped(bytes));
                }
                Err(err) => {
                    fail_all(&events);
                    telemetry.emit(SidecarEvent::SinkError);
                    telemetry.emit(SidecarEvent::EventsDropped(count as u64));
                    tracing::error!(error = %err, events = count, "local sink gave up on a write; a file source re-reads these events on the next start");
                }
            }
            telemetry.queued(-(count as i64));
        }
    }

    /// Writes `events` until they are written whole, the error is one that cannot pass (a
    /// closed stdout), or the deadline passes.
    fn deliver(
        &mut self,
        events: &[LogEvent],
        telemetry: &Telemetry,
        force: &CancellationToken,
        failing: &mut Failing,
    ) -> std::io::Result<u64> {
        loop {
            let err = match self.writer.write_all(events) {
                Ok(bytes) => {
                    failing.recovered();
                    return Ok(bytes);
                }
                Err(err) => err,
            };
            if let Err(cut) = self.writer.cut_to_last_line() {
                if failing.attempts == 0 {
                    tracing::error!(error = %cut, "local sink cannot cut its output back to the last whole line");
                }
            }
            if err.kind() == std::io::ErrorKind::BrokenPipe || force.is_cancelled() {
                return Err(err);
            }
            telemetry.emit(SidecarEvent::Retried);
            let wait = failing.failed(&err, events.len());
            if !sleep_unless(wait, force) {
                return Err(err);
            }
        }
    }
}

/// The failing state of the sink: logged once when it begins and once when it ends.
#[derive(Default)]
struct Failing {
    backoff: Option<Backoff>,
    attempts: u64,
}

impl Failing {
    /// Notes a failed write; returns how long to wait before the next attempt.
    fn failed(&mut self, err: &std::io::Error, events: usize) -> Duration {
        self.attempts += 1;
        let backoff = self.backoff.get_or_insert_with(|| {
            tracing::warn!(error = %err, events, "local sink write failed; the file is cut back to its last whole line and the events are held and written again until it succeeds");
            Backoff::new(RETRY_INITIAL, RETRY_CAP)
        });
        backoff.next_delay()
    }

    fn recovered(&mut self) {
        if self.backoff.take().is_some() {
            tracing::info!(failed_attempts = self.attempts, "local sink writing again");
        }
        self.attempts = 0;
    }
}

/// Sleeps `wait` in slices; false if `force` was cancelled meanwhile.
fn sleep_unless(wait: Duration, force: &CancellationToken) -> bool {
    let until = Instant::now() + wait;
    loop {
        if force.is_cancelled() {
            return false;
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(DEADLINE_CHECK));
    }
}

enum Output {
    File(std::fs::File),
    Stdout(std::io::Stdout),
}

struct Writer {
    target: LocalTarget,
    out: Output,
    /// Bytes in the file that end in a whole line (all of them, after a successful write).
    written: u64,
    buf: Vec<u8>,
}

fn ends_with_newline(file: &mut std::fs::File, len: u64) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    file.seek(SeekFrom::Start(len - 1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

impl Writer {
    fn open(target: &LocalTarget) -> std::io::Result<Self> {
        let (out, written) = match target {
            LocalTarget::Stdout => (Output::Stdout(std::io::stdout()), 0),
            LocalTarget::File(config) => {
                if let Some(parent) = config.path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)?;
                }
                let mut file = std::fs::OpenOptions::new()
                    .create(true)
                    .read(true)
                    .append(true)
                    .open(&config.path)?;
                let mut len = file.metadata()?.len();
                // A process killed mid-write leaves half a line; start on a fresh one so the
                // next line is not glued to it (the cut line's events were never acknowledged
                // and are written again whole).
                if len > 0 && !ends_with_newline(&mut file, len)? {
                    file.write_all(b"\n")?;
                    len += 1;
                }
                (Output::File(file), len)
            }
        };
        Ok(Self {
            target: target.clone(),
            out,
            written,
            buf: Vec::with_capacity(256 * 1024),
        })
    }

    fn write_all(&mut self, events: &[LogEvent]) -> std::io::Result<u64> {
        self.buf.clear();
        for event in events {
            self.buf.extend_from_slice(event.message.as_bytes());
            self.buf.push(b'\n');
        }
        match &mut self.out {
            Output::File(file) => {
                file.write_all(&self.buf)?;
                file.flush()?;
            }
            Output::Stdout(stdout) => {
                let mut lock = stdout.lock();
                lock.write_all(&self.buf)?;
                lock.flush()?;
            }
        }
        let bytes = self.buf.len() as u64;
        self.written += bytes;
        if let LocalTarget::File(config) = &self.target {
            if self.written >= config.max_bytes {
                // The lines are written: a failed rotation is retried after the next write,
                // never taken for a failed write (which would write them twice).
                if let Err(err) = self.rotate(&config.clone()) {
                    tracing::warn!(error = %err, "local sink cannot rotate its file; trying again after the next write");
                }
            }
        }
        Ok(bytes)
    }

    /// After a failed write, removes whatever part of it reached the file, so the next write
    /// starts on a line of its own.
    fn cut_to_last_line(&mut self) -> std::io::Result<()> {
        match &self.out {
            Output::File(file) => file.set_len(self.written),
            Output::Stdout(_) => Ok(()),
        }
    }

    fn rotate(&mut self, config: &FileSinkConfig) -> std::io::Result<()> {
        let numbered = |n: u32| {
            let mut name = config.path.as_os_str().to_owned();
            name.push(format!(".{n}"));
            PathBuf::from(name)
        };
        for n in (1..config.max_files).rev() {
            let from = numbered(n);
            if from.exists() {
                std::fs::rename(&from, numbered(n + 1))?;
            }
        }
        if config.max_files == 0 {
            std::fs::remove_file(&config.path)?;
        } else {
            std::fs::rename(&config.path, numbered(1))?;
        }
        *self = Self::open(&self.target)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_half_written_last_line_is_closed_before_new_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.ndjson");
        std::fs::write(&path, "{\"a\":1}\n{\"cut\":").unwrap();
        let target = LocalTarget::File(FileSinkConfig {
            path: path.clone(),
            max_bytes: 1 << 20,
            max_files: 1,
        });
        let mut writer = Writer::open(&target).unwrap();
        let event = LogEvent {
            timestamp_ms: 0,
            message: "{\"b\":2}".into(),
            ack: None,
        };
        writer.write_all(&[event]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "{\"a\":1}\n{\"cut\":\n{\"b\":2}\n");
        // A clean file is left as it is.
        drop(writer);
        Writer::open(&target).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }

    #[test]
    fn writes_lines_and_rotates_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out/logs.ndjson");
        let target = LocalTarget::File(FileSinkConfig {
            path: path.clone(),
            max_bytes: 10,
            max_files: 2,
        });
        let (tx, rx) = mpsc::channel(8);
        let telemetry = Telemetry::default();
        let worker = {
            let telemetry = telemetry.clone();
            let sink = open(target).unwrap();
            std::thread::spawn(move || sink.run_blocking(rx, telemetry, CancellationToken::new()))
        };
        for i in 0..4 {
            let events = vec![LogEvent {
                timestamp_ms: i,
                message: format!("line-{i}-0123456789"),
                ack: None,
            }];
            tx.blocking_send(events).unwrap();
        }
        drop(tx);
        worker.join().unwrap();
        assert_eq!(telemetry.events_shipped(), 4);
        let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_default();
        let mut numbered = path.as_os_str().to_owned();
        numbered.push(".1");
        assert_eq!(read(std::path::Path::new(&numbered)), "line-3-0123456789\n");
        let mut second = path.as_os_str().to_owned();
        second.push(".2");
        assert_eq!(read(std::path::Path::new(&second)), "line-2-0123456789\n");
        assert_eq!(
            read(&path),
            "",
            "the live file is empty after the last rotation"
        );
    }
}
