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
pub mod report;
pub mod screen;
pub mod traffic;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;

use procs::{free_port, Proc};
use prom::Samples;
use report::Summary;
use screen::{Frame, Screen};
use traffic::{Generator, User};

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

/// Runs the demo and returns its summary (also written to `out/summary.json`).
pub async fn run(opts: Options) -> anyhow::Result<Summary> {
    let bin_dir = match &opts.bin_dir {
        Some(d) => d.clone(),
        None => std::env::current_exe()
            .context("locating aistudio-demo")?
            .parent()
            .map(Path::to_path_buf)
            .context("aistudio-demo has no parent folder")?,
    };
    let server_bin = bin_dir.join("aistudio-server");
    let sidecar_bin = bin_dir.join("aistudio-sidecar");
    for b in [&server_bin, &sidecar_bin] {
        anyhow::ensure!(
            b.is_file(),
            "{} not found (build it first: cargo build --release -p server -p daemon)",
            b.display()
        );
    }
    let aws = aws_mode();

    // Folders: `out` for what the user keeps, a work dir for raw logs (they hold secrets).
    if opts.out.exists() {
        std::fs::remove_dir_all(&opts.out)
            .with_context(|| format!("emptying {}", opts.out.display()))?;
    }
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("creating {}", opts.out.display()))?;
    let out = std::fs::canonicalize(&opts.out)?;
    let temp;
    let work = match &opts.work_dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            std::fs::canonicalize(d)?
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("aistudio-demo-")
                .tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let log_dir = work.join("logs");
    let data_dir = work.join("sidecar");
    std::fs::create_dir_all(&log_dir)?;
    std::fs::create_dir_all(&data_dir)?;
    let server_log = log_dir.join("server.log");
    let app_log = log_dir.join("app.log");

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .context("building the http client")?;
    let mut rng = fastrand::Rng::with_seed(opts.seed ^ u64::from(std::process::id()));
    let jwt_secret = random_secret(&mut rng);

    // The sidecar first (as in the ECS task), then the server.
    let api_port = free_port()?;
    let sidecar_toml = work.join("sidecar.toml");
    std::fs::write(
        &sidecar_toml,
        sidecar_config(&opts.env, &data_dir, &log_dir, &out, api_port, aws),
    )?;
    let sidecar_log = out.join("sidecar.log");
    let mut sidecar = Proc::spawn(
        "aistudio-sidecar",
        &sidecar_bin,
        &["run", "--config", &sidecar_toml.to_string_lossy()],
        &[("AISTUDIO_ENV", opts.env.clone())],
        &["AISTUDIO_LOG_GROUP"],
        &sidecar_log,
    )?;
    let sidecar_metrics = format!("http://127.0.0.1:{api_port}/metrics");
    sidecar
        .wait_ready(
            &client,
            &format!("http://127.0.0.1:{api_port}/health"),
            Duration::from_secs(30),
        )
        .await?;

    let (port, metrics_port) = (free_port()?, free_port()?);
    let server_toml = work.join("server.toml");
    std::fs::write(
        &server_toml,
        server_config(port, metrics_port, &server_log, opts.seed),
    )?;
    let mut server = Proc::spawn(
        "aistudio-server",
        &server_bin,
        &["--config", &server_toml.to_string_lossy()],
        &[("JWT_SECRET", jwt_secret.clone())],
        &SERVER_ENV_OVERRIDES,
        &work.join("server.stderr"),
    )?;
    let base = format!("http://127.0.0.1:{port}");
    server
        .wait_ready(
            &client,
            &format!("{base}/api/health"),
            Duration::from_secs(30),
        )
        .await?;

    // Users: half of them are e-mail addresses (they become `userId` in the server's logs).
    let mut users = Vec::new();
    for i in 0..USERS {
        let sub = if i % 2 == 0 {
            format!("customer{i}.{}@example.com", rng.u32(100..999))
        } else {
            format!("user-{i:03}")
        };
        let token = mint(&server_bin, &jwt_secret, &sub, 3600).await?;
        users.push(User { sub, token });
    }
    let noisy = User {
        sub: traffic::NOISY_USER.to_owned(),
        token: mint(&server_bin, &jwt_secret, traffic::NOISY_USER, 3600).await?,
    };
    let bad_tokens = vec![
        mint(&server_bin, &jwt_secret, "expired-user@example.com", -60).await?,
        mint(
            &server_bin,
            &random_secret(&mut rng),
            "forger@example.com",
            3600,
        )
        .await?,
        "not-a-jwt".to_owned(),
    ];
    let generator = Arc::new(Generator::new(
        client.clone(),
        &base,
        users,
        noisy,
        bad_tokens,
        app_log.clone(),
        opts.seed,
    )?);

    let destination = if aws {
        format!(
            "CloudWatch ({})",
            std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "AWS".to_owned())
        )
    } else {
        format!("{}", out.display())
    };
    let duration = Duration::from_secs(opts.duration);
    let started = Instant::now();
    let mut screen = Screen::new(std::io::stdout().is_terminal());
    let traffic = tokio::spawn(Arc::clone(&generator).run(duration, opts.rate));
    let metrics_file = out.join("metrics.ndjson");
    let datums = |samples: &Option<Samples>| {
        if aws {
            samples.as_ref().map_or(0, |s| {
                s.total("aistudio_sidecar_metric_datums_published_total")
            })
        } else {
            count_lines(&metrics_file)
        }
    };
    let frame = |elapsed, sidecar: Option<Samples>| Frame {
        elapsed,
        datums: datums(&sidecar),
        duration,
        counts: generator.counts.snapshot(),
        lines_written: count_lines(&server_log) + count_lines(&app_log),
        sidecar,
        destination: destination.clone(),
    };
    let mut refresh = tokio::time::interval(Duration::from_millis(500));
    while !traffic.is_finished() {
        refresh.tick().await;
        let samples = scrape(&client, &sidecar_metrics).await;
        screen.draw(&frame(started.elapsed(), samples));
    }
    traffic.await.context("the traffic generator panicked")?;

    // Stop the server (it drains and logs server.stopped), let the sidecar read every line,
    // then stop it: it flushes logs and the open metric periods and exits 0.
    let server_status = server.terminate(Duration::from_secs(30)).await?;
    let lines_in = count_lines(&server_log) + count_lines(&app_log);
    let catch_up = Instant::now();
    let mut last = scrape(&client, &sidecar_metrics).await;
    while last
        .as_ref()
        .map_or(0, |s| s.total("aistudio_sidecar_lines_read_total"))
        < lines_in
        && catch_up.elapsed() < CATCH_UP_LIMIT
    {
        refresh.tick().await;
        last = scrape(&client, &sidecar_metrics).await;
        screen.draw(&frame(started.elapsed(), last.clone()));
    }
    let sidecar_status = sidecar.terminate(Duration::from_secs(40)).await?;
    // The counters after the final flush, from the sidecar's last log line.
    if let Some(stopped) = stopped_counts(&sidecar_log) {
        let samples = last.get_or_insert_with(Samples::default);
        for (field, metric) in [
            ("lines_read", "aistudio_sidecar_lines_read_total"),
            ("events_shipped", "aistudio_sidecar_events_shipped_total"),
            ("events_dropped", "aistudio_sidecar_events_dropped_total"),
        ] {
            if let Some(v) = stopped.get(field).and_then(serde_json::Value::as_u64) {
                samples.set(metric, v);
            }
        }
    }
    let mut final_frame = frame(started.elapsed(), last.clone());
    if !aws {
        // The sidecar closed its open metric periods on SIGTERM.
        final_frame.datums = count_lines(&metrics_file);
    }
    screen.finish(&final_frame);

    // Dashboards and alarms as `provision apply` would send them.
    let provision_dir = out.join("provision");
    let render = tokio::process::Command::new(&sidecar_bin)
        .args(["provision", "render", "--env", &opts.env, "--out"])
        .arg(&provision_dir)
        .arg("--dir")
        .arg(&opts.definitions)
        .output()
        .await
        .context("running aistudio-sidecar provision render")?;
    let render_error = (!render.status.success())
        .then(|| String::from_utf8_lossy(&render.stderr).trim().to_owned());

    if let Some(path) = &opts.secrets_out {
        std::fs::write(path, serde_json::to_vec_pretty(&generator.secrets())?)
            .with_context(|| format!("writing {}", path.display()))?;
    }

    let summary = Summary {
        env: opts.env.clone(),
        aws,
        duration_secs: opts.duration,
        counts: generator.counts.snapshot(),
        lines_in,
        server_lines: count_lines(&server_log),
        app_lines: count_lines(&app_log),
        lines_out: (!aws).then(|| count_lines(&out.join("logs.ndjson"))),
        metric_datums: final_frame.datums,
        sidecar: report::SidecarStats::from(&last.unwrap_or_default()),
        server_exit: server_status.code(),
        sidecar_exit: sidecar_status.code(),
        out: out.clone(),
        provision_error: render_error,
        kept_work_dir: opts.work_dir.as_ref().map(|_| work.clone()),
    };
    summary.write(&out)?;
    println!("{}", summary.where_it_went());
    anyhow::ensure!(
        summary.server_exit == Some(0) && summary.sidecar_exit == Some(0),
        "server exited {:?}, sidecar exited {:?} (see {})",
        summary.server_exit,
        summary.sidecar_exit,
        sidecar_log.display()
    );
    Ok(summary)
}

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
