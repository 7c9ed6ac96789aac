//! CloudWatch and SNS quotas the definitions must respect, and the `AIStudio/Streaming` catalog.
//!
//! Every number comes from the limits table in `../shared/DESIGN.md` ("CloudWatch limits that
//! bite", checked against the AWS docs, Nov 2026) unless its comment names another source.

/// PutDashboard: at most 500 widgets per dashboard (DESIGN.md limits table, PutDashboard row).
pub const MAX_WIDGETS_PER_DASHBOARD: usize = 500;
/// PutDashboard: at most 500 metrics per graph widget (DESIGN.md limits table).
pub const MAX_METRICS_PER_WIDGET: usize = 500;
/// PutDashboard: at most 2,500 metrics per dashboard (DESIGN.md limits table).
pub const MAX_METRICS_PER_DASHBOARD: usize = 2_500;
/// PutDashboard: the grid is 24 columns wide (DESIGN.md limits table).
pub const DASHBOARD_GRID_COLUMNS: i64 = 24;
/// PutDashboard: dashboard names are at most 255 characters (DESIGN.md limits table).
pub const MAX_DASHBOARD_NAME_LEN: usize = 255;
/// PutMetricAlarm: alarm names are at most 255 characters (DESIGN.md limits table).
pub const MAX_ALARM_NAME_LEN: usize = 255;
/// PutMetricAlarm: at most 5 actions per alarm state (DESIGN.md limits table).
pub const MAX_ACTIONS_PER_STATE: usize = 5;
/// PutMetricAlarm: the sub-minute periods CloudWatch accepts (DESIGN.md limits table: 10, 20
/// and 30; 20 is valid although issue 7 lists only 10 and 30, the table is the later word).
pub const SUB_MINUTE_PERIODS: [i32; 3] = [10, 20, 30];
/// PutMetricAlarm: every other period must be a multiple of 60 s (DESIGN.md limits table).
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

/// The namespace of the sidecar's own application metrics.
pub const APP_NAMESPACE: &str = "AIStudio/Streaming";

/// One row of the metric catalog: a metric name and the dimensions it may carry besides
/// `Environment` (DESIGN.md "Metric catalog").
#[derive(Debug, Clone, Copy)]
pub struct CatalogMetric {
    /// The CloudWatch metric name.
    pub name: &'static str,
    /// Dimensions allowed besides `Environment`.
    pub extra_dimensions: &'static [&'static str],
}

/// The `AIStudio/Streaming` metric catalog (DESIGN.md "Metric catalog"); `Environment` is on all.
pub const METRIC_CATALOG: &[CatalogMetric] = &[
    CatalogMetric {
        name: "JobsCreated",
        extra_dimensions: &["Provider"],
    },
    CatalogMetric {
        name: "JobsCompleted",
        extra_dimensions: &["Provider"],
    },
    CatalogMetric {
        name: "JobsFailed",
        extra_dimensions: &["Provider"],
    },
    CatalogMetric {
        name: "JobsCancelled",
        extra_dimensions: &["Provider"],
    },
    CatalogMetric {
        name: "ProcessingLatencyMs",
        extra_dimensions: &["Provider"],
    },
    CatalogMetric {
        name: "TimeToFirstTokenMs",
        extra_dimensions: &["Provider"],
    },
    CatalogMetric {
        name: "ProviderLatencyMs",
        extra_dimensions: &["Provider", "ModelId"],
    },
    CatalogMetric {
        name: "TokensStreamed",
        extra_dimensions: &["Provider"],
    },
    CatalogMetric {
        name: "RequestCount",
        extra_dimensions: &["Endpoint"],
    },
    CatalogMetric {
        name: "ErrorCount",
        extra_dimensions: &["Endpoint"],
    },
    CatalogMetric {
        name: "ResponseTimeMs",
        extra_dimensions: &["Endpoint"],
    },
    CatalogMetric {
        name: "RateLimitedRequests",
        extra_dimensions: &[],
    },
    CatalogMetric {
        name: "DatabaseQueryTimeMs",
        extra_dimensions: &[],
    },
    // The sidecar's own losses (daemon/src/metrics/health.rs), for the sidecar-events-lost alarm.
    CatalogMetric {
        name: crate::metrics::health::EVENTS_DROPPED_METRIC,
        extra_dimensions: &[],
    },
    CatalogMetric {
        name: crate::metrics::health::EVENTS_REJECTED_METRIC,
        extra_dimensions: &[],
    },
];

/// The dimension every catalog metric carries.
pub const ENVIRONMENT_DIMENSION: &str = "Environment";

/// Looks a metric up in the catalog.
pub fn catalog_metric(name: &str) -> Option<&'static CatalogMetric> {
    METRIC_CATALOG.iter().find(|m| m.name == name)
}

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
