//! Helpers for the streaming server end-to-end tests.
//!
//! [`Server::start`] builds `aistudio-server` with cargo (a no-op when fresh), runs it
//! on free ports (`PORT=0`), reads its JSON log lines from stdout and waits for the
//! `server.started` line, so no test sleeps. [`Server::stop`] sends a real SIGTERM,
//! expects exit 0 and checks every line the server wrote against the log contract.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

/// Upper bound on any single wait, so a broken server fails a test instead of hanging it.
pub const WAIT_LIMIT: Duration = Duration::from_secs(30);

/// The events of the log contract (ARCHITECTURE.md).
pub const CONTRACT_EVENTS: &[&str] = &[
    "http.request",
    "job.created",
    "job.first_token",
    "job.completed",
    "job.failed",
    "job.cancelled",
    "provider.response",
    "ratelimit.rejected",
    "auth.rejected",
];

/// Server lifecycle events the server adds (documented in server/README.md).
pub const LIFECYCLE_EVENTS: &[&str] = &[
    "server.started",
    "server.auth_disabled",
    "server.fd_limit",
    "server.draining",
    "server.stopped",
    "server.log",
    "server.accept_failed",
    "server.connection_cap",
    "server.connection_refused",
    "server.log_suppressed",
    "server.shutdown_forced",
];

/// Path of the `aistudio-server` binary under test (built by Cargo for this package).
///
/// `AISTUDIO_SERVER_BIN` overrides it (e.g. a release build).
pub fn server_binary() -> PathBuf {
    match std::env::var("AISTUDIO_SERVER_BIN") {
        Ok(p) => PathBuf::from(p),
        Err(_) => crate::binary("e2e-aistudio-server"),
    }
}

/// A running server process.
pub struct Server {
    child: Child,
    /// API port (HTTP/1.1 and h2c).
    pub port: u16,
    /// Metrics port.
    pub metrics_port: u16,
    lines: Arc<Mutex<Vec<String>>>,
    count: watch::Receiver<usize>,
    /// The JWT secret the server was started with (if any).
    pub secret: Option<String>,
    log_file: Option<PathBuf>,
    reader: Option<tokio::task::JoinHandle<()>>,
}

impl Server {
    /// Starts the server with these extra environment variables (PORT/METRICS_PORT default to 0).
    pub async fn start(env: &[(&str, &str)]) -> Server {
        Self::start_command(Command::new(server_binary()), env).await
    }

    /// Like [`Server::start`], under an open-files limit of `nofile` (soft and hard, set by
    /// `sh`'s `ulimit -n` before it execs the server).
    pub async fn start_with_nofile(env: &[(&str, &str)], nofile: u64) -> Server {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("ulimit -n {nofile} && exec \"$0\""))
            .arg(server_binary());
        Self::start_command(cmd, env).await
    }

    async fn start_command(mut cmd: Command, env: &[(&str, &str)]) -> Server {
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PORT", "0")
            .env("METRICS_PORT", "0")
            .env("BIND_ADDR", "127.0.0.1");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("could not start aistudio-server");
        let secret = env
            .iter()
            .find(|(k, _)| *k == "JWT_SECRET")
            .map(|(_, v)| v.to_string());
        let log_file = env
            .iter()
            .find(|(k, _)| *k == "LOG_FILE")
            .map(|(_, v)| PathBuf::from(v));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, count) = watch::channel(0usize);
        let stdout = child.stdout.take().expect("piped stdout");
        let sink = Arc::clone(&lines);
        let reader_task = tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let n = {
                    let mut l = sink.lock().expect("lines lock");
                    l.push(line);
                    l.len()
                };
                let _ = tx.send(n);
            }
        });
        let mut server = Server {
            child,
            port: 0,
            metrics_port: 0,
            lines,
            count,
            secret,
            log_file,
            reader: Some(reader_task),
        };
        let started = match &server.log_file {
            Some(path) => wait_file_line(path, |v| v["event"] == "server.started").await,
            None => server.wait_for(|v| v["event"] == "server.started").await,
        };
        server.port = started["port"].as_u64().expect("port in server.started") as u16;
        server.metrics_port = started["metricsPort"]
            .as_u64()
            .expect("metricsPort in server.started") as u16;
        server
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The chat completions URL.
    pub fn chat_url(&self) -> String {
        format!("{}/v1/chat/completions", self.url())
    }

    /// The metrics URL.
    pub fn metrics_url(&self) -> String {
        format!("http://127.0.0.1:{}/metrics", self.metrics_port)
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("server still running")
    }

    /// Every stdout line parsed as JSON (panics on a non-JSON line: that breaks the contract).
    pub fn logs(&self) -> Vec<Value> {
        match &self.log_file {
            Some(path) => read_log_files(path),
            None => self
                .lines
                .lock()
                .expect("lines lock")
                .iter()
                .map(|l| parse_line(l))
                .collect(),
        }
    }

    /// Waits until a stdout log line matches `pred` and returns it.
    pub async fn wait_for(&self, pred: impl Fn(&Value) -> bool) -> Value {
        let mut rx = self.count.clone();
        let fut = async {
            let mut seen = 0;
            loop {
                let new: Vec<String> = {
                    let l = self.lines.lock().expect("lines lock");
                    l[seen..].to_vec()
                };
                seen += new.len();
                for line in new {
                    let v = parse_line(&line);
                    if pred(&v) {
                        return v;
                    }
                }
                if rx.changed().await.is_err() {
                    panic!("server exited before the awaited log line");
                }
            }
        };
        tokio::time::timeout(WAIT_LIMIT, fut)
            .await
            .expect("timed out waiting for a log line")
    }

    /// Sends a real SIGTERM with `kill`.
    pub fn sigterm(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("could not run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for the process to exit and returns its exit code.
    pub async fn wait_exit(&mut self) -> Option<i32> {
        let status = tokio::time::timeout(WAIT_LIMIT, self.child.wait())
            .await
            .expect("server did not exit")
            .expect("wait failed");
        // The process is gone; let the reader drain stdout to EOF so logs() has every line.
        if let Some(reader) = self.reader.take() {
            tokio::time::timeout(WAIT_LIMIT, reader)
                .await
                .expect("stdout reader did not reach EOF")
                .expect("stdout reader panicked");
        }
        status.code()
    }

    /// SIGTERM, expect exit 0, check every line against the contract and that no secret leaked.
    pub async fn stop(mut self, secrets: &[&str]) -> Vec<Value> {
        self.sigterm();
        assert_eq!(
            self.wait_exit().await,
            Some(0),
            "server must exit 0 on SIGTERM"
        );
        let logs = self.logs();
        check_logs(&logs, secrets);
        logs
    }

    /// A token signed with this server's secret, minted by `aistudio-server token`.
    pub fn token(&self, sub: &str) -> String {
        mint_token(
            self.secret.as_deref().expect("server has a JWT_SECRET"),
            sub,
            600,
            None,
        )
    }
}

/// Mints an HS256 token with the server binary's `token` subcommand.
pub fn mint_token(secret: &str, sub: &str, ttl: i64, not_before: Option<i64>) -> String {
    let mut cmd = std::process::Command::new(server_binary());
    cmd.env("JWT_SECRET", secret)
        .args(["token", "--sub", sub, "--ttl", &ttl.to_string()]);
    if let Some(nbf) = not_before {
        cmd.args(["--not-before", &nbf.to_string()]);
    }
    let out = cmd.output().expect("could not run aistudio-server token");
    assert!(
        out.status.success(),
        "token: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf8 token")
        .trim()
        .to_string()
}

fn parse_line(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"))
}

/// Reads `path` and its rotated siblings (`path.N` … `path.1`, then `path`), oldest first.
pub fn read_log_files(path: &Path) -> Vec<Value> {
    let mut files = Vec::new();
    for n in (1..100).rev() {
        let mut p = path.as_os_str().to_owned();
        p.push(format!(".{n}"));
        let p = PathBuf::from(p);
        if p.exists() {
            files.push(p);
        }
    }
    files.push(path.to_path_buf());
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        out.extend(text.lines().map(parse_line));
    }
    out
}

async fn wait_file_line(path: &Path, pred: impl Fn(&Value) -> bool) -> Value {
    // A file has no change notification here; poll it briefly (bounded by WAIT_LIMIT).
    let fut = async {
        loop {
            if let Some(v) = read_log_files(path).into_iter().find(|v| pred(v)) {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(WAIT_LIMIT, fut)
        .await
        .expect("timed out waiting for a log line in the log file")
}

fn is_rfc3339_utc(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 20 || !s.ends_with('Z') {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && (b.len() == 20 || (b[19] == b'.' && b[20..b.len() - 1].iter().all(u8::is_ascii_digit)))
}

/// Checks one line against the log contract (ARCHITECTURE.md); returns what is wrong.
pub fn contract_violation(v: &Value) -> Option<String> {
    let Some(obj) = v.as_object() else {
        return Some("line is not a JSON object".into());
    };
    let s = |k: &str| obj.get(k).and_then(Value::as_str);
    let n = |k: &str| obj.get(k).and_then(Value::as_u64);
    match s("timestamp") {
        Some(t) if is_rfc3339_utc(t) => {}
        _ => return Some("timestamp missing or not RFC 3339 UTC".into()),
    }
    if !matches!(s("level"), Some("debug" | "info" | "warn" | "error")) {
        return Some("level not one of debug|info|warn|error".into());
    }
    if s("message").is_none() {
        return Some("message missing".into());
    }
    let Some(event) = s("event") else {
        return Some("event missing".into());
    };
    if !CONTRACT_EVENTS.contains(&event) && !LIFECYCLE_EVENTS.contains(&event) {
        return Some(format!("unknown event {event}"));
    }
    for banned in [
        "prompt",
        "messages",
        "content",
        "completion",
        "authorization",
        "apiKey",
        "api_key",
    ] {
        if obj.contains_key(banned) {
            return Some(format!("forbidden field {banned}"));
        }
    }
    let mut need_str: Vec<&str> = Vec::new();
    let mut need_num: Vec<&str> = Vec::new();
    match event {
        "http.request" => {
            need_str.extend(["requestId", "endpoint", "method"]);
            need_num.extend(["status", "duration"]);
        }
        "job.created" => need_str.extend(["requestId", "jobId", "userId", "provider", "modelId"]),
        "job.first_token" | "job.cancelled" => {
            need_str.extend(["requestId", "jobId", "userId", "provider", "modelId"]);
            need_num.push("duration");
        }
        "job.completed" => {
            need_str.extend(["requestId", "jobId", "userId", "provider", "modelId"]);
            need_num.extend(["duration", "tokens"]);
        }
        "job.failed" => {
            need_str.extend(["requestId", "jobId", "userId", "provider", "modelId"]);
            need_num.push("duration");
            for k in ["name", "message", "stack"] {
                if v.pointer(&format!("/error/{k}"))
                    .and_then(Value::as_str)
                    .is_none()
                {
                    return Some(format!("job.failed without error.{k}"));
                }
            }
        }
        "provider.response" => {
            need_str.extend(["requestId", "jobId", "provider", "modelId"]);
            need_num.extend(["duration", "status"]);
        }
        "ratelimit.rejected" => need_str.extend(["requestId", "userId"]),
        "auth.rejected" => {
            need_str.push("requestId");
            for k in ["name", "message"] {
                if v.pointer(&format!("/error/{k}"))
                    .and_then(Value::as_str)
                    .is_none()
                {
                    return Some(format!("auth.rejected without error.{k}"));
                }
            }
        }
        _ => {}
    }
    for k in need_str {
        if s(k).is_none_or(str::is_empty) {
            return Some(format!("{event} without string field {k}"));
        }
    }
    for k in need_num {
        if n(k).is_none() {
            return Some(format!("{event} without numeric field {k}"));
        }
    }
    None
}

/// Asserts every line meets the contract and no secret string appears anywhere.
pub fn check_logs(logs: &[Value], secrets: &[&str]) {
    assert!(!logs.is_empty(), "the server wrote no log lines");
    for v in logs {
        if let Some(problem) = contract_violation(v) {
            panic!("log line breaks the contract ({problem}): {v}");
        }
        let raw = v.to_string();
        for s in secrets {
            assert!(
                !raw.contains(s),
                "log line leaks a secret ({s:.12}…): {raw}"
            );
        }
    }
}

/// Logs with this `event`.
pub fn events<'a>(logs: &'a [Value], event: &str) -> Vec<&'a Value> {
    logs.iter().filter(|v| v["event"] == event).collect()
}

/// One chat body with a user message.
pub fn chat_body(model: &str, stream: bool, prompt: &str) -> Value {
    serde_json::json!({
        "model": model,
        "stream": stream,
        "messages": [{"role": "user", "content": prompt}],
    })
}

/// The `data:` payloads of an SSE body.
pub fn sse_data(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")))
        .map(|s| s.trim().to_string())
        .collect()
}

/// Concatenated `delta.content` of SSE data payloads.
pub fn sse_text(data: &[String]) -> String {
    data.iter()
        .filter(|d| d.as_str() != "[DONE]")
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            v.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect()
}

/// Defaults for a fast test server: quick simulated provider, a JWT secret, logs to stdout.
pub const FAST: &[(&str, &str)] = &[
    ("JWT_SECRET", "e2e-secret-value"),
    ("SIM_TTFT_MS", "5"),
    ("SIM_TOKENS_PER_SECOND", "0"),
    ("SIM_COMPLETION_TOKENS", "8"),
    ("KEEPALIVE_MS", "200"),
];

/// `FAST` plus `extra` (later entries win).
pub fn env_with<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut v: Vec<(&str, &str)> = FAST
        .iter()
        .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
        .copied()
        .collect();
    v.extend_from_slice(extra);
    v
}

/// The socket address of the API port (`127.0.0.1:PORT`).
pub fn api_addr(server: &Server) -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], server.port))
}

/// One request over a fresh raw HTTP/1.1 connection (`Connection: close`), read to EOF:
/// returns the status code (0 if the server closed without answering), the whole
/// response and the time from before `connect` to the end of the response.
pub async fn raw_request(
    addr: std::net::SocketAddr,
    request_head: &str,
) -> (u16, String, Duration) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let started = std::time::Instant::now();
    let fut = async {
        let mut tcp = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connect to the server");
        tcp.write_all(request_head.as_bytes())
            .await
            .expect("write the request");
        let mut out = Vec::new();
        // A reset after a complete answer still leaves the answer in `out`.
        let _ = tcp.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).into_owned()
    };
    let text = tokio::time::timeout(WAIT_LIMIT, fut)
        .await
        .expect("raw request timed out");
    let elapsed = started.elapsed();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text, elapsed)
}

/// `GET /api/health` on a fresh connection, as the ALB's health check does.
pub async fn raw_health(addr: std::net::SocketAddr) -> (u16, Duration) {
    let (status, _, elapsed) = raw_request(
        addr,
        "GET /api/health HTTP/1.1\r\nHost: health\r\nConnection: close\r\n\r\n",
    )
    .await;
    (status, elapsed)
}

/// The sum of every sample of `name` (any labels) in Prometheus text, 0 when absent.
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next())
        .filter_map(|v| v.parse::<f64>().ok())
        .fold(0.0, |a, b| a + b)
}

/// The server's `/metrics` text.
pub async fn scrape(server: &Server) -> String {
    reqwest::get(server.metrics_url())
        .await
        .expect("scrape /metrics")
        .text()
        .await
        .expect("metrics body")
}

/// An HS256 JWT with exactly this header and these claims, signed with `secret` by Python's
/// standard library (`hmac`), independently of the server's own JWT code.
pub fn sign_jwt(secret: &str, header: &Value, claims: &Value) -> String {
    const SIGNER: &str = "import base64,hashlib,hmac,sys\n\
        b=lambda x: base64.urlsafe_b64encode(x).rstrip(b'=')\n\
        m=b(sys.argv[2].encode())+b'.'+b(sys.argv[3].encode())\n\
        s=hmac.new(sys.argv[1].encode(),m,hashlib.sha256).digest()\n\
        print((m+b'.'+b(s)).decode())";
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            SIGNER,
            secret,
            &header.to_string(),
            &claims.to_string(),
        ])
        .output()
        .expect("python3 is needed to sign test tokens");
    assert!(
        out.status.success(),
        "signer: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf8 token")
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_checker_accepts_good_and_rejects_bad_lines() {
        let good = serde_json::json!({"timestamp":"2026-01-02T03:04:05.123Z","level":"info","message":"m","event":"job.completed","requestId":"r","jobId":"j","userId":"u","provider":"p","modelId":"m","duration":3,"tokens":4});
        assert_eq!(contract_violation(&good), None);
        let mut bad = good.clone();
        bad["level"] = "INFO".into();
        assert!(contract_violation(&bad).is_some());
        let mut bad = good.clone();
        bad.as_object_mut().unwrap().remove("tokens");
        assert!(contract_violation(&bad).is_some());
        let mut bad = good.clone();
        bad["timestamp"] = "yesterday".into();
        assert!(contract_violation(&bad).is_some());
        let mut bad = good;
        bad["prompt"] = "secret".into();
        assert!(contract_violation(&bad).is_some());
    }
}
