//! Graceful drain on SIGTERM: health turns 503, new jobs are refused, in-flight jobs run until a deadline.
//!
//! The exit's worst case is the drain deadline plus [`SHUTDOWN_GRACE`] (2 s): after the
//! deadline, [`CANCEL_GRACE`] for cancelled jobs to send their final chunk,
//! [`CONNECTION_CLOSE_GRACE`] for connections to close, [`RUNTIME_SHUTDOWN_GRACE`] for the
//! runtime to drop what is left. Each wait is cut at its bound, so clients that stopped
//! reading (whose jobs are never polled again, whose connections never finish) cost exactly
//! that and no more. Those waits run on the serving runtime, whose timers fire late when it
//! is saturated; so a thread of its own also times the shutdown from the signal and exits
//! the process at [`FORCED_EXIT_AFTER_DEADLINE`] past the deadline if the graceful path has
//! not finished. With the default 25 s deadline the process is gone by 27 s, 3 s before
//! ECS's 30 s stopTimeout sends SIGKILL.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// After the deadline, how long cancelled jobs get to send their final error chunk (a client
/// that still reads gets it within milliseconds).
pub const CANCEL_GRACE: Duration = Duration::from_millis(1_000);

/// After the cancel grace, how long connections get to flush and close.
pub const CONNECTION_CLOSE_GRACE: Duration = Duration::from_millis(500);

/// After `run` returns, how long the runtime may wait for its blocking threads (e.g. a DNS
/// lookup of the upstream) before the process exits anyway.
pub const RUNTIME_SHUTDOWN_GRACE: Duration = Duration::from_millis(250);

/// The documented worst case after the drain deadline: SIGTERM → exit takes at most the
/// deadline plus this.
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(2_000);

/// The backstop: this long after the deadline (timed from the signal on a thread of its own)
/// the process exits even if the graceful path is still running, e.g. on a runtime so busy
/// that its timers fire late. The rest of [`SHUTDOWN_GRACE`] is for the process teardown.
pub const FORCED_EXIT_AFTER_DEADLINE: Duration = Duration::from_millis(1_900);

/// ECS's default container stopTimeout (and the one in deploy/ecs-task-definition.json):
/// SIGKILL follows SIGTERM after this long.
pub const ECS_STOP_TIMEOUT: Duration = Duration::from_secs(30);

// The graceful path fits before the backstop, the backstop inside the documented grace, and
// the default deadline plus the grace leaves a 3 s margin below SIGKILL.
const _: () = {
    let graceful = CANCEL_GRACE
        .saturating_add(CONNECTION_CLOSE_GRACE)
        .saturating_add(RUNTIME_SHUTDOWN_GRACE);
    assert!(graceful.as_millis() < FORCED_EXIT_AFTER_DEADLINE.as_millis());
    assert!(FORCED_EXIT_AFTER_DEADLINE.as_millis() < SHUTDOWN_GRACE.as_millis());
    assert!(
        crate::config::DEFAULT_DRAIN_DEADLINE_MS as u128 + SHUTDOWN_GRACE.as_millis() + 3_000
            <= ECS_STOP_TIMEOUT.as_millis()
    );
};

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

    /// Turns health 503 and refuses new jobs (before `server.draining` is logged, so whoever
    /// reads that line sees the 503).
    pub fn start(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Starts draining and waits for in-flight jobs, cancelling them at `deadline`.
    pub async fn drain(&self, deadline: Duration) -> DrainOutcome {
        self.start();
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
