//! The metric stage: log events → rules (extract) → per-period series (aggregate) → closed
//! datums, plus the sidecar's own losses as datums (health). It builds no sink: the topology
//! takes the closed datums to PutMetricData, EMF lines or a file. One file per concern:
//! `config` (rules from the catalog), `extract`, `cardinality` (the guard), `histogram`,
//! `aggregate` (log lines and sources' metric points alike), `health`.

mod aggregate;
mod cardinality;
pub mod config;
mod extract;
mod health;
pub mod histogram;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aistudio_core::clock::now_ms;
use tokio_util::sync::{CancellationToken, DropGuard};

/// The Prometheus exporter an [`Aggregator`] records into (part of its constructor).
pub use crate::telemetry::prometheus::Exporter;
pub use aggregate::Aggregator;
pub use config::{MetricsConfig, MetricsMode};

use crate::datum::Datum;
use crate::event::LogEvent;
use crate::metric_point::MetricPoint;
use crate::telemetry::prometheus::StageCounters;
use crate::telemetry::Telemetry;

/// Periods are closed this often (1 s: the high-resolution period).
const TICK: Duration = Duration::from_secs(1);

/// What the processor thread holds: records events; dropping it tells the publisher that no
/// more events will come (final flush).
#[derive(Debug)]
pub struct MetricsHandle {
    aggregator: Arc<Mutex<Aggregator>>,
    inputs_done: Arc<DropGuard>,
}

impl MetricsHandle {
    /// Extracts and aggregates the metrics of a decoded, redacted chunk.
    pub fn observe(&self, events: &[LogEvent]) {
        if let Ok(mut aggregator) = self.aggregator.lock() {
            aggregator.observe(events, now_ms());
        }
    }

    /// A recorder for sources' metric points; the final flush waits for it to be dropped
    /// too, so points recorded during shutdown are published.
    pub fn points_recorder(&self) -> PointsRecorder {
        PointsRecorder {
            aggregator: Arc::clone(&self.aggregator),
            _inputs_done: Arc::clone(&self.inputs_done),
        }
    }
}

/// Records metric points (OTLP metrics) into the same aggregation as the log lines.
#[derive(Debug)]
pub struct PointsRecorder {
    aggregator: Arc<Mutex<Aggregator>>,
    _inputs_done: Arc<DropGuard>,
}

impl PointsRecorder {
    /// Records a batch of points.
    pub fn observe(&self, points: &[MetricPoint]) {
        if let Ok(mut aggregator) = self.aggregator.lock() {
            aggregator.observe_points(points, now_ms());
        }
    }
}

/// The resolved destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// PutMetricData.
    PutMetricData,
    /// EMF lines through the log sinks.
    Emf,
    /// NDJSON file.
    File,
    /// None (Prometheus only).
    Off,
}

impl MetricsConfig {
    /// The destination in effect (`auto` resolves by whether AWS settings were found).
    pub fn destination(&self, aws_detected: bool) -> Destination {
        match self.mode {
            MetricsMode::Auto if aws_detected => Destination::PutMetricData,
            MetricsMode::Auto | MetricsMode::File => Destination::File,
            MetricsMode::PutMetricData => Destination::PutMetricData,
            MetricsMode::Emf => Destination::Emf,
            MetricsMode::Off => Destination::Off,
        }
    }
}

/// The publisher's side of the stage: closed periods, as datums, once per tick.
#[derive(Debug)]
pub struct ClosedPeriods {
    aggregator: Arc<Mutex<Aggregator>>,
    health: Option<health::HealthDatums>,
    counters: StageCounters,
    inputs_done: CancellationToken,
}

impl ClosedPeriods {
    /// Waits for the next tick; `true` when the inputs are done (the last flush).
    pub async fn tick(&self) -> bool {
        tokio::select! {
            () = tokio::time::sleep(TICK) => false,
            () = self.inputs_done.cancelled() => true,
        }
    }

    /// The periods closed by now (all of them when `last`).
    pub fn flush(&self, last: bool) -> Vec<Datum> {
        match self.aggregator.lock() {
            Ok(mut aggregator) => aggregator.flush(now_ms(), last),
            Err(_) => Vec::new(),
        }
    }

    /// The sidecar's own loss datums for the periods closed by now.
    pub fn health(&mut self, last: bool) -> Vec<Datum> {
        match &mut self.health {
            Some(health) => health.collect(now_ms(), last),
            None => Vec::new(),
        }
    }

    /// Whether the sidecar's own losses are published.
    pub fn reports_health(&self) -> bool {
        self.health.is_some()
    }

    /// The stage's counters (requests, published, dropped, rejected).
    pub fn counters(&self) -> &StageCounters {
        &self.counters
    }
}

/// Builds the stage: the aggregator, its Prometheus output attached to `telemetry`, the
/// processor's handle and the publisher's side.
pub fn start(
    metrics: &MetricsConfig,
    environment: &str,
    telemetry: &Telemetry,
) -> (MetricsHandle, ClosedPeriods) {
    let exporter = Exporter::new();
    telemetry.attach_metrics(exporter.clone());
    let aggregator = Aggregator::new(metrics, environment, &exporter);
    let counters = aggregator.counters().clone();
    let aggregator = Arc::new(Mutex::new(aggregator));
    let inputs_done = CancellationToken::new();
    let periods = ClosedPeriods {
        aggregator: Arc::clone(&aggregator),
        health: metrics.sidecar_health.then(|| {
            health::HealthDatums::new(telemetry.clone(), environment, metrics.period_secs)
        }),
        counters,
        inputs_done: inputs_done.clone(),
    };
    let handle = MetricsHandle {
        aggregator,
        inputs_done: Arc::new(inputs_done.drop_guard()),
    };
    (handle, periods)
}
