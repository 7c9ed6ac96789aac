//! `aistudio-bench`: spawns `aistudio-server` on the simulated provider and opens N concurrent
//! SSE streams against it over raw HTTP/1.1 sockets, then reports streams/s, tokens/s,
//! p50/p99 time to first byte and first token, peak concurrent streams and the server's peak RSS.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Parser;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Load tool for the streaming server (see server/README.md).
#[derive(Debug, Parser)]
#[command(name = "aistudio-bench")]
struct Args {
    /// Concurrent streams to open.
    #[arg(long, default_value_t = 1000)]
    streams: usize,
    /// Tokens per completion (SIM_COMPLETION_TOKENS).
    #[arg(long, default_value_t = 16)]
    tokens: u32,
    /// Simulated time to first token in ms (0 = the provider adds no delay).
    #[arg(long, default_value_t = 0)]
    ttft_ms: u64,
    /// Simulated tokens per second (0 = no delay); a low rate keeps streams open to measure holding N.
    #[arg(long, default_value_t = 0)]
    tokens_per_second: u32,
    /// Connection attempts in flight at once while opening the streams.
    #[arg(long, default_value_t = 512)]
    connect_concurrency: usize,
    /// Open-loop arrivals: start stream i at i / RATE seconds (0 = closed loop, each stream
    /// starts as soon as a `--connect-concurrency` slot frees). A fixed rate measures latency at
    /// a known load instead of at whatever rate saturates the two processes.
    #[arg(long, default_value_t = 0.0)]
    open_rate: f64,
    /// Pin the server to these CPUs (`taskset -c LIST`), e.g. `0` while this tool runs
    /// under `taskset -c 1`, so the load generator does not compete with the server.
    #[arg(long)]
    server_cpus: Option<String>,
    /// Server binary (default: `aistudio-server` next to this binary).
    #[arg(long)]
    server_bin: Option<PathBuf>,
}

#[derive(Debug, Default, Clone)]
struct StreamResult {
    /// Request written → first byte of the response (status line).
    ttfb: Duration,
    /// Request written → first byte of the first SSE `data:` event (the role chunk).
    ttfd: Duration,
    ttft: Duration,
    tokens: u64,
    ok: bool,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// CPU seconds (user + system) the process has used, from `/proc/PID/stat`.
fn proc_cpu_s(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the `(comm)`, which may itself hold spaces; utime and stime are 14 and 15.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // USER_HZ is 100 on every Linux ABI Rust targets.
    Some(ticks / 100.0)
}

fn proc_status_kb(pid: u32, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

const DATA_MARK: &str = "data: ";
const TOKEN_MARK: &str = "\"delta\":{\"content\":\"";
const DONE_MARK: &str = "data: [DONE]";

/// Matches of `pat` in `hay` that end after byte `from` (so a carried-over tail is not recounted).
fn count_new(hay: &str, pat: &str, from: usize) -> u64 {
    hay.match_indices(pat)
        .filter(|(i, m)| i + m.len() > from)
        .count() as u64
}

async fn one_stream(
    port: u16,
    open: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    permit: OwnedSemaphorePermit,
) -> anyhow::Result<StreamResult> {
    let body =
        r#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"benchmark"}]}"#;
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut permit = Some(permit);
    let mut sock = TcpStream::connect(("127.0.0.1", port))
        .await
        .context("connect")?;
    sock.set_nodelay(true)?;
    let start = Instant::now();
    sock.write_all(request.as_bytes()).await?;
    let mut buf = vec![0u8; 8 * 1024];
    let mut result = StreamResult::default();
    let mut carry = String::new();
    loop {
        let n = sock.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        if permit.take().is_some() {
            // First byte: the stream is open; let the next connection start.
            result.ttfb = start.elapsed();
            let now = open.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
        }
        let from = carry.len();
        carry.push_str(&String::from_utf8_lossy(&buf[..n]));
        let tokens = count_new(&carry, TOKEN_MARK, from);
        if result.ttfd.is_zero() && count_new(&carry, DATA_MARK, from) > 0 {
            result.ttfd = start.elapsed();
        }
        if tokens > 0 && result.tokens == 0 {
            result.ttft = start.elapsed();
        }
        result.tokens += tokens;
        if count_new(&carry, DONE_MARK, from) > 0 {
            result.ok = true;
            break;
        }
        let keep = carry.len().saturating_sub(32);
        let cut = (keep..=carry.len())
            .find(|i| carry.is_char_boundary(*i))
            .unwrap_or(carry.len());
        carry.drain(..cut);
    }
    if permit.is_none() {
        open.fetch_sub(1, Ordering::SeqCst);
    }
    Ok(result)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The load tool holds as many sockets as the server: same limit and table sizing.
    let fds = server::fd_table::prepare().context("could not size the descriptor table")?;
    if (fds.soft_limit as usize) < args.streams + 64 {
        bail!(
            "the open-files limit ({}) is below --streams {} plus slack: raise it with ulimit -n",
            fds.soft_limit,
            args.streams
        );
    }
    let bin = match args.server_bin {
        Some(b) => b,
        None => std::env::current_exe()?
            .parent()
            .context("bench binary has no parent directory")?
            .join("aistudio-server"),
    };
    let mut command = match &args.server_cpus {
        Some(cpus) => {
            let mut c = tokio::process::Command::new("taskset");
            c.arg("-c").arg(cpus).arg(&bin);
            c
        }
        None => tokio::process::Command::new(&bin),
    };
    let mut child = command
        .env("PORT", "0")
        .env("METRICS_PORT", "0")
        .env("BIND_ADDR", "127.0.0.1")
        .env("AUTH_DISABLED", "true")
        .env("RATE_LIMIT_PER_MINUTE", "0")
        // Every stream is a connection: the cap must not turn the load into 503s.
        .env("MAX_CONNECTIONS", (args.streams + 64).to_string())
        .env("SIM_TTFT_MS", args.ttft_ms.to_string())
        .env("SIM_TOKENS_PER_SECOND", args.tokens_per_second.to_string())
        .env("SIM_COMPLETION_TOKENS", args.tokens.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| {
            format!(
                "could not start {}; build it with cargo build --release -p server",
                bin.display()
            )
        })?;
    let pid = child.id().context("server exited at once")?;
    let stdout = child.stdout.take().context("no server stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut port = 0u16;
    while let Some(line) = lines.next_line().await? {
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if v["event"] == "server.started" {
            port = v["port"]
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(0);
            break;
        }
    }
    if port == 0 {
        bail!("the server did not log server.started");
    }
    // Drain (and so pay for) the server's log lines like a real log shipper would.
    // The server's own `job.first_token` durations split a slow first token into server time
    // (logged there) and load-tool time (the rest).
    let log_lines = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&log_lines);
    let server_ttft_ms = Arc::new(std::sync::Mutex::new(Vec::<Duration>::new()));
    let server_ttft = Arc::clone(&server_ttft_ms);
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            counter.fetch_add(1, Ordering::Relaxed);
            if line.contains("\"job.first_token\"") {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                if let (Some(ms), Ok(mut all)) = (v["duration"].as_u64(), server_ttft.lock()) {
                    all.push(Duration::from_millis(ms));
                }
            }
        }
    });
    let rss_idle = proc_status_kb(pid, "VmRSS:").unwrap_or(0);
    let cpu_idle = proc_cpu_s(pid).unwrap_or(0.0);

    let open = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(args.streams);
    let open_rate = args.open_rate;
    for i in 0..args.streams {
        let (open, peak, gate) = (Arc::clone(&open), Arc::clone(&peak), Arc::clone(&gate));
        tasks.push(tokio::spawn(async move {
            if open_rate > 0.0 {
                let at = started + Duration::from_secs_f64(i as f64 / open_rate);
                tokio::time::sleep_until(at.into()).await;
            }
            let permit = gate.acquire_owned().await?;
            one_stream(port, open, peak, permit).await
        }));
    }
    let mut results = Vec::with_capacity(args.streams);
    let mut errors = 0usize;
    for t in tasks {
        match t.await {
            Ok(Ok(r)) if r.ok => results.push(r),
            _ => errors += 1,
        }
    }
    let wall = started.elapsed();
    // VmHWM is the kernel's own peak-RSS mark for the server process.
    let rss_hwm = proc_status_kb(pid, "VmHWM:").unwrap_or(0);
    let server_cpu = proc_cpu_s(pid).unwrap_or(0.0) - cpu_idle;
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;

    let mut ttfb: Vec<Duration> = results.iter().map(|r| r.ttfb).collect();
    let mut ttft: Vec<Duration> = results.iter().map(|r| r.ttft).collect();
    let mut ttfd: Vec<Duration> = results.iter().map(|r| r.ttfd).collect();
    ttfd.sort_unstable();
    ttfb.sort_unstable();
    ttft.sort_unstable();
    let tokens: u64 = results.iter().map(|r| r.tokens).sum();
    let mut server_ttft = server_ttft_ms.lock().map(|v| v.clone()).unwrap_or_default();
    server_ttft.sort_unstable();
    let secs = wall.as_secs_f64().max(1e-9);
    let report = serde_json::json!({
        "streams": args.streams,
        "completed": results.len(),
        "errors": errors,
        "tokens_per_stream": args.tokens,
        "provider_ttft_ms": args.ttft_ms,
        "connect_concurrency": args.connect_concurrency,
        "open_rate": args.open_rate,
        "server_cpus": args.server_cpus,
        "provider_tokens_per_second": args.tokens_per_second,
        "wall_s": (secs * 1000.0).round() / 1000.0,
        "streams_per_s": (results.len() as f64 / secs).round(),
        "tokens_per_s": (tokens as f64 / secs).round(),
        "peak_concurrent_streams": peak.load(Ordering::SeqCst),
        "ttfb_p50_ms": percentile(&ttfb, 0.50).as_secs_f64() * 1000.0,
        "ttfb_p99_ms": percentile(&ttfb, 0.99).as_secs_f64() * 1000.0,
        "ttf_data_p50_ms": percentile(&ttfd, 0.50).as_secs_f64() * 1000.0,
        "ttf_data_p90_ms": percentile(&ttfd, 0.90).as_secs_f64() * 1000.0,
        "ttf_data_p95_ms": percentile(&ttfd, 0.95).as_secs_f64() * 1000.0,
        "ttf_data_over_5ms": ttfd.iter().filter(|d| d.as_millis() >= 5).count(),
        "ttf_data_p99_ms": percentile(&ttfd, 0.99).as_secs_f64() * 1000.0,
        "ttfb_max_ms": ttfb.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
        "ttft_p50_ms": percentile(&ttft, 0.50).as_secs_f64() * 1000.0,
        "ttft_p99_ms": percentile(&ttft, 0.99).as_secs_f64() * 1000.0,
        "ttft_max_ms": ttft.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
        "server_ttft_logged": server_ttft.len(),
        "server_ttft_p50_ms": percentile(&server_ttft, 0.50).as_millis(),
        "server_ttft_p99_ms": percentile(&server_ttft, 0.99).as_millis(),
        "server_ttft_max_ms": server_ttft.last().copied().unwrap_or_default().as_millis(),
        "server_rss_idle_mb": rss_idle as f64 / 1024.0,
        "server_peak_rss_mb": rss_hwm as f64 / 1024.0,
        "server_cpu_s": (server_cpu * 100.0).round() / 100.0,
        "server_cpu_ms_per_stream": (server_cpu * 1000.0 / args.streams.max(1) as f64 * 1000.0).round() / 1000.0,
        "server_log_lines": log_lines.load(Ordering::Relaxed),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    if errors > 0 {
        bail!("{errors} of {} streams failed", args.streams);
    }
    Ok(())
}
