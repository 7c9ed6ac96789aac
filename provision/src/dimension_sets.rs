//! Which dimension combinations each metric the definitions use is published with, and the
//! form CloudWatch gives the values of AWS resource dimensions.
//!
//! CloudWatch stores one series per exact dimension combination: a query whose dimensions
//! are a subset or a superset of what is published matches nothing and, with
//! `TreatMissingData = notBreaching`, an alarm on it stays OK forever. So dashboards and
//! alarms are checked against whole sets here, never dimension by dimension. The
//! `AIStudio/Streaming` sets come from the shared catalog (what the sidecar publishes); the
//! AWS ones are the documented combinations of the metrics these definitions use.

use aistudio_core::catalog::{catalog_metric, APP_NAMESPACE, ENVIRONMENT_DIMENSION};

/// Dimension combinations of one group of AWS metrics.
struct AwsMetricGroup {
    namespace: &'static str,
    metrics: &'static [&'static str],
    sets: &'static [&'static [&'static str]],
}

/// The AWS metrics the definitions may use, with their documented dimension combinations.
///
/// Sources: Elastic Load Balancing user guide, "CloudWatch metrics for your Application Load
/// Balancer" (metric dimensions table); Amazon ECS developer guide, "Amazon ECS CloudWatch
/// metrics" (dimensions: ClusterName, ServiceName); CloudWatch user guide, "Amazon ECS
/// Container Insights metrics"; Amazon Aurora user guide, "Amazon CloudWatch metrics for
/// Amazon Aurora" and "Amazon CloudWatch dimensions for Aurora"; CloudWatch Logs user guide,
/// "CloudWatch Logs metrics" (dimension LogGroupName, or none for the account). A metric of an AWS namespace
/// that is not listed is an error: add it here, with the combinations its documentation
/// lists, before a widget or alarm uses it.
const AWS_METRICS: &[AwsMetricGroup] = &[
    AwsMetricGroup {
        namespace: "AWS/ApplicationELB",
        metrics: &[
            "RequestCount",
            "HTTPCode_Target_2XX_Count",
            "HTTPCode_Target_4XX_Count",
            "HTTPCode_Target_5XX_Count",
            "TargetResponseTime",
        ],
        sets: &[
            &["LoadBalancer"],
            &["AvailabilityZone", "LoadBalancer"],
            &["TargetGroup"],
            &["LoadBalancer", "TargetGroup"],
            &["AvailabilityZone", "LoadBalancer", "TargetGroup"],
        ],
    },
    AwsMetricGroup {
        namespace: "AWS/ApplicationELB",
        metrics: &[
            "HTTPCode_ELB_5XX_Count",
            "HTTPCode_ELB_4XX_Count",
            "ActiveConnectionCount",
        ],
        sets: &[&["LoadBalancer"], &["AvailabilityZone", "LoadBalancer"]],
    },
    AwsMetricGroup {
        namespace: "AWS/ApplicationELB",
        metrics: &["HealthyHostCount", "UnHealthyHostCount"],
        sets: &[
            &["LoadBalancer", "TargetGroup"],
            &["AvailabilityZone", "LoadBalancer", "TargetGroup"],
        ],
    },
    AwsMetricGroup {
        namespace: "AWS/ECS",
        metrics: &["CPUUtilization", "MemoryUtilization"],
        sets: &[&["ClusterName"], &["ClusterName", "ServiceName"]],
    },
    AwsMetricGroup {
        namespace: "ECS/ContainerInsights",
        metrics: &["DesiredTaskCount", "RunningTaskCount", "PendingTaskCount"],
        sets: &[&["ClusterName", "ServiceName"]],
    },
    AwsMetricGroup {
        namespace: "AWS/RDS",
        metrics: &[
            "DatabaseConnections",
            "ReadIOPS",
            "WriteIOPS",
            "ReadLatency",
            "WriteLatency",
            "CommitLatency",
            "ServerlessDatabaseCapacity",
            "ACUUtilization",
            "CPUUtilization",
        ],
        sets: &[
            &["DBClusterIdentifier"],
            &["DBClusterIdentifier", "Role"],
            &["DBInstanceIdentifier"],
        ],
    },
    AwsMetricGroup {
        namespace: "AWS/Logs",
        metrics: &["IncomingLogEvents", "IncomingBytes"],
        sets: &[&[], &["LogGroupName"]],
    },
];

/// The dimension combinations `metric` of `namespace` is published with, each sorted by
/// name; `None` when the metric is unknown (not in the catalog or the AWS table).
pub fn published_sets(namespace: &str, metric: &str) -> Option<Vec<Vec<&'static str>>> {
    let sets: Vec<Vec<&'static str>> = if namespace == APP_NAMESPACE {
        catalog_metric(metric)?.dimension_sets()
    } else {
        AWS_METRICS
            .iter()
            .find(|g| g.namespace == namespace && g.metrics.contains(&metric))?
            .sets
            .iter()
            .map(|s| s.to_vec())
            .collect()
    };
    Some(
        sets.into_iter()
            .map(|mut s| {
                s.sort_unstable();
                s
            })
            .collect(),
    )
}

/// Whether definitions in `namespace` are checked (ours and the AWS ones in the table).
fn is_checked_namespace(namespace: &str) -> bool {
    namespace == APP_NAMESPACE || AWS_METRICS.iter().any(|g| g.namespace == namespace)
}

/// Why a query's dimensions match no published series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetProblem {
    /// The namespace is neither ours nor one of the AWS table's (points at the namespace).
    UnknownNamespace(String),
    /// The metric is not in the catalog or the AWS table (points at the metric name).
    UnknownMetric(String),
    /// The combination is not published (points at the dimensions).
    WrongSet(String),
}

#[cfg(test)]
impl SetProblem {
    /// The message.
    pub fn message(&self) -> &str {
        match self {
            SetProblem::UnknownNamespace(m)
            | SetProblem::UnknownMetric(m)
            | SetProblem::WrongSet(m) => m,
        }
    }
}

/// Checks that `dims` (dimension names of one query) is exactly a published combination of
/// `namespace`/`metric`; the error names the combinations it could use instead.
pub fn check_dimension_set(namespace: &str, metric: &str, dims: &[&str]) -> Result<(), SetProblem> {
    if !is_checked_namespace(namespace) {
        return Err(SetProblem::UnknownNamespace(format!(
            "namespace `{namespace}` is not one the definitions know; use {APP_NAMESPACE} or add \
             the AWS namespace with its metrics' documented dimensions to the table in \
             provision/src/dimension_sets.rs"
        )));
    }
    let Some(sets) = published_sets(namespace, metric) else {
        return Err(SetProblem::UnknownMetric(if namespace == APP_NAMESPACE {
            format!(
                "`{metric}` is not in the {APP_NAMESPACE} metric catalog (ARCHITECTURE.md); use a \
                 catalog metric or add it to the catalog first"
            )
        } else {
            format!(
                "`{metric}` is not a {namespace} metric these definitions know; add it with its \
                 documented dimension combinations to provision/src/dimension_sets.rs"
            )
        }));
    };
    let mut asked: Vec<&str> = dims.to_vec();
    asked.sort_unstable();
    if let Some(twice) = asked.windows(2).find(|w| w[0] == w[1]) {
        return Err(SetProblem::WrongSet(format!(
            "dimension `{}` is given twice; give each dimension once",
            twice[0]
        )));
    }
    if sets.contains(&asked) {
        return Ok(());
    }
    let options = sets
        .iter()
        .map(|s| format!("{{{}}}", s.join(",")))
        .collect::<Vec<_>>()
        .join(" or ");
    let hint = if namespace == APP_NAMESPACE && !asked.contains(&ENVIRONMENT_DIMENSION) {
        format!(" (every {APP_NAMESPACE} series carries {ENVIRONMENT_DIMENSION})")
    } else {
        String::new()
    };
    Err(SetProblem::WrongSet(format!(
        "{namespace} {metric} is not published with dimensions {{{}}}, so this query matches no \
         series; use {options}{hint}",
        asked.join(",")
    )))
}

/// The form CloudWatch gives an AWS resource dimension's value, for the dimensions whose
/// value is not the resource's bare name: (dimension, prefix, what the form looks like).
const RESOURCE_VALUE_FORMS: [(&str, &str, &str); 2] = [
    ("LoadBalancer", "app/", "app/NAME/ID"),
    ("TargetGroup", "targetgroup/", "targetgroup/NAME/ID"),
];

/// The form `dimension`'s values must have on CloudWatch, when that differs from a bare
/// resource name (`app/NAME/ID` for `LoadBalancer`, say).
pub fn value_form(dimension: &str) -> Option<&'static str> {
    RESOURCE_VALUE_FORMS
        .iter()
        .find(|(d, _, _)| *d == dimension)
        .map(|(_, _, form)| *form)
}

/// Whether `value` has the form CloudWatch uses for `dimension` (always true for dimensions
/// whose value is a bare name).
pub fn has_value_form(dimension: &str, value: &str) -> bool {
    let Some((_, prefix, _)) = RESOURCE_VALUE_FORMS
        .iter()
        .find(|(d, _, _)| *d == dimension)
    else {
        return true;
    };
    let Some(rest) = value.strip_prefix(prefix) else {
        return false;
    };
    let mut parts = rest.split('/');
    let (Some(name), Some(id), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !name.is_empty() && !id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit())
}

/// A dimension value written out in a definition (not a `${...}` placeholder) must have the
/// form CloudWatch uses, or the row watches a series that does not exist.
pub fn check_literal_value(
    path: &str,
    dimension: &str,
    value: &str,
    push: &mut dyn FnMut(String, String),
) {
    if value.contains("${") || has_value_form(dimension, value) {
        return;
    }
    if let Some(form) = value_form(dimension) {
        push(path.to_owned(), format!("{dimension} `{value}` is not in the form CloudWatch uses ({form}); use the `${{{dimension}}}` placeholder, which plan and apply look up"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_sets_are_exact_matches_in_any_order() {
        assert!(check_dimension_set(APP_NAMESPACE, "JobsFailed", &["Environment"]).is_ok());
        assert!(
            check_dimension_set(APP_NAMESPACE, "JobsFailed", &["Provider", "Environment"]).is_ok()
        );
        let err = check_dimension_set(
            APP_NAMESPACE,
            "ProviderLatencyMs",
            &["Environment", "Provider"],
        )
        .expect_err("a subset of the published set");
        let err = err.message();
        assert!(err.contains("{Environment,ModelId,Provider}"), "{err}");
        let err = check_dimension_set(APP_NAMESPACE, "RateLimitedRequests", &[])
            .expect_err("no Environment");
        let err = err.message();
        assert!(err.contains("carries Environment"), "{err}");
        assert!(check_dimension_set(APP_NAMESPACE, "ErrorCount", &["Endpoint"]).is_err());
        assert!(check_dimension_set(APP_NAMESPACE, "NoSuchMetric", &["Environment"]).is_err());
    }

    #[test]
    fn aws_sets_come_from_the_table() {
        assert!(
            check_dimension_set("AWS/ECS", "CPUUtilization", &["ServiceName", "ClusterName"])
                .is_ok()
        );
        assert!(check_dimension_set("AWS/ECS", "CPUUtilization", &["ServiceName"]).is_err());
        assert!(
            check_dimension_set("AWS/ApplicationELB", "HealthyHostCount", &["LoadBalancer"])
                .is_err()
        );
        assert!(
            check_dimension_set("AWS/ApplicationELB", "SurgeQueueLength", &["LoadBalancer"])
                .is_err()
        );
        assert!(check_dimension_set("AWS/Lambda", "Errors", &[]).is_err());
        assert!(
            check_dimension_set("AWS/ECS", "CPUUtilization", &["ClusterName", "ClusterName"])
                .is_err()
        );
    }

    #[test]
    fn resource_value_forms() {
        assert!(has_value_form(
            "LoadBalancer",
            "app/aistudio-prod-alb/50dc6c495c0c9188"
        ));
        assert!(!has_value_form("LoadBalancer", "aistudio-prod-alb"));
        assert!(!has_value_form("LoadBalancer", "app/aistudio-prod-alb"));
        assert!(!has_value_form("LoadBalancer", "app/x/not-hex"));
        assert!(has_value_form(
            "TargetGroup",
            "targetgroup/tg/943f017f100becff"
        ));
        assert!(!has_value_form("TargetGroup", "app/tg/943f017f100becff"));
        assert!(has_value_form("ClusterName", "anything"));
        assert_eq!(value_form("LoadBalancer"), Some("app/NAME/ID"));
        assert_eq!(value_form("ServiceName"), None);
    }
}
