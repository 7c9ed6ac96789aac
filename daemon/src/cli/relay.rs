//! `aistudio-sidecar relay`: the SNS → Slack relay (`aistudio-relay`), with the sidecar's
//! own-log redaction and shutdown signal; all logic lives in the relay crate.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use crate::redact::{RedactConfig, Redactor};

/// Arguments of `aistudio-sidecar relay`.
#[derive(Debug, Args)]
pub struct RelayArgs {
    /// The relay's TOML config file (topics, certificate rules, Slack queue).
    #[arg(long, short, env = "AISTUDIO_RELAY_CONFIG")]
    pub config: PathBuf,
    /// Check the config (and that the webhook secret is readable), then exit.
    #[arg(long)]
    pub check: bool,
}

/// Runs the relay until SIGTERM or Ctrl-C.
pub async fn execute(args: RelayArgs) -> anyhow::Result<()> {
    // Handlers first: a SIGTERM during start-up must drain, not kill.
    let shutdown = crate::shutdown::signal();
    let config = aistudio_relay::RelayConfig::load(&args.config)
        .with_context(|| format!("cannot load the relay config {}", args.config.display()))?;
    if args.check {
        config.webhook_url()?;
        println!("{}: ok", args.config.display());
        return Ok(());
    }
    // The default redactor: what could be PII or a secret in an alarm reason or a free-form
    // notification is masked before Slack, and the relay's own logs go through it too.
    let redactor = Arc::new(Redactor::new(&RedactConfig::default())?);
    super::own_logs::init(redactor.clone());
    let redact: aistudio_relay::Redact =
        Arc::new(move |s: &str| redactor.redact_str(s).into_owned());
    aistudio_relay::run(config, redact, shutdown).await?;
    Ok(())
}
