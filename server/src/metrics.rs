//! Prometheus metrics through the `metrics` facade, served on `GET /metrics` on the metrics port.

use std::sync::OnceLock;

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Requests by route template, method and status.
pub const HTTP_REQUESTS: &str = "aistudio_http_requests_total";
/// Time to response headers by route template.
pub const HTTP_DURATION: &str = "aistudio_http_request_duration_seconds";
/// Streams (jobs) currently open.
pub const ACTIVE_STREAMS: &str = "aistudio_active_streams";
/// Time to first token by provider.
pub const TTFT: &str = "aistudio_time_to_first_token_seconds";
/// Job duration by provider and outcome.
pub const JOB_DURATION: &str = "aistudio_job_duration_seconds";
/// Jobs by provider and outcome (completed, failed, cancelled).
pub const JOBS: &str = "aistudio_jobs_total";
/// Tokens streamed to clients by provider.
pub const TOKENS: &str = "aistudio_tokens_streamed_total";
/// Requests rejected by the rate limiter.
pub const RATE_LIMITED: &str = "aistudio_ratelimit_rejected_total";
/// Requests rejected by authentication, by reason.
pub const AUTH_REJECTED: &str = "aistudio_auth_rejected_total";

/// API connections open now.
pub const OPEN_CONNECTIONS: &str = "aistudio_open_connections";
/// Connections closed at accept, by reason (`per_peer_cap`, `full`).
pub const CONNECTIONS_REFUSED: &str = "aistudio_connections_refused_total";
/// Connections closed by a timeout, by which (`header_read`, `idle`).
pub const CONNECTIONS_TIMED_OUT: &str = "aistudio_connections_timed_out_total";
/// Connections that never sent a request, evicted at the cap to admit a newer one.
pub const CONNECTIONS_EVICTED: &str = "aistudio_connections_evicted_total";

/// Histogram buckets in seconds (1 ms … 60 s).
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide Prometheus recorder once and returns its handle.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder is installed; then this handle renders nothing.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            handle
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!(HTTP_REQUESTS, "HTTP requests by route, method and status");
    metrics::describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "time to response headers"
    );
    metrics::describe_gauge!(ACTIVE_STREAMS, "chat jobs currently streaming");
    metrics::describe_histogram!(TTFT, metrics::Unit::Seconds, "time to first token");
    metrics::describe_histogram!(JOB_DURATION, metrics::Unit::Seconds, "job duration");
    metrics::describe_counter!(JOBS, "jobs by outcome");
    metrics::describe_counter!(TOKENS, "tokens streamed to clients");
    metrics::describe_counter!(RATE_LIMITED, "requests rejected by the rate limiter");
    metrics::describe_counter!(AUTH_REJECTED, "requests rejected by authentication");
    metrics::describe_gauge!(OPEN_CONNECTIONS, "API connections open now");
    metrics::describe_counter!(CONNECTIONS_REFUSED, "connections closed at accept by a cap");
    metrics::describe_counter!(CONNECTIONS_TIMED_OUT, "connections closed by a timeout");
    metrics::describe_counter!(
        CONNECTIONS_EVICTED,
        "silent connections evicted at the cap for a newer one"
    );
}

/// Records a time to first token.
pub fn histogram_ttft(provider: &str, seconds: f64) {
    metrics::histogram!(TTFT, "provider" => provider.to_string()).record(seconds);
}

/// The metrics listener's router: `GET /metrics` in Prometheus text format.
pub fn router(handle: PrometheusHandle) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .with_state(handle)
}

async fn render(State(handle): State<PrometheusHandle>) -> String {
    handle.run_upkeep();
    handle.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_metrics_render() {
        let handle = install();
        metrics::counter!(TOKENS, "provider" => "unit").increment(3);
        metrics::histogram!(TTFT, "provider" => "unit").record(0.002);
        let text = handle.render();
        assert!(
            text.contains("aistudio_tokens_streamed_total{provider=\"unit\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("aistudio_time_to_first_token_seconds_bucket"),
            "{text}"
        );
    }
}
