//! All-or-nothing start-up: every port is bound before any component runs, and a start-up
//! that fails (or is interrupted by a signal) half-way tears down what it started, so the
//! process exits at once instead of running half a pipeline.

use anyhow::Context;
use tokio::net::TcpListener;

use super::Run;
use crate::config::SidecarConfig;

/// The sockets of one run, bound before anything reads a line.
pub struct Listeners {
    /// The health and metrics API (none when `api.enabled = false`).
    pub api: Option<TcpListener>,
    /// The TCP source (none when it is not configured).
    pub tcp: Option<TcpListener>,
    /// The fluent forward source (none when it is not configured).
    pub fluent: Option<crate::sources::fluent::Listeners>,
    /// The OTLP/HTTP source (none when it is not configured).
    pub otlp: Option<TcpListener>,
}

impl Listeners {
    /// Binds the API and the TCP source; a busy or unusable address is a start-up error
    /// naming the key to change.
    pub async fn bind(config: &SidecarConfig) -> anyhow::Result<Self> {
        let api = if config.api.enabled {
            let address = config.api.address;
            Some(TcpListener::bind(address).await.with_context(|| {
                format!(
                    "cannot listen on {address} for the health and metrics API; free the port or set api.address"
                )
            })?)
        } else {
            None
        };
        let tcp = match &config.sources.tcp {
            Some(tcp) => Some(crate::sources::tcp::bind(tcp).await.with_context(|| {
                format!(
                    "cannot listen on {} for the tcp source; free the port or set sources.tcp.address",
                    tcp.address
                )
            })?),
            None => None,
        };
        let fluent = match &config.sources.fluent {
            Some(fluent) => Some(crate::sources::fluent::bind(fluent).await?),
            None => None,
        };
        let otlp = match &config.sources.otlp {
            Some(otlp) => Some(crate::sources::otlp::bind(otlp).await.with_context(|| {
                format!(
                    "cannot listen on {} for the otlp source; free the port or set sources.otlp.address",
                    otlp.address
                )
            })?),
            None => None,
        };
        Ok(Self {
            api,
            tcp,
            fluent,
            otlp,
        })
    }
}

/// Tears down a run whose start-up did not complete: sources stop, sinks fail back at once,
/// and no acknowledgement counts any more, so nothing half-started moves a checkpoint or
/// frees a disk record (what was read is read again on the next start).
pub fn abort(run: &Run) {
    run.acks.freeze();
    run.stop_sources.cancel();
    run.force.cancel();
}
