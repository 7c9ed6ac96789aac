//! Redaction of personal data and secrets: by key at any depth of a JSON line, by pattern in
//! every string and plain line, with mask / hash / partial replacement and per-rule counters.
//!
//! Build a [`Redactor`] once from a [`RedactConfig`] and share it (`Arc<Redactor>`); it is
//! `Send + Sync` and never panics on input. See `daemon/README-redact.md` for the rule list.

mod check;
mod config;
mod counters;
mod entropy;
mod json;
mod json_string;
mod keys;
mod member;
mod numbers;
mod patterns;
mod prefilter;
mod replace;
mod rules;
mod stdio;
mod text;
mod unescape;
mod userinfo;

use std::borrow::Cow;
use std::collections::HashSet;

use regex::{Regex, RegexSet};

pub use check::{problems, RedactProblem, HASH_CHARS_RANGE, MIN_MAX_LINE_BYTES};
pub use config::{
    CustomRule, Mode, NumericMarker, RedactConfig, SecretString, DEFAULT_HASH_KEY_ENV,
};
pub use counters::RedactionCounters;
pub use json::NotJson;
pub use member::{splice_member_bytes, TrailingMember};
pub use patterns::{is_card_number, luhn_ok};
pub use replace::MARKER_PREFIX;
pub use rules::{RedactError, BUILTIN_NAMES};
pub use stdio::{filter, filter_stdio, FilterStats};

use counters::{Counters, LineEvent};
use keys::KeyClassifier;
use patterns::Patterns;
use prefilter::Prefilter;
use replace::Replacer;

/// Marker written in place of a line longer than `max_line_bytes`.
pub const OVERSIZED_LINE_MARKER: &str = "[REDACTED:oversized_line]";

/// The redaction engine, validated once from its config.
#[derive(Debug)]
pub struct Redactor {
    enabled: bool,
    max_line_bytes: usize,
    numeric_marker: NumericMarker,
    on: Vec<bool>,
    prefilter: Prefilter,
    patterns: Patterns,
    keys: KeyClassifier,
    custom: Vec<(usize, Regex)>,
    custom_set: Option<RegexSet>,
    allow: HashSet<String>,
    replacer: Replacer,
    counters: Counters,
}

fn valid_rule_name(name: &str) -> bool {
    (1..=48).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Lower-case word segments of a key in any style (`X-Internal-Sig` → `x`, `internal`, `sig`).
fn key_segments(key: &str) -> Vec<String> {
    let mut segments = Vec::new();
    let mut current = String::new();
    let mut prev_lower = false;
    for ch in key.chars() {
        if !ch.is_ascii_alphanumeric() {
            segments.push(std::mem::take(&mut current));
            prev_lower = false;
            continue;
        }
        if ch.is_ascii_uppercase() && prev_lower {
            segments.push(std::mem::take(&mut current));
        }
        prev_lower = ch.is_ascii_lowercase() || ch.is_ascii_digit();
        current.push(ch.to_ascii_lowercase());
    }
    segments.push(current);
    segments.retain(|s| !s.is_empty());
    segments
}

impl Redactor {
    /// Validates `config` and builds the engine; the hash key is read from the config or from
    /// the environment variable it names.
    pub fn new(config: &RedactConfig) -> Result<Self, RedactError> {
        Self::with_env(config, |name| std::env::var(name).ok())
    }

    /// Like [`Redactor::new`] with an explicit environment lookup (for tests).
    pub fn with_env(
        config: &RedactConfig,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, RedactError> {
        // One list of checks, shared with `validate` (which reports them all).
        if let Some(problem) = check::problems(config, &lookup).into_iter().next() {
            return Err(problem.error);
        }
        let mut names: Vec<String> = BUILTIN_NAMES.iter().map(|s| (*s).to_owned()).collect();
        let mut custom = Vec::new();
        for rule in &config.custom {
            if !valid_rule_name(&rule.name) || names.contains(&rule.name) {
                return Err(RedactError::BadRuleName {
                    name: rule.name.clone(),
                });
            }
            let re = Regex::new(&rule.pattern).map_err(|e| RedactError::BadRegex {
                name: rule.name.clone(),
                message: e.to_string(),
            })?;
            custom.push((names.len(), re));
            names.push(rule.name.clone());
        }
        let known = || names.join(", ");
        let mut modes = vec![config.default_mode; names.len()];
        for (i, rule) in config.custom.iter().enumerate() {
            modes[BUILTIN_NAMES.len() + i] = rule.mode;
        }
        for (name, mode) in &config.modes {
            let idx =
                names
                    .iter()
                    .position(|n| n == name)
                    .ok_or_else(|| RedactError::UnknownRule {
                        setting: "modes",
                        name: name.clone(),
                        known: known(),
                    })?;
            modes[idx] = *mode;
        }
        let mut on = vec![true; names.len()];
        on[rules::IP_ADDRESS] = config.ip_addresses;
        for name in &config.disable {
            let idx = BUILTIN_NAMES
                .iter()
                .position(|n| n == name)
                .ok_or_else(|| RedactError::UnknownRule {
                    setting: "disable",
                    name: name.clone(),
                    known: known(),
                })?;
            on[idx] = false;
        }
        let key = match &config.hash_key {
            Some(k) if !k.expose().is_empty() => Some(k.expose().to_owned()),
            _ => lookup(&config.hash_key_env).filter(|k| !k.is_empty()),
        };
        let stems: Vec<String> = config
            .extra_keys
            .iter()
            .filter_map(|k| key_segments(k).into_iter().max_by_key(String::len))
            .collect();
        let prefilter =
            Prefilter::new(config.ip_addresses, &stems).map_err(|e| RedactError::BadRegex {
                name: "prefilter".into(),
                message: e.to_string(),
            })?;
        let custom_set = if custom.is_empty() {
            None
        } else {
            let set =
                RegexSet::new(config.custom.iter().map(|r| r.pattern.as_str())).map_err(|e| {
                    RedactError::BadRegex {
                        name: "custom".into(),
                        message: e.to_string(),
                    }
                })?;
            Some(set)
        };
        Ok(Self {
            enabled: config.enabled,
            max_line_bytes: config.max_line_bytes,
            numeric_marker: config.numeric_marker,
            on,
            prefilter,
            patterns: Patterns::new()?,
            keys: KeyClassifier::new(&config.extra_keys, &config.allow_keys),
            custom,
            custom_set,
            allow: config.allow.iter().cloned().collect(),
            replacer: Replacer::new(
                names.clone(),
                modes,
                key.as_deref().map(str::as_bytes),
                config.hash_chars,
            ),
            counters: Counters::new(names),
        })
    }

    /// Redacts one raw line (without its newline) and returns the output line.
    pub fn redact_line(&self, line: &[u8]) -> String {
        let mut out = String::with_capacity(line.len() + 16);
        self.redact_line_into(line, &mut out);
        out
    }

    /// Redacts one raw line into `out` (cleared first), reusing its allocation.
    ///
    /// A JSON line stays valid JSON with its key order and formatting, only redacted values
    /// change; any other line is redacted as text; invalid UTF-8 becomes U+FFFD first.
    pub fn redact_line_into(&self, line: &[u8], out: &mut String) {
        self.redact_into(line, None, out);
    }

    /// [`Redactor::redact_line_into`]; with `trailing`, a member no rule can match (see
    /// [`member`]), the line is redacted as if `trailing` were its last member, without scanning
    /// it: the member is spliced into the redacted line.
    fn redact_into(&self, line: &[u8], trailing: Option<&str>, out: &mut String) {
        out.clear();
        self.counters.line(LineEvent::Seen);
        let trailing_bytes = trailing.map_or(0, |member| member.len() + 1);
        if line.len() + trailing_bytes > self.max_line_bytes && self.enabled {
            self.oversized_into(out);
            return;
        }
        let text = match std::str::from_utf8(line) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => {
                self.counters.line(LineEvent::InvalidUtf8);
                String::from_utf8_lossy(line)
            }
        };
        let splice = |out: &mut String| {
            if let Some(member) = trailing {
                member::splice(out, member);
            }
        };
        if !self.enabled {
            out.push_str(&text);
            splice(out);
            return;
        }
        let mut marks = prefilter::Marks::default();
        let (flags, marks_exact) = self.prefilter.scan_marked(text.as_bytes(), &mut marks);
        let custom_hit = self
            .custom_set
            .as_ref()
            .is_some_and(|set| set.is_match(&text));
        if flags.is_empty() && !custom_hit {
            out.push_str(&text);
            splice(out);
            return;
        }
        // a byte-order mark before JSON: redact the JSON, keep the mark
        let (bom, body) = match text.strip_prefix('\u{feff}') {
            Some(rest) => ("\u{feff}", rest),
            None => ("", text.as_ref()),
        };
        let first = body.bytes().find(|b| !b.is_ascii_whitespace());
        // any JSON value: a bare number or string line must stay valid JSON too
        let json = matches!(
            first,
            Some(b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n')
        );
        // the marks are offsets into `text`; with a byte-order mark stripped, scan each string
        let marks = (marks_exact && bom.is_empty()).then_some(&marks);
        let redacted = match json.then(|| self.redact_json_text(body, flags, marks)) {
            Some(Ok(Some(new))) => Cow::Owned(format!("{bom}{new}")),
            Some(Ok(None)) => Cow::Borrowed(text.as_ref()),
            Some(Err(NotJson)) | None => {
                // Text rules see the whole line: the member goes in first, and only once.
                if let Some(member) = trailing {
                    let mut whole = text.to_string();
                    member::splice(&mut whole, member);
                    match self.redact_text(&whole) {
                        Cow::Owned(new) => {
                            self.counters.line(LineEvent::Changed);
                            *out = new;
                        }
                        Cow::Borrowed(_) => *out = whole,
                    }
                    return;
                }
                self.redact_text(&text)
            }
        };
        if let Cow::Owned(new) = redacted {
            self.counters.line(LineEvent::Changed);
            *out = new;
        } else {
            out.push_str(&text);
        }
        splice(out);
    }

    /// Writes the marker of a line longer than `max_line_bytes` into `out` and counts it.
    pub(crate) fn oversized_into(&self, out: &mut String) {
        out.clear();
        self.counters.line(LineEvent::Oversized);
        self.counters.line(LineEvent::Changed);
        out.push_str(OVERSIZED_LINE_MARKER);
    }

    /// Redacts a message (the daemon's own logs and errors) as text: patterns and
    /// `key=value` pairs; borrowed when nothing changed.
    pub fn redact_str<'a>(&self, s: &'a str) -> Cow<'a, str> {
        if !self.enabled {
            return Cow::Borrowed(s);
        }
        self.redact_text(s)
    }

    /// Values replaced so far, per rule, and line totals.
    pub fn counters(&self) -> RedactionCounters {
        self.counters.snapshot()
    }

    /// Names of every rule (built-in then custom): the bounded label set of the counters.
    pub fn rule_names(&self) -> Vec<String> {
        self.counters.snapshot().per_rule.into_keys().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn redactor_is_send_and_sync() {
        assert_send_sync::<Redactor>();
        assert_send_sync::<std::sync::Arc<Redactor>>();
    }

    #[test]
    fn key_segments_split_every_style() {
        assert_eq!(key_segments("X-Internal-Sig"), ["x", "internal", "sig"]);
        assert_eq!(key_segments("internalSig"), ["internal", "sig"]);
        assert_eq!(key_segments("internal_sig"), ["internal", "sig"]);
    }

    #[test]
    fn default_config_builds() {
        let r = Redactor::new(&RedactConfig::default()).unwrap();
        assert_eq!(r.counters().per_rule.len(), BUILTIN_NAMES.len());
    }
}
