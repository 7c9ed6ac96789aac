//! Per-user rate limiting: a token bucket of `requests_per_minute`, refilled continuously.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets are pruned when the map grows past this many users.
const PRUNE_THRESHOLD: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Per-user token buckets.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// A limiter allowing `per_minute` requests per user per minute; 0 disables it.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `user`'s bucket at `now`; `Err(retry_after)` when empty.
    pub fn check(&self, user: &str, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        // A poisoned lock only means another request panicked mid-update; the map is still usable.
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > PRUNE_THRESHOLD {
            buckets.retain(|_, b| {
                let refilled =
                    b.tokens + now.saturating_duration_since(b.updated).as_secs_f64() * per_second;
                refilled < capacity
            });
        }
        let bucket = buckets.entry(user.to_string()).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
        }
    }
}

/// Whole seconds for `Retry-After`, rounded up and at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_quota_then_rejects_with_retry_after() {
        let l = RateLimiter::new(10);
        let t0 = Instant::now();
        for _ in 0..10 {
            l.check("alice", t0).unwrap();
        }
        let wait = l.check("alice", t0).unwrap_err();
        assert_eq!(
            retry_after_secs(wait),
            6,
            "one token refills every 6 s at 10/min"
        );
        // Other users are independent.
        l.check("bob", t0).unwrap();
    }

    #[test]
    fn refills_over_time() {
        let l = RateLimiter::new(60);
        let t0 = Instant::now();
        for _ in 0..60 {
            l.check("u", t0).unwrap();
        }
        assert!(l.check("u", t0).is_err());
        l.check("u", t0 + Duration::from_secs(1)).unwrap();
        assert!(l.check("u", t0 + Duration::from_secs(1)).is_err());
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
