//! CloudWatch, CloudWatch Logs and SNS limits that bite, each defined once with its source
//! (the AWS API references and quotas pages, checked Nov 2026; ARCHITECTURE.md has the table)
//! and, where we keep a margin, the margin.

// --- CloudWatch Logs (PutLogEvents) ---

/// PutLogEvents: a batch is at most 1,048,576 bytes, counted as the sum of UTF-8 message bytes
/// plus 26 bytes per event (CloudWatch Logs API reference, PutLogEvents).
pub const MAX_LOG_BATCH_BYTES: usize = 1_048_576;
/// PutLogEvents: per-event overhead counted in the batch size (same source).
pub const LOG_EVENT_OVERHEAD_BYTES: usize = 26;
/// PutLogEvents: at most 10,000 events per batch (same source).
pub const MAX_LOG_BATCH_EVENTS: usize = 10_000;
/// PutLogEvents: the events of one batch span at most 24 hours (same source).
pub const MAX_LOG_BATCH_SPAN_MS: i64 = 24 * 60 * 60 * 1000;
/// Largest message CloudWatch Logs accepts in one event: 1 MiB per event since April 2025
/// (PutLogEvents quotas), minus the per-event overhead counted in the batch size.
pub const MAX_LOG_EVENT_MESSAGE_BYTES: usize = MAX_LOG_BATCH_BYTES - LOG_EVENT_OVERHEAD_BYTES;
/// A line longer than this is cut into pieces as a source reads it and is the redactor's
/// default line limit, so every piece of a long line is redacted rather than replaced whole
/// (one CloudWatch Logs event's size, rounded up to 1 MiB).
pub const DEFAULT_MAX_LINE_BYTES: usize = 1_048_576;

// --- CloudWatch dashboards, alarms; SNS ---

/// PutDashboard: at most 500 widgets per dashboard (CloudWatch quotas, PutDashboard).
pub const MAX_WIDGETS_PER_DASHBOARD: usize = 500;
/// PutDashboard: at most 500 metrics per graph widget (CloudWatch quotas).
pub const MAX_METRICS_PER_WIDGET: usize = 500;
/// PutDashboard: at most 2,500 metrics per dashboard (CloudWatch quotas).
pub const MAX_METRICS_PER_DASHBOARD: usize = 2_500;
/// PutDashboard: the grid is 24 columns wide (CloudWatch quotas).
pub const DASHBOARD_GRID_COLUMNS: i64 = 24;
/// PutDashboard: dashboard names are at most 255 characters (CloudWatch quotas).
pub const MAX_DASHBOARD_NAME_LEN: usize = 255;
/// PutMetricAlarm: alarm names are at most 255 characters (CloudWatch quotas).
pub const MAX_ALARM_NAME_LEN: usize = 255;
/// PutMetricAlarm: at most 5 actions per alarm state (CloudWatch quotas).
pub const MAX_ACTIONS_PER_STATE: usize = 5;
/// PutMetricAlarm: the sub-minute periods CloudWatch accepts (PutMetricAlarm `Period`: 10, 20
/// and 30 for high-resolution metrics).
pub const SUB_MINUTE_PERIODS: [i32; 3] = [10, 20, 30];
/// PutMetricAlarm: every other period must be a multiple of 60 s (CloudWatch quotas).
pub const PERIOD_MULTIPLE: i32 = 60;
/// PutMetricAlarm: Period × EvaluationPeriods may reach one day when Period < 1 h.
pub const MAX_EVALUATION_WINDOW_SHORT_PERIOD: i64 = 86_400;
/// PutMetricAlarm: Period × EvaluationPeriods may reach 7 days when Period ≥ 1 h.
pub const MAX_EVALUATION_WINDOW_LONG_PERIOD: i64 = 604_800;
/// PutMetricAlarm: the period (1 h) from which the longer evaluation window applies.
pub const LONG_PERIOD_FROM: i64 = 3_600;
/// SNS CreateTopic: names are 1–256 characters of `[A-Za-z0-9_-]` (SNS API reference,
/// CreateTopic `Name`).
pub const MAX_TOPIC_NAME_LEN: usize = 256;
/// Dashboard widget heights CloudWatch accepts: 1 to 1,000 grid units (CloudWatch dashboard
/// body structure reference, `height`).
pub const MAX_WIDGET_HEIGHT: i64 = 1_000;

/// Whether `period` (seconds) is one CloudWatch accepts for an alarm or a metric query.
pub fn is_valid_period(period: i32) -> bool {
    SUB_MINUTE_PERIODS.contains(&period) || (period > 0 && period % PERIOD_MULTIPLE == 0)
}

/// The longest Period × EvaluationPeriods CloudWatch accepts for this period.
pub fn max_evaluation_window(period: i32) -> i64 {
    if i64::from(period) < LONG_PERIOD_FROM {
        MAX_EVALUATION_WINDOW_SHORT_PERIOD
    } else {
        MAX_EVALUATION_WINDOW_LONG_PERIOD
    }
}

/// Retention values PutRetentionPolicy accepts (CloudWatch Logs API reference,
/// PutRetentionPolicy `retentionInDays`).
pub const VALID_RETENTION_DAYS: [i32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];
/// Days a log group keeps its events unless configured: the seeds keep ECS container logs 30
/// days (the application's group, set by the sidecar; the sidecar's own, set by `provision`).
pub const DEFAULT_RETENTION_DAYS: i32 = 30;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_follow_the_design_table() {
        for ok in [10, 20, 30, 60, 300, 3_600] {
            assert!(is_valid_period(ok), "{ok}");
        }
        for bad in [0, -60, 1, 15, 45, 90, 61] {
            assert!(!is_valid_period(bad), "{bad}");
        }
    }

    #[test]
    fn evaluation_window_grows_at_one_hour() {
        assert_eq!(max_evaluation_window(3_599), 86_400);
        assert_eq!(max_evaluation_window(3_600), 604_800);
    }
}
