//! `aistudio-demo`: the whole system on one machine. It starts `aistudio-server` on simulated
//! providers (one fast, one slow, one that fails half its jobs), `aistudio-sidecar` tailing the
//! server's log file and an application log, and a traffic generator; shows a live summary
//! read from the generator's counts and the sidecar's `/metrics`; stops both with SIGTERM as
//! ECS does; renders the dashboards and alarms; and writes everything to one folder.
//!
//! Without AWS settings the sidecar's outputs are local files in that folder; with
//! `AWS_ENDPOINT_URL` (or credentials) in the environment it ships to CloudWatch Logs and
//! CloudWatch metrics instead.

pub mod procs;
pub mod prom;
pub mod readback;
pub mod report;
mod run;
pub mod screen;
pub mod traffic;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

use prom::Samples;

/// Server per-user rate limit: low enough for the noisy user's bursts to hit it.
pub const RATE_LIMIT_PER_MINUTE: u32 = 20;
/// Users the normal traffic rotates over (each stays well under the rate limit).
pub const USERS: usize = 24;
/// How long the sidecar may take to read the last lines before it is stopped anyway.
pub const CATCH_UP_LIMIT: Duration = Duration::from_secs(30);
/// Environment variables of the caller that would override the demo's server config.
const SERVER_ENV_OVERRIDES: [&str; 20] = [
    "CONFIG_FILE",
    "BIND_ADDR",
    "PORT",
    "METRICS_PORT",
    "BODY_LIMIT_BYTES",
    "KEEPALIVE_MS",
    "DRAIN_DEADLINE_MS",
    "JWT_SECRET",
    "AUTH_DISABLED",
    "JWT_LEEWAY_S",
    "RATE_LIMIT_PER_MINUTE",
    "LOG_FILE",
    "LOG_LEVEL",
    "SIM_TTFT_MS",
    "SIM_TOKENS_PER_SECOND",
    "SIM_COMPLETION_TOKENS",
    "SIM_FAILURE_RATE",
    "SIM_SEED",
    "OPENAI_BASE_URL",
    "OPENAI_MODELS",
];
/// Command line.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "aistudio-demo",
    version,
    about = "Server + sidecar + traffic, with a live summary"
)]
pub struct Options {
    /// Output folder (emptied first): redacted logs, metric datums, dashboards and alarms, report.
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
    /// Seconds of traffic.
    #[arg(long, default_value_t = 30)]
    pub duration: u64,
    /// Generator actions per second (plus the noisy user's bursts).
    #[arg(long, default_value_t = 6.0)]
    pub rate: f64,
    /// Environment name used for metrics, the log group and the rendered definitions.
    #[arg(long, default_value = "dev")]
    pub env: String,
    /// Folder holding `aistudio-server` and `aistudio-sidecar` (default: beside this binary).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Definitions root holding `dashboards/` and `alarms/`.
    #[arg(long, default_value = ".")]
    pub definitions: PathBuf,
    /// Keep the raw (unredacted) logs, configs and checkpoints here instead of a temporary
    /// folder that is removed at the end. Keep it outside `--out`: the raw logs hold secrets.
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Write every secret the generator sent (JSON array) to this file, for checking outputs.
    #[arg(long)]
    pub secrets_out: Option<PathBuf>,
    /// Seed of the traffic mix and the simulated providers.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// After the run, apply the dashboards, alarms and SNS topics where the sidecar shipped
    /// (`aistudio-sidecar provision apply`); needs AWS settings (`scripts/demo.sh --emulator`
    /// sets them for the local emulator).
    #[arg(long)]
    pub apply: bool,
    /// `provision apply --load-balancer`: the ALB's name or its `app/NAME/ID` dimension value.
    #[arg(long, requires = "apply")]
    pub load_balancer: Option<String>,
    /// `provision apply --target-group`: the target group's name or `targetgroup/NAME/ID`.
    #[arg(long, requires = "apply")]
    pub target_group: Option<String>,
}

/// True when the environment points the sidecar at AWS (or an emulator).
pub fn aws_mode() -> bool {
    aistudio_core::catalog::AWS_SETTING_VARS
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()))
}

/// The server's config: three simulated providers, auth on, a low rate limit.
pub fn server_config(port: u16, metrics_port: u16, log_file: &Path, seed: u64) -> String {
    format!(
        r#"[server]
bind = "127.0.0.1"
port = {port}
metrics_port = {metrics_port}

[rate_limit]
requests_per_minute = {RATE_LIMIT_PER_MINUTE}

[logging]
file = {log_file:?}

[providers.sim-fast]
kind = "simulated"
ttft_ms = 60
tokens_per_second = 200
completion_tokens = 24
seed = {seed}

[providers.sim-slow]
kind = "simulated"
ttft_ms = 900
tokens_per_second = 20
completion_tokens = 40
seed = {seed}

[providers.sim-flaky]
kind = "simulated"
ttft_ms = 100
tokens_per_second = 100
completion_tokens = 24
failure_rate = 0.5
seed = {seed}

[models]
"{fast}" = "sim-fast"
"{slow}" = "sim-slow"
"{flaky}" = "sim-flaky"
"#,
        fast = traffic::FAST_MODEL,
        slow = traffic::SLOW_MODEL,
        flaky = traffic::FLAKY_MODEL,
    )
}

/// The sidecar's config: tail every `*.log` in `log_dir`; locally, write logs and datums
/// into `out`; with AWS settings, use the CloudWatch defaults.
pub fn sidecar_config(
    env: &str,
    data_dir: &Path,
    log_dir: &Path,
    out: &Path,
    api_port: u16,
    aws: bool,
) -> String {
    let mut text = format!(
        r#"environment = "{env}"
data_dir = {data_dir:?}
shutdown_deadline_secs = 20

[[sources.file]]
include = [{glob:?}]
read_from = "beginning"
poll_interval_ms = 100

[api]
address = "127.0.0.1:{api_port}"

[metrics]
period_secs = 10
batch_delay_ms = 1000
"#,
        glob = log_dir.join("*.log").display().to_string(),
    );
    if !aws {
        text.push_str(&format!(
            "mode = \"file\"\nfile_path = {:?}\n\n[sinks.file]\npath = {:?}\n",
            out.join("metrics.ndjson"),
            out.join("logs.ndjson"),
        ));
    }
    text
}

fn count_lines(path: &Path) -> u64 {
    std::fs::read(path)
        .map(|b| b.iter().filter(|&&c| c == b'\n').count() as u64)
        .unwrap_or(0)
}

/// The fields of the sidecar's `aistudio-sidecar stopped` log line (its final counts).
pub fn stopped_counts(sidecar_log: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(sidecar_log).ok()?;
    text.lines().rev().find_map(|line| {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        let fields = v.get("fields")?;
        (fields.get("message")?.as_str()? == "aistudio-sidecar stopped").then(|| fields.clone())
    })
}

async fn scrape(client: &reqwest::Client, url: &str) -> Option<Samples> {
    let resp = client.get(url).send().await.ok()?;
    Some(Samples::parse(&resp.text().await.ok()?))
}

/// Mints a token with the server binary (`aistudio-server token`).
async fn mint(server_bin: &Path, secret: &str, sub: &str, ttl: i64) -> anyhow::Result<String> {
    let out = tokio::process::Command::new(server_bin)
        .args(["token", "--sub", sub, &format!("--ttl={ttl}")])
        .env("JWT_SECRET", secret)
        .output()
        .await
        .with_context(|| format!("running {} token", server_bin.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "aistudio-server token failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn random_secret(rng: &mut fastrand::Rng) -> String {
    (0..40).map(|_| rng.alphanumeric()).collect()
}

pub use run::run;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecar_config_is_local_without_aws_and_default_with_it() {
        let local = sidecar_config(
            "dev",
            Path::new("/w/d"),
            Path::new("/w/logs"),
            Path::new("/o"),
            1,
            false,
        );
        assert!(local.contains("[sinks.file]") && local.contains("/o/logs.ndjson"));
        assert!(local.contains("mode = \"file\""));
        let aws = sidecar_config(
            "dev",
            Path::new("/w/d"),
            Path::new("/w/logs"),
            Path::new("/o"),
            1,
            true,
        );
        assert!(!aws.contains("[sinks.file]") && !aws.contains("mode ="));
        assert!(aws.contains("/w/logs/*.log"));
    }

    #[test]
    fn final_counts_come_from_the_stopped_line() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let log = dir.path().join("sidecar.log");
        std::fs::write(
            &log,
            "{\"fields\":{\"message\":\"running\"}}\nnot json\n{\"fields\":{\"message\":\"aistudio-sidecar stopped\",\"events_shipped\":7}}\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let stopped = stopped_counts(&log);
        assert_eq!(stopped.and_then(|f| f["events_shipped"].as_u64()), Some(7));
        assert!(stopped_counts(&dir.path().join("missing")).is_none());
    }

    #[test]
    fn server_config_routes_each_model_to_its_provider() {
        let c = server_config(1, 2, Path::new("/l/server.log"), 7);
        assert!(c.contains("\"gemini-1.5-pro\" = \"sim-flaky\""));
        assert!(c.contains("failure_rate = 0.5"));
        assert!(c.contains("file = \"/l/server.log\""));
    }
}
