//! HTTP routes: chat completions, models, health; the request-id and `http.request` middleware.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequest, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::json;
use tokio::time::Instant as TokioInstant;

use crate::api::{self, ApiError, ChatRequest};
use crate::auth::{AuthError, Authenticator, ANONYMOUS_USER};
use crate::auth_limit::AuthFailureLimiter;
use crate::config::Config;
use crate::connections::ConnState;
use crate::job::{Job, JobIds};
use crate::metrics as m;
use crate::providers::{ProviderRequest, Registry};
use crate::ratelimit::{retry_after_secs, RateLimiter};
use crate::sampled_log::Samplers;
use crate::shutdown::Drain;
use crate::sse::{self, StreamSpec};

/// Header carrying the request id, read and echoed.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Longest accepted client-supplied request id.
const MAX_REQUEST_ID_LEN: usize = 128;

/// Everything the handlers share.
#[derive(Debug)]
pub struct AppState {
    /// The loaded config.
    pub config: Config,
    /// Model routing.
    pub registry: Registry,
    /// JWT verifier; `None` when auth is disabled (development only).
    pub auth: Option<Authenticator>,
    /// Per-user limiter.
    pub limiter: RateLimiter,
    /// Drain state.
    pub drain: Arc<Drain>,
    /// Process start, for `uptime_s`.
    pub started: Instant,
    /// Log sampling of repeated rejections.
    pub samplers: Arc<Samplers>,
    /// Failed authentications per peer address.
    pub auth_failures: AuthFailureLimiter,
}

/// Errors building the state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A provider could not be built.
    #[error(transparent)]
    Registry(#[from] crate::providers::RegistryError),
    /// Auth is enabled without a secret.
    #[error(
        "no JWT secret configured: set JWT_SECRET, or AUTH_DISABLED=true for local development"
    )]
    NoSecret,
}

impl AppState {
    /// Builds the state from a validated config.
    pub fn new(config: Config, drain: Arc<Drain>) -> Result<Self, StateError> {
        let registry = Registry::from_config(&config)?;
        let auth = if config.auth.disabled {
            None
        } else {
            let secret = config
                .auth
                .jwt_secret
                .as_deref()
                .filter(|s| !s.is_empty())
                .ok_or(StateError::NoSecret)?;
            Some(Authenticator::new(secret, config.auth.leeway_s))
        };
        let limiter = RateLimiter::new(config.rate_limit.requests_per_minute);
        let config_sample_interval = config.logging.sample_interval_ms;
        let config_sample_burst = config.logging.sample_burst;
        let config_auth_burst = config.auth.failure_burst;
        let config_auth_window = config.auth.failure_window_ms;
        Ok(Self {
            config,
            registry,
            auth,
            limiter,
            drain,
            started: Instant::now(),
            auth_failures: AuthFailureLimiter::new(
                config_auth_burst,
                Duration::from_millis(config_auth_window),
            ),
            samplers: Samplers::new(
                Duration::from_millis(config_sample_interval),
                config_sample_burst,
            ),
        })
    }
}

/// The request id of the current request.
#[derive(Debug, Clone)]
pub struct RequestId(pub Arc<str>);

/// When the current request arrived (its head), for the user-visible time to first token.
#[derive(Debug, Clone, Copy)]
pub struct RequestReceived(pub Instant);

/// The authenticated user, attached to responses for the `http.request` line.
#[derive(Debug, Clone)]
struct UserId(Arc<str>);

/// Marks a response whose rejection was sampled out: no `http.request` line either.
#[derive(Debug, Clone, Copy)]
struct SuppressedLog;

/// The API router (without the metrics endpoint, which has its own port).
pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.config.server.body_limit_bytes;
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/models", get(list_models))
        .route("/api/health", get(health))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn(request_log))
        .with_state(state)
}

fn valid_request_id(v: &HeaderValue) -> Option<&str> {
    let s = v.to_str().ok()?;
    let ok = !s.is_empty()
        && s.len() <= MAX_REQUEST_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    ok.then_some(s)
}

async fn request_log(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id: Arc<str> = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(valid_request_id)
        .map(Arc::from)
        .unwrap_or_else(|| Arc::from(uuid::Uuid::new_v4().to_string()));
    let method = req.method().to_string();
    let endpoint = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    req.extensions_mut()
        .insert(RequestId(Arc::clone(&request_id)));
    req.extensions_mut().insert(RequestReceived(started));
    let mut response = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    let status = response.status().as_u16();
    let duration = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let suppressed = response.extensions().get::<SuppressedLog>().is_some();
    let user = response
        .extensions()
        .get::<UserId>()
        .map(|u| Arc::clone(&u.0));
    let line = |level: tracing::Level| {
        // Level must be static in tracing macros; branch explicitly.
        let user = user.as_deref().unwrap_or("");
        if level == tracing::Level::ERROR {
            tracing::error!(
                event = "http.request",
                requestId = &*request_id,
                userId = user,
                endpoint = endpoint.as_str(),
                method = method.as_str(),
                status,
                duration,
                "request served"
            );
        } else if level == tracing::Level::WARN {
            tracing::warn!(
                event = "http.request",
                requestId = &*request_id,
                userId = user,
                endpoint = endpoint.as_str(),
                method = method.as_str(),
                status,
                duration,
                "request served"
            );
        } else {
            tracing::info!(
                event = "http.request",
                requestId = &*request_id,
                userId = user,
                endpoint = endpoint.as_str(),
                method = method.as_str(),
                status,
                duration,
                "request served"
            );
        }
    };
    if !suppressed {
        line(match status {
            500.. => tracing::Level::ERROR,
            400..=499 => tracing::Level::WARN,
            _ => tracing::Level::INFO,
        });
    }
    metrics::counter!(m::HTTP_REQUESTS, "route" => endpoint.clone(), "method" => method, "status" => status.to_string())
        .increment(1);
    metrics::histogram!(m::HTTP_DURATION, "route" => endpoint)
        .record(started.elapsed().as_secs_f64());
    response
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("not_found"),
        "no such endpoint; see server/README.md for the API",
    )
}

async fn health(State(state): State<Arc<AppState>>) -> Response {
    let draining = state.drain.is_draining();
    let body = json!({
        "status": if draining { "draining" } else { "ok" },
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": state.started.elapsed().as_secs(),
    });
    let status = if draining {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (status, Json(body)).into_response()
}

async fn list_models(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let data: Vec<_> = state
        .registry
        .models()
        .into_iter()
        .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": state.registry.get(id).map(|r| r.name.to_string())}))
        .collect();
    Json(json!({"object": "list", "data": data}))
}

fn with_user(mut response: Response, user: &Arc<str>) -> Response {
    response.extensions_mut().insert(UserId(Arc::clone(user)));
    response
}

fn authenticate(
    state: &AppState,
    req: &Request,
    request_id: &str,
) -> Result<Arc<str>, Box<Response>> {
    let Some(auth) = &state.auth else {
        return Ok(Arc::from(ANONYMOUS_USER));
    };
    let mut values = req.headers().get_all(header::AUTHORIZATION).iter();
    let first = values.next();
    let verified = if values.next().is_some() {
        Err(AuthError::AmbiguousAuthorization)
    } else {
        auth.verify_header(first.map(|v| v.to_str().unwrap_or("\u{0}invalid")))
    };
    verified
        .map(Arc::from)
        .map_err(|e| Box::new(auth_rejected(state, req, request_id, e)))
}

/// The answer to a rejected authentication: 401, or 429 once the peer is past its failure
/// burst; closes the connection after repeated failures; logs sampled (see `sampled_log`).
fn auth_rejected(state: &AppState, req: &Request, request_id: &str, e: AuthError) -> Response {
    let conn = req.extensions().get::<Arc<ConnState>>();
    let retry = conn.and_then(|c| state.auth_failures.failed(c.peer(), TokioInstant::now()));
    let max_per_conn = state.config.auth.max_failures_per_connection;
    let close = conn.is_some_and(|c| max_per_conn > 0 && c.auth_failed() >= max_per_conn);
    metrics::counter!(m::AUTH_REJECTED, "reason" => e.reason()).increment(1);
    let logged = state.samplers.auth_rejected.admit();
    if logged {
        tracing::warn!(
            event = "auth.rejected",
            requestId = request_id,
            reason = e.reason(),
            rateLimited = retry.is_some(),
            connectionClosed = close,
            error.name = "AuthError",
            error.message = %e,
            "request rejected by authentication"
        );
    }
    let error = match retry {
        Some(wait) => {
            let secs = retry_after_secs(wait);
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                Some("auth_rate_limited"),
                format!("too many rejected authentication attempts from this address; retry after {secs} s with a valid token"),
            )
            .retry_after(secs)
        }
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            Some(match e {
                AuthError::Expired => "token_expired",
                _ => "invalid_api_key",
            }),
            e.to_string(),
        ),
    };
    let mut response = error.into_response();
    if close {
        if let Some(c) = conn {
            c.request_close();
        }
        if req.version() <= axum::http::Version::HTTP_11 {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
    }
    if !logged {
        response.extensions_mut().insert(SuppressedLog);
    }
    response
}

async fn chat_completions(
    State(state): State<Arc<AppState>>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    req: Request,
) -> Response {
    if state.drain.is_draining() {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            Some("server_shutting_down"),
            "the server is shutting down and accepts no new requests; retry on another instance",
        )
        .retry_after(1)
        .into_response();
    }
    let user = match authenticate(&state, &req, &request_id) {
        Ok(u) => u,
        Err(response) => return *response,
    };
    if let Err(wait) = state.limiter.check(&user, TokioInstant::now()) {
        let retry = retry_after_secs(wait);
        tracing::warn!(
            event = "ratelimit.rejected",
            requestId = &*request_id,
            userId = &*user,
            retryAfter = retry,
            limit = state.config.rate_limit.requests_per_minute,
            "request rejected by the per-user rate limit"
        );
        metrics::counter!(m::RATE_LIMITED).increment(1);
        let e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            Some("rate_limit_exceeded"),
            format!(
                "rate limit of {} requests per user per minute (any 60 s window) exceeded; retry after {retry} s",
                state.config.rate_limit.requests_per_minute
            ),
        )
        .retry_after(retry);
        return with_user(e.into_response(), &user);
    }
    let response = match handle_chat(&state, request_id, Arc::clone(&user), req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    with_user(response, &user)
}

async fn handle_chat(
    state: &AppState,
    request_id: Arc<str>,
    user: Arc<str>,
    req: Request,
) -> Result<Response, ApiError> {
    let received = req
        .extensions()
        .get::<RequestReceived>()
        .map_or_else(Instant::now, |r| r.0);
    let limit = state.config.server.body_limit_bytes;
    let body_ms = state.config.server.body_read_timeout_ms;
    // The head had its own deadline; a body sent a byte at a time would hold the request
    // (and its connection) open without one.
    let read = tokio::time::timeout(
        Duration::from_millis(body_ms),
        Bytes::from_request(req, &()),
    );
    let body = read.await.map_err(|_| {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request_error",
            Some("request_timeout"),
            format!(
                "the request body did not arrive within {body_ms} ms; send the whole body promptly"
            ),
        )
    })?;
    let body = body.map_err(|rej| {
        if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                Some("request_too_large"),
                format!("request body exceeds the {limit}-byte limit; send a smaller request"),
            )
        } else {
            ApiError::bad_request("could not read the request body; resend it", None)
        }
    })?;
    let chat = ChatRequest::parse(&body)?;
    let route = state.registry.get(&chat.model).cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("model_not_found"),
            format!(
                "the model `{}` does not exist; available models: {}",
                chat.model,
                state.registry.models().join(", ")
            ),
        )
        .param(Some("model"))
    })?;
    let job_id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let ids = JobIds {
        request_id,
        job_id: Arc::from(job_id.as_str()),
        user_id: user,
        provider: Arc::clone(&route.name),
        model: Arc::from(chat.model.as_str()),
    };
    let mut job = Job::start(ids, state.drain.job(), chat.is_stream(), received);
    let spec = StreamSpec {
        id: job_id,
        model: chat.model.clone(),
        created: api::unix_now(),
        prompt_tokens: api::prompt_tokens(&chat.messages),
        include_usage: chat
            .stream_options
            .as_ref()
            .is_some_and(|o| o.include_usage),
    };
    let stream = chat.is_stream();
    let provider_request = ProviderRequest {
        model: chat.model,
        messages: chat.messages,
        max_tokens: chat.max_tokens.or(chat.max_completion_tokens),
        temperature: chat.temperature,
    };
    job.asking_provider();
    let tokens = match route.provider.open(provider_request).await {
        Ok(t) => t,
        Err(err) => {
            job.fail(&err);
            return Err(err.to_api_error());
        }
    };
    let deadline = state.drain.deadline();
    if stream {
        let keepalive = Duration::from_millis(state.config.server.keepalive_ms.max(1));
        Ok(sse::stream_response(job, tokens, spec, deadline, keepalive))
    } else {
        Ok(sse::collect_response(job, tokens, spec, deadline).await)
    }
}

/// Used by tests and the bench: a body of `model` with one user message.
pub fn sample_body(model: &str, stream: bool) -> Body {
    Body::from(
        json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hello"}]})
            .to_string(),
    )
}
