//! The outcome of a test run as text (a line per test, a timeline table per failure) and as
//! JUnit XML for CI systems.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::alarm::Value;
use crate::evaluate::{PeriodData, Point, Row, Rule};
use crate::run::{topic_name, CaseResult, Evidence, Outcome};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Human-readable text.
    Text,
    /// JUnit XML.
    Junit,
}

/// Every test's result.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// One entry per test (or per file that could not be read).
    pub cases: Vec<CaseResult>,
}

impl Report {
    /// Whether every test passed (the exit code is non-zero otherwise).
    pub fn success(&self) -> bool {
        !self.cases.is_empty()
            && self
                .cases
                .iter()
                .all(|c| matches!(c.outcome, Outcome::Pass(_)))
    }

    /// (passed, failed, errors).
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        for c in &self.cases {
            match c.outcome {
                Outcome::Pass(_) => counts.0 += 1,
                Outcome::Fail(_) => counts.1 += 1,
                Outcome::Error(_) => counts.2 += 1,
            }
        }
        counts
    }

    /// The report in `format`.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Text => self.to_text(false),
            Format::Junit => self.to_junit(),
        }
    }

    /// A line per test; a failure adds what did not hold and the timeline (`verbose`: every
    /// test's timeline).
    pub fn to_text(&self, verbose: bool) -> String {
        let mut out = String::new();
        for c in &self.cases {
            let alarm = c.alarm.as_deref().unwrap_or("-");
            let took = format!("{:.1} ms", c.duration.as_secs_f64() * 1000.0);
            match &c.outcome {
                Outcome::Pass(ev) => {
                    let _ = writeln!(out, "PASS  {alarm}  {}  ({took})", c.name);
                    if verbose {
                        out.push_str(&indent(&timeline_table(ev)));
                    }
                }
                Outcome::Fail(ev) => {
                    let _ = writeln!(
                        out,
                        "FAIL  {alarm}  {}  ({took})  {}:{}",
                        c.name,
                        c.file.display(),
                        c.line
                    );
                    for m in &ev.mismatches {
                        let _ = writeln!(out, "      {m}");
                    }
                    out.push_str(&indent(&timeline_table(ev)));
                }
                Outcome::Error(e) => {
                    let _ = writeln!(out, "ERROR {alarm}  {}  {e}", c.name);
                }
            }
        }
        let (p, f, e) = self.counts();
        let _ = writeln!(out, "{p} passed, {f} failed, {e} error(s)");
        out
    }

    /// JUnit XML, one `testsuite` per file.
    pub fn to_junit(&self) -> String {
        let mut files: Vec<PathBuf> = self.cases.iter().map(|c| c.file.clone()).collect();
        files.dedup();
        let (_, f, e) = self.counts();
        let total: f64 = self.cases.iter().map(|c| c.duration.as_secs_f64()).sum();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuites name=\"alarm tests\" tests=\"{}\" failures=\"{f}\" errors=\"{e}\" time=\"{total:.6}\">",
            self.cases.len()
        );
        for file in &files {
            let cases: Vec<&CaseResult> = self.cases.iter().filter(|c| &c.file == file).collect();
            let fails = cases
                .iter()
                .filter(|c| matches!(c.outcome, Outcome::Fail(_)))
                .count();
            let errs = cases
                .iter()
                .filter(|c| matches!(c.outcome, Outcome::Error(_)))
                .count();
            let time: f64 = cases.iter().map(|c| c.duration.as_secs_f64()).sum();
            let _ = writeln!(
                out,
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{fails}\" errors=\"{errs}\" time=\"{time:.6}\">",
                xml(&file.display().to_string()),
                cases.len()
            );
            for c in cases {
                let _ = write!(
                    out,
                    "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" line=\"{}\" time=\"{:.6}\"",
                    xml(c.alarm.as_deref().unwrap_or("alarm-tests")),
                    xml(&c.name),
                    xml(&file.display().to_string()),
                    c.line,
                    c.duration.as_secs_f64()
                );
                match &c.outcome {
                    Outcome::Pass(_) => out.push_str("/>\n"),
                    Outcome::Fail(ev) => {
                        let _ = writeln!(
                            out,
                            ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                            xml(&ev.mismatches.join("; ")),
                            xml(&timeline_table(ev))
                        );
                    }
                    Outcome::Error(err) => {
                        let _ = writeln!(
                            out,
                            ">\n      <error message=\"{}\"/>\n    </testcase>",
                            xml(&err.to_string())
                        );
                    }
                }
            }
            out.push_str("  </testsuite>\n");
        }
        out.push_str("</testsuites>\n");
        out
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_text(false))
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("      {l}\n")).collect()
}

fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c == '\n' || c == '\t' || !c.is_control() => out.push(c),
            _ => {}
        }
    }
    out
}

/// A number as a person writes it: no trailing zeros.
pub fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

fn cell(data: &PeriodData, stat_value: Option<f64>, show_stat: bool) -> String {
    match data {
        PeriodData::Missing => "_".into(),
        PeriodData::Value(v) => number(*v),
        PeriodData::Samples(s) => {
            let n: u64 = s.iter().map(|(_, c)| c).sum();
            match (show_stat, stat_value) {
                (true, Some(v)) => format!("{} (n={n})", number(v)),
                _ => format!("n={n}"),
            }
        }
    }
}

fn note(ev: &Evidence, row: &Row) -> String {
    let treat = ev.alarm.treat_missing.as_str();
    let mut parts = Vec::new();
    match row.decision.rule {
        Rule::RecentReal => {}
        Rule::Filled if row.decision.filled > 0 => {
            parts.push(format!("{} filled ({treat})", row.decision.filled))
        }
        Rule::Filled => {}
        Rule::AllMissing => parts.push(format!("range all missing ({treat})")),
        Rule::Premature => parts.push("oldest breach old enough: ALARM".into()),
        Rule::Kept => parts.push(format!("state kept ({treat})")),
        Rule::TooRecent => parts.push("breach too recent to alarm".into()),
        Rule::LowSampleCount => parts.push("too few samples: not evaluated".into()),
    }
    let sent: Vec<&str> = ev
        .timeline
        .notifications
        .iter()
        .filter(|n| n.period == row.period)
        .map(|n| topic_name(&n.action))
        .collect();
    if !sent.is_empty() {
        parts.push(format!("notify {}", sent.join(", ")));
    }
    parts.join("; ")
}

/// The timeline: period, time, inputs, compared value, breaching?, expected and actual state.
pub fn timeline_table(ev: &Evidence) -> String {
    let single = matches!(ev.alarm.value, Value::Metric);
    let mut header = vec!["period".to_owned(), "time".to_owned()];
    for m in &ev.alarm.metrics {
        header.push(if single {
            m.metric_name.clone()
        } else {
            m.id.clone()
        });
    }
    header.extend(ev.unread.iter().map(|(label, _)| label.clone()));
    header.push(match &ev.alarm.value {
        Value::Metric => ev.alarm.metrics[0].stat.to_string(),
        Value::Expression { id, .. } => id.clone(),
    });
    header.extend(["breaching", "expected", "actual", "note"].map(String::from));
    let mut rows = vec![header];
    let period = time::Duration::seconds(ev.alarm.period);
    for row in &ev.timeline.rows {
        let k = row.period;
        let at = i32::try_from(k - 1)
            .ok()
            .and_then(|i| period.checked_mul(i))
            .and_then(|d| ev.start.checked_add(d));
        let mut cells = vec![
            k.to_string(),
            at.map_or_else(
                || "?".to_owned(),
                |at| {
                    format!(
                        "{:02}-{:02} {:02}:{:02}",
                        u8::from(at.month()),
                        at.day(),
                        at.hour(),
                        at.minute()
                    )
                },
            ),
        ];
        for (i, d) in ev.data.iter().enumerate() {
            cells.push(cell(&d[k - 1], row.metric_values[i], !single));
        }
        for (_, d) in &ev.unread {
            cells.push(cell(&d[k - 1], None, false));
        }
        cells.push(row.value.map_or_else(|| "_".into(), number));
        cells.push(
            match (row.low_sample, row.point) {
                (true, _) => "low n",
                (_, Point::Breaching) => "yes",
                (_, Point::NotBreaching) => "no",
                (_, Point::Missing) => "-",
            }
            .into(),
        );
        let expected = ev.expect.get(&k);
        cells.push(expected.map_or("", |s| s.as_str()).into());
        cells.push(row.decision.state.as_str().into());
        let mut n = note(ev, row);
        if expected.is_some_and(|e| *e != row.decision.state) {
            n = if n.is_empty() {
                "<< MISMATCH".into()
            } else {
                format!("{n}  << MISMATCH")
            };
        }
        cells.push(n);
        rows.push(cells);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = format!(
        "{}: {} {} {} for {} of {} periods of {} s, missing data: {}\n",
        ev.alarm.name,
        header_value(ev),
        comparison_symbol(ev),
        number(ev.alarm.threshold),
        ev.alarm.datapoints_to_alarm,
        ev.alarm.evaluation_periods,
        ev.alarm.period,
        ev.alarm.treat_missing.as_str()
    );
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn header_value(ev: &Evidence) -> String {
    match &ev.alarm.value {
        Value::Metric => format!(
            "{} {}",
            ev.alarm.metrics[0].stat, ev.alarm.metrics[0].metric_name
        ),
        Value::Expression { id, .. } => id.clone(),
    }
}

fn comparison_symbol(ev: &Evidence) -> &'static str {
    use crate::alarm::Comparison::*;
    match ev.alarm.comparison {
        GreaterOrEqual => ">=",
        Greater => ">",
        Less => "<",
        LessOrEqual => "<=",
    }
}
