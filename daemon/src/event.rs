//! `LogEvent`, the one thing that flows from sources to sinks, and the acknowledgement that
//! travels with it back to the source once every sink has it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// One pipeline run's acknowledgement switch. Frozen once the run has finished and saved its
/// checkpoints: from then on, events being dropped are the run tearing down, not deliveries,
/// and must not move any checkpoint or free any disk record. Per run, not per process, so two
/// pipelines in one process (tests) never freeze each other.
#[derive(Debug, Clone, Default)]
pub struct AckGate(Arc<AtomicBool>);

impl AckGate {
    /// Stops acknowledgement processing for every ack made with this gate.
    pub fn freeze(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn is_frozen(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
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
    gate: AckGate,
    target: Box<dyn AckTarget>,
}

impl Ack {
    /// A new acknowledgement reporting to `target` unless `gate` is frozen by then.
    pub fn new(target: impl AckTarget + 'static, gate: &AckGate) -> Self {
        Self(Arc::new(AckInner {
            failed: AtomicBool::new(false),
            gate: gate.clone(),
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
        if self.gate.is_frozen() {
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
        let ack = Ack::new(record.clone(), &AckGate::default());
        let second = ack.clone();
        drop(ack);
        assert!(record.0.lock().unwrap().is_empty());
        drop(second);
        assert_eq!(*record.0.lock().unwrap(), vec![true]);
    }

    #[test]
    fn one_failing_holder_fails_the_group() {
        let record = Record::default();
        let ack = Ack::new(record.clone(), &AckGate::default());
        let other = ack.clone();
        other.fail();
        drop(other);
        drop(ack);
        assert_eq!(*record.0.lock().unwrap(), vec![false]);
    }

    #[test]
    fn a_frozen_gate_silences_only_its_own_acks() {
        let (frozen, open) = (AckGate::default(), AckGate::default());
        let (silenced, heard) = (Record::default(), Record::default());
        let a = Ack::new(silenced.clone(), &frozen);
        let b = Ack::new(heard.clone(), &open);
        frozen.freeze();
        drop(a);
        drop(b);
        assert!(silenced.0.lock().unwrap().is_empty());
        assert_eq!(*heard.0.lock().unwrap(), vec![true]);
    }
}
