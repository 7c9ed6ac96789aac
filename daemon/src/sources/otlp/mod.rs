//! The OTLP/HTTP source: OpenTelemetry SDKs and collectors export logs to it (`POST /v1/logs`)
//! instead of writing a file; each record becomes a log-contract line, acknowledged to the
//! exporter only once the pipeline accepted it. Metrics (`POST /v1/metrics`) that map onto
//! the catalog become metric points for the metric stage.

mod config;
mod cumulative;
mod http;
mod listener;
mod logs;
mod metrics;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::post;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use config::OtlpSourceConfig;

use crate::event::AckGate;
use crate::metric_point::PointBatch;
use crate::sources::RawChunk;
use crate::telemetry::Telemetry;
use aistudio_core::clock::now_ms;

/// Binds the listener, so a busy port fails the start.
pub async fn bind(config: &OtlpSourceConfig) -> std::io::Result<TcpListener> {
    TcpListener::bind(config.address).await
}

/// What [`serve`] needs from the run.
pub struct Context {
    /// The processor's raw-chunk queue.
    pub tx: mpsc::Sender<RawChunk>,
    /// Stops the source.
    pub shutdown: CancellationToken,
    /// Counters.
    pub telemetry: Telemetry,
    /// The run's acknowledgement gate.
    pub gate: AckGate,
    /// `sources.max_line_bytes`.
    pub max_line_bytes: usize,
    /// The metric stage's queue of points (`POST /v1/metrics`).
    pub points: mpsc::Sender<PointBatch>,
}

/// Serves `POST /v1/logs` and `POST /v1/metrics` until shutdown; requests in flight finish (their answers tell the
/// exporter whether to resend).
pub async fn serve(listener: TcpListener, config: OtlpSourceConfig, context: Context) {
    let shutdown = context.shutdown.clone();
    let endpoint = Arc::new(http::Endpoint {
        tx: context.tx,
        gate: context.gate,
        telemetry: context.telemetry,
        max_line_bytes: context.max_line_bytes,
        max_body_bytes: config.max_body_bytes as usize,
        accept_timeout: Duration::from_millis(config.accept_timeout_ms),
        shutdown: context.shutdown,
        points: context.points,
        cumulative: std::sync::Mutex::new(cumulative::Cumulative::new(
            u64::try_from(now_ms())
                .unwrap_or(0)
                .saturating_mul(1_000_000),
        )),
    });
    let app = axum::Router::new()
        .route("/v1/logs", post(http::export_logs))
        .route("/v1/metrics", post(http::export_metrics))
        .layer(DefaultBodyLimit::max(config.max_body_bytes as usize))
        .with_state(endpoint);
    let limits = listener::Limits {
        max_connections: config.max_connections,
        header_read_timeout: Duration::from_millis(config.header_read_timeout_ms),
        idle_timeout: Duration::from_millis(config.idle_timeout_ms),
        request_timeout: Duration::from_millis(
            config
                .body_read_timeout_ms
                .saturating_add(config.accept_timeout_ms),
        ),
    };
    listener::serve(listener, app, limits, shutdown).await;
}
