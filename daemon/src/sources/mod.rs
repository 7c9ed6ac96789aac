//! Sources read log lines (stdin, file tail, TCP, Fluent forward, OTLP/HTTP) and hand them downstream as `RawChunk`s.

pub mod checkpoint;
pub mod file;
pub mod fluent;
pub mod otlp;
pub mod stdin;
mod structured;
pub mod tcp;

use serde::{Deserialize, Serialize};

use crate::cut::boundary_cut;
use crate::event::Ack;

/// Lines per chunk: large enough to amortise channel hand-offs, small enough to keep latency
/// and the memory held per chunk low.
pub const CHUNK_MAX_LINES: usize = 1024;
/// Bytes per chunk, for the same reasons.
pub const CHUNK_MAX_BYTES: usize = 256 * 1024;
/// A line longer than this is cut into pieces as it is read, so one runaway line cannot hold
/// unbounded memory; each piece stays an event (nothing is dropped). It is the redactor's
/// default line limit too (one definition, in `aistudio_core::limits`), so every piece is
/// redacted rather than replaced whole.
pub use aistudio_core::limits::DEFAULT_MAX_LINE_BYTES;

/// Lines read together, with the acknowledgement their source waits for.
#[derive(Debug, Default)]
pub struct RawChunk {
    /// The lines' bytes, back to back, without newlines.
    pub data: Vec<u8>,
    /// `(start, end)` of each line in `data`.
    pub spans: Vec<(usize, usize)>,
    /// When the chunk was read (epoch ms), the timestamp of lines that carry none.
    pub read_at_ms: i64,
    /// Released once every sink acknowledged every event of this chunk.
    pub ack: Option<Ack>,
    /// A JSON member that belongs at the end of some of the lines but is not in their bytes
    /// (the fluent source's `"tag":…`, the same for a whole frame): the processor redacts it
    /// once a chunk, not once a line (`redact::TrailingMember`).
    member: Option<ChunkMember>,
}

/// A chunk's trailing member and the lines it belongs to.
#[derive(Debug)]
struct ChunkMember {
    /// The member's JSON text.
    text: String,
    /// For each line, whether the member belongs at its end.
    lines: Vec<bool>,
}

impl RawChunk {
    /// Appends one line.
    pub fn push_line(&mut self, line: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(line);
        self.push_span(start, self.data.len());
    }

    /// Adds the line `data[start..end]`, already written.
    pub fn push_span(&mut self, start: usize, end: usize) {
        self.spans.push((start, end));
        if let Some(member) = &mut self.member {
            member.lines.push(false);
        }
    }

    /// Adds the line `data[start..end]`, already written, with `member` at its end. False, and
    /// nothing added, when the chunk's lines already carry another member.
    pub fn push_span_with_member(&mut self, start: usize, end: usize, member: &str) -> bool {
        let lines = self.spans.len();
        let chunk_member = self.member.get_or_insert_with(|| ChunkMember {
            text: member.to_owned(),
            lines: vec![false; lines],
        });
        if chunk_member.text != member {
            return false;
        }
        chunk_member.lines.push(true);
        self.spans.push((start, end));
        true
    }

    /// The member some lines carry at their end, if any.
    pub fn member(&self) -> Option<&str> {
        self.member.as_ref().map(|m| m.text.as_str())
    }

    /// The lines in order, their trailing member left out.
    #[cfg(test)]
    pub fn lines(&self) -> impl Iterator<Item = &[u8]> {
        self.spans.iter().map(|&(s, e)| &self.data[s..e])
    }

    /// The lines in order, each with whether the chunk's [`RawChunk::member`] belongs at its
    /// end.
    pub fn lines_with_member(&self) -> impl Iterator<Item = (&[u8], bool)> {
        self.spans.iter().enumerate().map(|(i, &(s, e))| {
            let with = self
                .member
                .as_ref()
                .is_some_and(|m| m.lines.get(i).copied().unwrap_or(false));
            (&self.data[s..e], with)
        })
    }

    /// The lines as shipped before redaction: each with its member spliced in.
    #[cfg(any(test, feature = "testing"))]
    pub fn whole_lines(&self) -> impl Iterator<Item = Vec<u8>> + '_ {
        self.lines_with_member().map(|(line, with)| {
            let mut line = line.to_vec();
            if let (true, Some(member)) = (with, self.member()) {
                crate::redact::splice_member_bytes(&mut line, member);
            }
            line
        })
    }

    /// Number of lines.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// True when the chunk holds no line.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// True when the chunk should be sent before taking more lines.
    pub fn is_full(&self) -> bool {
        self.spans.len() >= CHUNK_MAX_LINES || self.data.len() >= CHUNK_MAX_BYTES
    }
}

/// Splits a byte stream into lines, carrying a partial last line over to the next read.
#[derive(Debug)]
pub struct LineSplitter {
    partial: Vec<u8>,
    max_line_bytes: usize,
}

impl LineSplitter {
    /// A splitter that cuts lines longer than `max_line_bytes`.
    pub fn new(max_line_bytes: usize) -> Self {
        Self {
            partial: Vec::new(),
            max_line_bytes: max_line_bytes.max(1),
        }
    }

    /// Feeds `bytes`; calls `on_line` with every complete line and the number of input bytes
    /// consumed so far in this call (including its newline).
    pub fn feed(&mut self, mut bytes: &[u8], mut on_line: impl FnMut(&[u8], usize)) {
        let total = bytes.len();
        while let Some(pos) = memchr::memchr(b'\n', bytes) {
            let consumed = total - bytes.len() + pos + 1;
            if self.partial.is_empty() {
                self.emit_cut(&bytes[..pos], consumed, &mut on_line);
            } else {
                self.partial.extend_from_slice(&bytes[..pos]);
                let line = std::mem::take(&mut self.partial);
                self.emit_cut(&line, consumed, &mut on_line);
            }
            bytes = &bytes[pos + 1..];
        }
        self.partial.extend_from_slice(bytes);
        while self.partial.len() > self.max_line_bytes {
            // A runaway line: emit its head now; the offset does not move past it, because the
            // line is not complete, so a restart re-reads it whole. The head ends between two
            // tokens, so no secret is redacted in two halves.
            let cut = boundary_cut(&self.partial, self.max_line_bytes);
            let rest = self.partial.split_off(cut);
            let head = std::mem::replace(&mut self.partial, rest);
            on_line(&head, total - bytes.len());
        }
    }

    /// Emits `line` in pieces of at most `max_line_bytes`, each cut between two tokens (or,
    /// for a single longer token, on a character boundary).
    fn emit_cut(&self, line: &[u8], consumed: usize, on_line: &mut impl FnMut(&[u8], usize)) {
        let mut rest = line;
        while rest.len() > self.max_line_bytes {
            let (head, tail) = rest.split_at(boundary_cut(rest, self.max_line_bytes));
            on_line(head, consumed);
            rest = tail;
        }
        on_line(rest, consumed);
    }

    /// The bytes of an unfinished last line, if any (emitted at end of input).
    pub fn take_partial(&mut self) -> Option<Vec<u8>> {
        if self.partial.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.partial))
        }
    }

    #[cfg(test)]
    /// Bytes held for an unfinished line.
    pub fn partial_len(&self) -> usize {
        self.partial.len()
    }

    /// Forgets any unfinished line (after a truncation).
    pub fn clear(&mut self) {
        self.partial.clear();
    }
}

/// Where a file source starts in a file it has never seen before.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadFrom {
    /// From the first byte (nothing the server wrote before the sidecar started is lost).
    #[default]
    Beginning,
    /// From the current end (only lines written from now on).
    End,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(splitter: &mut LineSplitter, input: &[u8]) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        splitter.feed(input, |line, consumed| {
            out.push((String::from_utf8_lossy(line).into_owned(), consumed))
        });
        out
    }

    #[test]
    fn splits_lines_and_carries_partials_across_reads() {
        let mut s = LineSplitter::new(1024);
        assert_eq!(
            split(&mut s, b"one\ntwo\nthr"),
            vec![("one".into(), 4), ("two".into(), 8)]
        );
        assert_eq!(s.partial_len(), 3);
        assert_eq!(
            split(&mut s, b"ee\n\n"),
            vec![("three".into(), 3), ("".into(), 4)]
        );
        assert_eq!(s.take_partial(), None);
    }

    #[test]
    fn cuts_runaway_lines_without_losing_bytes() {
        let mut s = LineSplitter::new(4);
        let got = split(&mut s, b"abcdefghij\nxy");
        let text: Vec<&str> = got.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(text, vec!["abcd", "efgh", "ij"]);
        let got = split(&mut s, b"zzzzzz");
        let text: Vec<&str> = got.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(text, vec!["xyzz"]);
        assert_eq!(s.take_partial(), Some(b"zzzz".to_vec()));
    }

    #[test]
    fn long_lines_are_cut_between_tokens_so_no_secret_is_halved() {
        // Complete line and runaway partial alike: `password=hunter2zz` and the card's digit
        // groups straddle the 24-byte limit, and each stays whole in one piece.
        for input in [
            &b"retry budget spent, password=hunter2zz card 4111 1111 1111 1111\n"[..],
            &b"retry budget spent, password=hunter2zz card 4111 1111 1111 1111"[..],
        ] {
            let mut s = LineSplitter::new(24);
            let mut pieces: Vec<String> =
                split(&mut s, input).into_iter().map(|(l, _)| l).collect();
            pieces.extend(
                s.take_partial()
                    .map(|p| String::from_utf8_lossy(&p).into_owned()),
            );
            assert!(pieces.iter().all(|p| p.len() <= 24), "{pieces:?}");
            assert_eq!(
                pieces.concat().as_bytes(),
                input.strip_suffix(b"\n").unwrap_or(input)
            );
            assert!(
                pieces.iter().any(|p| p.contains("password=hunter2zz")),
                "{pieces:?}"
            );
            assert!(!pieces.iter().any(|p| p.ends_with("4111 1")), "{pieces:?}");
        }
    }

    #[test]
    fn source_line_limit_matches_the_redactors() {
        let redact = crate::redact::RedactConfig::default();
        assert_eq!(DEFAULT_MAX_LINE_BYTES, redact.max_line_bytes);
    }

    #[test]
    fn chunk_keeps_line_order() {
        let mut chunk = RawChunk::default();
        chunk.push_line(b"a");
        chunk.push_line(b"");
        chunk.push_line(b"ccc");
        let lines: Vec<&[u8]> = chunk.lines().collect();
        assert_eq!(lines, vec![&b"a"[..], b"", b"ccc"]);
        assert_eq!(chunk.len(), 3);
    }
}
