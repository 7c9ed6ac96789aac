//! Graceful drain on SIGTERM: health turns 503, new jobs are refused, in-flight jobs run until a deadline.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// After the deadline, how long cancelled jobs get to send their final error chunk.
pub const CANCEL_GRACE: Duration = Duration::from_secs(2);

/// Shared drain state.
#[derive(Debug, Default)]
pub struct Drain {
    draining: AtomicBool,
    deadline: CancellationToken,
    active: AtomicUsize,
    idle: Notify,
}

/// How a drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainOutcome {
    /// Every job finished before the deadline.
    Finished,
    /// The deadline passed; remaining jobs were cancelled (this many).
    DeadlineExceeded(usize),
}

impl Drain {
    /// A fresh, serving state.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// True once SIGTERM arrived.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Fires when the drain deadline passed; jobs then end with an error chunk.
    pub fn deadline(&self) -> CancellationToken {
        self.deadline.clone()
    }

    /// Jobs in flight.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    /// Registers an in-flight job until the returned slot drops.
    pub fn job(self: &Arc<Self>) -> JobSlot {
        self.active.fetch_add(1, Ordering::SeqCst);
        metrics::gauge!(crate::metrics::ACTIVE_STREAMS).increment(1.0);
        JobSlot(Arc::clone(self))
    }

    async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.active() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Starts draining and waits for in-flight jobs, cancelling them at `deadline`.
    pub async fn drain(&self, deadline: Duration) -> DrainOutcome {
        self.draining.store(true, Ordering::SeqCst);
        if tokio::time::timeout(deadline, self.wait_idle())
            .await
            .is_ok()
        {
            return DrainOutcome::Finished;
        }
        let left = self.active();
        self.deadline.cancel();
        // Cancelled jobs end at their next poll; a job whose client stopped reading may never be
        // polled again, so the grace period bounds the wait.
        let _ = tokio::time::timeout(CANCEL_GRACE, self.wait_idle()).await;
        DrainOutcome::DeadlineExceeded(left)
    }
}

/// An in-flight job; dropping it marks the job done.
#[derive(Debug)]
pub struct JobSlot(Arc<Drain>);

impl Drop for JobSlot {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
        metrics::gauge!(crate::metrics::ACTIVE_STREAMS).decrement(1.0);
        self.0.idle.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drain_with_no_jobs_finishes_at_once() {
        let d = Drain::new();
        assert!(!d.is_draining());
        assert_eq!(
            d.drain(Duration::from_secs(60)).await,
            DrainOutcome::Finished
        );
        assert!(d.is_draining());
        assert!(!d.deadline().is_cancelled());
    }

    #[tokio::test]
    async fn drain_waits_for_jobs_to_finish() {
        let d = Drain::new();
        let slot = d.job();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let d2 = Arc::clone(&d);
        let waiter = tokio::spawn(async move { d2.drain(Duration::from_secs(60)).await });
        tokio::spawn(async move {
            let _ = rx.await;
            drop(slot);
        });
        tx.send(()).unwrap();
        assert_eq!(waiter.await.unwrap(), DrainOutcome::Finished);
    }

    #[tokio::test]
    async fn deadline_cancels_remaining_jobs() {
        let d = Drain::new();
        let slot = d.job();
        let token = d.deadline();
        tokio::spawn(async move {
            token.cancelled().await;
            drop(slot);
        });
        assert_eq!(
            d.drain(Duration::from_millis(10)).await,
            DrainOutcome::DeadlineExceeded(1)
        );
        assert_eq!(d.active(), 0);
    }
}
