//! A sink's buffer: a bounded in-memory channel that spills to a bounded disk queue when the
//! sink falls behind, keeping order, and blocks (or, if the operator chose it, drops and
//! counts) when the disk is full too.

pub mod disk;

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use crate::event::{fail_all, Ack, AckGate, AckTarget, LogEvent};
use crate::telemetry::{BufferGauge, SidecarEvent, Telemetry};
use disk::{DiskError, DiskQueue};

/// Default disk buffer bound per sink (the 1 GB).
pub const DEFAULT_MAX_DISK_BYTES: u64 = 1024 * 1024 * 1024;
/// How often a writer blocked on a full disk re-checks whether the pipeline is closing.
const FULL_RECHECK: Duration = Duration::from_millis(100);

/// What happens when memory and disk are both full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Sources wait (backpressure); nothing is lost.
    #[default]
    Block,
    /// Events are dropped, counted (`aistudio_sidecar_events_dropped_total`) and logged.
    Drop,
}

struct State {
    queue: DiskQueue,
    /// Groups on disk not yet handed to the sink channel: while non-zero, new groups go to
    /// disk too, so the order of lines is kept.
    pending: u64,
    closed: bool,
}

struct Shared {
    state: Mutex<State>,
    data_ready: Condvar,
    space_freed: Condvar,
    when_full: WhenFull,
    telemetry: Telemetry,
    gate: AckGate,
    /// Bytes on disk, for `/health` and `/metrics`.
    gauge: Arc<BufferGauge>,
}

/// The processor's end of a sink buffer.
pub struct SpillingSender {
    tx: mpsc::Sender<Vec<LogEvent>>,
    shared: Arc<Shared>,
    reader: Option<std::thread::JoinHandle<()>>,
}

/// Acknowledges a disk record once every event read from it was delivered.
#[derive(Debug)]
struct DiskAck {
    shared: Arc<Shared>,
    index: u64,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SpillBuffer")
    }
}

impl AckTarget for DiskAck {
    fn complete(&self, delivered: bool) {
        if !delivered {
            // Not acknowledged: stays on disk and is replayed on the next start.
            return;
        }
        if let Ok(mut state) = self.shared.state.lock() {
            if let Err(err) = state.queue.ack(self.index) {
                tracing::error!(error = %err, "disk buffer: cannot release a delivered record");
            }
            self.shared.gauge.set_used(state.queue.bytes());
        }
        self.shared.space_freed.notify_all();
    }
}

impl SpillingSender {
    /// Opens the disk queue in `dir` (replaying what an earlier run left) and starts the
    /// thread that feeds it back into `tx` as the sink makes room. `sink` names the buffer
    /// on `/metrics`.
    pub fn open(
        sink: &'static str,
        tx: mpsc::Sender<Vec<LogEvent>>,
        dir: &Path,
        max_disk_bytes: u64,
        when_full: WhenFull,
        telemetry: Telemetry,
        gate: AckGate,
    ) -> Result<Self, DiskError> {
        let queue = DiskQueue::open(dir, max_disk_bytes)?;
        let pending = queue.unread();
        let gauge = telemetry.register_buffer(sink, max_disk_bytes);
        gauge.set_used(queue.bytes());
        if pending > 0 {
            tracing::info!(groups = pending, dir = %dir.display(), "disk buffer: replaying what the last run did not deliver");
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue,
                pending,
                closed: false,
            }),
            data_ready: Condvar::new(),
            space_freed: Condvar::new(),
            when_full,
            telemetry,
            gate,
            gauge,
        });
        let reader = {
            let shared = Arc::clone(&shared);
            let tx = tx.clone();
            std::thread::Builder::new()
                .name("disk-buffer".into())
                .spawn(move || feed(&shared, &tx))
                .map_err(|source| DiskError::Io {
                    path: dir.display().to_string(),
                    source,
                })?
        };
        Ok(Self {
            tx,
            shared,
            reader: Some(reader),
        })
    }

    /// Hands a group to the sink: straight into memory when there is room and nothing is
    /// waiting on disk, else onto disk. Blocks only when both are full (`when_full = block`).
    pub fn send(&self, events: Vec<LogEvent>) {
        let count = events.len() as i64;
        let Ok(mut state) = self.shared.state.lock() else {
            fail_all(&events);
            return;
        };
        let mut events = events;
        if state.pending == 0 {
            self.shared.telemetry.queued(count);
            match self.tx.try_send(events) {
                Ok(()) => return,
                Err(TrySendError::Full(back)) => {
                    self.shared.telemetry.queued(-count);
                    events = back;
                }
                Err(TrySendError::Closed(back)) => {
                    self.shared.telemetry.queued(-count);
                    fail_all(&back);
                    self.shared
                        .telemetry
                        .emit(SidecarEvent::EventsDropped(back.len() as u64));
                    return;
                }
            }
        }
        loop {
            if state.queue.has_room(&events) {
                match state.queue.append(&events) {
                    Ok(_) => {
                        state.pending += 1;
                        self.shared.gauge.set_used(state.queue.bytes());
                        self.shared
                            .telemetry
                            .emit(SidecarEvent::Spilled(events.len() as u64));
                        // Dropping `events` releases their source acknowledgements: the disk
                        // holds them now.
                        drop(events);
                        self.shared.data_ready.notify_all();
                    }
                    Err(err) => {
                        tracing::error!(error = %err, "disk buffer: write failed; waiting for the sink instead");
                        drop(state);
                        self.shared.telemetry.queued(count);
                        if let Err(back) = self.tx.blocking_send(events) {
                            self.shared.telemetry.queued(-count);
                            fail_all(&back.0);
                        }
                    }
                }
                return;
            }
            match self.shared.when_full {
                WhenFull::Drop => {
                    self.shared
                        .telemetry
                        .emit(SidecarEvent::EventsDropped(events.len() as u64));
                    tracing::error!(
                        events = events.len(),
                        "memory and disk buffers are full: dropping events (when_full = \"drop\")"
                    );
                    return;
                }
                WhenFull::Block => {
                    state = match self.shared.space_freed.wait_timeout(state, FULL_RECHECK) {
                        Ok((guard, _)) => guard,
                        Err(_) => {
                            fail_all(&events);
                            return;
                        }
                    };
                    if self.tx.is_closed() {
                        fail_all(&events);
                        return;
                    }
                }
            }
        }
    }

    /// No more groups: the reader hands over what is on disk, then ends.
    pub fn close(mut self) {
        if let Ok(mut state) = self.shared.state.lock() {
            state.closed = true;
        }
        self.shared.data_ready.notify_all();
        drop(self.tx);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        if let Ok(mut state) = self.shared.state.lock() {
            if let Err(err) = state.queue.sync() {
                tracing::error!(error = %err, "disk buffer: not synced at shutdown");
            }
        }
    }
}

/// Moves groups from disk into the sink channel, oldest first.
fn feed(shared: &Arc<Shared>, tx: &mpsc::Sender<Vec<LogEvent>>) {
    loop {
        let (index, mut events) = {
            let Ok(mut state) = shared.state.lock() else {
                return;
            };
            while state.pending == 0 && !state.closed {
                state = match shared.data_ready.wait(state) {
                    Ok(guard) => guard,
                    Err(_) => return,
                };
            }
            if state.pending == 0 {
                return;
            }
            let corrupt_before = state.queue.corrupt_records();
            let next = state.queue.read_next();
            let skipped = state.queue.corrupt_records() - corrupt_before;
            if skipped > 0 {
                shared
                    .telemetry
                    .emit(SidecarEvent::CorruptRecordsSkipped(skipped));
            }
            match next {
                Ok(Some(record)) => record,
                Ok(None) => {
                    state.pending = 0;
                    continue;
                }
                Err(err) => {
                    tracing::error!(error = %err, "disk buffer: read failed; the rest is replayed on the next start");
                    state.pending = 0;
                    continue;
                }
            }
        };
        let target = DiskAck {
            shared: Arc::clone(shared),
            index,
        };
        let ack = Ack::new(target, &shared.gate);
        for event in &mut events {
            event.ack = Some(ack.clone());
        }
        drop(ack);
        let count = events.len() as i64;
        shared.telemetry.queued(count);
        if let Err(back) = tx.blocking_send(events) {
            // The sink is gone (deadline): the record stays on disk for the next start.
            fail_all(&back.0);
            shared.telemetry.queued(-count);
            return;
        }
        if let Ok(mut state) = shared.state.lock() {
            state.pending = state.pending.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(from: usize, n: usize) -> Vec<LogEvent> {
        (from..from + n)
            .map(|i| LogEvent {
                timestamp_ms: i as i64,
                message: format!("line-{i}"),
                ack: None,
            })
            .collect()
    }

    #[test]
    fn a_slow_sink_gets_everything_in_order_through_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, mut rx) = mpsc::channel(1);
        let telemetry = Telemetry::default();
        let sender = SpillingSender::open(
            "test",
            tx,
            dir.path(),
            1 << 30,
            WhenFull::Block,
            telemetry.clone(),
            AckGate::default(),
        )
        .unwrap();
        for i in 0..50 {
            sender.send(group(i * 10, 10));
        }
        assert!(
            telemetry.spilled() > 0,
            "the 1-slot channel overflowed to disk"
        );
        let consumer = std::thread::spawn(move || {
            let mut seen = Vec::new();
            while let Some(events) = rx.blocking_recv() {
                seen.extend(events.into_iter().map(|e| e.timestamp_ms));
            }
            seen
        });
        sender.close();
        let seen = consumer.join().unwrap();
        assert_eq!(seen, (0..500).collect::<Vec<i64>>());
    }

    #[test]
    fn when_full_drop_counts_what_it_drops() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = mpsc::channel(1);
        let telemetry = Telemetry::default();
        let sender = SpillingSender::open(
            "test",
            tx,
            dir.path(),
            300,
            WhenFull::Drop,
            telemetry.clone(),
            AckGate::default(),
        )
        .unwrap();
        for i in 0..20 {
            sender.send(group(i * 5, 5));
        }
        assert!(telemetry.dropped() > 0);
        drop(rx);
        sender.close();
    }

    #[test]
    fn undelivered_disk_records_come_back_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (tx, rx) = mpsc::channel(1);
            let sender = SpillingSender::open(
                "test",
                tx,
                dir.path(),
                1 << 30,
                WhenFull::Block,
                Telemetry::default(),
                AckGate::default(),
            )
            .unwrap();
            for i in 0..5 {
                sender.send(group(i, 1));
            }
            // The sink never takes anything and goes away (a crash or the deadline).
            drop(rx);
            sender.close();
        }
        let (tx, mut rx) = mpsc::channel(16);
        let sender = SpillingSender::open(
            "test",
            tx,
            dir.path(),
            1 << 30,
            WhenFull::Block,
            Telemetry::default(),
            AckGate::default(),
        )
        .unwrap();
        let consumer = std::thread::spawn(move || {
            let mut seen = Vec::new();
            while let Some(events) = rx.blocking_recv() {
                seen.extend(events.iter().map(|e| e.timestamp_ms));
            }
            seen
        });
        sender.close();
        let seen = consumer.join().unwrap();
        // The first group went to memory (lost with the crash: its source is re-read from the
        // checkpoint instead); the four spilled ones come back from disk, in order.
        assert_eq!(seen, vec![1, 2, 3, 4]);
    }
}
