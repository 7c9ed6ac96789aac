//! Alarm test files (`alarms/tests/*.toml`): the format, and binding a test to the alarm it
//! names (series in [`crate::series`]). Every error carries the file, line and what to write
//! instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use toml::value::Datetime;
use toml::Spanned;

use crate::alarm::{Alarm, State};
use crate::evaluate::PeriodData;
use crate::series::{self, Series, SeriesDef};

/// A problem in a test file, at a line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: {message}", file.display())]
pub struct FileError {
    /// The file.
    pub file: PathBuf,
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
    /// What is wrong and what to write instead.
    pub message: String,
}

/// Where things are in a file's text.
#[derive(Debug, Clone)]
pub struct Located {
    file: PathBuf,
    text: String,
}

impl Located {
    /// A file's text.
    pub fn new(file: &Path, text: String) -> Located {
        Located {
            file: file.to_path_buf(),
            text,
        }
    }

    /// An error at byte offset `at`.
    pub fn error(&self, at: usize, message: impl Into<String>) -> FileError {
        let mut at = at.min(self.text.len());
        while !self.text.is_char_boundary(at) {
            at -= 1;
        }
        let before = &self.text[..at];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        FileError {
            file: self.file.clone(),
            line,
            column,
            message: message.into(),
        }
    }

    /// An error at a spanned value.
    pub fn at<T>(&self, value: &Spanned<T>, message: impl Into<String>) -> FileError {
        self.error(value.span().start, message)
    }

    /// The file.
    pub fn file(&self) -> &Path {
        &self.file
    }
}

/// A test file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDef {
    /// Alarm id (file stem in `alarms/`) for every test of the file that names none.
    #[serde(default)]
    pub alarm: Option<Spanned<String>>,
    /// Environment for every test that names none.
    #[serde(default)]
    pub env: Option<Spanned<String>>,
    /// Start of period 1 for every test that gives none.
    #[serde(default)]
    pub start: Option<Spanned<Datetime>>,
    /// The tests.
    #[serde(default, rename = "test")]
    pub tests: Vec<Spanned<TestDef>>,
}

/// One test as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestDef {
    /// What the test shows.
    pub name: String,
    /// Alarm id, e.g. `jobs-failed-high`.
    #[serde(default)]
    pub alarm: Option<Spanned<String>>,
    /// Environment whose rendered payload is tested.
    #[serde(default)]
    pub env: Option<Spanned<String>>,
    /// Start of period 1 (RFC 3339 with offset).
    #[serde(default)]
    pub start: Option<Spanned<Datetime>>,
    /// State before period 1 (default INSUFFICIENT_DATA, a new alarm's state).
    #[serde(default)]
    pub state: Option<Spanned<String>>,
    /// Number of periods evaluated (default: the series' length).
    #[serde(default)]
    pub periods: Option<Spanned<usize>>,
    /// Points fetched per evaluation (default N + 2, the guide's 5 for N = 3).
    #[serde(default)]
    pub evaluation_range: Option<Spanned<usize>>,
    /// PutMetricAlarm fields replaced before the test runs, to show what another definition
    /// would do (e.g. the seeds' `ComparisonOperator = "GreaterThanThreshold"`).
    #[serde(default, rename = "override")]
    pub overrides: Option<Spanned<toml::Table>>,
    /// Input series.
    #[serde(default)]
    pub series: Vec<Spanned<SeriesDef>>,
    /// Expected state after the evaluation at the end of each listed period.
    pub expect: Spanned<BTreeMap<String, Spanned<String>>>,
    /// Expected notifications in order (absent: not checked; `[]`: none expected).
    #[serde(default)]
    pub notifications: Option<Vec<Spanned<NotificationDef>>>,
}

/// An expected notification.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationDef {
    /// Period whose evaluation sends it.
    pub at: usize,
    /// `"OK -> ALARM"`.
    pub transition: String,
    /// Topic: key (`critical-alerts`), name (`aistudio-prod-critical-alerts`) or ARN.
    pub topic: String,
}

/// A notification a test expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedNotification {
    /// Period whose evaluation sends it.
    pub at: usize,
    /// State before.
    pub from: State,
    /// State after.
    pub to: State,
    /// Topic as written: key, name or ARN.
    pub topic: String,
}

/// A test ready to run against an alarm.
#[derive(Debug, Clone)]
pub struct Bound {
    /// Data per metric of the alarm, each `periods` long.
    pub data: Vec<Vec<PeriodData>>,
    /// Series of dimension sets the alarm does not read, for the timeline.
    pub unread: Vec<(String, Vec<PeriodData>)>,
    /// Number of periods.
    pub periods: usize,
    /// Expected states by period.
    pub expect: BTreeMap<usize, State>,
    /// Expected notifications in order, if checked.
    pub notifications: Option<Vec<ExpectedNotification>>,
    /// State before period 1.
    pub start_state: State,
    /// Points per evaluation.
    pub range: usize,
}

/// The payload with a test's `override` fields replaced; the description of the changes.
pub fn apply_overrides(
    loc: &Located,
    def: &TestDef,
    mut json: serde_json::Value,
) -> Result<(serde_json::Value, Option<String>), FileError> {
    let Some(table) = &def.overrides else {
        return Ok((json, None));
    };
    let fields = serde_json::to_value(table.get_ref())
        .map_err(|e| loc.at(table, format!("override cannot be used as JSON: {e}")))?;
    let (Some(target), serde_json::Value::Object(fields)) = (json.as_object_mut(), fields) else {
        return Err(loc.at(table, "the rendered payload is not a JSON object"));
    };
    let mut changed = Vec::new();
    for (key, value) in fields {
        changed.push(format!("{key}={value}"));
        target.insert(key, value);
    }
    Ok((json, Some(changed.join(", "))))
}

/// Start of period 1.
pub fn start_time(loc: &Located, dt: &Spanned<Datetime>) -> Result<OffsetDateTime, FileError> {
    OffsetDateTime::parse(&dt.get_ref().to_string(), &Rfc3339).map_err(|_| {
        loc.at(
            dt,
            "start must be a date and time with an offset, e.g. start = 2026-01-05T10:00:00Z",
        )
    })
}

/// The starting state.
pub fn start_state(loc: &Located, s: Option<&Spanned<String>>) -> Result<State, FileError> {
    match s {
        None => Ok(State::InsufficientData),
        Some(s) => State::parse(s.get_ref()).ok_or_else(|| {
            loc.at(
                s,
                "state must be \"OK\", \"ALARM\" or \"INSUFFICIENT_DATA\"",
            )
        }),
    }
}

/// Binds a test's series and expectations to `alarm`.
pub fn bind(
    loc: &Located,
    test: &Spanned<TestDef>,
    alarm: &Alarm,
    range_default: usize,
) -> Result<Bound, FileError> {
    let def = test.get_ref();
    let Series {
        data,
        unread,
        lengths,
    } = series::bind_series(loc, &def.series, alarm)?;
    let periods = match &def.periods {
        Some(p) if *p.get_ref() > series::MAX_PERIODS => {
            return Err(loc.at(
                p,
                format!(
                    "periods is at most {}: write a shorter test",
                    series::MAX_PERIODS
                ),
            ))
        }
        Some(p) => {
            if let Some((s, len)) = lengths.iter().find(|(_, len)| len > p.get_ref()) {
                return Err(loc.at(
                    *s,
                    format!(
                        "this series has {len} periods, more than periods = {}",
                        p.get_ref()
                    ),
                ));
            }
            *p.get_ref()
        }
        None => {
            let max = lengths.iter().map(|(_, l)| *l).max().unwrap_or(0);
            if let Some((s, len)) = lengths.iter().find(|(_, len)| *len != max) {
                return Err(loc.at(
                    *s,
                    format!(
                        "this series has {len} periods and another has {max}: make them equal \
                         (`_x{}` pads with missing periods) or set `periods = {max}`",
                        max - len
                    ),
                ));
            }
            max
        }
    };
    if periods == 0 {
        return Err(loc.at(
            test,
            "the test has no period: give series, or `periods = N`",
        ));
    }
    let pad = |mut v: Vec<PeriodData>| {
        v.resize(periods, PeriodData::Missing);
        v
    };
    let data = data
        .into_iter()
        .map(|d| pad(d.unwrap_or_default()))
        .collect();
    let unread = unread.into_iter().map(|(l, v)| (l, pad(v))).collect();
    Ok(Bound {
        data,
        unread,
        periods,
        expect: expectations(loc, def, periods)?,
        notifications: notifications(loc, def, periods)?,
        start_state: start_state(loc, def.state.as_ref())?,
        range: match &def.evaluation_range {
            Some(r) if *r.get_ref() > series::MAX_PERIODS => {
                return Err(loc.at(
                    r,
                    format!("evaluation_range is at most {}", series::MAX_PERIODS),
                ))
            }
            Some(r) if *r.get_ref() < alarm.evaluation_periods => {
                return Err(loc.at(
                    r,
                    format!(
                        "the evaluation range holds at least EvaluationPeriods = {} points",
                        alarm.evaluation_periods
                    ),
                ))
            }
            Some(r) => *r.get_ref(),
            None => range_default,
        },
    })
}

fn expectations(
    loc: &Located,
    def: &TestDef,
    periods: usize,
) -> Result<BTreeMap<usize, State>, FileError> {
    let mut out = BTreeMap::new();
    for (key, state) in def.expect.get_ref() {
        let period = key
            .parse::<usize>()
            .ok()
            .filter(|p| (1..=periods).contains(p))
            .ok_or_else(|| {
                loc.at(
                    state,
                    format!(
                        "`{key}` is not a period of this test: the keys of [test.expect] are \
                         period numbers from 1 to {periods}"
                    ),
                )
            })?;
        let s = State::parse(state.get_ref()).ok_or_else(|| {
            loc.at(
                state,
                "expected states are \"OK\", \"ALARM\" or \"INSUFFICIENT_DATA\"",
            )
        })?;
        out.insert(period, s);
    }
    if out.is_empty() {
        return Err(loc.at(
            &def.expect,
            "expect at least one state, e.g. `expect = { 3 = \"ALARM\" }`",
        ));
    }
    Ok(out)
}

fn notifications(
    loc: &Located,
    def: &TestDef,
    periods: usize,
) -> Result<Option<Vec<ExpectedNotification>>, FileError> {
    let Some(list) = &def.notifications else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for n in list {
        let nd = n.get_ref();
        let parsed = nd
            .transition
            .split_once("->")
            .and_then(|(a, b)| Some((State::parse(a.trim())?, State::parse(b.trim())?)));
        let Some((from, to)) = parsed else {
            return Err(loc.at(
                n,
                format!(
                    "transition `{}`: write FROM -> TO, e.g. \"OK -> ALARM\"",
                    nd.transition
                ),
            ));
        };
        if !(1..=periods).contains(&nd.at) {
            return Err(loc.at(n, format!("`at` is a period number from 1 to {periods}")));
        }
        out.push(ExpectedNotification {
            at: nd.at,
            from,
            to,
            topic: nd.topic.clone(),
        });
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_line_and_column() {
        let loc = Located::new(Path::new("t.toml"), "a = 1\nbb = 2\n".into());
        let e = loc.error(8, "bad");
        assert_eq!((e.line, e.column), (2, 3));
        assert_eq!(e.to_string(), "t.toml:2:3: bad");
    }
}
