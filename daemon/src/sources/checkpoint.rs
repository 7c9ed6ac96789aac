//! File checkpoints: per file identity, the offset just past the last line every sink
//! acknowledged, and the ranges past it already delivered or held on a disk buffer; saved
//! atomically so a restart re-reads exactly what is in neither.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::event::AckTarget;
use crate::fingerprint::fingerprint;

/// Bytes at the start of a file hashed to tell a new file from an old one that reused an
/// inode (Fluent Bit and Vector fingerprint the same way).
pub const FINGERPRINT_BYTES: usize = 256;

/// Who a file is, independent of its name (rotation renames it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FileId {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
}

/// One file's saved position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCheckpoint {
    /// Identity.
    pub id: FileId,
    /// Hash of the first `fingerprint_len` bytes.
    pub fingerprint: u64,
    /// How many bytes the fingerprint covers (a young file has fewer than FINGERPRINT_BYTES).
    pub fingerprint_len: u64,
    /// Offset just past the last acknowledged line.
    pub offset: u64,
    /// Byte ranges `[start, end)` past `offset` whose lines are delivered or on a sink's
    /// disk buffer while an earlier chunk is not: a restart skips them, so a chunk that went
    /// to disk behind one still in memory is replayed by the disk buffer alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub done_ahead: Vec<(u64, u64)>,
    /// Last path seen, for operators reading the file.
    pub path: PathBuf,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CheckpointFile {
    version: u32,
    files: Vec<FileCheckpoint>,
}

/// Key of one tracked reading of a file: a truncation starts a new generation, whose
/// acknowledgements must not move the old generation's offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrackKey {
    /// The file.
    pub id: FileId,
    /// Bumped on every truncation.
    pub generation: u32,
}

#[derive(Debug)]
struct Pending {
    seq: u64,
    start_offset: u64,
    end_offset: u64,
    state: PendingState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PendingState {
    InFlight,
    Delivered,
    Failed,
}

#[derive(Debug)]
struct Tracked {
    checkpoint: FileCheckpoint,
    generation: u32,
    next_seq: u64,
    pending: VecDeque<Pending>,
    /// A chunk was given up on: never move past it in this run; the next start re-reads it.
    stuck: bool,
    /// Where the next chunk starts (the last chunk's end).
    last_end: u64,
    /// Ranges a previous run had done ahead of the offset, skipped by this run's reader.
    carried: Vec<(u64, u64)>,
}

/// Acknowledged offsets of every file a source reads, and the file they are saved in.
#[derive(Debug)]
pub struct Checkpoints {
    path: Option<PathBuf>,
    saved: HashMap<FileId, FileCheckpoint>,
    tracked: BTreeMap<FileId, Tracked>,
    dirty: bool,
}

/// Errors reading or writing the checkpoint file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// I/O failed.
    #[error("cannot {action} checkpoint file {path}: {source}; check the checkpoint directory is writable")]
    Io {
        /// read or write.
        action: &'static str,
        /// The file.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not a checkpoint.
    #[error("checkpoint file {path} is corrupt ({message}); move it away to start over from `read_from`")]
    Corrupt {
        /// The file.
        path: String,
        /// What failed.
        message: String,
    },
}

impl Checkpoints {
    /// Loads `path` (a missing file is an empty checkpoint); `None` keeps offsets in memory only.
    pub fn load(path: Option<PathBuf>) -> Result<Self, CheckpointError> {
        let mut saved = HashMap::new();
        if let Some(path) = &path {
            match std::fs::read(path) {
                Ok(bytes) => {
                    let file: CheckpointFile =
                        serde_json::from_slice(&bytes).map_err(|err| CheckpointError::Corrupt {
                            path: path.display().to_string(),
                            message: err.to_string(),
                        })?;
                    for cp in file.files {
                        saved.insert(cp.id, cp);
                    }
                }
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(CheckpointError::Io {
                        action: "read",
                        path: path.display().to_string(),
                        source,
                    })
                }
            }
        }
        Ok(Self {
            path,
            saved,
            tracked: BTreeMap::new(),
            dirty: false,
        })
    }

    /// Where a saved file resumes, if the identity and the fingerprint both match.
    pub fn resume_offset(&self, id: FileId, head: &[u8]) -> Option<u64> {
        self.resumes(self.saved.get(&id)?, head)
    }

    fn resumes(&self, cp: &FileCheckpoint, head: &[u8]) -> Option<u64> {
        let len = usize::try_from(cp.fingerprint_len).ok()?;
        if head.len() < len || fingerprint(&head[..len]) != cp.fingerprint {
            return None;
        }
        Some(cp.offset)
    }

    /// Starts tracking a file read from `offset`; returns its key.
    pub fn track(&mut self, id: FileId, head: &[u8], offset: u64, path: &Path) -> TrackKey {
        let len = head.len().min(FINGERPRINT_BYTES);
        let checkpoint = FileCheckpoint {
            id,
            fingerprint: fingerprint(&head[..len]),
            fingerprint_len: len as u64,
            offset,
            done_ahead: Vec::new(),
            path: path.to_path_buf(),
        };
        // The ranges done ahead carry over only when resuming where that checkpoint stopped.
        let mut carried: Vec<(u64, u64)> = match self.saved.remove(&id) {
            Some(saved) if self.resumes(&saved, head) == Some(offset) => saved
                .done_ahead
                .into_iter()
                .filter(|&(start, end)| start >= offset && end > start)
                .collect(),
            _ => Vec::new(),
        };
        // in order, as `fold_carried` and the reader's skips take them
        carried.sort_unstable();
        let mut tracked = Tracked {
            checkpoint,
            generation: 0,
            next_seq: 0,
            pending: VecDeque::new(),
            stuck: false,
            last_end: offset,
            carried,
        };
        // a range done ahead right at the offset is done: reading starts after it
        // ([`Checkpoints::start_offset`])
        tracked.fold_carried();
        tracked.last_end = tracked.checkpoint.offset;
        self.tracked.insert(id, tracked);
        self.dirty = true;
        TrackKey { id, generation: 0 }
    }

    /// Where the reader of `key` starts: the offset given to `track`, moved over a range done
    /// ahead that began right there.
    pub fn start_offset(&self, key: TrackKey) -> Option<u64> {
        self.tracked
            .get(&key.id)
            .filter(|t| t.generation == key.generation)
            .map(|t| t.checkpoint.offset)
    }

    /// The ranges the reader of `key` skips: done ahead of its offset by an earlier run.
    pub fn skips(&self, key: TrackKey) -> VecDeque<(u64, u64)> {
        self.tracked
            .get(&key.id)
            .filter(|t| t.generation == key.generation)
            .map(|t| t.carried.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The file was truncated (copytruncate): forget in-flight chunks, start over at 0.
    pub fn truncated(&mut self, key: TrackKey, head: &[u8]) -> TrackKey {
        let Some(t) = self.tracked.get_mut(&key.id) else {
            return key;
        };
        let len = head.len().min(FINGERPRINT_BYTES);
        t.generation += 1;
        t.pending.clear();
        t.stuck = false;
        t.last_end = 0;
        t.carried.clear();
        t.checkpoint.offset = 0;
        t.checkpoint.fingerprint = fingerprint(&head[..len]);
        t.checkpoint.fingerprint_len = len as u64;
        self.dirty = true;
        TrackKey {
            id: key.id,
            generation: t.generation,
        }
    }

    /// Refreshes the fingerprint once a young file has grown past its first bytes.
    pub fn refresh_fingerprint(&mut self, key: TrackKey, head: &[u8]) {
        if let Some(t) = self.tracked.get_mut(&key.id) {
            let len = head.len().min(FINGERPRINT_BYTES);
            if (len as u64) > t.checkpoint.fingerprint_len {
                t.checkpoint.fingerprint = fingerprint(&head[..len]);
                t.checkpoint.fingerprint_len = len as u64;
                self.dirty = true;
            }
        }
    }

    /// Records the path a file now has.
    pub fn renamed(&mut self, key: TrackKey, path: &Path) {
        if let Some(t) = self.tracked.get_mut(&key.id) {
            t.checkpoint.path = path.to_path_buf();
            self.dirty = true;
        }
    }

    /// A chunk ending at `end_offset` was sent; returns its sequence number.
    pub fn sent(&mut self, key: TrackKey, end_offset: u64) -> Option<u64> {
        let t = self.tracked.get_mut(&key.id)?;
        if t.generation != key.generation {
            return None;
        }
        let seq = t.next_seq;
        t.next_seq += 1;
        t.pending.push_back(Pending {
            seq,
            start_offset: t.last_end,
            end_offset,
            state: PendingState::InFlight,
        });
        t.last_end = end_offset;
        Some(seq)
    }

    /// A chunk was acknowledged (or failed); advances the offset over the delivered prefix.
    pub fn complete(&mut self, key: TrackKey, seq: u64, delivered: bool) {
        let Some(t) = self.tracked.get_mut(&key.id) else {
            return;
        };
        if t.generation != key.generation {
            return;
        }
        if let Some(p) = t.pending.iter_mut().find(|p| p.seq == seq) {
            p.state = if delivered {
                // Saved even when it is not at the front: it is a range done ahead.
                self.dirty = true;
                PendingState::Delivered
            } else {
                PendingState::Failed
            };
        }
        while let Some(front) = t.pending.front() {
            match front.state {
                PendingState::Delivered if !t.stuck => {
                    t.checkpoint.offset = front.end_offset;
                    self.dirty = true;
                    t.pending.pop_front();
                }
                PendingState::Failed => {
                    t.stuck = true;
                    break;
                }
                _ => break,
            }
        }
        if t.fold_carried() {
            self.dirty = true;
        }
    }

    #[cfg(test)]
    /// True when the file has chunks not yet acknowledged.
    pub fn has_pending(&self, id: FileId) -> bool {
        self.tracked.get(&id).is_some_and(|t| !t.pending.is_empty())
    }

    #[cfg(test)]
    /// The acknowledged offset of a tracked file.
    pub fn offset(&self, id: FileId) -> Option<u64> {
        self.tracked.get(&id).map(|t| t.checkpoint.offset)
    }

    /// Writes the checkpoint file if anything changed (write to a temp file, then rename, so
    /// a crash mid-write leaves the previous checkpoint intact).
    pub fn save(&mut self) -> Result<(), CheckpointError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if !self.dirty {
            return Ok(());
        }
        let mut files: Vec<FileCheckpoint> = self.saved.values().cloned().collect();
        files.extend(self.tracked.values().map(Tracked::to_checkpoint));
        files.sort_by_key(|cp| cp.id);
        let body =
            serde_json::to_vec_pretty(&CheckpointFile { version: 1, files }).map_err(|err| {
                CheckpointError::Corrupt {
                    path: path.display().to_string(),
                    message: err.to_string(),
                }
            })?;
        let tmp = path.with_extension("tmp");
        let io = |source| CheckpointError::Io {
            action: "write",
            path: path.display().to_string(),
            source,
        };
        std::fs::write(&tmp, body).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)?;
        self.dirty = false;
        Ok(())
    }
}

impl Tracked {
    /// Moves the offset over the ranges done ahead by an earlier run that it has reached (the
    /// reader skips them, so no chunk will carry the offset past them): without this, a file
    /// whose last bytes were done ahead kept its offset short of the end for good. Returns
    /// whether the offset moved.
    fn fold_carried(&mut self) -> bool {
        let mut moved = false;
        while let Some(&(start, end)) = self.carried.first() {
            if start > self.checkpoint.offset {
                break;
            }
            if end > self.checkpoint.offset {
                self.checkpoint.offset = end;
                moved = true;
            }
            self.carried.remove(0);
        }
        moved
    }

    /// The checkpoint to save: the offset, and the ranges done ahead of it (carried from the
    /// previous run, and delivered chunks behind one that is not), merged.
    fn to_checkpoint(&self) -> FileCheckpoint {
        let offset = self.checkpoint.offset;
        let mut ranges: Vec<(u64, u64)> = self
            .carried
            .iter()
            .copied()
            .chain(
                self.pending
                    .iter()
                    .filter(|p| p.state == PendingState::Delivered)
                    .map(|p| (p.start_offset, p.end_offset)),
            )
            .map(|(start, end)| (start.max(offset), end))
            .filter(|&(start, end)| end > start)
            .collect();
        ranges.sort_unstable();
        let mut done_ahead: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
        for (start, end) in ranges {
            match done_ahead.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => done_ahead.push((start, end)),
            }
        }
        FileCheckpoint {
            done_ahead,
            ..self.checkpoint.clone()
        }
    }
}

/// Sends a chunk's acknowledgement back to the shared checkpoints.
#[derive(Debug)]
pub struct ChunkAck {
    /// The checkpoints.
    pub checkpoints: Arc<Mutex<Checkpoints>>,
    /// Which file reading.
    pub key: TrackKey,
    /// Which chunk.
    pub seq: u64,
}

impl AckTarget for ChunkAck {
    fn complete(&self, delivered: bool) {
        if let Ok(mut cps) = self.checkpoints.lock() {
            cps.complete(self.key, self.seq, delivered);
            // One ledger: the moment a chunk is delivered or on a sink's disk buffer, the
            // file checkpoint says so too (a write and a rename, only when the offset moved),
            // so a crash never replays a chunk from both the file and the disk buffer, and
            // re-reads from the file only what was in memory or in flight.
            if delivered {
                if let Err(err) = cps.save() {
                    tracing::error!(error = %err, "file source: checkpoint not saved");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: FileId = FileId { dev: 1, ino: 42 };

    #[test]
    fn offset_advances_only_over_a_delivered_prefix() {
        let mut cps = Checkpoints::load(None).unwrap();
        let key = cps.track(ID, b"head", 0, Path::new("/x"));
        let a = cps.sent(key, 10).unwrap();
        let b = cps.sent(key, 20).unwrap();
        let c = cps.sent(key, 30).unwrap();
        cps.complete(key, b, true);
        assert_eq!(cps.offset(ID), Some(0), "b is acked but a is not");
        cps.complete(key, a, true);
        assert_eq!(cps.offset(ID), Some(20));
        cps.complete(key, c, true);
        assert_eq!(cps.offset(ID), Some(30));
        assert!(!cps.has_pending(ID));
    }

    #[test]
    fn a_failed_chunk_stops_the_offset_for_this_run() {
        let mut cps = Checkpoints::load(None).unwrap();
        let key = cps.track(ID, b"head", 0, Path::new("/x"));
        let a = cps.sent(key, 10).unwrap();
        let b = cps.sent(key, 20).unwrap();
        cps.complete(key, a, false);
        cps.complete(key, b, true);
        assert_eq!(cps.offset(ID), Some(0));
    }

    #[test]
    fn old_generation_acks_are_ignored_after_truncation() {
        let mut cps = Checkpoints::load(None).unwrap();
        let key = cps.track(ID, b"head", 0, Path::new("/x"));
        let a = cps.sent(key, 10).unwrap();
        let new_key = cps.truncated(key, b"new");
        cps.complete(key, a, true);
        assert_eq!(cps.offset(ID), Some(0));
        let b = cps.sent(new_key, 5).unwrap();
        cps.complete(new_key, b, true);
        assert_eq!(cps.offset(ID), Some(5));
    }

    #[test]
    fn saved_offsets_resume_only_for_the_same_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoints.json");
        let mut cps = Checkpoints::load(Some(path.clone())).unwrap();
        let key = cps.track(ID, b"first line\n", 0, Path::new("/x"));
        let seq = cps.sent(key, 11).unwrap();
        cps.complete(key, seq, true);
        cps.save().unwrap();

        let cps = Checkpoints::load(Some(path)).unwrap();
        assert_eq!(cps.resume_offset(ID, b"first line\nsecond\n"), Some(11));
        assert_eq!(cps.resume_offset(ID, b"other file\n"), None, "inode reused");
        assert_eq!(
            cps.resume_offset(FileId { dev: 1, ino: 7 }, b"first line\n"),
            None
        );
    }

    #[test]
    fn chunks_done_behind_an_undelivered_one_are_skipped_by_the_next_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoints.json");
        let mut cps = Checkpoints::load(Some(path.clone())).unwrap();
        let head = b"first line\n";
        let key = cps.track(ID, head, 0, Path::new("/x"));
        let a = cps.sent(key, 10).unwrap();
        let b = cps.sent(key, 20).unwrap();
        let c = cps.sent(key, 30).unwrap();
        let d = cps.sent(key, 40).unwrap();
        // b and c went to a disk buffer (or were delivered) while a is still in memory.
        cps.complete(key, b, true);
        cps.complete(key, c, true);
        cps.save().unwrap();
        let _ = (a, d);

        // Killed here: the next run reads 0..10 and 30.. only.
        let mut next = Checkpoints::load(Some(path.clone())).unwrap();
        assert_eq!(next.resume_offset(ID, head), Some(0));
        let key = next.track(ID, head, 0, Path::new("/x"));
        assert_eq!(next.skips(key), VecDeque::from([(10, 30)]));
        // Once the offset reaches the skipped range, it moves over it: nothing will be sent
        // for those bytes, and a file whose last bytes were done ahead still ends at its end.
        let a = next.sent(key, 10).unwrap();
        next.complete(key, a, true);
        next.save().unwrap();
        let saved = Checkpoints::load(Some(path.clone())).unwrap();
        let cp = saved.saved.get(&ID).unwrap();
        assert_eq!((cp.offset, cp.done_ahead.clone()), (30, vec![]));
        let d = next.sent(key, 40).unwrap();
        next.complete(key, d, true);
        next.save().unwrap();
        let saved = Checkpoints::load(Some(path)).unwrap();
        let cp = saved.saved.get(&ID).unwrap();
        assert_eq!((cp.offset, cp.done_ahead.clone()), (40, vec![]));
    }

    #[test]
    fn a_range_done_ahead_at_the_resume_offset_is_skipped_and_reaches_the_end() {
        // the last run's checkpoint: offset 10, and 10..20 (the end of the file) done ahead
        let head = b"first line\n";
        let mut first = Checkpoints::load(None).unwrap();
        first.track(ID, head, 0, Path::new("/x"));
        let mut saved = first.tracked.get(&ID).unwrap().to_checkpoint();
        saved.offset = 10;
        saved.done_ahead = vec![(10, 20)];
        let mut next = Checkpoints::load(None).unwrap();
        next.saved.insert(ID, saved);
        let key = next.track(ID, head, 10, Path::new("/x"));
        // no chunk will ever carry the offset over 10..20, so reading starts after it and the
        // checkpoint is at the end of the file
        assert_eq!(next.start_offset(key), Some(20));
        assert!(next.skips(key).is_empty());
        assert_eq!(next.offset(ID), Some(20));
    }

    #[test]
    fn corrupt_checkpoint_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoints.json");
        std::fs::write(&path, "{not json").unwrap();
        let err = Checkpoints::load(Some(path)).unwrap_err().to_string();
        assert!(err.contains("corrupt"), "{err}");
    }
}
