//! What the structured sources (fluent forward, OTLP) share: their lines cut into chunks, the
//! acknowledgement their clients wait for, and the event time as the line's RFC 3339
//! `timestamp`.

use std::sync::Mutex;

use time::format_description::well_known::Rfc3339;
use tokio::sync::oneshot;

use super::RawChunk;
use crate::cut::boundary_cut;
use crate::event::{Ack, AckGate, AckTarget};

/// Appends `line` to the last chunk of `chunks` (starting a new one when it is full), cut into
/// pieces of at most `max_line_bytes` between two tokens, as the line sources cut.
pub fn push_cut_line(chunks: &mut Vec<RawChunk>, line: &[u8], max_line_bytes: usize) {
    let mut rest = line;
    loop {
        let (head, tail) = rest.split_at(boundary_cut(rest, max_line_bytes.max(1)));
        if chunks.last().is_none_or(RawChunk::is_full) {
            chunks.push(RawChunk::default());
        }
        if let Some(chunk) = chunks.last_mut() {
            chunk.push_line(head);
        }
        if tail.is_empty() {
            return;
        }
        rest = tail;
    }
}

/// Tells a waiting client whether the pipeline accepted its events: delivered by every sink
/// or held on disk (the same moment a file source's checkpoint moves).
#[derive(Debug)]
struct Accepted(Mutex<Option<oneshot::Sender<bool>>>);

impl AckTarget for Accepted {
    fn complete(&self, delivered: bool) {
        if let Some(tx) = self.0.lock().ok().and_then(|mut tx| tx.take()) {
            let _ = tx.send(delivered);
        }
    }
}

/// An acknowledgement for one client request and the receiver that hears the verdict (an
/// error when the run ended first: not accepted).
pub fn acceptance(gate: &AckGate) -> (Ack, oneshot::Receiver<bool>) {
    let (tx, rx) = oneshot::channel();
    (Ack::new(Accepted(Mutex::new(Some(tx))), gate), rx)
}

/// RFC 3339 UTC with nanoseconds; the epoch for a time the calendar cannot hold.
pub fn rfc3339_ns(time_ns: i128) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(time_ns)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_and_full_chunks_closed() {
        let mut chunks = Vec::new();
        push_cut_line(&mut chunks, b"aaaa bbbb cccc", 5);
        let lines: Vec<&[u8]> = chunks[0].lines().collect();
        assert_eq!(lines, vec![&b"aaaa "[..], b"bbbb ", b"cccc"]);
        for _ in 0..super::super::CHUNK_MAX_LINES {
            push_cut_line(&mut chunks, b"x", 5);
        }
        assert_eq!(chunks.len(), 2);
        assert!(chunks[0].is_full());
    }

    #[test]
    fn times_are_rfc3339_with_nanoseconds() {
        assert_eq!(
            rfc3339_ns(1_795_568_523_456_000_001),
            "2026-11-25T01:02:03.456000001Z"
        );
        assert_eq!(rfc3339_ns(i128::MAX), "1970-01-01T00:00:00Z");
    }
}
