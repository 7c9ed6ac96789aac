//! Accuracy of the redactor on the generated labelled corpus: recall (secrets removed) and
//! precision (harmless values intact), per kind and overall, with the targets.
//! Run with `cargo test -p daemon --test redact_accuracy -- --nocapture` to see the table.

mod corpus;

use std::collections::BTreeMap;

use corpus::{corpus, Kind, Sample};
use daemon::redact::{RedactConfig, Redactor};

/// Corpus size and seed: large enough for per-kind figures, small enough for a seconds-long test.
const LINES: usize = 6000;
const SEED: u64 = 20261101;

/// Targets from the issue.
const MIN_RECALL: f64 = 0.995;
const MIN_PRECISION: f64 = 0.99;

const WINDOW: usize = 12;

/// The forms in which a secret may appear in a line (raw, JSON-escaped, flattened, `\u0040`).
fn forms(secret: &str) -> Vec<String> {
    let escaped = serde_json::to_string(secret).unwrap_or_default();
    let escaped = escaped.trim_matches('"').to_owned();
    let mut v = vec![
        secret.to_owned(),
        escaped,
        secret.replace('\n', "\\n"),
        secret.replace('@', "\\u0040"),
    ];
    v.sort();
    v.dedup();
    v
}

/// Whether any part of `secret` the line did not otherwise contain is still in `out`.
fn leaked(line: &str, out: &str, secret: &str) -> bool {
    for form in forms(secret) {
        let rest = line.replace(&form, "");
        let chars: Vec<char> = form.chars().collect();
        if chars.len() <= WINDOW {
            if out.contains(&form) {
                return true;
            }
            continue;
        }
        for w in chars.windows(WINDOW) {
            let w: String = w.iter().collect();
            if !rest.contains(&w) && out.contains(&w) {
                return true;
            }
        }
    }
    false
}

struct Score {
    per_kind: BTreeMap<Kind, (usize, usize)>,
    harmless_total: usize,
    harmless_kept: usize,
    misses: Vec<String>,
    damaged: Vec<String>,
}

fn score(redactor: &Redactor, samples: &[Sample]) -> Score {
    let mut s = Score {
        per_kind: BTreeMap::new(),
        harmless_total: 0,
        harmless_kept: 0,
        misses: Vec::new(),
        damaged: Vec::new(),
    };
    for sample in samples {
        let out = redactor.redact_line(sample.line.as_bytes());
        for (kind, secret) in &sample.secrets {
            let e = s.per_kind.entry(*kind).or_default();
            e.0 += 1;
            if leaked(&sample.line, &out, secret) {
                s.misses.push(format!(
                    "{kind:?} {secret:?}\n  in:  {}\n  out: {out}",
                    sample.line
                ));
            } else {
                e.1 += 1;
            }
        }
        for h in &sample.harmless {
            s.harmless_total += 1;
            if out.contains(h.as_str()) {
                s.harmless_kept += 1;
            } else {
                s.damaged
                    .push(format!("{h:?}\n  in:  {}\n  out: {out}", sample.line));
            }
        }
    }
    s
}

#[test]
fn recall_and_precision_meet_the_targets() {
    let samples = corpus(SEED, LINES);
    let redactor = Redactor::new(&RedactConfig::default()).unwrap();
    let s = score(&redactor, &samples);
    let (mut total, mut removed) = (0, 0);
    println!(
        "{:<14} {:>7} {:>8} {:>8}",
        "kind", "secrets", "removed", "recall"
    );
    for (kind, (n, ok)) in &s.per_kind {
        total += n;
        removed += ok;
        println!(
            "{:<14} {n:>7} {ok:>8} {:>7.2}%",
            format!("{kind:?}"),
            100.0 * *ok as f64 / *n as f64
        );
    }
    let recall = removed as f64 / total as f64;
    let precision = s.harmless_kept as f64 / s.harmless_total as f64;
    println!(
        "overall recall    {removed}/{total} = {:.3}%",
        100.0 * recall
    );
    println!(
        "harmless intact   {}/{} = {:.3}%",
        s.harmless_kept,
        s.harmless_total,
        100.0 * precision
    );
    for m in s.misses.iter().take(15) {
        println!("MISS {m}");
    }
    for d in s.damaged.iter().take(15) {
        println!("DAMAGED {d}");
    }
    assert!(
        total > 4000,
        "the corpus holds enough secrets to measure: {total}"
    );
    assert!(s.per_kind.len() >= 13, "every kind is represented");
    assert!(
        recall >= MIN_RECALL,
        "recall {recall:.4} below {MIN_RECALL}"
    );
    assert!(
        precision >= MIN_PRECISION,
        "precision {precision:.4} below {MIN_PRECISION}"
    );
}

#[test]
fn clean_lines_come_out_byte_identical() {
    let redactor = Redactor::new(&RedactConfig::default()).unwrap();
    let clean: Vec<Sample> = corpus(SEED + 1, 1000)
        .into_iter()
        .filter(|s| s.secrets.is_empty())
        .collect();
    assert!(clean.len() > 150);
    let changed: Vec<&Sample> = clean
        .iter()
        .filter(|s| redactor.redact_line(s.line.as_bytes()) != s.line)
        .collect();
    assert!(
        changed.len() * 100 <= clean.len(),
        "{} of {} clean lines changed, e.g. {:?}",
        changed.len(),
        clean.len(),
        changed.first().map(|s| &s.line)
    );
}

#[test]
fn json_lines_stay_valid_with_their_key_order() {
    let redactor = Redactor::new(&RedactConfig::default()).unwrap();
    for sample in corpus(SEED + 2, 1500).iter().filter(|s| s.json) {
        let out = redactor.redact_line(sample.line.as_bytes());
        let before: serde_json::Value = serde_json::from_str(&sample.line).unwrap();
        let after: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("invalid JSON out ({e}): {out}"));
        assert_eq!(keys(&before), keys(&after), "key order changed: {out}");
    }
}

/// Every key path in document order.
fn keys(v: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(v: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, val) in m {
                    let p = format!("{prefix}/{k}");
                    out.push(p.clone());
                    walk(val, &p, out);
                }
            }
            serde_json::Value::Array(a) => {
                for (i, val) in a.iter().enumerate() {
                    walk(val, &format!("{prefix}/{i}"), out);
                }
            }
            _ => {}
        }
    }
    walk(v, "", &mut out);
    out
}
