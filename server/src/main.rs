//! `aistudio-server`: loads the config, installs JSON logging and serves until SIGTERM/SIGINT.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use server::config::Config;

/// The AI Studio streaming server (OpenAI-compatible chat completions over SSE).
#[derive(Debug, Parser)]
#[command(name = "aistudio-server", version)]
struct Cli {
    /// TOML config file; environment variables override it (see server/README.md).
    #[arg(long, env = "CONFIG_FILE")]
    config: Option<PathBuf>,
    /// Development only: disable JWT authentication (logs a warning at start).
    #[arg(long)]
    dev_disable_auth: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print an HS256 token signed with JWT_SECRET (for local demos and tests).
    Token {
        /// The user id (`sub`).
        #[arg(long)]
        sub: String,
        /// Seconds until expiry (negative for an already expired token).
        #[arg(long, default_value_t = 3600, allow_hyphen_values = true)]
        ttl: i64,
        /// Seconds until the token becomes valid (`nbf`).
        #[arg(long, allow_hyphen_values = true)]
        not_before: Option<i64>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Token {
        sub,
        ttl,
        not_before,
    }) = cli.command
    {
        let secret = std::env::var("JWT_SECRET")
            .ok()
            .filter(|s| !s.is_empty())
            .context("JWT_SECRET is not set: export the secret the server uses")?;
        println!(
            "{}",
            server::auth::issue_token(&secret, &sub, ttl, not_before)?
        );
        return Ok(());
    }
    let mut config = Config::load(cli.config.as_deref()).or_else(|e| {
        // --dev-disable-auth must also rescue a config that only lacks a secret.
        if cli.dev_disable_auth {
            let mut c = match cli.config.as_deref() {
                Some(p) => Config::from_file(p)?,
                None => Config::default(),
            };
            c.apply_env(|n| std::env::var(n).ok())?;
            c.auth.disabled = true;
            c.validate()?;
            Ok(c)
        } else {
            Err(e)
        }
    })?;
    if cli.dev_disable_auth {
        config.auth.disabled = true;
    }
    server::logging::init(&config.logging).context("could not set up logging")?;
    // Before the runtime's threads exist: see fd_table.rs for why.
    match server::fd_table::prepare() {
        Ok(t) if t.soft_limit < 16_384 => tracing::warn!(
            event = "server.fd_limit",
            softLimit = t.soft_limit,
            "the open-files limit caps concurrent streams below 16,384: raise nofile (ulimits in the ECS task definition)"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(
            event = "server.fd_limit",
            error = %e,
            "could not pre-size the descriptor table; the first connections past each power of two may stall ~10 ms"
        ),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(async move {
        let shutdown = shutdown_signal()?;
        server::run(config, shutdown).await?;
        Ok(())
    })
}

/// Resolves on SIGTERM (ECS stop) or SIGINT (Ctrl-C).
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("could not listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("could not listen for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}
