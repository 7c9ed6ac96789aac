//! The file source: tails files matching globs in a shared volume, follows rename-and-create
//! and copytruncate rotation, and resumes from acknowledged checkpoints. What it may open is
//! [`paths`]' decision.

mod config;
mod paths;

pub use config::FileSourceConfig;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use self::paths::PathPolicy;
use super::checkpoint::{Checkpoints, ChunkAck, FileId, TrackKey, FINGERPRINT_BYTES};
use super::{LineSplitter, RawChunk, ReadFrom};
use crate::event::{Ack, AckGate};
use crate::fingerprint::fingerprint;
use crate::telemetry::{SidecarEvent, Telemetry};
use aistudio_core::backoff::Backoff;
use aistudio_core::clock::now_ms;

/// An idle tailer looks at the shutdown token at least this often.
const SHUTDOWN_CHECK: Duration = Duration::from_millis(50);
/// How often acknowledged offsets are written to disk while running.
const CHECKPOINT_SAVE_INTERVAL: Duration = Duration::from_secs(1);
/// Bytes read per call.
const READ_BUFFER_BYTES: usize = 256 * 1024;
/// A file "truncated" more often than this within [`TRUNCATION_WINDOW`] is not a log being
/// appended to (a pseudo-file, a file rewritten in place in a loop): it is no longer read,
/// rather than re-read from its start forever. logrotate's copytruncate at most hourly is far
/// below it.
const MAX_TRUNCATIONS: u32 = 10;
/// The window [`MAX_TRUNCATIONS`] counts in.
const TRUNCATION_WINDOW: Duration = Duration::from_secs(60);
/// An unreadable file is tried again after a backoff starting here...
const UNREADABLE_RETRY_INITIAL: Duration = Duration::from_secs(1);
/// ...and never waiting longer than this, so a fixed permission is noticed within a minute.
const UNREADABLE_RETRY_CAP: Duration = Duration::from_secs(60);

/// Errors starting the file source.
#[derive(Debug, thiserror::Error)]
pub enum FileSourceError {
    /// A glob pattern does not parse.
    #[error("file source pattern `{pattern}` is invalid: {message}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// Why.
        message: String,
    },
    /// The tailer thread could not start.
    #[error("cannot start the file source thread: {0}")]
    Thread(std::io::Error),
}

struct Tailed {
    path: PathBuf,
    file: File,
    key: TrackKey,
    read_offset: u64,
    head_len: usize,
    head_fingerprint: u64,
    splitter: LineSplitter,
    /// Ranges ahead an earlier run already delivered or put on a disk buffer: not read again.
    skips: VecDeque<(u64, u64)>,
    /// Truncations seen in the current [`TRUNCATION_WINDOW`], and when it began.
    truncations: u32,
    truncation_window_start: Instant,
}

/// A file that could not be opened: when to try again.
struct Unreadable {
    retry_at: Instant,
    backoff: Backoff,
}

/// A running tailer's shared checkpoints: the topology saves them once the sinks drained.
pub type SharedCheckpoints = Arc<Mutex<Checkpoints>>;

/// Starts the tailer thread.
pub fn spawn(
    config: FileSourceConfig,
    checkpoints: SharedCheckpoints,
    tx: mpsc::Sender<RawChunk>,
    shutdown: CancellationToken,
    telemetry: Telemetry,
    max_line_bytes: usize,
    gate: AckGate,
) -> Result<std::thread::JoinHandle<()>, FileSourceError> {
    for pattern in &config.include {
        glob::Pattern::new(pattern).map_err(|err| FileSourceError::Pattern {
            pattern: pattern.clone(),
            message: err.to_string(),
        })?;
    }
    let mut tailer = Tailer {
        policy: PathPolicy::new(&config.include, config.follow_symlinks),
        config,
        checkpoints,
        tx,
        telemetry,
        max_line_bytes,
        gate,
        files: BTreeMap::new(),
        retired: HashSet::new(),
        unreadable: HashMap::new(),
    };
    std::thread::Builder::new()
        .name("source-file".into())
        .spawn(move || tailer.run(&shutdown))
        .map_err(FileSourceError::Thread)
}

struct Tailer {
    config: FileSourceConfig,
    checkpoints: SharedCheckpoints,
    tx: mpsc::Sender<RawChunk>,
    telemetry: Telemetry,
    max_line_bytes: usize,
    gate: AckGate,
    files: BTreeMap<FileId, Tailed>,
    /// Files rotated away and read to their end in this run (or truncated in a loop): never
    /// read again.
    retired: HashSet<FileId>,
    policy: PathPolicy,
    /// Files that matched but could not be opened, each reported once and retried with backoff.
    unreadable: HashMap<PathBuf, Unreadable>,
}

impl Tailer {
    fn run(&mut self, shutdown: &CancellationToken) {
        let poll = Duration::from_millis(self.config.poll_interval_ms.max(1));
        let mut last_save = Instant::now();
        let mut first_scan = true;
        while !shutdown.is_cancelled() {
            self.discover(first_scan);
            first_scan = false;
            let mut progressed = false;
            let ids: Vec<FileId> = self.files.keys().copied().collect();
            for id in ids {
                match self.read_available(id, shutdown) {
                    Ok(read) => progressed |= read,
                    Err(Stop) => return,
                }
            }
            if self.handle_rotations().is_err() {
                return;
            }
            if last_save.elapsed() >= CHECKPOINT_SAVE_INTERVAL {
                self.save();
                last_save = Instant::now();
            }
            if !progressed {
                idle(poll, shutdown);
            }
        }
    }

    fn save(&self) {
        if let Ok(mut cps) = self.checkpoints.lock() {
            if let Err(err) = cps.save() {
                tracing::error!(error = %err, "file source: checkpoint not saved");
            }
        }
    }

    fn discover(&mut self, first_scan: bool) {
        let patterns = self.config.include.clone();
        for pattern in &patterns {
            let Ok(paths) = glob::glob(pattern) else {
                continue;
            };
            for path in paths.flatten() {
                let Some(meta) = self.policy.admit(&path) else {
                    continue;
                };
                let id = FileId {
                    dev: meta.dev(),
                    ino: meta.ino(),
                };
                if let Some(tailed) = self.files.get_mut(&id) {
                    if tailed.path != path && !path_points_to(&tailed.path, id) {
                        // Renamed to another name the globs match: same file, keep reading.
                        tailed.path = path.clone();
                        if let Ok(mut cps) = self.checkpoints.lock() {
                            cps.renamed(tailed.key, &path);
                        }
                    }
                    continue;
                }
                if self.retired.contains(&id) {
                    continue;
                }
                self.try_open(&path, id, meta.len(), first_scan);
            }
        }
        // An unreadable file that is gone no longer holds `/health` at `source_unreadable`.
        let telemetry = &self.telemetry;
        self.unreadable.retain(|path, _| {
            let present = std::fs::symlink_metadata(path).is_ok();
            if !present {
                telemetry.emit(SidecarEvent::SourceFileReadable);
            }
            present
        });
    }

    /// Opens a newly matched file, or notes it unreadable: reported once, retried with backoff
    /// and shown on `/health` until it opens.
    fn try_open(&mut self, path: &Path, id: FileId, len: u64, first_scan: bool) {
        if let Some(waiting) = self.unreadable.get(path) {
            if Instant::now() < waiting.retry_at {
                return;
            }
        }
        match self.open(path, id, len, first_scan) {
            Ok(()) => {
                if self.unreadable.remove(path).is_some() {
                    self.telemetry.emit(SidecarEvent::SourceFileReadable);
                    tracing::info!(path = %path.display(), "file source: file readable again");
                }
            }
            Err(err) => match self.unreadable.get_mut(path) {
                Some(waiting) => waiting.retry_at = Instant::now() + waiting.backoff.next_delay(),
                None => {
                    tracing::warn!(path = %path.display(), error = %err, "file source: cannot open; retrying with backoff until it can");
                    self.telemetry.emit(SidecarEvent::SourceFileUnreadable);
                    let mut backoff = Backoff::new(UNREADABLE_RETRY_INITIAL, UNREADABLE_RETRY_CAP);
                    let retry_at = Instant::now() + backoff.next_delay();
                    self.unreadable
                        .insert(path.to_path_buf(), Unreadable { retry_at, backoff });
                }
            },
        }
    }

    fn open(&mut self, path: &Path, id: FileId, len: u64, first_scan: bool) -> std::io::Result<()> {
        let mut file = File::open(path)?;
        let head = read_head(&file)?;
        let Ok(mut cps) = self.checkpoints.lock() else {
            return Ok(());
        };
        let offset = match cps.resume_offset(id, &head) {
            Some(offset) if offset <= len => offset,
            Some(_) => 0,
            None if first_scan && self.config.read_from == ReadFrom::End => len,
            None => 0,
        };
        let key = cps.track(id, &head, offset, path);
        let offset = cps.start_offset(key).unwrap_or(offset);
        let skips = cps.skips(key);
        drop(cps);
        file.seek(SeekFrom::Start(offset))?;
        tracing::info!(path = %path.display(), offset, "file source: tailing");
        self.files.insert(
            id,
            Tailed {
                path: path.to_path_buf(),
                file,
                key,
                read_offset: offset,
                head_len: head.len(),
                head_fingerprint: fingerprint(&head),
                splitter: LineSplitter::new(self.max_line_bytes),
                skips,
                truncations: 0,
                truncation_window_start: Instant::now(),
            },
        );
        Ok(())
    }

    /// Reads everything new in one file; true if any byte was read.
    fn read_available(&mut self, id: FileId, shutdown: &CancellationToken) -> Result<bool, Stop> {
        let Some(tailed) = self.files.get_mut(&id) else {
            return Ok(false);
        };
        let Ok(meta) = tailed.file.metadata() else {
            return Ok(false);
        };
        if meta.len() < tailed.read_offset || head_changed(tailed) {
            // copytruncate: the file was emptied (and maybe refilled); start it over.
            if truncated_too_often(tailed) {
                tracing::error!(
                    path = %tailed.path.display(),
                    truncations = MAX_TRUNCATIONS,
                    window_secs = TRUNCATION_WINDOW.as_secs(),
                    "file source: file truncated too often to be a log that is appended to; no longer read (restart the sidecar to read it again)"
                );
                self.files.remove(&id);
                self.retired.insert(id);
                return Ok(false);
            }
            let head = read_head(&tailed.file).unwrap_or_default();
            tracing::info!(path = %tailed.path.display(), "file source: truncation detected; reading from the start");
            if let Ok(mut cps) = self.checkpoints.lock() {
                tailed.key = cps.truncated(tailed.key, &head);
            }
            tailed.head_len = head.len();
            tailed.head_fingerprint = fingerprint(&head);
            tailed.read_offset = 0;
            tailed.skips.clear();
            tailed.splitter.clear();
            if tailed.file.seek(SeekFrom::Start(0)).is_err() {
                return Ok(false);
            }
        }
        let mut buf = vec![0u8; READ_BUFFER_BYTES];
        let mut progressed = false;
        loop {
            if shutdown.is_cancelled() {
                return Ok(progressed);
            }
            // Reads stop at the next range an earlier run already handed over, then jump it.
            let mut room = buf.len();
            while let Some(&(start, end)) = tailed.skips.front() {
                if tailed.read_offset < start {
                    room = room.min(usize::try_from(start - tailed.read_offset).unwrap_or(room));
                    break;
                }
                tailed.skips.pop_front();
                if tailed.read_offset < end {
                    if tailed.file.seek(SeekFrom::Start(end)).is_err() {
                        return Ok(progressed);
                    }
                    tracing::debug!(path = %tailed.path.display(), from = tailed.read_offset, to = end, "file source: skipping lines an earlier run already delivered or buffered on disk");
                    tailed.read_offset = end;
                    tailed.splitter.clear();
                }
            }
            let n = match tailed.file.read(&mut buf[..room]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    tracing::warn!(path = %tailed.path.display(), error = %err, "file source: read failed");
                    break;
                }
            };
            progressed = true;
            let base = tailed.read_offset;
            tailed.read_offset += n as u64;
            let mut chunk = RawChunk::default();
            let mut end_offset = None;
            let mut ready = Vec::new();
            tailed.splitter.feed(&buf[..n], |line, consumed| {
                chunk.push_line(line);
                end_offset = Some(base + consumed as u64);
                if chunk.is_full() {
                    ready.push((std::mem::take(&mut chunk), end_offset));
                }
            });
            ready.push((chunk, end_offset));
            for (chunk, end) in ready {
                if chunk.is_empty() {
                    continue;
                }
                let end = end.unwrap_or(base);
                if !send(
                    &self.checkpoints,
                    &self.gate,
                    &self.tx,
                    &self.telemetry,
                    tailed.key,
                    chunk,
                    end,
                ) {
                    return Err(Stop);
                }
            }
        }
        if tailed.head_len < FINGERPRINT_BYTES && tailed.read_offset > tailed.head_len as u64 {
            if let Ok(head) = read_head(&tailed.file) {
                tailed.head_len = head.len();
                tailed.head_fingerprint = fingerprint(&head);
                if let Ok(mut cps) = self.checkpoints.lock() {
                    cps.refresh_fingerprint(tailed.key, &head);
                }
            }
        }
        Ok(progressed)
    }

    /// Retires files whose path now names another file (rename rotation) or that were
    /// deleted, once read to their end; their unfinished last line is sent as a line.
    fn handle_rotations(&mut self) -> Result<(), Stop> {
        let mut gone = Vec::new();
        for (id, tailed) in &self.files {
            let replaced = match std::fs::metadata(&tailed.path) {
                Ok(meta) => meta.ino() != id.ino || meta.dev() != id.dev,
                Err(_) => tailed
                    .file
                    .metadata()
                    .map(|m| m.nlink() == 0)
                    .unwrap_or(true),
            };
            if replaced {
                gone.push(*id);
            }
        }
        for id in gone {
            // Read what the writer flushed between our last read and the rename.
            let never = CancellationToken::new();
            self.read_available(id, &never)?;
            let Some(mut tailed) = self.files.remove(&id) else {
                continue;
            };
            tracing::info!(path = %tailed.path.display(), "file source: rotated away; finished");
            if let Some(last) = tailed.splitter.take_partial() {
                let mut chunk = RawChunk::default();
                chunk.push_line(&last);
                let end = tailed.read_offset;
                if !send(
                    &self.checkpoints,
                    &self.gate,
                    &self.tx,
                    &self.telemetry,
                    tailed.key,
                    chunk,
                    end,
                ) {
                    return Err(Stop);
                }
            }
            self.retired.insert(id);
        }
        Ok(())
    }
}

/// The downstream is gone (shutdown): stop reading.
struct Stop;

fn send(
    checkpoints: &SharedCheckpoints,
    gate: &AckGate,
    tx: &mpsc::Sender<RawChunk>,
    telemetry: &Telemetry,
    key: TrackKey,
    mut chunk: RawChunk,
    end_offset: u64,
) -> bool {
    let seq = match checkpoints.lock() {
        Ok(mut cps) => cps.sent(key, end_offset),
        Err(_) => None,
    };
    if let Some(seq) = seq {
        let target = ChunkAck {
            checkpoints: Arc::clone(checkpoints),
            key,
            seq,
        };
        chunk.ack = Some(Ack::new(target, gate));
    }
    chunk.read_at_ms = now_ms();
    telemetry.emit(SidecarEvent::LinesRead(chunk.len() as u64));
    tx.blocking_send(chunk).is_ok()
}

/// Sleeps `poll`, in slices, returning early once `shutdown` is cancelled: the tailer is a
/// plain thread, and a shutdown must not wait for its poll interval.
fn idle(poll: Duration, shutdown: &CancellationToken) {
    let until = Instant::now() + poll;
    while !shutdown.is_cancelled() {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(SHUTDOWN_CHECK));
    }
}

fn read_head(file: &File) -> std::io::Result<Vec<u8>> {
    let mut head = vec![0u8; FINGERPRINT_BYTES];
    let mut filled = 0;
    while filled < head.len() {
        match file.read_at(&mut head[filled..], filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    head.truncate(filled);
    Ok(head)
}

/// Counts one truncation; true once the file has been truncated more than
/// [`MAX_TRUNCATIONS`] times within [`TRUNCATION_WINDOW`].
fn truncated_too_often(tailed: &mut Tailed) -> bool {
    if tailed.truncation_window_start.elapsed() > TRUNCATION_WINDOW {
        tailed.truncations = 0;
        tailed.truncation_window_start = Instant::now();
    }
    tailed.truncations += 1;
    tailed.truncations > MAX_TRUNCATIONS
}

/// True when the first bytes we fingerprinted are no longer there (truncated and refilled
/// past our offset between two polls).
fn head_changed(tailed: &Tailed) -> bool {
    if tailed.head_len == 0 {
        return false;
    }
    let mut now = vec![0u8; tailed.head_len];
    match tailed.file.read_at(&mut now, 0) {
        Ok(n) if n == tailed.head_len => fingerprint(&now) != tailed.head_fingerprint,
        Ok(_) => true,
        Err(_) => false,
    }
}

fn path_points_to(path: &Path, id: FileId) -> bool {
    std::fs::metadata(path)
        .map(|m| m.ino() == id.ino && m.dev() == id.dev)
        .unwrap_or(false)
}
