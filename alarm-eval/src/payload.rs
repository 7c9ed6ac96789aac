//! The PutMetricAlarm payload as `provision render` writes it (API field names); checked into
//! an [`crate::alarm::Alarm`] before evaluation.

use serde::de::IgnoredAny;
use serde::Deserialize;

/// A PutMetricAlarm request body. Every field of the API is accepted; the ones that do not
/// change how the alarm evaluates (description, tags, unit) are read and ignored; a field the
/// API does not have is an error, so a misspelt field cannot silently change the test.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct AlarmPayload {
    /// AlarmName, e.g. `aistudio-prod-ecs-cpu-high`.
    pub alarm_name: String,
    /// AlarmDescription (not used).
    #[serde(default)]
    pub alarm_description: Option<IgnoredAny>,
    /// ActionsEnabled (default true): false means no notification at all.
    #[serde(default)]
    pub actions_enabled: Option<bool>,
    /// OKActions: notified on every transition to OK.
    #[serde(default, rename = "OKActions")]
    pub ok_actions: Vec<String>,
    /// AlarmActions: notified on every transition to ALARM.
    #[serde(default)]
    pub alarm_actions: Vec<String>,
    /// InsufficientDataActions: notified on every transition to INSUFFICIENT_DATA.
    #[serde(default)]
    pub insufficient_data_actions: Vec<String>,
    /// MetricName (single-metric alarms).
    #[serde(default)]
    pub metric_name: Option<String>,
    /// Namespace (single-metric alarms).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Statistic (single-metric alarms).
    #[serde(default)]
    pub statistic: Option<String>,
    /// ExtendedStatistic, e.g. `p95` (single-metric alarms).
    #[serde(default)]
    pub extended_statistic: Option<String>,
    /// Dimensions (single-metric alarms).
    #[serde(default)]
    pub dimensions: Vec<Dimension>,
    /// Period in seconds (single-metric alarms).
    #[serde(default)]
    pub period: Option<i64>,
    /// Unit filter (not used: test series carry no unit).
    #[serde(default)]
    pub unit: Option<IgnoredAny>,
    /// EvaluationPeriods, N.
    pub evaluation_periods: i64,
    /// DatapointsToAlarm, M (default N).
    #[serde(default)]
    pub datapoints_to_alarm: Option<i64>,
    /// Threshold.
    #[serde(default)]
    pub threshold: Option<f64>,
    /// ThresholdMetricId (anomaly detection alarms: not supported offline).
    #[serde(default)]
    pub threshold_metric_id: Option<String>,
    /// ComparisonOperator.
    pub comparison_operator: String,
    /// TreatMissingData (default `missing`).
    #[serde(default)]
    pub treat_missing_data: Option<String>,
    /// EvaluateLowSampleCountPercentile (`evaluate`, the default, or `ignore`).
    #[serde(default)]
    pub evaluate_low_sample_count_percentile: Option<String>,
    /// Metrics (metric-math alarms).
    #[serde(default)]
    pub metrics: Vec<MetricDataQuery>,
    /// Tags (not used).
    #[serde(default)]
    pub tags: Option<IgnoredAny>,
}

/// A dimension of a metric.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct Dimension {
    /// Name.
    pub name: String,
    /// Value.
    pub value: String,
}

/// A MetricDataQuery of a metric-math alarm.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct MetricDataQuery {
    /// Id, referred to by expressions.
    pub id: String,
    /// A metric-math expression.
    #[serde(default)]
    pub expression: Option<String>,
    /// A metric, period and statistic.
    #[serde(default)]
    pub metric_stat: Option<MetricStat>,
    /// Whether this query is the alarm's value (default true; exactly one must be).
    #[serde(default)]
    pub return_data: Option<bool>,
    /// Label (not used).
    #[serde(default)]
    pub label: Option<String>,
    /// Period of an expression (not used: the metrics' period applies).
    #[serde(default)]
    pub period: Option<i64>,
    /// AccountId for cross-account queries (not used).
    #[serde(default)]
    pub account_id: Option<IgnoredAny>,
}

/// MetricStat: metric, period, statistic.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct MetricStat {
    /// The metric.
    pub metric: Metric,
    /// Period in seconds.
    pub period: i64,
    /// Statistic or percentile.
    pub stat: String,
    /// Unit filter (not used).
    #[serde(default)]
    pub unit: Option<IgnoredAny>,
}

/// A metric identity.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct Metric {
    /// Namespace.
    pub namespace: String,
    /// MetricName.
    pub metric_name: String,
    /// Dimensions.
    #[serde(default)]
    pub dimensions: Vec<Dimension>,
}
