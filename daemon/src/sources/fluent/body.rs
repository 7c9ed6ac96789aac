//! Whether a record's `log` text is a JSON object, and its top-level keys: a quick scan for
//! the lines apps write (no escapes, plain numbers), serde_json for everything else.
//!
//! The object's members are copied into the shipped line as they are, so the answer must be
//! serde_json's: the quick scan only ever says "yes, with these keys" for text serde_json takes
//! with the same keys (a test holds it to that), and hands anything it is not sure of to
//! serde_json, which decides.

use std::borrow::Cow;

use smallvec::SmallVec;

/// Nesting the quick scan follows (one bit a level in a `u64`); deeper text goes to
/// serde_json (whose own limit is 128).
const MAX_QUICK_DEPTH: usize = 64;
/// Longest number the quick scan takes: no exponent and at most this many bytes can never be
/// out of `f64`'s range, which serde_json refuses (`1e999`).
const MAX_QUICK_NUMBER: usize = 32;
/// Keys held without a heap allocation: a W1 line has 9, a FireLens record adds 7.
const INLINE_KEYS: usize = 24;

/// A body's top-level keys, in order.
pub type KeyList<'a> = SmallVec<[Cow<'a, str>; INLINE_KEYS]>;

/// Whether `text` is one JSON object (surrounding whitespace allowed), with its top-level
/// keys in `keys` when it is (borrowed from it where they have no escapes).
pub fn object_keys_into<'a>(text: &'a str, keys: &mut KeyList<'a>) -> bool {
    keys.clear();
    if quick_keys(text, keys).is_some() {
        return true;
    }
    keys.clear();
    match serde_keys(text) {
        Some(found) => {
            keys.extend(found);
            true
        }
        None => false,
    }
}

/// [`object_keys_into`], returning the keys.
#[cfg(test)]
pub fn object_keys(text: &str) -> Option<KeyList<'_>> {
    let mut keys = KeyList::new();
    object_keys_into(text, &mut keys).then_some(keys)
}

/// serde_json's answer (the reference).
pub fn serde_keys(text: &str) -> Option<KeyList<'_>> {
    serde_json::from_str::<TopKeys<'_>>(text)
        .ok()
        .map(|TopKeys(keys)| keys)
}

/// What the quick scan expects at the next token.
#[derive(Clone, Copy)]
enum Expect {
    /// A value (after `:`, `[` or `,` in an array).
    Value,
    /// A member's key (after `{` or `,` in an object).
    Key,
    /// `,` or the close of the open container, or the end of the text at depth 0.
    Next,
}

/// The quick scan: `Some` only for an object of unescaped strings, plain numbers, literals,
/// arrays and objects, nested at most [`MAX_QUICK_DEPTH`], with no control byte anywhere
/// (JSON allows tabs and newlines between tokens, but a log line has none: those go to
/// serde_json); `None` means "ask serde_json".
fn quick_keys<'a>(text: &'a str, keys: &mut KeyList<'a>) -> Option<()> {
    let b = text.as_bytes();
    // One pass without an early exit, so it compiles to vector compares; after it, spaces
    // are the only whitespace and a string ends at its quote or a backslash.
    if b.iter().fold(false, |seen, &c| seen | (c < 0x20)) {
        return None;
    }
    let mut i = skip_spaces(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    let search = quote_search()?;
    let mut open = Open::default();
    let mut expect = Expect::Value;
    loop {
        i = skip_spaces(b, i);
        match expect {
            Expect::Key => {
                let (start, end) = string(&search, b, i)?;
                if open.depth == 1 {
                    keys.push(Cow::Borrowed(text.get(start..end)?));
                }
                i = skip_spaces(b, end + 1);
                if b.get(i) != Some(&b':') {
                    return None;
                }
                i = skip_spaces(b, i + 1);
                // a string value, most members' own, read here: no turn of the loop for it
                expect = Expect::Value;
                if b.get(i) == Some(&b'"') {
                    i = string(&search, b, i)?.1 + 1;
                    expect = Expect::Next;
                }
            }
            Expect::Value => {
                expect = Expect::Next;
                match *b.get(i)? {
                    b'"' => i = string(&search, b, i)?.1 + 1,
                    bracket @ (b'{' | b'[') => {
                        let is_object = bracket == b'{';
                        let close = if is_object { b'}' } else { b']' };
                        let j = skip_spaces(b, i + 1);
                        i = j;
                        if b.get(j) == Some(&close) {
                            i += 1;
                        } else {
                            open.push(is_object)?;
                            expect = Expect::first_in(is_object);
                        }
                    }
                    _ => i = scalar(b, i)?,
                }
            }
            Expect::Next => {
                let Some(is_object) = open.top() else {
                    return (i == b.len()).then_some(());
                };
                match *b.get(i)? {
                    b',' => expect = Expect::first_in(is_object),
                    b'}' if is_object => open.pop(),
                    b']' if !is_object => open.pop(),
                    _ => return None,
                }
                i += 1;
            }
        }
    }
}

impl Expect {
    /// What an open object (a key) or array (a value) takes first, and after each `,`.
    fn first_in(is_object: bool) -> Expect {
        if is_object {
            Expect::Key
        } else {
            Expect::Value
        }
    }
}

/// The containers the quick scan is inside: bit `d` of `objects` is set when the one open at
/// depth `d + 1` is an object.
#[derive(Default)]
struct Open {
    objects: u64,
    depth: usize,
}

impl Open {
    /// Opens a container; `None` past [`MAX_QUICK_DEPTH`].
    fn push(&mut self, is_object: bool) -> Option<()> {
        if self.depth >= MAX_QUICK_DEPTH {
            return None;
        }
        let bit = 1u64 << self.depth;
        self.objects = (self.objects & !bit) | if is_object { bit } else { 0 };
        self.depth += 1;
        Some(())
    }

    /// Whether the innermost open container is an object; `None` outside every container.
    fn top(&self) -> Option<bool> {
        let depth = self.depth.checked_sub(1)?;
        Some(self.objects & (1 << depth) != 0)
    }

    fn pop(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }
}

/// A number or a literal at `i`: the offset after it.
fn scalar(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'-' | b'0'..=b'9' => number(b, i),
        b't' => literal(b, i, b"true"),
        b'f' => literal(b, i, b"false"),
        b'n' => literal(b, i, b"null"),
        _ => None,
    }
}

/// The search for a string's end (`"`, or `\\` for an escape): the baseline vector unit's,
/// built once a body. `memchr::memchr2` chooses its implementation on every call, which was
/// a third of its cost on strings this short (callgrind, W1).
#[cfg(target_arch = "x86_64")]
type QuoteSearch = memchr::arch::x86_64::sse2::memchr::Two;
#[cfg(target_arch = "aarch64")]
type QuoteSearch = memchr::arch::aarch64::neon::memchr::Two;

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn quote_search() -> Option<QuoteSearch> {
    QuoteSearch::new(b'"', b'\\')
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
type QuoteSearch = memchr::arch::all::memchr::Two;

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn quote_search() -> Option<QuoteSearch> {
    Some(QuoteSearch::new(b'"', b'\\'))
}

/// An unescaped string at `i` (on its quote): its content span. A backslash hands the text
/// to serde_json; control bytes were refused before the scan.
fn string(search: &QuoteSearch, b: &[u8], i: usize) -> Option<(usize, usize)> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let start = i + 1;
    let end = start + search.find(b.get(start..)?)?;
    (b[end] == b'"').then_some((start, end))
}

/// A number without exponent, of at most [`MAX_QUICK_NUMBER`] bytes, in JSON's grammar.
fn number(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    if b.get(j) == Some(&b'-') {
        j += 1;
    }
    match b.get(j) {
        Some(b'0') => j += 1,
        Some(b'1'..=b'9') => {
            while b.get(j).is_some_and(u8::is_ascii_digit) {
                j += 1;
            }
        }
        _ => return None,
    }
    if b.get(j) == Some(&b'.') {
        j += 1;
        if !b.get(j).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        while b.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
    }
    let ends = !matches!(b.get(j), Some(b'e' | b'E' | b'0'..=b'9' | b'.'));
    (ends && j - i <= MAX_QUICK_NUMBER).then_some(j)
}

fn literal(b: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    (b.get(i..i + word.len()) == Some(word)).then_some(i + word.len())
}

fn skip_spaces(b: &[u8], mut i: usize) -> usize {
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    i
}

/// The top-level keys of a JSON object (and proof that it is one), without its values.
struct TopKeys<'a>(KeyList<'a>);

impl<'de> serde::Deserialize<'de> for TopKeys<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = TopKeys<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<TopKeys<'de>, A::Error> {
                let mut keys = KeyList::new();
                while let Some(KeyText(key)) = map.next_key::<KeyText<'de>>()? {
                    map.next_value::<Valid>()?;
                    keys.push(key);
                }
                Ok(TopKeys(keys))
            }
        }
        deserializer.deserialize_map(Keys)
    }
}

/// A JSON object key, borrowed from the line when it has no escapes. (serde's own `Cow<str>`
/// always copies, an allocation per key per line.)
struct KeyText<'a>(Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for KeyText<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl<'de> serde::de::Visitor<'de> for Text {
            type Value = KeyText<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<KeyText<'de>, E> {
                Ok(KeyText(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<KeyText<'de>, E> {
                Ok(KeyText(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(Text)
    }
}

/// Any JSON value, checked as a `serde_json::Value` would be and discarded. `IgnoredAny`
/// only scans, so it let `1e999` through, a number no JSON reader takes (the fuzzer found
/// it): the body is copied into the line as it is, so it must parse everywhere.
struct Valid;

impl<'de> serde::Deserialize<'de> for Valid {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Any;
        impl<'de> serde::de::Visitor<'de> for Any {
            type Value = Valid;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Valid, E> {
                Ok(Valid)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Valid, E> {
                Ok(Valid)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Valid, E> {
                Ok(Valid)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Valid, E> {
                Ok(Valid)
            }
            fn visit_str<E>(self, _: &str) -> Result<Valid, E> {
                Ok(Valid)
            }
            fn visit_unit<E>(self) -> Result<Valid, E> {
                Ok(Valid)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Valid, A::Error> {
                while seq.next_element::<Valid>()?.is_some() {}
                Ok(Valid)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Valid, A::Error> {
                while map.next_key::<KeyText<'de>>()?.is_some() {
                    map.next_value::<Valid>()?;
                }
                Ok(Valid)
            }
        }
        deserializer.deserialize_any(Any)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::TestRng;

    fn quick_scan(text: &str) -> Option<KeyList<'_>> {
        let mut keys = KeyList::new();
        quick_keys(text, &mut keys).map(|()| keys)
    }

    /// Pieces of JSON text, valid and not, glued into candidate bodies.
    const PIECES: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        " ",
        "\n",
        "\"a\"",
        "\"level\"",
        "\"tag\"",
        "\"x y\"",
        "\"\\u0041\"",
        "\"\\n\"",
        "\"\t\"",
        "\"é\"",
        "1",
        "-0",
        "0.5",
        "-12.25",
        "01",
        "1.",
        "1e5",
        "1e999",
        "1E-2",
        "12345678901234567890123456789012345",
        "true",
        "false",
        "null",
        "nul",
        "tru",
        "\"",
        "\\",
        "{}",
        "[]",
        "{\"k\":1}",
        "[1,2]",
    ];

    fn valid_value(rng: &mut TestRng, depth: usize) -> String {
        match rng.below(if depth > 3 { 4 } else { 6 }) {
            0 => format!("\"{}\"", ["", "info", "a b", "x\\\"y", "é✓"][rng.below(5)]),
            1 => ["0", "-1", "3.25", "1730000000000", "1e3", "-0.0"][rng.below(6)].to_owned(),
            2 => ["true", "false", "null"][rng.below(3)].to_owned(),
            3 => "\"plain\"".to_owned(),
            4 => format!(
                "[{}]",
                (0..rng.below(3))
                    .map(|_| valid_value(rng, depth + 1))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => valid_object(rng, depth + 1),
        }
    }

    fn valid_object(rng: &mut TestRng, depth: usize) -> String {
        let members: Vec<String> = (0..rng.below(5))
            .map(|_| {
                let key = ["level", "msg", "tag", "timestamp", "k\\u0041", "a"][rng.below(6)];
                format!("\"{key}\" : {}", valid_value(rng, depth))
            })
            .collect();
        format!("{{{}}}", members.join(","))
    }

    #[test]
    fn the_quick_scan_answers_only_as_serde_json_does() {
        let mut rng = TestRng(0x5eed_b0d1_0000_0001);
        let (mut quick, mut valid) = (0, 0);
        for n in 0..40_000 {
            let text = if n % 2 == 0 {
                let mut text = valid_object(&mut rng, 0);
                // a mutation: a piece inserted, or a byte removed, somewhere
                if rng.below(2) == 0 {
                    let at = text.char_indices().map(|(i, _)| i).collect::<Vec<_>>();
                    let at = at[rng.below(at.len())];
                    if rng.below(2) == 0 {
                        text.insert_str(at, PIECES[rng.below(PIECES.len())]);
                    } else {
                        text.remove(at);
                    }
                }
                text
            } else {
                (0..1 + rng.below(8))
                    .map(|_| PIECES[rng.below(PIECES.len())])
                    .collect()
            };
            let (fast, reference) = (quick_scan(&text), serde_keys(&text));
            if let Some(keys) = &fast {
                assert_eq!(Some(keys), reference.as_ref(), "{text:?}");
                quick += 1;
            }
            valid += usize::from(reference.is_some());
            assert_eq!(object_keys(&text), reference, "{text:?}");
        }
        // both branches are exercised: the quick scan answers most valid bodies
        assert!(valid > 5_000, "only {valid} valid bodies");
        assert!(
            quick * 10 > valid * 5,
            "quick scan answered {quick} of {valid}"
        );
    }

    #[test]
    fn what_serde_json_refuses_is_never_taken_quickly() {
        for text in [
            r#"{"a":1e999}"#,
            r#"{"a":1}x"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":tru}"#,
            "{\"a\":\"\t\"}",
            r#"{"a" 1}"#,
            r#"{"a":1,}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":{"b":}}"#,
            r#"[{"a":1}]"#,
            r#"{"a":"x"#,
        ] {
            assert_eq!(quick_scan(text), None, "{text}");
            assert_eq!(object_keys(text), None, "{text}");
        }
    }

    #[test]
    fn plain_bodies_are_taken_quickly_with_their_keys_borrowed() {
        let text = r#" {"timestamp":"2026-11-01T00:00:00.000Z","level":"info","n":-12.5,"ok":true,"a":[1,{"b":null}],"e":{}} "#;
        let keys = quick_scan(text).unwrap();
        assert_eq!(keys[..], ["timestamp", "level", "n", "ok", "a", "e"]);
        assert!(keys.iter().all(|k| matches!(k, Cow::Borrowed(_))));
        assert_eq!(quick_scan("{}"), Some(KeyList::new()));
        // escapes, exponents and whitespace other than spaces go to serde_json, which takes them
        assert_eq!(quick_scan("{\"a\":\n1,\t\"b\":2}"), None);
        assert_eq!(
            object_keys("{\"a\":\n1,\t\"b\":2}").unwrap()[..],
            ["a", "b"]
        );
        assert_eq!(quick_scan(r#"{"k\u0041":1}"#), None);
        assert_eq!(object_keys(r#"{"k\u0041":1e3}"#).unwrap()[..], ["kA"]);
    }

    #[test]
    fn nesting_past_the_quick_depth_goes_to_serde_json() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(70), "]".repeat(70));
        assert_eq!(quick_scan(&deep), None);
        assert_eq!(object_keys(&deep).unwrap()[..], ["a"]);
        let too_deep = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        assert_eq!(object_keys(&too_deep), None);
    }
}
