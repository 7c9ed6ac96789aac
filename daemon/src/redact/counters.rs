//! Per-rule counters of replaced values, shared lock-free between threads, and the snapshot the
//! metrics stage reads (rule names are a fixed, bounded label set).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters: one per rule, plus line totals.
#[derive(Debug)]
pub struct Counters {
    names: Vec<String>,
    per_rule: Vec<AtomicU64>,
    lines: AtomicU64,
    lines_changed: AtomicU64,
    invalid_utf8: AtomicU64,
    oversized: AtomicU64,
}

/// Which line-level counter to bump.
#[derive(Debug, Clone, Copy)]
pub enum LineEvent {
    /// A line went through the redactor.
    Seen,
    /// Its output differs from its input.
    Changed,
    /// It was not valid UTF-8 (invalid bytes became U+FFFD).
    InvalidUtf8,
    /// It was longer than `max_line_bytes` and replaced whole.
    Oversized,
}

impl Counters {
    /// Zeroed counters for the given rule names.
    pub fn new(names: Vec<String>) -> Self {
        let per_rule = names.iter().map(|_| AtomicU64::new(0)).collect();
        Self {
            names,
            per_rule,
            lines: AtomicU64::new(0),
            lines_changed: AtomicU64::new(0),
            invalid_utf8: AtomicU64::new(0),
            oversized: AtomicU64::new(0),
        }
    }

    /// Counts one replaced value for `rule`.
    pub fn hit(&self, rule: usize) {
        if let Some(c) = self.per_rule.get(rule) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a line event.
    pub fn line(&self, event: LineEvent) {
        let c = match event {
            LineEvent::Seen => &self.lines,
            LineEvent::Changed => &self.lines_changed,
            LineEvent::InvalidUtf8 => &self.invalid_utf8,
            LineEvent::Oversized => &self.oversized,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// A consistent-enough copy for export (each counter is read once, relaxed).
    pub fn snapshot(&self) -> RedactionCounters {
        RedactionCounters {
            per_rule: self
                .names
                .iter()
                .zip(&self.per_rule)
                .map(|(n, c)| (n.clone(), c.load(Ordering::Relaxed)))
                .collect(),
            lines: self.lines.load(Ordering::Relaxed),
            lines_changed: self.lines_changed.load(Ordering::Relaxed),
            invalid_utf8_lines: self.invalid_utf8.load(Ordering::Relaxed),
            oversized_lines: self.oversized.load(Ordering::Relaxed),
        }
    }
}

/// What the redactor has done so far; the metrics stage exports `per_rule` with the rule name
/// as the only label (every built-in rule is present, even at zero).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RedactionCounters {
    /// Values replaced, by rule name.
    pub per_rule: BTreeMap<String, u64>,
    /// Lines redacted.
    pub lines: u64,
    /// Lines whose output differs from their input.
    pub lines_changed: u64,
    /// Lines that were not valid UTF-8.
    pub invalid_utf8_lines: u64,
    /// Lines over `max_line_bytes`, replaced whole.
    pub oversized_lines: u64,
}

impl RedactionCounters {
    /// Values replaced by `rule` (0 for an unknown name).
    pub fn get(&self, rule: &str) -> u64 {
        self.per_rule.get(rule).copied().unwrap_or(0)
    }

    /// Values replaced by all rules.
    pub fn total(&self) -> u64 {
        self.per_rule.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_rule_and_lines() {
        let c = Counters::new(vec!["email".into(), "card".into()]);
        c.hit(1);
        c.hit(1);
        c.hit(7);
        c.line(LineEvent::Seen);
        let s = c.snapshot();
        assert_eq!(s.get("card"), 2);
        assert_eq!(s.get("email"), 0);
        assert_eq!(s.total(), 2);
        assert_eq!(s.lines, 1);
        assert_eq!(s.per_rule.len(), 2, "every rule is a label, even at zero");
    }
}
