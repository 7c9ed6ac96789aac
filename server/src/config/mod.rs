//! Server configuration: TOML file (`--config FILE`) with named defaults and environment overrides.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod env;

/// Default HTTP port (the seeds' ECS task definition exposes 3000).
pub const DEFAULT_PORT: u16 = 3000;
/// Default Prometheus metrics port.
pub const DEFAULT_METRICS_PORT: u16 = 9464;
/// Default address the listeners bind to.
pub const DEFAULT_BIND: &str = "0.0.0.0";
/// Default request body limit (1 MiB).
pub const DEFAULT_BODY_LIMIT_BYTES: usize = 1024 * 1024;
/// Default SSE keep-alive interval in milliseconds.
pub const DEFAULT_KEEPALIVE_MS: u64 = 15_000;
/// Default drain deadline after SIGTERM, in milliseconds (below ECS's 30 s stopTimeout).
pub const DEFAULT_DRAIN_DEADLINE_MS: u64 = 25_000;
/// Default per-user rate limit (the seeds' guide: 10 requests per user per one-minute window).
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 10;
/// Default time a connection gets to deliver a complete request head, from accept or from
/// its first byte after an idle keep-alive pause (nginx's `client_header_timeout` is 60 s;
/// an ALB sends a whole head at once, so 10 s only cuts off slow or silent clients).
pub const DEFAULT_HEADER_READ_TIMEOUT_MS: u64 = 10_000;
/// Default time for a whole request body once its head arrived (1 MiB at 35 KB/s).
pub const DEFAULT_BODY_READ_TIMEOUT_MS: u64 = 30_000;
/// Default idle keep-alive timeout: longer than the ALB's 60 s idle timeout, as AWS advises
/// for targets, so the ALB always closes an idle connection first and never sends a request
/// on one the server is closing (which the ALB would answer with a 502).
pub const DEFAULT_IDLE_TIMEOUT_MS: u64 = 75_000;
/// Default cap on open API connections: above the 10,000 concurrent streams the server is
/// sized for, with room for idle keep-alive connections; lowered at start to fit the
/// open-files limit (see `connections`).
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;
/// Default cap on connections from one peer address; 0 = off, because behind an ALB every
/// peer is an ALB node carrying many clients.
pub const DEFAULT_MAX_CONNECTIONS_PER_PEER: usize = 0;
/// Default failed authentications allowed per peer address per window before `429`.
pub const DEFAULT_AUTH_FAILURE_BURST: u32 = 20;
/// Default window of the per-peer failed-authentication limit, in milliseconds.
pub const DEFAULT_AUTH_FAILURE_WINDOW_MS: u64 = 60_000;
/// Default failed authentications after which a connection is closed.
pub const DEFAULT_AUTH_MAX_FAILURES_PER_CONNECTION: u32 = 10;
/// Default JWT clock-skew leeway in seconds.
pub const DEFAULT_JWT_LEEWAY_S: u64 = 0;
/// Default log file size before rotation (50 MiB).
pub const DEFAULT_LOG_MAX_BYTES: u64 = 50 * 1024 * 1024;
/// Default interval of log sampling for repeated rejections, in milliseconds.
pub const DEFAULT_LOG_SAMPLE_INTERVAL_MS: u64 = 10_000;
/// Default number of each repeated rejection logged in full per sampling interval.
pub const DEFAULT_LOG_SAMPLE_BURST: u32 = 10;
/// Default number of rotated log files kept.
pub const DEFAULT_LOG_MAX_FILES: usize = 5;
/// Default simulated time to first token, in milliseconds.
pub const DEFAULT_SIM_TTFT_MS: u64 = 200;
/// Default simulated tokens per second (0 = no delay between tokens).
pub const DEFAULT_SIM_TOKENS_PER_SECOND: u32 = 50;
/// Default simulated completion length in tokens.
pub const DEFAULT_SIM_COMPLETION_TOKENS: u32 = 64;
/// Default simulated failure rate (0.0 – 1.0).
pub const DEFAULT_SIM_FAILURE_RATE: f64 = 0.0;
/// Default upstream request timeout for the `openai` provider, in milliseconds.
pub const DEFAULT_UPSTREAM_TIMEOUT_MS: u64 = 60_000;
/// Models served with no config file, all from the simulated provider.
pub const DEFAULT_MODELS: [&str; 3] = ["gpt-4o", "claude-3-5-sonnet", "gemini-1.5-pro"];
/// Name of the embedded simulated provider.
pub const DEFAULT_SIMULATED_PROVIDER: &str = "simulated";
/// Name of the provider created by `OPENAI_BASE_URL` when the config has none.
pub const DEFAULT_OPENAI_PROVIDER: &str = "openai";

/// Errors while loading or validating the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("could not read config file {path}: {source}; check the --config path")]
    Read {
        /// The file that failed.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The config file is not valid TOML for this schema.
    #[error("invalid config file {path}: {message}; fix the file (see server/README.md)")]
    Parse {
        /// The file that failed.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// An environment variable has a value of the wrong type.
    #[error("invalid environment variable {name}={value:?}: expected {expected}")]
    Env {
        /// Variable name.
        name: String,
        /// Its value.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// The configuration is internally inconsistent.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The whole server configuration.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Listener, limits and shutdown settings.
    pub server: ServerConfig,
    /// JWT authentication.
    pub auth: AuthConfig,
    /// Per-user rate limiting.
    pub rate_limit: RateLimitConfig,
    /// Structured JSON logging.
    pub logging: LoggingConfig,
    /// Providers by name.
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Model id → provider name.
    pub models: BTreeMap<String, String>,
}

impl Default for Config {
    fn default() -> Self {
        let mut providers = BTreeMap::new();
        providers.insert(
            DEFAULT_SIMULATED_PROVIDER.to_string(),
            ProviderConfig::Simulated(SimulatedConfig::default()),
        );
        let models = DEFAULT_MODELS
            .iter()
            .map(|m| (m.to_string(), DEFAULT_SIMULATED_PROVIDER.to_string()))
            .collect();
        Self {
            server: ServerConfig::default(),
            auth: AuthConfig::default(),
            rate_limit: RateLimitConfig::default(),
            logging: LoggingConfig::default(),
            providers,
            models,
        }
    }
}

/// Listener, limits and shutdown settings.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address both listeners bind to (env `BIND_ADDR`).
    pub bind: String,
    /// API port, HTTP/1.1 and h2c (env `PORT`; 0 picks a free port, logged at start).
    pub port: u16,
    /// Prometheus `/metrics` port (env `METRICS_PORT`; 0 picks a free port).
    pub metrics_port: u16,
    /// Maximum request body size in bytes (env `BODY_LIMIT_BYTES`).
    pub body_limit_bytes: usize,
    /// SSE keep-alive comment interval in milliseconds (env `KEEPALIVE_MS`).
    pub keepalive_ms: u64,
    /// How long in-flight streams may run after SIGTERM, in milliseconds (env `DRAIN_DEADLINE_MS`).
    pub drain_deadline_ms: u64,
    /// Time allowed for a complete request head, from accept (or from the first byte after
    /// a keep-alive pause), in milliseconds (env `HEADER_READ_TIMEOUT_MS`).
    pub header_read_timeout_ms: u64,
    /// Time for a whole request body after its head, in milliseconds; past it the answer is
    /// 408 (env `BODY_READ_TIMEOUT_MS`).
    pub body_read_timeout_ms: u64,
    /// Idle keep-alive timeout between requests, in milliseconds; keep it above the load
    /// balancer's idle timeout (env `IDLE_TIMEOUT_MS`).
    pub idle_timeout_ms: u64,
    /// Open API connections at most, lowered to fit the open-files limit (env `MAX_CONNECTIONS`).
    pub max_connections: usize,
    /// Open connections per peer address at most; 0 = no cap (env `MAX_CONNECTIONS_PER_PEER`).
    pub max_connections_per_peer: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: DEFAULT_BIND.to_string(),
            port: DEFAULT_PORT,
            metrics_port: DEFAULT_METRICS_PORT,
            body_limit_bytes: DEFAULT_BODY_LIMIT_BYTES,
            keepalive_ms: DEFAULT_KEEPALIVE_MS,
            drain_deadline_ms: DEFAULT_DRAIN_DEADLINE_MS,
            header_read_timeout_ms: DEFAULT_HEADER_READ_TIMEOUT_MS,
            body_read_timeout_ms: DEFAULT_BODY_READ_TIMEOUT_MS,
            idle_timeout_ms: DEFAULT_IDLE_TIMEOUT_MS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_peer: DEFAULT_MAX_CONNECTIONS_PER_PEER,
        }
    }
}

/// JWT authentication.
#[derive(Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// HS256 secret (env `JWT_SECRET`); required unless auth is disabled.
    pub jwt_secret: Option<String>,
    /// Development only: accept requests without a token (env `AUTH_DISABLED=true`, or `--dev-disable-auth`).
    pub disabled: bool,
    /// Allowed clock skew for `exp`/`nbf` in seconds (env `JWT_LEEWAY_S`).
    pub leeway_s: u64,
    /// Failed authentications per peer address per window before they are answered `429`;
    /// 0 = no limit (env `AUTH_FAILURE_BURST`).
    pub failure_burst: u32,
    /// Window of that limit, in milliseconds, from the first failure (env `AUTH_FAILURE_WINDOW_MS`).
    pub failure_window_ms: u64,
    /// Failed authentications after which the connection is closed; 0 = never
    /// (env `AUTH_MAX_FAILURES_PER_CONNECTION`).
    pub max_failures_per_connection: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            disabled: false,
            leeway_s: DEFAULT_JWT_LEEWAY_S,
            failure_burst: DEFAULT_AUTH_FAILURE_BURST,
            failure_window_ms: DEFAULT_AUTH_FAILURE_WINDOW_MS,
            max_failures_per_connection: DEFAULT_AUTH_MAX_FAILURES_PER_CONNECTION,
        }
    }
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("disabled", &self.disabled)
            .field("leeway_s", &self.leeway_s)
            .field("failure_burst", &self.failure_burst)
            .field("failure_window_ms", &self.failure_window_ms)
            .field(
                "max_failures_per_connection",
                &self.max_failures_per_connection,
            )
            .finish()
    }
}

/// Per-user rate limiting.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Requests accepted per user in any 60 s window (sliding: never more, whatever the
    /// window's start); 0 disables the limit (env `RATE_LIMIT_PER_MINUTE`).
    pub requests_per_minute: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            requests_per_minute: DEFAULT_REQUESTS_PER_MINUTE,
        }
    }
}

/// Structured JSON logging.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    /// Write log lines to this file instead of stdout (env `LOG_FILE`).
    pub file: Option<PathBuf>,
    /// Rotate the log file when it reaches this size in bytes (env `LOG_MAX_BYTES`).
    pub max_bytes: u64,
    /// Number of rotated files kept (`FILE.1` … `FILE.N`) (env `LOG_MAX_FILES`).
    pub max_files: usize,
    /// Minimum level: debug, info, warn or error (env `LOG_LEVEL`).
    pub level: String,
    /// Sampling interval for repeated rejections (bad tokens, refused connections), in
    /// milliseconds; each interval logs `sample_burst` of each in full and one summary line
    /// (env `LOG_SAMPLE_INTERVAL_MS`).
    pub sample_interval_ms: u64,
    /// Repeated rejections of each kind logged in full per interval (env `LOG_SAMPLE_BURST`).
    pub sample_burst: u32,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            file: None,
            max_bytes: DEFAULT_LOG_MAX_BYTES,
            max_files: DEFAULT_LOG_MAX_FILES,
            level: "info".to_string(),
            sample_interval_ms: DEFAULT_LOG_SAMPLE_INTERVAL_MS,
            sample_burst: DEFAULT_LOG_SAMPLE_BURST,
        }
    }
}

/// One provider, selected by `kind`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ProviderConfig {
    /// Deterministic token generator, no network.
    Simulated(SimulatedConfig),
    /// Any OpenAI-compatible upstream.
    Openai(OpenAiConfig),
}

/// The simulated provider.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SimulatedConfig {
    /// Time to first token in milliseconds (env `SIM_TTFT_MS`).
    pub ttft_ms: u64,
    /// Tokens per second after the first; 0 streams without delay (env `SIM_TOKENS_PER_SECOND`).
    pub tokens_per_second: u32,
    /// Completion length in tokens, capped by the request's `max_tokens` (env `SIM_COMPLETION_TOKENS`).
    pub completion_tokens: u32,
    /// Fraction of jobs that fail mid-stream, 0.0 – 1.0 (env `SIM_FAILURE_RATE`).
    pub failure_rate: f64,
    /// Seed of the deterministic generator (env `SIM_SEED`).
    pub seed: u64,
}

impl Default for SimulatedConfig {
    fn default() -> Self {
        Self {
            ttft_ms: DEFAULT_SIM_TTFT_MS,
            tokens_per_second: DEFAULT_SIM_TOKENS_PER_SECOND,
            completion_tokens: DEFAULT_SIM_COMPLETION_TOKENS,
            failure_rate: DEFAULT_SIM_FAILURE_RATE,
            seed: 0,
        }
    }
}

/// An OpenAI-compatible upstream.
#[derive(Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OpenAiConfig {
    /// Base URL including the version prefix, e.g. `https://api.openai.com/v1` (env `OPENAI_BASE_URL`).
    pub base_url: String,
    /// API key sent as `Authorization: Bearer` (env `OPENAI_API_KEY`); never logged.
    #[serde(default)]
    pub api_key: Option<String>,
    /// Upstream request timeout in milliseconds (env `OPENAI_TIMEOUT_MS`).
    #[serde(default = "default_upstream_timeout_ms")]
    pub timeout_ms: u64,
    /// Model id sent upstream, per served model id (defaults to the same id).
    #[serde(default)]
    pub upstream_models: BTreeMap<String, String>,
}

fn default_upstream_timeout_ms() -> u64 {
    DEFAULT_UPSTREAM_TIMEOUT_MS
}

impl std::fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout_ms", &self.timeout_ms)
            .field("upstream_models", &self.upstream_models)
            .finish()
    }
}

impl Config {
    /// Loads the config: the file if given (else the defaults), then environment overrides, then validation.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut config = match path {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        config.validate()?;
        Ok(config)
    }

    /// Parses a TOML config file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses TOML text.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Checks cross-field rules: every model names a provider, auth has a secret, rates are fractions.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (model, provider) in &self.models {
            if !self.providers.contains_key(provider) {
                return Err(ConfigError::Invalid(format!(
                    "model {model:?} maps to provider {provider:?}, which is not configured; add [providers.{provider}] or fix [models]"
                )));
            }
        }
        if !self.auth.disabled && self.auth.jwt_secret.as_deref().unwrap_or("").is_empty() {
            return Err(ConfigError::Invalid(
                "no JWT secret: set JWT_SECRET (or auth.jwt_secret), or disable auth for local development with AUTH_DISABLED=true".to_string(),
            ));
        }
        for (name, provider) in &self.providers {
            match provider {
                ProviderConfig::Simulated(sim) => {
                    if !(0.0..=1.0).contains(&sim.failure_rate) {
                        return Err(ConfigError::Invalid(format!(
                            "provider {name:?}: failure_rate {} is outside 0.0–1.0",
                            sim.failure_rate
                        )));
                    }
                }
                ProviderConfig::Openai(openai) => {
                    if !(openai.base_url.starts_with("http://")
                        || openai.base_url.starts_with("https://"))
                    {
                        return Err(ConfigError::Invalid(format!(
                            "provider {name:?}: base_url {:?} must start with http:// or https://",
                            openai.base_url
                        )));
                    }
                }
            }
        }
        if self.server.header_read_timeout_ms == 0
            || self.server.idle_timeout_ms == 0
            || self.server.body_read_timeout_ms == 0
        {
            return Err(ConfigError::Invalid(
                "server.header_read_timeout_ms, body_read_timeout_ms and idle_timeout_ms must be above 0".into(),
            ));
        }
        if self.logging.sample_interval_ms == 0 {
            return Err(ConfigError::Invalid(
                "logging.sample_interval_ms must be above 0".into(),
            ));
        }
        if self.server.max_connections == 0 {
            return Err(ConfigError::Invalid(
                "server.max_connections must be at least 1".into(),
            ));
        }
        if !matches!(
            self.logging.level.as_str(),
            "debug" | "info" | "warn" | "error"
        ) {
            return Err(ConfigError::Invalid(format!(
                "logging.level {:?} must be debug, info, warn or error",
                self.logging.level
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_serve_three_simulated_models() {
        let c = Config::default();
        assert_eq!(c.server.port, 3000);
        assert_eq!(c.server.metrics_port, 9464);
        assert_eq!(c.rate_limit.requests_per_minute, 10);
        assert_eq!(c.server.drain_deadline_ms, 25_000);
        for m in DEFAULT_MODELS {
            assert_eq!(c.models.get(m).map(String::as_str), Some("simulated"));
        }
    }

    #[test]
    fn toml_file_parses_and_rejects_unknown_fields() {
        let c = Config::from_toml(
            r#"
            [server]
            port = 8080
            [auth]
            jwt_secret = "x"
            [providers.fast]
            kind = "simulated"
            ttft_ms = 0
            [providers.up]
            kind = "openai"
            base_url = "http://localhost:9/v1"
            [models]
            "m1" = "fast"
            "m2" = "up"
            "#,
        )
        .unwrap();
        assert_eq!(c.server.port, 8080);
        c.validate().unwrap();
        assert!(Config::from_toml("[server]\nprot = 1\n")
            .unwrap_err()
            .contains("prot"));
        assert!(Config::from_toml("[providers.a]\nkind = \"simulated\"\nttft = 1\n").is_err());
    }

    #[test]
    fn validation_rejects_inconsistent_config() {
        let mut c = Config::default();
        assert!(c.validate().unwrap_err().to_string().contains("JWT_SECRET"));
        c.auth.disabled = true;
        c.models.insert("x".into(), "nope".into());
        assert!(c.validate().unwrap_err().to_string().contains("nope"));
        c.models.remove("x");
        c.logging.level = "loud".into();
        assert!(c.validate().is_err());
    }
}
