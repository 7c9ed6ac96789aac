//! Batches events by every PutLogEvents rule, so the API never rejects a batch for its shape.

use crate::event::{Ack, LogEvent};

use aistudio_core::limits::{
    LOG_EVENT_OVERHEAD_BYTES as EVENT_OVERHEAD_BYTES, MAX_LOG_BATCH_BYTES as MAX_BATCH_BYTES,
    MAX_LOG_BATCH_EVENTS as MAX_BATCH_EVENTS, MAX_LOG_BATCH_SPAN_MS as MAX_BATCH_SPAN_MS,
};

/// A batch ready to send: events in chronological order and the acknowledgements to
/// release once CloudWatch accepted it.
#[derive(Debug, Default)]
pub struct LogBatch {
    /// `(timestamp_ms, message)` in chronological order.
    pub events: Vec<(i64, String)>,
    /// Counted size (message bytes + 26 per event).
    pub bytes: usize,
    /// Acknowledgements of the events' chunks.
    pub acks: Vec<Ack>,
}

impl LogBatch {
    /// Marks every event of the batch as not delivered.
    pub fn fail(&self) {
        for ack in &self.acks {
            ack.fail();
        }
    }
}

/// Accumulates events until one more would break a rule.
#[derive(Debug, Default)]
pub struct BatchBuilder {
    events: Vec<(i64, String)>,
    acks: Vec<Ack>,
    bytes: usize,
    min_ts: i64,
    max_ts: i64,
}

impl BatchBuilder {
    /// Adds `event`; returns the finished batch first if `event` did not fit in it.
    pub fn push(&mut self, event: LogEvent) -> Option<LogBatch> {
        let size = event.message.len() + EVENT_OVERHEAD_BYTES;
        let full = !self.events.is_empty()
            && (self.bytes + size > MAX_BATCH_BYTES
                || self.events.len() >= MAX_BATCH_EVENTS
                || event.timestamp_ms.max(self.max_ts) - event.timestamp_ms.min(self.min_ts)
                    > MAX_BATCH_SPAN_MS);
        let finished = if full { self.take() } else { None };
        if self.events.is_empty() {
            self.min_ts = event.timestamp_ms;
            self.max_ts = event.timestamp_ms;
        } else {
            self.min_ts = self.min_ts.min(event.timestamp_ms);
            self.max_ts = self.max_ts.max(event.timestamp_ms);
        }
        self.bytes += size;
        if let Some(ack) = event.ack {
            // Events of one chunk share one acknowledgement: keep one clone per run of them.
            let same = self.acks.last().is_some_and(|last| last.same_as(&ack));
            if !same {
                self.acks.push(ack);
            }
        }
        self.events.push((event.timestamp_ms, event.message));
        finished
    }

    /// True when nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    #[cfg(test)]
    /// Events waiting.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// The batch so far, sorted chronologically (stable, so equal timestamps keep their order).
    pub fn take(&mut self) -> Option<LogBatch> {
        if self.events.is_empty() {
            return None;
        }
        let mut events = std::mem::take(&mut self.events);
        events.sort_by_key(|(ts, _)| *ts);
        let batch = LogBatch {
            events,
            bytes: self.bytes,
            acks: std::mem::take(&mut self.acks),
        };
        self.bytes = 0;
        Some(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(ts: i64, len: usize) -> LogEvent {
        LogEvent {
            timestamp_ms: ts,
            message: "x".repeat(len),
            ack: None,
        }
    }

    #[test]
    fn a_batch_never_exceeds_the_byte_limit_and_fills_to_it() {
        let mut builder = BatchBuilder::default();
        // 1,000-byte messages: 1,026 counted bytes each; 1,022 fit in 1,048,576.
        let mut finished = Vec::new();
        for i in 0..2_100 {
            if let Some(batch) = builder.push(event(i, 1_000)) {
                finished.push(batch);
            }
        }
        assert_eq!(finished.len(), 2);
        for batch in &finished {
            assert!(batch.bytes <= MAX_BATCH_BYTES);
            assert_eq!(batch.events.len(), MAX_BATCH_BYTES / 1_026);
            assert!(
                batch.bytes + 1_026 > MAX_BATCH_BYTES,
                "batch should be full"
            );
        }
    }

    #[test]
    fn an_event_of_exactly_the_limit_fits_alone() {
        let mut builder = BatchBuilder::default();
        assert!(builder.push(event(1, 10)).is_none());
        let first = builder
            .push(event(2, MAX_BATCH_BYTES - EVENT_OVERHEAD_BYTES))
            .expect("the small event goes first");
        assert_eq!(first.events.len(), 1);
        let alone = builder.take().unwrap();
        assert_eq!(alone.bytes, MAX_BATCH_BYTES);
    }

    #[test]
    fn at_most_ten_thousand_events() {
        let mut builder = BatchBuilder::default();
        let mut first = None;
        for i in 0..10_001 {
            if let Some(b) = builder.push(event(i, 1)) {
                first = Some(b);
            }
        }
        assert_eq!(first.unwrap().events.len(), MAX_BATCH_EVENTS);
        assert_eq!(builder.len(), 1);
    }

    #[test]
    fn a_span_over_24_hours_starts_a_new_batch() {
        let mut builder = BatchBuilder::default();
        assert!(builder.push(event(0, 1)).is_none());
        assert!(
            builder.push(event(MAX_BATCH_SPAN_MS, 1)).is_none(),
            "exactly 24 h fits"
        );
        let batch = builder.push(event(MAX_BATCH_SPAN_MS + 1, 1)).unwrap();
        assert_eq!(batch.events.len(), 2);
        // Going back in time beyond the span also splits.
        let batch = builder.push(event(-1, 1)).unwrap();
        assert_eq!(batch.events.len(), 1);
    }

    #[test]
    fn batches_are_chronological_and_stable() {
        let mut builder = BatchBuilder::default();
        for (ts, msg) in [(3, "c"), (1, "a1"), (2, "b"), (1, "a2")] {
            builder.push(LogEvent {
                timestamp_ms: ts,
                message: msg.into(),
                ack: None,
            });
        }
        let batch = builder.take().unwrap();
        let order: Vec<&str> = batch.events.iter().map(|(_, m)| m.as_str()).collect();
        assert_eq!(order, vec!["a1", "a2", "b", "c"]);
    }
}
