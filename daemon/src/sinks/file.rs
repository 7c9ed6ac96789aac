//! Local sinks: NDJSON to a size-rotated file (the embedded default) or to stdout.

use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

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

/// Where a local sink writes.
#[derive(Debug, Clone)]
pub enum LocalTarget {
    /// A rotated file.
    File(FileSinkConfig),
    /// The process's stdout.
    Stdout,
}

/// Writes events until the channel closes. Each received group is flushed before its
/// acknowledgements are released, so a checkpoint never runs ahead of the file.
pub fn run_blocking(
    target: LocalTarget,
    mut rx: mpsc::Receiver<Vec<LogEvent>>,
    telemetry: Telemetry,
) {
    let mut writer = match Writer::open(&target) {
        Ok(writer) => writer,
        Err(err) => {
            tracing::error!(error = %err, "local sink cannot open its output; events are failed back");
            while let Some(events) = rx.blocking_recv() {
                fail_all(&events);
                telemetry.emit(SidecarEvent::EventsDropped(events.len() as u64));
                telemetry.queued(-(events.len() as i64));
            }
            return;
        }
    };
    while let Some(events) = rx.blocking_recv() {
        let count = events.len();
        telemetry.queued(-(count as i64));
        match writer.write_all(&events) {
            Ok(bytes) => {
                telemetry.emit(SidecarEvent::EventsShipped(count as u64));
                telemetry.emit(SidecarEvent::BytesShipped(bytes));
            }
            Err(err) => {
                fail_all(&events);
                telemetry.emit(SidecarEvent::SinkError);
                telemetry.emit(SidecarEvent::EventsDropped(count as u64));
                tracing::error!(error = %err, events = count, "local sink write failed");
            }
        }
    }
}

struct Writer {
    target: LocalTarget,
    out: Box<dyn Write + Send>,
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
        let (out, written): (Box<dyn Write + Send>, u64) = match target {
            LocalTarget::Stdout => (Box::new(std::io::stdout()), 0),
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
                (Box::new(file), len)
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
        self.out.write_all(&self.buf)?;
        self.out.flush()?;
        let bytes = self.buf.len() as u64;
        self.written += bytes;
        if let LocalTarget::File(config) = &self.target {
            if self.written >= config.max_bytes {
                self.rotate(&config.clone())?;
            }
        }
        Ok(bytes)
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
            std::thread::spawn(move || run_blocking(target, rx, telemetry))
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
