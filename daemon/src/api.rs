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
use crate::telemetry::Telemetry;
use aistudio_core::clock::now_ms;

/// Sinks that hold queued events and made no progress for this long are reported stuck, so
/// ECS replaces the task (its health check retries 3 times by default before acting).
pub const STUCK_AFTER_MS: i64 = 60_000;

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
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            address: default_address(),
            enabled: true,
        }
    }
}

fn default_address() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8686))
}
fn default_enabled() -> bool {
    true
}

#[derive(Clone)]
struct ApiState {
    telemetry: Telemetry,
    redactor: Arc<Redactor>,
}

/// The router (tests drive it with `oneshot`).
pub fn router(telemetry: Telemetry, redactor: Arc<Redactor>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(ApiState {
            telemetry,
            redactor,
        })
}

async fn health(State(state): State<ApiState>) -> impl IntoResponse {
    let queued = state.telemetry.queued_events();
    let last = state.telemetry.last_progress_ms();
    let idle_ms = if last == 0 { 0 } else { now_ms() - last };
    let stuck = queued > 0 && last > 0 && idle_ms > STUCK_AFTER_MS;
    let body = serde_json::json!({
        "status": if stuck { "stuck" } else { "ok" },
        "queued_events": queued,
        "lines_read": state.telemetry.lines_read(),
        "events_shipped": state.telemetry.events_shipped(),
        "events_dropped": state.telemetry.dropped(),
    });
    let status = if stuck {
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
