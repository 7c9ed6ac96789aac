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
        open_chunk(chunks).push_line(head);
        if tail.is_empty() {
            return;
        }
        rest = tail;
    }
}

/// [`push_cut_line`] for a line `write` appends: written into the last chunk's data in place,
/// not built elsewhere and copied. A line longer than `max_line_bytes` is taken out again and
/// cut as [`push_cut_line`] cuts it.
pub fn push_written_line(
    chunks: &mut Vec<RawChunk>,
    max_line_bytes: usize,
    write: impl FnOnce(&mut Vec<u8>),
) {
    let chunk = open_chunk(chunks);
    let start = chunk.data.len();
    write(&mut chunk.data);
    finish_written(chunks, start, max_line_bytes);
}

/// [`push_written_line`] for a line that ends with `member` (the same for a whole frame):
/// `without` writes the line without it and says whether it belongs, and the member is left
/// to the processor (see `RawChunk::member`). A line that is too long with it, or that shares
/// a chunk with another member, is written again by `with`, member included, and cut as
/// [`push_cut_line`] cuts.
pub fn push_line_with_member(
    chunks: &mut Vec<RawChunk>,
    max_line_bytes: usize,
    member: &str,
    without: impl FnOnce(&mut Vec<u8>) -> bool,
    with: impl FnOnce(&mut Vec<u8>),
) {
    let chunk = open_chunk(chunks);
    let start = chunk.data.len();
    if !without(&mut chunk.data) {
        finish_written(chunks, start, max_line_bytes);
        return;
    }
    let end = chunk.data.len();
    let fits = end - start + 1 + member.len() <= max_line_bytes.max(1);
    if fits && chunk.data.last() == Some(&b'}') && chunk.push_span_with_member(start, end, member) {
        return;
    }
    chunk.data.truncate(start);
    with(&mut chunk.data);
    finish_written(chunks, start, max_line_bytes);
}

/// The chunk the next line goes into: the last one, or a new one when it is full.
fn open_chunk(chunks: &mut Vec<RawChunk>) -> &mut RawChunk {
    if chunks.last().is_none_or(RawChunk::is_full) {
        chunks.push(RawChunk::default());
    }
    let last = chunks.len() - 1;
    &mut chunks[last]
}

/// Adds the line written at `start` of the last chunk's data, cut when it is too long.
fn finish_written(chunks: &mut Vec<RawChunk>, start: usize, max_line_bytes: usize) {
    let Some(chunk) = chunks.last_mut() else {
        return;
    };
    let end = chunk.data.len();
    if end - start <= max_line_bytes.max(1) {
        chunk.push_span(start, end);
        return;
    }
    let line = chunk.data.split_off(start);
    if chunk.is_empty() {
        chunks.pop();
    }
    push_cut_line(chunks, &line, max_line_bytes);
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
    fn a_line_written_in_place_is_chunked_and_cut_as_a_copied_one() {
        let mut rng = crate::test_rng::TestRng(0x5eed_c0de_0000_0001);
        let (mut copied, mut written) = (Vec::new(), Vec::new());
        for _ in 0..3 * super::super::CHUNK_MAX_LINES {
            let line: Vec<u8> = (0..rng.below(24))
                .map(|_| b"ab c\xc3\xa9"[rng.below(6)])
                .collect();
            push_cut_line(&mut copied, &line, 7);
            push_written_line(&mut written, 7, |out| out.extend_from_slice(&line));
        }
        let view = |chunks: &[RawChunk]| -> Vec<Vec<Vec<u8>>> {
            chunks
                .iter()
                .map(|c| c.lines().map(<[u8]>::to_vec).collect())
                .collect()
        };
        assert!(copied.len() > 3, "{} chunks", copied.len());
        assert_eq!(view(&copied), view(&written));
    }

    #[test]
    fn a_member_left_to_the_processor_makes_the_same_lines_as_one_written_inline() {
        let mut rng = crate::test_rng::TestRng(0x5eed_c0de_0000_0002);
        let (mut inline, mut trailing) = (Vec::new(), Vec::new());
        let mut kept_out = 0;
        for n in 0..3 * super::super::CHUNK_MAX_LINES {
            let body = "x".repeat(rng.below(40));
            // a frame's tag changes now and then; a line with a tag of its own takes none
            let member = format!("\"tag\":\"t{}\"", n / 700);
            let own_tag = rng.below(5) == 0;
            let line = format!("{{\"m\":\"{body}\"}}");
            let mut whole = line.clone().into_bytes();
            if !own_tag {
                crate::redact::splice_member_bytes(&mut whole, &member);
            }
            push_cut_line(&mut inline, &whole, 48);
            push_line_with_member(
                &mut trailing,
                48,
                &member,
                |out| {
                    out.extend_from_slice(line.as_bytes());
                    !own_tag
                },
                |out| out.extend_from_slice(&whole),
            );
            kept_out += usize::from(
                trailing
                    .last()
                    .is_some_and(|c| c.lines_with_member().last().is_some_and(|(_, with)| with)),
            );
        }
        let view = |chunks: &[RawChunk]| -> Vec<Vec<Vec<u8>>> {
            chunks.iter().map(|c| c.whole_lines().collect()).collect()
        };
        assert_eq!(view(&inline), view(&trailing));
        // most lines leave the member out; the long ones, and the rest of a chunk once the
        // tag changed in it, do not
        assert!(
            kept_out > super::super::CHUNK_MAX_LINES / 2,
            "{kept_out} left out"
        );
        assert!(
            kept_out < 3 * super::super::CHUNK_MAX_LINES,
            "{kept_out} left out"
        );
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
