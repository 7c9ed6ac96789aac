//! Environment-variable overrides of the config (the names are listed in server/README.md).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{
    Config, ConfigError, OpenAiConfig, ProviderConfig, DEFAULT_OPENAI_PROVIDER,
    DEFAULT_UPSTREAM_TIMEOUT_MS,
};

impl Config {
    /// Applies environment overrides read through `get` (so tests need not touch the process env).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("BIND_ADDR") {
            self.server.bind = v;
        }
        if let Some(v) = parse_env(&get, "PORT", "a port number")? {
            self.server.port = v;
        }
        if let Some(v) = parse_env(&get, "METRICS_PORT", "a port number")? {
            self.server.metrics_port = v;
        }
        if let Some(v) = parse_env(&get, "BODY_LIMIT_BYTES", "a byte count")? {
            self.server.body_limit_bytes = v;
        }
        if let Some(v) = parse_env(&get, "KEEPALIVE_MS", "milliseconds")? {
            self.server.keepalive_ms = v;
        }
        if let Some(v) = parse_env(&get, "DRAIN_DEADLINE_MS", "milliseconds")? {
            self.server.drain_deadline_ms = v;
        }
        if let Some(v) = parse_env(&get, "HEADER_READ_TIMEOUT_MS", "milliseconds")? {
            self.server.header_read_timeout_ms = v;
        }
        if let Some(v) = parse_env(&get, "BODY_READ_TIMEOUT_MS", "milliseconds")? {
            self.server.body_read_timeout_ms = v;
        }
        if let Some(v) = parse_env(&get, "IDLE_TIMEOUT_MS", "milliseconds")? {
            self.server.idle_timeout_ms = v;
        }
        if let Some(v) = parse_env(&get, "MAX_CONNECTIONS", "a connection count")? {
            self.server.max_connections = v;
        }
        if let Some(v) = parse_env(&get, "MAX_CONNECTIONS_PER_PEER", "a connection count")? {
            self.server.max_connections_per_peer = v;
        }
        if let Some(v) = get("JWT_SECRET").filter(|v| !v.is_empty()) {
            self.auth.jwt_secret = Some(v);
        }
        if let Some(v) = parse_env(&get, "AUTH_DISABLED", "true or false")? {
            self.auth.disabled = v;
        }
        if let Some(v) = parse_env(&get, "JWT_LEEWAY_S", "seconds")? {
            self.auth.leeway_s = v;
        }
        if let Some(v) = parse_env(&get, "AUTH_FAILURE_BURST", "a failure count")? {
            self.auth.failure_burst = v;
        }
        if let Some(v) = parse_env(&get, "AUTH_FAILURE_WINDOW_MS", "milliseconds")? {
            self.auth.failure_window_ms = v;
        }
        if let Some(v) = parse_env(&get, "AUTH_MAX_FAILURES_PER_CONNECTION", "a failure count")? {
            self.auth.max_failures_per_connection = v;
        }
        if let Some(v) = parse_env(&get, "RATE_LIMIT_PER_MINUTE", "a request count")? {
            self.rate_limit.requests_per_minute = v;
        }
        if let Some(v) = get("LOG_FILE").filter(|v| !v.is_empty()) {
            self.logging.file = Some(PathBuf::from(v));
        }
        if let Some(v) = parse_env(&get, "LOG_MAX_BYTES", "a byte count")? {
            self.logging.max_bytes = v;
        }
        if let Some(v) = parse_env(&get, "LOG_MAX_FILES", "a file count")? {
            self.logging.max_files = v;
        }
        if let Some(v) = parse_env(&get, "LOG_SAMPLE_INTERVAL_MS", "milliseconds")? {
            self.logging.sample_interval_ms = v;
        }
        if let Some(v) = parse_env(&get, "LOG_SAMPLE_BURST", "a line count")? {
            self.logging.sample_burst = v;
        }
        if let Some(v) = get("LOG_LEVEL") {
            self.logging.level = v;
        }
        self.apply_simulated_env(&get)?;
        self.apply_openai_env(&get)?;
        Ok(())
    }

    fn apply_simulated_env(
        &mut self,
        get: &impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        let ttft = parse_env(get, "SIM_TTFT_MS", "milliseconds")?;
        let tps = parse_env(get, "SIM_TOKENS_PER_SECOND", "tokens per second")?;
        let len = parse_env(get, "SIM_COMPLETION_TOKENS", "a token count")?;
        let rate = parse_env(get, "SIM_FAILURE_RATE", "a fraction between 0 and 1")?;
        let seed = parse_env(get, "SIM_SEED", "an integer")?;
        for provider in self.providers.values_mut() {
            if let ProviderConfig::Simulated(sim) = provider {
                sim.ttft_ms = ttft.unwrap_or(sim.ttft_ms);
                sim.tokens_per_second = tps.unwrap_or(sim.tokens_per_second);
                sim.completion_tokens = len.unwrap_or(sim.completion_tokens);
                sim.failure_rate = rate.unwrap_or(sim.failure_rate);
                sim.seed = seed.unwrap_or(sim.seed);
            }
        }
        Ok(())
    }

    fn apply_openai_env(
        &mut self,
        get: &impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        let base_url = get("OPENAI_BASE_URL").filter(|v| !v.is_empty());
        let api_key = get("OPENAI_API_KEY").filter(|v| !v.is_empty());
        let timeout = parse_env(get, "OPENAI_TIMEOUT_MS", "milliseconds")?;
        let has_openai = self
            .providers
            .values()
            .any(|p| matches!(p, ProviderConfig::Openai(_)));
        if !has_openai {
            if let Some(base_url) = &base_url {
                self.providers.insert(
                    DEFAULT_OPENAI_PROVIDER.to_string(),
                    ProviderConfig::Openai(OpenAiConfig {
                        base_url: base_url.clone(),
                        api_key: None,
                        timeout_ms: DEFAULT_UPSTREAM_TIMEOUT_MS,
                        upstream_models: BTreeMap::new(),
                    }),
                );
            }
        }
        for provider in self.providers.values_mut() {
            if let ProviderConfig::Openai(openai) = provider {
                if let Some(v) = &base_url {
                    openai.base_url = v.clone();
                }
                if let Some(v) = &api_key {
                    openai.api_key = Some(v.clone());
                }
                openai.timeout_ms = timeout.unwrap_or(openai.timeout_ms);
            }
        }
        // OPENAI_MODELS=a,b routes those model ids to the `openai` provider.
        if let Some(models) = get("OPENAI_MODELS") {
            for model in models.split(',').map(str::trim).filter(|m| !m.is_empty()) {
                self.models
                    .insert(model.to_string(), DEFAULT_OPENAI_PROVIDER.to_string());
            }
        }
        Ok(())
    }
}

fn parse_env<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    expected: &'static str,
) -> Result<Option<T>, ConfigError> {
    match get(name) {
        None => Ok(None),
        Some(value) => value
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ConfigError::Env {
                name: name.to_string(),
                value,
                expected,
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn env_overrides_apply() {
        let mut c = Config::default();
        c.apply_env(env(&[
            ("PORT", "0"),
            ("METRICS_PORT", "9999"),
            ("JWT_SECRET", "s3cret"),
            ("RATE_LIMIT_PER_MINUTE", "3"),
            ("SIM_TTFT_MS", "5"),
            ("SIM_FAILURE_RATE", "0.5"),
            ("LOG_FILE", "/tmp/x.log"),
        ]))
        .unwrap();
        assert_eq!(c.server.port, 0);
        assert_eq!(c.server.metrics_port, 9999);
        assert_eq!(c.auth.jwt_secret.as_deref(), Some("s3cret"));
        assert_eq!(c.rate_limit.requests_per_minute, 3);
        let ProviderConfig::Simulated(sim) = &c.providers["simulated"] else {
            panic!("simulated provider missing")
        };
        assert_eq!(sim.ttft_ms, 5);
        assert_eq!(sim.failure_rate, 0.5);
        assert_eq!(c.logging.file, Some(PathBuf::from("/tmp/x.log")));
        c.validate().unwrap();
    }

    #[test]
    fn bad_env_value_names_the_variable() {
        let mut c = Config::default();
        let err = c.apply_env(env(&[("PORT", "eighty")])).unwrap_err();
        assert!(err.to_string().contains("PORT"), "{err}");
    }

    #[test]
    fn openai_env_creates_provider_and_routes_models() {
        let mut c = Config::default();
        c.apply_env(env(&[
            ("OPENAI_BASE_URL", "http://127.0.0.1:1/v1"),
            ("OPENAI_API_KEY", "sk-test"),
            ("OPENAI_MODELS", "gpt-4o, o1"),
            ("AUTH_DISABLED", "true"),
        ]))
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.models["gpt-4o"], "openai");
        assert_eq!(c.models["o1"], "openai");
        let ProviderConfig::Openai(o) = &c.providers["openai"] else {
            panic!("openai provider missing")
        };
        assert_eq!(o.api_key.as_deref(), Some("sk-test"));
        assert!(
            !format!("{o:?}").contains("sk-test"),
            "debug output leaks the key"
        );
    }
}
