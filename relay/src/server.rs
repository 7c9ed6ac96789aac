//! The HTTP endpoint: SNS POSTs (any path but the two below), `/health` for the load
//! balancer, `/metrics` for Prometheus. One log line per refused message, never its body.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use time::OffsetDateTime;

use crate::blocks::{self, Links, Redact};
use crate::delivery::{Offer, SlackQueue};
use crate::message::{MessageType, SnsMessage};
use crate::telemetry::Counters;
use crate::verify::{Rejection, Verifier};

/// What the handlers share.
pub struct AppState {
    /// The gate.
    pub verifier: Verifier,
    /// Slack.
    pub queue: Arc<SlackQueue>,
    /// Counters.
    pub counters: Arc<Counters>,
    /// Body limit.
    pub max_body_bytes: usize,
    /// Console links.
    pub links: Links,
    /// Redaction for Slack texts.
    pub redact: Redact,
}

/// The router.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .fallback(sns)
        .with_state(state)
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.counters.render(),
    )
        .into_response()
}

async fn sns(State(state): State<Arc<AppState>>, request: Request) -> Response {
    if request.method() != axum::http::Method::POST {
        return (StatusCode::METHOD_NOT_ALLOWED, "SNS messages are POSTed\n").into_response();
    }
    Counters::inc(&state.counters.received);
    let body = match read_limited(request.into_body(), state.max_body_bytes).await {
        Ok(body) => body,
        Err(rejection) => return refuse(&state, &rejection),
    };
    let msg = match state
        .verifier
        .verify(&body, OffsetDateTime::now_utc())
        .await
    {
        Ok(msg) => msg,
        Err(rejection) => return refuse(&state, &rejection),
    };
    Counters::inc(&state.counters.verified);
    match msg.kind {
        MessageType::Notification => notify(&state, &msg),
        MessageType::SubscriptionConfirmation => confirm(&state, &msg).await,
        MessageType::UnsubscribeConfirmation => {
            Counters::inc(&state.counters.unsubscribed);
            tracing::warn!(topic = %msg.topic_arn, "SNS says this endpoint was unsubscribed from the topic; alarms stop reaching Slack until it is subscribed again");
            (StatusCode::OK, "noted\n").into_response()
        }
    }
}

fn notify(state: &AppState, msg: &SnsMessage) -> Response {
    let payload = blocks::payload(msg, &state.links, &state.redact);
    match state.queue.offer(&msg.message_id, payload) {
        Offer::Queued => (StatusCode::OK, "queued\n").into_response(),
        Offer::Duplicate => (StatusCode::OK, "duplicate\n").into_response(),
        Offer::Full => {
            tracing::warn!(message_id = %msg.message_id, "the Slack queue is full; answering 503 so that SNS retries");
            (StatusCode::SERVICE_UNAVAILABLE, "queue full, retry later\n").into_response()
        }
    }
}

async fn confirm(state: &AppState, msg: &SnsMessage) -> Response {
    let url = msg.subscribe_url.as_deref().unwrap_or("");
    match state.verifier.certs().confirm(url).await {
        Ok(()) => {
            Counters::inc(&state.counters.confirmed);
            tracing::info!(topic = %msg.topic_arn, "confirmed the SNS subscription");
            (StatusCode::OK, "confirmed\n").into_response()
        }
        Err(why) => {
            Counters::inc(&state.counters.confirm_failed);
            tracing::error!(topic = %msg.topic_arn, "cannot confirm the SNS subscription: {why}");
            (StatusCode::BAD_GATEWAY, "confirmation failed\n").into_response()
        }
    }
}

fn refuse(state: &AppState, rejection: &Rejection) -> Response {
    let reason = rejection.reason();
    state.counters.reject(reason);
    let status = rejection.status();
    tracing::warn!(
        reason,
        status = status.as_u16(),
        "refused an SNS message: {rejection}"
    );
    (status, format!("refused: {reason}\n")).into_response()
}

/// Reads at most `limit` bytes; a longer body (declared or actual) is refused unread.
async fn read_limited(body: Body, limit: usize) -> Result<Bytes, Rejection> {
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| Rejection::TooLarge(limit))
}
