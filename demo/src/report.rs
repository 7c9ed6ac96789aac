//! The end of the run: `summary.json` (machine-readable), `report.md` (for people) and the
//! "where everything went" lines on the terminal.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::prom::Samples;
use crate::traffic::CountsSnapshot;

/// The sidecar's own counters at the end of the run.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct SidecarStats {
    /// Lines read from the log files.
    pub lines_read: u64,
    /// Events acknowledged by the sinks.
    pub events_shipped: u64,
    /// Events refused by the destination.
    pub events_rejected: u64,
    /// Events dropped.
    pub events_dropped: u64,
    /// Redactions by rule.
    pub redactions: BTreeMap<String, u64>,
    /// Metric datums published (file or PutMetricData).
    pub metric_datums_published: u64,
    /// Sink errors.
    pub sink_errors: u64,
}

impl From<&Samples> for SidecarStats {
    fn from(s: &Samples) -> Self {
        Self {
            lines_read: s.total("aistudio_sidecar_lines_read_total"),
            events_shipped: s.total("aistudio_sidecar_events_shipped_total"),
            events_rejected: s.total("aistudio_sidecar_events_rejected_total"),
            events_dropped: s.total("aistudio_sidecar_events_dropped_total"),
            redactions: s
                .by_label("aistudio_sidecar_redactions_total", "rule")
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .collect(),
            metric_datums_published: s.total("aistudio_sidecar_metric_datums_published_total"),
            sink_errors: s.total("aistudio_sidecar_sink_errors_total"),
        }
    }
}

/// Folder of the dashboard previews inside the output folder.
pub const PREVIEW_DIR: &str = "previews";

/// What happened, written to `summary.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    /// Environment name.
    pub env: String,
    /// Whether the sidecar shipped to CloudWatch.
    pub aws: bool,
    /// Seconds of traffic.
    pub duration_secs: u64,
    /// The generator's counts.
    pub counts: CountsSnapshot,
    /// Lines written by the server and the app (what the sidecar had to ship).
    pub lines_in: u64,
    /// Of which the server's.
    pub server_lines: u64,
    /// Of which the app's.
    pub app_lines: u64,
    /// Lines in `logs.ndjson` (local mode).
    pub lines_out: Option<u64>,
    /// Metric datums written to `metrics.ndjson` (local) or published (CloudWatch).
    pub metric_datums: u64,
    /// The sidecar's counters at the end: the last scrape before SIGTERM, with lines read,
    /// events shipped and dropped and datums published from its final log line (after the
    /// final flush).
    pub sidecar: SidecarStats,
    /// Exit code of the server after SIGTERM.
    pub server_exit: Option<i32>,
    /// Exit code of the sidecar after SIGTERM.
    pub sidecar_exit: Option<i32>,
    /// The output folder.
    pub out: PathBuf,
    /// Why `provision render` failed, if it did.
    pub provision_error: Option<String>,
    /// Why `dashboards preview` failed, if it did.
    #[serde(default)]
    pub preview_error: Option<String>,
    /// Where the raw logs were kept (`--work-dir`).
    pub kept_work_dir: Option<PathBuf>,
    /// The log group the sidecar shipped to (CloudWatch mode).
    #[serde(default)]
    pub log_group: Option<String>,
    /// Whether `--apply` applied the dashboards, alarms and topics.
    #[serde(default)]
    pub applied: bool,
    /// Why `provision apply` failed, if it did.
    #[serde(default)]
    pub apply_error: Option<String>,
    /// The AWS CLI commands that read this run back from CloudWatch (CloudWatch mode).
    #[serde(default)]
    pub readback: Vec<String>,
}

impl Summary {
    /// The previews' index page.
    pub fn preview_index(&self) -> PathBuf {
        self.out.join(PREVIEW_DIR).join("index.html")
    }

    /// Writes `summary.json` and `report.md` into `out`.
    pub fn write(&self, out: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(out.join("summary.json"), json)?;
        std::fs::write(out.join("report.md"), self.report())
    }

    /// The Markdown report.
    pub fn report(&self) -> String {
        let c = &self.counts;
        let s = &self.sidecar;
        let mut r = String::new();
        let _ = writeln!(r, "# AI Studio demo report\n");
        let _ = writeln!(
            r,
            "{} s of traffic, environment `{}`, sidecar output: {}.\n",
            self.duration_secs,
            self.env,
            if self.aws {
                "CloudWatch Logs and CloudWatch metrics"
            } else {
                "local files in this folder"
            }
        );
        let _ = writeln!(r, "## Traffic (generator)\n");
        let _ = writeln!(r, "| what | count |\n|---|---|");
        for (k, v) in [
            ("chat requests answered", c.requests),
            ("2xx", c.ok),
            ("401 unauthorized", c.unauthorized),
            ("429 rate limited", c.rate_limited),
            ("other 4xx", c.client_errors),
            ("5xx", c.server_errors),
            ("no answer (transport errors)", c.transport_errors),
            ("jobs accepted", c.jobs),
            ("streams started", c.streams_started),
            ("streams completed", c.streams_completed),
            ("streams failed by the provider", c.streams_failed),
            ("slow streams", c.slow_streams),
            ("app lines with personal data and keys", c.app_lines),
        ] {
            let _ = writeln!(r, "| {k} | {v} |");
        }
        let _ = writeln!(r, "\n## Sidecar\n");
        let _ = writeln!(r, "| what | count |\n|---|---|");
        let lines_out = self
            .lines_out
            .map_or("(CloudWatch)".to_owned(), |n| n.to_string());
        for (k, v) in [
            ("lines in (server + app)", self.lines_in.to_string()),
            ("lines read", s.lines_read.to_string()),
            ("events shipped", s.events_shipped.to_string()),
            ("lines out (logs.ndjson)", lines_out),
            ("rejected", s.events_rejected.to_string()),
            ("dropped", s.events_dropped.to_string()),
            ("sink errors", s.sink_errors.to_string()),
            (
                if self.aws {
                    "metric datums published"
                } else {
                    "metric datums written"
                },
                self.metric_datums.to_string(),
            ),
        ] {
            let _ = writeln!(r, "| {k} | {v} |");
        }
        for (rule, n) in &s.redactions {
            let _ = writeln!(r, "| redactions: {rule} | {n} |");
        }
        let _ = writeln!(
            r,
            "\nServer exit code {:?}, sidecar exit code {:?} (both stopped with SIGTERM).\n",
            self.server_exit, self.sidecar_exit
        );
        let _ = writeln!(r, "## Files\n\n{}", self.files().join("\n"));
        if !self.readback.is_empty() {
            let _ = writeln!(
                r,
                "\n## Read it back from CloudWatch\n\n```sh\n{}\n```",
                self.readback.join("\n")
            );
        }
        r
    }

    fn files(&self) -> Vec<String> {
        let o = &self.out;
        let mut f = Vec::new();
        if self.aws {
            f.push(format!(
                "- redacted logs and metrics: CloudWatch (`{}`), log group `{}`",
                std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "AWS".to_owned()),
                self.log_group
                    .as_deref()
                    .unwrap_or("(the environment's default)")
            ));
            if self.applied {
                f.push(match &self.apply_error {
                    None => {
                        "- dashboards, alarms and SNS topics: applied there (`provision apply`)"
                            .to_owned()
                    }
                    Some(e) => format!("- dashboards and alarms: apply failed: {e}"),
                });
            }
        } else {
            f.push(format!(
                "- `{}`: redacted log lines, one per line (what CloudWatch Logs would get)",
                o.join("logs.ndjson").display()
            ));
            f.push(format!(
                "- `{}`: metric datums in PutMetricData's shape (namespace AIStudio/Streaming)",
                o.join("metrics.ndjson").display()
            ));
        }
        match &self.provision_error {
            None => f.push(format!(
                "- `{}`: dashboards, alarms and SNS topics as `provision apply` would send them",
                o.join("provision").display()
            )),
            Some(e) => f.push(format!("- dashboards and alarms: render failed: {e}")),
        }
        match &self.preview_error {
            None => f.push(format!(
                "- `{}`: the dashboards drawn from these metrics (HTML pages and PNGs)",
                self.preview_index().display()
            )),
            Some(e) => f.push(format!("- dashboard previews: failed: {e}")),
        }
        f.push(format!(
            "- `{}`: the sidecar's own log (redacted)",
            o.join("sidecar.log").display()
        ));
        f.push(format!(
            "- `{}` and `{}`: this report, and its numbers as JSON",
            o.join("report.md").display(),
            o.join("summary.json").display()
        ));
        if let Some(w) = &self.kept_work_dir {
            f.push(format!(
                "- `{}`: raw, unredacted logs (kept by --work-dir; they contain the secrets)",
                w.display()
            ));
        }
        f
    }

    /// The closing lines on the terminal.
    pub fn where_it_went(&self) -> String {
        let mut r = String::from("\nWhere everything went:\n");
        for line in self.files() {
            let _ = writeln!(r, "  {}", line.trim_start_matches("- ").replace('`', ""));
        }
        let _ = write!(
            r,
            "lines in {} → read {} → shipped {}; redactions {}; metric datums {}",
            self.lines_in,
            self.sidecar.lines_read,
            self.sidecar.events_shipped,
            self.sidecar.redactions.values().sum::<u64>(),
            self.metric_datums
        );
        r
    }
}
