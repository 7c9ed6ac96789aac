//! The disk half of a sink's buffer: an append-only queue of event groups in segment files,
//! with an acknowledged-prefix pointer so a restart replays exactly what no sink confirmed.

use std::collections::{BTreeSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::event::LogEvent;
use crate::fingerprint::fingerprint;

/// A segment is sealed and a new one started past this size; fully acknowledged sealed
/// segments are deleted, which is how disk space comes back.
pub const SEGMENT_BYTES: u64 = 8 * 1024 * 1024;
/// Record header: payload length (u32) + checksum (u64).
const HEADER_BYTES: usize = 12;
/// A record is one group of events, at most a chunk plus framing; anything longer than a
/// segment and this slack is a corrupt length, not a record.
const MAX_RECORD_SLACK: u64 = 1024 * 1024;
/// Name of the file holding the acknowledged prefix.
const ACKED_FILE: &str = "acked";

/// Errors of the disk queue.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// I/O failed.
    #[error("disk buffer {path}: {source}; check the buffer directory is writable and has space")]
    Io {
        /// The file or directory.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DiskError + '_ {
    move |source| DiskError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[derive(Debug)]
struct Segment {
    first: u64,
    records: u64,
    bytes: u64,
    path: PathBuf,
}

/// The queue. Not thread-safe by itself: the spill buffer holds it under a mutex.
#[derive(Debug)]
pub struct DiskQueue {
    dir: PathBuf,
    max_bytes: u64,
    segments: VecDeque<Segment>,
    writer: Option<File>,
    next_index: u64,
    read_index: u64,
    reader: Option<(u64, BufReader<File>)>,
    acked_upto: u64,
    acked_ahead: BTreeSet<u64>,
    total_bytes: u64,
    acked_dirty: bool,
    corrupt: u64,
}

impl DiskQueue {
    /// Opens (or creates) the queue in `dir`, keeping what an earlier run left unacknowledged
    /// and cutting a record torn by a crash mid-write.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Self, DiskError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let acked_path = dir.join(ACKED_FILE);
        let acked_upto = match std::fs::read_to_string(&acked_path) {
            Ok(text) => text.trim().parse().unwrap_or_else(|_| {
                // Replaying from the start duplicates what was delivered, and loses nothing.
                tracing::error!(path = %acked_path.display(), "disk buffer: the acknowledged-prefix pointer is corrupt; replaying every record on disk");
                0
            }),
            Err(_) => 0,
        };
        let mut firsts = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
            let entry = entry.map_err(io_err(dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(first) = name
                .strip_prefix("seg-")
                .and_then(|n| n.strip_suffix(".buf"))
                .and_then(|n| n.parse::<u64>().ok())
            {
                firsts.push(first);
            }
        }
        firsts.sort_unstable();
        let mut queue = Self {
            dir: dir.to_path_buf(),
            max_bytes,
            segments: VecDeque::new(),
            writer: None,
            next_index: acked_upto,
            read_index: acked_upto,
            reader: None,
            acked_upto,
            acked_ahead: BTreeSet::new(),
            total_bytes: 0,
            acked_dirty: false,
            corrupt: 0,
        };
        for first in firsts {
            let path = segment_path(dir, first);
            let (records, good_bytes) = scan_segment(&path)?;
            let len = std::fs::metadata(&path).map_err(io_err(&path))?.len();
            if good_bytes < len {
                tracing::warn!(path = %path.display(), "disk buffer: cutting a record torn by a crash");
                let file = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io_err(&path))?;
                file.set_len(good_bytes).map_err(io_err(&path))?;
            }
            if first + records <= acked_upto || records == 0 {
                std::fs::remove_file(&path).map_err(io_err(&path))?;
                continue;
            }
            queue.next_index = queue.next_index.max(first + records);
            queue.total_bytes += good_bytes;
            queue.segments.push_back(Segment {
                first,
                records,
                bytes: good_bytes,
                path,
            });
        }
        if let Some(first) = queue.segments.front().map(|s| s.first) {
            queue.read_index = queue.acked_upto.max(first);
        }
        Ok(queue)
    }

    /// Records written and not yet handed to the reader.
    pub fn unread(&self) -> u64 {
        self.next_index - self.read_index
    }

    /// Bytes on disk.
    pub fn bytes(&self) -> u64 {
        self.total_bytes
    }

    /// True when `events` fit under the size bound.
    pub fn has_room(&self, events: &[LogEvent]) -> bool {
        self.total_bytes + encoded_len(events) as u64 <= self.max_bytes || self.total_bytes == 0
    }

    /// Appends one group (written through to the OS, so a killed process loses nothing).
    pub fn append(&mut self, events: &[LogEvent]) -> Result<u64, DiskError> {
        let needs_new = match self.segments.back() {
            Some(seg) => self.writer.is_none() || seg.bytes >= SEGMENT_BYTES,
            None => true,
        };
        if needs_new {
            if let Some(writer) = self.writer.take() {
                let _ = writer.sync_data();
            }
            let path = segment_path(&self.dir, self.next_index);
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io_err(&path))?;
            self.segments.push_back(Segment {
                first: self.next_index,
                records: 0,
                bytes: 0,
                path,
            });
            self.writer = Some(file);
        }
        let record = encode(events);
        let (Some(writer), Some(seg)) = (self.writer.as_mut(), self.segments.back_mut()) else {
            return Ok(self.next_index);
        };
        writer.write_all(&record).map_err(io_err(&seg.path))?;
        seg.records += 1;
        seg.bytes += record.len() as u64;
        self.total_bytes += record.len() as u64;
        let index = self.next_index;
        self.next_index += 1;
        Ok(index)
    }

    /// The next unread group and its index. A corrupt record is skipped (logged, counted in
    /// [`DiskQueue::corrupt_records`], and released as if delivered: it cannot be), and the
    /// records after it are still read.
    pub fn read_next(&mut self) -> Result<Option<(u64, Vec<LogEvent>)>, DiskError> {
        loop {
            if self.read_index >= self.next_index {
                return Ok(None);
            }
            let Some(seg) = self
                .segments
                .iter()
                .find(|s| s.first <= self.read_index && self.read_index < s.first + s.records)
            else {
                return Ok(None);
            };
            let reopen = match &self.reader {
                Some((first, _)) => *first != seg.first,
                None => true,
            };
            let path = seg.path.clone();
            if reopen {
                let file = File::open(&path).map_err(io_err(&path))?;
                let mut reader = BufReader::new(file);
                // Skip the records of this segment already read (after a restart).
                for _ in seg.first..self.read_index {
                    read_record(&mut reader).map_err(io_err(&path))?;
                }
                self.reader = Some((seg.first, reader));
            }
            let Some((_, reader)) = self.reader.as_mut() else {
                return Ok(None);
            };
            let index = self.read_index;
            match read_record(reader).map_err(io_err(&path))? {
                Record::Good(payload) => {
                    self.read_index += 1;
                    return Ok(Some((index, decode(&payload))));
                }
                Record::Corrupt => {
                    self.read_index += 1;
                    self.corrupt += 1;
                    tracing::error!(path = %path.display(), record = index, "disk buffer: skipping a record whose checksum does not match; its events are lost, the rest is kept");
                    self.ack(index)?;
                }
                Record::End => return Ok(None),
            }
        }
    }

    /// Corrupt records skipped so far.
    pub fn corrupt_records(&self) -> u64 {
        self.corrupt
    }

    /// A group was delivered; frees fully acknowledged segments.
    pub fn ack(&mut self, index: u64) -> Result<(), DiskError> {
        if index < self.acked_upto {
            return Ok(());
        }
        self.acked_ahead.insert(index);
        while self.acked_ahead.remove(&self.acked_upto) {
            self.acked_upto += 1;
            self.acked_dirty = true;
        }
        // Persisted at every advance, not only when a segment goes: after a crash the queue
        // replays only what no sink confirmed, not the delivered part of a segment.
        self.save_acked()?;
        while let Some(seg) = self.segments.front() {
            let done = seg.first + seg.records <= self.acked_upto;
            let is_writing = self.segments.len() == 1 && self.writer.is_some();
            if !done
                || (is_writing && seg.bytes < SEGMENT_BYTES && self.read_index < self.next_index)
            {
                break;
            }
            if is_writing {
                self.writer = None;
            }
            if self
                .reader
                .as_ref()
                .is_some_and(|(first, _)| *first == seg.first)
            {
                self.reader = None;
            }
            std::fs::remove_file(&seg.path).map_err(io_err(&seg.path))?;
            self.total_bytes -= seg.bytes;
            self.segments.pop_front();
            self.save_acked()?;
        }
        Ok(())
    }

    /// Persists the acknowledged prefix (temp file + rename).
    pub fn save_acked(&mut self) -> Result<(), DiskError> {
        if !self.acked_dirty {
            return Ok(());
        }
        let path = self.dir.join(ACKED_FILE);
        let tmp = self.dir.join("acked.tmp");
        std::fs::write(&tmp, self.acked_upto.to_string()).map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
        self.acked_dirty = false;
        Ok(())
    }

    /// Flushes to stable storage at shutdown.
    pub fn sync(&mut self) -> Result<(), DiskError> {
        if let Some(writer) = &self.writer {
            writer.sync_data().map_err(io_err(&self.dir))?;
        }
        self.save_acked()
    }
}

fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("seg-{first:020}.buf"))
}

fn encoded_len(events: &[LogEvent]) -> usize {
    HEADER_BYTES + 4 + events.iter().map(|e| 12 + e.message.len()).sum::<usize>()
}

fn encode(events: &[LogEvent]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(encoded_len(events));
    payload.extend_from_slice(&(events.len() as u32).to_le_bytes());
    for event in events {
        payload.extend_from_slice(&event.timestamp_ms.to_le_bytes());
        payload.extend_from_slice(&(event.message.len() as u32).to_le_bytes());
        payload.extend_from_slice(event.message.as_bytes());
    }
    let mut record = Vec::with_capacity(HEADER_BYTES + payload.len());
    record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    record.extend_from_slice(&fingerprint(&payload).to_le_bytes());
    record.extend_from_slice(&payload);
    record
}

fn decode(payload: &[u8]) -> Vec<LogEvent> {
    let mut events = Vec::new();
    let take = |pos: &mut usize, n: usize| -> Option<&[u8]> {
        let slice = payload.get(*pos..*pos + n)?;
        *pos += n;
        Some(slice)
    };
    let mut pos = 0;
    let Some(count) = take(&mut pos, 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
    else {
        return events;
    };
    for _ in 0..count {
        let Some(ts) = take(&mut pos, 8)
            .and_then(|b| b.try_into().ok())
            .map(i64::from_le_bytes)
        else {
            break;
        };
        let Some(len) = take(&mut pos, 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
        else {
            break;
        };
        let Some(bytes) = take(&mut pos, len as usize) else {
            break;
        };
        events.push(LogEvent {
            timestamp_ms: ts,
            message: String::from_utf8_lossy(bytes).into_owned(),
            ack: None,
        });
    }
    events
}

/// What the next bytes of a segment hold.
enum Record {
    /// A record whose checksum matches.
    Good(Vec<u8>),
    /// A whole record (its length is readable and its bytes are there) whose checksum does
    /// not match: skipped and counted, the records after it are still read.
    Corrupt,
    /// The clean end, or a torn tail (a crash mid-write): nothing more to read.
    End,
}

/// Reads one record.
fn read_record(reader: &mut impl Read) -> std::io::Result<Record> {
    let mut header = [0u8; HEADER_BYTES];
    if !read_exact_or_eof(reader, &mut header)? {
        return Ok(Record::End);
    }
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    if len as u64 > SEGMENT_BYTES + MAX_RECORD_SLACK {
        // A length no writer produced: the framing is lost from here on.
        return Ok(Record::End);
    }
    let sum = u64::from_le_bytes(header[4..12].try_into().unwrap_or([0; 8]));
    let mut payload = vec![0u8; len];
    if !read_exact_or_eof(reader, &mut payload)? {
        return Ok(Record::End);
    }
    if fingerprint(&payload) != sum {
        return Ok(Record::Corrupt);
    }
    Ok(Record::Good(payload))
}

fn read_exact_or_eof(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => return Ok(false),
            Ok(n) => filled += n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(true)
}

/// Counts the records of a segment (corrupt ones included, so indices stay aligned) and the
/// bytes they take, up to a torn tail.
fn scan_segment(path: &Path) -> Result<(u64, u64), DiskError> {
    let mut file = File::open(path).map_err(io_err(path))?;
    file.seek(SeekFrom::Start(0)).map_err(io_err(path))?;
    let mut reader = BufReader::new(file);
    let mut records = 0;
    let mut bytes = 0u64;
    loop {
        match read_record(&mut reader).map_err(io_err(path))? {
            Record::End => break,
            Record::Good(_) | Record::Corrupt => {
                records += 1;
                bytes = reader.stream_position().map_err(io_err(path))?;
            }
        }
    }
    Ok((records, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(tag: &str, n: usize) -> Vec<LogEvent> {
        (0..n)
            .map(|i| LogEvent {
                timestamp_ms: i as i64,
                message: format!("{tag}-{i}"),
                ack: None,
            })
            .collect()
    }

    fn messages(events: &[LogEvent]) -> Vec<String> {
        events.iter().map(|e| e.message.clone()).collect()
    }

    #[test]
    fn fifo_round_trip_and_space_comes_back_on_ack() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = DiskQueue::open(dir.path(), 1 << 30).unwrap();
        q.append(&group("a", 3)).unwrap();
        q.append(&group("b", 2)).unwrap();
        assert_eq!(q.unread(), 2);
        let (i, first) = q.read_next().unwrap().unwrap();
        assert_eq!(
            (i, messages(&first)),
            (0, vec!["a-0".into(), "a-1".into(), "a-2".into()])
        );
        let (j, second) = q.read_next().unwrap().unwrap();
        assert_eq!(j, 1);
        assert_eq!(second[1].timestamp_ms, 1);
        assert!(q.read_next().unwrap().is_none());
        assert!(q.bytes() > 0);
        q.ack(1).unwrap();
        q.ack(0).unwrap();
        assert_eq!(q.bytes(), 0, "fully acknowledged: segment deleted");
    }

    #[test]
    fn a_restart_replays_only_what_was_not_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut q = DiskQueue::open(dir.path(), 1 << 30).unwrap();
            for tag in ["a", "b", "c"] {
                q.append(&group(tag, 1)).unwrap();
            }
            q.read_next().unwrap();
            q.read_next().unwrap();
            q.ack(0).unwrap();
            q.sync().unwrap();
        }
        let mut q = DiskQueue::open(dir.path(), 1 << 30).unwrap();
        assert_eq!(
            q.unread(),
            2,
            "b was read but not acknowledged: it comes back"
        );
        let (i, events) = q.read_next().unwrap().unwrap();
        assert_eq!((i, messages(&events)), (1, vec!["b-0".to_owned()]));
        let (i, events) = q.read_next().unwrap().unwrap();
        assert_eq!((i, messages(&events)), (2, vec!["c-0".to_owned()]));
    }

    #[test]
    fn acknowledgements_survive_a_crash_without_a_clean_sync() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut q = DiskQueue::open(dir.path(), 1 << 30).unwrap();
            for tag in ["a", "b", "c"] {
                q.append(&group(tag, 1)).unwrap();
            }
            q.read_next().unwrap();
            q.read_next().unwrap();
            q.ack(0).unwrap();
            q.ack(1).unwrap();
            // Killed: no sync, and the segment is still open (nothing deleted).
        }
        let mut q = DiskQueue::open(dir.path(), 1 << 30).unwrap();
        assert_eq!(q.unread(), 1, "only c was never delivered");
        let (i, events) = q.read_next().unwrap().unwrap();
        assert_eq!((i, messages(&events)), (2, vec!["c-0".to_owned()]));
    }

    #[test]
    fn a_torn_last_record_is_cut_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut q = DiskQueue::open(dir.path(), 1 << 30).unwrap();
            q.append(&group("a", 1)).unwrap();
            q.append(&group("b", 1)).unwrap();
        }
        let seg = segment_path(dir.path(), 0);
        let len = std::fs::metadata(&seg).unwrap().len();
        let file = OpenOptions::new().write(true).open(&seg).unwrap();
        file.set_len(len - 3).unwrap();
        let mut q = DiskQueue::open(dir.path(), 1 << 30).unwrap();
        assert_eq!(q.unread(), 1);
        assert_eq!(
            messages(&q.read_next().unwrap().unwrap().1),
            vec!["a-0".to_owned()]
        );
        q.append(&group("c", 1)).unwrap();
        assert_eq!(
            messages(&q.read_next().unwrap().unwrap().1),
            vec!["c-0".to_owned()]
        );
    }

    /// Flips one payload byte of record `n` (0-based) of the first segment.
    fn corrupt_record(dir: &Path, n: usize) {
        let seg = segment_path(dir, 0);
        let mut bytes = std::fs::read(&seg).unwrap();
        let mut at = 0;
        for _ in 0..n {
            let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            at += HEADER_BYTES + len;
        }
        bytes[at + HEADER_BYTES + 5] ^= 0xff;
        std::fs::write(&seg, bytes).unwrap();
    }

    #[test]
    fn a_corrupt_record_is_skipped_counted_and_the_rest_delivered() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut q = DiskQueue::open(dir.path(), 1 << 30).unwrap();
            for tag in ["a", "b", "c", "d"] {
                q.append(&group(tag, 2)).unwrap();
            }
        }
        corrupt_record(dir.path(), 1);
        let mut q = DiskQueue::open(dir.path(), 1 << 30).unwrap();
        assert_eq!(q.unread(), 4, "the corrupt record keeps its place");
        let mut seen = Vec::new();
        while let Some((i, events)) = q.read_next().unwrap() {
            seen.push((i, messages(&events)[0].clone()));
        }
        assert_eq!(
            seen,
            vec![(0, "a-0".into()), (2, "c-0".into()), (3, "d-0".into())]
        );
        assert_eq!(q.corrupt_records(), 1);
        // Delivering the rest frees the segment: the skipped record does not pin it.
        for i in [0, 2, 3] {
            q.ack(i).unwrap();
        }
        q.append(&group("e", 1)).unwrap();
        assert_eq!(
            messages(&q.read_next().unwrap().unwrap().1),
            vec!["e-0".to_owned()]
        );
    }

    #[test]
    fn a_corrupt_pointer_file_replays_everything_and_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut q = DiskQueue::open(dir.path(), 1 << 30).unwrap();
            for tag in ["a", "b", "c"] {
                q.append(&group(tag, 1)).unwrap();
            }
            q.read_next().unwrap();
            q.ack(0).unwrap();
        }
        std::fs::write(dir.path().join(ACKED_FILE), "not a number\u{0}").unwrap();
        let mut q = DiskQueue::open(dir.path(), 1 << 30).unwrap();
        assert_eq!(
            q.unread(),
            3,
            "a delivered record comes back: a duplicate, not a loss"
        );
        let first = q.read_next().unwrap().unwrap();
        assert_eq!((first.0, messages(&first.1)), (0, vec!["a-0".to_owned()]));
    }

    #[test]
    fn segments_roll_over_and_are_freed_and_replayed_in_order() {
        let dir = tempfile::tempdir().unwrap();
        // ~64 KiB groups: 200 of them span two 8 MiB segments.
        let big = |i: usize| {
            vec![LogEvent {
                timestamp_ms: i as i64,
                message: format!("{i:06}-{}", "x".repeat(64 * 1024)),
                ack: None,
            }]
        };
        let groups = 200;
        {
            let mut q = DiskQueue::open(dir.path(), 1 << 30).unwrap();
            for i in 0..groups {
                q.append(&big(i)).unwrap();
            }
            let segments = std::fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .starts_with("seg-")
                })
                .count();
            assert_eq!(segments, 2, "rolled over past SEGMENT_BYTES");
            // Deliver the whole first segment and a few records of the second.
            let first_len = q.segments[0].records as usize;
            for _ in 0..first_len + 3 {
                let (i, _) = q.read_next().unwrap().unwrap();
                q.ack(i).unwrap();
            }
            assert_eq!(q.segments.len(), 1, "the delivered segment is deleted");
            // Killed here.
        }
        let mut q = DiskQueue::open(dir.path(), 1 << 30).unwrap();
        let mut replayed = Vec::new();
        while let Some((_, events)) = q.read_next().unwrap() {
            replayed.push(events[0].timestamp_ms);
        }
        let first = replayed[0] as usize;
        assert_eq!(replayed, (first as i64..groups as i64).collect::<Vec<_>>());
        assert!(
            first > 100,
            "only the undelivered tail comes back: from {first}"
        );
    }

    #[test]
    fn the_size_bound_is_enforced() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = DiskQueue::open(dir.path(), 200).unwrap();
        let g = group("x", 5);
        assert!(q.has_room(&g));
        q.append(&g).unwrap();
        assert!(!q.has_room(&group("y", 20)));
    }
}
