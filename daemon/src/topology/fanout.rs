//! Every log sink's buffered input behind one handle, shared by the producers of log events
//! (the processor's decoded lines, the metric publisher's EMF lines); the buffers close when
//! the last producer lets go, so no producer can write into a closed sink.

use crate::buffer::SpillingSender;
use crate::event::LogEvent;

/// The log sinks' buffers.
pub struct FanOut {
    senders: Vec<SpillingSender>,
}

impl FanOut {
    /// A fan-out to `senders`, one per log sink.
    pub fn new(senders: Vec<SpillingSender>) -> Self {
        Self { senders }
    }

    /// Hands `events` to every sink (a clone each, the original to the last). Blocks only
    /// while a buffer's memory and disk are both full and it is configured to block.
    pub fn send(&self, events: Vec<LogEvent>) {
        let Some((last, rest)) = self.senders.split_last() else {
            return;
        };
        for tx in rest {
            tx.send(events.clone());
        }
        last.send(events);
    }
}

impl Drop for FanOut {
    /// No more events: each buffer hands over what it holds on disk, then closes.
    fn drop(&mut self) {
        for sender in self.senders.drain(..) {
            sender.close();
        }
    }
}
