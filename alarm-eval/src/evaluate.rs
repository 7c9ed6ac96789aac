//! The alarm state machine: one evaluation of an evaluation range ([`decide`]) and a run over
//! a timeline of periods with the notifications it sends ([`simulate`]).
//!
//! Sources, CloudWatch user guide:
//! - "Evaluating an alarm": Period, Evaluation Periods (N) and Datapoints to Alarm (M); the M
//!   breaching points need not be consecutive, they must be among the last N.
//! - "How alarm state is evaluated when data is missing": the evaluation range is wider than
//!   N; with at least N real points in it the most recent N real points are evaluated and
//!   TreatMissingData is not used; otherwise missing points are filled "as few times as
//!   possible", every real point in the range included.
//! - "Avoiding premature transitions to alarm state": with `missing` (and `ignore`), a range
//!   whose real points are all breaching goes to ALARM when the oldest breaching point is at
//!   least M periods old; younger breaches wait.
//! - "Using Amazon CloudWatch alarms": "An alarm invokes actions only when the alarm changes
//!   state" (SNS notifications once per change, not while the state stays).

use crate::alarm::{Alarm, State, TreatMissing, Value};
use crate::matheval::{self, Scope, Series, Val};
use crate::mathexpr;

/// One data point of an evaluation range, as the alarm sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// No data for the period.
    Missing,
    /// A value within the threshold.
    NotBreaching,
    /// A value breaching the threshold.
    Breaching,
}

/// Which rule of the guide decided an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// At least N real points: the most recent N real points decide.
    RecentReal,
    /// Fewer than N real points, filled with TreatMissingData (or the real points decide).
    Filled,
    /// Every point of the range is missing.
    AllMissing,
    /// All real points breaching and the oldest at least M periods old: ALARM.
    Premature,
    /// The state is kept (`ignore` where `missing` would wait or alarm early).
    Kept,
    /// Only recent breaching points and `missing`: too early to alarm, INSUFFICIENT_DATA.
    TooRecent,
    /// The newest period has fewer samples than the percentile needs
    /// (`EvaluateLowSampleCountPercentile = ignore`): not evaluated, state kept.
    LowSampleCount,
}

/// The outcome of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The new state.
    pub state: State,
    /// How many of the N evaluated points were filled by TreatMissingData.
    pub filled: usize,
    /// The deciding rule.
    pub rule: Rule,
}

/// The evaluation range the tables of the guide use for N = 3 is 5 points. The exact size
/// "depends on the length of the alarm period and whether it is based on a metric with
/// standard resolution or high resolution" and is not published; N + 2 reproduces the guide
/// and is what LocalStack uses. Tests can set their own (`evaluation_range`).
pub fn default_evaluation_range(evaluation_periods: usize) -> usize {
    evaluation_periods + 2
}

/// Evaluates one range (`points` oldest first, the newest last) of an M-of-N alarm.
pub fn decide(
    points: &[Point],
    n: usize,
    m: usize,
    treat: TreatMissing,
    current: State,
) -> Decision {
    let by_count = |breaching: usize| {
        if breaching >= m {
            State::Alarm
        } else {
            State::Ok
        }
    };
    let real: Vec<(usize, Point)> = points
        .iter()
        .rev()
        .enumerate()
        .filter(|(_, p)| **p != Point::Missing)
        .map(|(age, p)| (age, *p))
        .collect();
    let breaching =
        |pts: &[(usize, Point)]| pts.iter().filter(|(_, p)| *p == Point::Breaching).count();
    if real.len() >= n {
        return Decision {
            state: by_count(breaching(&real[..n])),
            filled: 0,
            rule: Rule::RecentReal,
        };
    }
    let filled = n - real.len();
    let b = breaching(&real);
    let decision = |state, rule| Decision {
        state,
        filled,
        rule,
    };
    match treat {
        TreatMissing::Breaching if real.is_empty() => decision(by_count(filled), Rule::AllMissing),
        TreatMissing::Breaching => decision(by_count(b + filled), Rule::Filled),
        TreatMissing::NotBreaching if real.is_empty() => decision(State::Ok, Rule::AllMissing),
        TreatMissing::NotBreaching => decision(by_count(b), Rule::Filled),
        TreatMissing::Missing if real.is_empty() => {
            decision(State::InsufficientData, Rule::AllMissing)
        }
        TreatMissing::Ignore if real.is_empty() => decision(current, Rule::AllMissing),
        TreatMissing::Missing | TreatMissing::Ignore => {
            if b >= m {
                return decision(State::Alarm, Rule::Filled);
            }
            if b < real.len() {
                // A real non-breaching point among too few breaching ones: OK (rows
                // "0 - - - -" of the 3-of-3 table, "0 - X - -" and "- - - - 0" of 2 of 3).
                return decision(State::Ok, Rule::Filled);
            }
            let oldest_age = real.last().map(|(age, _)| *age).unwrap_or_default();
            match (treat, oldest_age + 1 >= m) {
                // "- - X - -" (3 of 3) and "- - - X -" (2 of 3): ALARM with missing,
                // "Retain current state" with ignore.
                (TreatMissing::Missing, true) => decision(State::Alarm, Rule::Premature),
                // "- - - - X": too recent to alarm; an earlier edition of the guide's tables
                // gives INSUFFICIENT_DATA for missing and "Retain current state" for ignore.
                (TreatMissing::Missing, false) => {
                    decision(State::InsufficientData, Rule::TooRecent)
                }
                _ => decision(current, Rule::Kept),
            }
        }
    }
}

/// One period's data for one metric.
#[derive(Debug, Clone, PartialEq)]
pub enum PeriodData {
    /// No data.
    Missing,
    /// The statistic's value, given directly.
    Value(f64),
    /// Raw samples as `(value, count)`.
    Samples(Vec<(f64, u64)>),
}

/// A row of the timeline: one evaluation at the end of a period.
#[derive(Debug, Clone)]
pub struct Row {
    /// Period number, from 1.
    pub period: usize,
    /// Each metric's statistic for this period, in [`Alarm::metrics`] order.
    pub metric_values: Vec<Option<f64>>,
    /// Each metric's sample count, when given as samples.
    pub sample_counts: Vec<Option<u64>>,
    /// The compared value for this period (the metric, or the returned expression).
    pub value: Option<f64>,
    /// How the newest point counts.
    pub point: Point,
    /// Whether the newest point was below the percentile's sample count and ignored.
    pub low_sample: bool,
    /// The evaluation.
    pub decision: Decision,
    /// The state before the evaluation.
    pub before: State,
}

/// A notification sent on a transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The period whose evaluation changed the state.
    pub period: usize,
    /// State before.
    pub from: State,
    /// State after.
    pub to: State,
    /// The action (SNS topic ARN).
    pub action: String,
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct Timeline {
    /// One row per period.
    pub rows: Vec<Row>,
    /// Notifications in order.
    pub notifications: Vec<Notification>,
}

/// Evaluates `alarm` at the end of every period of `data` (one entry per metric of the
/// alarm, each `periods` long; data before period 1 is missing).
pub fn simulate(
    alarm: &Alarm,
    data: &[Vec<PeriodData>],
    periods: usize,
    start: State,
    range: usize,
) -> Result<Timeline, String> {
    if data.len() != alarm.metrics.len() {
        return Err(format!(
            "{} series for {} metrics",
            data.len(),
            alarm.metrics.len()
        ));
    }
    if let Some(short) = data.iter().position(|d| d.len() != periods) {
        return Err(format!(
            "series {} has {} periods, the run {periods}",
            short + 1,
            data[short].len()
        ));
    }
    let range = range.max(alarm.evaluation_periods);
    let low_limit = alarm
        .ignore_low_sample_count
        .then(|| alarm.metrics[0].stat.low_sample_limit())
        .flatten();
    let mut state = start;
    let mut rows = Vec::new();
    let mut notifications = Vec::new();
    for k in 1..=periods {
        let window: Vec<Option<usize>> = (0..range)
            .map(|i| (k + i + 1).checked_sub(range + 1))
            .map(|idx| idx.filter(|i| *i < periods))
            .collect();
        let windows = metric_windows(alarm, data, &window)?;
        let values = compared_values(alarm, &windows)?;
        let low: Vec<bool> = window
            .iter()
            .map(|idx| match (low_limit, idx.map(|i| &data[0][i])) {
                (Some(limit), Some(PeriodData::Samples(s))) => {
                    let n: u64 = s.iter().map(|(_, c)| c).sum();
                    n > 0 && (n as f64) < limit
                }
                _ => false,
            })
            .collect();
        let points: Vec<Point> = values
            .iter()
            .zip(&low)
            .map(|(v, low)| match v {
                Some(v) if !low => {
                    if alarm.comparison.breaches(*v, alarm.threshold) {
                        Point::Breaching
                    } else {
                        Point::NotBreaching
                    }
                }
                _ => Point::Missing,
            })
            .collect();
        let newest_low = low.last().copied().unwrap_or(false);
        let decision = if newest_low {
            Decision {
                state,
                filled: 0,
                rule: Rule::LowSampleCount,
            }
        } else {
            decide(
                &points,
                alarm.evaluation_periods,
                alarm.datapoints_to_alarm,
                alarm.treat_missing,
                state,
            )
        };
        let newest = |w: &Series| w.last().copied().flatten();
        rows.push(Row {
            period: k,
            metric_values: windows.iter().map(|(_, w)| newest(w)).collect(),
            sample_counts: data
                .iter()
                .map(|d| match &d[k - 1] {
                    PeriodData::Samples(s) => Some(s.iter().map(|(_, c)| c).sum()),
                    _ => None,
                })
                .collect(),
            value: newest(&values),
            point: points.last().copied().unwrap_or(Point::Missing),
            low_sample: newest_low,
            decision,
            before: state,
        });
        if decision.state != state && alarm.actions_enabled {
            for action in alarm.actions_for(decision.state) {
                notifications.push(Notification {
                    period: k,
                    from: state,
                    to: decision.state,
                    action: action.clone(),
                });
            }
        }
        state = decision.state;
    }
    Ok(Timeline {
        rows,
        notifications,
    })
}

/// Each metric's statistic over the range (`window` holds data indexes, `None` before the
/// data starts).
fn metric_windows(
    alarm: &Alarm,
    data: &[Vec<PeriodData>],
    window: &[Option<usize>],
) -> Result<Vec<(String, Series)>, String> {
    alarm
        .metrics
        .iter()
        .zip(data)
        .map(|(metric, series)| {
            let values = window
                .iter()
                .map(|idx| match idx.map(|i| &series[i]) {
                    None | Some(PeriodData::Missing) => Ok(None),
                    Some(PeriodData::Value(v)) => Ok(Some(*v)),
                    Some(PeriodData::Samples(s)) => Ok(metric.stat.of(s)),
                })
                .collect::<Result<Series, String>>()?;
            Ok((metric.id.clone(), values))
        })
        .collect()
}

/// Expression nesting deeper than this is a reference cycle.
const MAX_EXPRESSION_DEPTH: usize = 32;

struct RangeScope<'a> {
    windows: &'a [(String, Series)],
    expressions: &'a [(String, mathexpr::Expr)],
    depth: std::cell::Cell<usize>,
}

impl Scope for RangeScope<'_> {
    fn lookup(&self, id: &str) -> Result<Val, String> {
        if let Some((_, s)) = self.windows.iter().find(|(k, _)| k == id) {
            return Ok(Val::Series(s.clone()));
        }
        let (_, expr) = self
            .expressions
            .iter()
            .find(|(k, _)| k == id)
            .ok_or_else(|| format!("no query has id `{id}`"))?;
        let depth = self.depth.get() + 1;
        if depth > MAX_EXPRESSION_DEPTH {
            return Err(format!("expression `{id}` refers to itself"));
        }
        self.depth.set(depth);
        let out = matheval::eval(expr, self);
        self.depth.set(depth - 1);
        out
    }

    fn metrics(&self, filter: &str) -> Vec<Series> {
        self.windows
            .iter()
            .filter(|(id, _)| id.contains(filter))
            .map(|(_, s)| s.clone())
            .collect()
    }
}

fn compared_values(alarm: &Alarm, windows: &[(String, Series)]) -> Result<Series, String> {
    match &alarm.value {
        Value::Metric => Ok(windows[0].1.clone()),
        Value::Expression { id, expressions } => {
            let scope = RangeScope {
                windows,
                expressions,
                depth: std::cell::Cell::new(0),
            };
            let len = windows[0].1.len();
            match scope.lookup(id)? {
                Val::Series(s) if s.is_empty() => Ok(vec![None; len]),
                Val::Series(s) => Ok(s),
                other => Err(format!(
                    "the returned expression {id} must give one time series, it gives {}",
                    match other {
                        Val::Scalar(_) => "a scalar",
                        Val::Array(_) => "an array of time series",
                        _ => "no time series",
                    }
                )),
            }
        }
    }
}
