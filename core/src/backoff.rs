//! How long to wait before retrying: one capped exponential backoff with full jitter, shared by
//! every sink (each sink decides on its own *whether* an error is retriable).

use std::time::Duration;

/// First retry waits up to this long.
pub const DEFAULT_INITIAL: Duration = Duration::from_millis(100);
/// No wait is longer than this: an outage is noticed within this much of its end.
pub const DEFAULT_CAP: Duration = Duration::from_secs(10);

/// Capped exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff
/// And Jitter": the wait is uniform in `[0, min(cap, initial * 2^attempt)]`), so that many
/// sidecars throttled together do not retry in lockstep.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    cap: Duration,
    attempt: u32,
    rng: fastrand::Rng,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(DEFAULT_INITIAL, DEFAULT_CAP)
    }
}

impl Backoff {
    /// A backoff starting at `initial`, never waiting longer than `cap`.
    pub fn new(initial: Duration, cap: Duration) -> Self {
        Self {
            initial,
            cap: cap.max(initial),
            attempt: 0,
            rng: fastrand::Rng::new(),
        }
    }

    /// Fixes the jitter's seed, for tests.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.rng = fastrand::Rng::with_seed(seed);
        self
    }

    /// The upper bound of the next wait, before jitter.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.cap)
    }

    /// The next wait; each call doubles the ceiling until the cap.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(self.rng.u64(0..=nanos))
    }

    /// Waits the next delay.
    pub async fn wait(&mut self) {
        tokio::time::sleep(self.next_delay()).await;
    }

    /// Starts over after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// How many waits since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_up_to_the_cap() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let mut ceilings = Vec::new();
        for _ in 0..6 {
            ceilings.push(backoff.ceiling().as_millis());
            backoff.next_delay();
        }
        assert_eq!(ceilings, vec![100, 200, 400, 800, 1000, 1000]);
        backoff.reset();
        assert_eq!(backoff.ceiling(), Duration::from_millis(100));
    }

    #[test]
    fn delays_are_jittered_within_the_ceiling() {
        let mut backoff =
            Backoff::new(Duration::from_millis(100), Duration::from_secs(10)).with_seed(7);
        let mut distinct = std::collections::BTreeSet::new();
        for _ in 0..20 {
            let ceiling = backoff.ceiling();
            let delay = backoff.next_delay();
            assert!(delay <= ceiling, "{delay:?} > {ceiling:?}");
            distinct.insert(delay);
        }
        assert!(
            distinct.len() > 15,
            "jitter should spread delays: {distinct:?}"
        );
    }

    #[test]
    fn huge_attempt_counts_do_not_overflow() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        for _ in 0..200 {
            assert!(backoff.next_delay() <= Duration::from_secs(30));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn wait_sleeps_the_drawn_delay_in_virtual_time() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(8)).with_seed(3);
        let mut expected = backoff.clone();
        let start = tokio::time::Instant::now();
        let mut total = Duration::ZERO;
        for _ in 0..5 {
            total += expected.next_delay();
            backoff.wait().await;
        }
        // The timer wheel has millisecond resolution: each sleep ends on the next whole ms.
        let elapsed = start.elapsed();
        assert!(
            elapsed >= total && elapsed <= total + Duration::from_millis(5),
            "{elapsed:?} vs {total:?}"
        );
        assert_eq!(backoff.attempts(), 5);
    }
}
