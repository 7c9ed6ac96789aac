//! The CloudWatch Logs sink task: batch, send with bounded concurrency, retry, acknowledge.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use aistudio_core::aws::{retry_until, CallError, ErrorClass, GiveUp};
use aistudio_core::backoff::Backoff;
use aistudio_core::clock::now_ms;

use super::batch::{BatchBuilder, LogBatch};
use super::service::{ensure_stream, put_batch, StreamTarget};
use crate::event::{fail_all, LogEvent};
use crate::telemetry::{SidecarEvent, Telemetry};

/// A held batch (credentials, permissions) is logged at error level at most this often: loud
/// enough for an operator to see within a minute, without a line per retry.
const HOLD_LOG_INTERVAL_MS: i64 = 60_000;

/// When this sink last logged that it holds data for its credentials (epoch ms).
#[derive(Debug, Clone, Default)]
pub struct HoldNotice(Arc<AtomicI64>);

impl HoldNotice {
    /// Counts the refusal and logs it, at most once per [`HOLD_LOG_INTERVAL_MS`].
    fn refused(&self, err: &CallError, group: &str, telemetry: &Telemetry) {
        telemetry.emit(SidecarEvent::Unauthorized);
        let now = now_ms();
        let last = self.0.load(Ordering::Relaxed);
        if now - last >= HOLD_LOG_INTERVAL_MS
            && self
                .0
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::error!(
                error = %err.message,
                group,
                "cloudwatch logs refused the sidecar's credentials or permissions; holding the events and retrying; check the task role (logs:CreateLogStream, logs:PutLogEvents) and its credentials"
            );
        }
    }
}

/// A configured CloudWatch Logs sink.
#[derive(Debug, Clone)]
pub struct CloudWatchLogsSink {
    /// SDK client (its own retries off: this sink retries, with the shared backoff).
    pub client: aws_sdk_cloudwatchlogs::Client,
    /// Group and stream.
    pub target: StreamTarget,
    /// A partly filled batch is sent after this long.
    pub batch_timeout: Duration,
    /// Requests in flight at once.
    pub max_in_flight: usize,
    /// Counters.
    pub telemetry: Telemetry,
    /// Rate-limits the log line of a held batch.
    pub hold_notice: HoldNotice,
}

impl CloudWatchLogsSink {
    /// Runs until `rx` closes (the pipeline drained) and everything is sent, or until `force`
    /// (the shutdown deadline): then what is unsent is failed back to its source.
    pub async fn run(self, mut rx: mpsc::Receiver<Vec<LogEvent>>, force: CancellationToken) {
        if !self.ensure_stream_until_done(&force).await {
            // Never reached AWS before the deadline: everything queued is failed back.
            rx.close();
            let mut failed = 0;
            while let Some(events) = rx.recv().await {
                fail_all(&events);
                self.telemetry.queued(-(events.len() as i64));
                failed += events.len();
            }
            self.telemetry
                .emit(SidecarEvent::EventsDropped(failed as u64));
            tracing::error!(
                events = failed,
                "the shutdown deadline passed before the log stream could be created; queued events are failed back to their sources"
            );
            return;
        }
        let mut builder = BatchBuilder::default();
        // Finished batches wait here until a request slot is free, so at most
        // `max_in_flight` requests run and, with one slot, batches land in order.
        let mut ready: VecDeque<LogBatch> = VecDeque::new();
        let mut in_flight = FuturesUnordered::new();
        let mut deadline: Option<Instant> = None;
        let mut open = true;
        loop {
            while in_flight.len() < self.max_in_flight {
                let Some(batch) = ready.pop_front() else {
                    break;
                };
                in_flight.push(self.send(batch, force.clone()));
            }
            if !open && ready.is_empty() && in_flight.is_empty() {
                break;
            }
            let timer = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let room = ready.is_empty() && in_flight.len() < self.max_in_flight;
            tokio::select! {
                received = rx.recv(), if open && room => {
                    match received {
                        Some(events) => {
                            // Still counted as queued until delivered or given up (`send`),
                            // so a batch stuck in flight shows on `/health`.
                            for event in events {
                                if let Some(batch) = builder.push(event) {
                                    ready.push_back(batch);
                                }
                            }
                            if builder.is_empty() {
                                deadline = None;
                            } else if deadline.is_none() {
                                deadline = Some(Instant::now() + self.batch_timeout);
                            }
                        }
                        None => {
                            open = false;
                            ready.extend(builder.take());
                            deadline = None;
                        }
                    }
                }
                () = timer, if room => {
                    ready.extend(builder.take());
                    deadline = None;
                }
                Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
            }
        }
    }

    /// Creates the group and stream, retrying whatever the error (nothing can be sent
    /// before it succeeds), until the shutdown deadline.
    async fn ensure_stream_until_done(&self, force: &CancellationToken) -> bool {
        let (client, target) = (&self.client, &self.target);
        retry_until(
            force,
            None,
            Backoff::default(),
            |_| async move {
                ensure_stream(client, target).await.map_err(|err| match err.class {
                    ErrorClass::Hold => err,
                    _ => err.retry_anyway(),
                })
            },
            |err, _| {
                self.telemetry.emit(SidecarEvent::Retried);
                if err.class == ErrorClass::Hold {
                    self.hold_notice
                        .refused(err, &self.target.group, &self.telemetry);
                } else {
                    tracing::warn!(error = %err.message, "cloudwatch logs sink not ready; retrying");
                }
            },
        )
        .await
        .is_ok()
    }

    /// Sends one batch until it is accepted, refused for good, or the deadline passes (each
    /// attempt is raced against the deadline, so a hung endpoint cannot hold the shutdown).
    async fn send(&self, batch: LogBatch, force: CancellationToken) {
        let (client, target, telemetry) = (&self.client, &self.target, &self.telemetry);
        let batch_ref = &batch;
        let outcome = retry_until(
            &force,
            None,
            Backoff::default(),
            |attempt| async move {
                if attempt.recreate {
                    tracing::warn!("log group or stream missing; recreating");
                    if let Err(err) = ensure_stream(client, target).await {
                        tracing::warn!(error = %err.message, "cannot recreate the log stream yet");
                    }
                }
                put_batch(client, target, batch_ref, telemetry).await
            },
            |err, attempt| {
                telemetry.emit(SidecarEvent::Retried);
                match err.class {
                    ErrorClass::Retry => {
                        tracing::warn!(error = %err.message, attempt, "PutLogEvents failed; retrying");
                    }
                    ErrorClass::Hold => self.hold_notice.refused(err, &target.group, telemetry),
                    _ => {}
                }
            },
        )
        .await;
        telemetry.queued(-(batch.events.len() as i64));
        // Success: dropping `batch` releases its acknowledgements.
        if let Err(give_up) = outcome {
            if matches!(give_up, GiveUp::Permanent(_) | GiveUp::Exhausted(_)) {
                telemetry.emit(SidecarEvent::SinkError);
            }
            self.give_up(&batch, &give_up.message());
        }
    }

    fn give_up(&self, batch: &LogBatch, why: &str) {
        batch.fail();
        self.telemetry
            .emit(SidecarEvent::EventsDropped(batch.events.len() as u64));
        tracing::error!(
            events = batch.events.len(),
            group = %self.target.group,
            reason = why,
            "log events not delivered; a file source re-reads them on the next start"
        );
    }
}
