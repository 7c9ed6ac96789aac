//! The API listener's accept loop: HTTP/1.1 and h2c (prior knowledge) on one port.
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
//! Graceful shutdown works as before: once `stop` fires the listener closes, every
//! connection is told to finish its in-flight requests and close, and the future resolves
//! when they have.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// The HTTP/2 connection preface a prior-knowledge h2c client sends first.
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Pause after an accept error that is not about one connection (e.g. out of file
/// descriptors), so the loop does not spin; the same policy as `axum::serve`.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

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

/// Serves `app` on `listener` until `stop` fires, then waits for open connections to finish.
pub async fn serve_api(listener: TcpListener, app: Router, stop: CancellationToken) {
    let mut http1 = http1::Builder::new();
    // Keep client-disconnect detection (hyper reads for EOF while a stream is written):
    // a disconnect must cancel the job and the upstream request at once.
    http1.half_close(false);
    let builders = Arc::new(Builders {
        http1,
        http2: http2::Builder::new(TokioExecutor::new()),
        auto: auto::Builder::new(TokioExecutor::new()),
    });
    let graceful = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            a = listener.accept() => a,
        };
        let tcp = match accepted {
            Ok((tcp, _addr)) => tcp,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                tracing::error!(event = "server.accept_failed", error.message = %e, "accept failed; retrying");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        // Latency matters more than packet count for token streams.
        let _ = tcp.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let builders = Arc::clone(&builders);
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let version = match sniff(&tcp).await {
                Ok(Some(v)) => v,
                Ok(None) | Err(_) => return,
            };
            let io = TokioIo::new(tcp);
            // Connection errors (client gone, malformed request) end only that connection;
            // hyper already answered what it could.
            let _ = match version {
                Version::Http1 => watcher
                    .watch(builders.http1.serve_connection(io, service))
                    .await
                    .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>),
                Version::Http2 => watcher
                    .watch(builders.http2.serve_connection(io, service))
                    .await
                    .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>),
                Version::Undecided => {
                    watcher
                        .watch(builders.auto.serve_connection(io, service))
                        .await
                }
            };
        });
    }
    drop(listener);
    graceful.shutdown().await;
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
