//! Maps one forward event onto the log contract: the record's `log` field (what the Docker
//! and FireLens drivers send) becomes the line, read as JSON when it is a JSON object, and the
//! record's other fields (`container_id`, `container_name`, `source`, `ecs_cluster`,
//! `ecs_task_arn`, `ecs_task_definition`, …) and the tag are kept as fields beside it.

use std::borrow::Cow;
use std::io::Write;

use rmpv::ValueRef;

use super::protocol::Event;

/// The field Docker's fluentd log driver and FireLens put the container's line in.
const LOG_FIELD: &str = "log";
/// Docker's partial-message fields: consumed by the reassembly, never shipped.
pub const PARTIAL_FIELDS: [&str; 4] = [
    "partial_message",
    "partial_id",
    "partial_ordinal",
    "partial_last",
];

/// Where the event's tag goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagPlacement {
    /// In the line, its last member.
    Inline,
    /// Left out: the caller adds [`tag_member`] at the end (the processor does, once a chunk).
    Trailing,
}

/// The tag as the line's last member, `"tag":"…"`: what [`TagPlacement::Inline`] writes.
pub fn tag_member(tag: &str) -> String {
    let mut out = b"\"tag\":".to_vec();
    write_json_string(&mut out, tag);
    String::from_utf8_lossy(&out).into_owned()
}

/// Writes the event as one JSON object line into `out`. `log` overrides the record's `log`
/// field (a reassembled partial message). Returns whether the line takes the tag (it does
/// unless the app's line has a `tag` of its own): with [`TagPlacement::Trailing`] it is then
/// the caller's to add.
pub fn write_line(
    event: &Event<'_, '_>,
    log: Option<&str>,
    tag: TagPlacement,
    out: &mut Vec<u8>,
) -> bool {
    let log_value: Option<Cow<'_, str>> = log.map(Cow::Borrowed).or_else(|| {
        event
            .record
            .iter()
            .find(|(k, _)| super::protocol::key_is(k, LOG_FIELD))
            .map(|(_, v)| text_cow(v))
    });
    // The top-level keys already on the line, so a record field never repeats one. A line
    // has a few dozen keys at most: a list scan beats hashing them.
    let mut present = super::body::KeyList::new();
    let mut body: Option<&str> = None;
    if let Some(text) = log_value.as_deref() {
        let trimmed = text.trim();
        if trimmed.starts_with('{') && super::body::object_keys_into(trimmed, &mut present) {
            body = Some(trimmed);
        }
    }
    present.reserve(event.record.len() + 2);
    let has = |present: &[Cow<'_, str>], key: &str| present.iter().any(|k| k == key);
    out.push(b'{');
    let mut first = true;
    // The event's own time goes first, where the decoder looks for it, unless the app's JSON
    // line has its own.
    if !has(&present, "timestamp") {
        write_literal_key(out, &mut first, b"\"timestamp\":");
        out.push(b'"');
        out.extend_from_slice(rfc3339(event.time_ns).as_bytes());
        out.push(b'"');
        present.push(Cow::Borrowed("timestamp"));
    }
    match (body, log_value.as_deref()) {
        (Some(json), _) => {
            // The object's members as the app wrote them, without its braces.
            let inner = json[1..json.len() - 1].trim();
            if !inner.is_empty() {
                if !first {
                    out.push(b',');
                }
                out.extend_from_slice(inner.as_bytes());
                first = false;
            }
        }
        (None, Some(text)) => {
            write_literal_key(out, &mut first, b"\"message\":");
            write_json_string(out, text.strip_suffix('\n').unwrap_or(text));
            present.push(Cow::Borrowed("message"));
        }
        (None, None) => {}
    }
    for (key, value) in event.record {
        let key = key_text(key);
        // Partial fields go once the parts are joined; parts shipped one by one keep them.
        let joined = !event.acked && PARTIAL_FIELDS.contains(&key.as_ref());
        if key == LOG_FIELD || joined || has(&present, &key) {
            continue;
        }
        write_key(out, &mut first, &key);
        write_value(out, value, Keys::Render);
        present.push(key);
    }
    let takes_tag = !has(&present, "tag");
    if takes_tag && tag == TagPlacement::Inline {
        write_literal_key(out, &mut first, b"\"tag\":");
        write_json_string(out, event.tag);
    }
    out.push(b'}');
    takes_tag
}

fn write_key(out: &mut Vec<u8>, first: &mut bool, key: &str) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    write_json_string(out, key);
    out.push(b':');
}

/// A key written as it is: `literal` is the key already quoted, with its colon.
fn write_literal_key(out: &mut Vec<u8>, first: &mut bool, literal: &[u8]) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    out.extend_from_slice(literal);
}

fn write_json_string(out: &mut Vec<u8>, text: &str) {
    // Text with nothing to escape (a tag, a key, most values) is copied between quotes: what
    // serde_json writes for it, without its escape table.
    if text.bytes().all(|c| c >= 0x20 && c != b'"' && c != b'\\') {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
        return;
    }
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

/// A string (borrowed when it is valid UTF-8) or anything else as its text.
fn text_cow<'a>(value: &'a ValueRef<'_>) -> Cow<'a, str> {
    match value {
        ValueRef::String(s) => match s.as_str() {
            Some(text) => Cow::Borrowed(text),
            None => Cow::Owned(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        },
        other => Cow::Owned(text_of(other)),
    }
}

/// A string or binary as text (invalid UTF-8 replaced), anything else as its JSON text.
pub fn text_of(value: &ValueRef<'_>) -> String {
    match value {
        ValueRef::String(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        ValueRef::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        other => {
            let mut out = Vec::new();
            write_value(&mut out, other, Keys::Render);
            String::from_utf8_lossy(&out).into_owned()
        }
    }
}

/// How compound map keys (an array or a map used as a key) are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keys {
    /// As their JSON text.
    Render,
    /// As [`ELIDED_KEY`]: inside a key already being rendered.
    Elide,
}

/// What a compound key inside a compound key becomes. Rendering a key inside a key inside a
/// key… escapes the text once more at each level, so nesting doubled the size per level: a
/// 109-byte frame found by the fuzzer became 2.3 MB of line. No log record has such keys.
const ELIDED_KEY: &str = "…";

/// A map key as text: strings and binaries as they are (invalid UTF-8 replaced), scalars as
/// their JSON text, a compound key as its JSON text with the compound keys inside it elided,
/// so a key's text is at most a bounded multiple of its bytes.
fn key_text<'a>(key: &'a ValueRef<'_>) -> Cow<'a, str> {
    match key {
        ValueRef::String(_) | ValueRef::Binary(_) => text_cow(key),
        other => {
            let mut out = Vec::new();
            write_value(&mut out, other, Keys::Elide);
            Cow::Owned(String::from_utf8_lossy(&out).into_owned())
        }
    }
}

/// A msgpack value as JSON: strings and binaries as (lossy) strings, non-finite floats as
/// null, extensions (EventTime) as RFC 3339 time or null.
fn write_value(out: &mut Vec<u8>, value: &ValueRef<'_>, keys: Keys) {
    match value {
        ValueRef::Nil => out.extend_from_slice(b"null"),
        ValueRef::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        ValueRef::Integer(n) => {
            let _ = write!(out, "{n}");
        }
        ValueRef::F32(f) => write_float(out, f64::from(*f)),
        ValueRef::F64(f) => write_float(out, *f),
        ValueRef::String(_) => write_json_string(out, &text_cow(value)),
        ValueRef::Binary(b) => write_json_string(out, &String::from_utf8_lossy(b)),
        ValueRef::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item, keys);
            }
            out.push(b']');
        }
        ValueRef::Map(pairs) => {
            out.push(b'{');
            let mut first = true;
            for (k, v) in pairs {
                let compound = matches!(k, ValueRef::Array(_) | ValueRef::Map(_));
                let key = match keys {
                    Keys::Elide if compound => Cow::Borrowed(ELIDED_KEY),
                    _ => key_text(k),
                };
                write_key(out, &mut first, &key);
                write_value(out, v, keys);
            }
            out.push(b'}');
        }
        ValueRef::Ext(0, data) if data.len() == 8 => {
            let secs = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
            let nanos = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
            let ns = i64::from(secs) * 1_000_000_000 + i64::from(nanos);
            write_json_string(out, &rfc3339(ns));
        }
        ValueRef::Ext(..) => out.extend_from_slice(b"null"),
    }
}

fn write_float(out: &mut Vec<u8>, f: f64) {
    if f.is_finite() {
        // serde_json's own (shortest round-trip) form: `{f}` writes f64::MAX as 309 digits,
        // which JSON readers parse past the range (the fuzzer found it).
        let _ = serde_json::to_writer(&mut *out, &f);
    } else {
        out.extend_from_slice(b"null");
    }
}

fn rfc3339(time_ns: i64) -> String {
    crate::sources::structured::rfc3339_ns(i128::from(time_ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(record: &[(ValueRef<'_>, ValueRef<'_>)]) -> serde_json::Value {
        let event = Event {
            tag: "app-firelens-abc",
            time_ns: 1_795_568_523_456_000_001,
            record,
            acked: false,
        };
        let mut inline = Vec::new();
        write_line(&event, None, TagPlacement::Inline, &mut inline);
        // the same line when the tag is left for the processor and spliced in after
        let mut trailing = Vec::new();
        if write_line(&event, None, TagPlacement::Trailing, &mut trailing) {
            crate::redact::splice_member_bytes(&mut trailing, &tag_member(event.tag));
        }
        assert_eq!(trailing, inline);
        serde_json::from_slice(&inline).unwrap()
    }

    #[test]
    fn bodies_and_floats_are_written_so_every_json_reader_takes_them() {
        // `1e999` scans as JSON but parses nowhere: such a body is the message, not fields.
        assert!(super::super::body::object_keys(r#"{"a":1e999}"#).is_none());
        assert!(super::super::body::object_keys(r#"{"a":[1.5,{"b":null}]}"#).is_some());
        let mut out = Vec::new();
        write_float(&mut out, f64::MIN);
        let back: f64 = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, f64::MIN, "{}", String::from_utf8_lossy(&out));
    }

    #[test]
    fn strings_are_written_byte_for_byte_as_serde_json_writes_them() {
        for text in [
            "",
            "server.stdout",
            "é✓ \u{2028} \u{7f}",
            "a\"b",
            "back\\slash",
            "tab\there",
            "nul\u{0}",
            "line\n",
        ] {
            let mut ours = Vec::new();
            write_json_string(&mut ours, text);
            assert_eq!(ours, serde_json::to_vec(text).unwrap(), "{text:?}");
        }
    }

    #[test]
    fn a_json_log_becomes_the_line_with_the_container_and_ecs_fields_beside_it() {
        let log = r#"{"level":"info","event":"job.completed","message":"done","source":"app"}"#;
        let got = line(&[
            (ValueRef::from("container_id"), ValueRef::from("c0ffee")),
            (
                ValueRef::from("container_name"),
                ValueRef::from("/ecs-server-1"),
            ),
            (ValueRef::from("source"), ValueRef::from("stdout")),
            (ValueRef::from("log"), ValueRef::from(log)),
            (ValueRef::from("ecs_cluster"), ValueRef::from("prod")),
            (
                ValueRef::from("ecs_task_arn"),
                ValueRef::from("arn:aws:ecs:task/1"),
            ),
            (
                ValueRef::from("ecs_task_definition"),
                ValueRef::from("server:7"),
            ),
            (ValueRef::from("partial_id"), ValueRef::from("p")),
        ]);
        assert_eq!(got["event"], "job.completed");
        assert_eq!(got["message"], "done");
        // The app's own `source` wins over the driver's.
        assert_eq!(got["source"], "app");
        assert_eq!(got["container_id"], "c0ffee");
        assert_eq!(got["container_name"], "/ecs-server-1");
        assert_eq!(got["ecs_cluster"], "prod");
        assert_eq!(got["ecs_task_arn"], "arn:aws:ecs:task/1");
        assert_eq!(got["ecs_task_definition"], "server:7");
        assert_eq!(got["tag"], "app-firelens-abc");
        assert_eq!(got["timestamp"], "2026-11-25T01:02:03.456000001Z");
        assert!(got.get("partial_id").is_none());
        assert!(got.get("log").is_none());
    }

    #[test]
    fn a_text_log_becomes_the_message_and_other_records_keep_every_field() {
        let got = line(&[
            (ValueRef::from("log"), ValueRef::from("plain text line\n")),
            (ValueRef::from("source"), ValueRef::from("stderr")),
        ]);
        assert_eq!(got["message"], "plain text line");
        assert_eq!(got["source"], "stderr");
        let nested = [(ValueRef::from("k"), ValueRef::from(1))];
        let got = line(&[
            (
                ValueRef::from("message"),
                ValueRef::from("from fluent-logger"),
            ),
            (ValueRef::from("n"), ValueRef::from(f64::NAN)),
            (ValueRef::from("m"), ValueRef::Map(nested.to_vec())),
            (ValueRef::from("b"), ValueRef::Binary(b"\xffbytes")),
        ]);
        assert_eq!(got["message"], "from fluent-logger");
        assert_eq!(got["n"], serde_json::Value::Null);
        assert_eq!(got["m"]["k"], 1);
        assert_eq!(got["b"], "\u{fffd}bytes");
    }

    #[test]
    fn a_json_log_with_its_own_timestamp_keeps_it_and_an_empty_object_stays_valid() {
        let got = line(&[(
            ValueRef::from("log"),
            ValueRef::from(r#"{"timestamp":"2026-01-01T00:00:00Z","tag":"mine"}"#),
        )]);
        assert_eq!(got["timestamp"], "2026-01-01T00:00:00Z");
        assert_eq!(got["tag"], "mine");
        let got = line(&[(ValueRef::from("log"), ValueRef::from("{ }"))]);
        assert_eq!(got["tag"], "app-firelens-abc");
        // Broken JSON is text, never spliced.
        let got = line(&[(ValueRef::from("log"), ValueRef::from(r#"{"a":"#))]);
        assert_eq!(got["message"], r#"{"a":"#);
    }
}
