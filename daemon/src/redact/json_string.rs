//! JSON string literals: decoding their content (escapes, surrogate pairs) and encoding a
//! replacement back, for the raw-text JSON walker.

/// Decodes the content of a JSON string (without quotes); lone surrogates become U+FFFD.
pub fn decode_string(raw: &str) -> String {
    let b = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    let mut run = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        out.push_str(raw.get(run..i).unwrap_or(""));
        let esc = b.get(i + 1).copied().unwrap_or(b'\\');
        i += 2;
        match esc {
            b'n' => out.push('\n'),
            b't' => out.push('\t'),
            b'r' => out.push('\r'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'u' => {
                let hi = hex4(b, i);
                i += 4;
                let ch = match hi {
                    Some(h @ 0xD800..=0xDBFF) => {
                        let lo = if b.get(i) == Some(&b'\\') && b.get(i + 1) == Some(&b'u') {
                            hex4(b, i + 2)
                        } else {
                            None
                        };
                        match lo {
                            Some(l @ 0xDC00..=0xDFFF) => {
                                i += 6;
                                char::from_u32(0x10000 + ((h - 0xD800) << 10) + (l - 0xDC00))
                            }
                            _ => None,
                        }
                    }
                    Some(h) => char::from_u32(h),
                    None => None,
                };
                out.push(ch.unwrap_or('\u{FFFD}'));
            }
            other => out.push(char::from(other)),
        }
        run = i.min(b.len());
    }
    out.push_str(raw.get(run..).unwrap_or(""));
    out
}

fn hex4(b: &[u8], i: usize) -> Option<u32> {
    let digits = b.get(i..i + 4)?;
    let text = std::str::from_utf8(digits).ok()?;
    u32::from_str_radix(text, 16).ok()
}

/// Appends `s` as a JSON string literal (with quotes) to `out`.
pub fn encode_string(s: &str, out: &mut String) {
    out.push('"');
    let mut run = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[run..i]);
        if esc.is_empty() {
            out.push_str(&format!("\\u{b:04x}"));
        } else {
            out.push_str(esc);
        }
        run = i + 1;
    }
    out.push_str(&s[run..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_handles_escapes_and_surrogates() {
        assert_eq!(decode_string(r"a\u0040b\n\u00e9"), "a@b\né");
        assert_eq!(decode_string(r"\ud83d\ude00"), "😀");
        assert_eq!(decode_string(r"\ud83d x"), "\u{FFFD} x");
        assert_eq!(decode_string(r#"\/\\\"x"#), "/\\\"x");
    }

    #[test]
    fn encode_round_trips_through_serde() {
        let s = "quote\" back\\ nl\n ctl\u{1} é 😀";
        let mut out = String::new();
        encode_string(s, &mut out);
        let back: String = serde_json::from_str(&out).unwrap();
        assert_eq!(back, s);
    }
}
