//! Per-user rate limiting with the seeds' guide's semantics: at most `requests_per_minute`
//! accepted requests per user in *any* 60-second window (a sliding-window log).
//!
//! Each user keeps the times of its last N accepted requests. A request is accepted when
//! fewer than N of them are younger than 60 s; otherwise it is refused with the exact time
//! until the oldest leaves the window, and `Retry-After` is that time rounded up to whole
//! seconds (so a retry at that moment is accepted). Refused requests are not recorded. A
//! token bucket (the previous limiter) accepted up to 2N in a minute; a fixed window, up to
//! 2N across a window boundary; this one never more than N.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The window the limit applies to (the guide's "per one-minute window").
pub const WINDOW: Duration = Duration::from_secs(60);

/// Users are pruned when the map grows past this many.
const PRUNE_THRESHOLD: usize = 10_000;

/// Per-user logs of accepted requests.
#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    users: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateLimiter {
    /// A limiter allowing `per_minute` requests per user in any 60 s window; 0 disables it.
    pub fn new(per_minute: u32) -> Self {
        Self {
            limit: per_minute,
            users: Mutex::new(HashMap::new()),
        }
    }

    /// Admits one request of `user` at `now`, or `Err(wait)` until one would be admitted.
    pub fn check(&self, user: &str, now: Instant) -> Result<(), Duration> {
        if self.limit == 0 {
            return Ok(());
        }
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        // A poisoned lock only means another request panicked mid-update; the map is still usable.
        let mut users = self
            .users
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if users.len() > PRUNE_THRESHOLD {
            users.retain(|_, log| {
                log.back()
                    .is_some_and(|&t| now.saturating_duration_since(t) < WINDOW)
            });
        }
        let log = users.entry(user.to_string()).or_default();
        // A request at t counts for [t, t + 60 s): at t + 60 s exactly it no longer does.
        while log
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= WINDOW)
        {
            log.pop_front();
        }
        match log.front() {
            Some(&oldest) if log.len() >= limit => Err((oldest + WINDOW) - now),
            _ => {
                log.push_back(now);
                Ok(())
            }
        }
    }
}

/// Whole seconds for `Retry-After`: rounded up (a retry then is admitted) and at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[tokio::test(start_paused = true)]
    async fn ten_per_window_then_exact_retry_after() {
        let l = RateLimiter::new(10);
        let t0 = Instant::now();
        for _ in 0..10 {
            l.check("alice", t0).unwrap();
        }
        assert_eq!(l.check("alice", t0), Err(WINDOW));
        assert_eq!(retry_after_secs(WINDOW), 60);
        // Other users are independent.
        l.check("bob", t0).unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn window_edges() {
        let l = RateLimiter::new(10);
        let t0 = Instant::now();
        for i in 0..10 {
            l.check("u", t0 + i * Duration::from_secs(1)).unwrap();
        }
        // 1 ms before the first leaves the window: refused, retry in exactly 1 ms → 1 s.
        let edge = t0 + WINDOW - MS;
        assert_eq!(l.check("u", edge), Err(MS));
        assert_eq!(retry_after_secs(MS), 1);
        // At the edge the first request no longer counts: one (and only one) more.
        l.check("u", t0 + WINDOW).unwrap();
        assert_eq!(
            l.check("u", t0 + WINDOW),
            Err(Duration::from_secs(1)),
            "the next slot frees when the second request (t0 + 1 s) leaves"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn back_to_back_requests_never_exceed_n_in_any_window() {
        // The client: a request every 1.6 s. A token bucket accepted 14 in the
        // first 22 s and up to 20 in a minute.
        let l = RateLimiter::new(10);
        let t0 = Instant::now();
        let step = Duration::from_millis(1_600);
        let accepted: Vec<Instant> = (0..200)
            .map(|i| t0 + step * i)
            .filter(|&t| l.check("u", t).is_ok())
            .collect();
        assert_eq!(accepted[9], t0 + step * 9);
        assert!(
            accepted[10] >= accepted[0] + WINDOW,
            "the 11th waits for the window"
        );
        for (i, &start) in accepted.iter().enumerate() {
            let in_window = accepted[i..]
                .iter()
                .take_while(|&&t| t < start + WINDOW)
                .count();
            assert!(in_window <= 10, "{in_window} accepted in a window");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_at_retry_after_is_admitted() {
        let l = RateLimiter::new(3);
        let t0 = Instant::now();
        for i in 0..3u32 {
            l.check("u", t0 + i * Duration::from_millis(2_500)).unwrap();
        }
        let now = t0 + Duration::from_millis(7_300);
        let wait = l.check("u", now).unwrap_err();
        assert_eq!(wait, Duration::from_millis(52_700));
        let secs = retry_after_secs(wait);
        assert_eq!(secs, 53);
        assert!(l.check("u", now + Duration::from_secs(secs - 1)).is_err());
        l.check("u", now + Duration::from_secs(secs)).unwrap();
    }

    #[test]
    fn zero_disables() {
        let l = RateLimiter::new(0);
        let t0 = Instant::now();
        for _ in 0..1000 {
            l.check("u", t0).unwrap();
        }
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(5001)), 6);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
