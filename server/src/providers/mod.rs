//! Model providers: the request they receive, the token stream they return, and the model registry.

pub mod openai;
pub mod simulated;

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::StatusCode;
use futures::stream::BoxStream;

use crate::api::{ApiError, ChatMessage};
use crate::config::{Config, ProviderConfig};

/// What a provider is asked for.
#[derive(Debug, Clone)]
pub struct ProviderRequest {
    /// The served model id.
    pub model: String,
    /// The conversation (never logged).
    pub messages: Vec<ChatMessage>,
    /// Completion cap.
    pub max_tokens: Option<u32>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
}

/// One step of a provider's stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Delta {
    /// A piece of completion text.
    Token(String),
    /// The provider finished with this `finish_reason`.
    Finish(String),
}

/// A provider's token stream.
pub type TokenStream = BoxStream<'static, Result<Delta, ProviderError>>;

/// Provider failures; none of their messages contain the prompt or the API key.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// Injected by the simulated provider's `failure_rate`.
    #[error("simulated provider failure after {tokens} tokens (injected by failure_rate)")]
    Simulated {
        /// Tokens sent before failing.
        tokens: u32,
    },
    /// The upstream answered with an error status.
    #[error("upstream provider returned status {status}: {message}")]
    UpstreamStatus {
        /// HTTP status from upstream.
        status: u16,
        /// The upstream's error message.
        message: String,
        /// Upstream `Retry-After`, seconds.
        retry_after_s: Option<u64>,
    },
    /// The upstream could not be reached.
    #[error("could not reach the upstream provider: {0}")]
    Connect(#[source] reqwest::Error),
    /// The upstream did not answer in time.
    #[error("upstream provider did not answer within {0} ms")]
    Timeout(u64),
    /// The upstream stream broke or sent garbage.
    #[error("upstream stream failed: {0}")]
    Stream(String),
}

impl ProviderError {
    /// Stable error name for the log's `error.name`.
    pub fn name(&self) -> &'static str {
        match self {
            ProviderError::Simulated { .. } => "SimulatedFailure",
            ProviderError::UpstreamStatus { .. } => "UpstreamStatus",
            ProviderError::Connect(_) => "UpstreamUnreachable",
            ProviderError::Timeout(_) => "UpstreamTimeout",
            ProviderError::Stream(_) => "UpstreamStreamError",
        }
    }

    /// The status recorded in `provider.response`.
    pub fn provider_status(&self) -> u16 {
        match self {
            ProviderError::UpstreamStatus { status, .. } => *status,
            ProviderError::Timeout(_) => 504,
            ProviderError::Connect(_) => 502,
            ProviderError::Simulated { .. } | ProviderError::Stream(_) => 500,
        }
    }

    /// The error the client gets.
    pub fn to_api_error(&self) -> ApiError {
        match self {
            ProviderError::UpstreamStatus {
                status,
                message,
                retry_after_s,
            } => match *status {
                400 | 422 => ApiError::bad_request(
                    format!("the upstream provider rejected the request: {message}"),
                    None,
                ),
                401 | 403 => ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "api_error",
                    Some("upstream_auth_failed"),
                    format!("the upstream provider rejected this server's credentials (status {status}); the operator must check OPENAI_API_KEY"),
                ),
                404 => ApiError::new(
                    StatusCode::NOT_FOUND,
                    "invalid_request_error",
                    Some("model_not_found"),
                    format!("the upstream provider does not serve this model: {message}"),
                )
                .param(Some("model")),
                429 => ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limit_error",
                    Some("upstream_rate_limited"),
                    "the upstream provider is rate limiting this server; retry later",
                )
                .retry_after(retry_after_s.unwrap_or(1)),
                _ => ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "api_error",
                    Some("upstream_error"),
                    format!("the upstream provider failed with status {status}; retry later"),
                ),
            },
            ProviderError::Connect(_) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "api_error",
                Some("upstream_unreachable"),
                "could not reach the upstream provider; retry later (the operator should check OPENAI_BASE_URL)",
            ),
            ProviderError::Timeout(ms) => ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "api_error",
                Some("upstream_timeout"),
                format!("the upstream provider did not answer within {ms} ms; retry later"),
            ),
            ProviderError::Simulated { .. } | ProviderError::Stream(_) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "api_error",
                Some("provider_error"),
                format!("the model provider failed mid-response ({}); retry the request", self.name()),
            ),
        }
    }
}

/// A configured provider.
#[derive(Debug)]
pub enum Provider {
    /// Deterministic, local.
    Simulated(simulated::SimulatedProvider),
    /// OpenAI-compatible upstream.
    OpenAi(openai::OpenAiProvider),
}

impl Provider {
    /// Opens a completion stream. Upstream status errors surface here, before any byte is sent.
    pub async fn open(&self, request: ProviderRequest) -> Result<TokenStream, ProviderError> {
        match self {
            Provider::Simulated(p) => Ok(p.open(request)),
            Provider::OpenAi(p) => p.open(request).await,
        }
    }
}

/// Errors building the registry.
#[derive(Debug, thiserror::Error)]
#[error("could not build provider {name:?}: {message}")]
pub struct RegistryError {
    name: String,
    message: String,
}

/// A provider with its configured name.
#[derive(Debug, Clone)]
pub struct Route {
    /// Provider name from the config (the log's `provider`).
    pub name: Arc<str>,
    /// The provider.
    pub provider: Arc<Provider>,
}

/// Model id → provider.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    models: HashMap<String, Route>,
}

impl Registry {
    /// Builds every configured provider and maps the models to them.
    pub fn from_config(config: &Config) -> Result<Self, RegistryError> {
        let mut providers: HashMap<&str, Route> = HashMap::new();
        for (name, pc) in &config.providers {
            let provider = match pc {
                ProviderConfig::Simulated(c) => {
                    Provider::Simulated(simulated::SimulatedProvider::new(c.clone()))
                }
                ProviderConfig::Openai(c) => {
                    Provider::OpenAi(openai::OpenAiProvider::new(c.clone()).map_err(|e| {
                        RegistryError {
                            name: name.clone(),
                            message: e.to_string(),
                        }
                    })?)
                }
            };
            providers.insert(
                name,
                Route {
                    name: Arc::from(name.as_str()),
                    provider: Arc::new(provider),
                },
            );
        }
        let mut models = HashMap::new();
        for (model, pname) in &config.models {
            let route = providers.get(pname.as_str()).ok_or_else(|| RegistryError {
                name: pname.clone(),
                message: format!("model {model:?} refers to it but it is not configured"),
            })?;
            models.insert(model.clone(), route.clone());
        }
        Ok(Self { models })
    }

    /// The route for `model`.
    pub fn get(&self, model: &str) -> Option<&Route> {
        self.models.get(model)
    }

    /// Served model ids, sorted.
    pub fn models(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.models.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_registry_serves_the_three_models() {
        let reg = Registry::from_config(&Config::default()).unwrap();
        assert_eq!(
            reg.models(),
            ["claude-3-5-sonnet", "gemini-1.5-pro", "gpt-4o"]
        );
        assert_eq!(&*reg.get("gpt-4o").unwrap().name, "simulated");
        assert!(reg.get("gpt-5").is_none());
    }

    #[test]
    fn upstream_errors_map_to_client_errors() {
        let e = |status| ProviderError::UpstreamStatus {
            status,
            message: "m".into(),
            retry_after_s: Some(9),
        };
        assert_eq!(e(400).to_api_error().status, StatusCode::BAD_REQUEST);
        assert_eq!(e(401).to_api_error().status, StatusCode::BAD_GATEWAY);
        assert!(e(401).to_api_error().message.contains("OPENAI_API_KEY"));
        assert_eq!(e(404).to_api_error().status, StatusCode::NOT_FOUND);
        let limited = e(429).to_api_error();
        assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(limited.retry_after_s, Some(9));
        assert_eq!(e(503).to_api_error().status, StatusCode::BAD_GATEWAY);
        assert_eq!(
            ProviderError::Timeout(5).to_api_error().status,
            StatusCode::GATEWAY_TIMEOUT
        );
    }
}
