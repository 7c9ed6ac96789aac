//! Loading the definitions: dashboard bodies from `dashboards/*.json`, alarms from
//! `alarms/*.toml` and the topics from `alarms/topics.toml`, each file parsed on its own so
//! that every broken file is reported.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::report::Problem;

/// The file in `alarms/` that holds the SNS topics instead of an alarm.
pub const TOPICS_FILE: &str = "topics.toml";

/// Everything under a definitions root.
#[derive(Debug, Clone, Default)]
pub struct Definitions {
    /// Dashboards, sorted by file name.
    pub dashboards: Vec<DashboardFile>,
    /// Alarms, sorted by file name.
    pub alarms: Vec<AlarmFile>,
    /// The topics file, when it exists and parses.
    pub topics: Option<TopicsFile>,
}

/// One dashboard definition: a native CloudWatch dashboard body with placeholders.
#[derive(Debug, Clone)]
pub struct DashboardFile {
    /// Where it was read from, as given (relative to the working directory or absolute).
    pub path: String,
    /// The file stem; the dashboard is named `aistudio-{env}-{stem}`.
    pub stem: String,
    /// The parsed body.
    pub body: serde_json::Value,
}

/// One alarm definition file.
#[derive(Debug, Clone)]
pub struct AlarmFile {
    /// Where it was read from.
    pub path: String,
    /// The parsed alarm.
    pub alarm: AlarmDef,
}

/// The parsed topics file.
#[derive(Debug, Clone)]
pub struct TopicsFile {
    /// Where it was read from.
    pub path: String,
    /// Its content.
    pub spec: TopicsDef,
}

/// A CloudWatch dimension, as in CloudFormation and PutMetricAlarm.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct DimensionDef {
    /// Dimension name, e.g. `ClusterName`.
    pub name: String,
    /// Dimension value; may hold placeholders such as `${ClusterName}`.
    pub value: String,
}

/// An alarm in `alarms/*.toml`, with PutMetricAlarm property names plus routing and
/// per-environment values.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct AlarmDef {
    /// Alarm name after the `aistudio-{env}-` prefix, e.g. `ecs-cpu-high`.
    pub alarm_name: String,
    /// Severity; the topics file maps it to the topics the alarm notifies.
    pub severity: String,
    /// What the alarm means, shown in notifications.
    pub alarm_description: String,
    /// The first thing to check when it fires; appended to the description.
    #[serde(default)]
    pub runbook: Option<String>,
    /// Extra alarm actions: topic keys from the topics file or full ARNs.
    #[serde(default)]
    pub alarm_actions: Vec<String>,
    /// OK actions besides the severity topics (which are notified on recovery too).
    #[serde(default, rename = "OKActions")]
    pub ok_actions: Vec<String>,
    /// Actions on INSUFFICIENT_DATA: topic keys or full ARNs.
    #[serde(default)]
    pub insufficient_data_actions: Vec<String>,
    /// Whether the severity topics also receive the OK transition (default true).
    #[serde(default = "default_true")]
    pub notify_on_recovery: bool,
    /// Whether actions run (default true).
    #[serde(default)]
    pub actions_enabled: Option<bool>,
    /// Namespace of a single-metric alarm.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Metric name of a single-metric alarm.
    #[serde(default)]
    pub metric_name: Option<String>,
    /// Dimensions of a single-metric alarm.
    #[serde(default)]
    pub dimensions: Vec<DimensionDef>,
    /// Statistic (`Average`, `Sum`, `Minimum`, `Maximum`, `SampleCount`).
    #[serde(default)]
    pub statistic: Option<String>,
    /// Percentile or other extended statistic, e.g. `p95`.
    #[serde(default)]
    pub extended_statistic: Option<String>,
    /// Unit filter of a single-metric alarm.
    #[serde(default)]
    pub unit: Option<String>,
    /// Period in seconds of a single-metric alarm.
    #[serde(default)]
    pub period: Option<i32>,
    /// Metric-math queries; exactly one returns data.
    #[serde(default)]
    pub metrics: Vec<MetricQueryDef>,
    /// Number of periods evaluated.
    pub evaluation_periods: i32,
    /// Breaching periods among them that fire the alarm (default: all of them).
    #[serde(default)]
    pub datapoints_to_alarm: Option<i32>,
    /// Threshold compared with the metric.
    pub threshold: f64,
    /// `GreaterThanThreshold`, `GreaterThanOrEqualToThreshold`, `LessThanThreshold` or
    /// `LessThanOrEqualToThreshold`.
    pub comparison_operator: String,
    /// `breaching`, `notBreaching`, `ignore` or `missing` (CloudWatch's default).
    #[serde(default)]
    pub treat_missing_data: Option<String>,
    /// `evaluate` or `ignore`, for percentile alarms on few samples.
    #[serde(default)]
    pub evaluate_low_sample_count_percentile: Option<String>,
    /// Values that differ per environment (`dev`, `staging`, `prod`).
    #[serde(default)]
    pub environments: BTreeMap<String, AlarmOverride>,
}

fn default_true() -> bool {
    true
}

/// Per-environment values of an alarm; unset fields keep the base value.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct AlarmOverride {
    /// Threshold in this environment.
    #[serde(default)]
    pub threshold: Option<f64>,
    /// Period of a single-metric alarm in this environment.
    #[serde(default)]
    pub period: Option<i32>,
    /// Evaluation periods in this environment.
    #[serde(default)]
    pub evaluation_periods: Option<i32>,
    /// Datapoints to alarm in this environment.
    #[serde(default)]
    pub datapoints_to_alarm: Option<i32>,
    /// Missing-data treatment in this environment.
    #[serde(default)]
    pub treat_missing_data: Option<String>,
    /// Whether actions run in this environment (e.g. silence dev).
    #[serde(default)]
    pub actions_enabled: Option<bool>,
}

/// One metric-math query of an alarm (PutMetricAlarm `Metrics` entry).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct MetricQueryDef {
    /// Query id: starts with a lowercase letter, then letters, digits, `_`.
    pub id: String,
    /// A metric-math expression over other ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// A metric with its statistic and period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_stat: Option<MetricStatDef>,
    /// Label shown in the console.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Whether this query is the alarm's value (exactly one must be; default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_data: Option<bool>,
    /// Period of an expression, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<i32>,
}

/// A metric, statistic and period (PutMetricAlarm `MetricStat`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct MetricStatDef {
    /// The metric.
    pub metric: MetricDef,
    /// Period in seconds.
    pub period: i32,
    /// Statistic or extended statistic, e.g. `Sum` or `p95`.
    pub stat: String,
    /// Unit filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// A metric identity (PutMetricAlarm `Metric`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct MetricDef {
    /// Namespace, e.g. `AWS/ApplicationELB`.
    pub namespace: String,
    /// Metric name.
    pub metric_name: String,
    /// Dimensions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dimensions: Vec<DimensionDef>,
}

/// `alarms/topics.toml`: the SNS topics and which severities notify them.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct TopicsDef {
    /// Severity name → keys of the topics it notifies.
    pub severities: BTreeMap<String, Vec<String>>,
    /// The topics.
    pub topics: Vec<TopicDef>,
    /// Slack per environment (`[Slack.<env>]`): the relay's URL and the Chatbot channel.
    #[serde(default)]
    pub slack: BTreeMap<String, SlackEnvDef>,
}

/// `[Slack.<env>]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct SlackEnvDef {
    /// The HTTPS URL of `aistudio-sidecar relay` in this environment (`${RelayUrl}`).
    #[serde(default)]
    pub relay_url: Option<String>,
    /// Chatbot: the Slack workspace (team) ID, `T…`, shown by the Chatbot console once the
    /// workspace is authorised.
    #[serde(default)]
    pub chatbot_workspace_id: Option<String>,
    /// Chatbot: the Slack channel ID, `C…` (public) or `G…` (private).
    #[serde(default)]
    pub chatbot_channel_id: Option<String>,
    /// Chatbot: topic keys the channel receives; default: the warning severity's topics.
    #[serde(default)]
    pub chatbot_topics: Vec<String>,
}

/// One SNS topic, named `aistudio-{env}-{key}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct TopicDef {
    /// Topic key, e.g. `critical-alerts`.
    pub key: String,
    /// Display name (used as the e-mail sender name); placeholders allowed.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Subscribers.
    #[serde(default)]
    pub subscriptions: Vec<SubscriptionDef>,
}

/// One SNS subscription.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct SubscriptionDef {
    /// `email`, `email-json`, `https`, `sms`, `sqs` or `lambda`.
    pub protocol: String,
    /// Address, URL or ARN.
    pub endpoint: String,
    /// Environments that get this subscriber; empty means all.
    #[serde(default)]
    pub environments: Vec<String>,
}

/// Why the definitions could not be read at all (a single bad file is a [`Problem`] instead).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A definitions directory could not be listed.
    #[error("cannot list {path}: {source}; run from the repository root or pass --dir")]
    ListDir {
        /// The directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Neither `dashboards/` nor `alarms/` exists: almost always the wrong directory, and
    /// "valid" for zero definitions would be a lie.
    #[error("no dashboards/ or alarms/ folder under {root}: run from the repository root or pass --dir DIR (the folder holding them)")]
    NoDefinitions {
        /// The definitions root given.
        root: String,
    },
}

/// Loads every definition under `root` (`root/dashboards`, `root/alarms`). Files that do not
/// parse are returned as problems, the others as definitions.
pub fn load(root: &Path) -> Result<(Definitions, Vec<Problem>), LoadError> {
    if !root.join("dashboards").is_dir() && !root.join("alarms").is_dir() {
        return Err(LoadError::NoDefinitions {
            root: root.display().to_string(),
        });
    }
    let mut defs = Definitions::default();
    let mut problems = Vec::new();
    for path in list(&root.join("dashboards"), "json")? {
        let file = path.display().to_string();
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        match read(&path).and_then(|text| {
            serde_json::from_str::<serde_json::Value>(&text).map_err(|e| e.to_string())
        }) {
            Ok(body) => defs.dashboards.push(DashboardFile {
                path: file,
                stem,
                body,
            }),
            Err(message) => problems.push(Problem::new(&file, "", message)),
        }
    }
    for path in list(&root.join("alarms"), "toml")? {
        let file = path.display().to_string();
        let is_topics = path.file_name().is_some_and(|n| n == TOPICS_FILE);
        let text = match read(&path) {
            Ok(text) => text,
            Err(message) => {
                problems.push(Problem::new(&file, "", message));
                continue;
            }
        };
        if is_topics {
            match toml::from_str::<TopicsDef>(&text) {
                Ok(spec) => defs.topics = Some(TopicsFile { path: file, spec }),
                Err(err) => problems.push(toml_problem(&file, &text, &err)),
            }
        } else {
            match toml::from_str::<AlarmDef>(&text) {
                Ok(alarm) => defs.alarms.push(AlarmFile { path: file, alarm }),
                Err(err) => problems.push(toml_problem(&file, &text, &err)),
            }
        }
    }
    if defs.topics.is_none() && !problems.iter().any(|p| p.file.ends_with(TOPICS_FILE)) {
        problems.push(Problem::new(
            &root.join("alarms").join(TOPICS_FILE).display().to_string(),
            "",
            "the topics file is missing; create it with the SNS topics the alarms notify",
        ));
    }
    Ok((defs, problems))
}

fn toml_problem(file: &str, text: &str, err: &toml::de::Error) -> Problem {
    let message = err.message().trim().to_owned();
    let location = err
        .span()
        .map(|span| {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}")
        })
        .unwrap_or_default();
    Problem::new(file, &location, format!("does not parse: {message}"))
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read the file: {e}"))
}

/// Files in `dir` with extension `ext`, sorted; a missing directory is empty.
fn list(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, LoadError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(LoadError::ListDir {
                path: dir.display().to_string(),
                source,
            })
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    Ok(files)
}
