//! Redaction of one string: runs the triggered detectors, finds `key=value` / `key: value` pairs
//! with sensitive keys in free text, resolves overlapping matches and writes the replacements.

use std::borrow::Cow;
use std::cmp::Reverse;

use super::entropy;
use super::keys::normalize_into;
use super::patterns::Found;
use super::prefilter::Flags;
use super::replace::MARKER_PREFIX;
use super::rules::{
    priority, API_KEY, AUTHORIZATION, CLIENT_SECRET, COOKIE, HIGH_ENTROPY, PASSWORD, PHONE, SECRET,
    TOKEN,
};
use super::unescape::decode_for_matching;
use super::Redactor;

/// Values after a sensitive key that are left alone: they carry nothing.
const EMPTY_VALUES: &[&str] = &["null", "none", "nil", "undefined", "true", "false", "***"];

/// Authorization schemes whose credential follows after a space.
const SCHEMES: &[&str] = &[
    "bearer",
    "basic",
    "digest",
    "token",
    "negotiate",
    "apikey",
    "aws4-hmac-sha256",
    "hmac",
];

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.'
}

fn ends_unquoted(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b',' | b';' | b')' | b'}' | b']' | b'"' | b'\'' | b'<' | b'>' | b'\\'
        )
}

/// End of an unquoted value starting at `start`: the first delimiter, or an `&` that starts
/// the next `name=` of a query string (a lone `&` is part of a password).
fn word_end(b: &[u8], start: usize) -> usize {
    let n = b.len();
    let mut i = start;
    while i < n {
        let c = b[i];
        if ends_unquoted(c) {
            return i;
        }
        if c == b'&' {
            let mut j = i + 1;
            while j < n && is_key_byte(b[j]) {
                j += 1;
            }
            if j > i + 1 && b.get(j) == Some(&b'=') {
                return i;
            }
        }
        i += 1;
    }
    n
}

/// Whether `s` is already a redaction marker (so re-redacting output changes nothing).
pub fn is_marker(s: &str) -> bool {
    s.starts_with(MARKER_PREFIX) && s.ends_with(']')
}

impl Redactor {
    /// Redacts patterns, sensitive `key=value` pairs and custom rules inside one string.
    pub(crate) fn redact_text<'a>(&self, s: &'a str) -> Cow<'a, str> {
        self.redact_text_in(s, b"")
    }

    /// [`Redactor::redact_text`] of the value of JSON key `key` (raw, empty for none): the
    /// `high_entropy` rule leaves the values of id keys (`requestId`, `nextToken`) alone.
    pub(crate) fn redact_text_in<'a>(&self, s: &'a str, key: &[u8]) -> Cow<'a, str> {
        self.redact_text_flagged(s, key, self.prefilter.scan(s.as_bytes()))
    }

    /// [`Redactor::redact_text_in`] with the prefilter's triggers of `s` already known.
    pub(crate) fn redact_text_flagged<'a>(
        &self,
        s: &'a str,
        key: &[u8],
        flags: Flags,
    ) -> Cow<'a, str> {
        if s.is_empty() {
            return Cow::Borrowed(s);
        }
        if flags.is_empty() && self.custom.is_empty() {
            return Cow::Borrowed(s);
        }
        if self.allow.contains(s) {
            return Cow::Borrowed(s);
        }
        let mut found: Vec<Found> = Vec::new();
        match flags
            .has(Flags::ESCAPED)
            .then(|| decode_for_matching(s))
            .flatten()
        {
            Some((decoded, map)) => {
                let dflags = self.prefilter.scan(decoded.as_bytes());
                self.find_all(&decoded, dflags, key, &mut found);
                for f in &mut found {
                    f.start = map.get(f.start).copied().unwrap_or(s.len());
                    f.end = map.get(f.end).copied().unwrap_or(s.len());
                }
            }
            None => self.find_all(s, flags, key, &mut found),
        }
        if found.is_empty() {
            return Cow::Borrowed(s);
        }
        found.sort_unstable_by_key(|f| (f.start, priority(f.rule), Reverse(f.end)));
        let mut out = String::with_capacity(s.len() + 16);
        let mut last = 0;
        for f in found {
            if f.start < last || f.end <= f.start {
                continue;
            }
            let Some(text) = s.get(f.start..f.end) else {
                continue;
            };
            if self.allow.contains(text) || is_marker(text) {
                continue;
            }
            out.push_str(&s[last..f.start]);
            self.replacer.render(f.rule, text, &mut out);
            self.counters.hit(f.rule);
            last = f.end;
        }
        if last == 0 {
            return Cow::Borrowed(s);
        }
        out.push_str(&s[last..]);
        Cow::Owned(out)
    }

    /// Every match of every enabled rule in `s`.
    fn find_all(&self, s: &str, flags: Flags, key: &[u8], found: &mut Vec<Found>) {
        self.patterns.detect(s, flags, &self.on, found);
        if flags.has(Flags::KEY) || self.keys.has_extra() {
            self.scan_key_values(s, found);
        }
        if flags.has(Flags::LONG_TOKEN) && self.on[HIGH_ENTROPY] && !entropy::id_key(key) {
            entropy::detect(s, found);
        }
        for (rule, re) in &self.custom {
            for m in re.find_iter(s) {
                if m.end() > m.start() {
                    found.push(Found {
                        start: m.start(),
                        end: m.end(),
                        rule: *rule,
                    });
                }
            }
        }
    }

    /// Finds `key=value`, `key: value`, `"key":"value"` and `\"key\":\"value\"` pairs whose key
    /// a key rule owns, and records the value span.
    fn scan_key_values(&self, s: &str, out: &mut Vec<Found>) {
        let b = s.as_bytes();
        let n = b.len();
        let mut norm = String::new();
        for sep in memchr::memchr2_iter(b'=', b':', b) {
            // `::` and `==` are not assignments (IPv6, ARNs, comparisons)
            if b.get(sep + 1) == Some(&b[sep]) || (sep > 0 && b[sep - 1] == b[sep]) {
                continue;
            }
            let mut k_end = sep;
            while k_end > 0 && b[k_end - 1] == b' ' {
                k_end -= 1;
            }
            if k_end > 0 && (b[k_end - 1] == b'"' || b[k_end - 1] == b'\'') {
                k_end -= 1;
                if k_end > 0 && b[k_end - 1] == b'\\' {
                    k_end -= 1;
                }
            }
            let mut k_start = k_end;
            while k_start > 0 && is_key_byte(b[k_start - 1]) && k_end - k_start < 64 {
                k_start -= 1;
            }
            // `arn:aws:...:secret:name` is a path, not a pair; so is `repo/phone-app:1.2.3`
            if k_start == k_end
                || (b[sep] == b':' && k_start > 0 && matches!(b[k_start - 1], b':' | b'/'))
            {
                continue;
            }
            let Some(key) = s.get(k_start..k_end) else {
                continue;
            };
            normalize_into(key, &mut norm);
            if !self.prefilter.key_may_match(&norm) {
                continue;
            }
            let Some(rule) = self.keys.classify(&norm) else {
                continue;
            };
            if !self.on.get(rule).copied().unwrap_or(false) {
                continue;
            }
            let mut v = sep + 1;
            while v < n && (b[v] == b' ' || b[v] == b'\t') {
                v += 1;
            }
            // `cc:06:12:9e:f2:70` is a MAC address, not a card under the key `cc`
            if b[sep] == b':' && k_end - k_start == 2 && b.get(v).is_some_and(u8::is_ascii_hexdigit)
            {
                continue;
            }
            let Some((vs, mut ve)) = value_span(b, v, rule == COOKIE && b[sep] == b':') else {
                continue;
            };
            // an unquoted passphrase may hold spaces: take words up to the next `key=`
            let opaque = matches!(
                rule,
                PASSWORD | SECRET | CLIENT_SECRET | TOKEN | API_KEY | AUTHORIZATION
            );
            if opaque && vs == v {
                ve = opaque_end(b, ve);
                ve = extend_words(b, vs, ve);
            }
            if rule == PHONE && vs == v {
                ve = extend_digit_groups(b, ve);
            }
            if vs == v && matches!(b.get(v), Some(b'[' | b'{')) {
                // an array or object after a key outside parsed JSON (a prefixed, truncated
                // or BOM-led JSON line): the whole value goes, as in JSON
                ve = bracket_end(b, v);
            }
            let Some(value) = s.get(vs..ve) else {
                continue;
            };
            let lower = value.to_ascii_lowercase();
            if value.is_empty()
                || EMPTY_VALUES.contains(&lower.as_str())
                || value.starts_with(MARKER_PREFIX)
                || value == "[]"
                || value == "{}"
            {
                continue;
            }
            out.push(Found {
                start: vs,
                end: ve,
                rule,
            });
        }
    }
}

/// End of the array or object opening at `b[v]`: its matching bracket (quotes respected), or
/// the end of the text when it is truncated.
fn bracket_end(b: &[u8], v: usize) -> usize {
    let mut depth = 0usize;
    let mut quoted = false;
    let mut i = v;
    while i < b.len() {
        match b[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b'[' | b'{' if !quoted => depth += 1,
            b']' | b'}' if !quoted => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    b.len()
}

/// Extends a phone value over following space-separated digit groups (`tel: 734 502 674`).
fn extend_digit_groups(b: &[u8], mut end: usize) -> usize {
    while b.get(end) == Some(&b' ') {
        let start = end + 1;
        let w = b[start..]
            .iter()
            .take_while(|c| c.is_ascii_digit() || **c == b'-')
            .count();
        if w == 0 || !b[start].is_ascii_digit() {
            return end;
        }
        end = start + w;
    }
    end
}

/// Extends an unquoted secret over brackets inside it (`s)x6Za`, `)2+zw`): a closing bracket
/// ends the value only when a delimiter or the end follows it.
fn opaque_end(b: &[u8], mut end: usize) -> usize {
    while let Some(&c) = b.get(end) {
        let inner = matches!(c, b')' | b']' | b'}')
            && b.get(end + 1)
                .is_some_and(|&n| !ends_unquoted(n) && n != b'&');
        if !inner {
            return end;
        }
        end = word_end(b, end + 1);
    }
    end
}

/// Extends an unquoted passphrase (`correct horse battery staple`) starting at `start` and
/// ending at `end` over following space-separated words, stopping at a delimiter, at a word
/// that is itself a `key=` / `key:` pair or opens a bracket, or at the end. A value whose
/// first word is not a word (a token, a key) is not a passphrase and is not extended.
fn extend_words(b: &[u8], start: usize, mut end: usize) -> usize {
    if !b[start..end].iter().all(u8::is_ascii_alphabetic) {
        return end;
    }
    loop {
        if b.get(end) != Some(&b' ') {
            return end;
        }
        let start = end + 1;
        let w_end = word_end(b, start);
        let word = &b[start..w_end];
        if word.is_empty()
            || word.contains(&b'=')
            || word.ends_with(b":")
            || matches!(word[0], b'(' | b'[' | b'{')
        {
            return end;
        }
        end = w_end;
    }
}

/// The byte span of the value starting at `v`: quoted, escaped-quoted or a bare word (with an
/// authorization scheme, the credential after it too). `to_end` takes the rest of the text
/// (a `Cookie:` header holds several `name=value` pairs).
fn value_span(b: &[u8], v: usize, to_end: bool) -> Option<(usize, usize)> {
    let n = b.len();
    let first = *b.get(v)?;
    if first == b'"' || first == b'\'' {
        let mut i = v + 1;
        while i < n {
            if b[i] == b'\\' {
                i += 2;
                continue;
            }
            if b[i] == first {
                return Some((v + 1, i));
            }
            i += 1;
        }
        return Some((v + 1, n));
    }
    if first == b'\\' && b.get(v + 1) == Some(&b'"') {
        let start = v + 2;
        let rest = b.get(start..)?;
        let end = memchr::memmem::find(rest, b"\\\"").map_or(n, |p| start + p);
        return Some((start, end));
    }
    if to_end {
        let end = (v..n).find(|&i| b[i] == b'"' || b[i] == b'\n').unwrap_or(n);
        return Some((v, end));
    }
    let first_end = word_end(b, v);
    let word = b.get(v..first_end)?;
    if word.eq_ignore_ascii_case(b"digest") {
        // a parameter list: `Digest username="u", nonce="…", response="…"` to the end
        let end = (v..n).find(|&i| b[i] == b'\n').unwrap_or(n);
        return Some((v, end));
    }
    let is_scheme = SCHEMES
        .iter()
        .any(|s| word.eq_ignore_ascii_case(s.as_bytes()));
    if is_scheme && b.get(first_end) == Some(&b' ') {
        let mut c = first_end;
        while c < n && b[c] == b' ' {
            c += 1;
        }
        let cred_end = word_end(b, c);
        if cred_end > c {
            return Some((v, cred_end));
        }
    }
    Some((v, first_end))
}

#[cfg(test)]
mod tests {
    use crate::redact::{RedactConfig, Redactor};

    fn red(s: &str) -> String {
        Redactor::new(&RedactConfig::default())
            .unwrap()
            .redact_text(s)
            .into_owned()
    }

    #[test]
    fn key_values_in_free_text() {
        assert_eq!(
            red("login password=hunter2 user=bob"),
            "login password=[REDACTED:password] user=bob"
        );
        assert_eq!(
            red("GET /cb?code=1&access_token=abc.def&x=1"),
            "GET /cb?code=1&access_token=[REDACTED:token]&x=1"
        );
        assert_eq!(
            red("Authorization: Basic dXNlcjpwYXNz"),
            "Authorization: [REDACTED:authorization]"
        );
        assert_eq!(
            red(r#"{"api_key": "abc123"}"#),
            r#"{"api_key": "[REDACTED:api_key]"}"#
        );
        assert_eq!(
            red(r#"body={\"secret\":\"s3\"}"#),
            r#"body={\"secret\":\"[REDACTED:secret]\"}"#
        );
        assert_eq!(
            red("Cookie: sid=1; theme=dark"),
            "Cookie: [REDACTED:cookie]"
        );
    }

    #[test]
    fn counters_and_empty_values_stay() {
        for s in [
            "maxTokens=4096",
            "tokens: 812",
            "password=null",
            "first token received",
        ] {
            assert_eq!(red(s), s);
        }
    }

    #[test]
    fn overlapping_matches_resolve_to_one_marker() {
        let s = "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln";
        assert_eq!(red(s), "Authorization: [REDACTED:authorization]");
        let s = "auth header Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln ok";
        assert_eq!(red(s), "auth header Bearer [REDACTED:bearer] ok");
    }

    #[test]
    fn redacting_twice_changes_nothing_more() {
        let once = red("mail alice@example.com card 4111 1111 1111 1111 password=x");
        assert_eq!(red(&once), once);
    }
}
