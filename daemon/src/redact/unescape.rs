//! Decoding for matching: percent-encoded (`alice%40example.com`) and `\u`-escaped
//! (`alice\u0040example.com`) text outside JSON strings, with a map from every decoded byte
//! back to the input, so matches found in the decoded text replace the escaped input.

/// The decoded text and, for each of its bytes (and its end), the input offset it came from;
/// `None` when `s` holds no escape.
pub fn decode_for_matching(s: &str) -> Option<(String, Vec<usize>)> {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut map = Vec::with_capacity(s.len() + 1);
    let mut changed = false;
    let mut i = 0;
    let mut run = 0;
    while i < b.len() {
        let (ch, len) = match b[i] {
            b'%' => (hex_ascii(b, i + 1, 2), 3),
            b'\\' if b.get(i + 1) == Some(&b'u') => (hex_ascii(b, i + 2, 4), 6),
            b'\\' if b.get(i + 1) == Some(&b'/') => (Some('/'), 2),
            _ => (None, 1),
        };
        let Some(ch) = ch else {
            i += 1;
            continue;
        };
        push_run(s, run, i, &mut out, &mut map);
        map.push(i);
        out.push(ch);
        changed = true;
        i += len;
        run = i;
    }
    if !changed {
        return None;
    }
    push_run(s, run, b.len(), &mut out, &mut map);
    map.push(b.len());
    Some((out, map))
}

fn push_run(s: &str, from: usize, to: usize, out: &mut String, map: &mut Vec<usize>) {
    out.push_str(&s[from..to]);
    map.extend(from..to);
}

/// The printable ASCII character written as `digits` hex digits at `b[at..]`; escapes of other
/// characters are left as they are (they cannot hide an `@`, a `:` or a digit).
fn hex_ascii(b: &[u8], at: usize, digits: usize) -> Option<char> {
    let hex = b.get(at..at + digits)?;
    let text = std::str::from_utf8(hex).ok()?;
    let v = u32::from_str_radix(text, 16).ok()?;
    (0x20..0x7f).contains(&v).then(|| char::from(v as u8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_decoded_bytes_back() {
        let s = "u=alice%40example.com&x";
        let (d, map) = decode_for_matching(s).expect("an escape");
        assert_eq!(d, "u=alice@example.com&x");
        let at = d.find('@').expect("decoded @");
        assert_eq!(&s[map[at]..map[at + 1]], "%40");
        assert_eq!(map[d.len()], s.len());
        let (d, _) = decode_for_matching(r"to alice\u0040example.com").expect("an escape");
        assert_eq!(d, "to alice@example.com");
        assert!(decode_for_matching("100% sure, 50%off").is_none());
        assert!(
            decode_for_matching("caf%C3%A9").is_none(),
            "non-ASCII escapes stay"
        );
    }
}
