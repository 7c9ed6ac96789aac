//! What `/health` says, from the counters: `ok`, or `degraded` with the reasons (a fixed set
//! of labels), and a watcher that logs one line per change of state rather than per poll.

use std::time::Duration;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::Telemetry;
use aistudio_core::clock::now_ms;

/// A disk buffer this full (per mille of its bound) is reported: soon the sources wait or,
/// with `when_full = "drop"`, events are lost. 90 % leaves the operator the last tenth of the
/// buffer (100 MiB of the default 1 GiB) to react in.
pub const BUFFER_NEAR_FULL_PERMILLE: u64 = 900;
/// How often the watcher re-assesses the state it logs.
const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// Why the sidecar is not `ok`. Each is a fixed label, so the body never grows with input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Events wait for a sink and none was delivered for `degraded_after`.
    NotDelivering,
    /// Events were dropped within the last `degraded_after` (a write failing, a full buffer
    /// with `when_full = "drop"`).
    DroppingEvents,
    /// A sink is refused for its credentials or permissions and holds its data.
    SinkUnauthorized,
    /// A disk buffer is at least 90 % full.
    BufferNearFull,
    /// A file a source's globs match cannot be opened (its lines are not collected).
    SourceUnreadable,
}

/// The overall state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Delivering, nothing lost.
    Ok,
    /// Running, but at least one reason holds.
    Degraded,
}

/// The health policy (from `[api]`).
#[derive(Debug, Clone, Copy)]
pub struct HealthPolicy {
    /// A backlog with no delivery for this long is `not_delivering`; a drop stays reported
    /// this long.
    pub degraded_after: Duration,
}

/// One assessment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    /// `ok` or `degraded`.
    pub status: Status,
    /// Why, sorted; empty when `ok`.
    pub reasons: Vec<Reason>,
    /// Milliseconds since the current backlog was last served (0 with no backlog).
    pub stalled_ms: i64,
}

/// Assesses the counters at `now` (epoch ms).
pub fn assess(telemetry: &Telemetry, policy: HealthPolicy, now: i64) -> Health {
    let window = i64::try_from(policy.degraded_after.as_millis()).unwrap_or(i64::MAX);
    let last_progress = telemetry.last_progress_ms();
    let mut reasons = Vec::new();
    let stalled_ms = if telemetry.queued_events() > 0 {
        // Served last at the later of the last delivery and the moment the backlog began.
        (now - last_progress.max(telemetry.backlog_since_ms())).max(0)
    } else {
        0
    };
    if stalled_ms >= window {
        reasons.push(Reason::NotDelivering);
    }
    let dropped = telemetry.last_drop_ms();
    if dropped > 0 && now - dropped < window {
        reasons.push(Reason::DroppingEvents);
    }
    let refused = telemetry.last_unauthorized_ms();
    if refused > last_progress {
        reasons.push(Reason::SinkUnauthorized);
    }
    if let Some((_, used, capacity)) = telemetry.fullest_buffer() {
        if capacity > 0
            && used.saturating_mul(1000) >= capacity.saturating_mul(BUFFER_NEAR_FULL_PERMILLE)
        {
            reasons.push(Reason::BufferNearFull);
        }
    }
    if telemetry.unreadable_files() > 0 {
        reasons.push(Reason::SourceUnreadable);
    }
    Health {
        status: if reasons.is_empty() {
            Status::Ok
        } else {
            Status::Degraded
        },
        reasons,
        stalled_ms,
    }
}

/// Re-assesses every second until `stop` and logs each change of state once: a warning
/// naming the reasons when it degrades or the reasons change, an info line when it recovers.
pub async fn watch(telemetry: Telemetry, policy: HealthPolicy, stop: CancellationToken) {
    let mut reported: Vec<Reason> = Vec::new();
    let mut tick = tokio::time::interval(WATCH_INTERVAL);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let health = assess(&telemetry, policy, now_ms());
        if health.reasons == reported {
            continue;
        }
        if health.reasons.is_empty() {
            tracing::info!("sidecar health is ok again");
        } else {
            tracing::warn!(
                reasons = ?health.reasons,
                stalled_ms = health.stalled_ms,
                queued_events = telemetry.queued_events(),
                events_dropped = telemetry.dropped(),
                "sidecar health degraded; see /health and /metrics"
            );
        }
        reported = health.reasons;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::SidecarEvent;

    const POLICY: HealthPolicy = HealthPolicy {
        degraded_after: Duration::from_secs(60),
    };

    #[test]
    fn a_backlog_never_served_degrades_after_the_window() {
        let t = Telemetry::default();
        assert_eq!(assess(&t, POLICY, now_ms()).status, Status::Ok);
        t.queued(10);
        let now = now_ms();
        assert_eq!(assess(&t, POLICY, now + 59_000).status, Status::Ok);
        let later = assess(&t, POLICY, now + 61_000);
        assert_eq!(later.reasons, vec![Reason::NotDelivering]);
        // A delivery serves the backlog: the clock restarts.
        t.emit(SidecarEvent::EventsShipped(5));
        assert_eq!(assess(&t, POLICY, now_ms() + 1_000).status, Status::Ok);
        // An empty queue is never stalled.
        t.queued(-10);
        assert!(assess(&t, POLICY, now + 3_600_000).reasons.is_empty());
    }

    #[test]
    fn drops_and_refusals_degrade_at_once_and_drops_age_out() {
        let t = Telemetry::default();
        t.emit(SidecarEvent::EventsDropped(3));
        let now = now_ms();
        assert_eq!(
            assess(&t, POLICY, now).reasons,
            vec![Reason::DroppingEvents]
        );
        assert!(assess(&t, POLICY, now + 61_000).reasons.is_empty());
        let t = Telemetry::default();
        t.emit(SidecarEvent::Unauthorized);
        assert_eq!(
            assess(&t, POLICY, now_ms()).reasons,
            vec![Reason::SinkUnauthorized]
        );
        t.emit(SidecarEvent::EventsShipped(1));
        assert!(assess(&t, POLICY, now_ms()).reasons.is_empty());
    }

    #[test]
    fn a_nearly_full_disk_buffer_is_reported() {
        let t = Telemetry::default();
        let gauge = t.register_buffer("file", 1000);
        gauge.set_used(899);
        assert!(assess(&t, POLICY, now_ms()).reasons.is_empty());
        gauge.set_used(900);
        assert_eq!(
            assess(&t, POLICY, now_ms()).reasons,
            vec![Reason::BufferNearFull]
        );
    }

    #[test]
    fn an_unreadable_source_file_is_reported_until_it_opens() {
        let t = Telemetry::default();
        t.emit(SidecarEvent::SourceFileUnreadable);
        assert_eq!(
            assess(&t, POLICY, now_ms()).reasons,
            vec![Reason::SourceUnreadable]
        );
        t.emit(SidecarEvent::SourceFileReadable);
        assert!(assess(&t, POLICY, now_ms()).reasons.is_empty());
    }
}
