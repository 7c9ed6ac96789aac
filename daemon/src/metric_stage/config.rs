//! `[metrics]`: how log events become `AIStudio/Streaming` metrics (the rules, with the
//! metric catalog as the default set) and where the datums go.

use aistudio_core::bounds::out_of_range;
use std::collections::BTreeMap;
use std::path::PathBuf;

use aistudio_core::catalog::{MetricSource, APP_NAMESPACE, METRIC_CATALOG};
use serde::{Deserialize, Serialize};

pub use crate::datum::Aggregation;
use crate::datum::{Unit, MAX_DIMENSIONS, MAX_NAME_CHARS};

/// The catalog's namespace.
pub const DEFAULT_NAMESPACE: &str = APP_NAMESPACE;
/// The dimension every datum carries, valued with the config's `environment`.
pub use aistudio_core::catalog::ENVIRONMENT_DIMENSION;
/// Default aggregation period: CloudWatch's standard resolution is one minute.
pub const DEFAULT_PERIOD_SECS: u64 = 60;
/// A period is closed this long after its end (when the log time has moved past it), so
/// lines that arrive slightly late still count in their own period.
pub const DEFAULT_FLUSH_GRACE_MS: u64 = 2_000;
/// Closed datums wait up to this long to share a PutMetricData call with later ones.
pub const DEFAULT_BATCH_DELAY_MS: u64 = 5_000;
/// Distinct dimension sets kept per metric; beyond it, observations are folded into the
/// `Other` set and counted.
pub const DEFAULT_MAX_DIMENSION_SETS: usize = 100;
/// Datums held while CloudWatch is unreachable; beyond it the oldest are dropped and counted.
pub const DEFAULT_MAX_PENDING_DATUMS: usize = 100_000;
/// Dimension value for a rule's dimension field that is missing from the line.
pub const MISSING_DIMENSION_VALUE: &str = "unknown";
/// Dimension value of the folded set once a metric has too many dimension sets.
pub const OVERFLOW_DIMENSION_VALUE: &str = "Other";
/// Rotate the local datum file at this size.
pub const DEFAULT_FILE_MAX_BYTES: u64 = 100 * 1024 * 1024;
/// Allowed `flush_grace_ms`: up to an hour for logs that arrive late (CloudWatch takes datums
/// up to two weeks old, but past an hour every alarm reading the period has evaluated it).
pub const FLUSH_GRACE_MS_RANGE: std::ops::RangeInclusive<u64> = 0..=3_600_000;
/// Allowed `batch_delay_ms`: past a minute a closed datum misses the evaluation of the
/// one-minute alarms that read it.
pub const BATCH_DELAY_MS_RANGE: std::ops::RangeInclusive<u64> = 0..=60_000;
/// Allowed `max_dimension_sets_per_metric`: each set is one custom metric billed monthly;
/// 10,000 per metric is already a cardinality accident.
pub const MAX_DIMENSION_SETS_RANGE: std::ops::RangeInclusive<usize> = 1..=10_000;
/// Allowed `max_pending_datums`: about 200 bytes each, so the top is ~200 MB held during an
/// outage.
pub const MAX_PENDING_DATUMS_RANGE: std::ops::RangeInclusive<usize> = 1..=1_000_000;
/// Allowed `file_max_bytes`: at least one datum line, at most 10 GiB.
pub const FILE_MAX_BYTES_RANGE: std::ops::RangeInclusive<u64> = 4_096..=10 * 1024 * 1024 * 1024;

/// Fields whose values are unique per user, request or job (or carry free text): naming one
/// as a dimension would create a CloudWatch metric per value (each billed) and publish an
/// identifier, so a rule that does is a config error. Compared ignoring case, `_` and `-`.
pub const HIGH_CARDINALITY_FIELDS: [&str; 10] = [
    "userid",
    "requestid",
    "jobid",
    "sessionid",
    "traceid",
    "spanid",
    "email",
    "timestamp",
    "message",
    "stack",
];

/// Where datums go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricsMode {
    /// `put_metric_data` when AWS settings are present, else `file`.
    #[default]
    Auto,
    /// PutMetricData calls to CloudWatch.
    PutMetricData,
    /// Embedded Metric Format lines written through the log sinks.
    Emf,
    /// NDJSON datums in a local file.
    File,
    /// No datums (Prometheus still serves the metrics when enabled).
    Off,
}

/// `[metrics]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Where datums go: `auto`, `put_metric_data`, `emf`, `file` or `off`.
    #[serde(default)]
    pub mode: MetricsMode,
    /// CloudWatch namespace of every metric.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Aggregation period in seconds for standard-resolution rules (a divisor of 60).
    #[serde(default = "default_period_secs")]
    pub period_secs: u64,
    /// Milliseconds after a period's end before it is closed and published.
    #[serde(default = "default_flush_grace_ms")]
    pub flush_grace_ms: u64,
    /// Milliseconds closed datums may wait to fill a PutMetricData call.
    #[serde(default = "default_batch_delay_ms")]
    pub batch_delay_ms: u64,
    /// Distinct dimension sets per metric before new ones are folded into `Other`.
    #[serde(default = "default_max_dimension_sets")]
    pub max_dimension_sets_per_metric: usize,
    /// Datums held while the destination is unreachable.
    #[serde(default = "default_max_pending_datums")]
    pub max_pending_datums: usize,
    /// Serve the application metrics on the API's `/metrics` too.
    #[serde(default = "default_true")]
    pub prometheus: bool,
    /// Ship the metric catalog rules; `rules` are added to them.
    #[serde(default = "default_true")]
    pub default_rules: bool,
    /// Extra rules (or all of them with `default_rules = false`).
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    /// File of the `file` mode; default `<data_dir>/metrics.ndjson`.
    #[serde(default)]
    pub file_path: Option<PathBuf>,
    /// Rotate the datum file at this many bytes (one previous file is kept as `.1`).
    #[serde(default = "default_file_max_bytes")]
    pub file_max_bytes: u64,
    /// Publish the sidecar's own losses (`SidecarEventsDropped`, `SidecarEventsRejected`) once
    /// per period, for the `sidecar-events-lost` alarm.
    #[serde(default = "default_true")]
    pub sidecar_health: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            mode: MetricsMode::Auto,
            namespace: default_namespace(),
            period_secs: DEFAULT_PERIOD_SECS,
            flush_grace_ms: DEFAULT_FLUSH_GRACE_MS,
            batch_delay_ms: DEFAULT_BATCH_DELAY_MS,
            max_dimension_sets_per_metric: DEFAULT_MAX_DIMENSION_SETS,
            max_pending_datums: DEFAULT_MAX_PENDING_DATUMS,
            prometheus: true,
            default_rules: true,
            rules: Vec::new(),
            file_path: None,
            file_max_bytes: DEFAULT_FILE_MAX_BYTES,
            sidecar_health: true,
        }
    }
}

fn default_namespace() -> String {
    DEFAULT_NAMESPACE.to_owned()
}
fn default_period_secs() -> u64 {
    DEFAULT_PERIOD_SECS
}
fn default_flush_grace_ms() -> u64 {
    DEFAULT_FLUSH_GRACE_MS
}
fn default_batch_delay_ms() -> u64 {
    DEFAULT_BATCH_DELAY_MS
}
fn default_max_dimension_sets() -> usize {
    DEFAULT_MAX_DIMENSION_SETS
}
fn default_max_pending_datums() -> usize {
    DEFAULT_MAX_PENDING_DATUMS
}
fn default_file_max_bytes() -> u64 {
    DEFAULT_FILE_MAX_BYTES
}
fn default_true() -> bool {
    true
}

/// One extraction rule, like a CloudWatch metric filter evaluated in the sidecar.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// CloudWatch metric name.
    pub metric: String,
    /// CloudWatch unit (`Count`, `Milliseconds`, `Seconds`, `Bytes`, `None`, …).
    #[serde(default = "default_unit")]
    pub unit: Unit,
    /// Top-level fields the line must have, all of them: a string (equal), a list of
    /// strings (any of) or a `{ min, max }` numeric range (inclusive; either may be omitted).
    #[serde(rename = "match")]
    pub matches: BTreeMap<String, FieldMatch>,
    /// Field holding the value (a number, or a string that parses as one); without it each
    /// matching line counts 1.
    #[serde(default)]
    pub value: Option<String>,
    /// Extra dimensions: dimension name → field holding its value (`Environment` is always added).
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
    /// `sum` or `distribution`; default `distribution` for time units, `sum` otherwise.
    #[serde(default)]
    pub aggregation: Option<Aggregation>,
    /// Publish at 1-second periods with CloudWatch high-resolution storage.
    #[serde(default)]
    pub high_resolution: bool,
}

fn default_unit() -> Unit {
    Unit::Count
}

/// What a field must look like for a rule to match.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum FieldMatch {
    /// Equal to this text (numbers and booleans compare by their JSON text).
    Equals(String),
    /// Equal to one of these.
    AnyOf(Vec<String>),
    /// A number within the range.
    Range(RangeMatch),
}

/// `{ min = 500, max = 599 }`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RangeMatch {
    /// Smallest accepted value (inclusive).
    #[serde(default)]
    pub min: Option<f64>,
    /// Largest accepted value (inclusive).
    #[serde(default)]
    pub max: Option<f64>,
}

impl RuleConfig {
    /// The aggregation in effect.
    pub fn aggregation(&self) -> Aggregation {
        self.aggregation.unwrap_or(if self.unit.is_time() {
            Aggregation::Distribution
        } else {
            Aggregation::Sum
        })
    }
}

impl MetricsConfig {
    /// The rules in effect: the catalog (unless turned off) followed by the configured ones.
    pub fn effective_rules(&self) -> Vec<RuleConfig> {
        let mut rules = if self.default_rules {
            default_rules()
        } else {
            Vec::new()
        };
        rules.extend(self.rules.iter().cloned());
        rules
    }

    /// Problems with the values, each a sentence naming the setting.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.namespace.is_empty()
            || self.namespace.chars().count() > MAX_NAME_CHARS
            || self.namespace.starts_with("AWS/")
            || !self
                .namespace
                .chars()
                .all(|c| c.is_ascii_graphic() || c == ' ')
        {
            problems.push(format!(
                "metrics.namespace `{}` must be 1-{MAX_NAME_CHARS} printable ASCII characters and not start with `AWS/`",
                self.namespace
            ));
        }
        if self.period_secs == 0 || 60 % self.period_secs != 0 {
            problems.push(format!(
                "metrics.period_secs = {} must divide 60 (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 or 60)",
                self.period_secs
            ));
        }
        problems.extend(out_of_range(
            "metrics.flush_grace_ms",
            self.flush_grace_ms,
            &FLUSH_GRACE_MS_RANGE,
        ));
        problems.extend(out_of_range(
            "metrics.batch_delay_ms",
            self.batch_delay_ms,
            &BATCH_DELAY_MS_RANGE,
        ));
        problems.extend(out_of_range(
            "metrics.max_dimension_sets_per_metric",
            self.max_dimension_sets_per_metric,
            &MAX_DIMENSION_SETS_RANGE,
        ));
        problems.extend(out_of_range(
            "metrics.max_pending_datums",
            self.max_pending_datums,
            &MAX_PENDING_DATUMS_RANGE,
        ));
        problems.extend(out_of_range(
            "metrics.file_max_bytes",
            self.file_max_bytes,
            &FILE_MAX_BYTES_RANGE,
        ));
        let rules = self.effective_rules();
        if rules.is_empty() && self.mode != MetricsMode::Off {
            problems.push(
                "metrics has no rules: keep default_rules = true or add [[metrics.rules]]".into(),
            );
        }
        let mut seen: BTreeMap<&str, (Unit, Aggregation)> = BTreeMap::new();
        for (index, rule) in rules.iter().enumerate() {
            let at = format!("metrics rule {index} (`{}`)", rule.metric);
            problems.extend(rule_problems(rule, &at));
            if let Some((unit, aggregation)) = seen.get(rule.metric.as_str()) {
                if *unit != rule.unit || *aggregation != rule.aggregation() {
                    problems.push(format!(
                        "{at}: another rule publishes `{}` with a different unit or aggregation; use one of each per metric",
                        rule.metric
                    ));
                }
            } else {
                seen.insert(&rule.metric, (rule.unit, rule.aggregation()));
            }
        }
        problems
    }
}

/// `true` when `field` names a value unique per user/request/job (see
/// [`HIGH_CARDINALITY_FIELDS`]).
pub fn is_high_cardinality_field(field: &str) -> bool {
    let folded: String = field
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    HIGH_CARDINALITY_FIELDS.contains(&folded.as_str())
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && !name.starts_with(':')
        && name.chars().all(|c| c.is_ascii_graphic() || c == ' ')
}

fn rule_problems(rule: &RuleConfig, at: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if !valid_name(&rule.metric) {
        problems.push(format!(
            "{at}: metric must be 1-{MAX_NAME_CHARS} printable ASCII characters, not starting with ':'"
        ));
    }
    if rule.matches.is_empty() {
        problems.push(format!(
            "{at}: `match` is empty; name at least one field (e.g. match = {{ event = \"job.created\" }})"
        ));
    }
    for (field, matcher) in &rule.matches {
        match matcher {
            FieldMatch::AnyOf(list) if list.is_empty() => problems.push(format!(
                "{at}: match.{field} is an empty list; give at least one value"
            )),
            FieldMatch::Range(RangeMatch { min, max }) => {
                let bad = [min, max].iter().any(|v| v.is_some_and(|v| !v.is_finite()));
                if bad
                    || min.zip(*max).is_some_and(|(lo, hi)| lo > hi)
                    || (min.is_none() && max.is_none())
                {
                    problems.push(format!(
                        "{at}: match.{field} range needs finite min and/or max with min <= max"
                    ));
                }
            }
            _ => {}
        }
    }
    if rule.aggregation() == Aggregation::Distribution && rule.value.is_none() {
        problems.push(format!(
            "{at}: a distribution needs `value` (the field with the number); counts use aggregation = \"sum\""
        ));
    }
    if let Some(field) = &rule.value {
        if field.is_empty() {
            problems.push(format!("{at}: `value` is an empty field name"));
        }
    }
    // Environment is always added, so a rule may name at most MAX_DIMENSIONS - 1 of its own.
    if rule.dimensions.len() > MAX_DIMENSIONS - 1 {
        problems.push(format!(
            "{at}: {} dimensions; CloudWatch allows {MAX_DIMENSIONS} per metric, Environment included",
            rule.dimensions.len()
        ));
    }
    for (name, field) in &rule.dimensions {
        if name == ENVIRONMENT_DIMENSION {
            problems.push(format!(
                "{at}: dimension `{ENVIRONMENT_DIMENSION}` is added to every metric; remove it from the rule"
            ));
        } else if !valid_name(name) {
            problems.push(format!(
                "{at}: dimension name `{name}` must be 1-{MAX_NAME_CHARS} printable ASCII characters, not starting with ':'"
            ));
        }
        if is_high_cardinality_field(field) {
            problems.push(format!(
                "{at}: dimension `{name}` takes field `{field}`, whose values are unique per user, request or job; that would create a metric per value and publish identifiers; use a low-cardinality field such as provider or endpoint"
            ));
        }
        if field.is_empty() {
            problems.push(format!("{at}: dimension `{name}` names an empty field"));
        }
    }
    problems
}

/// The metric catalog (`aistudio_core::catalog`) as rules over the log contract's events;
/// the sidecar's own metrics are published by the health datums, not by rules.
pub fn default_rules() -> Vec<RuleConfig> {
    METRIC_CATALOG
        .iter()
        .filter_map(|metric| {
            let MetricSource::LogEvent {
                event,
                value,
                status,
            } = metric.source
            else {
                return None;
            };
            let mut matches =
                BTreeMap::from([("event".to_owned(), FieldMatch::Equals(event.to_owned()))]);
            if let Some((min, max)) = status {
                matches.insert(
                    "status".to_owned(),
                    FieldMatch::Range(RangeMatch {
                        min: Some(min),
                        max: Some(max),
                    }),
                );
            }
            Some(RuleConfig {
                metric: metric.name.to_owned(),
                unit: Unit::from_name(metric.unit)?,
                matches,
                value: value.map(str::to_owned),
                dimensions: metric
                    .extra_dimensions
                    .iter()
                    .map(|(name, field)| ((*name).to_owned(), (*field).to_owned()))
                    .collect(),
                aggregation: None,
                high_resolution: false,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<MetricsConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn the_catalog_is_valid_and_complete() {
        let config = MetricsConfig::default();
        assert_eq!(config.problems(), Vec::<String>::new());
        let names: Vec<String> = default_rules().into_iter().map(|r| r.metric).collect();
        for expected in [
            "JobsCreated",
            "JobsCompleted",
            "JobsFailed",
            "JobsCancelled",
            "ProcessingLatencyMs",
            "TimeToFirstTokenMs",
            "ProviderLatencyMs",
            "TokensStreamed",
            "RequestCount",
            "ErrorCount",
            "ResponseTimeMs",
            "RateLimitedRequests",
            "DatabaseQueryTimeMs",
        ] {
            assert!(names.iter().any(|n| n == expected), "{expected} missing");
        }
        let latency = default_rules()
            .into_iter()
            .find(|r| r.metric == "ProviderLatencyMs")
            .expect("rule");
        assert_eq!(latency.aggregation(), Aggregation::Distribution);
        assert_eq!(latency.dimensions.len(), 2);
    }

    #[test]
    fn rules_parse_from_toml_with_all_match_forms() {
        let config = parse(
            r#"
            mode = "emf"
            default_rules = false
            [[rules]]
            metric = "SlowErrors"
            unit = "Milliseconds"
            match = { level = ["warn", "error"], status = { min = 500 }, event = "http.request" }
            value = "duration"
            dimensions = { Endpoint = "endpoint" }
            high_resolution = true
            "#,
        )
        .expect("parses");
        assert_eq!(config.mode, MetricsMode::Emf);
        assert_eq!(config.problems(), Vec::<String>::new());
        let rule = &config.rules[0];
        assert_eq!(
            rule.matches["status"],
            FieldMatch::Range(RangeMatch {
                min: Some(500.0),
                max: None
            })
        );
        assert_eq!(
            rule.matches["level"],
            FieldMatch::AnyOf(vec!["warn".into(), "error".into()])
        );
        assert!(rule.high_resolution);
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let err = parse("[[rules]]\nmetric = \"X\"\nmatch = { event = \"a\" }\ndimension = {}\n")
            .expect_err("typo");
        assert!(err.contains("dimension"), "{err}");
    }

    #[test]
    fn high_cardinality_dimensions_are_config_errors() {
        for field in ["userId", "requestId", "jobId", "user_id", "REQUEST-ID"] {
            let config = parse(&format!(
                "[[rules]]\nmetric = \"PerUser\"\nmatch = {{ event = \"job.created\" }}\ndimensions = {{ User = \"{field}\" }}\n"
            ))
            .expect("parses");
            let problems = config.problems();
            assert_eq!(problems.len(), 1, "{field}: {problems:?}");
            assert!(problems[0].contains(field), "{problems:?}");
            assert!(problems[0].contains("unique per user"), "{problems:?}");
        }
        assert!(!is_high_cardinality_field("provider"));
    }

    #[test]
    fn bad_values_are_reported_each_with_its_setting() {
        let mut config = parse(
            r#"
            namespace = "AWS/EC2"
            period_secs = 45
            [[rules]]
            metric = "Latency"
            unit = "Milliseconds"
            match = { status = { min = 600, max = 500 } }
            dimensions = { Environment = "env" }
            [[rules]]
            metric = "Latency"
            unit = "Count"
            match = {}
            "#,
        )
        .expect("parses");
        config.default_rules = false;
        let problems = config.problems().join("\n");
        for needle in [
            "metrics.namespace",
            "period_secs = 45",
            "min <= max",
            "needs `value`",
            "added to every metric",
            "different unit",
            "`match` is empty",
        ] {
            assert!(problems.contains(needle), "{needle} not in:\n{problems}");
        }
    }

    #[test]
    fn too_many_dimensions_are_refused() {
        let mut rule = default_rules().remove(0);
        rule.dimensions = (0..MAX_DIMENSIONS)
            .map(|i| (format!("D{i}"), format!("f{i}")))
            .collect();
        let problems = rule_problems(&rule, "r");
        assert!(
            problems.iter().any(|p| p.contains("30 per metric")),
            "{problems:?}"
        );
        rule.dimensions.remove("D0");
        assert!(rule_problems(&rule, "r").is_empty());
    }
}
