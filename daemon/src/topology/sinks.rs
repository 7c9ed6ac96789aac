//! Builds the log sinks the config asks for, each behind its own buffer (memory, spilling to
//! disk), and starts their tasks.

use std::time::Duration;

use aistudio_core::aws::AwsClients;
use anyhow::Context;
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use super::Run;
use crate::buffer::SpillingSender;
use crate::config::SinkChoice;
use crate::event::LogEvent;
use crate::sinks::cloudwatch_logs::{
    default_stream_name, CloudWatchLogsSink, CloudWatchLogsSinkConfig, HoldNotice, StreamTarget,
};
use crate::sinks::file::LocalTarget;

/// The started log sinks.
pub struct LogSinks {
    /// Each sink's buffered input, in config order.
    pub senders: Vec<SpillingSender>,
    /// The log sink tasks alone (closed), so the metric publisher can report their last
    /// losses after them.
    pub tasks: TaskTracker,
}

/// Opens every sink's buffer and starts its task on `run.sinks`.
pub async fn start_log_sinks(run: &Run) -> anyhow::Result<LogSinks> {
    let config = &run.config;
    let buffer_dir = config
        .buffer
        .dir
        .clone()
        .unwrap_or_else(|| config.data_dir.join("buffer"));
    let tasks = TaskTracker::new();
    let mut senders = Vec::new();
    for choice in config.sink_choices() {
        let (tx, rx) = mpsc::channel::<Vec<LogEvent>>(run.slots);
        let dir = buffer_dir.join(choice.name());
        let sender = SpillingSender::open(
            choice.name(),
            tx,
            &dir,
            config.buffer.max_disk_bytes,
            config.buffer.when_full,
            run.telemetry.clone(),
            run.acks.clone(),
        )
        .with_context(|| format!("cannot open the disk buffer in {}", dir.display()))?;
        senders.push(sender);
        match choice {
            SinkChoice::CloudWatchLogs(cw) => {
                let sink = cloudwatch_logs_sink(run, &cw).await;
                run.sinks
                    .spawn(tasks.track_future(sink.run(rx, run.force.clone())));
            }
            SinkChoice::Local(target) => start_local_sink(run, &tasks, target, rx)?,
        }
    }
    tasks.close();
    Ok(LogSinks { senders, tasks })
}

async fn cloudwatch_logs_sink(run: &Run, cw: &CloudWatchLogsSinkConfig) -> CloudWatchLogsSink {
    let clients = AwsClients::from_config(&run.config.aws).await;
    let stream = match &cw.log_stream {
        Some(stream) => stream.clone(),
        None => default_stream_name().await,
    };
    let target = StreamTarget {
        group: cw.log_group_for(&run.config.environment),
        stream,
        retention_days: cw.retention_days,
        create_group: cw.create_log_group,
    };
    tracing::info!(group = %target.group, stream = %target.stream, "shipping logs to CloudWatch Logs");
    CloudWatchLogsSink {
        client: clients.logs_single_attempt(),
        target,
        batch_timeout: Duration::from_millis(cw.batch_timeout_ms),
        max_in_flight: cw.max_in_flight,
        telemetry: run.telemetry.clone(),
        hold_notice: HoldNotice::default(),
    }
}

fn start_local_sink(
    run: &Run,
    tasks: &TaskTracker,
    target: LocalTarget,
    rx: mpsc::Receiver<Vec<LogEvent>>,
) -> anyhow::Result<()> {
    match &target {
        LocalTarget::File(f) => {
            tracing::info!(path = %f.path.display(), "no AWS settings or a file sink configured: writing redacted logs to a local file");
        }
        LocalTarget::Stdout => tracing::info!("writing redacted logs to stdout"),
    }
    let sink = match &target {
        LocalTarget::File(f) => crate::sinks::file::open(target.clone())
            .with_context(|| format!("cannot open the file sink's output {}", f.path.display()))?,
        LocalTarget::Stdout => crate::sinks::file::open(target.clone())
            .context("cannot open stdout for the local sink")?,
    };
    let telemetry = run.telemetry.clone();
    let force = run.force.clone();
    let tracked = tasks.token();
    run.sinks.spawn_blocking(move || {
        sink.run_blocking(rx, telemetry, force);
        drop(tracked);
    });
    Ok(())
}
