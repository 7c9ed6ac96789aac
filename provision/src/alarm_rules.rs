//! Rules for one rendered alarm: names, statistics, periods and the evaluation window,
//! DatapointsToAlarm, actions per state, metric math and the published dimension sets.

use std::collections::BTreeSet;

use super::definitions::DimensionDef;
use super::dimension_sets::{check_dimension_set, SetProblem};
use super::expr::{check_expression, is_valid_id};
use super::render::AlarmSpec;
use aistudio_core::limits::{
    is_valid_period, max_evaluation_window, MAX_ACTIONS_PER_STATE, MAX_ALARM_NAME_LEN,
};

/// PutMetricAlarm: AlarmDescription is at most 1,024 characters (CloudWatch API reference,
/// PutMetricAlarm `AlarmDescription`).
pub const MAX_ALARM_DESCRIPTION_LEN: usize = 1_024;
/// The statistics CloudWatch accepts in `Statistic` (PutMetricAlarm API reference).
const STATISTICS: [&str; 5] = ["SampleCount", "Average", "Sum", "Minimum", "Maximum"];
/// Alarm comparison operators against a static threshold (PutMetricAlarm API reference; the
/// anomaly-band operators need ThresholdMetricId, which the definitions do not support).
const COMPARISON_OPERATORS: [&str; 4] = [
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
];
/// TreatMissingData values (PutMetricAlarm API reference).
const TREAT_MISSING_DATA: [&str; 4] = ["breaching", "notBreaching", "ignore", "missing"];
/// EvaluateLowSampleCountPercentile values (PutMetricAlarm API reference).
const LOW_SAMPLE_COUNT: [&str; 2] = ["evaluate", "ignore"];

fn is_extended_statistic(stat: &str) -> bool {
    // p99, p99.9, tm90, wm(10%:90%), TM(10:90), IQM, tc/ts/pr with ranges.
    if stat == "IQM" {
        return true;
    }
    let lower = stat.to_ascii_lowercase();
    let Some(rest) = ["p", "tm", "wm", "tc", "ts", "pr"]
        .iter()
        .find_map(|pre| lower.strip_prefix(pre))
    else {
        return false;
    };
    if let Some(inner) = rest.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        return !inner.is_empty()
            && inner
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '.' | ':' | '%'));
    }
    rest.parse::<f64>()
        .is_ok_and(|v| (0.0..=100.0).contains(&v))
}

fn check_stat(stat: &str) -> Option<String> {
    if STATISTICS.contains(&stat) || is_extended_statistic(stat) {
        None
    } else {
        Some(format!(
            "`{stat}` is not a statistic; use {} or a percentile such as p95",
            STATISTICS.join(", ")
        ))
    }
}

/// The query's dimensions must be exactly a combination the metric is published with.
fn check_dimensions(
    namespace: &str,
    metric: &str,
    dims: &[DimensionDef],
    path: &str,
    found: &mut Vec<(String, String)>,
) {
    let names: Vec<&str> = dims.iter().map(|d| d.name.as_str()).collect();
    match check_dimension_set(namespace, metric, &names) {
        Ok(()) => {}
        Err(SetProblem::UnknownNamespace(m)) => found.push((format!("{path}Namespace"), m)),
        Err(SetProblem::UnknownMetric(m)) => found.push((format!("{path}MetricName"), m)),
        Err(SetProblem::WrongSet(m)) => found.push((format!("{path}Dimensions"), m)),
    }
}

/// Checks one rendered PutMetricAlarm payload; returns (path, message) pairs.
pub fn check_alarm_spec(spec: &AlarmSpec, found: &mut Vec<(String, String)>) {
    let mut push = |path: &str, message: String| found.push((path.to_owned(), message));
    let name = &spec.alarm_name;
    if name.chars().count() > MAX_ALARM_NAME_LEN {
        push(
            "AlarmName",
            format!("`{name}` is longer than {MAX_ALARM_NAME_LEN} characters; shorten it"),
        );
    }
    if name.chars().any(char::is_control) {
        push(
            "AlarmName",
            "the alarm name contains a control character; remove it".to_owned(),
        );
    }
    if let Some(d) = &spec.alarm_description {
        if d.chars().count() > MAX_ALARM_DESCRIPTION_LEN {
            push("AlarmDescription", format!("the description and runbook together are longer than {MAX_ALARM_DESCRIPTION_LEN} characters; shorten them"));
        }
    }
    let single = spec.metric_name.is_some() || spec.namespace.is_some();
    let math = !spec.metrics.is_empty();
    let mut period = spec.period;
    if single && math {
        push(
            "Metrics",
            "give either MetricName/Namespace or Metrics, not both".to_owned(),
        );
    } else if !single && !math {
        push(
            "MetricName",
            "the alarm watches nothing; give MetricName and Namespace, or Metrics".to_owned(),
        );
    } else if single {
        let (Some(ns), Some(metric)) = (&spec.namespace, &spec.metric_name) else {
            push(
                "Namespace",
                "a single-metric alarm needs both Namespace and MetricName".to_owned(),
            );
            return;
        };
        match (&spec.statistic, &spec.extended_statistic) {
            (Some(_), Some(_)) | (None, None) => push(
                "Statistic",
                "give exactly one of Statistic and ExtendedStatistic".to_owned(),
            ),
            (Some(s), None) if !STATISTICS.contains(&s.as_str()) => push(
                "Statistic",
                format!("`{s}` is not one of {}", STATISTICS.join(", ")),
            ),
            (None, Some(s)) if !is_extended_statistic(s) => push(
                "ExtendedStatistic",
                format!("`{s}` is not a percentile or trimmed statistic such as p95"),
            ),
            _ => {}
        }
        if spec.period.is_none() {
            push("Period", "a single-metric alarm needs a Period".to_owned());
        }
        let mut catalog = Vec::new();
        check_dimensions(ns, metric, &spec.dimensions, "", &mut catalog);
        found.extend(catalog);
    } else {
        for (field, set) in [
            ("Statistic", spec.statistic.is_some()),
            ("ExtendedStatistic", spec.extended_statistic.is_some()),
            ("Period", spec.period.is_some()),
            ("Dimensions", !spec.dimensions.is_empty()),
        ] {
            if set {
                found.push((
                    field.to_owned(),
                    format!("{field} is not allowed beside Metrics; put it in the MetricStat"),
                ));
            }
        }
        let ids: BTreeSet<String> = spec.metrics.iter().map(|q| q.id.clone()).collect();
        let mut seen = BTreeSet::new();
        let mut returning = 0;
        let mut max_period = None;
        for (i, q) in spec.metrics.iter().enumerate() {
            let at = format!("Metrics[{i}]");
            if !is_valid_id(&q.id) {
                found.push((format!("{at}.Id"), format!("`{}` is not a valid id; start with a lowercase letter, then letters, digits or _", q.id)));
            }
            if !seen.insert(q.id.clone()) {
                found.push((
                    format!("{at}.Id"),
                    format!("id `{}` is used twice; ids must be unique", q.id),
                ));
            }
            if q.return_data != Some(false) {
                returning += 1;
            }
            match (&q.expression, &q.metric_stat) {
                (Some(_), Some(_)) | (None, None) => found.push((
                    at.clone(),
                    "give exactly one of Expression and MetricStat".to_owned(),
                )),
                (Some(expr), None) => {
                    let others: BTreeSet<String> =
                        ids.iter().filter(|id| **id != q.id).cloned().collect();
                    if let Err(err) = check_expression(expr, &others) {
                        found.push((
                            format!("{at}.Expression"),
                            format!("`{expr}` is not a valid expression: {err}"),
                        ));
                    }
                    if let Some(p) = q.period {
                        if !is_valid_period(p) {
                            found.push((format!("{at}.Period"), period_message(p)));
                        }
                        max_period = max_period.max(Some(p));
                    }
                }
                (None, Some(ms)) => {
                    if !is_valid_period(ms.period) {
                        found.push((format!("{at}.MetricStat.Period"), period_message(ms.period)));
                    }
                    max_period = max_period.max(Some(ms.period));
                    if let Some(message) = check_stat(&ms.stat) {
                        found.push((format!("{at}.MetricStat.Stat"), message));
                    }
                    check_dimensions(
                        &ms.metric.namespace,
                        &ms.metric.metric_name,
                        &ms.metric.dimensions,
                        &format!("{at}.MetricStat.Metric."),
                        found,
                    );
                }
            }
        }
        if returning != 1 {
            found.push(("Metrics".to_owned(), format!("{returning} queries return data; exactly one must (set ReturnData = false on the others)")));
        }
        period = max_period;
    }
    let mut push = |path: &str, message: String| found.push((path.to_owned(), message));
    if let Some(p) = spec.period {
        if !is_valid_period(p) {
            push("Period", period_message(p));
        }
    }
    if spec.evaluation_periods < 1 {
        push(
            "EvaluationPeriods",
            format!("{} must be at least 1", spec.evaluation_periods),
        );
    }
    if let Some(d) = spec.datapoints_to_alarm {
        if d < 1 || d > spec.evaluation_periods {
            push(
                "DatapointsToAlarm",
                format!(
                    "{d} must be between 1 and EvaluationPeriods ({})",
                    spec.evaluation_periods
                ),
            );
        }
    }
    if let Some(p) = period.filter(|p| *p > 0) {
        let window = i64::from(p) * i64::from(spec.evaluation_periods);
        let max = max_evaluation_window(p);
        if window > max {
            push("EvaluationPeriods", format!("Period {p} s × EvaluationPeriods {} = {window} s is more than CloudWatch's {max} s; evaluate fewer or shorter periods", spec.evaluation_periods));
        }
    }
    if !COMPARISON_OPERATORS.contains(&spec.comparison_operator.as_str()) {
        push(
            "ComparisonOperator",
            format!(
                "`{}` is not one of {}",
                spec.comparison_operator,
                COMPARISON_OPERATORS.join(", ")
            ),
        );
    }
    if let Some(t) = &spec.treat_missing_data {
        if !TREAT_MISSING_DATA.contains(&t.as_str()) {
            push(
                "TreatMissingData",
                format!("`{t}` is not one of {}", TREAT_MISSING_DATA.join(", ")),
            );
        }
    }
    if let Some(t) = &spec.evaluate_low_sample_count_percentile {
        if !LOW_SAMPLE_COUNT.contains(&t.as_str()) {
            push(
                "EvaluateLowSampleCountPercentile",
                format!("`{t}` is not one of {}", LOW_SAMPLE_COUNT.join(", ")),
            );
        }
    }
    if !spec.threshold.is_finite() {
        push(
            "Threshold",
            "the threshold must be a finite number".to_owned(),
        );
    }
    for (field, list) in [
        ("AlarmActions", &spec.alarm_actions),
        ("OKActions", &spec.ok_actions),
        ("InsufficientDataActions", &spec.insufficient_data_actions),
    ] {
        if list.len() > MAX_ACTIONS_PER_STATE {
            push(
                field,
                format!(
                    "{} actions; CloudWatch allows at most {MAX_ACTIONS_PER_STATE} per state",
                    list.len()
                ),
            );
        }
    }
}

fn period_message(p: i32) -> String {
    format!("period {p} s is not allowed; use 10, 20, 30 or a multiple of 60")
}
