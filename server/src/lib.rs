//! The AI streaming server: OpenAI-compatible chat completions over SSE (HTTP/1.1 and h2c).
//!
//! `main.rs` loads a [`config::Config`] and calls [`run`] with a shutdown future
//! (SIGTERM/SIGINT). `run` serves until that future resolves, then drains: health
//! turns 503, new jobs are refused, in-flight streams run until the drain deadline
//! and are then ended with an error chunk.

pub mod api;
pub mod auth;
pub mod auth_limit;
pub mod config;
pub mod connections;
pub mod fd_table;
pub mod job;
pub mod logging;
pub mod metrics;
pub mod providers;
pub mod ratelimit;
pub mod routes;
pub mod sampled_log;
pub mod serve;
pub mod shutdown;
pub mod sse;

use std::future::{Future, IntoFuture as _};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::routes::AppState;
use crate::shutdown::{Drain, DrainOutcome, CONNECTION_CLOSE_GRACE};

/// Errors that stop the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listener could not bind.
    #[error("could not listen on {addr}: {source}; pick a free port (PORT / METRICS_PORT)")]
    Bind {
        /// The address.
        addr: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The state could not be built.
    #[error(transparent)]
    State(#[from] routes::StateError),
    /// A listener failed while serving.
    #[error("the {which} listener failed: {source}")]
    Serve {
        /// api or metrics.
        which: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },
}

async fn bind(host: &str, port: u16) -> Result<TcpListener, ServerError> {
    let addr = format!("{host}:{port}");
    TcpListener::bind(&addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })
}

/// Serves until `shutdown` resolves, then drains and returns.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let handle = metrics::install();
    if config.auth.disabled {
        tracing::warn!(
            event = "server.auth_disabled",
            "authentication is DISABLED (development flag); every request runs as user \"anonymous\" — never run this way in production"
        );
    }
    let drain = Drain::new();
    let deadline = Duration::from_millis(config.server.drain_deadline_ms);
    let api_listener = bind(&config.server.bind, config.server.port).await?;
    let metrics_listener = bind(&config.server.bind, config.server.metrics_port).await?;
    let port = api_listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let metrics_port = metrics_listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let limits = connection_limits(&config);
    let state = Arc::new(AppState::new(config, Arc::clone(&drain))?);
    let samplers = Arc::clone(&state.samplers);
    tracing::info!(
        event = "server.started",
        port,
        metricsPort = metrics_port,
        version = env!("CARGO_PKG_VERSION"),
        models = state.registry.models().join(","),
        maxConnections = limits.max_connections,
        maxConnectionsPerPeer = limits.max_per_peer,
        headerReadTimeoutMs =
            u64::try_from(limits.header_read_timeout.as_millis()).unwrap_or(u64::MAX),
        idleTimeoutMs = u64::try_from(limits.idle_timeout.as_millis()).unwrap_or(u64::MAX),
        "listening (HTTP/1.1 and h2c)"
    );

    let stop = CancellationToken::new();
    let app = routes::router(state);
    let sampler_task = tokio::spawn(Arc::clone(&samplers).run(stop.clone()));
    let mut api = tokio::spawn({
        let stop = stop.clone();
        async move {
            serve::serve_api(api_listener, app, limits, samplers, stop).await;
            Ok::<(), std::io::Error>(())
        }
    });
    let mut metrics_srv = tokio::spawn(
        axum::serve(metrics_listener, metrics::router(handle))
            .with_graceful_shutdown(stop.clone().cancelled_owned())
            .into_future(),
    );

    tokio::select! {
        () = shutdown => {}
        r = &mut api => return serve_result("api", r),
        r = &mut metrics_srv => return serve_result("metrics", r),
    }

    drain.start();
    tracing::info!(
        event = "server.draining",
        activeJobs = drain.active(),
        deadlineMs = u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX),
        "shutdown requested: health is 503, no new jobs, in-flight streams may finish"
    );
    let outcome = drain.drain(deadline).await;
    stop.cancel();
    let closed = tokio::time::timeout(CONNECTION_CLOSE_GRACE, async {
        let _ = (&mut api).await;
        let _ = (&mut metrics_srv).await;
    })
    .await
    .is_ok();
    let _ = sampler_task.await;
    let cancelled = match outcome {
        DrainOutcome::Finished => 0,
        DrainOutcome::DeadlineExceeded(n) => n,
    };
    tracing::info!(
        event = "server.stopped",
        cancelledJobs = cancelled,
        connectionsClosed = closed,
        "server stopped"
    );
    Ok(())
}

/// The connection limits from the config, the cap fitted to the open-files limit.
fn connection_limits(config: &Config) -> connections::Limits {
    let soft_limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX);
    // A stream on an upstream provider holds a second socket.
    let upstream = config
        .providers
        .values()
        .any(|p| matches!(p, config::ProviderConfig::Openai(_)));
    let max = connections::effective_max_connections(
        config.server.max_connections,
        soft_limit,
        if upstream { 2 } else { 1 },
    );
    if max < config.server.max_connections {
        tracing::warn!(
            event = "server.connection_cap",
            softLimit = soft_limit,
            maxConnections = max,
            "the open-files limit lowers the connection cap: raise nofile (ulimits in the ECS task definition) or lower MAX_CONNECTIONS"
        );
    }
    connections::Limits::new(&config.server, max)
}

fn serve_result(
    which: &'static str,
    r: Result<Result<(), std::io::Error>, tokio::task::JoinError>,
) -> Result<(), ServerError> {
    match r {
        Ok(Ok(())) => Ok(()),
        Ok(Err(source)) => Err(ServerError::Serve { which, source }),
        Err(join) => Err(ServerError::Serve {
            which,
            source: std::io::Error::other(join.to_string()),
        }),
    }
}
