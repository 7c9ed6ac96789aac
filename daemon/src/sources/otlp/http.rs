//! The OTLP/HTTP endpoints: `POST /v1/logs` and `POST /v1/metrics` in protobuf or JSON,
//! optionally gzip, answered as the OTLP specification asks: 200 with an
//! `Export…ServiceResponse` once the pipeline accepted the request (for metrics with
//! `partial_success` counting the points that do not map onto the catalog); 400 for a body
//! that does not decode (not retryable); 413 for one over the limit; 415 for another
//! content type; 429 or 503 with `Retry-After` when the pipeline cannot take it now, so the
//! exporter backs off and resends. No answer quotes the request.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use prost::Message;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::cumulative::Cumulative;
use super::{logs, metrics};
use crate::event::AckGate;
use crate::metric_point::PointBatch;
use crate::sources::structured::{acceptance, push_cut_line};
use crate::sources::RawChunk;
use crate::telemetry::{SidecarEvent, Telemetry};
use aistudio_core::clock::now_ms;

/// Seconds an exporter is told to wait before resending when the pipeline is full.
const RETRY_AFTER_SECS: u64 = 1;

/// What every request shares.
#[derive(Debug)]
pub struct Endpoint {
    /// The processor's raw-chunk queue.
    pub tx: mpsc::Sender<RawChunk>,
    /// The run's acknowledgement gate.
    pub gate: AckGate,
    /// Counters.
    pub telemetry: Telemetry,
    /// `sources.max_line_bytes`.
    pub max_line_bytes: usize,
    /// `sources.otlp.max_body_bytes`.
    pub max_body_bytes: usize,
    /// `sources.otlp.accept_timeout_ms`.
    pub accept_timeout: Duration,
    /// Set once the source is stopping: new requests are told to retry elsewhere or later.
    pub shutdown: CancellationToken,
    /// The metric stage's queue of points.
    pub points: mpsc::Sender<PointBatch>,
    /// Cumulative series' previous points.
    pub cumulative: std::sync::Mutex<Cumulative>,
}

/// The two encodings OTLP/HTTP defines.
#[derive(Debug, Clone, Copy)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
        }
    }
}

/// `POST /v1/logs`.
pub async fn export_logs(
    State(endpoint): State<Arc<Endpoint>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (request, encoding) =
        match read_request::<ExportLogsServiceRequest>(&endpoint, &headers, body) {
            Ok(read) => read,
            Err((status, message)) => return refuse(status, &message),
        };
    let mut chunks = Vec::new();
    let now_ns = i128::from(now_ms()) * 1_000_000;
    logs::lines(&request, now_ns, |line| {
        push_cut_line(&mut chunks, line, endpoint.max_line_bytes)
    });
    match hand_over(&endpoint, chunks).await {
        Ok(()) => answer(encoding, &ExportLogsServiceResponse::default()),
        Err(status) => retry_later(status),
    }
}

/// `POST /v1/metrics`: the points that map onto the catalog go to the metric stage (through
/// the same aggregation, cardinality guard and sinks as log-derived metrics); the others are
/// counted in `partial_success`. A slot in the stage's queue is taken before the cumulative
/// state moves, so a request answered "retry later" leaves no trace and its resend counts.
pub async fn export_metrics(
    State(endpoint): State<Arc<Endpoint>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (request, encoding) =
        match read_request::<ExportMetricsServiceRequest>(&endpoint, &headers, body) {
            Ok(read) => read,
            Err((status, message)) => return refuse(status, &message),
        };
    if endpoint.shutdown.is_cancelled() {
        return retry_later(StatusCode::SERVICE_UNAVAILABLE);
    }
    let slot = match tokio::time::timeout(endpoint.accept_timeout, endpoint.points.reserve()).await
    {
        Ok(Ok(slot)) => slot,
        Ok(Err(_)) => return retry_later(StatusCode::SERVICE_UNAVAILABLE),
        Err(_) => return retry_later(StatusCode::TOO_MANY_REQUESTS),
    };
    let mapped = match endpoint.cumulative.lock() {
        Ok(mut cumulative) => metrics::map(&request, &mut cumulative, now_ms()),
        Err(_) => return retry_later(StatusCode::SERVICE_UNAVAILABLE),
    };
    let rejected = mapped.rejected_points();
    let partial_success = (rejected > 0).then(|| {
        let message = mapped.message();
        // Metric names and attribute keys only, never a value.
        tracing::warn!(rejected, reasons = %message, "otlp source: metric points rejected");
        ExportMetricsPartialSuccess {
            rejected_data_points: rejected,
            error_message: message,
        }
    });
    if !mapped.points.is_empty() {
        slot.send(mapped.points);
    }
    answer(encoding, &ExportMetricsServiceResponse { partial_success })
}

/// The request's encoding from its content type, gunzipped and decoded; or the refusal's
/// status and text.
fn read_request<T: Message + Default + DeserializeOwned>(
    endpoint: &Endpoint,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<(T, Encoding), (StatusCode, String)> {
    let encoding = match headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .as_deref()
    {
        Some("application/x-protobuf" | "application/protobuf") => Encoding::Protobuf,
        Some("application/json") => Encoding::Json,
        _ => {
            return Err((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "content-type must be application/x-protobuf or application/json".to_owned(),
            ))
        }
    };
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let body = if gzip {
        Bytes::from(gunzip(&body, endpoint.max_body_bytes)?)
    } else {
        body
    };
    match decode::<T>(&body, encoding) {
        Ok(request) => Ok((request, encoding)),
        Err(why) => {
            tracing::warn!(error = %why, "otlp source: request body does not decode; answered 400");
            Err((
                StatusCode::BAD_REQUEST,
                format!("cannot decode the request: {why}"),
            ))
        }
    }
}

/// Queues the chunks and waits until the pipeline accepted them (delivered or on disk);
/// the status to answer when it did not in time.
async fn hand_over(endpoint: &Endpoint, chunks: Vec<RawChunk>) -> Result<(), StatusCode> {
    if chunks.is_empty() {
        return Ok(());
    }
    if endpoint.shutdown.is_cancelled() {
        return Err(StatusCode::SERVICE_UNAVAILABLE);
    }
    let (ack, accepted) = acceptance(&endpoint.gate);
    let deadline = tokio::time::Instant::now() + endpoint.accept_timeout;
    for mut chunk in chunks {
        let slot = tokio::time::timeout_at(deadline, endpoint.tx.reserve()).await;
        let Ok(Ok(slot)) = slot else {
            // Full for the whole wait (429: the exporter throttles), or closing (503).
            ack.fail();
            return Err(if slot.is_err() {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            });
        };
        chunk.ack = Some(ack.clone());
        chunk.read_at_ms = now_ms();
        let lines = chunk.len() as u64;
        slot.send(chunk);
        endpoint.telemetry.emit(SidecarEvent::LinesRead(lines));
    }
    drop(ack);
    match tokio::time::timeout_at(deadline, accepted).await {
        Ok(Ok(true)) => Ok(()),
        // Queued but not yet delivered nor on disk: the exporter resends (at-least-once).
        Err(_) => Err(StatusCode::SERVICE_UNAVAILABLE),
        Ok(_) => Err(StatusCode::SERVICE_UNAVAILABLE),
    }
}

fn decode<T: Message + Default + DeserializeOwned>(
    body: &[u8],
    encoding: Encoding,
) -> Result<T, String> {
    match encoding {
        Encoding::Protobuf => T::decode(body).map_err(|e| e.to_string()),
        // serde_json's message may quote the offending value: only its kind and place.
        Encoding::Json => serde_json::from_slice(body).map_err(|e| {
            format!(
                "{:?} error in the JSON at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            )
        }),
    }
}

fn gunzip(body: &[u8], max_bytes: usize) -> Result<Vec<u8>, (StatusCode, String)> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(body)
        .take(max_bytes as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| {
            (
                StatusCode::BAD_REQUEST,
                "content-encoding says gzip but the body is not gzip".to_owned(),
            )
        })?;
    if out.len() > max_bytes {
        return Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body decompresses past sources.otlp.max_body_bytes ({max_bytes}); send smaller batches"),
        ));
    }
    Ok(out)
}

fn answer<T: Message + Serialize>(encoding: Encoding, response: &T) -> Response {
    let body = match encoding {
        Encoding::Protobuf => response.encode_to_vec(),
        Encoding::Json => serde_json::to_vec(response).unwrap_or_else(|_| b"{}".to_vec()),
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, encoding.content_type())],
        body,
    )
        .into_response()
}

fn retry_later(status: StatusCode) -> Response {
    let mut response = refuse(
        status,
        "the sidecar's pipeline cannot take these records now; retry after the given delay",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    response
}

/// A plain-text refusal; the text never holds any of the request's content.
fn refuse(status: StatusCode, message: &str) -> Response {
    (status, message.to_owned()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(points: mpsc::Sender<PointBatch>) -> Arc<Endpoint> {
        Arc::new(Endpoint {
            tx: mpsc::channel(1).0,
            gate: AckGate::default(),
            telemetry: Telemetry::default(),
            max_line_bytes: 1024,
            max_body_bytes: 1024 * 1024,
            accept_timeout: Duration::from_millis(50),
            shutdown: CancellationToken::new(),
            points,
            cumulative: std::sync::Mutex::new(Cumulative::new(0)),
        })
    }

    fn cumulative_body(value: u64) -> Bytes {
        let now_ns = (now_ms() * 1_000_000).to_string();
        Bytes::from(
            serde_json::json!({"resourceMetrics": [{"scopeMetrics": [{"metrics": [
                {"name": "JobsCreated", "sum": {"aggregationTemporality": 2, "isMonotonic": true,
                 "dataPoints": [{"startTimeUnixNano": "1", "timeUnixNano": now_ns,
                                 "asInt": value.to_string()}]}}]}]}]})
            .to_string(),
        )
    }

    fn json_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers
    }

    #[tokio::test]
    async fn a_full_stage_queue_says_429_and_the_resend_still_counts() {
        let (points, mut queue) = mpsc::channel(1);
        points.send(Vec::new()).await.unwrap();
        let endpoint = endpoint(points);
        let full = export_metrics(
            State(Arc::clone(&endpoint)),
            json_headers(),
            cumulative_body(5),
        )
        .await;
        assert_eq!(full.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(full.headers()[header::RETRY_AFTER], "1");
        // The queue drains; the resend carries the whole increase (the refused request moved
        // no cumulative state).
        assert_eq!(queue.recv().await, Some(Vec::new()));
        let ok = export_metrics(
            State(Arc::clone(&endpoint)),
            json_headers(),
            cumulative_body(5),
        )
        .await;
        assert_eq!(ok.status(), StatusCode::OK);
        let batch = queue.recv().await.unwrap();
        assert_eq!(batch[0].value, crate::metric_point::PointValue::Delta(5.0));
        endpoint.shutdown.cancel();
        let closing = export_metrics(State(endpoint), json_headers(), cumulative_body(9)).await;
        assert_eq!(closing.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(closing.headers()[header::RETRY_AFTER], "1");
    }
}
