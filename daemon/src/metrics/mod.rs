//! The metric stage: log events → rules (extract) → per-period series (aggregate) → datums
//! published to CloudWatch (PutMetricData or EMF through the log sinks) or a local file, and
//! to the Prometheus endpoint. One file per concern: `config` (rules and the catalog),
//! `extract`, `cardinality` (the guard), `histogram` and `aggregate`, `datum` (limits),
//! `prometheus`, `health` (the sidecar's own losses as datums).

pub mod aggregate;
pub mod cardinality;
pub mod config;
pub mod datum;
pub mod extract;
pub mod health;
pub mod histogram;
pub mod prometheus;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;

pub use aggregate::Aggregator;
pub use config::{MetricsConfig, MetricsMode};
use datum::Datum;
use prometheus::{Exporter, StageCounters};

use crate::aws::AwsClients;
use crate::config::SidecarConfig;
use crate::decode::now_ms;
use crate::event::LogEvent;
use crate::sinks::cloudwatch_metrics::batch::take_request;
use crate::sinks::cloudwatch_metrics::sink::metrics_client;
use crate::sinks::cloudwatch_metrics::CloudWatchMetricsSink;
use crate::sinks::emf::EmfWriter;
use crate::sinks::metrics_file::MetricsFile;
use crate::telemetry::Telemetry;

/// The publisher wakes this often to close periods (1 s: the high-resolution period).
const TICK: Duration = Duration::from_secs(1);

/// After the shutdown deadline, how long the final health report waits for the log sinks to
/// count what they fail back (they do it at once; the topology allows them 2 s in all).
const LOG_SINKS_GIVE_UP: Duration = Duration::from_millis(500);

/// What the processor thread holds: records events; dropping it tells the publisher that no
/// more events will come (final flush).
#[derive(Debug)]
pub struct MetricsHandle {
    aggregator: Arc<Mutex<Aggregator>>,
    _inputs_done: DropGuard,
}

impl MetricsHandle {
    /// Extracts and aggregates the metrics of a decoded, redacted chunk.
    pub fn observe(&self, events: &[LogEvent]) {
        if let Ok(mut aggregator) = self.aggregator.lock() {
            aggregator.observe(events, now_ms());
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

enum Output {
    PutMetricData(CloudWatchMetricsSink),
    Emf(EmfWriter),
    File(MetricsFile, StageCounters),
    Off,
}

/// Starts the stage: builds the aggregator, attaches its Prometheus output to `telemetry`,
/// and spawns the publisher on `tracker` (so the pipeline's shutdown waits for its final
/// flush; `force` is the shutdown deadline). `log_sinks` are the log sinks' queues, used by
/// the `emf` mode; `log_sink_tasks` tracks the log sinks, whose last losses the final
/// `sidecar_health` datums wait for. Returns the handle for the processor thread.
pub async fn start(
    config: &SidecarConfig,
    telemetry: &Telemetry,
    tracker: &TaskTracker,
    log_sinks: Vec<mpsc::Sender<Vec<LogEvent>>>,
    log_sink_tasks: TaskTracker,
    force: CancellationToken,
) -> MetricsHandle {
    let metrics = &config.metrics;
    let exporter = Exporter::new();
    telemetry.attach_metrics(exporter.clone());
    let aggregator = Aggregator::new(metrics, &config.environment, &exporter);
    let counters = aggregator.counters().clone();
    let aggregator = Arc::new(Mutex::new(aggregator));
    let destination = metrics.destination(config.aws_detected);
    let output = match destination {
        Destination::PutMetricData => {
            let clients = AwsClients::from_config(&config.aws).await;
            tracing::info!(namespace = %metrics.namespace, "publishing metrics with PutMetricData");
            Output::PutMetricData(CloudWatchMetricsSink {
                client: metrics_client(&clients),
                namespace: metrics.namespace.clone(),
                counters: counters.clone(),
            })
        }
        Destination::Emf => {
            tracing::info!(namespace = %metrics.namespace, "publishing metrics as EMF lines through the log sinks");
            Output::Emf(EmfWriter {
                sinks: log_sinks,
                namespace: metrics.namespace.clone(),
                telemetry: telemetry.clone(),
                counters: counters.clone(),
            })
        }
        Destination::File => {
            let path = metrics
                .file_path
                .clone()
                .unwrap_or_else(|| config.data_dir.join("metrics.ndjson"));
            tracing::info!(path = %path.display(), "writing metric datums to a local file");
            Output::File(
                MetricsFile {
                    path,
                    max_bytes: metrics.file_max_bytes,
                    namespace: metrics.namespace.clone(),
                },
                counters.clone(),
            )
        }
        Destination::Off => Output::Off,
    };
    let inputs_done = CancellationToken::new();
    let publisher = Publisher {
        aggregator: Arc::clone(&aggregator),
        output,
        pending: VecDeque::new(),
        oldest: None,
        batch_delay: Duration::from_millis(metrics.batch_delay_ms),
        max_pending: metrics.max_pending_datums,
        counters,
        log_sink_tasks,
        health: metrics.sidecar_health.then(|| {
            health::HealthDatums::new(telemetry.clone(), &config.environment, metrics.period_secs)
        }),
    };
    tracker.spawn(publisher.run(inputs_done.clone(), force));
    MetricsHandle {
        aggregator,
        _inputs_done: inputs_done.drop_guard(),
    }
}

struct Publisher {
    aggregator: Arc<Mutex<Aggregator>>,
    output: Output,
    pending: VecDeque<Datum>,
    oldest: Option<Instant>,
    batch_delay: Duration,
    max_pending: usize,
    counters: StageCounters,
    log_sink_tasks: TaskTracker,
    health: Option<health::HealthDatums>,
}

impl Publisher {
    async fn run(mut self, inputs_done: CancellationToken, force: CancellationToken) {
        loop {
            let last = tokio::select! {
                () = tokio::time::sleep(TICK) => false,
                () = inputs_done.cancelled() => true,
            };
            let datums = match self.aggregator.lock() {
                Ok(mut aggregator) => aggregator.flush(now_ms(), last),
                Err(_) => Vec::new(),
            };
            self.enqueue(datums);
            if last {
                self.after_log_sinks(&force).await;
            }
            if let Some(health) = &mut self.health {
                let datums = health.collect(now_ms(), last);
                self.enqueue(datums);
            }
            self.publish(last, &force).await;
            if last {
                return;
            }
        }
    }

    /// At shutdown, waits for the log sinks to finish (a sink giving up at the deadline is a
    /// loss the final health datums must carry), publishing what is closed meanwhile. Not in
    /// `emf` mode: there the log sinks wait for this writer's own queues to close.
    async fn after_log_sinks(&mut self, force: &CancellationToken) {
        if self.health.is_none() || matches!(self.output, Output::Emf(_)) {
            return;
        }
        self.publish(false, force).await;
        tokio::select! {
            () = self.log_sink_tasks.wait() => {}
            // Past the deadline the sinks fail back what is unsent at once; give them that
            // moment, then report whatever they counted.
            () = async {
                force.cancelled().await;
                tokio::time::sleep(LOG_SINKS_GIVE_UP).await;
            } => {}
        }
    }

    fn enqueue(&mut self, datums: Vec<Datum>) {
        if datums.is_empty() {
            return;
        }
        if self.oldest.is_none() {
            self.oldest = Some(Instant::now());
        }
        self.pending.extend(datums);
        let over = self.pending.len().saturating_sub(self.max_pending);
        if over > 0 {
            self.pending.drain(..over);
            self.counters.dropped.increment(over as u64);
            tracing::error!(
                datums = over,
                "metric queue full while the destination is unreachable; oldest datums dropped"
            );
        }
    }

    async fn publish(&mut self, last: bool, force: &CancellationToken) {
        if self.pending.is_empty() {
            return;
        }
        match &self.output {
            Output::PutMetricData(sink) => {
                let delay_passed = self.oldest.is_some_and(|t| t.elapsed() >= self.batch_delay);
                let only_full = !(last || delay_passed);
                while let Some(request) = take_request(&mut self.pending, only_full) {
                    sink.send(request, force).await;
                }
            }
            Output::Emf(writer) => {
                let datums: Vec<Datum> = self.pending.drain(..).collect();
                writer.write(&datums).await;
            }
            Output::File(file, counters) => {
                let datums: Vec<Datum> = self.pending.drain(..).collect();
                let file = file.clone();
                let count = datums.len() as u64;
                let written = tokio::task::spawn_blocking(move || file.write(&datums)).await;
                counters.requests.increment(1);
                match written {
                    Ok(Ok(())) => counters.published.increment(count),
                    Ok(Err(err)) => {
                        counters.dropped.increment(count);
                        tracing::error!(error = %err, datums = count, "cannot write the metric datum file; check the path and free space");
                    }
                    Err(err) => {
                        counters.dropped.increment(count);
                        tracing::error!(error = %err, "metric file writer stopped");
                    }
                }
            }
            Output::Off => self.pending.clear(),
        }
        if self.pending.is_empty() {
            self.oldest = None;
        }
    }
}
