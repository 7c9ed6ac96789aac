//! `[sources.otlp]`: where the OTLP/HTTP source listens and how much one request may carry.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Default largest request body: the OpenTelemetry SDKs' batch processors export at most 512
/// records per request, a few hundred KiB of typical logs; 8 MiB leaves room for large
/// records while bounding what one request holds in memory.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 8 * 1024 * 1024;
/// Allowed `max_body_bytes`.
pub const MAX_BODY_BYTES_RANGE: std::ops::RangeInclusive<u64> = 64 * 1024..=64 * 1024 * 1024;
/// Default wait for the pipeline to accept a request's records before answering "retry
/// later": below the SDK exporters' default 10 s timeout, so they hear the answer.
pub const DEFAULT_ACCEPT_TIMEOUT_MS: u64 = 5_000;
/// Allowed `accept_timeout_ms`.
pub const ACCEPT_TIMEOUT_MS_RANGE: std::ops::RangeInclusive<u64> = 100..=60_000;

/// `[sources.otlp]`: OTLP/HTTP logs (`POST /v1/logs`, protobuf or JSON, optionally gzip).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpSourceConfig {
    /// Address to listen on; OTLP/HTTP's registered port 4318 on loopback by default.
    #[serde(default = "default_address")]
    pub address: SocketAddr,
    /// Largest request body in bytes, before and after gzip decompression; a larger one is
    /// answered 413.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: u64,
    /// Milliseconds a request waits for the pipeline to accept its records; past it the
    /// answer is 503 with `Retry-After`, so the exporter backs off and resends.
    #[serde(default = "default_accept_timeout_ms")]
    pub accept_timeout_ms: u64,
}

impl Default for OtlpSourceConfig {
    fn default() -> Self {
        Self {
            address: default_address(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            accept_timeout_ms: DEFAULT_ACCEPT_TIMEOUT_MS,
        }
    }
}

fn default_address() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 4318))
}
fn default_max_body_bytes() -> u64 {
    DEFAULT_MAX_BODY_BYTES
}
fn default_accept_timeout_ms() -> u64 {
    DEFAULT_ACCEPT_TIMEOUT_MS
}

impl OtlpSourceConfig {
    /// Every problem of this section, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.address.ip().is_loopback() {
            problems.push(format!(
                "sources.otlp.address: {} is not a loopback address; the endpoint has no authentication, so listen on 127.0.0.1 (tasks in awsvpc mode share it)",
                self.address
            ));
        }
        for (key, value, range) in [
            ("max_body_bytes", self.max_body_bytes, &MAX_BODY_BYTES_RANGE),
            (
                "accept_timeout_ms",
                self.accept_timeout_ms,
                &ACCEPT_TIMEOUT_MS_RANGE,
            ),
        ] {
            if !range.contains(&value) {
                problems.push(format!(
                    "sources.otlp.{key}: {value} is out of range; allowed {}..={}",
                    range.start(),
                    range.end()
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
    fn defaults_are_valid_and_bad_values_name_their_key() {
        let config: OtlpSourceConfig = toml::from_str("").unwrap();
        assert_eq!(config.address.port(), 4318);
        assert!(config.problems().is_empty());
        let err = toml::from_str::<OtlpSourceConfig>("adress = \"x\"").unwrap_err();
        assert!(err.to_string().contains("adress"), "{err}");
        let config: OtlpSourceConfig = toml::from_str(
            "address = \"10.0.0.1:4318\"\nmax_body_bytes = 1\naccept_timeout_ms = 0\n",
        )
        .unwrap();
        let problems = config.problems().join("\n");
        for key in [
            "sources.otlp.address: 10.0.0.1:4318 is not a loopback",
            "sources.otlp.max_body_bytes: 1 is out of range",
            "sources.otlp.accept_timeout_ms: 0 is out of range",
        ] {
            assert!(problems.contains(key), "{key} in {problems}");
        }
    }
}
