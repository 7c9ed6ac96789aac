//! The OTLP listener's connection limits: at most `max_connections` open at once (past it a
//! new connection is closed at once, so the exporter retries later), a request head must
//! arrive within `header_read_timeout_ms` of its first byte (of the accept, for a new
//! connection), so a slowloris client that trickles headers loses its slot; an idle
//! keep-alive connection is closed after `idle_timeout_ms`; a request must have its answer
//! within `body_read_timeout_ms` + `accept_timeout_ms` of its head (a trickled body is cut
//! off with 408). Each connection is HTTP/1.1 served by hyper, the routes by axum.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// Refused connections are logged at most this often (a flood must not flood the log).
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The limits one listener enforces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once.
    pub max_connections: usize,
    /// From a request's first byte (a new connection's accept) to the end of its head.
    pub header_read_timeout: Duration,
    /// From the end of a response to the next request's first byte.
    pub idle_timeout: Duration,
    /// From a request's head to its answer (body read + the pipeline's accept wait).
    pub request_timeout: Duration,
}

/// Where a connection is in its request cycle, and so which deadline applies.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for a request head: since `since`; `idle` after a response until a byte comes.
    AwaitingHead { since: Instant, idle: bool },
    /// A request is being served (its own timeout applies).
    Serving,
}

/// One connection's phase, shared by its reader, its service and its watchdog.
#[derive(Debug)]
struct Watch {
    phase: Mutex<Phase>,
    changed: Notify,
}

impl Watch {
    fn new() -> Self {
        Self {
            phase: Mutex::new(Phase::AwaitingHead {
                since: Instant::now(),
                idle: false,
            }),
            changed: Notify::new(),
        }
    }

    fn set(&self, phase: Phase) {
        if let Ok(mut current) = self.phase.lock() {
            *current = phase;
        }
        self.changed.notify_one();
    }

    /// Bytes arrived: an idle connection starts a request head now.
    fn bytes_read(&self) {
        let Ok(mut current) = self.phase.lock() else {
            return;
        };
        if let Phase::AwaitingHead { idle: true, .. } = *current {
            *current = Phase::AwaitingHead {
                since: Instant::now(),
                idle: false,
            };
            drop(current);
            self.changed.notify_one();
        }
    }

    /// When the connection is to be closed, unless its phase changes first.
    fn deadline(&self, limits: &Limits) -> Option<(Instant, &'static str)> {
        match *self.phase.lock().ok()? {
            Phase::AwaitingHead { since, idle: true } => {
                Some((since + limits.idle_timeout, "idle keep-alive timeout"))
            }
            Phase::AwaitingHead { since, idle: false } => {
                Some((since + limits.header_read_timeout, "header read timeout"))
            }
            Phase::Serving => None,
        }
    }
}

/// A socket that tells its [`Watch`] when bytes arrive.
struct WatchedStream {
    inner: TcpStream,
    watch: Arc<Watch>,
}

impl AsyncRead for WatchedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.watch.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for WatchedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Accepts connections until `shutdown`, then lets the open ones finish their request (each
/// is bounded by its timeouts) and returns.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let connections = TaskTracker::new();
    let mut last_refusal_log: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) => {
                // Out of descriptors and the like: pause instead of spinning.
                tracing::warn!(error = %err, "otlp source: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            // At the cap: closed at once; the exporter's retry comes back later.
            if last_refusal_log.is_none_or(|at| at.elapsed() >= REFUSAL_LOG_INTERVAL) {
                last_refusal_log = Some(Instant::now());
                tracing::warn!(
                    max_connections = limits.max_connections,
                    "otlp source: connection refused, sources.otlp.max_connections are open"
                );
            }
            drop(stream);
            continue;
        };
        connections.spawn(connection(
            stream,
            app.clone(),
            limits,
            shutdown.clone(),
            permit,
        ));
    }
    connections.close();
    connections.wait().await;
}

/// Serves one connection, closing it when its phase's deadline passes.
async fn connection(
    stream: TcpStream,
    app: axum::Router,
    limits: Limits,
    shutdown: CancellationToken,
    _permit: OwnedSemaphorePermit,
) {
    let watch = Arc::new(Watch::new());
    let io = TokioIo::new(WatchedStream {
        inner: stream,
        watch: Arc::clone(&watch),
    });
    let service_watch = Arc::clone(&watch);
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let watch = Arc::clone(&service_watch);
        watch.set(Phase::Serving);
        let answer = app.clone().oneshot(request.map(axum::body::Body::new));
        async move {
            let response = match tokio::time::timeout(limits.request_timeout, answer).await {
                Ok(Ok(response)) => response,
                Ok(Err(never)) => match never {},
                Err(_) => timed_out(),
            };
            watch.set(Phase::AwaitingHead {
                since: Instant::now(),
                idle: true,
            });
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The watch enforces the head and idle deadlines (hyper's own would count idle time as
    // header time).
    builder.timer(TokioTimer::new()).header_read_timeout(None);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        let deadline = watch.deadline(&limits);
        let expiry = async {
            match deadline {
                Some((at, _)) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(err) = served {
                    tracing::debug!(error = %err, "otlp source: connection ended with an error");
                }
                return;
            }
            () = expiry => {
                if let Some((at, why)) = watch.deadline(&limits) {
                    if at <= Instant::now() {
                        tracing::debug!(reason = why, "otlp source: connection closed");
                        return;
                    }
                }
            }
            () = watch.changed.notified() => {}
            () = shutdown.cancelled(), if !stopping => {
                // Finish the request in flight, then close.
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

fn timed_out() -> Response {
    let mut response = (
        StatusCode::REQUEST_TIMEOUT,
        "the request did not complete within sources.otlp.body_read_timeout_ms + accept_timeout_ms; resend it",
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
