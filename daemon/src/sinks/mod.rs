//! Sinks: where redacted events go (CloudWatch Logs, a local file, stdout).

pub mod cloudwatch_logs;
pub mod cloudwatch_metrics;
pub mod emf;
pub mod file;
pub mod metrics_file;

use serde::{Deserialize, Serialize};

/// `[sinks]`: with none configured, the sidecar picks CloudWatch Logs when AWS settings are
/// present and the local file otherwise.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SinksConfig {
    /// Ship to CloudWatch Logs.
    #[serde(default)]
    pub cloudwatch_logs: Option<cloudwatch_logs::CloudWatchLogsSinkConfig>,
    /// Append NDJSON to a local file.
    #[serde(default)]
    pub file: Option<file::FileSinkConfig>,
    /// Write NDJSON to stdout.
    #[serde(default)]
    pub stdout: Option<StdoutSinkConfig>,
}

/// `[sinks.stdout]` (no settings; its presence turns it on).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutSinkConfig {}
