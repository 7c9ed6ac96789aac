//! The relay's configuration file (`relay.toml`), parsed once into a validated [`RelayConfig`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;

use crate::webhook::{WebhookSource, WebhookUrl};

/// Where the relay listens by default: every interface, behind the load balancer.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8080";
/// The signing-certificate host AWS documents: `sns.<region>.amazonaws.com` (and the China
/// partition's `.amazonaws.com.cn`). Anchored: the whole host must match.
pub const DEFAULT_CERT_HOST_PATTERN: &str = r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$";
/// Messages older than this are replays. SNS's HTTP/S retry policy tops out well below it
/// (the default policy gives up after 3 retries in about 20 s; a custom one may retry for up
/// to an hour), so a real retry is never refused.
pub const DEFAULT_MAX_AGE_SECS: u64 = 3_600;
/// A body larger than this is refused unread: an SNS message is at most 256 KiB (SNS quotas)
/// and the JSON envelope adds its signature, certificate URL and escaping; twice that is the
/// margin.
pub const DEFAULT_MAX_BODY_BYTES: usize = 512 * 1024;
/// The environment variable holding the Slack incoming-webhook URL.
pub const DEFAULT_WEBHOOK_ENV: &str = "AISTUDIO_SLACK_WEBHOOK_URL";
/// Alarms waiting for Slack; past it, SNS is answered 503 and retries later.
pub const DEFAULT_QUEUE_CAPACITY: usize = 256;
/// Attempts per Slack message (one post plus retries on 429/5xx/network errors).
pub const DEFAULT_SLACK_MAX_ATTEMPTS: u32 = 6;
/// Each Slack post gives up after this long.
pub const DEFAULT_SLACK_TIMEOUT_SECS: u64 = 10;
/// The longest `Retry-After` the relay honours; longer ones are capped to it.
pub const DEFAULT_MAX_RETRY_AFTER_SECS: u64 = 60;
/// MessageIds remembered for de-duplication. SNS redelivers within minutes; at a few alarms a
/// minute this covers hours.
pub const DEFAULT_DEDUP_CAPACITY: usize = 4_096;
/// The certificate fetch gives up after this long.
pub const DEFAULT_CERT_TIMEOUT_SECS: u64 = 5;
/// The dashboard the Slack message links to, `${Environment}` substituted.
pub const DEFAULT_DASHBOARD: &str = "aistudio-${Environment}-ecs-service-health";
/// How long shutdown waits for queued Slack messages.
pub const DEFAULT_SHUTDOWN_DEADLINE_SECS: u64 = 10;

/// The config file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayFile {
    /// Address to listen on (`host:port`).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The SNS topic ARNs this relay accepts; anything else is refused (403).
    pub topic_arns: Vec<String>,
    /// Messages whose `Timestamp` is older than this many seconds are refused as replays.
    #[serde(default = "default_max_age")]
    pub max_age_secs: u64,
    /// Bodies larger than this many bytes are refused (400).
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Seconds shutdown waits for queued Slack messages before giving up on them.
    #[serde(default = "default_shutdown_deadline")]
    pub shutdown_deadline_secs: u64,
    /// Where signing certificates may come from and what they must chain to.
    #[serde(default)]
    pub certificates: CertificatesFile,
    /// The Slack incoming webhook.
    #[serde(default)]
    pub slack: SlackFile,
}

/// `[certificates]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificatesFile {
    /// Regular expression the whole host of `SigningCertURL` (and `SubscribeURL`) must match.
    #[serde(default = "default_cert_host")]
    pub host_pattern: String,
    /// PEM file of trust anchors for the certificate chain and the HTTPS fetch; without it,
    /// the Mozilla root set (`webpki-roots`).
    #[serde(default)]
    pub trust_roots_file: Option<PathBuf>,
    /// PEM file of intermediate certificates to complete chains the fetched PEM leaves short.
    #[serde(default)]
    pub intermediates_file: Option<PathBuf>,
    /// Seconds a certificate (or SubscribeURL) fetch may take.
    #[serde(default = "default_cert_timeout")]
    pub timeout_secs: u64,
}

impl Default for CertificatesFile {
    fn default() -> Self {
        Self {
            host_pattern: default_cert_host(),
            trust_roots_file: None,
            intermediates_file: None,
            timeout_secs: default_cert_timeout(),
        }
    }
}

/// `[slack]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackFile {
    /// Environment variable holding the webhook URL (used when `webhook_url_file` is unset).
    #[serde(default = "default_webhook_env")]
    pub webhook_url_env: String,
    /// File holding the webhook URL (a mounted secret); wins over the variable.
    #[serde(default)]
    pub webhook_url_file: Option<PathBuf>,
    /// Messages waiting for Slack at most.
    #[serde(default = "default_queue")]
    pub queue_capacity: usize,
    /// Attempts per message.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Seconds one post may take.
    #[serde(default = "default_slack_timeout")]
    pub timeout_secs: u64,
    /// The longest `Retry-After` honoured, in seconds.
    #[serde(default = "default_retry_after")]
    pub max_retry_after_secs: u64,
    /// MessageIds remembered for de-duplication.
    #[serde(default = "default_dedup")]
    pub dedup_capacity: usize,
    /// Dashboard linked from each alarm message; `${Environment}` is substituted.
    #[serde(default = "default_dashboard")]
    pub dashboard: String,
}

impl Default for SlackFile {
    fn default() -> Self {
        Self {
            webhook_url_env: default_webhook_env(),
            webhook_url_file: None,
            queue_capacity: default_queue(),
            max_attempts: default_attempts(),
            timeout_secs: default_slack_timeout(),
            max_retry_after_secs: default_retry_after(),
            dedup_capacity: default_dedup(),
            dashboard: default_dashboard(),
        }
    }
}

fn default_listen() -> String {
    DEFAULT_LISTEN.to_owned()
}
fn default_max_age() -> u64 {
    DEFAULT_MAX_AGE_SECS
}
fn default_max_body() -> usize {
    DEFAULT_MAX_BODY_BYTES
}
fn default_shutdown_deadline() -> u64 {
    DEFAULT_SHUTDOWN_DEADLINE_SECS
}
fn default_cert_host() -> String {
    DEFAULT_CERT_HOST_PATTERN.to_owned()
}
fn default_cert_timeout() -> u64 {
    DEFAULT_CERT_TIMEOUT_SECS
}
fn default_webhook_env() -> String {
    DEFAULT_WEBHOOK_ENV.to_owned()
}
fn default_queue() -> usize {
    DEFAULT_QUEUE_CAPACITY
}
fn default_attempts() -> u32 {
    DEFAULT_SLACK_MAX_ATTEMPTS
}
fn default_slack_timeout() -> u64 {
    DEFAULT_SLACK_TIMEOUT_SECS
}
fn default_retry_after() -> u64 {
    DEFAULT_MAX_RETRY_AFTER_SECS
}
fn default_dedup() -> usize {
    DEFAULT_DEDUP_CAPACITY
}
fn default_dashboard() -> String {
    DEFAULT_DASHBOARD.to_owned()
}

/// A config problem, said so that the operator knows what to change.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}; check the path")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("{path} is not a valid relay config: {message}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's words.
        message: String,
    },
    /// A value is out of range or malformed.
    #[error("{field}: {message}")]
    Invalid {
        /// The setting.
        field: &'static str,
        /// What is wrong and what to do.
        message: String,
    },
}

/// The validated configuration.
#[derive(Debug)]
pub struct RelayConfig {
    /// Listening address.
    pub listen: SocketAddr,
    /// Accepted topic ARNs.
    pub topic_arns: Vec<String>,
    /// Replay horizon.
    pub max_age: Duration,
    /// Body limit.
    pub max_body_bytes: usize,
    /// Shutdown drain deadline.
    pub shutdown_deadline: Duration,
    /// Host pattern of certificate and subscribe URLs.
    pub cert_host: Regex,
    /// Trust anchors file (None: webpki-roots).
    pub trust_roots_file: Option<PathBuf>,
    /// Extra intermediates file.
    pub intermediates_file: Option<PathBuf>,
    /// Certificate fetch timeout.
    pub cert_timeout: Duration,
    /// Where the webhook URL comes from.
    pub webhook: WebhookSource,
    /// Queue capacity.
    pub queue_capacity: usize,
    /// Attempts per Slack message.
    pub max_attempts: u32,
    /// Per-post timeout.
    pub slack_timeout: Duration,
    /// Retry-After cap.
    pub max_retry_after: Duration,
    /// De-duplication memory.
    pub dedup_capacity: usize,
    /// Dashboard name template.
    pub dashboard: String,
}

impl RelayConfig {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and validates config text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let file: RelayFile = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_owned(),
            message: e.message().to_owned(),
        })?;
        Self::validate(file)
    }

    /// Checks every value of a parsed file.
    pub fn validate(file: RelayFile) -> Result<Self, ConfigError> {
        let invalid = |field, message: String| ConfigError::Invalid { field, message };
        let listen: SocketAddr = file.listen.parse().map_err(|_| {
            invalid(
                "listen",
                format!("`{}` is not host:port, e.g. 0.0.0.0:8080", file.listen),
            )
        })?;
        if file.topic_arns.is_empty() {
            return Err(invalid(
                "topic_arns",
                "list at least one SNS topic ARN the relay accepts".to_owned(),
            ));
        }
        for arn in &file.topic_arns {
            if arn.split(':').count() != 6 || !arn.starts_with("arn:aws") || !arn.contains(":sns:")
            {
                return Err(invalid(
                    "topic_arns",
                    format!("`{arn}` is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"),
                ));
            }
        }
        if file.max_age_secs == 0 {
            return Err(invalid("max_age_secs", "must be at least 1".to_owned()));
        }
        if file.max_body_bytes < 1024 {
            return Err(invalid(
                "max_body_bytes",
                "must be at least 1024 (an SNS envelope alone is larger)".to_owned(),
            ));
        }
        let cert_host = Regex::new(&file.certificates.host_pattern).map_err(|e| {
            invalid(
                "certificates.host_pattern",
                format!("not a regular expression: {e}"),
            )
        })?;
        if !file.certificates.host_pattern.starts_with('^')
            || !file.certificates.host_pattern.ends_with('$')
        {
            return Err(invalid(
                "certificates.host_pattern",
                "anchor it with ^ and $ so that the whole host must match".to_owned(),
            ));
        }
        let s = &file.slack;
        if s.queue_capacity == 0 || s.max_attempts == 0 || s.dedup_capacity == 0 {
            return Err(invalid(
                "slack",
                "queue_capacity, max_attempts and dedup_capacity must be at least 1".to_owned(),
            ));
        }
        if s.timeout_secs == 0 || file.certificates.timeout_secs == 0 {
            return Err(invalid(
                "timeout_secs",
                "timeouts must be at least 1 second".to_owned(),
            ));
        }
        let webhook = match &s.webhook_url_file {
            Some(path) => WebhookSource::File(path.clone()),
            None => WebhookSource::Env(s.webhook_url_env.clone()),
        };
        Ok(Self {
            listen,
            topic_arns: file.topic_arns,
            max_age: Duration::from_secs(file.max_age_secs),
            max_body_bytes: file.max_body_bytes,
            shutdown_deadline: Duration::from_secs(file.shutdown_deadline_secs),
            cert_host,
            trust_roots_file: file.certificates.trust_roots_file,
            intermediates_file: file.certificates.intermediates_file,
            cert_timeout: Duration::from_secs(file.certificates.timeout_secs),
            webhook,
            queue_capacity: s.queue_capacity,
            max_attempts: s.max_attempts,
            slack_timeout: Duration::from_secs(s.timeout_secs),
            max_retry_after: Duration::from_secs(s.max_retry_after_secs),
            dedup_capacity: s.dedup_capacity,
            dashboard: s.dashboard.clone(),
        })
    }

    /// Reads the webhook URL from its source (checked at start-up, so a missing secret fails
    /// the start, not the first alarm).
    pub fn webhook_url(&self) -> Result<WebhookUrl, ConfigError> {
        self.webhook.load().map_err(|message| ConfigError::Invalid {
            field: "slack.webhook_url",
            message,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:sns:us-east-1:123456789012:aistudio-prod-operational-alerts";

    #[test]
    fn defaults_apply_to_a_minimal_file() {
        let c = RelayConfig::parse(&format!("topic_arns = [\"{ARN}\"]"), "t").unwrap();
        assert_eq!(c.listen.port(), 8080);
        assert!(c.cert_host.is_match("sns.eu-west-1.amazonaws.com"));
        assert!(!c
            .cert_host
            .is_match("sns.eu-west-1.amazonaws.com.evil.example"));
        assert!(!c
            .cert_host
            .is_match("evil.example/sns.us-east-1.amazonaws.com"));
        assert_eq!(c.max_age, Duration::from_secs(DEFAULT_MAX_AGE_SECS));
    }

    #[test]
    fn bad_values_are_refused_with_the_setting_named() {
        let cases = [
            ("topic_arns = []", "topic_arns"),
            ("topic_arns = [\"nope\"]", "topic_arns"),
            (
                &format!("topic_arns = [\"{ARN}\"]\nlisten = \"x\"") as &str,
                "listen",
            ),
            (
                &format!("topic_arns = [\"{ARN}\"]\n[certificates]\nhost_pattern = \"sns\""),
                "host_pattern",
            ),
            (
                &format!("topic_arns = [\"{ARN}\"]\nunknown = 1"),
                "unknown field",
            ),
        ];
        for (text, needle) in cases {
            let err = RelayConfig::parse(text, "t").unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
