//! `LogEvent`, the one thing that flows from sources to sinks, and the acknowledgement that
//! travels with it back to the source once every sink has it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Set once the pipeline has finished and saved its checkpoints: from then on, events being
/// dropped are the process tearing down, not deliveries, and must not move any checkpoint or
/// free any disk record.
static ACKS_FROZEN: AtomicBool = AtomicBool::new(false);

/// Stops all acknowledgement processing for the rest of the process's life.
pub fn freeze_acks() {
    ACKS_FROZEN.store(true, Ordering::SeqCst);
}

/// One log line after decoding and redaction, ready for the sinks.
#[derive(Debug, Clone)]
pub struct LogEvent {
    /// Milliseconds since the Unix epoch: the line's own `timestamp`, else when it was read.
    pub timestamp_ms: i64,
    /// The redacted line (one line, no trailing newline).
    pub message: String,
    /// Released when every sink holding this event is done with it.
    pub ack: Option<Ack>,
}

/// Something that wants to know when a group of events is delivered (a file source's
/// checkpoint). Called exactly once, with whether every holder succeeded.
pub trait AckTarget: Send + Sync + std::fmt::Debug {
    /// All holders released the group; `delivered` is false if any of them failed it.
    fn complete(&self, delivered: bool);
}

/// A shared acknowledgement: clones travel with events and batches; when the last clone is
/// dropped the target hears whether anyone marked it failed.
#[derive(Debug, Clone)]
pub struct Ack(Arc<AckInner>);

#[derive(Debug)]
struct AckInner {
    failed: AtomicBool,
    target: Box<dyn AckTarget>,
}

impl Ack {
    /// A new acknowledgement reporting to `target`.
    pub fn new(target: impl AckTarget + 'static) -> Self {
        Self(Arc::new(AckInner {
            failed: AtomicBool::new(false),
            target: Box::new(target),
        }))
    }

    /// Marks the group as not delivered: its source will not move past it, so it is read
    /// again on the next start (at-least-once).
    pub fn fail(&self) {
        self.0.failed.store(true, Ordering::Release);
    }

    /// True when both are clones of one acknowledgement.
    pub fn same_as(&self, other: &Ack) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Drop for AckInner {
    fn drop(&mut self) {
        if ACKS_FROZEN.load(Ordering::SeqCst) {
            return;
        }
        self.target.complete(!self.failed.load(Ordering::Acquire));
    }
}

/// Fails every acknowledgement of `events`; used when a sink gives up on them.
pub fn fail_all<'a>(events: impl IntoIterator<Item = &'a LogEvent>) {
    for event in events {
        if let Some(ack) = &event.ack {
            ack.fail();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Debug, Default, Clone)]
    struct Record(Arc<Mutex<Vec<bool>>>);

    impl AckTarget for Record {
        fn complete(&self, delivered: bool) {
            self.0.lock().unwrap().push(delivered);
        }
    }

    #[test]
    fn completes_once_when_the_last_clone_drops() {
        let record = Record::default();
        let ack = Ack::new(record.clone());
        let second = ack.clone();
        drop(ack);
        assert!(record.0.lock().unwrap().is_empty());
        drop(second);
        assert_eq!(*record.0.lock().unwrap(), vec![true]);
    }

    #[test]
    fn one_failing_holder_fails_the_group() {
        let record = Record::default();
        let ack = Ack::new(record.clone());
        let other = ack.clone();
        other.fail();
        drop(other);
        drop(ack);
        assert_eq!(*record.0.lock().unwrap(), vec![false]);
    }
}
