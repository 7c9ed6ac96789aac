//! Dashboards, alarms and SNS topics as code: validate, plan, apply, render (placeholder until
//! the provisioning issue lands).

use clap::Args;

/// Arguments of `aistudio-sidecar provision`.
#[derive(Debug, Args)]
pub struct ProvisionArgs {}

/// Runs a provisioning verb.
pub async fn execute(_args: ProvisionArgs) -> anyhow::Result<()> {
    anyhow::bail!("provisioning is not built yet")
}
