//! The metric publisher: takes the metric stage's closed periods to their destination
//! (PutMetricData, EMF lines through the same buffered path as every log line, a datum file,
//! or nowhere), batching PutMetricData requests and bounding what waits while CloudWatch is
//! unreachable.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use aistudio_core::aws::AwsClients;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::fanout::FanOut;
use crate::config::SidecarConfig;
use crate::datum::Datum;
use crate::event::LogEvent;
use crate::metric_stage::{ClosedPeriods, Destination};
use crate::sinks::cloudwatch_metrics::{take_request, CloudWatchMetricsSink};
use crate::sinks::emf;
use crate::sinks::metrics_file::MetricsFile;
use crate::telemetry::prometheus::StageCounters;

/// After the shutdown deadline, how long the final health report waits for the log sinks to
/// count what they fail back (they do it at once; the topology allows them 2 s in all).
const LOG_SINKS_GIVE_UP: Duration = Duration::from_millis(500);

/// Where the datums go.
pub enum Output {
    PutMetricData(CloudWatchMetricsSink),
    Emf {
        fanout: Arc<FanOut>,
        namespace: String,
    },
    File(MetricsFile),
    Off,
}

/// Builds the destination the config asks for. `fanout` is the log sinks' buffered input,
/// which the `emf` mode writes into.
pub async fn output_for(
    config: &SidecarConfig,
    counters: &StageCounters,
    fanout: &Arc<FanOut>,
) -> Output {
    let metrics = &config.metrics;
    match metrics.destination(config.aws_detected) {
        Destination::PutMetricData => {
            let clients = AwsClients::from_config(&config.aws).await;
            tracing::info!(namespace = %metrics.namespace, "publishing metrics with PutMetricData");
            Output::PutMetricData(CloudWatchMetricsSink::new(
                &clients,
                metrics.namespace.clone(),
                counters.clone(),
            ))
        }
        Destination::Emf => {
            tracing::info!(namespace = %metrics.namespace, "publishing metrics as EMF lines through the log sinks");
            Output::Emf {
                fanout: Arc::clone(fanout),
                namespace: metrics.namespace.clone(),
            }
        }
        Destination::File => {
            let path = metrics
                .file_path
                .clone()
                .unwrap_or_else(|| config.data_dir.join("metrics.ndjson"));
            tracing::info!(path = %path.display(), "writing metric datums to a local file");
            Output::File(MetricsFile {
                path,
                max_bytes: metrics.file_max_bytes,
                namespace: metrics.namespace.clone(),
            })
        }
        Destination::Off => Output::Off,
    }
}

/// Publishes closed periods until the stage's inputs are done, then makes the final flush.
pub struct Publisher {
    periods: ClosedPeriods,
    output: Output,
    pending: VecDeque<Datum>,
    oldest: Option<Instant>,
    batch_delay: Duration,
    max_pending: usize,
    counters: StageCounters,
    log_sink_tasks: TaskTracker,
}

impl Publisher {
    /// A publisher of `periods` to `output`; `log_sink_tasks` tracks the log sinks, whose
    /// last losses the final health datums wait for.
    pub fn new(
        config: &SidecarConfig,
        periods: ClosedPeriods,
        output: Output,
        log_sink_tasks: TaskTracker,
    ) -> Self {
        let counters = periods.counters().clone();
        Self {
            periods,
            output,
            pending: VecDeque::new(),
            oldest: None,
            batch_delay: Duration::from_millis(config.metrics.batch_delay_ms),
            max_pending: config.metrics.max_pending_datums,
            counters,
            log_sink_tasks,
        }
    }

    /// Runs until the final flush; `force` is the shutdown deadline.
    pub async fn run(mut self, force: CancellationToken) {
        loop {
            let last = self.periods.tick().await;
            let datums = self.periods.flush(last);
            self.enqueue(datums);
            if last {
                self.after_log_sinks(&force).await;
            }
            let datums = self.periods.health(last);
            self.enqueue(datums);
            self.publish(last, &force).await;
            if last {
                break;
            }
        }
        // The last holder of the fan-out closes the log sinks' buffers, which may wait for
        // their disk readers: not on a runtime thread.
        if let Output::Emf { fanout, .. } = self.output {
            let _ = tokio::task::spawn_blocking(move || drop(fanout)).await;
        }
    }

    /// At shutdown, waits for the log sinks to finish (a sink giving up at the deadline is a
    /// loss the final health datums must carry), publishing what is closed meanwhile. Not in
    /// `emf` mode: there the log sinks wait for this publisher's own lines.
    async fn after_log_sinks(&mut self, force: &CancellationToken) {
        if !self.periods.reports_health() || matches!(self.output, Output::Emf { .. }) {
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
            Output::Emf { fanout, namespace } => {
                let datums: Vec<Datum> = self.pending.drain(..).collect();
                write_emf(fanout, namespace, &datums, &self.counters).await;
            }
            Output::File(file) => {
                let datums: Vec<Datum> = self.pending.drain(..).collect();
                write_file(file, datums, &self.counters).await;
            }
            Output::Off => self.pending.clear(),
        }
        if self.pending.is_empty() {
            self.oldest = None;
        }
    }
}

/// Renders `datums` as EMF lines and hands them to every log sink through its buffer, like
/// any log line: they spill to disk rather than being lost when a sink falls behind.
async fn write_emf(
    fanout: &Arc<FanOut>,
    namespace: &str,
    datums: &[Datum],
    counters: &StageCounters,
) {
    let events: Vec<LogEvent> = emf::render(datums, namespace)
        .into_iter()
        .map(|(timestamp_ms, message)| LogEvent {
            timestamp_ms,
            message,
            ack: None,
        })
        .collect();
    if events.is_empty() {
        return;
    }
    counters.requests.increment(1);
    let fanout = Arc::clone(fanout);
    // A buffer's send blocks while memory and disk are full (`when_full = "block"`).
    match tokio::task::spawn_blocking(move || fanout.send(events)).await {
        Ok(()) => counters.published.increment(datums.len() as u64),
        Err(err) => {
            counters.dropped.increment(datums.len() as u64);
            tracing::error!(error = %err, datums = datums.len(), "the EMF writer stopped; datums dropped");
        }
    }
}

async fn write_file(file: &MetricsFile, datums: Vec<Datum>, counters: &StageCounters) {
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
