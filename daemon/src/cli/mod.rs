//! Command line of `aistudio-sidecar`: one subcommand per verb, errors reported at the edge.

mod alarms;
mod dashboards;
mod own_logs;
mod relay;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::SidecarConfig;
use crate::redact::{RedactConfig, Redactor};

/// The AI Studio observability sidecar.
#[derive(Debug, Parser)]
#[command(name = "aistudio-sidecar", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The sidecar's verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the pipeline: read log lines, redact, ship logs and metrics.
    Run {
        /// TOML config file; without it the embedded local default is used.
        #[arg(long, short, env = "AISTUDIO_SIDECAR_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Check a config file and report every problem; exits non-zero on any.
    Validate {
        /// TOML config file to check.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Redact lines from stdin to stdout, one line out for each line in.
    Redact {
        /// TOML config file (its `[redact]` section is used).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Dashboards, alarms and SNS topics as code: validate, plan, apply, render.
    Provision(provision::ProvisionArgs),
    /// Alarm unit tests, offline: `alarms test [PATHS]`.
    Alarms(alarms::AlarmsArgs),
    /// SNS → Slack relay: verify every SNS message, post alarms to a Slack webhook.
    Relay(relay::RelayArgs),
    /// Dashboard previews from metric datums: `dashboards preview --env ENV --data FILE --out DIR`.
    Dashboards(dashboards::DashboardsArgs),
}

/// Runs the chosen verb and maps the outcome to the process exit code.
pub async fn execute(cli: Cli) -> ExitCode {
    match dispatch(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` prints the whole context chain on one line; it may quote input (a config
            // value, a log line), so it goes through the default redactor like every log.
            let message = format!("{err:#}");
            let clean = match Redactor::new(&RedactConfig::default()) {
                Ok(redactor) => redactor.redact_str(&message).into_owned(),
                Err(_) => message,
            };
            eprintln!("aistudio-sidecar: error: {clean}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run { config } => {
            // Handlers first: a SIGTERM during start-up must drain, not kill.
            let shutdown = crate::shutdown::signal();
            let config = SidecarConfig::load(config.as_deref())?;
            // One redactor for the pipeline and the daemon's own logs: its compiled rules
            // are most of an idle sidecar's memory.
            let redactor = std::sync::Arc::new(Redactor::new(&config.redact)?);
            own_logs::init(std::sync::Arc::clone(&redactor));
            crate::run(config, redactor, shutdown).await
        }
        Command::Validate { config } => {
            SidecarConfig::load(Some(&config))?;
            println!("{}: ok", config.display());
            Ok(())
        }
        Command::Redact { config } => {
            let config = SidecarConfig::load(config.as_deref())?;
            crate::redact::filter_stdio(&config.redact)?;
            Ok(())
        }
        Command::Provision(args) => {
            // The `[aws]` section with AWS_REGION / AWS_ENDPOINT_URL applied.
            let config = SidecarConfig::load(None).context("cannot load the sidecar config")?;
            provision::execute(args, config.aws).await
        }
        Command::Alarms(args) => alarms::execute(args),
        Command::Relay(args) => relay::execute(args).await,
        Command::Dashboards(args) => {
            let config = SidecarConfig::load(None).context("cannot load the sidecar config")?;
            dashboards::execute(args, config.aws).await
        }
    }
}
