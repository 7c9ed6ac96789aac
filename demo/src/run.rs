//! The demo's run, step by step: find the binaries, prepare the folders, start the sidecar
//! then the server (as in the ECS task), generate traffic under a live summary, stop both
//! with SIGTERM, render the dashboards and alarms, write the summary.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::procs::{free_port, Proc};
use crate::prom::Samples;
use crate::readback;
use crate::report::{self, Summary};
use crate::screen::{Frame, Screen};
use crate::traffic::{self, Generator, User};
use crate::{
    aws_mode, count_lines, mint, random_secret, scrape, server_config, sidecar_config,
    stopped_counts, Options, CATCH_UP_LIMIT, SERVER_ENV_OVERRIDES, USERS,
};

/// How long a process may take to answer its health check after it starts.
const READY_LIMIT: Duration = Duration::from_secs(30);
/// How often the live summary is redrawn.
const REFRESH: Duration = Duration::from_millis(500);

/// The binaries the demo runs.
struct Binaries {
    server: PathBuf,
    sidecar: PathBuf,
}

/// Where everything goes: `out` for what the user keeps, `work` for raw logs (they hold
/// secrets) and configs.
struct Folders {
    out: PathBuf,
    work: PathBuf,
    log_dir: PathBuf,
    data_dir: PathBuf,
    server_log: PathBuf,
    app_log: PathBuf,
    sidecar_log: PathBuf,
    metrics_file: PathBuf,
    /// Removes the work folder at the end unless `--work-dir` was given.
    _temp: Option<tempfile::TempDir>,
}

/// The two running processes.
struct Processes {
    sidecar: Proc,
    server: Proc,
    sidecar_metrics: String,
    base_url: String,
}

/// Runs the demo and returns its summary (also written to `out/summary.json`).
pub async fn run(opts: Options) -> anyhow::Result<Summary> {
    let bins = binaries(&opts)?;
    let aws = aws_mode();
    anyhow::ensure!(
        aws || !opts.apply,
        "--apply needs AWS settings (AWS_ENDPOINT_URL or credentials); scripts/demo.sh --emulator sets them for a local AWS emulator"
    );
    let window_start = time::OffsetDateTime::now_utc() - time::Duration::minutes(1);
    let folders = prepare_folders(&opts)?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .context("building the http client")?;
    let mut rng = fastrand::Rng::with_seed(opts.seed ^ u64::from(std::process::id()));
    let jwt_secret = random_secret(&mut rng);
    let mut procs = start_processes(&opts, &bins, &folders, &client, &jwt_secret, aws).await?;
    let generator = Arc::new(
        generator(
            &opts,
            &bins,
            &folders,
            &client,
            &procs.base_url,
            &jwt_secret,
            &mut rng,
        )
        .await?,
    );

    let live = Live {
        client: &client,
        folders: &folders,
        generator: &generator,
        aws,
        duration: Duration::from_secs(opts.duration),
        started: Instant::now(),
        traffic_took: std::sync::OnceLock::new(),
        destination: destination(aws, &folders.out),
        sidecar_metrics: procs.sidecar_metrics.clone(),
    };
    let mut screen = Screen::new(std::io::stdout().is_terminal());
    live.watch_traffic(&mut screen, opts.rate).await?;
    let _ = live.traffic_took.set(live.started.elapsed());
    let (statuses, last, lines_in) = live.stop(&mut procs, &mut screen).await?;
    let final_frame = live.final_frame(last.clone());
    screen.finish(&final_frame);

    let provision_error = render_definitions(&opts, &bins, &folders).await?;
    let preview_error = preview_dashboards(&opts, &bins, &folders, aws).await?;
    let apply_error = if opts.apply {
        apply_definitions(&opts, &bins).await?
    } else {
        None
    };
    let target = aws.then(|| readback::Target {
        env: opts.env.clone(),
        endpoint: std::env::var("AWS_ENDPOINT_URL")
            .ok()
            .filter(|v| !v.is_empty()),
        from: rfc3339(window_start),
        to: rfc3339(time::OffsetDateTime::now_utc() + time::Duration::minutes(5)),
        alarms: opts.apply && apply_error.is_none(),
    });
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
        server_lines: count_lines(&folders.server_log),
        app_lines: count_lines(&folders.app_log),
        lines_out: (!aws).then(|| count_lines(&folders.out.join("logs.ndjson"))),
        metric_datums: final_frame.datums,
        sidecar: report::SidecarStats::from(&last.unwrap_or_default()),
        server_exit: statuses.0.code(),
        sidecar_exit: statuses.1.code(),
        out: folders.out.clone(),
        provision_error,
        preview_error,
        kept_work_dir: opts.work_dir.as_ref().map(|_| folders.work.clone()),
        log_group: target.as_ref().map(readback::Target::log_group),
        applied: opts.apply,
        apply_error,
        readback: target
            .as_ref()
            .map(readback::Target::commands)
            .unwrap_or_default(),
    };
    summary.write(&folders.out)?;
    println!("{}", summary.where_it_went());
    // The pages are written even when some input was bad (the error says what).
    if summary.preview_index().is_file() {
        println!("Dashboard previews: {}", summary.preview_index().display());
    }
    match &target {
        Some(target) => println!("{}", target.text()),
        None => println!("{}", readback::local_next_step(&opts.out)),
    }
    anyhow::ensure!(
        summary.server_exit == Some(0) && summary.sidecar_exit == Some(0),
        "server exited {:?}, sidecar exited {:?} (see {})",
        summary.server_exit,
        summary.sidecar_exit,
        folders.sidecar_log.display()
    );
    Ok(summary)
}

fn binaries(opts: &Options) -> anyhow::Result<Binaries> {
    let bin_dir = match &opts.bin_dir {
        Some(d) => d.clone(),
        None => std::env::current_exe()
            .context("locating aistudio-demo")?
            .parent()
            .map(Path::to_path_buf)
            .context("aistudio-demo has no parent folder")?,
    };
    let bins = Binaries {
        server: bin_dir.join("aistudio-server"),
        sidecar: bin_dir.join("aistudio-sidecar"),
    };
    for b in [&bins.server, &bins.sidecar] {
        anyhow::ensure!(
            b.is_file(),
            "{} not found (build it first: cargo build --release -p server -p daemon)",
            b.display()
        );
    }
    Ok(bins)
}

fn prepare_folders(opts: &Options) -> anyhow::Result<Folders> {
    if opts.out.exists() {
        std::fs::remove_dir_all(&opts.out)
            .with_context(|| format!("emptying {}", opts.out.display()))?;
    }
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("creating {}", opts.out.display()))?;
    let out = std::fs::canonicalize(&opts.out)?;
    let (work, temp) = match &opts.work_dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            (std::fs::canonicalize(d)?, None)
        }
        None => {
            let temp = tempfile::Builder::new()
                .prefix("aistudio-demo-")
                .tempdir()?;
            (temp.path().to_path_buf(), Some(temp))
        }
    };
    let log_dir = work.join("logs");
    let data_dir = work.join("sidecar");
    std::fs::create_dir_all(&log_dir)?;
    std::fs::create_dir_all(&data_dir)?;
    Ok(Folders {
        server_log: log_dir.join("server.log"),
        app_log: log_dir.join("app.log"),
        sidecar_log: out.join("sidecar.log"),
        metrics_file: out.join("metrics.ndjson"),
        out,
        work,
        log_dir,
        data_dir,
        _temp: temp,
    })
}

/// The sidecar first (as in the ECS task), then the server; each is ready when its health
/// check answers.
async fn start_processes(
    opts: &Options,
    bins: &Binaries,
    folders: &Folders,
    client: &reqwest::Client,
    jwt_secret: &str,
    aws: bool,
) -> anyhow::Result<Processes> {
    let api_port = free_port()?;
    let sidecar_toml = folders.work.join("sidecar.toml");
    std::fs::write(
        &sidecar_toml,
        sidecar_config(
            &opts.env,
            &folders.data_dir,
            &folders.log_dir,
            &folders.out,
            api_port,
            aws,
        ),
    )?;
    let mut sidecar = Proc::spawn(
        "aistudio-sidecar",
        &bins.sidecar,
        &["run", "--config", &sidecar_toml.to_string_lossy()],
        &[("AISTUDIO_ENV", opts.env.clone())],
        &["AISTUDIO_LOG_GROUP"],
        &folders.sidecar_log,
    )?;
    let health = format!("http://127.0.0.1:{api_port}/health");
    sidecar.wait_ready(client, &health, READY_LIMIT).await?;

    let (port, metrics_port) = (free_port()?, free_port()?);
    let server_toml = folders.work.join("server.toml");
    std::fs::write(
        &server_toml,
        server_config(port, metrics_port, &folders.server_log, opts.seed),
    )?;
    let mut server = Proc::spawn(
        "aistudio-server",
        &bins.server,
        &["--config", &server_toml.to_string_lossy()],
        &[("JWT_SECRET", jwt_secret.to_owned())],
        &SERVER_ENV_OVERRIDES,
        &folders.work.join("server.stderr"),
    )?;
    let base_url = format!("http://127.0.0.1:{port}");
    server
        .wait_ready(client, &format!("{base_url}/api/health"), READY_LIMIT)
        .await?;
    Ok(Processes {
        sidecar,
        server,
        sidecar_metrics: format!("http://127.0.0.1:{api_port}/metrics"),
        base_url,
    })
}

/// The traffic generator with its users: half of them are e-mail addresses (they become
/// `userId` in the server's logs), one noisy user, and three kinds of bad token.
async fn generator(
    opts: &Options,
    bins: &Binaries,
    folders: &Folders,
    client: &reqwest::Client,
    base_url: &str,
    jwt_secret: &str,
    rng: &mut fastrand::Rng,
) -> anyhow::Result<Generator> {
    let mut users = Vec::new();
    for i in 0..USERS {
        let sub = if i % 2 == 0 {
            format!("customer{i}.{}@example.com", rng.u32(100..999))
        } else {
            format!("user-{i:03}")
        };
        let token = mint(&bins.server, jwt_secret, &sub, 3600).await?;
        users.push(User { sub, token });
    }
    let noisy = User {
        sub: traffic::NOISY_USER.to_owned(),
        token: mint(&bins.server, jwt_secret, traffic::NOISY_USER, 3600).await?,
    };
    let forged_with = random_secret(rng);
    let bad_tokens = vec![
        mint(&bins.server, jwt_secret, "expired-user@example.com", -60).await?,
        mint(&bins.server, &forged_with, "forger@example.com", 3600).await?,
        "not-a-jwt".to_owned(),
    ];
    Ok(Generator::new(
        client.clone(),
        base_url,
        users,
        noisy,
        bad_tokens,
        folders.app_log.clone(),
        opts.seed,
    )?)
}

fn destination(aws: bool, out: &Path) -> String {
    if aws {
        format!(
            "CloudWatch ({})",
            std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "AWS".to_owned())
        )
    } else {
        format!("{}", out.display())
    }
}

/// What the live summary reads.
struct Live<'a> {
    client: &'a reqwest::Client,
    folders: &'a Folders,
    generator: &'a Arc<Generator>,
    aws: bool,
    duration: Duration,
    started: Instant,
    /// Set when the traffic ends: the clock then shows catch-up and shutdown apart.
    traffic_took: std::sync::OnceLock<Duration>,
    destination: String,
    sidecar_metrics: String,
}

impl Live<'_> {
    fn datums(&self, samples: &Option<Samples>) -> u64 {
        if self.aws {
            samples.as_ref().map_or(0, |s| {
                s.total("aistudio_sidecar_metric_datums_published_total")
            })
        } else {
            count_lines(&self.folders.metrics_file)
        }
    }

    fn lines_written(&self) -> u64 {
        count_lines(&self.folders.server_log) + count_lines(&self.folders.app_log)
    }

    fn frame(&self, sidecar: Option<Samples>) -> Frame {
        Frame {
            elapsed: self.started.elapsed(),
            datums: self.datums(&sidecar),
            duration: self.duration,
            traffic_took: self.traffic_took.get().copied(),
            counts: self.generator.counts.snapshot(),
            lines_written: self.lines_written(),
            sidecar,
            destination: self.destination.clone(),
        }
    }

    /// Runs the traffic, redrawing the summary until it ends.
    async fn watch_traffic(&self, screen: &mut Screen, rate: f64) -> anyhow::Result<()> {
        let traffic = tokio::spawn(Arc::clone(self.generator).run(self.duration, rate));
        let mut refresh = tokio::time::interval(REFRESH);
        while !traffic.is_finished() {
            refresh.tick().await;
            let samples = scrape(self.client, &self.sidecar_metrics).await;
            screen.draw(&self.frame(samples));
        }
        traffic.await.context("the traffic generator panicked")?;
        Ok(())
    }

    /// Stops the server (it drains and logs `server.stopped`), lets the sidecar read every
    /// line, then stops it: it flushes logs and the open metric periods and exits 0. Returns
    /// both exit statuses, the sidecar's last counters and the lines written.
    async fn stop(
        &self,
        procs: &mut Processes,
        screen: &mut Screen,
    ) -> anyhow::Result<((ExitStatus, ExitStatus), Option<Samples>, u64)> {
        let server_status = procs.server.terminate(Duration::from_secs(30)).await?;
        let lines_in = self.lines_written();
        let catch_up = Instant::now();
        let mut refresh = tokio::time::interval(REFRESH);
        let mut last = scrape(self.client, &self.sidecar_metrics).await;
        while last
            .as_ref()
            .map_or(0, |s| s.total("aistudio_sidecar_lines_read_total"))
            < lines_in
            && catch_up.elapsed() < CATCH_UP_LIMIT
        {
            refresh.tick().await;
            last = scrape(self.client, &self.sidecar_metrics).await;
            screen.draw(&self.frame(last.clone()));
        }
        let sidecar_status = procs.sidecar.terminate(Duration::from_secs(40)).await?;
        // The counters after the final flush, from the sidecar's last log line.
        if let Some(stopped) = stopped_counts(&self.folders.sidecar_log) {
            let samples = last.get_or_insert_with(Samples::default);
            for (field, metric) in [
                ("lines_read", "aistudio_sidecar_lines_read_total"),
                ("events_shipped", "aistudio_sidecar_events_shipped_total"),
                ("events_dropped", "aistudio_sidecar_events_dropped_total"),
                (
                    "metric_datums_published",
                    "aistudio_sidecar_metric_datums_published_total",
                ),
            ] {
                if let Some(v) = stopped.get(field).and_then(serde_json::Value::as_u64) {
                    samples.set(metric, v);
                }
            }
        }
        Ok(((server_status, sidecar_status), last, lines_in))
    }

    fn final_frame(&self, last: Option<Samples>) -> Frame {
        let mut frame = self.frame(last);
        if !self.aws {
            // The sidecar closed its open metric periods on SIGTERM.
            frame.datums = count_lines(&self.folders.metrics_file);
        }
        frame
    }
}

/// Dashboards and alarms as `provision apply` would send them; the error text if rendering
/// failed (the demo reports it rather than failing).
async fn render_definitions(
    opts: &Options,
    bins: &Binaries,
    folders: &Folders,
) -> anyhow::Result<Option<String>> {
    let provision_dir = folders.out.join("provision");
    let render = tokio::process::Command::new(&bins.sidecar)
        .args(["provision", "render", "--env", &opts.env, "--out"])
        .arg(&provision_dir)
        .arg("--dir")
        .arg(&opts.definitions)
        .output()
        .await
        .context("running aistudio-sidecar provision render")?;
    Ok((!render.status.success())
        .then(|| String::from_utf8_lossy(&render.stderr).trim().to_owned()))
}

/// `provision apply` for the demo's environment where the sidecar shipped; the error text if
/// it failed (reported, not fatal). Its report goes to the terminal.
async fn apply_definitions(opts: &Options, bins: &Binaries) -> anyhow::Result<Option<String>> {
    let mut cmd = tokio::process::Command::new(&bins.sidecar);
    cmd.args(["provision", "apply", "--env", &opts.env, "--dir"])
        .arg(&opts.definitions)
        .env_remove("AISTUDIO_ENV");
    if let Some(lb) = &opts.load_balancer {
        cmd.args(["--load-balancer", lb]);
    }
    if let Some(tg) = &opts.target_group {
        cmd.args(["--target-group", tg]);
    }
    let apply = cmd
        .output()
        .await
        .context("running aistudio-sidecar provision apply")?;
    if apply.status.success() {
        let report = String::from_utf8_lossy(&apply.stdout);
        println!(
            "\nprovision apply --env {}:\n{}",
            opts.env,
            report.trim_end()
        );
        Ok(None)
    } else {
        Ok(Some(
            String::from_utf8_lossy(&apply.stderr).trim().to_owned(),
        ))
    }
}

/// `2026-01-05T10:00:00Z`: what the AWS CLI takes as a time (sub-seconds dropped).
fn rfc3339(at: time::OffsetDateTime) -> String {
    let at = at.replace_nanosecond(0).unwrap_or(at);
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

/// Dashboard previews drawn from this run's datums (the file, or CloudWatch in AWS mode),
/// into `out/previews`; the error text if the preview failed (reported, not fatal).
async fn preview_dashboards(
    opts: &Options,
    bins: &Binaries,
    folders: &Folders,
    aws: bool,
) -> anyhow::Result<Option<String>> {
    let mut cmd = tokio::process::Command::new(&bins.sidecar);
    cmd.args(["dashboards", "preview", "--env", &opts.env, "--out"])
        .arg(folders.out.join(report::PREVIEW_DIR))
        .arg("--dir")
        .arg(&opts.definitions);
    if aws {
        cmd.args(["--cloudwatch", "--minutes", "30"]);
    } else {
        cmd.arg("--data").arg(&folders.metrics_file);
    }
    let preview = cmd
        .output()
        .await
        .context("running aistudio-sidecar dashboards preview")?;
    Ok((!preview.status.success())
        .then(|| String::from_utf8_lossy(&preview.stderr).trim().to_owned()))
}
