//! The `AIStudio/Streaming` metric catalog: every metric the sidecar publishes, its unit, the
//! log-contract event it comes from and the dimensions it carries. The metric stage builds
//! its default rules from this table and `provision validate` checks dashboards and alarms
//! against it, so the two can never disagree.

/// The namespace of the application metrics.
pub const APP_NAMESPACE: &str = "AIStudio/Streaming";

/// The dimension every catalog metric carries, valued with the sidecar's environment.
pub const ENVIRONMENT_DIMENSION: &str = "Environment";

/// Environments the sidecar runs in and the definitions are templated for.
pub const KNOWN_ENVIRONMENTS: [&str; 3] = ["dev", "staging", "prod"];

/// Environment used when neither the config nor `AISTUDIO_ENV` gives one.
pub const DEFAULT_ENVIRONMENT: &str = "dev";

/// The log group the sidecar ships to in `environment` unless configured (the seeds' name);
/// the demo names it too, so that a newcomer knows where to look.
pub fn default_log_group(environment: &str) -> String {
    format!("/aws/ecs/aistudio-{environment}-frontend")
}

/// Environment variables whose presence means "AWS is configured" (the sidecar then ships to
/// CloudWatch by default; the demo picks its mode the same way).
pub const AWS_SETTING_VARS: [&str; 6] = [
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
];

/// Where a catalog metric's observations come from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MetricSource {
    /// A log-contract line: `event` equals the name; the value is the `value` field (or 1 per
    /// line without one); with `status`, only lines whose `status` is in the inclusive range.
    LogEvent {
        /// The `event` field's value.
        event: &'static str,
        /// Field holding the value; `None` counts 1 per line.
        value: Option<&'static str>,
        /// Inclusive range the `status` field must be in.
        status: Option<(f64, f64)>,
    },
    /// The sidecar's own counters, published once per period.
    Sidecar,
}

/// One row of the catalog.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CatalogMetric {
    /// The CloudWatch metric name.
    pub name: &'static str,
    /// The CloudWatch `StandardUnit` name.
    pub unit: &'static str,
    /// Dimensions besides `Environment`, each with the log field holding its value.
    pub extra_dimensions: &'static [(&'static str, &'static str)],
    /// Where observations come from.
    pub source: MetricSource,
}

impl CatalogMetric {
    /// The names of the dimensions besides `Environment`.
    pub fn extra_dimension_names(&self) -> Vec<&'static str> {
        self.extra_dimensions
            .iter()
            .map(|(name, _)| *name)
            .collect()
    }

    /// Whether `name` is one of the dimensions besides `Environment`.
    pub fn has_extra_dimension(&self, name: &str) -> bool {
        self.extra_dimensions.iter().any(|(n, _)| *n == name)
    }

    /// The dimension combinations published for this metric: `Environment` alone (every
    /// metric is rolled up to it, so alarms and dashboard totals see data) and, when the
    /// metric has extra dimensions, `Environment` with all of them.
    pub fn dimension_sets(&self) -> Vec<Vec<&'static str>> {
        let mut sets = vec![vec![ENVIRONMENT_DIMENSION]];
        if !self.extra_dimensions.is_empty() {
            let mut full = vec![ENVIRONMENT_DIMENSION];
            full.extend(self.extra_dimensions.iter().map(|(name, _)| *name));
            sets.push(full);
        }
        sets
    }
}

const PROVIDER: &[(&str, &str)] = &[("Provider", "provider")];
const ENDPOINT: &[(&str, &str)] = &[("Endpoint", "endpoint")];

const fn event(
    name: &'static str,
    unit: &'static str,
    event: &'static str,
    value: Option<&'static str>,
    extra_dimensions: &'static [(&'static str, &'static str)],
) -> CatalogMetric {
    CatalogMetric {
        name,
        unit,
        extra_dimensions,
        source: MetricSource::LogEvent {
            event,
            value,
            status: None,
        },
    }
}

/// Events the sidecar gave up on in the period (the `sidecar-events-lost` alarm's first metric).
pub const EVENTS_DROPPED_METRIC: &str = "SidecarEventsDropped";
/// Events CloudWatch Logs refused in the period (its second metric).
pub const EVENTS_REJECTED_METRIC: &str = "SidecarEventsRejected";

/// The catalog, in publishing order.
pub const METRIC_CATALOG: &[CatalogMetric] = &[
    event("JobsCreated", "Count", "job.created", None, PROVIDER),
    event("JobsCompleted", "Count", "job.completed", None, PROVIDER),
    event("JobsFailed", "Count", "job.failed", None, PROVIDER),
    event("JobsCancelled", "Count", "job.cancelled", None, PROVIDER),
    event(
        "ProcessingLatencyMs",
        "Milliseconds",
        "job.completed",
        Some("duration"),
        PROVIDER,
    ),
    event(
        "TimeToFirstTokenMs",
        "Milliseconds",
        "job.first_token",
        Some("duration"),
        PROVIDER,
    ),
    event(
        "ProviderLatencyMs",
        "Milliseconds",
        "provider.response",
        Some("duration"),
        &[("Provider", "provider"), ("ModelId", "modelId")],
    ),
    event(
        "TokensStreamed",
        "Count",
        "job.completed",
        Some("tokens"),
        PROVIDER,
    ),
    event("RequestCount", "Count", "http.request", None, ENDPOINT),
    CatalogMetric {
        name: "ErrorCount",
        unit: "Count",
        extra_dimensions: ENDPOINT,
        source: MetricSource::LogEvent {
            event: "http.request",
            value: None,
            status: Some((500.0, 599.0)),
        },
    },
    event(
        "ResponseTimeMs",
        "Milliseconds",
        "http.request",
        Some("duration"),
        ENDPOINT,
    ),
    event(
        "RateLimitedRequests",
        "Count",
        "ratelimit.rejected",
        None,
        &[],
    ),
    event(
        "DatabaseQueryTimeMs",
        "Milliseconds",
        "db.query",
        Some("duration"),
        &[],
    ),
    CatalogMetric {
        name: EVENTS_DROPPED_METRIC,
        unit: "Count",
        extra_dimensions: &[],
        source: MetricSource::Sidecar,
    },
    CatalogMetric {
        name: EVENTS_REJECTED_METRIC,
        unit: "Count",
        extra_dimensions: &[],
        source: MetricSource::Sidecar,
    },
];

/// Looks a metric up in the catalog.
pub fn catalog_metric(name: &str) -> Option<&'static CatalogMetric> {
    METRIC_CATALOG.iter().find(|m| m.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_dimension_sets_start_with_environment() {
        let mut names: Vec<&str> = METRIC_CATALOG.iter().map(|m| m.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), METRIC_CATALOG.len());
        for metric in METRIC_CATALOG {
            for set in metric.dimension_sets() {
                assert_eq!(set[0], ENVIRONMENT_DIMENSION, "{}", metric.name);
            }
        }
        let provider_latency = catalog_metric("ProviderLatencyMs").expect("in the catalog");
        assert_eq!(
            provider_latency.dimension_sets(),
            vec![
                vec!["Environment"],
                vec!["Environment", "Provider", "ModelId"]
            ]
        );
    }
}
