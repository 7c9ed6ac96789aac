//! Wires sources → decode/redact → sinks, and runs the one shutdown sequence: stop sources,
//! drain sinks within the deadline, save checkpoints, exit.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::aws::AwsClients;
use crate::buffer::SpillingSender;
use crate::config::{SidecarConfig, SinkChoice};
use crate::decode::Decoder;
use crate::event::LogEvent;
use crate::redact::Redactor;
use crate::sinks::cloudwatch_logs::service::StreamTarget;
use crate::sinks::cloudwatch_logs::{default_stream_name, CloudWatchLogsSink};
use crate::sinks::file::LocalTarget;
use crate::sources::checkpoint::Checkpoints;
use crate::sources::{file, stdin, tcp, RawChunk, CHUNK_MAX_BYTES};
use crate::telemetry::{SidecarEvent, Telemetry};

/// Deepest in-memory queue between two stages, in chunks.
const MAX_QUEUE_CHUNKS: u64 = 8;

/// After the deadline, sinks get this long to fail their batches back and stop.
const GIVE_UP_GRACE: Duration = Duration::from_secs(2);

/// Runs the pipeline until `shutdown` resolves or every source ended (stdin closed), then
/// drains. Returns once everything is flushed or the deadline passed.
pub async fn run(
    config: SidecarConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let telemetry = Telemetry::default();
    let redactor = Arc::new(Redactor::new(&config.redact).context("invalid [redact] config")?);
    let stop_sources = CancellationToken::new();
    let force = CancellationToken::new();
    let sinks = TaskTracker::new();
    // The log sinks alone, so the metric publisher can report their last losses after them.
    let log_sinks = TaskTracker::new();

    // Memory bound: two queues (raw chunks, decoded events) share the budget; each slot
    // holds at most one chunk of CHUNK_MAX_BYTES. Never deeper than MAX_QUEUE_CHUNKS: on W1
    // deeper queues only added resident memory, not throughput (README, "Measured").
    let slots = (config.buffer.max_memory_bytes / 2 / CHUNK_MAX_BYTES as u64)
        .clamp(1, MAX_QUEUE_CHUNKS) as usize;
    let (raw_tx, raw_rx) = mpsc::channel::<RawChunk>(slots);

    // Sinks first, so nothing is read before there is somewhere to put it.
    let buffer_dir = config
        .buffer
        .dir
        .clone()
        .unwrap_or_else(|| config.data_dir.join("buffer"));
    let mut sink_txs = Vec::new();
    let mut log_txs = Vec::new(); // for EMF metric lines
    for choice in config.sink_choices() {
        let (tx, rx) = mpsc::channel::<Vec<LogEvent>>(slots);
        log_txs.push(tx.clone());
        let dir = buffer_dir.join(choice.name());
        let sender = SpillingSender::open(
            tx,
            &dir,
            config.buffer.max_disk_bytes,
            config.buffer.when_full,
            telemetry.clone(),
        )
        .with_context(|| format!("cannot open the disk buffer in {}", dir.display()))?;
        sink_txs.push(sender);
        match choice {
            SinkChoice::CloudWatchLogs(cw) => {
                let clients = AwsClients::from_config(&config.aws).await;
                let stream = match &cw.log_stream {
                    Some(stream) => stream.clone(),
                    None => default_stream_name().await,
                };
                let target = StreamTarget {
                    group: cw.log_group_for(&config.environment),
                    stream,
                    retention_days: cw.retention_days,
                    create_group: cw.create_log_group,
                };
                tracing::info!(group = %target.group, stream = %target.stream, "shipping logs to CloudWatch Logs");
                let sink = CloudWatchLogsSink {
                    client: clients.logs_without_sdk_retries(),
                    target,
                    batch_timeout: Duration::from_millis(cw.batch_timeout_ms),
                    max_in_flight: cw.max_in_flight,
                    telemetry: telemetry.clone(),
                };
                sinks.spawn(log_sinks.track_future(sink.run(rx, force.clone())));
            }
            SinkChoice::Local(target) => {
                match &target {
                    LocalTarget::File(f) => {
                        tracing::info!(path = %f.path.display(), "no AWS settings or a file sink configured: writing redacted logs to a local file")
                    }
                    LocalTarget::Stdout => tracing::info!("writing redacted logs to stdout"),
                }
                let telemetry = telemetry.clone();
                let tracked = log_sinks.token();
                sinks.spawn_blocking(move || {
                    crate::sinks::file::run_blocking(target, rx, telemetry);
                    drop(tracked);
                });
            }
        }
    }
    // Metrics: extracted on the processor thread, published under the sinks' shutdown.
    log_sinks.close();
    let metrics = crate::metrics::start(
        &config,
        &telemetry,
        &sinks,
        log_txs,
        log_sinks,
        force.clone(),
    )
    .await;
    sinks.close();

    // The processor: decode and redact on its own thread, fan out to every sink.
    let decoder = Decoder::new(Arc::clone(&redactor));
    let processor = {
        let telemetry = telemetry.clone();
        std::thread::Builder::new()
            .name("processor".into())
            .spawn(move || process(raw_rx, decoder, sink_txs, telemetry, metrics))
            .context("cannot start the processor thread")?
    };

    // Sources.
    let max_line = config.sources.max_line_bytes;
    let mut checkpoints = Vec::new();
    let sources = TaskTracker::new();
    if config.sources.stdin_enabled() {
        // The stdin thread may sit in a blocking read forever; it feeds a forwarder that stops
        // on shutdown, so the pipeline can drain without waiting for more input.
        let (fwd_tx, mut fwd_rx) = mpsc::channel::<RawChunk>(1);
        stdin::spawn(fwd_tx, stop_sources.clone(), telemetry.clone(), max_line)
            .context("cannot start the stdin source")?;
        let out = raw_tx.clone();
        let stop = stop_sources.clone();
        sources.spawn(async move {
            loop {
                let chunk = tokio::select! {
                    () = stop.cancelled() => break,
                    chunk = fwd_rx.recv() => chunk,
                };
                let Some(chunk) = chunk else { break };
                if out.send(chunk).await.is_err() {
                    break;
                }
            }
        });
    }
    for (index, file_config) in config.sources.file.iter().enumerate() {
        let path = file_config
            .checkpoint_path
            .clone()
            .unwrap_or_else(|| config.data_dir.join(format!("checkpoints-{index}.json")));
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).with_context(|| {
                format!(
                    "cannot create the checkpoint directory {}",
                    parent.display()
                )
            })?;
        }
        let cps = Arc::new(Mutex::new(Checkpoints::load(Some(path))?));
        checkpoints.push(Arc::clone(&cps));
        let handle = file::spawn(
            file_config.clone(),
            cps,
            raw_tx.clone(),
            stop_sources.clone(),
            telemetry.clone(),
            max_line,
        )?;
        sources.spawn_blocking(move || {
            let _ = handle.join();
        });
    }
    if let Some(tcp_config) = &config.sources.tcp {
        let listener = tcp::bind(tcp_config).await.with_context(|| {
            format!("cannot listen on {} for the tcp source", tcp_config.address)
        })?;
        tracing::info!(address = %tcp_config.address, "tcp source listening");
        sources.spawn(tcp::serve(
            listener,
            raw_tx.clone(),
            stop_sources.clone(),
            telemetry.clone(),
            max_line,
        ));
    }
    drop(raw_tx);
    sources.close();

    // The API.
    let api_stop = CancellationToken::new();
    if config.api.enabled {
        let listener = tokio::net::TcpListener::bind(config.api.address)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {} for the health and metrics API; set api.address",
                    config.api.address
                )
            })?;
        let app = crate::api::router(telemetry.clone(), Arc::clone(&redactor));
        let stop = api_stop.clone();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
            if let Err(err) = served {
                tracing::error!(error = %err, "health and metrics API stopped");
            }
        });
    }
    tracing::info!("aistudio-sidecar running");

    // Wait for a signal, or for every source to finish (stdin EOF) and the sinks to drain.
    tokio::select! {
        () = shutdown => tracing::info!("shutdown requested: stopping sources, draining sinks"),
        () = sinks.wait() => {}
    }
    stop_sources.cancel();
    let deadline = Duration::from_secs(config.shutdown_deadline_secs);
    if tokio::time::timeout(deadline, sinks.wait()).await.is_err() {
        tracing::error!(
            deadline_secs = config.shutdown_deadline_secs,
            "sinks did not drain before the deadline; failing back what is unsent"
        );
        force.cancel();
        let _ = tokio::time::timeout(GIVE_UP_GRACE, sinks.wait()).await;
    }
    let _ = tokio::task::spawn_blocking(move || processor.join()).await;
    for cps in checkpoints {
        if let Ok(mut cps) = cps.lock() {
            cps.save()?;
        }
    }
    // Whatever is still in memory now is dropped by teardown, not delivered.
    crate::event::freeze_acks();
    api_stop.cancel();
    tracing::info!(
        lines_read = telemetry.lines_read(),
        events_shipped = telemetry.events_shipped(),
        events_dropped = telemetry.dropped(),
        "aistudio-sidecar stopped"
    );
    Ok(())
}

fn process(
    mut raw_rx: mpsc::Receiver<RawChunk>,
    decoder: Decoder,
    sink_txs: Vec<SpillingSender>,
    telemetry: Telemetry,
    metrics: crate::metrics::MetricsHandle,
) {
    while let Some(chunk) = raw_rx.blocking_recv() {
        let mut events = Vec::with_capacity(chunk.len());
        for line in chunk.lines() {
            let before = events.len();
            decoder.decode_into(line, chunk.read_at_ms, chunk.ack.as_ref(), &mut events);
            if events.len() > before + 1 {
                telemetry.emit(SidecarEvent::LineSplit);
            }
        }
        drop(chunk);
        metrics.observe(&events);
        let Some((last, rest)) = sink_txs.split_last() else {
            return;
        };
        for tx in rest {
            tx.send(events.clone());
        }
        last.send(events);
    }
    // Sources are done: each buffer hands over what it holds on disk, then closes.
    drop(metrics); // the metric publisher's final flush starts now
    for tx in sink_txs {
        tx.close();
    }
}
