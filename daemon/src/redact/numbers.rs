//! Checksummed numbers: payment cards by issuer scheme (prefix and length, then Luhn) and
//! IBANs (ISO 13616 mod-97). A Luhn-valid number outside every scheme's ranges is no card.

use super::patterns::{before, is_word, Found};
use super::rules::{CARD, IBAN};

/// One issuer range: the first digits (as a number of `digits` digits) from `lo` to `hi`, and
/// the lengths the scheme issues.
struct Range {
    digits: u32,
    lo: u32,
    hi: u32,
    min_len: usize,
    max_len: usize,
}

const fn r(digits: u32, lo: u32, hi: u32, min_len: usize, max_len: usize) -> Range {
    Range {
        digits,
        lo,
        hi,
        min_len,
        max_len,
    }
}

/// Issuer ranges of the major schemes (ISO/IEC 7812 IINs as the schemes publish them).
const SCHEMES: &[Range] = &[
    // Visa: 4, 13, 16 or 19 digits (13 and 19 checked below)
    r(1, 4, 4, 13, 19),
    // Mastercard: 51-55 and the 2-series 2221-2720, 16 digits
    r(2, 51, 55, 16, 16),
    r(4, 2221, 2720, 16, 16),
    // American Express: 34, 37, 15 digits
    r(2, 34, 34, 15, 15),
    r(2, 37, 37, 15, 15),
    // Discover: 6011, 644-649, 65, 622126-622925, 16-19 digits
    r(4, 6011, 6011, 16, 19),
    r(3, 644, 649, 16, 19),
    r(2, 65, 65, 16, 19),
    r(6, 622_126, 622_925, 16, 19),
    // JCB: 3528-3589, 16-19 digits
    r(4, 3528, 3589, 16, 19),
    // Diners Club: 300-305 and 3095 (14), 36 and 38-39 (14-19)
    r(3, 300, 305, 14, 14),
    r(4, 3095, 3095, 14, 14),
    r(2, 36, 36, 14, 19),
    r(2, 38, 39, 14, 19),
    // UnionPay: 62, 16-19 digits
    r(2, 62, 62, 16, 19),
    // Maestro: 5018, 5020, 5038, 5893, 6304, 6759, 6761-6763, 13-19 digits (12 is too short
    // to tell from other numbers in logs)
    r(4, 5018, 5018, 13, 19),
    r(4, 5020, 5020, 13, 19),
    r(4, 5038, 5038, 13, 19),
    r(4, 5893, 5893, 13, 19),
    r(4, 6304, 6304, 13, 19),
    r(4, 6759, 6759, 13, 19),
    r(4, 6761, 6763, 13, 19),
    // Mir: 2200-2204, 16-19 digits
    r(4, 2200, 2204, 16, 19),
];

/// Luhn checksum over the ASCII digits of `text` (other bytes ignored).
pub fn luhn_ok(text: &[u8]) -> bool {
    let mut sum = 0u32;
    let mut double = false;
    for &b in text.iter().rev() {
        if !b.is_ascii_digit() {
            continue;
        }
        let mut d = u32::from(b - b'0');
        if double {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        double = !double;
    }
    sum % 10 == 0
}

/// Whether a digit string of `len` digits falls in a scheme's issuer range.
fn in_scheme(digits: &[u8], len: usize) -> bool {
    let prefix = |n: u32| -> u32 {
        digits
            .iter()
            .take(n as usize)
            .fold(0, |acc, d| acc * 10 + u32::from(d - b'0'))
    };
    let visa_len = digits.first() != Some(&b'4') || matches!(len, 13 | 16 | 19);
    visa_len
        && SCHEMES.iter().any(|s| {
            (s.min_len..=s.max_len).contains(&len) && (s.lo..=s.hi).contains(&prefix(s.digits))
        })
}

/// Whether `text` (digits, optionally with spaces or dashes) is a card number: 13-19 digits in
/// the issuer range and length of a major scheme, with a valid Luhn checksum.
pub fn is_card_number(text: &[u8]) -> bool {
    let mut digits = [0u8; 19];
    let mut count = 0usize;
    for &b in text {
        if b.is_ascii_digit() {
            if count == digits.len() {
                return false;
            }
            digits[count] = b;
            count += 1;
        } else if b != b' ' && b != b'-' {
            return false;
        }
    }
    count >= 13 && in_scheme(&digits[..count], count) && luhn_ok(text)
}

/// Whether digit groups (byte ranges) are laid out as cards are printed: one group, or groups
/// of 4 with a last one of 3 or 4 (4-4-4-4, 4-4-4-4-3), or 4-6-5 / 4-6-4 (Amex, Diners).
/// `ports 3000 3001 3002 3003` passes this, but no scheme issues it.
pub fn is_card_layout(groups: &[(usize, usize)]) -> bool {
    let len = |g: &(usize, usize)| g.1 - g.0;
    match groups {
        [_] => true,
        [a, b, c] if len(a) == 4 && len(b) == 6 && (4..=5).contains(&len(c)) => true,
        [init @ .., last] if init.len() >= 3 => {
            init.iter().all(|g| len(g) == 4) && (3..=4).contains(&len(last))
        }
        _ => false,
    }
}

/// Shortest and longest IBAN (Norway 15, Russia 33; ISO 13616 allows 34).
const IBAN_LEN: std::ops::RangeInclusive<usize> = 15..=34;

/// ISO 13616 check: move the first four characters to the end, letters to 10-35, mod 97 = 1.
fn iban_valid(chars: &[u8]) -> bool {
    if !IBAN_LEN.contains(&chars.len()) {
        return false;
    }
    let mut rem = 0u32;
    for &c in chars[4..].iter().chain(&chars[..4]) {
        rem = match c {
            b'0'..=b'9' => (rem * 10 + u32::from(c - b'0')) % 97,
            b'A'..=b'Z' => (rem * 100 + u32::from(c - b'A') + 10) % 97,
            _ => return false,
        };
    }
    rem == 1
}

/// Finds IBANs, compact (`DE89370400440532013000`) or in groups of four
/// (`DE89 3704 0044 0532 0130 00`), standing alone, with a valid checksum.
pub fn scan_ibans(b: &[u8], out: &mut Vec<Found>) {
    let n = b.len();
    let mut i = 0;
    while i + 4 <= n {
        let starts = b[i].is_ascii_uppercase()
            && b[i + 1].is_ascii_uppercase()
            && b[i + 2].is_ascii_digit()
            && b[i + 3].is_ascii_digit()
            && !(i > 0 && b[i - 1].is_ascii_alphanumeric());
        if !starts {
            i += 1;
            continue;
        }
        let mut chars = [0u8; 34];
        let mut count = 0;
        let mut j = i;
        // end of the span after each complete group, to retry without a trailing group
        let mut group_end = i;
        while j < n && count < chars.len() {
            let c = b[j];
            if c.is_ascii_uppercase() || c.is_ascii_digit() {
                chars[count] = c;
                count += 1;
                j += 1;
            } else if c == b' '
                && count % 4 == 0
                && b.get(j + 1)
                    .is_some_and(|x| x.is_ascii_uppercase() || x.is_ascii_digit())
            {
                group_end = j;
                j += 1;
            } else {
                break;
            }
        }
        let alone = !b.get(j).is_some_and(u8::is_ascii_alphanumeric);
        let found = if alone && iban_valid(&chars[..count]) {
            Some(j)
        } else if group_end > i && iban_valid(&chars[..count - count_after(b, group_end, j)]) {
            Some(group_end)
        } else {
            None
        };
        match found {
            Some(end) => {
                out.push(Found {
                    start: i,
                    end,
                    rule: IBAN,
                });
                i = end;
            }
            None => i += 1,
        }
    }
}

/// IBAN characters in `b[from..to]`.
fn count_after(b: &[u8], from: usize, to: usize) -> usize {
    b[from..to].iter().filter(|c| **c != b' ').count()
}

/// End of the UUID (`8-4-4-4-12` hex) that starts at `i`, if one does, standing alone.
fn uuid_at(b: &[u8], i: usize) -> Option<usize> {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    if before(b, i).is_some_and(|p| p.is_ascii_alphanumeric() || p == b'-') {
        return None;
    }
    let mut j = i;
    for (k, len) in GROUPS.iter().enumerate() {
        if k > 0 {
            if b.get(j) != Some(&b'-') {
                return None;
            }
            j += 1;
        }
        let group = b.get(j..j + len)?;
        if !group.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        j += len;
    }
    let alone = !b
        .get(j)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'-');
    alone.then_some(j)
}

/// Finds Luhn-valid card numbers: digit groups joined by one consistent space or dash.
/// UUIDs are skipped whole: their digit groups (`24750788-9184-4498-…`) pass Luhn one time in
/// ten.
pub fn scan_cards(b: &[u8], out: &mut Vec<Found>) {
    const MAX_GROUPS: usize = 24;
    let n = b.len();
    let mut i = 0;
    while i < n {
        if b[i].is_ascii_hexdigit() && !before(b, i).is_some_and(|p| p.is_ascii_alphanumeric()) {
            if let Some(end) = uuid_at(b, i) {
                i = end;
                continue;
            }
        }
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let left_ok = match before(b, i) {
            None => true,
            Some(p) => !(is_word(p) || p == b'.'),
        };
        let mut groups = [(0usize, 0usize); MAX_GROUPS];
        let mut ng = 0;
        let mut sep = None;
        let mut j = i;
        loop {
            let gs = j;
            while j < n && b[j].is_ascii_digit() {
                j += 1;
            }
            groups[ng] = (gs, j);
            ng += 1;
            if ng == MAX_GROUPS || j + 1 >= n {
                break;
            }
            let s = b[j];
            if (s == b' ' || s == b'-') && b[j + 1].is_ascii_digit() && sep.is_none_or(|x| x == s) {
                sep = Some(s);
                j += 1;
            } else {
                break;
            }
        }
        let run_end = groups[ng - 1].1;
        let right_ok = match b.get(run_end) {
            None => true,
            Some(&c) => {
                !(is_word(c) || (c == b'.' && b.get(run_end + 1).is_some_and(u8::is_ascii_digit)))
            }
        };
        let mut gi = if left_ok { 0 } else { 1 };
        while gi < ng {
            let mut matched = None;
            let mut gj = ng;
            while gj > gi {
                gj -= 1;
                let end = groups[gj].1;
                if gj == ng - 1 && !right_ok {
                    continue;
                }
                let span = &b[groups[gi].0..end];
                // grouped digits after other groups are a list of numbers, not a card
                let list_tail = gi > 0 && gj > gi;
                if !list_tail && is_card_layout(&groups[gi..=gj]) && is_card_number(span) {
                    matched = Some(gj);
                    break;
                }
            }
            match matched {
                Some(gj) => {
                    out.push(Found {
                        start: groups[gi].0,
                        end: groups[gj].1,
                        rule: CARD,
                    });
                    gi = gj + 1;
                }
                None => gi += 1,
            }
        }
        i = run_end.max(i + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_by_prefix_and_length() {
        for card in [
            "4111111111111111",
            "4222222222222",
            "5555555555554444",
            "2223003122003222",
            "378282246310005",
            "6011111111111117",
            "3530111333300000",
            "30569309025904",
            "36227206271667",
            "6200000000000005",
            "6759649826438453",
        ] {
            assert!(is_card_number(card.as_bytes()), "{card}");
        }
        // Luhn-valid, outside every scheme: 13-digit order numbers, 1/7/8/9 prefixes
        for other in [
            "1000000000009",
            "7992739871300",
            "8000000000000000002",
            "3000300130023003",
        ] {
            assert!(luhn_ok(other.as_bytes()), "{other} passes Luhn");
            assert!(!is_card_number(other.as_bytes()), "{other}");
        }
        assert!(
            !is_card_number(b"411111111111111"),
            "Visa has no 15-digit numbers"
        );
    }

    #[test]
    fn layouts_of_printed_cards() {
        let g = |lens: &[usize]| {
            let mut at = 0;
            lens.iter()
                .map(|l| {
                    let r = (at, at + l);
                    at += l + 1;
                    r
                })
                .collect::<Vec<_>>()
        };
        assert!(is_card_layout(&g(&[4, 4, 4, 4])));
        assert!(is_card_layout(&g(&[4, 6, 5])));
        assert!(is_card_layout(&g(&[16])));
        assert!(!is_card_layout(&g(&[3, 4, 4, 4])));
        assert!(!is_card_layout(&g(&[4, 4, 4, 5])));
    }

    fn ibans(s: &str) -> Vec<&str> {
        let mut out = Vec::new();
        scan_ibans(s.as_bytes(), &mut out);
        out.iter().map(|f| &s[f.start..f.end]).collect()
    }

    #[test]
    fn ibans_with_a_valid_checksum() {
        assert_eq!(
            ibans("to DE89370400440532013000 ok"),
            ["DE89370400440532013000"]
        );
        assert_eq!(
            ibans("to DE89 3704 0044 0532 0130 00 EUR"),
            ["DE89 3704 0044 0532 0130 00"]
        );
        assert_eq!(
            ibans("GB82 WEST 1234 5698 7654 32"),
            ["GB82 WEST 1234 5698 7654 32"]
        );
        assert!(
            ibans("to DE88370400440532013000 ok").is_empty(),
            "bad checksum"
        );
        assert!(ibans("order AB12345678901234567").is_empty());
    }
}
