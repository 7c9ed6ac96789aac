//! The sidecar's own telemetry, in one place: the pipeline's health counters (typed events
//! with bounded labels, each counted where it is emitted) and the metric stage's Prometheus
//! exporter ([`prometheus`]), rendered together on the loopback API's `/metrics`.

pub mod health;
pub mod prometheus;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use aistudio_core::clock::now_ms;

/// Why CloudWatch refused events in an accepted PutLogEvents call (`rejectedLogEventsInfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// Older than 14 days or the group's retention allows.
    TooOld,
    /// More than 2 hours in the future.
    TooNew,
    /// Older than the group's retention.
    Expired,
}

impl RejectReason {
    const ALL: [RejectReason; 3] = [Self::TooOld, Self::TooNew, Self::Expired];

    fn label(self) -> &'static str {
        match self {
            Self::TooOld => "too_old",
            Self::TooNew => "too_new",
            Self::Expired => "expired",
        }
    }
}

/// Something worth counting that happened inside the sidecar.
#[derive(Debug, Clone, Copy)]
pub enum SidecarEvent {
    /// Lines read by a source.
    LinesRead(u64),
    /// Events a sink had acknowledged.
    EventsShipped(u64),
    /// Bytes a sink had acknowledged (message bytes plus per-event overhead).
    BytesShipped(u64),
    /// One request sent by a sink.
    RequestSent,
    /// Events CloudWatch accepted the call for but refused.
    EventsRejected(RejectReason, u64),
    /// A failed request that will be retried.
    Retried,
    /// A failed request that will not be retried.
    SinkError,
    /// Events given up on (counted, logged and alarmed on; never silent).
    EventsDropped(u64),
    /// A line cut into several events because it was over CloudWatch's limit.
    LineSplit,
    /// Events written to a disk buffer because a sink fell behind.
    Spilled(u64),
    /// Disk buffer records skipped because their checksum did not match.
    CorruptRecordsSkipped(u64),
    /// A sink was refused for its credentials or permissions (expired token, access denied)
    /// and holds its data until an operator fixes it.
    Unauthorized,
    /// A file a source's globs match could not be opened (it is retried with backoff).
    SourceFileUnreadable,
    /// A file reported unreadable was opened, or is gone.
    SourceFileReadable,
}

/// One disk buffer's fill, kept by the buffer, read by `/health` and `/metrics`.
#[derive(Debug)]
pub struct BufferGauge {
    sink: &'static str,
    capacity: u64,
    used: AtomicU64,
}

impl BufferGauge {
    /// Bytes on disk now.
    pub fn set_used(&self, bytes: u64) {
        self.used.store(bytes, Ordering::Relaxed);
    }
}

/// The counters. Cheap to clone; every stage holds one.
#[derive(Debug, Clone, Default)]
pub struct Telemetry(Arc<Counters>);

#[derive(Debug, Default)]
struct Counters {
    lines_read: AtomicU64,
    events_shipped: AtomicU64,
    bytes_shipped: AtomicU64,
    requests: AtomicU64,
    rejected: [AtomicU64; 3],
    retried: AtomicU64,
    sink_errors: AtomicU64,
    dropped: AtomicU64,
    lines_split: AtomicU64,
    spilled: AtomicU64,
    queued_events: AtomicI64,
    last_progress_ms: AtomicI64,
    /// When the undelivered count last rose from zero (epoch ms; 0 if never).
    backlog_since_ms: AtomicI64,
    /// When events were last dropped (epoch ms; 0 if never).
    last_drop_ms: AtomicI64,
    /// When a sink was last refused for its credentials or permissions (epoch ms).
    last_unauthorized_ms: AtomicI64,
    unauthorized: AtomicU64,
    corrupt_records: AtomicU64,
    /// Files matched by a source's globs that cannot be opened now.
    unreadable_files: AtomicI64,
    /// Each disk buffer's fill, registered when it opens.
    buffers: std::sync::Mutex<Vec<Arc<BufferGauge>>>,
    /// The metric stage's Prometheus output (application metrics and its own counters).
    metrics: std::sync::OnceLock<prometheus::Exporter>,
}

impl Telemetry {
    /// Renders the metric stage's exporter after these counters on `/metrics`.
    pub fn attach_metrics(&self, exporter: prometheus::Exporter) {
        let _ = self.0.metrics.set(exporter);
    }

    /// The metric stage's datums published so far (0 before it is attached), for the final
    /// log line: read after the last flush, unlike a scrape before SIGTERM.
    pub fn metric_datums_published(&self) -> u64 {
        self.0
            .metrics
            .get()
            .map_or(0, prometheus::Exporter::datums_published)
    }

    /// Records one event.
    pub fn emit(&self, event: SidecarEvent) {
        let c = &self.0;
        match event {
            SidecarEvent::LinesRead(n) => {
                c.lines_read.fetch_add(n, Ordering::Relaxed);
            }
            SidecarEvent::EventsShipped(n) => {
                c.events_shipped.fetch_add(n, Ordering::Relaxed);
                c.last_progress_ms.store(now_ms(), Ordering::Relaxed);
            }
            SidecarEvent::BytesShipped(n) => {
                c.bytes_shipped.fetch_add(n, Ordering::Relaxed);
            }
            SidecarEvent::RequestSent => {
                c.requests.fetch_add(1, Ordering::Relaxed);
            }
            SidecarEvent::EventsRejected(reason, n) => {
                let index = RejectReason::ALL
                    .iter()
                    .position(|r| *r == reason)
                    .unwrap_or_default();
                c.rejected[index].fetch_add(n, Ordering::Relaxed);
            }
            SidecarEvent::Retried => {
                c.retried.fetch_add(1, Ordering::Relaxed);
            }
            SidecarEvent::SinkError => {
                c.sink_errors.fetch_add(1, Ordering::Relaxed);
            }
            SidecarEvent::EventsDropped(n) => {
                c.dropped.fetch_add(n, Ordering::Relaxed);
                if n > 0 {
                    c.last_drop_ms.store(now_ms(), Ordering::Relaxed);
                }
            }
            SidecarEvent::LineSplit => {
                c.lines_split.fetch_add(1, Ordering::Relaxed);
            }
            SidecarEvent::Spilled(n) => {
                c.spilled.fetch_add(n, Ordering::Relaxed);
            }
            SidecarEvent::CorruptRecordsSkipped(n) => {
                c.corrupt_records.fetch_add(n, Ordering::Relaxed);
            }
            SidecarEvent::Unauthorized => {
                c.unauthorized.fetch_add(1, Ordering::Relaxed);
                c.last_unauthorized_ms.store(now_ms(), Ordering::Relaxed);
            }
            SidecarEvent::SourceFileUnreadable => {
                c.unreadable_files.fetch_add(1, Ordering::Relaxed);
            }
            SidecarEvent::SourceFileReadable => {
                c.unreadable_files.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// Events handed to a sink and not yet delivered or given up (up or down by `delta`).
    pub fn queued(&self, delta: i64) {
        let before = self.0.queued_events.fetch_add(delta, Ordering::Relaxed);
        if before <= 0 && before + delta > 0 {
            self.0.backlog_since_ms.store(now_ms(), Ordering::Relaxed);
        }
    }

    /// Registers a disk buffer of `capacity` bytes named after its sink (a bounded label).
    pub fn register_buffer(&self, sink: &'static str, capacity: u64) -> Arc<BufferGauge> {
        let gauge = Arc::new(BufferGauge {
            sink,
            capacity,
            used: AtomicU64::new(0),
        });
        if let Ok(mut buffers) = self.0.buffers.lock() {
            buffers.push(Arc::clone(&gauge));
        }
        gauge
    }

    /// The fullest disk buffer: (sink, used bytes, capacity), if any is registered.
    pub fn fullest_buffer(&self) -> Option<(&'static str, u64, u64)> {
        let buffers = self.0.buffers.lock().ok()?;
        buffers
            .iter()
            .map(|b| (b.sink, b.used.load(Ordering::Relaxed), b.capacity))
            .max_by(|a, b| {
                let fill = |x: &(&str, u64, u64)| x.1 as f64 / x.2.max(1) as f64;
                fill(a).total_cmp(&fill(b))
            })
    }

    /// When the undelivered count last rose from zero (epoch ms; 0 if never).
    pub fn backlog_since_ms(&self) -> i64 {
        self.0.backlog_since_ms.load(Ordering::Relaxed)
    }

    /// When events were last dropped (epoch ms; 0 if never).
    pub fn last_drop_ms(&self) -> i64 {
        self.0.last_drop_ms.load(Ordering::Relaxed)
    }

    /// When a sink was last refused for its credentials or permissions (epoch ms; 0 if never).
    pub fn last_unauthorized_ms(&self) -> i64 {
        self.0.last_unauthorized_ms.load(Ordering::Relaxed)
    }

    /// Failed requests that will be retried, so far.
    pub fn retried(&self) -> u64 {
        self.0.retried.load(Ordering::Relaxed)
    }

    /// Lines read so far.
    pub fn lines_read(&self) -> u64 {
        self.0.lines_read.load(Ordering::Relaxed)
    }

    /// Events acknowledged by sinks so far.
    pub fn events_shipped(&self) -> u64 {
        self.0.events_shipped.load(Ordering::Relaxed)
    }

    /// Events CloudWatch Logs refused so far, whatever the reason.
    pub fn rejected_total(&self) -> u64 {
        self.0
            .rejected
            .iter()
            .map(|r| r.load(Ordering::Relaxed))
            .sum()
    }

    /// Events dropped so far.
    pub fn dropped(&self) -> u64 {
        self.0.dropped.load(Ordering::Relaxed)
    }

    /// Events written to a disk buffer so far.
    pub fn spilled(&self) -> u64 {
        self.0.spilled.load(Ordering::Relaxed)
    }

    /// Files matched by a source's globs that cannot be opened now.
    pub fn unreadable_files(&self) -> i64 {
        self.0.unreadable_files.load(Ordering::Relaxed)
    }

    /// Events waiting for a sink.
    pub fn queued_events(&self) -> i64 {
        self.0.queued_events.load(Ordering::Relaxed)
    }

    /// When a sink last made progress (epoch ms; 0 if never).
    pub fn last_progress_ms(&self) -> i64 {
        self.0.last_progress_ms.load(Ordering::Relaxed)
    }

    /// Prometheus text exposition of the counters, plus redactions by rule.
    pub fn render_prometheus(&self, redactions: &[(&str, u64)]) -> String {
        let c = &self.0;
        let mut out = String::with_capacity(2048);
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        let counters: [(&str, &str, &AtomicU64); 11] = [
            (
                "aistudio_sidecar_lines_read_total",
                "Lines read by all sources.",
                &c.lines_read,
            ),
            (
                "aistudio_sidecar_events_shipped_total",
                "Events acknowledged by the sinks.",
                &c.events_shipped,
            ),
            (
                "aistudio_sidecar_bytes_shipped_total",
                "Bytes acknowledged by the sinks, with CloudWatch's per-event overhead.",
                &c.bytes_shipped,
            ),
            (
                "aistudio_sidecar_sink_requests_total",
                "Requests sent by the sinks.",
                &c.requests,
            ),
            (
                "aistudio_sidecar_retries_total",
                "Failed sink requests that were retried.",
                &c.retried,
            ),
            (
                "aistudio_sidecar_sink_errors_total",
                "Failed sink requests that were not retried.",
                &c.sink_errors,
            ),
            (
                "aistudio_sidecar_events_dropped_total",
                "Events given up on.",
                &c.dropped,
            ),
            (
                "aistudio_sidecar_lines_split_total",
                "Lines split because they were over CloudWatch's per-event limit.",
                &c.lines_split,
            ),
            (
                "aistudio_sidecar_events_spilled_total",
                "Events written to a disk buffer because a sink fell behind.",
                &c.spilled,
            ),
            (
                "aistudio_sidecar_sink_unauthorized_total",
                "Sink requests refused for credentials or permissions (data held, retried).",
                &c.unauthorized,
            ),
            (
                "aistudio_sidecar_disk_records_corrupt_total",
                "Disk buffer records skipped because their checksum did not match.",
                &c.corrupt_records,
            ),
        ];
        for (name, help, value) in counters {
            counter(name, help, value.load(Ordering::Relaxed));
        }
        let _ = writeln!(
            out,
            "# HELP aistudio_sidecar_events_rejected_total Events CloudWatch refused, by reason.\n# TYPE aistudio_sidecar_events_rejected_total counter"
        );
        for (index, reason) in RejectReason::ALL.iter().enumerate() {
            let _ = writeln!(
                out,
                "aistudio_sidecar_events_rejected_total{{reason=\"{}\"}} {}",
                reason.label(),
                c.rejected[index].load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP aistudio_sidecar_buffer_events Events handed to a sink and not yet delivered (queued, batched or in flight; spilled events count once read back).\n# TYPE aistudio_sidecar_buffer_events gauge\naistudio_sidecar_buffer_events {}",
            c.queued_events.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP aistudio_sidecar_source_files_unreadable Files a file source's globs match that cannot be opened (retried with backoff).\n# TYPE aistudio_sidecar_source_files_unreadable gauge\naistudio_sidecar_source_files_unreadable {}",
            c.unreadable_files.load(Ordering::Relaxed)
        );
        if let Ok(buffers) = c.buffers.lock() {
            let _ = writeln!(
                out,
                "# HELP aistudio_sidecar_disk_buffer_bytes Bytes in each sink's disk buffer.\n# TYPE aistudio_sidecar_disk_buffer_bytes gauge"
            );
            for buffer in buffers.iter() {
                let _ = writeln!(
                    out,
                    "aistudio_sidecar_disk_buffer_bytes{{sink=\"{}\"}} {}",
                    buffer.sink,
                    buffer.used.load(Ordering::Relaxed)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP aistudio_sidecar_redactions_total Values replaced, by redaction rule.\n# TYPE aistudio_sidecar_redactions_total counter"
        );
        for (rule, count) in redactions {
            let _ = writeln!(
                out,
                "aistudio_sidecar_redactions_total{{rule=\"{rule}\"}} {count}"
            );
        }
        if let Some(exporter) = c.metrics.get() {
            out.push_str(&exporter.render());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_with_bounded_labels() {
        let t = Telemetry::default();
        t.emit(SidecarEvent::LinesRead(3));
        t.emit(SidecarEvent::EventsShipped(2));
        t.emit(SidecarEvent::EventsRejected(RejectReason::TooNew, 4));
        let text = t.render_prometheus(&[("email", 5)]);
        assert!(
            text.contains("aistudio_sidecar_lines_read_total 3\n"),
            "{text}"
        );
        assert!(text.contains("aistudio_sidecar_events_shipped_total 2\n"));
        assert!(text.contains("aistudio_sidecar_events_rejected_total{reason=\"too_new\"} 4\n"));
        assert!(text.contains("aistudio_sidecar_events_rejected_total{reason=\"too_old\"} 0\n"));
        assert!(text.contains("aistudio_sidecar_redactions_total{rule=\"email\"} 5\n"));
        assert!(t.last_progress_ms() > 0);
    }
}
