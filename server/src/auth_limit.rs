//! Limits on rejected authentication, per peer address and per connection.
//!
//! A token is always verified first (HS256 costs microseconds), so a valid token is never
//! refused here, even from an address that is being limited — behind an ALB the peer is an
//! ALB node shared by many clients. Only *failures* are counted: past `failure_burst` of
//! them from one address within a fixed `failure_window` (starting at the first failure),
//! the answer becomes `429` with `Retry-After` set to the window's end; and a connection
//! that has failed `max_failures_per_connection` times is closed after that answer, so one
//! keep-alive connection cannot be used to try tokens without end.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// The peer map is pruned of expired windows when it grows past this many addresses.
const PRUNE_THRESHOLD: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    failures: u32,
}

/// Counts failed authentications per peer address.
#[derive(Debug)]
pub struct AuthFailureLimiter {
    burst: u32,
    window: Duration,
    peers: Mutex<HashMap<IpAddr, Window>>,
}

impl AuthFailureLimiter {
    /// Allows `burst` failures per peer per `window`; a burst of 0 disables the limit.
    pub fn new(burst: u32, window: Duration) -> Self {
        Self {
            burst,
            window,
            peers: Mutex::new(HashMap::new()),
        }
    }

    /// Records one failure from `peer` at `now`; `Some(retry_after)` once past the burst.
    pub fn failed(&self, peer: IpAddr, now: Instant) -> Option<Duration> {
        if self.burst == 0 {
            return None;
        }
        let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        if peers.len() > PRUNE_THRESHOLD {
            let window = self.window;
            peers.retain(|_, w| now.saturating_duration_since(w.start) < window);
        }
        let w = peers.entry(peer).or_insert(Window {
            start: now,
            failures: 0,
        });
        if now.saturating_duration_since(w.start) >= self.window {
            *w = Window {
                start: now,
                failures: 0,
            };
        }
        w.failures = w.failures.saturating_add(1);
        (w.failures > self.burst).then(|| (w.start + self.window).saturating_duration_since(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[tokio::test(start_paused = true)]
    async fn past_the_burst_until_the_window_ends() {
        let l = AuthFailureLimiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.failed(PEER, t0), None);
        }
        assert_eq!(l.failed(PEER, t0), Some(Duration::from_secs(60)));
        let t = t0 + Duration::from_millis(59_500);
        assert_eq!(l.failed(PEER, t), Some(Duration::from_millis(500)));
        // A new window starts at the first failure after the old one ended.
        assert_eq!(l.failed(PEER, t0 + Duration::from_secs(60)), None);
        let other = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(l.failed(other, t), None, "addresses are counted apart");
    }

    #[test]
    fn zero_burst_disables() {
        let l = AuthFailureLimiter::new(0, Duration::from_secs(60));
        let now = Instant::now();
        assert!((0..100).all(|_| l.failed(PEER, now).is_none()));
    }
}
