//! The sidecar's loopback HTTP API: `/health` for the ECS container health check and
//! `/metrics` for Prometheus.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};

use crate::redact::Redactor;
use crate::telemetry::health::{assess, HealthPolicy, Status};
use crate::telemetry::Telemetry;
use aistudio_core::clock::now_ms;

/// A backlog with no delivery for this long is `degraded` (`not_delivering`): a minute is
/// past any single PutLogEvents attempt (15 s) and its retries, so a merely slow sink is not
/// reported.
pub const DEFAULT_DEGRADED_AFTER_SECS: u64 = 60;
/// Bounds of `api.degraded_after_secs`: below 5 s ordinary batching (1 s) and one retry would
/// flap; above an hour the state is no use to anyone.
pub const DEGRADED_AFTER_SECS_RANGE: std::ops::RangeInclusive<u64> = 5..=3600;

/// `[api]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Listen address; loopback by default (the task's containers share it in awsvpc mode).
    #[serde(default = "default_address")]
    pub address: SocketAddr,
    /// Serve the API at all.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Seconds a backlog may go without a delivery before `/health` says `degraded`.
    #[serde(default = "default_degraded_after_secs")]
    pub degraded_after_secs: u64,
    /// Answer `degraded` with HTTP 503, so the ECS health check restarts the task. Off by
    /// default: a task whose sink is merely slow or unauthorized keeps running (and keeps
    /// its buffered data) with a 200 and a `degraded` body.
    #[serde(default)]
    pub fail_when_degraded: bool,
}

impl ApiConfig {
    /// The health policy these settings describe.
    pub fn health_policy(&self) -> HealthPolicy {
        HealthPolicy {
            degraded_after: std::time::Duration::from_secs(self.degraded_after_secs),
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            address: default_address(),
            enabled: true,
            degraded_after_secs: DEFAULT_DEGRADED_AFTER_SECS,
            fail_when_degraded: false,
        }
    }
}

fn default_address() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8686))
}
fn default_enabled() -> bool {
    true
}
fn default_degraded_after_secs() -> u64 {
    DEFAULT_DEGRADED_AFTER_SECS
}

#[derive(Clone)]
struct ApiState {
    telemetry: Telemetry,
    redactor: Arc<Redactor>,
    policy: HealthPolicy,
    fail_when_degraded: bool,
}

/// The router (tests drive it with `oneshot`).
pub fn router(telemetry: Telemetry, redactor: Arc<Redactor>, config: &ApiConfig) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(ApiState {
            telemetry,
            redactor,
            policy: config.health_policy(),
            fail_when_degraded: config.fail_when_degraded,
        })
}

async fn health(State(state): State<ApiState>) -> impl IntoResponse {
    let t = &state.telemetry;
    let assessed = assess(t, state.policy, now_ms());
    let body = serde_json::json!({
        "status": assessed.status,
        "reasons": assessed.reasons,
        "stalled_ms": assessed.stalled_ms,
        "queued_events": t.queued_events(),
        "lines_read": t.lines_read(),
        "events_shipped": t.events_shipped(),
        "events_dropped": t.dropped(),
        "retries": t.retried(),
    });
    let status = if state.fail_when_degraded && assessed.status == Status::Degraded {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (status, axum::Json(body))
}

async fn metrics(State(state): State<ApiState>) -> impl IntoResponse {
    let counts = state.redactor.counters();
    let redactions: Vec<(&str, u64)> = counts
        .per_rule
        .iter()
        .map(|(rule, n)| (rule.as_str(), *n))
        .collect();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.telemetry.render_prometheus(&redactions),
    )
}
