//! Where to cut a line that is too long for one piece: between tokens, never inside one and
//! never inside a UTF-8 character, so that redaction, which sees each piece on its own, never
//! sees half a secret. Shared by the sources (the read-time cut) and decode (the CloudWatch
//! event-size split).

/// Bytes a cut may follow: whitespace and the separators of fields and lists.
fn ends_a_token(b: u8) -> bool {
    b.is_ascii_whitespace() || matches!(b, b',' | b';' | b'&' | b'}' | b']')
}

/// Where to cut `bytes` so that the head holds at most `max` bytes (`max` > 0): just after the
/// last whitespace or separator within the limit, so a token (`password=…`, a card's digit
/// groups) is never cut in two; only a single token longer than `max` is cut, and then on a
/// UTF-8 character boundary. Returns `bytes.len()` when it fits whole.
pub fn boundary_cut(bytes: &[u8], max: usize) -> usize {
    if bytes.len() <= max {
        return bytes.len();
    }
    if let Some(i) = bytes[..max].iter().rposition(|&b| ends_a_token(b)) {
        return i + 1;
    }
    // no boundary: the last character boundary (a byte that is not a UTF-8 continuation)
    (1..=max)
        .rev()
        .find(|&i| bytes[i] & 0xC0 != 0x80)
        .unwrap_or(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_after_the_last_separator_else_on_a_character_boundary() {
        assert_eq!(boundary_cut(b"abc def", 10), 7);
        assert_eq!(boundary_cut(b"abc def ghi", 9), 8);
        assert_eq!(boundary_cut(b"short", 9), 5);
        assert_eq!(boundary_cut(b"aa bb password=hunter2zz", 12), 6);
        assert_eq!(boundary_cut("aaaa\u{e9}\u{e9}".as_bytes(), 5), 4);
        let s = "ééééé".as_bytes();
        let cut = boundary_cut(s, 5);
        assert!(std::str::from_utf8(&s[..cut]).is_ok() && cut == 4);
        assert_eq!(boundary_cut(b"abcdefgh", 3), 3);
    }
}
