//! Runs the real `aistudio-sidecar` binary for end-to-end tests: config in a temp dir, a free
//! loopback port for its API, real signals.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

/// Path of the `aistudio-sidecar` binary under test (built by Cargo for this package).
pub fn sidecar_binary() -> PathBuf {
    crate::binary("e2e-aistudio-sidecar")
}

/// A free loopback port (bound then released; the race with another process is acceptable in
/// tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A running sidecar.
pub struct Sidecar {
    child: Child,
    /// The API port.
    pub api_port: u16,
    /// Working directory (data dir, config, inputs).
    pub dir: PathBuf,
}

/// Where a test keeps its files; dropped at the end of the test.
pub struct Workspace {
    /// The temp dir.
    pub tmp: TempDir,
}

impl Default for Workspace {
    fn default() -> Self {
        Self::new()
    }
}

impl Workspace {
    /// A fresh temp dir.
    pub fn new() -> Self {
        Self {
            tmp: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A path inside it.
    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }
}

impl Sidecar {
    /// Starts `aistudio-sidecar run` with `config` (TOML, `data_dir` and `api.address` added) and the
    /// given environment on top of a clean one (no AWS settings unless passed).
    pub fn start(
        dir: &Path,
        config: &str,
        env: &[(&str, String)],
        stdin: Stdio,
    ) -> anyhow::Result<Self> {
        Self::start_on(free_port(), dir, config, env, stdin)
    }

    /// [`Sidecar::start`] with the API on `api_port` (a test may hand it a busy one).
    pub fn start_on(
        api_port: u16,
        dir: &Path,
        config: &str,
        env: &[(&str, String)],
        stdin: Stdio,
    ) -> anyhow::Result<Self> {
        Self::spawn(api_port, dir, config, env, stdin, None)
    }

    /// [`Sidecar::start`] as another user (`uid`, `gid`), for a test run as root that needs
    /// file permissions to apply to the sidecar. `dir` must be writable by that user.
    pub fn start_as(
        uid: u32,
        gid: u32,
        dir: &Path,
        config: &str,
        env: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        Self::spawn(
            free_port(),
            dir,
            config,
            env,
            Stdio::null(),
            Some((uid, gid)),
        )
    }

    fn spawn(
        api_port: u16,
        dir: &Path,
        config: &str,
        env: &[(&str, String)],
        stdin: Stdio,
        user: Option<(u32, u32)>,
    ) -> anyhow::Result<Self> {
        // The API address goes into the test's own `[api]` section when it has one.
        let address = format!("address = \"127.0.0.1:{api_port}\"\n");
        let body = match config.find("[api]\n") {
            Some(at) => format!("{}[api]\n{address}{}", &config[..at], &config[at + 6..]),
            None => format!("{config}\n[api]\n{address}"),
        };
        let full = format!("data_dir = \"{}\"\n{body}", dir.join("data").display());
        let config_path = dir.join(format!("sidecar-{api_port}.toml"));
        std::fs::write(&config_path, full)?;
        let mut cmd = Command::new(sidecar_binary());
        cmd.arg("run")
            .arg("--config")
            .arg(&config_path)
            .current_dir(dir)
            .stdin(stdin)
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(
                dir.join(format!("sidecar-{api_port}.stderr")),
            )?));
        for (name, _) in std::env::vars() {
            if name.starts_with("AWS_")
                || name.starts_with("AISTUDIO_")
                || name == "ECS_CONTAINER_METADATA_URI_V4"
            {
                cmd.env_remove(name);
            }
        }
        for (name, value) in env {
            cmd.env(name, value);
        }
        if let Some((uid, gid)) = user {
            use std::os::unix::process::CommandExt;
            cmd.uid(uid).gid(gid);
        }
        let child = cmd.spawn()?;
        Ok(Self {
            child,
            api_port,
            dir: dir.to_path_buf(),
        })
    }

    /// Sends SIGTERM and asserts a clean exit (code 0) within `limit`, with its stderr on
    /// failure: the shutdown every test that is done with a sidecar expects.
    pub async fn stop(&mut self, limit: Duration) {
        self.signal("TERM");
        let code = self.wait_exit(limit).await;
        assert_eq!(code, Some(0), "{}", self.stderr());
    }

    /// The child's stdin, when it was piped.
    pub fn stdin(&mut self) -> Option<&mut std::process::ChildStdin> {
        self.child.stdin.as_mut()
    }

    /// Closes stdin (EOF ends the stdin source).
    pub fn close_stdin(&mut self) {
        drop(self.child.stdin.take());
    }

    /// The process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Scrapes `/metrics` and returns the value of an unlabelled counter (or labelled line).
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let text = reqwest::get(format!("http://127.0.0.1:{}/metrics", self.api_port))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    }

    /// Waits until the counter `name` reaches at least `value` (polling the API: the event
    /// we await is the counter moving), failing after `limit`.
    pub async fn wait_metric_at_least(&self, name: &str, value: f64, limit: Duration) -> f64 {
        let start = std::time::Instant::now();
        loop {
            if let Some(now) = self.metric(name).await {
                if now >= value {
                    return now;
                }
            }
            assert!(
                start.elapsed() < limit,
                "{name} did not reach {value} within {limit:?} (now {:?}); stderr: {}",
                self.metric(name).await,
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends a signal (`TERM`, `KILL`).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the process to exit; returns its exit code (None when killed by a signal).
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            assert!(
                start.elapsed() < limit,
                "sidecar did not exit within {limit:?}; stderr: {}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// What the sidecar logged.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join(format!("sidecar-{}.stderr", self.api_port)))
            .unwrap_or_default()
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Appends lines to a file (each with its newline) and flushes.
pub fn append_lines(path: &Path, lines: &[String]) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open log file");
    let mut buf = String::new();
    for line in lines {
        buf.push_str(line);
        buf.push('\n');
    }
    file.write_all(buf.as_bytes()).expect("append");
    file.flush().expect("flush");
}

/// Lines of a file, or nothing if it does not exist yet.
pub fn read_lines(path: &Path) -> Vec<String> {
    // Only complete lines: a sidecar still writing may have put half a line at the end.
    std::fs::read_to_string(path)
        .map(|t| {
            let complete = t.rfind('\n').map_or("", |end| &t[..end]);
            complete.lines().map(str::to_owned).collect()
        })
        .unwrap_or_default()
}

/// A log-contract line (no `timestamp`, so the read time is used and CloudWatch never finds
/// it too old, whenever the suite runs) with a unique sequence number and an e-mail that must be redacted.
pub fn contract_line(seq: usize) -> String {
    serde_json::json!({
        "level": "info",
        "message": format!("job done for user{seq}@example.com"),
        "event": "job.completed",
        "requestId": format!("req-{seq:08}"),
        "seq": seq,
    })
    .to_string()
}

/// The `seq` of a shipped (redacted) contract line.
pub fn seq_of(line: &str) -> Option<u64> {
    serde_json::from_str::<serde_json::Value>(line).ok()?["seq"].as_u64()
}

/// `ms` since the epoch as RFC 3339 UTC with milliseconds (the log contract's format).
pub fn rfc3339_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Runs `aistudio-sidecar` with `args` to completion: (exit code, stdout, stderr).
pub fn run_sidecar(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(sidecar_binary())
        .args(args)
        .output()
        .expect("run aistudio-sidecar");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A loopback listener that accepts every connection and never reads or answers (a broken
/// NAT, a stuck proxy); returns its address and the count of the connections it holds, as a
/// watch to await.
pub async fn black_hole() -> (String, tokio::sync::watch::Receiver<usize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    let (count, accepted) = tokio::sync::watch::channel(0);
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
            count.send_replace(held.len());
        }
    });
    (address, accepted)
}

/// The environment of a sidecar whose AWS endpoint is `address` (`host:port`), with fake
/// credentials and no profile or instance metadata.
pub fn aws_env_for(address: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", format!("http://{address}")),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "not-a-real-secret".to_owned()),
        ("AWS_CONFIG_FILE", "/dev/null".to_owned()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
    ]
}

/// `GET /health`: the HTTP status and the JSON body, once the API answers.
pub async fn health(sidecar: &Sidecar) -> (u16, serde_json::Value) {
    let url = format!("http://127.0.0.1:{}/health", sidecar.api_port);
    let start = std::time::Instant::now();
    loop {
        if let Ok(resp) = reqwest::get(&url).await {
            let status = resp.status().as_u16();
            let body = resp.json().await.expect("a JSON health body");
            return (status, body);
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the API never answered; stderr: {}",
            sidecar.stderr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
