//! `aistudio-relay`: an HTTP endpoint subscribed to the alarm topics that verifies every SNS
//! message (signature, certificate chain, topic, age), confirms its subscription, and posts
//! CloudWatch alarms to a Slack incoming webhook as Block Kit messages.
//!
//! Layers (imports go down): `server` → `verify` (→ `message`, `signature`, `certs`) and
//! `delivery` (→ `webhook`) and `blocks` (→ `alarm`) → `config`, `telemetry`.

mod alarm;
mod blocks;
mod certs;
pub mod config;
mod delivery;
pub mod message;
mod server;
pub mod signature;
mod telemetry;
mod verify;
mod webhook;

use std::future::Future;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use blocks::Redact;
pub use config::RelayConfig;
pub use telemetry::REJECTION_REASONS;

/// Why the relay cannot start or run.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// A configuration problem.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The trust roots or the HTTP clients cannot be set up.
    #[error("cannot set up the relay: {0}")]
    Setup(String),
    /// The listening socket.
    #[error("cannot listen on {addr}: {source}; is the port free?")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The server stopped with an error.
    #[error("the relay's HTTP server failed: {0}")]
    Serve(std::io::Error),
}

/// Runs the relay until `shutdown` resolves, then drains the Slack queue for at most the
/// configured deadline.
pub async fn run(
    config: RelayConfig,
    redact: Redact,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RelayError> {
    let webhook = config.webhook_url()?;
    let certs = Arc::new(certs::CertStore::new(&config).map_err(RelayError::Setup)?);
    let counters = Arc::new(telemetry::Counters::default());
    let tracker = TaskTracker::new();
    let force = CancellationToken::new();
    let queue = delivery::SlackQueue::start(
        delivery::DeliverySettings {
            capacity: config.queue_capacity,
            max_attempts: config.max_attempts,
            timeout: config.slack_timeout,
            max_retry_after: config.max_retry_after,
            dedup_capacity: config.dedup_capacity,
        },
        webhook,
        counters.clone(),
        &tracker,
        force.clone(),
    )
    .map_err(RelayError::Setup)?;
    let state = Arc::new(server::AppState {
        verifier: verify::Verifier::new(&config.topic_arns, config.max_age, certs),
        queue,
        counters,
        max_body_bytes: config.max_body_bytes,
        links: blocks::Links {
            dashboard: config.dashboard.clone(),
        },
        redact,
    });
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| RelayError::Listen {
            addr: config.listen,
            source,
        })?;
    let bound = listener.local_addr().map_err(RelayError::Serve)?;
    tracing::info!(address = %bound, topics = config.topic_arns.len(), "relay listening");
    let result = axum::serve(listener, server::router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(RelayError::Serve);
    // The router (and with it the queue's sender) is dropped: the worker drains what is
    // queued, and gives up on the rest at the deadline.
    tracker.close();
    if tokio::time::timeout(config.shutdown_deadline, tracker.wait())
        .await
        .is_err()
    {
        force.cancel();
        tracker.wait().await;
    }
    tracing::info!("relay stopped");
    result
}
