//! Turns raw line bytes into `LogEvent`s: timestamp, redaction, and CloudWatch's size limit.

use crate::cut::boundary_cut;
use crate::event::{Ack, LogEvent};
use crate::redact::{Redactor, TrailingMember};

/// Largest message CloudWatch Logs accepts in one event (its one definition is in
/// `aistudio_core::limits`).
pub use aistudio_core::limits::MAX_LOG_EVENT_MESSAGE_BYTES as MAX_EVENT_MESSAGE_BYTES;

/// Room kept at the end of a split piece for the continuation marker.
const SPLIT_MARKER_RESERVE: usize = 64;

/// Decodes and redacts lines, one event per line (more only when a line is over the limit).
#[derive(Debug, Clone)]
pub struct Decoder {
    redactor: std::sync::Arc<Redactor>,
    max_message_bytes: usize,
}

impl Decoder {
    /// A decoder using `redactor`.
    pub fn new(redactor: std::sync::Arc<Redactor>) -> Self {
        Self {
            redactor,
            max_message_bytes: MAX_EVENT_MESSAGE_BYTES,
        }
    }

    #[cfg(test)]
    /// Lowers the per-event limit (tests prove the split without megabyte lines).
    pub fn with_max_message_bytes(mut self, max: usize) -> Self {
        self.max_message_bytes = max.max(SPLIT_MARKER_RESERVE * 2);
        self
    }

    /// The redactor's view of `text`, a member some lines of a chunk end with.
    pub fn trailing_member(&self, text: &str) -> TrailingMember {
        self.redactor.trailing_member(text)
    }

    /// Decodes one line (without its newline) read at `read_at_ms`, appending to `out`; with
    /// `member`, the line ends with it (it is not in its bytes).
    pub fn decode_into(
        &self,
        line: &[u8],
        member: Option<&TrailingMember>,
        read_at_ms: i64,
        ack: Option<&Ack>,
        out: &mut Vec<LogEvent>,
    ) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        // the member comes after the line's own fields: the timestamp is the line's
        let timestamp_ms = line_timestamp_ms(line).unwrap_or(read_at_ms);
        let message = match member {
            None => self.redactor.redact_line(line),
            Some(member) => {
                let mut message = String::with_capacity(line.len() + member.text().len() + 16);
                self.redactor
                    .redact_line_with_member_into(line, member, &mut message);
                message
            }
        };
        if message.len() <= self.max_message_bytes {
            out.push(LogEvent {
                timestamp_ms,
                message,
                ack: ack.cloned(),
            });
            return;
        }
        let pieces = split_message(&message, self.max_message_bytes - SPLIT_MARKER_RESERVE);
        let total = pieces.len();
        for (index, piece) in pieces.into_iter().enumerate() {
            out.push(LogEvent {
                timestamp_ms,
                message: format!("{piece} [aistudio-sidecar: split {}/{total}]", index + 1),
                ack: ack.cloned(),
            });
        }
    }
}

/// Splits `text` (already redacted) into pieces of at most `max` bytes, each cut at a
/// [`boundary_cut`], so no token and no character is cut in two.
fn split_message(text: &str, max: usize) -> Vec<&str> {
    let mut pieces = Vec::with_capacity(text.len() / max + 1);
    let mut rest = text;
    while rest.len() > max {
        let cut = boundary_cut(rest.as_bytes(), max);
        let (head, tail) = rest.split_at(cut);
        pieces.push(head);
        rest = tail;
    }
    pieces.push(rest);
    pieces
}

/// The value of a top-level-looking `"timestamp":"…"` field, in epoch milliseconds.
/// A byte search, not a JSON parse: the redactor parses the line once already.
pub fn line_timestamp_ms(line: &[u8]) -> Option<i64> {
    const KEY: &[u8] = b"\"timestamp\"";
    // Built once: `memmem::find` builds a searcher per call, 2 % of the W1 pipeline's CPU.
    static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(KEY));
    let start = FINDER.find(line)? + KEY.len();
    let rest = &line[start..];
    let rest = trim_ascii_start(rest).strip_prefix(b":")?;
    let rest = trim_ascii_start(rest).strip_prefix(b"\"")?;
    let end = rest.iter().position(|&b| b == b'"')?;
    parse_rfc3339_ms(std::str::from_utf8(&rest[..end]).ok()?)
}

fn trim_ascii_start(bytes: &[u8]) -> &[u8] {
    let skip = bytes.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &bytes[skip..]
}

/// Parses an RFC 3339 timestamp (`2026-11-25T01:02:03.456Z`, offsets allowed) to epoch ms.
pub fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(range)?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    let mut pos = 19;
    let mut millis = 0i64;
    if b.get(pos) == Some(&b'.') {
        pos += 1;
        let digits = b[pos..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        for (i, digit) in b[pos..pos + digits].iter().take(3).enumerate() {
            millis += i64::from(digit - b'0') * 10i64.pow(2 - i as u32);
        }
        pos += digits;
    }
    let offset_secs = match b.get(pos)? {
        b'Z' | b'z' if pos + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if pos + 6 == b.len() && b[pos + 3] == b':' => {
            let hours = num(pos + 1..pos + 3)?;
            let minutes = num(pos + 4..pos + 6)?;
            let secs = hours * 3600 + minutes * 60;
            if *sign == b'+' {
                secs
            } else {
                -secs
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Some(secs * 1000 + millis)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::RedactConfig;

    fn decoder() -> Decoder {
        let redactor = Redactor::new(&RedactConfig::default()).unwrap();
        Decoder::new(std::sync::Arc::new(redactor))
    }

    #[test]
    fn parses_utc_and_offset_timestamps() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_ms("2026-11-25T01:02:03.456Z"),
            Some(1_795_568_523_456)
        );
        assert_eq!(
            parse_rfc3339_ms("2026-11-25T02:02:03.456+01:00"),
            parse_rfc3339_ms("2026-11-25T01:02:03.456Z")
        );
        assert_eq!(
            parse_rfc3339_ms("2000-02-29T00:00:00.123456789Z"),
            Some(951_782_400_123)
        );
        assert_eq!(parse_rfc3339_ms("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339_ms("not a time at all..."), None);
        assert_eq!(parse_rfc3339_ms("2026-11-25T01:02:03"), None);
    }

    #[test]
    fn takes_the_lines_timestamp_else_the_read_time() {
        let d = decoder();
        let mut out = Vec::new();
        d.decode_into(
            br#"{"timestamp":"1970-01-01T00:00:01.5Z","message":"x"}"#,
            None,
            99,
            None,
            &mut out,
        );
        d.decode_into(b"plain text line", None, 99, None, &mut out);
        assert_eq!(out[0].timestamp_ms, 1500);
        assert_eq!(out[1].timestamp_ms, 99);
        assert_eq!(out[1].message, "plain text line");
    }

    #[test]
    fn oversized_lines_are_split_with_markers_and_nothing_lost() {
        let d = decoder().with_max_message_bytes(200);
        let line: String = "é".repeat(300) + "end";
        let mut out = Vec::new();
        d.decode_into(line.as_bytes(), None, 1, None, &mut out);
        assert!(out.len() > 1);
        let mut joined = String::new();
        for (i, event) in out.iter().enumerate() {
            assert!(event.message.len() <= 200, "{}", event.message.len());
            let marker = format!(" [aistudio-sidecar: split {}/{}]", i + 1, out.len());
            joined.push_str(event.message.strip_suffix(&marker).unwrap());
        }
        assert_eq!(joined, line);
    }

    #[test]
    fn long_lines_are_cut_between_tokens_after_redaction() {
        let d = decoder().with_max_message_bytes(200);
        let mut line = String::new();
        for i in 0..40 {
            line.push_str(&format!("w{i:03}x passwor{}=hunter2zz ", "d"));
        }
        line.push_str("card 4111 1111 1111 1111 end");
        let mut out = Vec::new();
        d.decode_into(line.as_bytes(), None, 1, None, &mut out);
        assert!(out.len() > 2);
        for (i, event) in out.iter().enumerate() {
            assert!(event.message.len() <= 200, "{}", event.message.len());
            assert!(!event.message.contains("hunter2zz"), "{}", event.message);
            let marker = format!(" [aistudio-sidecar: split {}/{}]", i + 1, out.len());
            let piece = event.message.strip_suffix(&marker).unwrap();
            assert!(
                i + 1 == out.len() || piece.ends_with(' '),
                "piece {i} ends inside a token: {piece:?}"
            );
        }
        assert!(out.last().unwrap().message.contains("[REDACTED:card] end"));
    }

    #[test]
    fn invalid_utf8_and_crlf_do_not_fail() {
        let d = decoder();
        let mut out = Vec::new();
        d.decode_into(b"bad \xff\xfe bytes\r", None, 5, None, &mut out);
        assert_eq!(out.len(), 1);
        assert!(out[0].message.starts_with("bad "));
        assert!(!out[0].message.ends_with('\r'));
    }
}
