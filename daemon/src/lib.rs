//! The AI Studio observability sidecar: reads the server's log lines, redacts them, ships logs
//! and metrics to CloudWatch, and provisions the dashboards and alarms the ops team reads.

pub mod aws;
pub mod cli;
pub mod config;
pub mod provision;
pub mod redact;
pub mod shutdown;

use std::future::Future;

use config::SidecarConfig;

/// Runs the sidecar until `shutdown` resolves.
pub async fn run(config: SidecarConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let _ = config;
    shutdown.await;
    Ok(())
}
