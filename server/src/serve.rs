//! The API listener's accept loop: HTTP/1.1 and h2c (prior knowledge) on one port, with
//! connection admission (`connections`), header-read and idle timeouts, and graceful close.
//!
//! `axum::serve` was replaced because of per-connection memory, measured with heaptrack at
//! 2,000 open streams (see README, "Benchmark"):
//!
//! * It hands every connection to hyper-util's auto builder, which first *reads* up to 24
//!   bytes to tell HTTP/1 from the h2 preface and then replays them. hyper's first read then
//!   returns only those bytes, the head is incomplete, and its next `reserve(8 KiB)` on an
//!   8 KiB buffer that already holds 24 bytes doubles it: every HTTP/1 connection kept a
//!   16 KiB read buffer. Here the version is decided with `peek`, which consumes nothing, so
//!   HTTP/1 connections go straight to hyper's HTTP/1 server and read the request into one
//!   8 KiB buffer.
//! * Its per-connection `make_service` call rebuilds the router (`Router::with_state`),
//!   about 2 KiB of route maps per connection. Here every connection shares one router.
//!
//! hyper's own `header_read_timeout` is not used: it also runs between keep-alive requests,
//! so it would close idle ALB connections after the (short) header timeout instead of the
//! (long) idle timeout. Each connection task enforces both itself (see `connections::state`).
//!
//! On `stop` the listener closes, idle and still-silent connections are dropped at once and
//! the rest are told to finish their in-flight requests and close; the future resolves when
//! every connection task has ended (the caller bounds that wait).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use axum::response::IntoResponse as _;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulConnection;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::ApiError;
use crate::connections::{
    Admission, ConnState, GuardedBody, Limits, Refusal, Registry, Ticket, WatchedIo,
};
use crate::metrics as m;
use crate::sampled_log::Samplers;

/// The HTTP/2 connection preface a prior-knowledge h2c client sends first.
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Pause after an accept error that is not about one connection (e.g. out of file
/// descriptors), so the loop does not spin; the same policy as `axum::serve`.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// The only path a reserve connection (admitted past the cap) may ask for.
pub const HEALTH_PATH: &str = "/api/health";

/// The protocol builders, shared by every connection.
struct Builders {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
    /// Only for a client whose first bytes are a partial h2 preface: it reads the rest itself.
    auto: auto::Builder<TokioExecutor>,
}

/// What the first bytes say.
enum Version {
    Http1,
    Http2,
    /// Fewer than 24 bytes so far, all matching the h2 preface.
    Undecided,
}

/// Looks at the first bytes without consuming them.
async fn sniff(tcp: &TcpStream) -> std::io::Result<Option<Version>> {
    let mut buf = [0u8; H2_PREFACE.len()];
    let n = tcp.peek(&mut buf).await?;
    if n == 0 {
        // Closed before sending anything.
        return Ok(None);
    }
    Ok(Some(if buf[..n] != H2_PREFACE[..n] {
        Version::Http1
    } else if n == H2_PREFACE.len() {
        Version::Http2
    } else {
        Version::Undecided
    }))
}

/// Everything the accept loop shares with its connection tasks.
struct Shared {
    app: TowerToHyperService<Router>,
    builders: Builders,
    registry: Arc<Registry>,
    stop: CancellationToken,
    samplers: Arc<Samplers>,
}

/// Serves `app` on `listener` until `stop` fires, then waits for open connections to finish.
pub async fn serve_api(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    samplers: Arc<Samplers>,
    stop: CancellationToken,
) {
    let mut http1 = http1::Builder::new();
    // Keep client-disconnect detection (hyper reads for EOF while a stream is written):
    // a disconnect must cancel the job and the upstream request at once.
    http1.half_close(false);
    let shared = Arc::new(Shared {
        app: TowerToHyperService::new(app),
        builders: Builders {
            http1,
            http2: http2::Builder::new(TokioExecutor::new()),
            auto: auto::Builder::new(TokioExecutor::new()),
        },
        registry: Registry::new(limits),
        stop: stop.clone(),
        samplers,
    });
    let tasks = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            a = listener.accept() => a,
        };
        let (tcp, addr) = match accepted {
            Ok(a) => a,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                if shared.samplers.accept_failed.admit() {
                    tracing::error!(event = "server.accept_failed", error.message = %e, "accept failed; retrying");
                }
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let ticket = match shared.registry.admit(addr.ip()) {
            Ok(t) => t,
            Err(refusal) => {
                refuse(tcp, refusal, &shared.samplers);
                continue;
            }
        };
        // Latency matters more than packet count for token streams.
        let _ = tcp.set_nodelay(true);
        tasks.spawn(connection(tcp, ticket, Arc::clone(&shared)));
    }
    drop(listener);
    tasks.close();
    tasks.wait().await;
}

/// Closes a connection refused at accept (dropping the socket sends FIN; nothing was read).
fn refuse(tcp: TcpStream, refusal: Refusal, samplers: &Samplers) {
    drop(tcp);
    metrics::counter!(m::CONNECTIONS_REFUSED, "reason" => refusal.label()).increment(1);
    if samplers.connection_refused.admit() {
        tracing::warn!(
            event = "server.connection_refused",
            reason = refusal.label(),
            "connection closed at accept: the connection cap is reached (see MAX_CONNECTIONS, MAX_CONNECTIONS_PER_PEER)"
        );
    }
}

/// Serves one connection until it ends, times out, is evicted or the server stops.
async fn connection(tcp: TcpStream, ticket: Ticket, shared: Arc<Shared>) {
    let state = Arc::clone(ticket.state());
    let limits = shared.registry.limits();
    // Bounded by the header-read deadline like the head itself; a silent client ends here.
    let sniffed = tokio::select! {
        v = sniff(&tcp) => v,
        _ = watch(&state, &limits, &shared.stop, true) => return,
    };
    let version = match sniffed {
        Ok(Some(v)) => v,
        Ok(None) | Err(_) => return,
    };
    let io = TokioIo::new(WatchedIo::new(tcp, Arc::clone(&state)));
    let service = ConnService {
        app: shared.app.clone(),
        state: Arc::clone(&state),
    };
    // Connection errors (client gone, malformed request) end only that connection; hyper
    // already answered what it could.
    match version {
        Version::Http1 => {
            state.set_http1();
            let conn = shared.builders.http1.serve_connection(io, service);
            drive(conn, &state, &limits, &shared.stop).await;
        }
        Version::Http2 => {
            let conn = shared.builders.http2.serve_connection(io, service);
            drive(conn, &state, &limits, &shared.stop).await;
        }
        Version::Undecided => {
            let conn = shared.builders.auto.serve_connection(io, service);
            drive(conn, &state, &limits, &shared.stop).await;
        }
    }
    drop(ticket);
}

/// What the connection task must do to its connection.
enum Action {
    /// Drop it now: nothing is in flight (timed out, evicted, or silent at stop).
    Drop,
    /// Close it gracefully: finish the response in flight, then close (h2: GOAWAY).
    Close,
}

/// Resolves when the connection must be dropped or closed; never drops one with a request
/// in flight.
async fn watch(
    state: &ConnState,
    limits: &Limits,
    stop: &CancellationToken,
    closing: bool,
) -> Action {
    loop {
        if state.is_evicted() || (stop.is_cancelled() && state.never_served()) {
            return Action::Drop;
        }
        if !closing && (stop.is_cancelled() || state.close_requested() || state.reserve_done()) {
            return Action::Close;
        }
        let deadline = state.deadline(limits);
        tokio::select! {
            () = state.changed() => {}
            () = stop.cancelled(), if !stop.is_cancelled() => {}
            () = sleep_until(deadline.map(|(at, _)| at)) => {
                if let Some((at, expiry)) = state.deadline(limits) {
                    if at <= tokio::time::Instant::now() {
                        metrics::counter!(m::CONNECTIONS_TIMED_OUT, "timeout" => expiry.label()).increment(1);
                        return Action::Drop;
                    }
                }
            }
        }
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Runs a hyper connection under the connection's deadlines and the server's stop signal.
async fn drive<C: GracefulConnection>(
    conn: C,
    state: &ConnState,
    limits: &Limits,
    stop: &CancellationToken,
) {
    tokio::pin!(conn);
    let mut closing = false;
    loop {
        tokio::select! {
            // The connection first: a response it can finish is written before any deadline.
            biased;
            _ = conn.as_mut() => return,
            action = watch(state, limits, stop, closing) => match action {
                Action::Drop => return,
                Action::Close => {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            },
        }
    }
}

/// The per-connection service: marks requests active, attaches the connection to the request
/// (for per-connection auth limits) and keeps reserve connections to `/api/health`.
#[derive(Clone)]
struct ConnService {
    app: TowerToHyperService<Router>,
    state: Arc<ConnState>,
}

type ConnResponse = Response<GuardedBody<Body>>;

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = ConnResponse;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<ConnResponse, Infallible>> + Send>>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        let guard = self.state.request_started();
        if self.state.admission() == Admission::Reserve && req.uri().path() != HEALTH_PATH {
            let mut response = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                Some("server_at_capacity"),
                "the server is at its connection limit; retry on another instance",
            )
            .retry_after(1)
            .into_response();
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return Box::pin(async move { Ok(response.map(|b| GuardedBody::new(b, guard))) });
        }
        req.extensions_mut().insert(Arc::clone(&self.state));
        let future = hyper::service::Service::call(&self.app, req.map(Body::new));
        Box::pin(async move {
            let response = future.await?;
            Ok(response.map(|b| GuardedBody::new(b, guard)))
        })
    }
}

/// Errors about one incoming connection, not the listener (as in `axum::serve`).
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}
