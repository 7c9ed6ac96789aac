//! The application metrics and the metric stage's own counters in the Prometheus text format,
//! through `metrics-exporter-prometheus` (a private recorder: nothing global is installed),
//! rendered after the sidecar's health counters on the API's `/metrics`.

use std::sync::Arc;

use metrics::{Counter, Histogram, Key, Label, Metadata, Recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use crate::datum::Aggregation;
use crate::datum::RejectKind;

/// Prefix of the application metrics' names.
pub const APP_PREFIX: &str = "aistudio_streaming_";

/// Histogram buckets for distributions: wide enough for milliseconds and seconds alike.
const BUCKETS: [f64; 24] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0,
    1_000.0, 2_500.0, 5_000.0, 10_000.0, 30_000.0, 60_000.0, 120_000.0, 300_000.0,
];

const METADATA: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// The recorder and its handle.
#[derive(Clone)]
pub struct Exporter {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Exporter")
    }
}

impl Default for Exporter {
    fn default() -> Self {
        Self::new()
    }
}

/// A series' Prometheus instrument.
#[derive(Clone)]
pub enum Instrument {
    /// A sum rule.
    Counter(Counter),
    /// A distribution rule.
    Histogram(Histogram),
}

impl std::fmt::Debug for Instrument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Counter(_) => "Counter",
            Self::Histogram(_) => "Histogram",
        })
    }
}

impl Instrument {
    /// Records one observation. Counters take whole, non-negative increments: a fractional
    /// value is rounded and a negative one is left out of the counter (CloudWatch gets it).
    pub fn record(&self, value: f64) {
        match self {
            Self::Counter(c) => {
                if value >= 0.0 {
                    c.increment(value.round() as u64);
                }
            }
            Self::Histogram(h) => h.record(value),
        }
    }

    /// Records `count` observations of `value` (a histogram bucket from a metric point).
    pub fn record_many(&self, value: f64, count: u64) {
        match self {
            Self::Counter(c) => {
                if value >= 0.0 {
                    c.increment((value * count as f64).round() as u64);
                }
            }
            Self::Histogram(h) => {
                h.record_many(value, usize::try_from(count).unwrap_or(usize::MAX))
            }
        }
    }
}

/// `JobsCreated` → `jobs_created`, `ModelId` → `model_id`; anything outside `[a-zA-Z0-9_]`
/// becomes `_`.
pub fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut previous_lower = false;
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            if previous_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            previous_lower = false;
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
            previous_lower = true;
        } else {
            out.push('_');
            previous_lower = false;
        }
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

impl Exporter {
    /// A fresh recorder with the stage's own counters described.
    pub fn new() -> Self {
        let builder = PrometheusBuilder::new();
        let builder = match builder.set_buckets(&BUCKETS) {
            Ok(b) => b,
            // Only an empty bucket list is refused; ours is not empty.
            Err(_) => PrometheusBuilder::new(),
        };
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        let exporter = Self {
            recorder: Arc::new(recorder),
            handle,
        };
        for (name, help) in [
            ("aistudio_sidecar_metric_observations_total", "Rule matches recorded into metrics."),
            ("aistudio_sidecar_metric_values_rejected_total", "Values CloudWatch would reject, by reason; never sent."),
            ("aistudio_sidecar_metric_dimension_overflow_total", "Observations folded into the Other dimension set by the cardinality guard, by metric."),
            ("aistudio_sidecar_metric_datums_published_total", "Datums accepted by the metrics destination."),
            ("aistudio_sidecar_metric_datums_dropped_total", "Datums given up on (destination refused them, queue full, or shutdown deadline)."),
            ("aistudio_sidecar_metric_requests_total", "PutMetricData calls (or EMF/file writes) sent."),
            ("aistudio_sidecar_metric_retries_total", "Failed metric publications that were retried."),
        ] {
            exporter.recorder.describe_counter(name.into(), None, help.into());
        }
        exporter
    }

    /// The instrument of one application series.
    pub fn instrument(
        &self,
        metric: &str,
        aggregation: Aggregation,
        labels: &[(Arc<str>, String)],
    ) -> Instrument {
        let labels: Vec<Label> = labels
            .iter()
            .map(|(name, value)| Label::new(snake_case(name), value.clone()))
            .collect();
        match aggregation {
            Aggregation::Sum => {
                let key =
                    Key::from_parts(format!("{APP_PREFIX}{}_total", snake_case(metric)), labels);
                Instrument::Counter(self.recorder.register_counter(&key, &METADATA))
            }
            Aggregation::Distribution => {
                let key = Key::from_parts(format!("{APP_PREFIX}{}", snake_case(metric)), labels);
                Instrument::Histogram(self.recorder.register_histogram(&key, &METADATA))
            }
        }
    }

    /// One of the stage's own counters.
    pub fn counter(&self, name: &'static str, labels: &[(&'static str, String)]) -> Counter {
        let labels: Vec<Label> = labels
            .iter()
            .map(|(k, v)| Label::new(*k, v.clone()))
            .collect();
        self.recorder
            .register_counter(&Key::from_parts(name, labels), &METADATA)
    }

    /// `aistudio_sidecar_metric_datums_published_total` as rendered (a `metrics` counter
    /// cannot be read back otherwise).
    pub fn datums_published(&self) -> u64 {
        self.render()
            .lines()
            .find_map(|line| {
                line.strip_prefix("aistudio_sidecar_metric_datums_published_total ")
                    .and_then(|v| v.trim().parse::<f64>().ok())
            })
            .map_or(0, |v| v as u64)
    }

    /// Folds recorded histogram samples into their buckets (bounds memory between scrapes).
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        self.handle.render()
    }
}

/// The stage's own counters.
#[derive(Debug, Clone)]
pub struct StageCounters {
    /// Rule matches recorded.
    pub observations: Counter,
    /// Rejected values by [`RejectKind::index`].
    pub rejected: [Counter; 3],
    /// Datums published.
    pub published: Counter,
    /// Datums dropped.
    pub dropped: Counter,
    /// Requests sent.
    pub requests: Counter,
    /// Retries.
    pub retries: Counter,
    exporter: Exporter,
}

impl StageCounters {
    /// Registers the counters in `exporter`.
    pub fn new(exporter: &Exporter) -> Self {
        let rejected = RejectKind::ALL.map(|kind| {
            exporter.counter(
                "aistudio_sidecar_metric_values_rejected_total",
                &[("reason", kind.label().to_owned())],
            )
        });
        Self {
            observations: exporter.counter("aistudio_sidecar_metric_observations_total", &[]),
            rejected,
            published: exporter.counter("aistudio_sidecar_metric_datums_published_total", &[]),
            dropped: exporter.counter("aistudio_sidecar_metric_datums_dropped_total", &[]),
            requests: exporter.counter("aistudio_sidecar_metric_requests_total", &[]),
            retries: exporter.counter("aistudio_sidecar_metric_retries_total", &[]),
            exporter: exporter.clone(),
        }
    }

    /// The overflow counter of `metric`.
    pub fn overflow(&self, metric: &str) -> Counter {
        self.exporter.counter(
            "aistudio_sidecar_metric_dimension_overflow_total",
            &[("metric", metric.to_owned())],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_prometheus_snake_case() {
        assert_eq!(snake_case("JobsCreated"), "jobs_created");
        assert_eq!(snake_case("TimeToFirstTokenMs"), "time_to_first_token_ms");
        assert_eq!(snake_case("ModelId"), "model_id");
        assert_eq!(snake_case("5xx-Errors"), "_5xx_errors");
    }

    #[test]
    fn counters_and_histograms_render() {
        let exporter = Exporter::new();
        let labels = vec![(Arc::from("Environment"), "dev".to_owned())];
        exporter
            .instrument("JobsCreated", Aggregation::Sum, &labels)
            .record(2.0);
        let h = exporter.instrument("ResponseTimeMs", Aggregation::Distribution, &labels);
        h.record(12.0);
        h.record(700.0);
        exporter.upkeep();
        let text = exporter.render();
        assert!(
            text.contains("aistudio_streaming_jobs_created_total{environment=\"dev\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("aistudio_streaming_response_time_ms_count{environment=\"dev\"} 2"),
            "{text}"
        );
        assert!(
            text.contains(
                "aistudio_streaming_response_time_ms_bucket{environment=\"dev\",le=\"25\"} 1"
            ),
            "{text}"
        );
    }
}
