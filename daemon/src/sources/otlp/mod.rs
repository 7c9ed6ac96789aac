//! The OTLP/HTTP source: OpenTelemetry SDKs and collectors export logs to it (`POST /v1/logs`)
//! instead of writing a file; each record becomes a log-contract line, acknowledged to the
//! exporter only once the pipeline accepted it. Metrics (`POST /v1/metrics`) that map onto
//! the catalog become metric points for the metric stage.

mod config;
mod cumulative;
mod histograms;
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

/// Decodes `bytes` as a protobuf `/v1/logs` and a `/v1/metrics` body (each that decodes) and
/// maps them as the endpoints do, the metrics twice through one cumulative state (so deltas
/// are taken): the lines and points they would produce and the partial-success message. The
/// decoders' whole path without sockets: for the fuzz target and tests.
#[cfg(any(test, feature = "testing"))]
pub fn decode_bodies(
    bytes: &[u8],
) -> (Vec<Vec<u8>>, Vec<crate::metric_point::MetricPoint>, String) {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use prost::Message;
    let now_ms = 1_800_000_000_000;
    let mut lines = Vec::new();
    if let Ok(request) = ExportLogsServiceRequest::decode(bytes) {
        logs::lines(&request, i128::from(now_ms) * 1_000_000, |line| {
            lines.push(line.to_vec())
        });
    }
    let mut points = Vec::new();
    let mut message = String::new();
    if let Ok(request) = ExportMetricsServiceRequest::decode(bytes) {
        let mut state = cumulative::Cumulative::new(0);
        for _ in 0..2 {
            let mapped = metrics::map(&request, &mut state, now_ms);
            if mapped.rejected_points() > 0 {
                message = mapped.message();
            }
            points.extend(mapped.points);
        }
    }
    (lines, points, message)
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::metrics::v1::{
        metric::Data, number_data_point::Value, Metric, NumberDataPoint, ResourceMetrics,
        ScopeMetrics, Sum,
    };
    use prost::Message;

    #[test]
    fn the_fuzz_seam_decodes_and_maps_like_the_endpoint() {
        let request = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![Metric {
                        name: "JobsCreated".into(),
                        data: Some(Data::Sum(Sum {
                            data_points: vec![NumberDataPoint {
                                start_time_unix_nano: 1,
                                value: Some(Value::AsInt(3)),
                                ..Default::default()
                            }],
                            aggregation_temporality: 2,
                            is_monotonic: true,
                        })),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let (_, points, message) = decode_bodies(&request.encode_to_vec());
        // Cumulative: 3 once, then no increase.
        let deltas: Vec<_> = points.iter().map(|p| p.value.clone()).collect();
        use crate::metric_point::PointValue::Delta;
        assert_eq!(deltas, vec![Delta(3.0), Delta(0.0)], "{message}");
        let (lines, points, _) = decode_bodies(&[0xff, 0x01]);
        assert!(lines.is_empty() && points.is_empty());
    }
}
