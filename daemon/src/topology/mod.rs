//! Builds the pipeline from the config — every sink (log and metric), the processor, every
//! source, the API — and runs the one shutdown sequence: stop sources, drain sinks within the
//! deadline, save checkpoints, exit.
//!
//! Data flow: sources → raw chunks → processor (decode + redact, metric extraction) →
//! [`fanout::FanOut`] → each log sink's buffer (memory, spilling to disk) → log sink. The
//! metric publisher takes closed periods to PutMetricData, a file, or EMF lines through the
//! same fan-out.

mod fanout;
mod metrics;
mod processor;
mod sinks;
mod sources;
mod startup;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::SidecarConfig;
use crate::event::AckGate;
use crate::redact::Redactor;
use crate::sources::{RawChunk, CHUNK_MAX_BYTES};
use crate::telemetry::Telemetry;
use fanout::FanOut;

/// Deepest in-memory queue between two stages, in chunks.
const MAX_QUEUE_CHUNKS: u64 = 8;

/// After the deadline, sinks get this long to fail their batches back and stop.
const GIVE_UP_GRACE: Duration = Duration::from_secs(2);

/// What one pipeline run shares between its parts.
struct Run {
    config: SidecarConfig,
    telemetry: Telemetry,
    redactor: Arc<Redactor>,
    /// Acknowledgements of this run; frozen once its checkpoints are saved.
    acks: AckGate,
    /// Stops the sources (the first step of the shutdown).
    stop_sources: CancellationToken,
    /// The shutdown deadline: sinks fail back what is unsent.
    force: CancellationToken,
    /// Every sink task, the metric publisher included.
    sinks: TaskTracker,
    /// Queue depth between two stages, in chunks.
    slots: usize,
}

/// Runs the pipeline until `shutdown` resolves or every source ended (stdin closed), then
/// drains. Returns once everything is flushed or the deadline passed.
pub async fn run(
    config: SidecarConfig,
    redactor: Arc<Redactor>,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    // Every port first: a busy one fails the start before any line is read.
    let listeners = startup::Listeners::bind(&config).await?;
    // Memory bound: two queues (raw chunks, decoded events) share the budget; each slot
    // holds at most one chunk of CHUNK_MAX_BYTES. Never deeper than MAX_QUEUE_CHUNKS: on W1
    // deeper queues only added resident memory, not throughput (README, "Measured").
    let slots = (config.buffer.max_memory_bytes / 2 / CHUNK_MAX_BYTES as u64)
        .clamp(1, MAX_QUEUE_CHUNKS) as usize;
    let run = Run {
        config,
        telemetry: Telemetry::default(),
        redactor,
        acks: AckGate::default(),
        stop_sources: CancellationToken::new(),
        force: CancellationToken::new(),
        sinks: TaskTracker::new(),
        slots,
    };
    // Signals work from the first instant: a SIGTERM during start-up ends it at once.
    tokio::pin!(shutdown);
    let started = tokio::select! {
        started = start(&run, listeners) => started,
        () = &mut shutdown => {
            startup::abort(&run);
            tracing::info!("shutdown requested during start-up; nothing was delivered yet");
            return Ok(());
        }
    };
    let Started {
        sources,
        processor,
        api_stop,
    } = match started {
        Ok(started) => started,
        Err(err) => {
            startup::abort(&run);
            return Err(err);
        }
    };
    tracing::info!("aistudio-sidecar running");

    // Wait for a signal, or for every source to finish (stdin EOF) and the sinks to drain.
    tokio::select! {
        () = &mut shutdown => tracing::info!("shutdown requested: stopping sources, draining sinks"),
        () = run.sinks.wait() => {}
    }
    drain(&run).await;
    let _ = tokio::task::spawn_blocking(move || processor.join()).await;
    sources.save_checkpoints()?;
    // Whatever is still in memory now is dropped by teardown, not delivered.
    run.acks.freeze();
    api_stop.cancel();
    tracing::info!(
        lines_read = run.telemetry.lines_read(),
        events_shipped = run.telemetry.events_shipped(),
        events_dropped = run.telemetry.dropped(),
        metric_datums_published = run.telemetry.metric_datums_published(),
        "aistudio-sidecar stopped"
    );
    Ok(())
}

/// Stops the sources and waits for the sinks to drain, at most until the deadline; past it,
/// the sinks fail back what is unsent (their sources re-read it on the next start).
async fn drain(run: &Run) {
    run.stop_sources.cancel();
    let deadline = Duration::from_secs(run.config.shutdown_deadline_secs);
    if tokio::time::timeout(deadline, run.sinks.wait())
        .await
        .is_err()
    {
        tracing::error!(
            deadline_secs = run.config.shutdown_deadline_secs,
            "sinks did not drain before the deadline; failing back what is unsent"
        );
        run.force.cancel();
        let _ = tokio::time::timeout(GIVE_UP_GRACE, run.sinks.wait()).await;
    }
}

/// What a completed start-up hands to the shutdown sequence.
struct Started {
    sources: sources::Sources,
    processor: std::thread::JoinHandle<()>,
    api_stop: CancellationToken,
}

/// Starts every component, sinks first so nothing is read before there is somewhere to put
/// it. On an error the caller aborts the run: what did start stops at once.
async fn start(run: &Run, mut listeners: startup::Listeners) -> anyhow::Result<Started> {
    let (raw_tx, raw_rx) = mpsc::channel::<RawChunk>(run.slots);
    let log_sinks = sinks::start_log_sinks(run).await?;
    let fanout = Arc::new(FanOut::new(log_sinks.senders));
    let (metrics, periods) =
        crate::metric_stage::start(&run.config.metrics, &run.config.environment, &run.telemetry);
    let output = metrics::output_for(&run.config, periods.counters(), &fanout).await;
    let publisher = metrics::Publisher::new(&run.config, periods, output, log_sinks.tasks);
    run.sinks.spawn(publisher.run(run.force.clone()));
    run.sinks.close();

    let points_tx = record_points(&metrics);
    let processor = processor::spawn(run, raw_rx, fanout, metrics)?;
    let sources = sources::start(run, raw_tx, points_tx, &mut listeners)?;
    let api_stop = CancellationToken::new();
    tokio::spawn(crate::telemetry::health::watch(
        run.telemetry.clone(),
        run.config.api.health_policy(),
        api_stop.clone(),
    ));
    if let Some(listener) = listeners.api {
        serve_api(run, listener, api_stop.clone());
    }
    Ok(Started {
        sources,
        processor,
        api_stop,
    })
}

/// Batches of metric points (OTLP requests) queued for the metric stage: a few requests'
/// worth, so a burst of exporters waits (then hears 429) instead of growing memory.
const POINT_BATCH_SLOTS: usize = 16;

/// The queue sources put metric points on, and the task recording them into the metric
/// stage; the stage's final flush waits until the task ends (every sender dropped).
fn record_points(
    metrics: &crate::metric_stage::MetricsHandle,
) -> mpsc::Sender<crate::metric_point::PointBatch> {
    let (tx, mut rx) = mpsc::channel::<crate::metric_point::PointBatch>(POINT_BATCH_SLOTS);
    let recorder = metrics.points_recorder();
    tokio::spawn(async move {
        while let Some(batch) = rx.recv().await {
            recorder.observe(&batch);
        }
    });
    tx
}

/// Serves the health and metrics API on its bound listener until `stop`.
fn serve_api(run: &Run, listener: tokio::net::TcpListener, stop: CancellationToken) {
    let app = crate::api::router(
        run.telemetry.clone(),
        Arc::clone(&run.redactor),
        &run.config.api,
    );
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        if let Err(err) = served {
            tracing::error!(error = %err, "health and metrics API stopped");
        }
    });
}
