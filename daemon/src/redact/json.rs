//! The JSON walkers: one over raw line text (validating, iterative, copying only the spans it
//! replaces, so key order, spacing and untouched escapes stay byte-identical) and one over a
//! parsed `serde_json::Value` in place.

use std::borrow::Cow;

use serde_json::Value;

use super::config::NumericMarker;
use super::json_string::{decode_string, encode_string};
use super::keys::is_counter_key;
use super::patterns::is_card_number;
use super::prefilter::Flags;
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
    /// are skipped.
    pub(crate) fn redact_json_text(
        &self,
        s: &str,
        line_flags: Flags,
    ) -> Result<Option<String>, NotJson> {
        let only_keys = line_flags.0 & !Flags::KEY == 0 && self.custom.is_empty();
        let mut w = Walk {
            s,
            b: s.as_bytes(),
            pos: 0,
            out: String::new(),
            last: 0,
            only_keys,
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
        let content = if esc {
            decoded = decode_string(raw);
            decoded.as_str()
        } else {
            raw
        };
        // the value of an id key (`requestId`, `nextToken`) is no secret of `high_entropy`
        let key = w.s.as_bytes().get(w.key.0..w.key.1).unwrap_or_default();
        if let Cow::Owned(new) = self.redact_text_in(content, key) {
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
