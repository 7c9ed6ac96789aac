//! `aistudio-server`: loads the config, installs JSON logging and serves until SIGTERM/SIGINT.

use std::path::PathBuf;
use std::time::Duration;

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
    // Before the serving runtime: the signal must be seen, and the backstop timed, by a
    // thread that the serving load cannot delay.
    let signalled = shutdown_clock(Duration::from_millis(config.server.drain_deadline_ms))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    let result = runtime.block_on(async move {
        let shutdown = async move {
            // An error means the clock thread is gone: stop serving either way.
            let _ = signalled.await;
        };
        server::run(config, shutdown).await?;
        Ok(())
    });
    // Connections still open past the close grace (clients that stopped reading) are dropped
    // here; blocking threads get a bounded wait, so the exit stays within the documented bound.
    runtime.shutdown_timeout(server::shutdown::RUNTIME_SHUTDOWN_GRACE);
    result
}

/// Starts the shutdown clock thread: on SIGTERM (ECS stop) or SIGINT (Ctrl-C) it fires the
/// returned receiver, then exits the process if it is still running `deadline` +
/// `FORCED_EXIT_AFTER_DEADLINE` later (see `server::shutdown`).
fn shutdown_clock(deadline: Duration) -> anyhow::Result<tokio::sync::oneshot::Receiver<()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let clock = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the shutdown clock")?;
    let (mut term, mut int) = {
        let _entered = clock.enter();
        (
            signal(SignalKind::terminate()).context("could not listen for SIGTERM")?,
            signal(SignalKind::interrupt()).context("could not listen for SIGINT")?,
        )
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("shutdown-clock".into())
        .spawn(move || {
            clock.block_on(async move {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                let _ = tx.send(());
                let backstop =
                    deadline.saturating_add(server::shutdown::FORCED_EXIT_AFTER_DEADLINE);
                tokio::time::sleep(backstop).await;
                tracing::warn!(
                    event = "server.shutdown_forced",
                    afterMs = u64::try_from(backstop.as_millis()).unwrap_or(u64::MAX),
                    "the graceful shutdown overran its bound (a saturated runtime); exiting now"
                );
                std::process::exit(0);
            })
        })
        .context("could not start the shutdown clock thread")?;
    Ok(rx)
}
