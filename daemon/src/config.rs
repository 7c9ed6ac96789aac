//! The sidecar's TOML config: serde structs with named defaults, parsed once into a validated value.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::redact::RedactConfig;

/// Environment name used when neither the config nor `AISTUDIO_ENV` gives one.
pub const DEFAULT_ENVIRONMENT: &str = "dev";

/// Environments the alarm and dashboard definitions are templated for.
pub const KNOWN_ENVIRONMENTS: [&str; 3] = ["dev", "staging", "prod"];

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
}

/// Where AWS calls go.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AwsConfig {
    /// Region; overridden by `AWS_REGION`. Without it the SDK's default chain decides.
    #[serde(default)]
    pub region: Option<String>,
    /// Endpoint of an emulator or VPC endpoint; overridden by `AWS_ENDPOINT_URL`.
    #[serde(default)]
    pub endpoint_url: Option<String>,
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
        }
    }
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}; check the path and its permissions")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("config file {path} is invalid: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What the TOML parser said, with the line and column.
        message: String,
    },
    /// A value parsed but is not allowed.
    #[error("config is invalid: {0}")]
    Invalid(String),
}

impl SidecarConfig {
    /// Loads the config from `path` (or the embedded default), applies env overrides, validates.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                Self::from_toml(&text).map_err(|message| ConfigError::Parse {
                    path: path.display().to_string(),
                    message,
                })?
            }
            None => Self::default(),
        };
        config.apply_env(|name| std::env::var(name).ok());
        config.validate()?;
        Ok(config)
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
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !KNOWN_ENVIRONMENTS.contains(&self.environment.as_str()) {
            return Err(ConfigError::Invalid(format!(
                "environment `{}` is not one of {}; set `environment` or AISTUDIO_ENV",
                self.environment,
                KNOWN_ENVIRONMENTS.join(", ")
            )));
        }
        if let Some(endpoint) = &self.aws.endpoint_url {
            if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                return Err(ConfigError::Invalid(format!(
                    "aws.endpoint_url `{endpoint}` must start with http:// or https://"
                )));
            }
        }
        Ok(())
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
        assert!(config.validate().is_ok());
    }

    #[test]
    fn unknown_environment_is_invalid() {
        let config = SidecarConfig::from_toml("environment = \"qa\"").unwrap();
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("`qa`"), "{err}");
    }
}
