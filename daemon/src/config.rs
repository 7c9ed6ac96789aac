//! The sidecar's TOML config: serde structs with named defaults, parsed once into a validated value.

mod problems;

use aistudio_core::bounds::out_of_range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::api::ApiConfig;
use crate::buffer::{WhenFull, DEFAULT_MAX_DISK_BYTES};
use crate::redact::RedactConfig;
use crate::sinks::cloudwatch_logs::CloudWatchLogsSinkConfig;
use crate::sinks::file::{FileSinkConfig, LocalTarget};
use crate::sinks::file::{DEFAULT_MAX_FILES, DEFAULT_MAX_FILE_BYTES};
use crate::sinks::SinksConfig;
use crate::sources::file::FileSourceConfig;
use crate::sources::fluent::FluentSourceConfig;
use crate::sources::otlp::OtlpSourceConfig;
use crate::sources::tcp::TcpSourceConfig;
use crate::sources::DEFAULT_MAX_LINE_BYTES;

/// Where checkpoints and the local default outputs go unless configured.
pub const DEFAULT_DATA_DIR: &str = "aistudio-sidecar-data";
/// Default memory for queued events (the 64 MB).
pub const DEFAULT_MAX_MEMORY_BYTES: u64 = 64 * 1024 * 1024;
/// Default drain deadline after SIGTERM: below ECS's default 30 s stopTimeout, leaving the
/// task time to exit before SIGKILL.
pub const DEFAULT_SHUTDOWN_DEADLINE_SECS: u64 = 20;
/// Allowed `shutdown_deadline_secs`: at least a second to drain; at most ECS's largest
/// stopTimeout (120 s), past which the task is killed anyway.
pub const SHUTDOWN_DEADLINE_SECS_RANGE: std::ops::RangeInclusive<u64> = 1..=120;
pub use aistudio_core::aws::AwsConfig;
use aistudio_core::catalog::AWS_SETTING_VARS;
pub use aistudio_core::catalog::{DEFAULT_ENVIRONMENT, KNOWN_ENVIRONMENTS};

/// Everything the sidecar reads from its config file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SidecarConfig {
    /// Deployment environment (`dev`, `staging`, `prod`); overridden by `AISTUDIO_ENV`.
    #[serde(default = "default_environment")]
    pub environment: String,
    /// How to reach AWS; empty means the embedded local default (no AWS calls).
    #[serde(default)]
    pub aws: AwsConfig,
    /// The redaction stage.
    #[serde(default)]
    pub redact: RedactConfig,
    /// Directory for checkpoints and the local default outputs.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Where lines come from; stdin when none is configured.
    #[serde(default)]
    pub sources: SourcesConfig,
    /// Where events go; with none configured, CloudWatch Logs when AWS settings are present,
    /// else `<data_dir>/logs.ndjson`.
    #[serde(default)]
    pub sinks: SinksConfig,
    /// Memory bounds.
    #[serde(default)]
    pub buffer: BufferConfig,
    /// The loopback health and metrics API.
    #[serde(default)]
    pub api: ApiConfig,
    /// The `AIStudio/Streaming` metrics derived from the logs (`[metrics]`).
    #[serde(default)]
    pub metrics: crate::metric_stage::MetricsConfig,
    /// Seconds allowed to drain after SIGTERM before unsent events are failed back.
    #[serde(default = "default_shutdown_deadline_secs")]
    pub shutdown_deadline_secs: u64,
    /// Set from the environment at load: AWS settings were found.
    #[serde(skip)]
    pub aws_detected: bool,
}

/// `[sources]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourcesConfig {
    /// Read stdin (the default when no other source is configured).
    #[serde(default)]
    pub stdin: Option<StdinSourceConfig>,
    /// Tail files.
    #[serde(default)]
    pub file: Vec<FileSourceConfig>,
    /// Listen for lines on a TCP port.
    #[serde(default)]
    pub tcp: Option<TcpSourceConfig>,
    /// Listen for Fluent forward messages (FireLens) on a unix socket and/or loopback TCP.
    #[serde(default)]
    pub fluent: Option<FluentSourceConfig>,
    /// Accept OTLP/HTTP logs (`POST /v1/logs`) on a loopback port.
    #[serde(default)]
    pub otlp: Option<OtlpSourceConfig>,
    /// Lines longer than this are cut into several events as they are read.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
}

impl Default for SourcesConfig {
    fn default() -> Self {
        Self {
            stdin: None,
            file: Vec::new(),
            tcp: None,
            fluent: None,
            otlp: None,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
        }
    }
}

impl SourcesConfig {
    /// Stdin is read when configured, or when nothing else is.
    pub fn stdin_enabled(&self) -> bool {
        self.stdin.is_some()
            || (self.file.is_empty()
                && self.tcp.is_none()
                && self.fluent.is_none()
                && self.otlp.is_none())
    }
}

/// `[sources.stdin]` (no settings; its presence turns it on).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StdinSourceConfig {}

/// `[buffer]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BufferConfig {
    /// Bytes of queued lines and events held in memory; beyond it, events spill to disk.
    #[serde(default = "default_max_memory_bytes")]
    pub max_memory_bytes: u64,
    /// Bytes of spilled events kept on disk per sink; beyond it, `when_full` applies.
    #[serde(default = "default_max_disk_bytes")]
    pub max_disk_bytes: u64,
    /// `block` (sources wait; nothing lost) or `drop` (counted, logged, alarmed on).
    #[serde(default)]
    pub when_full: WhenFull,
    /// Directory of the disk buffers; default `<data_dir>/buffer`.
    #[serde(default)]
    pub dir: Option<PathBuf>,
}

impl Default for BufferConfig {
    fn default() -> Self {
        Self {
            max_memory_bytes: DEFAULT_MAX_MEMORY_BYTES,
            max_disk_bytes: default_max_disk_bytes(),
            when_full: WhenFull::default(),
            dir: None,
        }
    }
}

fn default_max_disk_bytes() -> u64 {
    DEFAULT_MAX_DISK_BYTES
}

/// One sink the pipeline runs.
#[derive(Debug, Clone)]
pub enum SinkChoice {
    /// CloudWatch Logs.
    CloudWatchLogs(CloudWatchLogsSinkConfig),
    /// A local file or stdout.
    Local(LocalTarget),
}

impl SinkChoice {
    /// A stable name, used for the sink's disk buffer directory.
    pub fn name(&self) -> &'static str {
        match self {
            Self::CloudWatchLogs(_) => "cloudwatch_logs",
            Self::Local(LocalTarget::File(_)) => "file",
            Self::Local(LocalTarget::Stdout) => "stdout",
        }
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from(DEFAULT_DATA_DIR)
}
fn default_max_line_bytes() -> usize {
    DEFAULT_MAX_LINE_BYTES
}
fn default_max_memory_bytes() -> u64 {
    DEFAULT_MAX_MEMORY_BYTES
}
fn default_shutdown_deadline_secs() -> u64 {
    DEFAULT_SHUTDOWN_DEADLINE_SECS
}

fn default_environment() -> String {
    DEFAULT_ENVIRONMENT.to_owned()
}

impl Default for SidecarConfig {
    fn default() -> Self {
        Self {
            environment: default_environment(),
            aws: AwsConfig::default(),
            redact: RedactConfig::default(),
            data_dir: default_data_dir(),
            sources: SourcesConfig::default(),
            sinks: SinksConfig::default(),
            buffer: BufferConfig::default(),
            api: ApiConfig::default(),
            metrics: crate::metric_stage::MetricsConfig::default(),
            shutdown_deadline_secs: default_shutdown_deadline_secs(),
            aws_detected: false,
        }
    }
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {io}; check the path and its permissions")]
    Read {
        /// The file.
        path: String,
        /// The I/O error (in the message, not a `source`, so that it is said once).
        io: std::io::Error,
    },
    /// The file is not valid TOML; its first syntax error.
    #[error("config file {path} is invalid: {message}")]
    Parse {
        /// The file.
        path: String,
        /// `file:line:column: what the TOML parser said`.
        message: String,
    },
    /// The file parsed as TOML but has problems; one entry per problem, each naming its key.
    #[error("config {path} is invalid ({} problem{}):\n  - {}", problems.len(), if problems.len() == 1 { "" } else { "s" }, problems.join("\n  - "))]
    Invalid {
        /// The file, or `(defaults)`.
        path: String,
        /// Every problem found, `file:line:column: key: what is wrong; what to do`.
        problems: Vec<String>,
    },
}

/// The environment variables [`SidecarConfig::apply_env`] reads, with the key each overrides:
/// a problem with such a key is the variable's, not the file's.
const ENV_OVERRIDES: [(&str, &str); 4] = [
    ("AISTUDIO_ENV", "environment"),
    ("AWS_REGION", "aws.region"),
    ("AWS_ENDPOINT_URL", "aws.endpoint_url"),
    ("AISTUDIO_LOG_GROUP", "sinks.cloudwatch_logs.log_group"),
];

impl SidecarConfig {
    /// Loads the config from `path` (or the embedded default), applies env overrides, validates.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let lookup = |name: &str| std::env::var(name).ok();
        let Some(path) = path else {
            let mut config = Self::default();
            config.apply_env(lookup);
            config.validate()?;
            return Ok(config);
        };
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|io| ConfigError::Read {
            path: origin.clone(),
            io,
        })?;
        Self::from_file_text(&text, &origin, lookup)
    }

    /// Parses a config file's text, applies the environment (`lookup`) and validates, reporting
    /// every problem at once, TOML syntax aside: unknown keys, wrong types and bad values, each
    /// as `origin:line:column: key: what is wrong; what to do`.
    pub fn from_file_text(
        text: &str,
        origin: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let doc = problems::SourceDoc::parse(text).map_err(|problem| ConfigError::Parse {
            path: origin.to_owned(),
            message: problem.located(origin),
        })?;
        let mut parsed = doc.deserialize_all::<Self>();
        let mut found = std::mem::take(&mut parsed.problems);
        let config = parsed.value.take().map(|mut config| {
            config.apply_env(&lookup);
            if let Err(ConfigError::Invalid { problems, .. }) = config.validate() {
                found.extend(problems.into_iter().map(|text| {
                    let text = parsed.original_text(&text);
                    let key = problems::leading_key(&text);
                    match ENV_OVERRIDES.iter().find(|(var, overridden)| {
                        *overridden == key && lookup(var).is_some_and(|v| !v.is_empty())
                    }) {
                        Some((var, _)) => problems::Problem {
                            at: None,
                            text: format!("{text} (the value comes from {var})"),
                        },
                        None => problems::Problem {
                            at: doc.locate(key),
                            text,
                        },
                    }
                }));
            }
            config
        });
        match config {
            Some(config) if found.is_empty() => Ok(config),
            _ => {
                // In file order; what the file does not hold (defaults, environment) last.
                found.sort_by_key(|p| p.at.map_or((usize::MAX, 0), |at| (at.line, at.column)));
                Err(ConfigError::Invalid {
                    path: origin.to_owned(),
                    problems: found.iter().map(|p| p.located(origin)).collect(),
                })
            }
        }
    }

    /// Parses TOML text; the error message carries the location.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|err| err.to_string())
    }

    /// Applies the environment variables ECS sets; `lookup` is `std::env::var` outside tests.
    pub fn apply_env(&mut self, lookup: impl Fn(&str) -> Option<String>) {
        if let Some(env) = lookup("AISTUDIO_ENV").filter(|v| !v.is_empty()) {
            self.environment = env;
        }
        if let Some(region) = lookup("AWS_REGION").filter(|v| !v.is_empty()) {
            self.aws.region = Some(region);
        }
        if let Some(endpoint) = lookup("AWS_ENDPOINT_URL").filter(|v| !v.is_empty()) {
            self.aws.endpoint_url = Some(endpoint);
        }
        if let Some(group) = lookup("AISTUDIO_LOG_GROUP").filter(|v| !v.is_empty()) {
            self.sinks
                .cloudwatch_logs
                .get_or_insert_with(CloudWatchLogsSinkConfig::default)
                .log_group = Some(group);
        }
        self.aws_detected = self.aws.endpoint_url.is_some()
            || AWS_SETTING_VARS
                .iter()
                .any(|name| lookup(name).is_some_and(|v| !v.is_empty()));
    }

    /// The sinks to run: the configured ones, else the embedded default.
    pub fn sink_choices(&self) -> Vec<SinkChoice> {
        let mut choices = Vec::new();
        if let Some(cw) = &self.sinks.cloudwatch_logs {
            choices.push(SinkChoice::CloudWatchLogs(cw.clone()));
        }
        if let Some(file) = &self.sinks.file {
            choices.push(SinkChoice::Local(LocalTarget::File(file.clone())));
        }
        if self.sinks.stdout.is_some() {
            choices.push(SinkChoice::Local(LocalTarget::Stdout));
        }
        if choices.is_empty() {
            choices.push(if self.aws_detected {
                SinkChoice::CloudWatchLogs(CloudWatchLogsSinkConfig::default())
            } else {
                SinkChoice::Local(LocalTarget::File(FileSinkConfig {
                    path: self.data_dir.join("logs.ndjson"),
                    max_bytes: DEFAULT_MAX_FILE_BYTES,
                    max_files: DEFAULT_MAX_FILES,
                }))
            });
        }
        choices
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if !KNOWN_ENVIRONMENTS.contains(&self.environment.as_str()) {
            problems.push(format!(
                "environment: `{}` is not one of {}; set `environment` or AISTUDIO_ENV",
                self.environment,
                KNOWN_ENVIRONMENTS.join(", ")
            ));
        }
        if let Some(endpoint) = &self.aws.endpoint_url {
            if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                problems.push(format!(
                    "aws.endpoint_url: `{endpoint}` must start with http:// or https://"
                ));
            }
        }
        if let Some(cw) = &self.sinks.cloudwatch_logs {
            problems.extend(cw.problems());
        }
        problems.extend(self.metrics.problems());
        if let Some(fluent) = &self.sources.fluent {
            problems.extend(fluent.problems());
        }
        if let Some(otlp) = &self.sources.otlp {
            problems.extend(otlp.problems());
        }
        for (index, file) in self.sources.file.iter().enumerate() {
            problems.extend(file.problems(index));
        }
        if self.sources.max_line_bytes == 0
            || self.sources.max_line_bytes > self.redact.max_line_bytes
        {
            problems.push(format!(
                "sources.max_line_bytes: must be between 1 and redact.max_line_bytes ({}), so every piece of a long line is redacted rather than replaced",
                self.redact.max_line_bytes
            ));
        }
        if self.buffer.max_memory_bytes < crate::sources::CHUNK_MAX_BYTES as u64 * 2 {
            problems.push(format!(
                "buffer.max_memory_bytes: must be at least {} (two chunks)",
                crate::sources::CHUNK_MAX_BYTES * 2
            ));
        }
        problems.extend(out_of_range(
            "shutdown_deadline_secs",
            self.shutdown_deadline_secs,
            &SHUTDOWN_DEADLINE_SECS_RANGE,
        ));
        for problem in crate::redact::problems(&self.redact, |name| std::env::var(name).ok()) {
            problems.push(format!("{}: {}", problem.key, problem.error));
        }
        if self.buffer.max_disk_bytes == 0 {
            problems.push("buffer.max_disk_bytes: must be at least 1".into());
        }
        if let Some(file) = &self.sinks.file {
            problems.extend(out_of_range(
                "sinks.file.max_bytes",
                file.max_bytes,
                &crate::sinks::file::MAX_FILE_BYTES_RANGE,
            ));
        }
        problems.extend(out_of_range(
            "api.degraded_after_secs",
            self.api.degraded_after_secs,
            &crate::api::DEGRADED_AFTER_SECS_RANGE,
        ));
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid {
                path: String::from("(defaults)"),
                problems,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_is_rejected_with_its_name() {
        let err = SidecarConfig::from_toml("environmnet = \"prod\"").unwrap_err();
        assert!(err.contains("environmnet"), "{err}");
    }

    #[test]
    fn env_overrides_file_values() {
        let mut config = SidecarConfig::from_toml("environment = \"staging\"").unwrap();
        config.apply_env(|name| match name {
            "AISTUDIO_ENV" => Some("prod".into()),
            "AWS_ENDPOINT_URL" => Some("http://127.0.0.1:5000".into()),
            _ => None,
        });
        assert_eq!(config.environment, "prod");
        assert_eq!(
            config.aws.endpoint_url.as_deref(),
            Some("http://127.0.0.1:5000")
        );
        config.validate().unwrap();
    }

    #[test]
    fn absurd_values_are_refused_with_the_allowed_range() {
        let config = SidecarConfig::from_toml(
            "shutdown_deadline_secs = 86400\n[api]\ndegraded_after_secs = 1\n[[sources.file]]\ninclude = [\"/x/*.log\"]\npoll_interval_ms = 120000\n",
        )
        .unwrap();
        let err = config.validate().unwrap_err().to_string();
        for expected in [
            "sources.file[0].poll_interval_ms: 120000 is out of range; allowed 10..=10000",
            "shutdown_deadline_secs: 86400 is out of range; allowed 1..=120",
            "api.degraded_after_secs: 1 is out of range; allowed 5..=3600",
        ] {
            assert!(err.contains(expected), "{expected} in {err}");
        }
    }

    #[test]
    fn a_pruned_array_element_does_not_shift_the_keys_after_it() {
        let text = "[[sources.file]]\nread_from = \"end\"\n[[sources.file]]\ninclude = [\"/x/*.log\"]\npoll_interval_ms = 1\n";
        let err = SidecarConfig::from_file_text(text, "f.toml", |_| None).unwrap_err();
        let ConfigError::Invalid { problems, .. } = err else {
            panic!("expected the invalid variant: {err}");
        };
        assert_eq!(
            problems,
            [
                "f.toml:1:1: sources.file[0]: missing key `include`; add it",
                "f.toml:5:20: sources.file[1].poll_interval_ms: 1 is out of range; allowed 10..=10000",
            ]
        );
    }

    #[test]
    fn a_problem_with_a_value_from_the_environment_names_the_variable() {
        let text = "environment = \"prod\"\n";
        let err = SidecarConfig::from_file_text(text, "f.toml", |name| {
            (name == "AISTUDIO_ENV").then(|| "qa".to_owned())
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("f.toml: environment: `qa` is not one of")
                && err.contains("(the value comes from AISTUDIO_ENV)"),
            "{err}"
        );
    }

    #[test]
    fn unknown_environment_is_invalid() {
        let config = SidecarConfig::from_toml("environment = \"qa\"").unwrap();
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("environment: `qa`"), "{err}");
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let config = SidecarConfig::from_toml(
            "environment = \"qa\"\nshutdown_deadline_secs = 0\n[sinks.cloudwatch_logs]\nretention_days = 31\n[[sources.file]]\ninclude = [\"[\"]\n",
        )
        .unwrap();
        let ConfigError::Invalid { problems, .. } = config.validate().unwrap_err() else {
            panic!("expected the invalid variant");
        };
        let keys: Vec<&str> = problems
            .iter()
            .map(|p| p.split(':').next().unwrap())
            .collect();
        assert_eq!(
            keys,
            vec![
                "environment",
                "sinks.cloudwatch_logs.retention_days",
                "sources.file[0].include",
                "shutdown_deadline_secs"
            ]
        );
    }
}
