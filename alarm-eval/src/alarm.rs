//! The checked alarm the engine evaluates, built from an [`AlarmPayload`]: states, missing-data
//! treatments, comparison operators, the metrics read and the compared value.

use serde::Deserialize;

use crate::mathexpr::{self, Expr};
use crate::payload::{AlarmPayload, Dimension, MetricDataQuery};
use crate::stats::Statistic;

/// The alarm states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// OK.
    Ok,
    /// ALARM.
    Alarm,
    /// INSUFFICIENT_DATA.
    InsufficientData,
}

impl State {
    /// Parses the API spelling.
    pub fn parse(text: &str) -> Option<State> {
        match text {
            "OK" => Some(State::Ok),
            "ALARM" => Some(State::Alarm),
            "INSUFFICIENT_DATA" => Some(State::InsufficientData),
            _ => None,
        }
    }

    /// The API spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            State::Ok => "OK",
            State::Alarm => "ALARM",
            State::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

/// TreatMissingData.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreatMissing {
    /// `missing` (the default).
    Missing,
    /// `ignore`: keep the current state.
    Ignore,
    /// `breaching`.
    Breaching,
    /// `notBreaching`.
    NotBreaching,
}

impl TreatMissing {
    /// Parses the API spelling.
    pub fn parse(text: &str) -> Option<TreatMissing> {
        match text {
            "missing" => Some(TreatMissing::Missing),
            "ignore" => Some(TreatMissing::Ignore),
            "breaching" => Some(TreatMissing::Breaching),
            "notBreaching" => Some(TreatMissing::NotBreaching),
            _ => None,
        }
    }

    /// The API spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            TreatMissing::Missing => "missing",
            TreatMissing::Ignore => "ignore",
            TreatMissing::Breaching => "breaching",
            TreatMissing::NotBreaching => "notBreaching",
        }
    }
}

/// The static-threshold comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `GreaterThanOrEqualToThreshold`.
    GreaterOrEqual,
    /// `GreaterThanThreshold`.
    Greater,
    /// `LessThanThreshold`.
    Less,
    /// `LessThanOrEqualToThreshold`.
    LessOrEqual,
}

impl Comparison {
    /// Parses the API spelling; the anomaly-band operators are refused.
    pub fn parse(text: &str) -> Result<Comparison, String> {
        match text {
            "GreaterThanOrEqualToThreshold" => Ok(Comparison::GreaterOrEqual),
            "GreaterThanThreshold" => Ok(Comparison::Greater),
            "LessThanThreshold" => Ok(Comparison::Less),
            "LessThanOrEqualToThreshold" => Ok(Comparison::LessOrEqual),
            "LessThanLowerOrGreaterThanUpperThreshold"
            | "LessThanLowerThreshold"
            | "GreaterThanUpperThreshold" => Err(format!(
                "comparison operator {text} compares with an anomaly detection band, which is \
                 not supported offline (the band is a model CloudWatch trains on the metric's \
                 history); test a static-threshold alarm instead"
            )),
            _ => Err(format!(
                "unknown comparison operator `{text}`: use GreaterThanThreshold, \
                 GreaterThanOrEqualToThreshold, LessThanThreshold or LessThanOrEqualToThreshold"
            )),
        }
    }

    /// Whether `value` breaches `threshold`.
    pub fn breaches(&self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::GreaterOrEqual => value >= threshold,
            Comparison::Greater => value > threshold,
            Comparison::Less => value < threshold,
            Comparison::LessOrEqual => value <= threshold,
        }
    }
}

/// A metric the alarm reads, with the statistic it reads it with.
#[derive(Debug, Clone)]
pub struct MetricRead {
    /// Query id (`m1` for a single-metric alarm).
    pub id: String,
    /// Namespace.
    pub namespace: String,
    /// MetricName.
    pub metric_name: String,
    /// Dimensions, sorted by name.
    pub dimensions: Vec<Dimension>,
    /// Statistic.
    pub stat: Statistic,
}

/// What the alarm compares with the threshold.
#[derive(Debug, Clone)]
pub enum Value {
    /// A single metric (`metrics[0]`).
    Metric,
    /// The query of `Metrics` that returns data: an expression over `metrics` and other
    /// expressions, or one of the metrics.
    Expression {
        /// Id of the returned query.
        id: String,
        /// Every expression query by id (the returned one included).
        expressions: Vec<(String, Expr)>,
    },
}

/// A checked alarm: what the engine needs, nothing else.
#[derive(Debug, Clone)]
pub struct Alarm {
    /// AlarmName.
    pub name: String,
    /// Period in seconds.
    pub period: i64,
    /// EvaluationPeriods (N).
    pub evaluation_periods: usize,
    /// DatapointsToAlarm (M).
    pub datapoints_to_alarm: usize,
    /// Threshold.
    pub threshold: f64,
    /// ComparisonOperator.
    pub comparison: Comparison,
    /// TreatMissingData.
    pub treat_missing: TreatMissing,
    /// EvaluateLowSampleCountPercentile = ignore (single-metric percentile alarms only).
    pub ignore_low_sample_count: bool,
    /// The metrics read.
    pub metrics: Vec<MetricRead>,
    /// The compared value.
    pub value: Value,
    /// ActionsEnabled.
    pub actions_enabled: bool,
    /// OKActions.
    pub ok_actions: Vec<String>,
    /// AlarmActions.
    pub alarm_actions: Vec<String>,
    /// InsufficientDataActions.
    pub insufficient_data_actions: Vec<String>,
}

impl Alarm {
    /// Parses a payload given as JSON.
    pub fn from_json(json: &serde_json::Value) -> Result<Alarm, String> {
        let payload = AlarmPayload::deserialize(json)
            .map_err(|e| format!("not a PutMetricAlarm payload: {e}"))?;
        Alarm::from_payload(&payload)
    }

    /// Checks a payload: everything the engine relies on holds, or the message says what to
    /// change.
    pub fn from_payload(p: &AlarmPayload) -> Result<Alarm, String> {
        let name = p.alarm_name.clone();
        let fail = |message: String| format!("alarm {name}: {message}");
        if p.threshold_metric_id.is_some() {
            return Err(fail(
                "ThresholdMetricId (an anomaly detection band) is not supported offline".into(),
            ));
        }
        let comparison = Comparison::parse(&p.comparison_operator).map_err(&fail)?;
        let threshold = p
            .threshold
            .ok_or_else(|| fail("Threshold is missing".into()))?;
        let n = usize::try_from(p.evaluation_periods)
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| fail("EvaluationPeriods must be at least 1".into()))?;
        let m = match p.datapoints_to_alarm {
            None => n,
            Some(m) => usize::try_from(m)
                .ok()
                .filter(|m| (1..=n).contains(m))
                .ok_or_else(|| fail(format!("DatapointsToAlarm {m} must be between 1 and {n}")))?,
        };
        let treat_missing = match p.treat_missing_data.as_deref() {
            None => TreatMissing::Missing,
            Some(t) => TreatMissing::parse(t).ok_or_else(|| {
                fail(format!(
                    "TreatMissingData `{t}`: use missing, ignore, breaching or notBreaching"
                ))
            })?,
        };
        let ignore_low = match p.evaluate_low_sample_count_percentile.as_deref() {
            None | Some("evaluate") => false,
            Some("ignore") => true,
            Some(o) => {
                return Err(fail(format!(
                    "EvaluateLowSampleCountPercentile `{o}`: use evaluate or ignore"
                )))
            }
        };
        let (period, metrics, value) = if p.metrics.is_empty() {
            single_metric(p).map_err(&fail)?
        } else {
            metric_math(p).map_err(&fail)?
        };
        check_period(period, n).map_err(&fail)?;
        let ignore_low_sample_count =
            ignore_low && matches!(value, Value::Metric) && metrics[0].stat.is_percentile();
        Ok(Alarm {
            name,
            period,
            evaluation_periods: n,
            datapoints_to_alarm: m,
            threshold,
            comparison,
            treat_missing,
            ignore_low_sample_count,
            metrics,
            value,
            actions_enabled: p.actions_enabled.unwrap_or(true),
            ok_actions: p.ok_actions.clone(),
            alarm_actions: p.alarm_actions.clone(),
            insufficient_data_actions: p.insufficient_data_actions.clone(),
        })
    }

    /// The actions notified on a transition to `state`.
    pub fn actions_for(&self, state: State) -> &[String] {
        match state {
            State::Ok => &self.ok_actions,
            State::Alarm => &self.alarm_actions,
            State::InsufficientData => &self.insufficient_data_actions,
        }
    }
}

/// PutMetricAlarm limits: "Valid values are 10, 20, 30, and any multiple of 60", and the
/// evaluation interval (Period × EvaluationPeriods) is at most one day for periods under an
/// hour, at most 7 days for longer ones.
fn check_period(period: i64, n: usize) -> Result<(), String> {
    const DAY: i64 = 86_400;
    if !(matches!(period, 10 | 20 | 30) || (period > 0 && period % 60 == 0)) {
        return Err(format!(
            "Period {period}: use 10, 20, 30 or a multiple of 60 seconds"
        ));
    }
    let limit = if period < 3_600 { DAY } else { 7 * DAY };
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    if period.saturating_mul(n) > limit {
        return Err(format!(
            "Period {period} x EvaluationPeriods {n} is longer than CloudWatch allows ({limit} s)"
        ));
    }
    Ok(())
}

fn sorted(dims: &[Dimension]) -> Vec<Dimension> {
    let mut out = dims.to_vec();
    out.sort();
    out
}

fn single_metric(p: &AlarmPayload) -> Result<(i64, Vec<MetricRead>, Value), String> {
    let (Some(namespace), Some(metric_name)) = (&p.namespace, &p.metric_name) else {
        return Err("give Namespace and MetricName, or Metrics for a metric-math alarm".into());
    };
    let stat = match (&p.statistic, &p.extended_statistic) {
        (Some(s), None) | (None, Some(s)) => Statistic::parse(s)?,
        _ => return Err("give exactly one of Statistic and ExtendedStatistic".into()),
    };
    let period = p.period.ok_or("Period is missing")?;
    let read = MetricRead {
        id: "m1".into(),
        namespace: namespace.clone(),
        metric_name: metric_name.clone(),
        dimensions: sorted(&p.dimensions),
        stat,
    };
    Ok((period, vec![read], Value::Metric))
}

fn metric_math(p: &AlarmPayload) -> Result<(i64, Vec<MetricRead>, Value), String> {
    if p.metric_name.is_some() || p.namespace.is_some() || p.statistic.is_some() {
        return Err("give either Metrics or MetricName/Namespace/Statistic, not both".into());
    }
    let returned: Vec<&MetricDataQuery> = p
        .metrics
        .iter()
        .filter(|q| q.return_data.unwrap_or(true))
        .collect();
    let [ret] = returned.as_slice() else {
        return Err(format!(
            "exactly one entry of Metrics must have ReturnData true, {} have (ReturnData \
             defaults to true: set it to false on the others)",
            returned.len()
        ));
    };
    let mut metrics = Vec::new();
    let mut expressions = Vec::new();
    let mut period = None;
    for q in &p.metrics {
        match (&q.expression, &q.metric_stat) {
            (Some(text), None) => {
                let expr = mathexpr::parse(text).map_err(|e| format!("Metrics {}: {e}", q.id))?;
                expressions.push((q.id.clone(), expr));
            }
            (None, Some(ms)) => {
                if *period.get_or_insert(ms.period) != ms.period {
                    return Err(format!(
                        "Metrics {} has Period {} but another metric has {}: every metric of \
                         an alarm must use the same period",
                        q.id,
                        ms.period,
                        period.unwrap_or_default()
                    ));
                }
                metrics.push(MetricRead {
                    id: q.id.clone(),
                    namespace: ms.metric.namespace.clone(),
                    metric_name: ms.metric.metric_name.clone(),
                    dimensions: sorted(&ms.metric.dimensions),
                    stat: Statistic::parse(&ms.stat)
                        .map_err(|e| format!("Metrics {}: {e}", q.id))?,
                });
            }
            _ => {
                return Err(format!(
                    "Metrics {} needs exactly one of Expression and MetricStat",
                    q.id
                ))
            }
        }
    }
    let period = period.ok_or("Metrics has no MetricStat: an expression needs metrics to read")?;
    let ids: Vec<&str> = metrics
        .iter()
        .map(|m| m.id.as_str())
        .chain(expressions.iter().map(|(id, _)| id.as_str()))
        .collect();
    if let Some(dup) = ids
        .iter()
        .enumerate()
        .find(|(i, id)| ids[..*i].contains(id))
    {
        return Err(format!(
            "two entries of Metrics have the Id `{}`: make them unique",
            dup.1
        ));
    }
    for (id, expr) in &expressions {
        for r in expr.references() {
            if !ids.contains(&r.as_str()) {
                return Err(format!(
                    "expression {id} refers to `{r}`, which no entry defines"
                ));
            }
        }
    }
    Ok((
        period,
        metrics,
        Value::Expression {
            id: ret.id.clone(),
            expressions,
        },
    ))
}
