//! The relay's own counters and their Prometheus text on `/metrics`. Labels are fixed reason
//! names, never anything from a message.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Every rejection reason, in the order `/metrics` lists them (each is always present, at 0
/// until it happens, so that alerts on them see a series from the start).
pub const REJECTION_REASONS: [&str; 11] = [
    "too_large",
    "malformed",
    "unknown_topic",
    "stale",
    "cert_url_not_https",
    "cert_url_host",
    "cert_url_malformed",
    "cert_unavailable",
    "cert_untrusted",
    "signature_version",
    "signature",
];

/// Monotonic counters.
#[derive(Debug, Default)]
pub struct Counters {
    /// POSTs received.
    pub received: AtomicU64,
    /// Messages that passed verification.
    pub verified: AtomicU64,
    rejected: [AtomicU64; REJECTION_REASONS.len()],
    /// Notifications already seen (same MessageId), not posted again.
    pub duplicates: AtomicU64,
    /// Notifications refused because the Slack queue was full (SNS retries them).
    pub queue_full: AtomicU64,
    /// Slack posts that succeeded.
    pub posted: AtomicU64,
    /// Slack attempts that will be retried.
    pub retried: AtomicU64,
    /// Slack messages given up on.
    pub failed: AtomicU64,
    /// Subscriptions confirmed by visiting SubscribeURL.
    pub confirmed: AtomicU64,
    /// SubscribeURL visits that failed.
    pub confirm_failed: AtomicU64,
    /// UnsubscribeConfirmation messages seen.
    pub unsubscribed: AtomicU64,
}

impl Counters {
    /// Adds one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a rejection by its reason label.
    pub fn reject(&self, reason: &str) {
        if let Some(i) = REJECTION_REASONS.iter().position(|r| *r == reason) {
            Self::inc(&self.rejected[i]);
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut one = |name: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP aistudio_relay_{name} {help}");
            let _ = writeln!(out, "# TYPE aistudio_relay_{name} counter");
            let _ = writeln!(out, "aistudio_relay_{name} {value}");
        };
        one("received_total", "SNS POSTs received.", get(&self.received));
        one(
            "verified_total",
            "SNS messages that passed verification.",
            get(&self.verified),
        );
        one(
            "duplicates_total",
            "Notifications with an already seen MessageId.",
            get(&self.duplicates),
        );
        one(
            "queue_full_total",
            "Notifications refused with 503 because the Slack queue was full.",
            get(&self.queue_full),
        );
        one(
            "posted_total",
            "Messages Slack accepted.",
            get(&self.posted),
        );
        one(
            "retried_total",
            "Slack attempts retried (429, 5xx, network).",
            get(&self.retried),
        );
        one(
            "failed_total",
            "Slack messages given up on.",
            get(&self.failed),
        );
        one(
            "subscriptions_confirmed_total",
            "Subscriptions confirmed.",
            get(&self.confirmed),
        );
        one(
            "subscription_confirm_failed_total",
            "SubscribeURL visits that failed.",
            get(&self.confirm_failed),
        );
        one(
            "unsubscribe_confirmations_total",
            "UnsubscribeConfirmation messages.",
            get(&self.unsubscribed),
        );
        let _ = writeln!(
            out,
            "# HELP aistudio_relay_rejected_total SNS POSTs refused, by reason."
        );
        let _ = writeln!(out, "# TYPE aistudio_relay_rejected_total counter");
        for (reason, c) in REJECTION_REASONS.iter().zip(&self.rejected) {
            let _ = writeln!(
                out,
                "aistudio_relay_rejected_total{{reason=\"{reason}\"}} {}",
                get(c)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_is_listed_and_counted() {
        let c = Counters::default();
        c.reject("signature");
        c.reject("not-a-reason");
        let text = c.render();
        assert!(text.contains("aistudio_relay_rejected_total{reason=\"signature\"} 1"));
        assert!(text.contains("aistudio_relay_rejected_total{reason=\"stale\"} 0"));
        assert_eq!(
            text.matches("aistudio_relay_rejected_total{").count(),
            REJECTION_REASONS.len()
        );
    }
}
