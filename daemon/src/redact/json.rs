//! The JSON walkers: one over raw line text (validating, iterative, copying only the spans it
//! replaces, so key order, spacing and untouched escapes stay byte-identical) and one over a
//! parsed `serde_json::Value` in place.

use std::borrow::Cow;

use serde_json::Value;

use super::config::NumericMarker;
use super::json_string::{decode_string, encode_string};
use super::keys::is_counter_key;
use super::patterns::is_card_number;
use super::prefilter::{Flags, Marks};
use super::rules::{RuleId, CARD};
use super::text::is_marker;
use super::Redactor;

/// The text is not a single valid JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotJson;

#[derive(Clone, Copy)]
enum State {
    Value,
    AfterValue,
    Key,
}

struct Walk<'a> {
    s: &'a str,
    b: &'a [u8],
    pos: usize,
    out: String,
    last: usize,
    only_keys: bool,
    /// Where the line's triggers are (`None`: scan each string instead), and the first
    /// literal and byte-class mark not yet passed by the walk.
    marks: Option<&'a Marks>,
    next_literal: usize,
    next_shape: usize,
    /// The line has an IP shape, which the marks do not place: every string is shape-scanned.
    ip: bool,
    /// Content span of the key of the value being read (a counter key, `total_tokens`,
    /// gets no card check).
    key: (usize, usize),
}

impl<'a> Walk<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Result<u8, NotJson> {
        self.b.get(self.pos).copied().ok_or(NotJson)
    }

    /// Scans a string at `pos` (on its quote); returns the content span and whether it has escapes.
    fn string(&mut self) -> Result<(usize, usize, bool), NotJson> {
        let start = self.pos + 1;
        let mut i = start;
        let mut escaped = false;
        loop {
            match *self.b.get(i).ok_or(NotJson)? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    match *self.b.get(i + 1).ok_or(NotJson)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                        b'u' => {
                            let hex = self.b.get(i + 2..i + 6).ok_or(NotJson)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return Err(NotJson);
                            }
                            i += 6;
                        }
                        _ => return Err(NotJson),
                    }
                }
                0..=0x1f => return Err(NotJson),
                _ => i += 1,
            }
        }
        self.pos = i + 1;
        Ok((start, i, escaped))
    }

    /// Scans a number; returns its span and whether it is a plain non-negative integer.
    fn number(&mut self) -> Result<(usize, usize, bool), NotJson> {
        let start = self.pos;
        let b = self.b;
        let mut i = start;
        let mut integer = true;
        if b.get(i) == Some(&b'-') {
            i += 1;
            integer = false;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                while b.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
            }
            _ => return Err(NotJson),
        }
        if b.get(i) == Some(&b'.') {
            integer = false;
            i += 1;
            if !b.get(i).is_some_and(u8::is_ascii_digit) {
                return Err(NotJson);
            }
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        if let Some(b'e' | b'E') = b.get(i) {
            integer = false;
            i += 1;
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            if !b.get(i).is_some_and(u8::is_ascii_digit) {
                return Err(NotJson);
            }
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        self.pos = i;
        Ok((start, i, integer))
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), NotJson> {
        if self.b.get(self.pos..self.pos + word.len()) == Some(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(NotJson)
        }
    }

    /// From the line's marks, the literal triggers inside `cs..ce` and whether a byte-class
    /// trigger may be there; `None` without marks. Strings are asked for in the order of the
    /// text, so the cursors only move forward.
    fn marked_flags(&mut self, cs: usize, ce: usize) -> Option<(u32, bool)> {
        let marks = self.marks?;
        let mut i = self.next_literal;
        while marks.literals.get(i).is_some_and(|m| m.start < cs) {
            i += 1;
        }
        let mut bits = 0;
        while let Some(m) = marks.literals.get(i).filter(|m| m.start < ce) {
            bits |= m.bits;
            i += 1;
        }
        self.next_literal = i;
        let mut j = self.next_shape;
        while marks.shapes.get(j).is_some_and(|&at| at < cs) {
            j += 1;
        }
        let shape = self.ip || marks.shapes.get(j).is_some_and(|&at| at < ce);
        self.next_shape = j;
        Some((bits, shape))
    }

    /// Replaces bytes `start..end` of the input with `with`, written as a JSON string.
    fn replace(&mut self, start: usize, end: usize, with: &str) {
        self.out.push_str(&self.s[self.last..start]);
        encode_string(with, &mut self.out);
        self.last = end;
    }

    /// Replaces bytes `start..end` of the input with the JSON text `raw` as it is.
    fn replace_raw(&mut self, start: usize, end: usize, raw: &str) {
        self.out.push_str(&self.s[self.last..start]);
        self.out.push_str(raw);
        self.last = end;
    }
}

impl Redactor {
    /// Redacts a JSON text; `Ok(None)` when nothing changed, `Err` when it is not JSON.
    ///
    /// `line_flags` are the prefilter's triggers for the whole text: when they hold nothing but
    /// key stems, a string can only need `key=value` redaction, so strings without `=` or `:`
    /// are skipped. `marks` say where its triggers are ([`Prefilter::scan_marked`] of `s`),
    /// which spares each unescaped string a second scan; `None` scans every string.
    ///
    /// [`Prefilter::scan_marked`]: super::prefilter::Prefilter::scan_marked
    pub(crate) fn redact_json_text(
        &self,
        s: &str,
        line_flags: Flags,
        marks: Option<&Marks>,
    ) -> Result<Option<String>, NotJson> {
        let only_keys = line_flags.0 & !Flags::KEY == 0 && self.custom.is_empty();
        let mut w = Walk {
            s,
            b: s.as_bytes(),
            pos: 0,
            out: String::new(),
            last: 0,
            only_keys,
            marks,
            next_literal: 0,
            next_shape: 0,
            ip: line_flags.has(Flags::IP),
            key: (0, 0),
        };
        let mut stack: Vec<bool> = Vec::new();
        // a key rule owns the value being scanned: (rule, value start, depth of its object)
        let mut pending: Option<(RuleId, usize, usize)> = None;
        let mut norm = String::new();
        let mut state = State::Value;
        w.ws();
        loop {
            match state {
                State::Value => {
                    w.ws();
                    match w.peek()? {
                        b'{' => {
                            w.pos += 1;
                            stack.push(true);
                            w.ws();
                            if w.peek()? == b'}' {
                                w.pos += 1;
                                stack.pop();
                                state = State::AfterValue;
                            } else {
                                state = State::Key;
                            }
                        }
                        b'[' => {
                            w.pos += 1;
                            stack.push(false);
                            w.ws();
                            if w.peek()? == b']' {
                                w.pos += 1;
                                stack.pop();
                                state = State::AfterValue;
                            } else {
                                state = State::Value;
                            }
                        }
                        b'"' => {
                            let (cs, ce, esc) = w.string()?;
                            if pending.is_none() {
                                self.json_string(&mut w, cs, ce, esc);
                            }
                            state = State::AfterValue;
                        }
                        b'-' | b'0'..=b'9' => {
                            let (ns, ne, integer) = w.number()?;
                            let card_sized = integer && (13..=19).contains(&(ne - ns));
                            let counter = || is_counter_key(&s[w.key.0..w.key.1]);
                            if pending.is_none() && card_sized && !counter() {
                                let digits = &s[ns..ne];
                                if self.on[CARD] && is_card_number(digits.as_bytes()) {
                                    self.counters.hit(CARD);
                                    self.replace_number(&mut w, CARD, ns, ne);
                                }
                            }
                            state = State::AfterValue;
                        }
                        b't' => {
                            w.literal(b"true")?;
                            state = State::AfterValue;
                        }
                        b'f' => {
                            w.literal(b"false")?;
                            state = State::AfterValue;
                        }
                        b'n' => {
                            w.literal(b"null")?;
                            state = State::AfterValue;
                        }
                        _ => return Err(NotJson),
                    }
                }
                State::AfterValue => {
                    if let Some((rule, vs, depth)) = pending {
                        if stack.len() == depth {
                            self.json_key_value(&mut w, rule, vs);
                            pending = None;
                        }
                    }
                    w.ws();
                    match stack.last() {
                        None => {
                            if w.pos != s.len() {
                                return Err(NotJson);
                            }
                            break;
                        }
                        Some(&is_object) => match w.peek()? {
                            b',' => {
                                w.pos += 1;
                                state = if is_object { State::Key } else { State::Value };
                            }
                            b'}' if is_object => {
                                w.pos += 1;
                                stack.pop();
                            }
                            b']' if !is_object => {
                                w.pos += 1;
                                stack.pop();
                            }
                            _ => return Err(NotJson),
                        },
                    }
                }
                State::Key => {
                    w.ws();
                    if w.peek()? != b'"' {
                        return Err(NotJson);
                    }
                    let (cs, ce, esc) = w.string()?;
                    w.ws();
                    if w.peek()? != b':' {
                        return Err(NotJson);
                    }
                    w.pos += 1;
                    w.ws();
                    if pending.is_none() {
                        let raw = &s[cs..ce];
                        let key: Cow<str> = if esc {
                            Cow::Owned(decode_string(raw))
                        } else {
                            Cow::Borrowed(raw)
                        };
                        w.key = (cs, ce);
                        match self.key_rule(&key, &mut norm) {
                            Some(rule) => pending = Some((rule, w.pos, stack.len())),
                            None => self.json_string(&mut w, cs, ce, esc),
                        }
                    }
                    state = State::Value;
                }
            }
        }
        if w.last == 0 {
            return Ok(None);
        }
        let mut out = w.out;
        out.push_str(&s[w.last..]);
        Ok(Some(out))
    }

    /// The enabled key rule owning `key`, if any.
    pub(crate) fn key_rule(&self, key: &str, norm: &mut String) -> Option<RuleId> {
        super::keys::normalize_into(key, norm);
        if !self.prefilter.key_may_match(norm) {
            return None;
        }
        self.keys
            .classify(norm)
            .filter(|&r| self.on.get(r).copied().unwrap_or(false))
    }

    /// Replaces the number at `start..end`, masked by `rule`, with the configured marker.
    fn replace_number(&self, w: &mut Walk<'_>, rule: RuleId, start: usize, end: usize) {
        match self.numeric_marker {
            NumericMarker::Zero => w.replace_raw(start, end, "0"),
            NumericMarker::String => {
                let marker = self.replacer.rendered(rule, &w.s[start..end]);
                w.replace(start, end, &marker);
            }
        }
    }

    /// Pattern-redacts the string whose content spans `cs..ce`.
    fn json_string(&self, w: &mut Walk<'_>, cs: usize, ce: usize, esc: bool) {
        let raw = &w.s[cs..ce];
        if w.only_keys && memchr::memchr2(b'=', b':', raw.as_bytes()).is_none() {
            return;
        }
        let decoded;
        // an escaped string is matched decoded, and so scanned again; an unescaped one has the
        // literal triggers the line scan found inside it and its own byte-class triggers
        let (content, flags) = if esc {
            decoded = decode_string(raw);
            (decoded.as_str(), None)
        } else {
            let flags = w.marked_flags(cs, ce).map(|(bits, shape)| {
                let shape = if shape {
                    self.prefilter.shape_flags(raw.as_bytes()).0
                } else {
                    0
                };
                Flags(bits | shape)
            });
            (raw, flags)
        };
        // the value of an id key (`requestId`, `nextToken`) is no secret of `high_entropy`
        let key = w.s.as_bytes().get(w.key.0..w.key.1).unwrap_or_default();
        let flags = flags.unwrap_or_else(|| self.prefilter.scan(content.as_bytes()));
        if let Cow::Owned(new) = self.redact_text_flagged(content, key, flags) {
            w.replace(cs - 1, ce + 1, &new);
        }
    }

    /// Replaces the whole value `vs..pos` owned by a key rule, whatever its type.
    fn json_key_value(&self, w: &mut Walk<'_>, rule: RuleId, vs: usize) {
        let raw = &w.s[vs..w.pos];
        let content: Cow<str> = match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            Some(inner) if inner.contains('\\') => Cow::Owned(decode_string(inner)),
            Some(inner) => Cow::Borrowed(inner),
            None => Cow::Borrowed(raw),
        };
        if self.allow.contains(content.as_ref()) || is_marker(&content) {
            return;
        }
        self.counters.hit(rule);
        let end = w.pos;
        if raw.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
            self.replace_number(w, rule, vs, end);
            return;
        }
        let marker = self.replacer.rendered(rule, &content);
        w.replace(vs, end, &marker);
    }

    /// Redacts a parsed JSON value in place: key rules replace whole values, patterns run on
    /// every string (keys included), card numbers stored as JSON numbers are replaced.
    pub fn redact_value(&self, value: &mut Value) {
        if !self.enabled {
            return;
        }
        let mut norm = String::new();
        let mut stack: Vec<&mut Value> = vec![value];
        while let Some(v) = stack.pop() {
            match v {
                Value::String(s) => {
                    if let Cow::Owned(new) = self.redact_text(s) {
                        *s = new;
                    }
                }
                Value::Number(n) => {
                    let text = n.to_string();
                    if self.on[CARD] && is_card_number(text.as_bytes()) {
                        *v = self.number_marker(CARD, &text);
                        self.counters.hit(CARD);
                    }
                }
                Value::Array(items) => stack.extend(items.iter_mut()),
                Value::Object(map) => {
                    if map
                        .keys()
                        .any(|k| !self.prefilter.scan(k.as_bytes()).is_empty())
                    {
                        let old = std::mem::take(map);
                        for (k, val) in old {
                            let key = match self.redact_text(&k) {
                                Cow::Owned(new) => new,
                                Cow::Borrowed(_) => k,
                            };
                            map.insert(key, val);
                        }
                    }
                    for (k, val) in map.iter_mut() {
                        match self.key_rule(k, &mut norm) {
                            None if is_counter_key(k) && val.is_number() => {}
                            Some(rule) => {
                                let content = match &*val {
                                    Value::String(s) => s.clone(),
                                    other => other.to_string(),
                                };
                                if self.allow.contains(&content) || is_marker(&content) {
                                    continue;
                                }
                                *val = if val.is_number() {
                                    self.number_marker(rule, &content)
                                } else {
                                    Value::String(self.replacer.rendered(rule, &content))
                                };
                                self.counters.hit(rule);
                            }
                            None => stack.push(val),
                        }
                    }
                }
                Value::Null | Value::Bool(_) => {}
            }
        }
    }
}

impl Redactor {
    /// The configured replacement of a masked number in a parsed value.
    fn number_marker(&self, rule: RuleId, text: &str) -> Value {
        match self.numeric_marker {
            NumericMarker::Zero => Value::from(0),
            NumericMarker::String => Value::String(self.replacer.rendered(rule, text)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::prefilter::{Flags, Marks};
    use super::super::{RedactConfig, Redactor};
    use crate::test_rng::TestRng;

    /// Pieces that trip every trigger, alone or glued together.
    const PIECES: &[&str] = &[
        "call me",
        "sms",
        "@",
        "a.b@example.com",
        "%40",
        "://",
        "https://u:p4ss@h.example/x",
        "hooks.slack.com/services/T0/B0/x",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
        "Bearer",
        "bearer abcDEF123456789xyz",
        "Basic ",
        "AKIAIOSFODNN7EXAMPLE",
        "sk-",
        "sk-proj-abcDEF1234567890abcdef",
        "-----BEGIN",
        "ghp_",
        "xoxb-",
        "password=hunter2",
        "token: abc",
        "api_key",
        "key",
        "123456789",
        "+1 (555) 123-4567",
        "4111 1111 1111 1111",
        "078-05-1120",
        "arn:aws:ecs:us-east-1:111122223333:task/c/0f1e",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "10.0.0.1",
        "fe80::1",
        "x",
        " ",
        "-",
        ".",
        "=",
        ":",
        "tel",
        "phone",
        "aB3$dE5fG7hJ9kL1mN3p",
    ];
    const KEYS: &[&str] = &[
        "message",
        "userId",
        "requestId",
        "password",
        "authorization",
        "phone",
        "ecs_task_arn",
        "note",
        "x-api-key",
        "url",
    ];
    /// Escapes a string may hold (the walk scans those strings decoded, without marks).
    const ESCAPES: &[&str] = &["\\n", "\\u0040", "\\\"", "\\\\", "\\/"];

    fn string(rng: &mut TestRng, escapes: bool) -> String {
        let mut s = String::new();
        for _ in 0..rng.below(5) {
            s.push_str(PIECES[rng.below(PIECES.len())]);
            if escapes && rng.below(6) == 0 {
                s.push_str(ESCAPES[rng.below(ESCAPES.len())]);
            }
        }
        s
    }

    fn value(rng: &mut TestRng, depth: usize) -> String {
        match rng.below(if depth > 2 { 3 } else { 5 }) {
            0 => format!("\"{}\"", string(rng, true)),
            1 => [
                "4111111111111111",
                "1730000000000",
                "-1.5e3",
                "0",
                "true",
                "null",
            ][rng.below(6)]
            .to_owned(),
            2 => format!("\"{}\"", string(rng, false)),
            3 => format!("[{},{}]", value(rng, depth + 1), value(rng, depth + 1)),
            _ => object(rng, depth + 1),
        }
    }

    fn object(rng: &mut TestRng, depth: usize) -> String {
        let members: Vec<String> = (0..1 + rng.below(6))
            .map(|_| {
                let key = if rng.below(4) == 0 {
                    string(rng, false)
                } else {
                    KEYS[rng.below(KEYS.len())].to_owned()
                };
                format!("\"{key}\":{}", value(rng, depth))
            })
            .collect();
        format!("{{{}}}", members.join(","))
    }

    #[test]
    fn no_literal_holds_a_quote_so_the_marks_stand_in_for_a_scan() {
        let r = Redactor::new(&RedactConfig::default()).unwrap();
        let (_, exact) = r.prefilter.scan_marked(b"{}", &mut Marks::default());
        assert!(exact);
    }

    #[test]
    fn each_strings_triggers_from_the_line_marks_equal_a_scan_of_the_string() {
        let r = Redactor::new(&RedactConfig::default()).unwrap();
        let mut rng = TestRng(0x5eed_1234_abcd_0001);
        let mut marks = Marks::default();
        let mut shaped = 0;
        for _ in 0..3_000 {
            let parts: Vec<String> = (0..1 + rng.below(6))
                .map(|_| string(&mut rng, false))
                .collect();
            let line = format!("{{\"{}\"}}", parts.join("\",\""));
            r.prefilter.scan_marked(line.as_bytes(), &mut marks);
            let mut start = 2;
            for part in &parts {
                let span = start..start + part.len();
                let literal = marks
                    .literals
                    .iter()
                    .filter(|m| span.contains(&m.start))
                    .fold(0, |bits, m| bits | m.bits);
                let shape = if marks.shapes.iter().any(|at| span.contains(at)) {
                    shaped += 1;
                    r.prefilter.shape_flags(part.as_bytes()).0
                } else {
                    0
                };
                let alone = r.prefilter.scan(part.as_bytes());
                assert_eq!(Flags(literal | shape), alone, "{part:?} in {line:?}");
                start = span.end + 3;
            }
        }
        assert!(
            shaped > 1_000,
            "only {shaped} strings had a byte-class mark"
        );
    }

    #[test]
    fn the_walk_with_marks_redacts_exactly_as_the_walk_that_scans_every_string() {
        let with = Redactor::new(&RedactConfig::default()).unwrap();
        let without = Redactor::new(&RedactConfig::default()).unwrap();
        let mut rng = TestRng(0x0ddc_0ffe_e000_0002);
        let mut marks = Marks::default();
        let mut changed = 0;
        for _ in 0..5_000 {
            let line = object(&mut rng, 0);
            let (flags, exact) = with.prefilter.scan_marked(line.as_bytes(), &mut marks);
            assert!(exact);
            let a = with.redact_json_text(&line, flags, Some(&marks));
            let b = without.redact_json_text(&line, flags, None);
            assert_eq!(a, b, "{line}");
            changed += usize::from(matches!(a, Ok(Some(_))));
        }
        // the lines must exercise redaction, not only pass through
        assert!(changed > 2_500, "only {changed} of 5,000 lines changed");
        assert_eq!(with.counters().per_rule, without.counters().per_rule);
    }
}
