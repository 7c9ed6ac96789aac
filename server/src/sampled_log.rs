//! Log sampling for repeated rejections: the first few per interval are logged in full, the
//! rest only counted, and each interval with any left out ends with one summary line.
//!
//! Without it a client sending bad tokens as fast as it can (5,000 in 0.33 s on one
//! keep-alive connection) turns every request into two warn lines, and so into log volume
//! and CloudWatch cost that it controls. With it the volume per interval is bounded by
//! `burst` full events plus one `server.log_suppressed` line, whatever the request rate;
//! nothing is lost from the metrics, which count every rejection.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Event of the per-interval summary line.
pub const SUPPRESSED_EVENT: &str = "server.log_suppressed";

/// One kind of repeated event.
#[derive(Debug)]
pub struct Sampler {
    event: &'static str,
    burst: u32,
    logged: AtomicU32,
    suppressed: AtomicU64,
}

impl Sampler {
    fn new(event: &'static str, burst: u32) -> Self {
        Self {
            event,
            burst,
            logged: AtomicU32::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// True when this occurrence is to be logged in full; otherwise it is counted.
    pub fn admit(&self) -> bool {
        if self.logged.fetch_add(1, Ordering::Relaxed) < self.burst {
            return true;
        }
        // Keep the counter from wrapping during a very long flood.
        self.logged.store(self.burst, Ordering::Relaxed);
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        false
    }

    /// Ends the interval: returns how many were left out and lets `burst` more through.
    fn end_interval(&self) -> u64 {
        self.logged.store(0, Ordering::Relaxed);
        self.suppressed.swap(0, Ordering::Relaxed)
    }
}

/// The samplers of the server's repeated events.
#[derive(Debug)]
pub struct Samplers {
    interval: Duration,
    /// `auth.rejected` and the `http.request` line of the same request.
    pub auth_rejected: Sampler,
    /// `server.connection_refused` (connection caps).
    pub connection_refused: Sampler,
    /// `server.accept_failed`.
    pub accept_failed: Sampler,
}

impl Samplers {
    /// Samplers letting `burst` events of each kind through per `interval`.
    pub fn new(interval: Duration, burst: u32) -> Arc<Self> {
        Arc::new(Self {
            interval,
            auth_rejected: Sampler::new("auth.rejected", burst),
            connection_refused: Sampler::new("server.connection_refused", burst),
            accept_failed: Sampler::new("server.accept_failed", burst),
        })
    }

    fn all(&self) -> [&Sampler; 3] {
        [
            &self.auth_rejected,
            &self.connection_refused,
            &self.accept_failed,
        ]
    }

    /// Ends the current interval: one summary line per kind that left lines out.
    pub fn flush(&self) {
        let interval_ms = u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX);
        for s in self.all() {
            let count = s.end_interval();
            if count > 0 {
                tracing::warn!(
                    event = SUPPRESSED_EVENT,
                    suppressedEvent = s.event,
                    count,
                    intervalMs = interval_ms,
                    "repeated events were counted, not logged one by one (auth.rejected also drops their http.request lines)"
                );
            }
        }
    }

    /// Ends an interval every `interval` until `stop`, then once more.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => self.flush(),
                () = stop.cancelled() => break,
            }
        }
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_counted_then_reset() {
        let s = Sampler::new("x", 3);
        let logged = (0..10).filter(|_| s.admit()).count();
        assert_eq!(logged, 3);
        assert_eq!(s.end_interval(), 7);
        assert!(s.admit(), "a new interval lets lines through again");
        assert_eq!(s.end_interval(), 0);
    }
}
