//! The sidecar's own loss counters as CloudWatch datums, so an alarm sees a lost line directly
//! instead of inferring it from load-balancer requests versus log events received.
//!
//! Once per period the publisher asks for the events the sidecar gave up on
//! (`EventsDropped`: a sink's retries or the shutdown deadline ran out, a full buffer with
//! `when_full = "drop"`, a local file that cannot be written) and the events CloudWatch Logs
//! refused in accepted calls (`rejectedLogEventsInfo`: too old, too new, expired). Each becomes
//! one datum per period with only the `Environment` dimension, zero included, so every task of
//! a service adds into the same series and the alarm always has data while sidecars run.

use std::sync::Arc;

use super::config::ENVIRONMENT_DIMENSION;
use crate::datum::{Datum, DatumValue, Unit, STANDARD_RESOLUTION};
use crate::telemetry::Telemetry;

pub use aistudio_core::catalog::{EVENTS_DROPPED_METRIC, EVENTS_REJECTED_METRIC};

/// Turns the telemetry's running totals into one datum per metric and period.
#[derive(Debug)]
pub struct HealthDatums {
    telemetry: Telemetry,
    dimensions: Arc<[(Arc<str>, String)]>,
    period_ms: i64,
    period_start: Option<i64>,
    reported_dropped: u64,
    reported_rejected: u64,
}

impl HealthDatums {
    /// Reports `telemetry`'s losses every `period_secs` under `Environment = environment`.
    pub fn new(telemetry: Telemetry, environment: &str, period_secs: u64) -> Self {
        let period_ms = i64::try_from(period_secs.max(1).saturating_mul(1_000)).unwrap_or(60_000);
        Self {
            telemetry,
            dimensions: Arc::from(vec![(
                Arc::<str>::from(ENVIRONMENT_DIMENSION),
                environment.to_owned(),
            )]),
            period_ms,
            period_start: None,
            reported_dropped: 0,
            reported_rejected: 0,
        }
    }

    /// The datums of the period that ended before `now_ms`, if one did; with `last`
    /// (shutdown) also those of the period still running, so no loss goes unreported.
    pub fn collect(&mut self, now_ms: i64, last: bool) -> Vec<Datum> {
        let current = now_ms - now_ms.rem_euclid(self.period_ms);
        let start = *self.period_start.get_or_insert(current);
        if current <= start && !last {
            return Vec::new();
        }
        self.period_start = Some(current.max(start));
        let dropped = self.telemetry.dropped();
        let rejected = self.telemetry.rejected_total();
        let datums = vec![
            self.datum(
                EVENTS_DROPPED_METRIC,
                start,
                dropped.saturating_sub(self.reported_dropped),
            ),
            self.datum(
                EVENTS_REJECTED_METRIC,
                start,
                rejected.saturating_sub(self.reported_rejected),
            ),
        ];
        self.reported_dropped = dropped;
        self.reported_rejected = rejected;
        datums
    }

    fn datum(&self, metric: &str, start: i64, events: u64) -> Datum {
        let events = events as f64;
        Datum {
            metric: Arc::from(metric),
            dimensions: Arc::clone(&self.dimensions),
            timestamp_ms: start,
            unit: Unit::Count,
            storage_resolution: STANDARD_RESOLUTION,
            // One sample per task and period: Sum adds the tasks up, Maximum is the worst task.
            value: DatumValue::Stats {
                count: 1.0,
                sum: events,
                min: events,
                max: events,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::{RejectReason, SidecarEvent};

    const MINUTE: i64 = 60_000;
    const T0: i64 = 1_800_000_000_000 - 1_800_000_000_000 % MINUTE;

    fn sums(datums: &[Datum]) -> Vec<(String, i64, f64)> {
        datums
            .iter()
            .map(|d| {
                let DatumValue::Stats { sum, .. } = d.value else {
                    panic!("stats expected")
                };
                (d.metric.to_string(), d.timestamp_ms, sum)
            })
            .collect()
    }

    #[test]
    fn one_datum_per_metric_and_period_with_the_losses_of_that_period() {
        let telemetry = Telemetry::default();
        let mut health = HealthDatums::new(telemetry.clone(), "prod", 60);
        assert!(
            health.collect(T0 + 1_000, false).is_empty(),
            "period running"
        );
        telemetry.emit(SidecarEvent::EventsDropped(7));
        telemetry.emit(SidecarEvent::EventsRejected(RejectReason::TooOld, 2));
        telemetry.emit(SidecarEvent::EventsRejected(RejectReason::TooNew, 1));
        assert!(health.collect(T0 + 59_999, false).is_empty());
        let first = health.collect(T0 + MINUTE + 500, false);
        assert_eq!(
            sums(&first),
            vec![
                (EVENTS_DROPPED_METRIC.to_owned(), T0, 7.0),
                (EVENTS_REJECTED_METRIC.to_owned(), T0, 3.0),
            ]
        );
        assert_eq!(&*first[0].dimensions[0].0, "Environment");
        assert_eq!(first[0].dimensions[0].1, "prod");
        assert_eq!(first[0].unit, Unit::Count);
        // A quiet period reports zeros, so the alarm has data.
        let quiet = health.collect(T0 + 2 * MINUTE + 10, false);
        assert_eq!(
            sums(&quiet),
            vec![
                (EVENTS_DROPPED_METRIC.to_owned(), T0 + MINUTE, 0.0),
                (EVENTS_REJECTED_METRIC.to_owned(), T0 + MINUTE, 0.0),
            ]
        );
    }

    #[test]
    fn shutdown_reports_the_running_period_once() {
        let telemetry = Telemetry::default();
        let mut health = HealthDatums::new(telemetry.clone(), "dev", 60);
        health.collect(T0 + 5, false);
        telemetry.emit(SidecarEvent::EventsDropped(4));
        let last = health.collect(T0 + 30_000, true);
        assert_eq!(
            sums(&last),
            vec![
                (EVENTS_DROPPED_METRIC.to_owned(), T0, 4.0),
                (EVENTS_REJECTED_METRIC.to_owned(), T0, 0.0),
            ]
        );
    }

    #[test]
    fn a_long_gap_between_ticks_loses_nothing() {
        let telemetry = Telemetry::default();
        let mut health = HealthDatums::new(telemetry.clone(), "prod", 60);
        health.collect(T0, false);
        telemetry.emit(SidecarEvent::EventsDropped(3));
        // The publisher was held up for five periods: the losses land in one datum.
        let late = health.collect(T0 + 5 * MINUTE + 1, false);
        assert_eq!(sums(&late)[0], (EVENTS_DROPPED_METRIC.to_owned(), T0, 3.0));
        telemetry.emit(SidecarEvent::EventsDropped(1));
        let next = health.collect(T0 + 6 * MINUTE + 1, false);
        assert_eq!(
            sums(&next)[0],
            (EVENTS_DROPPED_METRIC.to_owned(), T0 + 5 * MINUTE, 1.0)
        );
    }
}
