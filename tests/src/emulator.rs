//! The AWS emulator for tests: moto behind our CBOR gateway, on a free loopback port,
//! plus the AWS CLI as the independent client that checks what our code wrote.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use anyhow::{bail, Context};
use aws_config::Region;
use aws_sdk_cloudwatch::config::Credentials;

/// Fake credentials: the emulator accepts anything, and the machine's own are never read.
pub const FAKE_ACCESS_KEY_ID: &str = "testing";
/// Fake secret paired with [`FAKE_ACCESS_KEY_ID`].
pub const FAKE_SECRET_ACCESS_KEY: &str = "testing";
/// moto's default region for the fake account.
pub const REGION: &str = "us-east-1";

/// `(id, metric, dimensions, statistic)` of one get-metric-data query.
pub type MetricQuery<'a> = (String, &'a str, Vec<(&'a str, String)>, &'a str);

/// How to install what the emulator needs, quoted in every start-up error.
const INSTALL_HINT: &str = "install the test tools with: python3 -m pip install 'moto[server]' cbor2 awscli (the README test command does this)";

/// A running emulator. Dropping it (or the test process exiting) stops it: the gateway
/// exits when its stdin closes.
pub struct Emulator {
    child: Mutex<Child>,
    _stdin: Mutex<ChildStdin>,
    port: u16,
}

impl Emulator {
    /// Starts a fresh emulator on a free loopback port and waits until it accepts requests.
    pub fn start() -> anyhow::Result<Self> {
        let python = std::env::var("AISTUDIO_PYTHON").unwrap_or_else(|_| "python3".to_owned());
        Self::start_with(&python, &[])
    }

    /// Starts the emulator with a given interpreter and interpreter flags.
    pub fn start_with(python: &str, python_args: &[&str]) -> anyhow::Result<Self> {
        let script = gateway_script();
        let mut child = Command::new(python)
            .args(python_args)
            .arg(&script)
            .env("EMULATOR_PORT", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| {
                format!("cannot start `{python}` for the AWS emulator; {INSTALL_HINT}")
            })?;
        let stdout = child
            .stdout
            .take()
            .context("emulator stdout is not piped")?;
        let mut first = String::new();
        BufReader::new(stdout)
            .read_line(&mut first)
            .context("cannot read the emulator's ready line")?;
        let port = match first.trim().strip_prefix("READY ") {
            Some(port) => port.parse::<u16>().context("emulator printed a bad port")?,
            None => {
                let status = child.wait().ok();
                let mut stderr = String::new();
                if let Some(mut err) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut err, &mut stderr);
                }
                bail!(
                    "the AWS emulator ({}) did not start (exit {status:?}): {}; {INSTALL_HINT}",
                    script.display(),
                    stderr.trim()
                );
            }
        };
        // Keep draining the emulator's request log so its pipe never fills and blocks it.
        if let Some(stderr) = child.stderr.take() {
            std::thread::spawn(move || {
                let mut sink = std::io::sink();
                let _ = std::io::copy(&mut BufReader::new(stderr), &mut sink);
            });
        }
        let stdin = child.stdin.take().context("emulator stdin is not piped")?;
        Ok(Self {
            child: Mutex::new(child),
            _stdin: Mutex::new(stdin),
            port,
        })
    }

    /// One emulator shared by every test of a test binary. Tests use unique resource names,
    /// because moto keeps one state for all of them.
    pub fn shared() -> &'static Emulator {
        static SHARED: OnceLock<Emulator> = OnceLock::new();
        SHARED.get_or_init(|| match Emulator::start() {
            Ok(emulator) => emulator,
            // A test that needs AWS must fail loudly, never skip.
            Err(err) => panic!("{err:#}"),
        })
    }

    /// The endpoint to give the SDK (`AWS_ENDPOINT_URL`).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The loopback port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// An SDK config pinned to the emulator with fake credentials; nothing from the machine.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aistudio_core::aws::sdk_loader()
            .credentials_provider(Credentials::new(
                FAKE_ACCESS_KEY_ID,
                FAKE_SECRET_ACCESS_KEY,
                None,
                None,
                "emulator",
            ))
            .region(Region::new(REGION))
            .endpoint_url(self.endpoint())
            .load()
            .await
    }

    /// The environment a child process (the sidecar, the AWS CLI) needs to reach only the
    /// emulator: endpoint, region, fake credentials, and no config files or IMDS.
    pub fn child_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_DEFAULT_REGION", REGION.to_owned()),
            ("AWS_ACCESS_KEY_ID", FAKE_ACCESS_KEY_ID.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", FAKE_SECRET_ACCESS_KEY.to_owned()),
            ("AWS_CONFIG_FILE", "/dev/null".to_owned()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ]
    }

    /// One `aws cloudwatch get-metric-data` call over `namespace` with 60 s periods: for each
    /// `(id, metric, dimensions, stat)` query, how many data points came back and their sum,
    /// between `start` and `end` (epoch seconds).
    pub fn metric_points(
        &self,
        namespace: &str,
        queries: &[MetricQuery<'_>],
        start: i64,
        end: i64,
    ) -> anyhow::Result<std::collections::BTreeMap<String, (usize, f64)>> {
        let body: Vec<serde_json::Value> = queries
            .iter()
            .map(|(id, metric, dims, stat)| {
                let dims: Vec<serde_json::Value> = dims
                    .iter()
                    .map(|(n, v)| serde_json::json!({"Name": n, "Value": v}))
                    .collect();
                serde_json::json!({"Id": id, "MetricStat": {"Metric": {"Namespace": namespace,
                    "MetricName": metric, "Dimensions": dims}, "Period": 60, "Stat": stat}})
            })
            .collect();
        let out = self.aws_cli(&[
            "cloudwatch",
            "get-metric-data",
            "--metric-data-queries",
            &serde_json::Value::Array(body).to_string(),
            "--start-time",
            &start.to_string(),
            "--end-time",
            &end.to_string(),
        ])?;
        let results = out["MetricDataResults"]
            .as_array()
            .with_context(|| format!("get-metric-data printed no MetricDataResults: {out}"))?;
        Ok(results
            .iter()
            .map(|r| {
                let values: Vec<f64> = r["Values"]
                    .as_array()
                    .map(|v| v.iter().filter_map(serde_json::Value::as_f64).collect())
                    .unwrap_or_default();
                let id = r["Id"].as_str().unwrap_or_default().to_owned();
                (id, (values.len(), values.iter().sum()))
            })
            .collect())
    }

    /// Runs the AWS CLI against the emulator and parses its JSON output.
    pub fn aws_cli(&self, args: &[&str]) -> anyhow::Result<serde_json::Value> {
        let mut cmd = Command::new("aws");
        cmd.args(["--endpoint-url", &self.endpoint(), "--output", "json"])
            .args(args)
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN");
        for (name, value) in self.child_env() {
            cmd.env(name, value);
        }
        let output = cmd
            .output()
            .with_context(|| format!("cannot run the AWS CLI (`aws`); {INSTALL_HINT}"))?;
        if !output.status.success() {
            bail!(
                "aws {} failed ({}): {}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        if output.stdout.iter().all(u8::is_ascii_whitespace) {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&output.stdout)
            .with_context(|| format!("aws {} printed something that is not JSON", args.join(" ")))
    }

    /// Every message of a log stream, oldest first, as the AWS CLI reads them back, page by
    /// page (one GetLogEvents answer holds at most 10,000 events; the last page hands back
    /// the token it was given).
    pub fn log_messages(&self, group: &str, stream: &str) -> anyhow::Result<Vec<String>> {
        let mut messages = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut args = vec![
                "logs",
                "get-log-events",
                "--log-group-name",
                group,
                "--log-stream-name",
                stream,
                "--start-from-head",
            ];
            if let Some(token) = &token {
                args.extend(["--next-token", token.as_str()]);
            }
            let out = self.aws_cli(&args)?;
            let events = out["events"]
                .as_array()
                .context("get-log-events: no events array")?;
            messages.extend(
                events
                    .iter()
                    .filter_map(|e| e["message"].as_str().map(str::to_owned)),
            );
            let next = out["nextForwardToken"].as_str().map(str::to_owned);
            if events.is_empty() || next.is_none() || next == token {
                return Ok(messages);
            }
            token = next;
        }
    }

    /// Injects `count` errors `code` (HTTP `status`) into the next calls of `operation`.
    pub async fn inject_fault(
        &self,
        operation: &str,
        status: u16,
        code: &str,
        count: u32,
    ) -> anyhow::Result<()> {
        self.inject_fault_with(operation, status, code, count, false)
            .await
    }

    /// [`Emulator::inject_fault`]; with `after`, each call is applied first and only its
    /// answer replaced by the error (the service has the data, the caller never heard).
    pub async fn inject_fault_with(
        &self,
        operation: &str,
        status: u16,
        code: &str,
        count: u32,
        after: bool,
    ) -> anyhow::Result<()> {
        let body = serde_json::json!({
            "operation": operation, "status": status, "code": code, "count": count,
            "after": after,
        });
        reqwest::Client::new()
            .post(format!("{}/_gateway/faults", self.endpoint()))
            .json(&body)
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// Stops the endpoint for `seconds` (connections refused), then serves again on the same
    /// port with the emulator's state intact.
    pub async fn outage(&self, seconds: u64) -> anyhow::Result<()> {
        reqwest::Client::new()
            .post(format!("{}/_gateway/outage", self.endpoint()))
            .json(&serde_json::json!({ "seconds": seconds }))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// Calls seen per operation: `{op: {count, bytes: [request body sizes]}}`.
    pub async fn calls(&self) -> anyhow::Result<serde_json::Value> {
        Ok(reqwest::Client::new()
            .get(format!("{}/_gateway/calls", self.endpoint()))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Ok(mut child) = self.child.lock() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The gateway script, found from this crate's manifest directory.
fn gateway_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("emulator")
        .join("gateway.py")
}

/// A name no other test (or earlier run against the same emulator) uses.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}-{}-{nanos:x}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
