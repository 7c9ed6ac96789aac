//! The held-out labelled corpus (`heldout.jsonl`, made by `generate.py` with the `faker` package:
//! a different generator, locales and shapes than `tests/corpus/mod.rs`) and the scorer shared by
//! both corpora: recall per secret kind and keep-rate per harmless kind.

#![allow(dead_code)]

use std::collections::BTreeMap;

use daemon::redact::Redactor;
use serde::Deserialize;

/// Characters of a secret that may not survive: a window this long that the line did not
/// otherwise contain and that is still in the output is a leak.
pub const WINDOW: usize = 12;

/// One labelled value: its kind, its text, and the other forms it was written in.
#[derive(Debug, Clone, Deserialize)]
pub struct Labelled {
    /// Kind label (the generator's own vocabulary).
    pub kind: String,
    /// The value itself.
    pub value: String,
    /// Forms it appears in the line (escaped, percent-encoded, grouped).
    #[serde(default)]
    pub forms: Vec<String>,
}

/// One labelled line.
#[derive(Debug, Clone, Deserialize)]
pub struct Line {
    /// The raw line.
    pub line: String,
    /// Whether the line is JSON (it must stay JSON).
    pub json: bool,
    /// What must be gone.
    pub secrets: Vec<Labelled>,
    /// What must survive.
    pub harmless: Vec<Labelled>,
}

/// Reads a corpus file written by `generate.py`.
pub fn load(path: &std::path::Path) -> Vec<Line> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read corpus {}: {e}", path.display()));
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}:{}: bad corpus line: {e}", path.display(), i + 1))
        })
        .collect()
}

/// The committed held-out corpus.
pub fn heldout() -> Vec<Line> {
    load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/heldout/heldout.jsonl"))
}

/// Whether any part of a secret (in any of `forms`) the line did not otherwise contain is
/// still in `out`.
pub fn leaked(line: &str, out: &str, forms: &[String]) -> bool {
    for form in forms {
        if form.is_empty() {
            continue;
        }
        let chars: Vec<char> = form.chars().collect();
        if chars.len() <= WINDOW {
            if out.contains(form.as_str()) {
                return true;
            }
            continue;
        }
        let rest = line.replace(form.as_str(), "");
        for w in chars.windows(WINDOW) {
            let w: String = w.iter().collect();
            if !rest.contains(&w) && out.contains(&w) {
                return true;
            }
        }
    }
    false
}

/// The forms of `value` to check: as given, JSON-escaped, `\u0040`-escaped, plus `extra`.
pub fn forms_of(value: &str, extra: &[String]) -> Vec<String> {
    let escaped = serde_json::to_string(value).unwrap_or_default();
    let mut v = vec![
        value.to_owned(),
        escaped.trim_matches('"').to_owned(),
        value.replace('@', "\\u0040"),
    ];
    v.extend(extra.iter().cloned());
    v.sort();
    v.dedup();
    v
}

/// Figures of one corpus.
#[derive(Debug, Default)]
pub struct Score {
    /// Per secret kind: (total, removed).
    pub secrets: BTreeMap<String, (usize, usize)>,
    /// Per harmless kind: (total, kept).
    pub harmless: BTreeMap<String, (usize, usize)>,
    /// JSON lines whose output is not JSON.
    pub broken_json: usize,
    /// Examples of misses (only printed for a dev split).
    pub misses: Vec<String>,
    /// Examples of damaged harmless values (only printed for a dev split).
    pub damaged: Vec<String>,
}

impl Score {
    /// Overall (total, removed) of the secrets.
    pub fn secret_total(&self) -> (usize, usize) {
        self.secrets
            .values()
            .fold((0, 0), |(a, b), (n, k)| (a + n, b + k))
    }

    /// Overall (total, kept) of the harmless values.
    pub fn harmless_total(&self) -> (usize, usize) {
        self.harmless
            .values()
            .fold((0, 0), |(a, b), (n, k)| (a + n, b + k))
    }

    /// Overall recall.
    pub fn recall(&self) -> f64 {
        let (n, k) = self.secret_total();
        k as f64 / n.max(1) as f64
    }

    /// Overall keep-rate.
    pub fn keep_rate(&self) -> f64 {
        let (n, k) = self.harmless_total();
        k as f64 / n.max(1) as f64
    }

    /// Prints the per-kind table under `title`.
    pub fn print(&self, title: &str) {
        println!("== {title}");
        println!(
            "{:<22} {:>7} {:>8} {:>8}",
            "secret kind", "total", "removed", "recall"
        );
        for (kind, (n, ok)) in &self.secrets {
            println!("{kind:<22} {n:>7} {ok:>8} {:>7.2}%", pct(*ok, *n));
        }
        let (n, ok) = self.secret_total();
        println!("{:<22} {n:>7} {ok:>8} {:>7.3}%", "ALL SECRETS", pct(ok, n));
        println!(
            "{:<22} {:>7} {:>8} {:>8}",
            "harmless kind", "total", "kept", "kept"
        );
        for (kind, (n, ok)) in &self.harmless {
            println!("{kind:<22} {n:>7} {ok:>8} {:>7.2}%", pct(*ok, *n));
        }
        let (n, ok) = self.harmless_total();
        println!("{:<22} {n:>7} {ok:>8} {:>7.3}%", "ALL HARMLESS", pct(ok, n));
        println!("JSON lines made invalid: {}", self.broken_json);
    }
}

fn pct(a: usize, b: usize) -> f64 {
    100.0 * a as f64 / b.max(1) as f64
}

/// Whether `value` (or its JSON-escaped form) is intact in `out`.
fn kept(out: &str, value: &str) -> bool {
    if out.contains(value) {
        return true;
    }
    let escaped = serde_json::to_string(value).unwrap_or_default();
    out.contains(escaped.trim_matches('"'))
}

/// Redacts every line of `lines` and scores it.
pub fn score(redactor: &Redactor, lines: &[Line]) -> Score {
    let mut s = Score::default();
    for l in lines {
        let out = redactor.redact_line(l.line.as_bytes());
        if l.json
            && serde_json::from_str::<serde_json::Value>(out.trim_start_matches('\u{feff}'))
                .is_err()
        {
            s.broken_json += 1;
        }
        for sec in &l.secrets {
            let e = s.secrets.entry(sec.kind.clone()).or_default();
            e.0 += 1;
            if leaked(&l.line, &out, &forms_of(&sec.value, &sec.forms)) {
                s.misses.push(format!(
                    "{} {:?}\n  in:  {}\n  out: {out}",
                    sec.kind, sec.value, l.line
                ));
            } else {
                e.1 += 1;
            }
        }
        for h in &l.harmless {
            let e = s.harmless.entry(h.kind.clone()).or_default();
            e.0 += 1;
            if kept(&out, &h.value) {
                e.1 += 1;
            } else {
                s.damaged.push(format!(
                    "{} {:?}\n  in:  {}\n  out: {out}",
                    h.kind, h.value, l.line
                ));
            }
        }
    }
    s
}
