//! Whether a record's `log` text is a JSON object, and its top-level keys: a quick scan for
//! the lines apps write (no escapes, plain numbers), serde_json for everything else.
//!
//! The object's members are copied into the shipped line as they are, so the answer must be
//! serde_json's: the quick scan only ever says "yes, with these keys" for text serde_json takes
//! with the same keys (a test holds it to that), and hands anything it is not sure of to
//! serde_json, which decides.

use std::borrow::Cow;

/// Nesting the quick scan follows; deeper text goes to serde_json (whose own limit is 128).
const MAX_QUICK_DEPTH: usize = 64;
/// Longest number the quick scan takes: no exponent and at most this many bytes can never be
/// out of `f64`'s range, which serde_json refuses (`1e999`).
const MAX_QUICK_NUMBER: usize = 32;

/// The top-level keys of `text` when it is one JSON object (surrounding whitespace allowed),
/// borrowed from it where they have no escapes; `None` when it is not.
pub fn object_keys(text: &str) -> Option<Vec<Cow<'_, str>>> {
    match quick_keys(text) {
        Some(keys) => Some(keys),
        None => serde_keys(text),
    }
}

/// serde_json's answer (the reference).
pub fn serde_keys(text: &str) -> Option<Vec<Cow<'_, str>>> {
    serde_json::from_str::<TopKeys<'_>>(text)
        .ok()
        .map(|TopKeys(keys)| keys)
}

/// The quick scan: `Some` only for an object of unescaped strings, plain numbers, literals,
/// arrays and objects, nested at most [`MAX_QUICK_DEPTH`]; `None` means "ask serde_json".
fn quick_keys(text: &str) -> Option<Vec<Cow<'_, str>>> {
    let b = text.as_bytes();
    let root = skip_ws(b, 0);
    if b.get(root) != Some(&b'{') {
        return None;
    }
    // room for a log line's keys and the record's fields, grown once at most
    let mut keys = Vec::with_capacity(32);
    // open containers: true for an object
    let mut stack: Vec<bool> = Vec::with_capacity(8);
    let mut i = value(text, root, &mut stack, &mut keys)?;
    while let Some(&is_object) = stack.last() {
        i = skip_ws(b, i);
        match *b.get(i)? {
            b',' if is_object => i = member(text, skip_ws(b, i + 1), &mut stack, &mut keys)?,
            b',' => i = value(text, skip_ws(b, i + 1), &mut stack, &mut keys)?,
            b'}' if is_object => {
                stack.pop();
                i += 1;
            }
            b']' if !is_object => {
                stack.pop();
                i += 1;
            }
            _ => return None,
        }
    }
    (skip_ws(b, i) == b.len()).then_some(keys)
}

/// One `"key": value` at `i` of the object on top of `stack`; the key goes into `keys` when
/// that object is the root.
fn member<'a>(
    text: &'a str,
    i: usize,
    stack: &mut Vec<bool>,
    keys: &mut Vec<Cow<'a, str>>,
) -> Option<usize> {
    let b = text.as_bytes();
    let (start, end) = string(b, i)?;
    if stack.len() == 1 {
        keys.push(Cow::Borrowed(text.get(start..end)?));
    }
    let i = skip_ws(b, end + 1);
    if b.get(i) != Some(&b':') {
        return None;
    }
    value(text, skip_ws(b, i + 1), stack, keys)
}

/// One value at `i`; an opened container is pushed and its first member or element read.
fn value<'a>(
    text: &'a str,
    i: usize,
    stack: &mut Vec<bool>,
    keys: &mut Vec<Cow<'a, str>>,
) -> Option<usize> {
    let b = text.as_bytes();
    match *b.get(i)? {
        b'"' => string(b, i).map(|(_, end)| end + 1),
        open @ (b'{' | b'[') => {
            if stack.len() >= MAX_QUICK_DEPTH {
                return None;
            }
            let is_object = open == b'{';
            let close = if is_object { b'}' } else { b']' };
            let j = skip_ws(b, i + 1);
            if b.get(j) == Some(&close) {
                return Some(j + 1);
            }
            stack.push(is_object);
            if is_object {
                member(text, j, stack, keys)
            } else {
                value(text, j, stack, keys)
            }
        }
        b'-' | b'0'..=b'9' => number(b, i),
        b't' => literal(b, i, b"true"),
        b'f' => literal(b, i, b"false"),
        b'n' => literal(b, i, b"null"),
        _ => None,
    }
}

/// An unescaped string at `i` (on its quote): its content span. A backslash or a control
/// byte hands the text to serde_json.
fn string(b: &[u8], i: usize) -> Option<(usize, usize)> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let start = i + 1;
    // a table lookup a byte: log strings are short, too short for a vector search to pay
    let len = b
        .get(start..)?
        .iter()
        .position(|&c| STRING_STOP[c as usize])?;
    let end = start + len;
    (b[end] == b'"').then_some((start, end))
}

/// The bytes that end the quick scan of a string: its closing quote, a backslash (an escape,
/// for serde_json) and the control bytes JSON does not allow in a string.
static STRING_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

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

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// The top-level keys of a JSON object (and proof that it is one), without its values.
struct TopKeys<'a>(Vec<Cow<'a, str>>);

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
                let mut keys = Vec::with_capacity(32);
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
            let (fast, reference) = (quick_keys(&text), serde_keys(&text));
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
            assert_eq!(quick_keys(text), None, "{text}");
            assert_eq!(object_keys(text), None, "{text}");
        }
    }

    #[test]
    fn plain_bodies_are_taken_quickly_with_their_keys_borrowed() {
        let text = r#" {"timestamp":"2026-11-01T00:00:00.000Z","level":"info","n":-12.5,"ok":true,"a":[1,{"b":null}],"e":{}} "#;
        let keys = quick_keys(text).unwrap();
        assert_eq!(keys, ["timestamp", "level", "n", "ok", "a", "e"]);
        assert!(keys.iter().all(|k| matches!(k, Cow::Borrowed(_))));
        assert_eq!(quick_keys("{}"), Some(Vec::new()));
        // escapes and exponents go to serde_json, which takes them
        assert_eq!(quick_keys(r#"{"k\u0041":1}"#), None);
        assert_eq!(object_keys(r#"{"k\u0041":1e3}"#).unwrap(), ["kA"]);
    }

    #[test]
    fn nesting_past_the_quick_depth_goes_to_serde_json() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(70), "]".repeat(70));
        assert_eq!(quick_keys(&deep), None);
        assert_eq!(object_keys(&deep).unwrap(), ["a"]);
        let too_deep = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        assert_eq!(object_keys(&too_deep), None);
    }
}
