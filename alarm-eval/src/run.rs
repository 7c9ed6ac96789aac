//! Running test files: load, look the alarm up, bind, simulate, compare with the expectations.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use toml::Spanned;

use crate::alarm::{Alarm, State};
use crate::evaluate::{self, Notification, PeriodData, Timeline};
use crate::source::{alarm_name, AlarmSource};
use crate::testfile::{self, ExpectedNotification, FileDef, FileError, Located, TestDef};

/// The result of one test.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The test file.
    pub file: PathBuf,
    /// Line of the test in the file.
    pub line: usize,
    /// The test's name (the file name for a file that could not be read).
    pub name: String,
    /// The rendered alarm name (`aistudio-prod-jobs-failed-high`), if known.
    pub alarm: Option<String>,
    /// Time taken.
    pub duration: Duration,
    /// What happened.
    pub outcome: Outcome,
}

/// Pass, fail (with the evidence) or error (the test could not run).
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Every expectation held.
    Pass(Box<Evidence>),
    /// Some expectation did not hold.
    Fail(Box<Evidence>),
    /// The file or test is malformed, or the alarm cannot be evaluated offline.
    Error(FileError),
}

/// What a run shows: the timeline and what was expected of it.
#[derive(Debug, Clone)]
pub struct Evidence {
    /// The evaluated alarm.
    pub alarm: Alarm,
    /// The environment.
    pub env: String,
    /// Start of period 1.
    pub start: OffsetDateTime,
    /// The run.
    pub timeline: Timeline,
    /// Input data per metric (in `alarm.metrics` order).
    pub data: Vec<Vec<PeriodData>>,
    /// Series of dimension sets the alarm does not read.
    pub unread: Vec<(String, Vec<PeriodData>)>,
    /// Expected states by period.
    pub expect: BTreeMap<usize, State>,
    /// Expected notifications, if checked.
    pub expected_notifications: Option<Vec<ExpectedNotification>>,
    /// What did not hold (empty for a pass).
    pub mismatches: Vec<String>,
}

/// Test files found under `paths` (a directory gives its `*.toml` files, sorted).
pub fn test_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, FileError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let entries = std::fs::read_dir(p).map_err(|e| io_error(p, &e))?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|f| f.extension().is_some_and(|x| x == "toml"))
                .collect();
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn io_error(path: &Path, e: &std::io::Error) -> FileError {
    FileError {
        file: path.to_path_buf(),
        line: 1,
        column: 1,
        message: format!("cannot read: {e}; pass test files or directories of them"),
    }
}

fn error_case(file: &Path, name: String, error: FileError) -> CaseResult {
    CaseResult {
        file: file.to_path_buf(),
        line: error.line,
        name,
        alarm: None,
        duration: Duration::ZERO,
        outcome: Outcome::Error(error),
    }
}

/// Runs every test of one file.
pub fn run_file(path: &Path, source: &dyn AlarmSource) -> Vec<CaseResult> {
    let file_name = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return vec![error_case(path, file_name, io_error(path, &e))],
    };
    let loc = Located::new(path, text.clone());
    let def: FileDef = match toml::from_str(&text) {
        Ok(d) => d,
        Err(e) => {
            let at = e.span().map_or(0, |s| s.start);
            let error = loc.error(at, e.message().trim().to_owned());
            return vec![error_case(path, file_name, error)];
        }
    };
    if def.tests.is_empty() {
        let error = loc.error(0, "no test in this file: add a [[test]] table");
        return vec![error_case(path, file_name, error)];
    }
    def.tests
        .iter()
        .map(|t| run_test(&loc, &def, t, source))
        .collect()
}

fn pick<'a, T>(
    own: &'a Option<Spanned<T>>,
    file: &'a Option<Spanned<T>>,
) -> Option<&'a Spanned<T>> {
    own.as_ref().or(file.as_ref())
}

fn run_test(
    loc: &Located,
    file: &FileDef,
    test: &Spanned<TestDef>,
    source: &dyn AlarmSource,
) -> CaseResult {
    let began = Instant::now();
    let mut alarm = None;
    let outcome = evaluate_test(loc, file, test, source, &mut alarm).unwrap_or_else(Outcome::Error);
    CaseResult {
        file: loc.file().to_path_buf(),
        line: loc.at(test, "").line,
        name: test.get_ref().name.clone(),
        alarm,
        duration: began.elapsed(),
        outcome,
    }
}

/// The payload of the alarm a test names, overrides applied; `shown` gets the name to report.
fn payload_of(
    loc: &Located,
    def: &TestDef,
    id: &Spanned<String>,
    env: &str,
    source: &dyn AlarmSource,
    shown: &mut Option<String>,
) -> Result<Alarm, FileError> {
    let id_text = id.get_ref().as_str();
    *shown = Some(alarm_name(id_text, env));
    let json = source.alarm(id_text, env).map_err(|e| {
        let known = source.alarm_ids(env);
        let hint = if known.is_empty() {
            String::new()
        } else {
            format!("; alarms known for {env}: {}", known.join(", "))
        };
        loc.at(
            id,
            format!("unknown alarm `{id_text}` for env {env}: {e}{hint}"),
        )
    })?;
    let (json, changed) = testfile::apply_overrides(loc, def, json)?;
    if let Some(changed) = changed {
        *shown = Some(format!("{} [override {changed}]", alarm_name(id_text, env)));
    }
    Alarm::from_json(&json).map_err(|e| match &def.overrides {
        Some(o) => loc.at(o, e),
        None => loc.at(id, e),
    })
}

fn evaluate_test(
    loc: &Located,
    file: &FileDef,
    test: &Spanned<TestDef>,
    source: &dyn AlarmSource,
    shown: &mut Option<String>,
) -> Result<Outcome, FileError> {
    let def = test.get_ref();
    let missing = |what: &str, example: &str| {
        loc.at(
            test,
            format!(
                "the test names no {what}: write `{what} = {example}` in it or at the top of \
                 the file"
            ),
        )
    };
    let id =
        pick(&def.alarm, &file.alarm).ok_or_else(|| missing("alarm", "\"jobs-failed-high\""))?;
    let env = pick(&def.env, &file.env).ok_or_else(|| missing("env", "\"prod\""))?;
    let start =
        pick(&def.start, &file.start).ok_or_else(|| missing("start", "2026-01-05T10:00:00Z"))?;
    let start = testfile::start_time(loc, start)?;
    let env = env.get_ref().as_str();
    let alarm = payload_of(loc, def, id, env, source, shown)?;
    let range = evaluate::default_evaluation_range(alarm.evaluation_periods);
    let bound = testfile::bind(loc, test, &alarm, range)?;
    let timeline = evaluate::simulate(
        &alarm,
        &bound.data,
        bound.periods,
        bound.start_state,
        bound.range,
    )
    .map_err(|e| loc.at(test, format!("{}: {e}", alarm.name)))?;
    let mismatches = compare(
        &timeline,
        &bound.expect,
        bound.notifications.as_deref(),
        env,
    );
    let evidence = Box::new(Evidence {
        alarm,
        env: env.to_owned(),
        start,
        timeline,
        data: bound.data,
        unread: bound.unread,
        expect: bound.expect,
        expected_notifications: bound.notifications,
        mismatches,
    });
    Ok(if evidence.mismatches.is_empty() {
        Outcome::Pass(evidence)
    } else {
        Outcome::Fail(evidence)
    })
}

/// The last segment of an ARN (the topic name).
pub fn topic_name(action: &str) -> &str {
    action.rsplit(':').next().unwrap_or(action)
}

/// Whether an expected topic (key, name or ARN) is the notified action.
fn topic_matches(expected: &str, action: &str, env: &str) -> bool {
    let name = topic_name(action);
    expected == action || expected == name || alarm_name(expected, env) == name
}

fn compare(
    timeline: &Timeline,
    expect: &BTreeMap<usize, State>,
    notifications: Option<&[ExpectedNotification]>,
    env: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    for (period, want) in expect {
        let got = timeline.rows[period - 1].decision.state;
        if got != *want {
            out.push(format!(
                "period {period}: expected {}, got {}",
                want.as_str(),
                got.as_str()
            ));
        }
    }
    if let Some(expected) = notifications {
        let same = expected.len() == timeline.notifications.len()
            && expected.iter().zip(&timeline.notifications).all(
                |(e, n): (&ExpectedNotification, &Notification)| {
                    e.at == n.period
                        && e.from == n.from
                        && e.to == n.to
                        && topic_matches(&e.topic, &n.action, env)
                },
            );
        if !same {
            let show = |items: Vec<String>| {
                if items.is_empty() {
                    "none".to_owned()
                } else {
                    items.join(", ")
                }
            };
            out.push(format!(
                "notifications: expected {}; got {}",
                show(
                    expected
                        .iter()
                        .map(|e| format!(
                            "{}: {} -> {} {}",
                            e.at,
                            e.from.as_str(),
                            e.to.as_str(),
                            e.topic
                        ))
                        .collect()
                ),
                show(
                    timeline
                        .notifications
                        .iter()
                        .map(|n| format!(
                            "{}: {} -> {} {}",
                            n.period,
                            n.from.as_str(),
                            n.to.as_str(),
                            topic_name(&n.action)
                        ))
                        .collect()
                )
            ));
        }
    }
    out
}
