//! `[sinks.cloudwatch_logs]`: where and how log events go to CloudWatch Logs.

use aistudio_core::bounds::out_of_range;
use serde::{Deserialize, Serialize};

pub use aistudio_core::limits::{DEFAULT_RETENTION_DAYS, VALID_RETENTION_DAYS};
/// A partly filled batch is sent after this long.
pub const DEFAULT_BATCH_TIMEOUT_MS: u64 = 1000;
/// Requests in flight per stream. One keeps lines with equal timestamps in order; CloudWatch
/// accepts parallel calls to one stream since sequence tokens were dropped (2023).
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1;
/// Allowed `batch_timeout_ms`: 0 would send one event per call; past a minute, lines reach
/// CloudWatch later than the one-minute alarms that read them.
pub const BATCH_TIMEOUT_MS_RANGE: std::ops::RangeInclusive<u64> = 1..=60_000;
/// Allowed `max_in_flight`: each request holds up to a 1 MiB batch in memory, and beyond 16
/// one stream's calls are throttled (PutLogEvents: 5,000 TPS per account and region, shared
/// by every task).
pub const MAX_IN_FLIGHT_RANGE: std::ops::RangeInclusive<usize> = 1..=16;

/// `[sinks.cloudwatch_logs]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CloudWatchLogsSinkConfig {
    /// Log group; default `/aws/ecs/aistudio-{environment}-frontend` (the seeds' name).
    #[serde(default)]
    pub log_group: Option<String>,
    /// Log stream; default the ECS task ID (from `ECS_CONTAINER_METADATA_URI_V4`), else the
    /// hostname.
    #[serde(default)]
    pub log_stream: Option<String>,
    /// Retention set when the sidecar creates the group (never changed on an existing group).
    #[serde(default = "default_retention_days")]
    pub retention_days: i32,
    /// Create the group when it is missing; off for roles without logs:CreateLogGroup.
    #[serde(default = "default_true")]
    pub create_log_group: bool,
    /// Milliseconds a partly filled batch waits before it is sent.
    #[serde(default = "default_batch_timeout_ms")]
    pub batch_timeout_ms: u64,
    /// PutLogEvents requests in flight at once.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
}

impl Default for CloudWatchLogsSinkConfig {
    fn default() -> Self {
        Self {
            log_group: None,
            log_stream: None,
            retention_days: DEFAULT_RETENTION_DAYS,
            create_log_group: true,
            batch_timeout_ms: DEFAULT_BATCH_TIMEOUT_MS,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        }
    }
}

fn default_retention_days() -> i32 {
    DEFAULT_RETENTION_DAYS
}
fn default_true() -> bool {
    true
}
fn default_batch_timeout_ms() -> u64 {
    DEFAULT_BATCH_TIMEOUT_MS
}
fn default_max_in_flight() -> usize {
    DEFAULT_MAX_IN_FLIGHT
}

impl CloudWatchLogsSinkConfig {
    /// The group name for `environment`.
    pub fn log_group_for(&self, environment: &str) -> String {
        self.log_group
            .clone()
            .unwrap_or_else(|| aistudio_core::catalog::default_log_group(environment))
    }

    /// Problems with the values, each a sentence.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !VALID_RETENTION_DAYS.contains(&self.retention_days) {
            problems.push(format!(
                "sinks.cloudwatch_logs.retention_days: {} is not a value CloudWatch accepts ({:?})",
                self.retention_days, VALID_RETENTION_DAYS
            ));
        }
        problems.extend(out_of_range(
            "sinks.cloudwatch_logs.batch_timeout_ms",
            self.batch_timeout_ms,
            &BATCH_TIMEOUT_MS_RANGE,
        ));
        problems.extend(out_of_range(
            "sinks.cloudwatch_logs.max_in_flight",
            self.max_in_flight,
            &MAX_IN_FLIGHT_RANGE,
        ));
        if let Some(stream) = &self.log_stream {
            if stream.is_empty() || stream.len() > 512 || stream.contains([':', '*']) {
                problems.push(format!(
                    "sinks.cloudwatch_logs.log_stream: `{stream}` must be 1-512 characters without ':' or '*'"
                ));
            }
        }
        if let Some(group) = &self.log_group {
            let valid = !group.is_empty()
                && group.len() <= 512
                && group
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-/.#".contains(c));
            if !valid {
                problems.push(format!(
                    "sinks.cloudwatch_logs.log_group: `{group}` must be 1-512 characters of a-z, A-Z, 0-9, '_', '-', '/', '.', '#'"
                ));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_seeds() {
        let config = CloudWatchLogsSinkConfig::default();
        assert_eq!(
            config.log_group_for("prod"),
            "/aws/ecs/aistudio-prod-frontend"
        );
        assert_eq!(config.retention_days, 30);
        assert!(config.problems().is_empty());
    }

    #[test]
    fn retention_outside_the_accepted_set_is_a_problem() {
        let config = CloudWatchLogsSinkConfig {
            retention_days: 31,
            ..Default::default()
        };
        let problems = config.problems();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("31"), "{problems:?}");
    }
}
