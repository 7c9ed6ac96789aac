//! `[sources.otlp]`: where the OTLP/HTTP source listens, how much one request may carry, and
//! the listener's connection limits.

use std::net::SocketAddr;

use aistudio_core::bounds::out_of_range;
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
/// Default connections served at once: an SDK keeps one or two per signal, a task has a few
/// processes, so 32 is several times what a task needs; each holds at most one body
/// (`max_body_bytes`), so the cap also bounds memory (32 × 8 MiB).
pub const DEFAULT_MAX_CONNECTIONS: usize = 32;
/// Allowed `max_connections`.
pub const MAX_CONNECTIONS_RANGE: std::ops::RangeInclusive<usize> = 1..=4_096;
/// Default time for a request head: an SDK writes its head at once, so 10 s (what common
/// servers use against slowloris) is a wide margin on loopback.
pub const DEFAULT_HEADER_READ_TIMEOUT_MS: u64 = 10_000;
/// Allowed `header_read_timeout_ms`.
pub const HEADER_READ_TIMEOUT_MS_RANGE: std::ops::RangeInclusive<u64> = 100..=120_000;
/// Default idle keep-alive time: above the SDKs' 60 s metric export interval, so an exporter
/// keeps its connection between exports.
pub const DEFAULT_IDLE_TIMEOUT_MS: u64 = 90_000;
/// Allowed `idle_timeout_ms`.
pub const IDLE_TIMEOUT_MS_RANGE: std::ops::RangeInclusive<u64> = 100..=3_600_000;
/// Default time for a request body: 8 MiB crosses loopback in milliseconds; 30 s leaves room
/// for a slow, busy exporter while bounding how long a trickled body holds its slot.
pub const DEFAULT_BODY_READ_TIMEOUT_MS: u64 = 30_000;
/// Allowed `body_read_timeout_ms`.
pub const BODY_READ_TIMEOUT_MS_RANGE: std::ops::RangeInclusive<u64> = 100..=300_000;

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
    /// Connections served at once; past it a new connection is closed at once (the exporter
    /// retries).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Milliseconds from a request's first byte (a new connection's accept) to the end of its
    /// head; a slower head closes the connection (slowloris).
    #[serde(default = "default_header_read_timeout_ms")]
    pub header_read_timeout_ms: u64,
    /// Milliseconds an idle keep-alive connection stays open after a response.
    #[serde(default = "default_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// Milliseconds for a request's body after its head; with `accept_timeout_ms`, the time
    /// a request has until its answer (past it: 408 and the connection closes).
    #[serde(default = "default_body_read_timeout_ms")]
    pub body_read_timeout_ms: u64,
}

impl Default for OtlpSourceConfig {
    fn default() -> Self {
        Self {
            address: default_address(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            accept_timeout_ms: DEFAULT_ACCEPT_TIMEOUT_MS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_read_timeout_ms: DEFAULT_HEADER_READ_TIMEOUT_MS,
            idle_timeout_ms: DEFAULT_IDLE_TIMEOUT_MS,
            body_read_timeout_ms: DEFAULT_BODY_READ_TIMEOUT_MS,
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
fn default_max_connections() -> usize {
    DEFAULT_MAX_CONNECTIONS
}
fn default_header_read_timeout_ms() -> u64 {
    DEFAULT_HEADER_READ_TIMEOUT_MS
}
fn default_idle_timeout_ms() -> u64 {
    DEFAULT_IDLE_TIMEOUT_MS
}
fn default_body_read_timeout_ms() -> u64 {
    DEFAULT_BODY_READ_TIMEOUT_MS
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
            (
                "header_read_timeout_ms",
                self.header_read_timeout_ms,
                &HEADER_READ_TIMEOUT_MS_RANGE,
            ),
            (
                "idle_timeout_ms",
                self.idle_timeout_ms,
                &IDLE_TIMEOUT_MS_RANGE,
            ),
            (
                "body_read_timeout_ms",
                self.body_read_timeout_ms,
                &BODY_READ_TIMEOUT_MS_RANGE,
            ),
        ] {
            problems.extend(out_of_range(&format!("sources.otlp.{key}"), value, range));
        }
        problems.extend(out_of_range(
            "sources.otlp.max_connections",
            self.max_connections,
            &MAX_CONNECTIONS_RANGE,
        ));
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
            "address = \"10.0.0.1:4318\"\nmax_body_bytes = 1\naccept_timeout_ms = 0\nmax_connections = 0\nheader_read_timeout_ms = 5\nidle_timeout_ms = 0\nbody_read_timeout_ms = 1000000\n",
        )
        .unwrap();
        let problems = config.problems().join("\n");
        for key in [
            "sources.otlp.address: 10.0.0.1:4318 is not a loopback",
            "sources.otlp.max_body_bytes: 1 is out of range",
            "sources.otlp.accept_timeout_ms: 0 is out of range",
            "sources.otlp.max_connections: 0 is out of range; allowed 1..=4096",
            "sources.otlp.header_read_timeout_ms: 5 is out of range",
            "sources.otlp.idle_timeout_ms: 0 is out of range",
            "sources.otlp.body_read_timeout_ms: 1000000 is out of range",
        ] {
            assert!(problems.contains(key), "{key} in {problems}");
        }
    }
}
