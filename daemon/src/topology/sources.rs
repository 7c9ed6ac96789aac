//! Starts every configured source, feeding the processor's raw-chunk queue; keeps the file
//! sources' checkpoints for the shutdown to save.

use std::sync::{Arc, Mutex};

use anyhow::Context;
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use super::startup::Listeners;
use super::Run;
use crate::metric_point::PointBatch;
use crate::sources::checkpoint::Checkpoints;
use crate::sources::{file, fluent, otlp, stdin, tcp, RawChunk};

/// The running sources.
pub struct Sources {
    checkpoints: Vec<Arc<Mutex<Checkpoints>>>,
    _tasks: TaskTracker,
}

impl Sources {
    /// Writes every file source's acknowledged offsets (after the sinks drained).
    pub fn save_checkpoints(&self) -> anyhow::Result<()> {
        for cps in &self.checkpoints {
            if let Ok(mut cps) = cps.lock() {
                cps.save()?;
            }
        }
        Ok(())
    }
}

/// Starts stdin (when enabled), every file source, and the TCP, fluent and OTLP sources on
/// their bound listeners.
pub fn start(
    run: &Run,
    raw_tx: mpsc::Sender<RawChunk>,
    points_tx: mpsc::Sender<PointBatch>,
    listeners: &mut Listeners,
) -> anyhow::Result<Sources> {
    let tasks = TaskTracker::new();
    if run.config.sources.stdin_enabled() {
        start_stdin(run, &tasks, raw_tx.clone())?;
    }
    let mut checkpoints = Vec::new();
    for (index, file_config) in run.config.sources.file.iter().enumerate() {
        checkpoints.push(start_file(run, &tasks, index, file_config, raw_tx.clone())?);
    }
    if let (Some(config), Some(listeners)) = (&run.config.sources.fluent, listeners.fluent.take()) {
        tracing::info!(
            socket = ?config.socket_path,
            address = ?config.address,
            "fluent source listening"
        );
        tasks.spawn(fluent::serve(
            listeners,
            config.clone(),
            fluent::Context {
                tx: raw_tx.clone(),
                shutdown: run.stop_sources.clone(),
                telemetry: run.telemetry.clone(),
                gate: run.acks.clone(),
                max_line_bytes: run.config.sources.max_line_bytes,
            },
        ));
    }
    if let (Some(config), Some(listener)) = (&run.config.sources.otlp, listeners.otlp.take()) {
        tracing::info!(address = %config.address, "otlp source listening");
        tasks.spawn(otlp::serve(
            listener,
            config.clone(),
            otlp::Context {
                tx: raw_tx.clone(),
                shutdown: run.stop_sources.clone(),
                telemetry: run.telemetry.clone(),
                gate: run.acks.clone(),
                max_line_bytes: run.config.sources.max_line_bytes,
                points: points_tx,
            },
        ));
    }
    if let (Some(tcp_config), Some(listener)) = (&run.config.sources.tcp, listeners.tcp.take()) {
        tracing::info!(address = %tcp_config.address, "tcp source listening");
        tasks.spawn(tcp::serve(
            listener,
            raw_tx,
            run.stop_sources.clone(),
            run.telemetry.clone(),
            run.config.sources.max_line_bytes,
        ));
    }
    tasks.close();
    Ok(Sources {
        checkpoints,
        _tasks: tasks,
    })
}

/// The stdin thread may sit in a blocking read forever; it feeds a forwarder that stops on
/// shutdown, so the pipeline can drain without waiting for more input.
fn start_stdin(run: &Run, tasks: &TaskTracker, out: mpsc::Sender<RawChunk>) -> anyhow::Result<()> {
    let (fwd_tx, mut fwd_rx) = mpsc::channel::<RawChunk>(1);
    stdin::spawn(
        fwd_tx,
        run.stop_sources.clone(),
        run.telemetry.clone(),
        run.config.sources.max_line_bytes,
    )
    .context("cannot start the stdin source")?;
    let stop = run.stop_sources.clone();
    tasks.spawn(async move {
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
    Ok(())
}

fn start_file(
    run: &Run,
    tasks: &TaskTracker,
    index: usize,
    file_config: &file::FileSourceConfig,
    out: mpsc::Sender<RawChunk>,
) -> anyhow::Result<Arc<Mutex<Checkpoints>>> {
    let path = file_config.checkpoint_path.clone().unwrap_or_else(|| {
        run.config
            .data_dir
            .join(format!("checkpoints-{index}.json"))
    });
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| {
            format!(
                "cannot create the checkpoint directory {}",
                parent.display()
            )
        })?;
    }
    let cps = Arc::new(Mutex::new(Checkpoints::load(Some(path))?));
    let handle = file::spawn(
        file_config.clone(),
        Arc::clone(&cps),
        out,
        run.stop_sources.clone(),
        run.telemetry.clone(),
        run.config.sources.max_line_bytes,
        run.acks.clone(),
    )?;
    tasks.spawn_blocking(move || {
        let _ = handle.join();
    });
    Ok(cps)
}
