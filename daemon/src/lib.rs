//! The AI Studio observability sidecar: reads the server's log lines, redacts them, ships logs
//! and metrics to CloudWatch, and provisions the dashboards and alarms the ops team reads.
//!
//! Layers (ARCHITECTURE.md; `tests/layers.rs` keeps imports pointing down):
//! - leaves: [`event`], [`datum`], `fingerprint`, `cut`, `telemetry` (and the `aistudio-core` crate);
//! - the redaction engine: [`redact`];
//! - components: `sources`, `decode`, `buffer`, `sinks`, [`metric_stage`], `api`;
//! - the top: [`config`] (assembles each component's section), `topology` (builds and runs
//!   the pipeline) and [`cli`].
//!
//! Public: what the binary, the benches and the end-to-end tests use. With the `testing`
//! feature, [`testing`] opens the seams the emulator tests need.

mod api;
mod buffer;
pub mod cli;
pub mod config;
mod cut;
pub mod datum;
mod decode;
pub mod event;
mod fingerprint;
pub mod metric_point;
pub mod metric_stage;
pub mod redact;
mod shutdown;
mod sinks;
mod sources;
mod telemetry;
#[cfg(test)]
mod test_rng;
mod topology;

#[cfg(feature = "testing")]
pub mod testing;

use std::future::Future;

use config::SidecarConfig;

/// Runs the sidecar until `shutdown` resolves. `redactor` is the one built from
/// `config.redact`, shared with the daemon's own logs: one set of compiled rules in memory.
pub async fn run(
    config: SidecarConfig,
    redactor: std::sync::Arc<redact::Redactor>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    topology::run(config, redactor, shutdown).await
}
