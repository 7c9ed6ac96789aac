//! The `high_entropy` rule: secrets that nothing names. In the spirit of detect-secrets' and
//! trufflehog's entropy detectors, tuned for logs: a candidate is a whitespace- or
//! quote-bounded token (or the value of a `key=value` word) of at least [`MIN_LEN`] characters;
//! it is a secret when its character classes, its class changes and its Shannon entropy say
//! random, and it is none of the shapes logs are full of (hex digests, UUIDs, trace and request
//! ids, ARNs, paths, URL hosts, versions, timestamps, model ids, product tokens, base64 of known
//! file formats).

use super::patterns::Found;
use super::rules::HIGH_ENTROPY;

/// Fewest characters of a candidate with letters of both cases and a digit or symbol. A
/// 14-character random password is the shortest secret the issue names; 12 keeps the
/// 13-character `9f#Kq2!vLm0Tz` of its example.
pub const MIN_LEN: usize = 12;

/// Longest run the prefilter and the tokenizer consider one token: longer runs are blobs
/// (thumbnails, ciphertexts) handled by structure, not by entropy.
const MAX_LEN: usize = 4096;

/// Fewest Shannon bits per character: repeated or patterned strings (`AbAbAbAbAb12`) stay.
const MIN_BITS_PER_CHAR: f64 = 3.0;

/// Fewest surprising transitions per character, in hundredths: a change between digit and
/// letter, from lower to upper case, from an upper-case run back to lower (`KYk`), or a
/// symbol inside the token. Words, CamelCase names and code paths have about one in six
/// characters, random strings one in two.
const MIN_SURPRISES_PER_100_CHARS: usize = 25;

/// Id prefixes of the form `word_` / `word-` before an alphanumeric body (`chatcmpl-…`,
/// `msg_01…`, `req_…`, `cus_…`): ids, not secrets. Vendor keys with a published prefix are
/// matched earlier by `vendor_token` / `openai_key`.
const MAX_ID_PREFIX: usize = 12;

/// Magic prefixes of base64 of file formats (PNG, JPEG, GIF, PDF, gzip, zip, WebP/RIFF).
const BASE64_MAGIC: &[&str] = &[
    "iVBORw0KGgo",
    "/9j/",
    "R0lGOD",
    "JVBERi",
    "H4sI",
    "UEsDB",
    "UklGR",
];

/// Byte classes of a token.
const UPPER: u8 = 1;
const LOWER: u8 = 2;
const DIGIT: u8 = 4;
const SYMBOL: u8 = 8;

fn class(b: u8) -> u8 {
    match b {
        b'A'..=b'Z' => UPPER,
        b'a'..=b'z' => LOWER,
        b'0'..=b'9' => DIGIT,
        _ => SYMBOL,
    }
}

/// Bytes that end a token: whitespace, quotes, separators of lists and fields.
pub const fn is_token_end(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b'"' | b'\'' | b'`' | b',' | b';' | b'<' | b'>' | b'\\' | b'|'
        )
        || b >= 0x80
}

/// Appends every random-looking token of `s` as a `high_entropy` match.
pub fn detect(s: &str, out: &mut Vec<Found>) {
    let b = s.as_bytes();
    let n = b.len();
    let mut i = 0;
    while i < n {
        if is_token_end(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < n && !is_token_end(b[i]) {
            i += 1;
        }
        if i - start >= MIN_LEN && i - start <= MAX_LEN {
            token(b, start, i, out);
        }
    }
}

/// Checks one token `b[start..end]`: strips brackets, a `key=` / `key:` prefix, splits URLs.
fn token(b: &[u8], mut start: usize, mut end: usize, out: &mut Vec<Found>) {
    while start < end && matches!(b[start], b'(' | b'[' | b'{' | b'=') {
        start += 1;
    }
    while end > start && matches!(b[end - 1], b')' | b']' | b'}' | b'.' | b':' | b'?') {
        end -= 1;
    }
    let t = &b[start..end];
    let after_base64 = b[..start].ends_with(b"base64,");
    if t.len() < MIN_LEN
        || t.starts_with(b"arn:")
        || t.starts_with(b"data:")
        || after_base64
        || BASE64_MAGIC.iter().any(|m| t.starts_with(m.as_bytes()))
    {
        return;
    }
    if let Some(p) = find(t, b"://") {
        // a URL: the host is no secret, each path segment and query value may be
        segments(b, start + p + 3, end, true, out);
        return;
    }
    if t[0] == b'/' || t.contains(&b'?') {
        // a path, perhaps with a query string
        segments(b, start, end, false, out);
        return;
    }
    if let Some(v) = key_prefix(t) {
        if id_key(&t[..v - 1]) {
            return;
        }
        start += v;
        while start < end && matches!(b[start], b'(' | b'[' | b'{') {
            start += 1;
        }
    }
    candidate(b, start, end, out);
}

/// Checks each `/`, `?`, `&`, `=` or `#` separated segment of `b[from..end]`; `skip_host`
/// leaves the first one (a URL's host) alone.
fn segments(b: &[u8], from: usize, end: usize, skip_host: bool, out: &mut Vec<Found>) {
    let mut seg = from;
    let mut first = skip_host;
    for j in from..=end {
        if j == end || matches!(b[j], b'/' | b'?' | b'&' | b'=' | b'#') {
            if !first {
                candidate(b, seg, j, out);
            }
            first = first && j < end && b[j] != b'/';
            seg = j + 1;
        }
    }
}

/// Length of a `key=` / `key:` prefix of `t` (a word of at most 48 key characters), if any.
fn key_prefix(t: &[u8]) -> Option<usize> {
    let k = t.iter().take(49).position(|&c| c == b'=' || c == b':')?;
    let key_ok = k > 0
        && t[0].is_ascii_alphabetic()
        && t[..k]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'));
    (key_ok && t.get(k + 1).is_some_and(|&c| c != b'/')).then_some(k + 1)
}

/// Whether a key names an id (its value is an identifier, not a secret): `requestId`,
/// `trace_id`, `etag`, `nextToken`, `cursor`.
pub fn id_key(key: &[u8]) -> bool {
    let mut norm = [0u8; 48];
    let mut len = 0;
    for &c in key {
        if c.is_ascii_alphanumeric() && len < norm.len() {
            norm[len] = c.to_ascii_lowercase();
            len += 1;
        }
    }
    let k = &norm[..len];
    k.ends_with(b"id")
        || k.ends_with(b"ids")
        || k.ends_with(b"trace")
        || k.ends_with(b"span")
        || k.ends_with(b"etag")
        || k.ends_with(b"cursor")
        || k.ends_with(b"nexttoken")
        || k.ends_with(b"pagetoken")
        || k.ends_with(b"checksum")
        || k.ends_with(b"digest")
        || k.ends_with(b"hash")
        || k.ends_with(b"sha")
        || k.ends_with(b"commit")
        || k.ends_with(b"thumbnail")
        || k.ends_with(b"image")
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Decides whether `b[start..end]` is random, and records it.
fn candidate(b: &[u8], start: usize, end: usize, out: &mut Vec<Found>) {
    let t = &b[start..end];
    if t.len() >= MIN_LEN && looks_secret(t) {
        out.push(Found {
            start,
            end,
            rule: HIGH_ENTROPY,
        });
    }
}

/// The decision on one candidate.
pub fn looks_secret(t: &[u8]) -> bool {
    let mut classes = 0u8;
    for &c in t {
        classes |= class(c);
    }
    // both letter cases plus a digit or a symbol: hex digests, UUIDs, trace ids, model ids,
    // timestamps, versions and host names all fail here
    if classes & (UPPER | LOWER) != UPPER | LOWER || classes & (DIGIT | SYMBOL) == 0 {
        return false;
    }
    if classes & DIGIT == 0 && t.len() < 20 {
        // letters and punctuation only, short: words (`Content-Type:`, `e.Message`)
        return false;
    }
    if BASE64_MAGIC.iter().any(|m| t.starts_with(m.as_bytes())) {
        return false;
    }
    // short words and codes joined by structural punctuation (`Mobile/8B118`); a password's
    // symbols (`#`, `!`, `^`, `@`, ...) make it no name
    let structural = t
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || b"/.-_:()+=,".contains(c));
    if id_prefixed(t) || structural && all_wordy(t) || find(t, b"REDACTED:").is_some() {
        return false;
    }
    surprises(t) * 100 >= t.len() * MIN_SURPRISES_PER_100_CHARS
        && bits_per_char(t) >= MIN_BITS_PER_CHAR
}

/// `word_` / `word-` (lower-case letters, digits after the first) then one alphanumeric body.
fn id_prefixed(t: &[u8]) -> bool {
    let Some(p) = t.iter().position(|&c| c == b'_' || c == b'-') else {
        return false;
    };
    (2..=MAX_ID_PREFIX).contains(&p)
        && t[0].is_ascii_lowercase()
        && t[..p]
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && t[p + 1..].iter().all(u8::is_ascii_alphanumeric)
}

/// Whether every alphanumeric segment of `t` is a word, a number or a short code: `Word`,
/// `CamelCase`, `lower`, `X11`, `Win64`, `2026`, `9f`, as in user agents (`Opera/9.38.(X11`),
/// code paths (`com.example.FooService.run`) and dates (`12/Nov/2026:10:26:48`).
fn all_wordy(t: &[u8]) -> bool {
    t.split(|c| !c.is_ascii_alphanumeric()).all(wordy)
}

fn wordy(seg: &[u8]) -> bool {
    if seg.len() <= 3 || seg.iter().all(u8::is_ascii_digit) {
        return true;
    }
    let letters_in = seg.iter().filter(|c| c.is_ascii_alphabetic()).count();
    if seg.len() <= 8 && letters_in <= 2 {
        // build and version codes: `8B118`, `5o1417`, `16F461`
        return true;
    }
    let digits = seg.iter().rev().take_while(|c| c.is_ascii_digit()).count();
    let letters = &seg[..seg.len() - digits];
    // a short upper-case tail: `iOS`, `FxiOS`, `CriOS`
    let caps = letters
        .iter()
        .rev()
        .take_while(|c| c.is_ascii_uppercase())
        .count();
    let letters = if (2..=3).contains(&caps) && caps < letters.len() {
        &letters[..letters.len() - caps]
    } else {
        letters
    };
    if letters.is_empty() || !letters.iter().all(u8::is_ascii_alphabetic) {
        return false;
    }
    if letters.iter().all(u8::is_ascii_uppercase) {
        return letters.len() <= 6;
    }
    // `lower`, `Word`, `camelCase`, `CamelCase`: an upper-case letter only to start a word,
    // followed by at least two lower-case letters
    letters.iter().enumerate().all(|(i, c)| {
        !c.is_ascii_uppercase()
            || letters
                .get(i + 1..i + 3)
                .is_some_and(|n| n.iter().all(u8::is_ascii_lowercase))
    })
}

/// Surprising transitions of `t` (see [`MIN_SURPRISES_PER_100_CHARS`]): `AppleWebKit` has 2,
/// `Xb7RkP2m` has 6.
fn surprises(t: &[u8]) -> usize {
    let mut n = 0;
    let last = t.len().saturating_sub(1);
    for (i, &c) in t.iter().enumerate() {
        let k = class(c);
        if k == SYMBOL {
            n += usize::from(i > 0 && i < last);
            continue;
        }
        let Some(&p) = i.checked_sub(1).and_then(|j| t.get(j)) else {
            continue;
        };
        let pk = class(p);
        let upper_run = i >= 2 && class(t[i - 2]) == UPPER;
        n += usize::from(match (pk, k) {
            (DIGIT, UPPER | LOWER) | (UPPER | LOWER, DIGIT) => true,
            (LOWER, UPPER) => true,
            (UPPER, LOWER) => upper_run,
            _ => false,
        });
    }
    n
}

/// Shannon entropy of the bytes of `t`, in bits per byte.
fn bits_per_char(t: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    for &c in t {
        counts[c as usize] += 1;
    }
    let n = t.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(s: &str) -> Vec<&str> {
        let mut out = Vec::new();
        detect(s, &mut out);
        out.iter().map(|f| &s[f.start..f.end]).collect()
    }

    #[test]
    fn unnamed_secrets_in_free_text() {
        assert_eq!(
            hits("ERROR retry budget spent for 9f#Kq2!vLm0Tz"),
            ["9f#Kq2!vLm0Tz"]
        );
        assert_eq!(
            hits("upstream closed, session Xb7RkP2mQ9dLs4TwVn8cYe3H"),
            ["Xb7RkP2mQ9dLs4TwVn8cYe3H"]
        );
        assert_eq!(
            hits("key rotated to zCHYNHmhUiW1f+z9DF3SuMkRmBJMPHVTZhqYHkr6pmMu2sHD99C4WwM/E0Um2Zdp"),
            ["zCHYNHmhUiW1f+z9DF3SuMkRmBJMPHVTZhqYHkr6pmMu2sHD99C4WwM/E0Um2Zdp"]
        );
        assert_eq!(
            hits("challenge={)$+zuCjt!hiG3YMrQON}"),
            [")$+zuCjt!hiG3YMrQON"]
        );
    }

    #[test]
    fn shapes_logs_are_full_of_stay() {
        for s in [
            "commit 3f786850e387550fdab836ed7e6dc881de23001b",
            "id 123e4567-e89b-12d3-a456-426614174000",
            "trace 1-5f3a1b2c-0123456789abcdef01234567",
            "Root=1-5f3a1b2c-0123456789abcdef01234567;Sampled=1",
            "arn:aws:iam::123456789012:role/MyAppTaskRole2",
            "open /home/JohnSmith/Documents/Report2024.docx",
            "GET https://api.Example.com/v1/Users/Profile",
            "semver v12.34.567-beta.2+build.77",
            "at 2026-11-01T00:00:00.003Z",
            "model anthropic.claude-3-5-sonnet-20240620-v1:0",
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.71 Safari/537.36",
            "id chatcmpl-ZrfHoOxZlO3BVM msg_01WCS8OGFgEBxpMrcYv2UlAf",
            "at com.example.streaming.ProviderClient.callUpstream(ProviderClient.java:88)",
            "thumbnail iVBORw0KGgoAAAANSUhEUgAAAAgAAAAJCAIAAACAMfp5AAAA7ElEQVR4nAHhAB7",
            "requestId=Xb7RkP2mQ9dLs4TwVn8cYe3H",
            "AuthenticationException: NoSuchBucketException ThrottlingException",
            "sha256:4a5b6c7d8e9f00112233445566778899aabbccddeeff00112233445566778899",
        ] {
            assert!(hits(s).is_empty(), "{s}: {:?}", hits(s));
        }
    }

    #[test]
    fn url_secrets_are_found_by_segment_and_the_host_stays() {
        assert_eq!(
            hits("post https://discord.com/api/webhooks/1/4O1leZLODEz59O-xMMMpdSpJiMc1WHV8HQx"),
            ["4O1leZLODEz59O-xMMMpdSpJiMc1WHV8HQx"]
        );
    }
}
