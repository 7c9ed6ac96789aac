//! The AI Studio observability sidecar: reads the server's log lines, redacts them, ships logs
//! and metrics to CloudWatch, and provisions the dashboards and alarms the ops team reads.

pub mod api;
pub mod aws;
pub mod backoff;
pub mod buffer;
pub mod cli;
pub mod config;
pub mod decode;
pub mod event;
pub mod metrics;
pub mod own_logs;
pub mod provision;
pub mod redact;
pub mod shutdown;
pub mod sinks;
pub mod sources;
pub mod telemetry;
pub mod topology;

use std::future::Future;

use config::SidecarConfig;

/// Runs the sidecar until `shutdown` resolves.
pub async fn run(config: SidecarConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    topology::run(config, shutdown).await
}
