//! The rendered API payloads: PutDashboard, PutMetricAlarm, CreateTopic, Subscribe and
//! PutRetentionPolicy inputs,
//! field names as in the APIs.

use serde::Serialize;
use serde_json::Value;

use super::definitions::{DimensionDef, MetricQueryDef};

/// Everything an environment needs, as API payloads.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The environment.
    pub env: String,
    /// The region.
    pub region: String,
    /// PutDashboard payloads.
    pub dashboards: Vec<DashboardSpec>,
    /// PutMetricAlarm payloads.
    pub alarms: Vec<AlarmSpec>,
    /// Topics with their policy and subscriptions.
    pub topics: Vec<TopicSpec>,
    /// Log groups whose retention provisioning owns (the sidecar's own).
    pub log_groups: Vec<LogGroupSpec>,
}

/// A log group and its retention: CreateLogGroup (when missing) and PutRetentionPolicy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogGroupSpec {
    /// logGroupName.
    pub log_group_name: String,
    /// retentionInDays.
    pub retention_in_days: i32,
}

/// A PutDashboard payload.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DashboardSpec {
    /// DashboardName.
    pub dashboard_name: String,
    /// DashboardBody, as JSON (the API takes it as a string).
    pub dashboard_body: Value,
}

/// A CloudWatch tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagSpec {
    /// Tag key.
    pub key: String,
    /// Tag value.
    pub value: String,
}

/// A PutMetricAlarm payload, field names as in the API.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AlarmSpec {
    /// AlarmName.
    pub alarm_name: String,
    /// AlarmDescription.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm_description: Option<String>,
    /// ActionsEnabled.
    pub actions_enabled: bool,
    /// OKActions.
    #[serde(rename = "OKActions")]
    pub ok_actions: Vec<String>,
    /// AlarmActions.
    pub alarm_actions: Vec<String>,
    /// InsufficientDataActions.
    pub insufficient_data_actions: Vec<String>,
    /// MetricName (single-metric alarms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric_name: Option<String>,
    /// Namespace (single-metric alarms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Statistic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statistic: Option<String>,
    /// ExtendedStatistic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extended_statistic: Option<String>,
    /// Dimensions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dimensions: Vec<DimensionDef>,
    /// Period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<i32>,
    /// Unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// EvaluationPeriods.
    pub evaluation_periods: i32,
    /// DatapointsToAlarm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datapoints_to_alarm: Option<i32>,
    /// Threshold.
    pub threshold: f64,
    /// ComparisonOperator.
    pub comparison_operator: String,
    /// TreatMissingData.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub treat_missing_data: Option<String>,
    /// EvaluateLowSampleCountPercentile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluate_low_sample_count_percentile: Option<String>,
    /// Metrics (metric-math alarms).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricQueryDef>,
    /// Tags (applied when the alarm is created).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<TagSpec>,
}

/// An SNS topic: CreateTopic, its attributes, and its subscriptions.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TopicSpec {
    /// Topic name.
    pub name: String,
    /// The topic ARN, with [`ACCOUNT_PLACEHOLDER`] until the account is known.
    pub topic_arn: String,
    /// DisplayName attribute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Policy attribute (as JSON; the API takes a string).
    pub policy: Value,
    /// Tags.
    pub tags: Vec<TagSpec>,
    /// Subscriptions.
    pub subscriptions: Vec<SubscriptionSpec>,
}

/// A Subscribe payload (the topic is the enclosing one).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SubscriptionSpec {
    /// Protocol.
    pub protocol: String,
    /// Endpoint.
    pub endpoint: String,
}
