//! Maps OTLP metrics onto the catalog's metric points. A metric is accepted when its name is
//! a catalog metric of `AIStudio/Streaming` (`aistudio_core::catalog`, the one list; compared
//! ignoring ASCII case, as OpenTelemetry instrument names are), its unit matches the
//! catalog's, its type fits the metric's kind, and every data-point attribute is the log
//! field of one of the metric's dimensions (`provider` → `Provider`):
//!
//! - counter metrics (unit `Count`) take monotonic sums, delta or cumulative (turned into
//!   increases per series, `cumulative`);
//! - distribution metrics (time units) take gauges (one sample per point) and histograms,
//!   explicit-bucket or exponential, delta or cumulative, kept as `(value, count)` pairs.
//!
//! Everything else is rejected point by point with a reason, returned to the exporter in
//! `partial_success`; a reason names the metric or the attribute key, never a value.
//! Resource and scope attributes (`service.name`, …) describe the sender, not a dimension,
//! and are ignored.

use std::collections::BTreeMap;

use aistudio_core::catalog::{CatalogMetric, MetricSource, APP_NAMESPACE, METRIC_CATALOG};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
use opentelemetry_proto::tonic::metrics::v1::{AggregationTemporality, Metric, NumberDataPoint};

use super::cumulative::{Cumulative, Refusal, SeriesKey};
use super::histograms::{explicit_point, exponential_point};
use crate::datum::{
    check_value, in_window, Unit, MAX_DIMENSION_VALUE_CHARS, MIN_ABS_NONZERO_VALUE,
};
use crate::metric_point::{MetricPoint, PointValue};

/// Characters of a metric name or attribute key quoted in a reason.
const MAX_QUOTED_CHARS: usize = 64;
/// Reasons listed in one `partial_success.error_message`; the rest are summed as "others".
const MAX_REASONS_LISTED: usize = 16;
/// OTLP's `DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK`: a staleness marker, which carries no
/// value (skipped, not rejected).
pub(super) const NO_RECORDED_VALUE: u32 = 1;

/// The accepted points and the rejected ones, counted by reason.
#[derive(Debug, Default)]
pub struct Mapped {
    /// Points for the metric stage.
    pub points: Vec<MetricPoint>,
    /// Rejected data points per reason.
    pub rejected: BTreeMap<String, i64>,
}

impl Mapped {
    /// Data points rejected.
    pub fn rejected_points(&self) -> i64 {
        self.rejected.values().sum()
    }

    /// The `partial_success.error_message`: each reason with its count.
    pub fn message(&self) -> String {
        let mut parts: Vec<String> = self
            .rejected
            .iter()
            .take(MAX_REASONS_LISTED)
            .map(|(reason, n)| format!("{reason} ({})", points(*n)))
            .collect();
        let others: i64 = self.rejected.values().skip(MAX_REASONS_LISTED).sum();
        if others > 0 {
            parts.push(format!("other reasons ({})", points(others)));
        }
        format!(
            "{} rejected: {}",
            points(self.rejected_points()),
            parts.join("; ")
        )
    }

    fn reject(&mut self, reason: String, points: usize) {
        if points > 0 {
            *self.rejected.entry(reason).or_default() += points as i64;
        }
    }
}

fn points(n: i64) -> String {
    if n == 1 {
        "1 data point".to_owned()
    } else {
        format!("{n} data points")
    }
}

/// What one metric's points need.
pub(super) struct Target {
    pub(super) catalog: &'static CatalogMetric,
    /// Multiplier from the exporter's unit to the catalog's (`s` → `ms`: 1,000).
    pub(super) scale: f64,
    distribution: bool,
}

/// Maps every data point of the request; `now_ms` stamps points without a time and bounds
/// the window.
pub fn map(
    request: &ExportMetricsServiceRequest,
    cumulative: &mut Cumulative,
    now_ms: i64,
) -> Mapped {
    let mut mapped = Mapped::default();
    for resource in &request.resource_metrics {
        for scope in &resource.scope_metrics {
            for metric in &scope.metrics {
                map_metric(metric, cumulative, now_ms, &mut mapped);
            }
        }
    }
    mapped
}

fn point_count(metric: &Metric) -> usize {
    match &metric.data {
        Some(Data::Gauge(g)) => g.data_points.len(),
        Some(Data::Sum(s)) => s.data_points.len(),
        Some(Data::Histogram(h)) => h.data_points.len(),
        Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(Data::Summary(s)) => s.data_points.len(),
        None => 0,
    }
}

fn map_metric(metric: &Metric, cumulative: &mut Cumulative, now_ms: i64, out: &mut Mapped) {
    let points = point_count(metric);
    let name = quoted(&metric.name);
    let target = match target(metric) {
        Ok(target) => target,
        Err(reason) => return out.reject(reason, points),
    };
    let kind_error = |kind: &str, want: &str| {
        format!("{name} is a {kind} metric in the catalog; send it as {want}")
    };
    let (counter, distribution) = ("counter", "distribution");
    match &metric.data {
        Some(Data::Sum(_)) if target.distribution => out.reject(
            kind_error(distribution, "a histogram or a gauge, not a sum"),
            points,
        ),
        Some(Data::Sum(sum)) if !sum.is_monotonic => out.reject(
            format!("{name} is a non-monotonic sum; only monotonic counters feed catalog counts"),
            points,
        ),
        Some(Data::Sum(sum)) => {
            let mut at = At::new(now_ms, sum.aggregation_temporality, cumulative);
            for point in &sum.data_points {
                let value = number_point(&target, point, &mut at);
                push(out, &name, value);
            }
        }
        Some(Data::Gauge(_)) if !target.distribution => {
            out.reject(kind_error(counter, "a monotonic sum, not a gauge"), points)
        }
        Some(Data::Gauge(gauge)) => {
            let mut at = At::new(now_ms, 0, cumulative);
            for point in &gauge.data_points {
                let value = number_point(&target, point, &mut at);
                push(out, &name, value);
            }
        }
        Some(Data::Histogram(_) | Data::ExponentialHistogram(_)) if !target.distribution => out
            .reject(
                kind_error(counter, "a monotonic sum, not a histogram"),
                points,
            ),
        Some(Data::Histogram(histogram)) => {
            let mut at = At::new(now_ms, histogram.aggregation_temporality, cumulative);
            for point in &histogram.data_points {
                let value = explicit_point(&target, point, &mut at);
                push(out, &name, value);
            }
        }
        Some(Data::ExponentialHistogram(histogram)) => {
            let mut at = At::new(now_ms, histogram.aggregation_temporality, cumulative);
            for point in &histogram.data_points {
                let value = exponential_point(&target, point, &mut at);
                push(out, &name, value);
            }
        }
        Some(Data::Summary(_)) => out.reject(
            format!(
                "{name} is a summary; quantiles cannot be merged across periods, send a histogram"
            ),
            points,
        ),
        None => {}
    }
}

/// What one data point gave: a point, nothing (a baseline or a staleness marker), or a
/// rejection reason.
pub(super) type PointResult = Result<Option<MetricPoint>, String>;

fn push(out: &mut Mapped, name: &str, result: PointResult) {
    match result {
        Ok(Some(point)) => out.points.push(point),
        Ok(None) => {}
        Err(reason) => out.reject(format!("{name}: {reason}"), 1),
    }
}

fn target(metric: &Metric) -> Result<Target, String> {
    let name = quoted(&metric.name);
    // OpenTelemetry instrument names are case-insensitive (the Python SDK exports them in
    // lower case): `tokensstreamed` is `TokensStreamed`.
    let catalog = METRIC_CATALOG
        .iter()
        .find(|m| m.name.eq_ignore_ascii_case(&metric.name))
        .ok_or_else(|| format!("{name} is not a metric of the {APP_NAMESPACE} catalog"))?;
    if catalog.source == MetricSource::Sidecar {
        return Err(format!(
            "{name} is the sidecar's own metric; applications cannot send it"
        ));
    }
    let unit = Unit::from_name(catalog.unit).unwrap_or(Unit::None);
    let scale = unit_scale(&metric.unit, unit).ok_or_else(|| {
        format!(
            "{name} has unit {}, the catalog's is {} ({})",
            quoted(&metric.unit),
            catalog.unit,
            if unit.is_time() {
                "send ms or s"
            } else {
                "send 1, a {annotation} or no unit"
            }
        )
    })?;
    Ok(Target {
        catalog,
        scale,
        distribution: unit.is_time(),
    })
}

/// The multiplier from an OTLP (UCUM) unit to the catalog's, when they measure the same thing.
fn unit_scale(otlp: &str, catalog: Unit) -> Option<f64> {
    let annotation = otlp.starts_with('{') && otlp.ends_with('}');
    match catalog {
        Unit::Count if otlp.is_empty() || otlp == "1" || annotation || otlp == "Count" => Some(1.0),
        Unit::Milliseconds => match otlp {
            "ms" | "Milliseconds" => Some(1.0),
            "s" => Some(1_000.0),
            "us" => Some(0.001),
            _ => None,
        },
        Unit::Seconds if otlp == "s" => Some(1.0),
        _ => None,
    }
}

/// Where a metric's points are read: the clock, the metric's temporality, the state.
pub(super) struct At<'a> {
    pub(super) now_ms: i64,
    /// `Some(true)` cumulative, `Some(false)` delta, `None` unspecified (and gauges).
    pub(super) cumulative_temporality: Option<bool>,
    pub(super) cumulative: &'a mut Cumulative,
}

impl<'a> At<'a> {
    fn new(now_ms: i64, temporality: i32, cumulative: &'a mut Cumulative) -> Self {
        let cumulative_temporality = match AggregationTemporality::try_from(temporality) {
            Ok(AggregationTemporality::Cumulative) => Some(true),
            Ok(AggregationTemporality::Delta) => Some(false),
            _ => None,
        };
        Self {
            now_ms,
            cumulative_temporality,
            cumulative,
        }
    }
}

/// The point's catalog dimensions from its attributes, or why they do not fit.
pub(super) fn dimensions(
    catalog: &'static CatalogMetric,
    attributes: &[KeyValue],
) -> Result<Vec<(&'static str, String)>, String> {
    let mut dims = Vec::with_capacity(attributes.len());
    for kv in attributes {
        let Some((dimension, _)) = catalog
            .extra_dimensions
            .iter()
            .find(|(_, field)| *field == kv.key)
        else {
            let fields: Vec<&str> = catalog.extra_dimensions.iter().map(|(_, f)| *f).collect();
            return Err(format!(
                "attribute {} is not a dimension (allowed attributes: {})",
                quoted(&kv.key),
                if fields.is_empty() {
                    "none".to_owned()
                } else {
                    fields.join(", ")
                }
            ));
        };
        let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(Any::StringValue(s)) if !s.is_empty() => s.clone(),
            Some(Any::IntValue(i)) => i.to_string(),
            Some(Any::BoolValue(b)) => b.to_string(),
            Some(Any::DoubleValue(d)) if d.is_finite() => d.to_string(),
            _ => {
                return Err(format!(
                    "attribute {} has no non-empty scalar value",
                    quoted(&kv.key)
                ))
            }
        };
        let value = match value.char_indices().nth(MAX_DIMENSION_VALUE_CHARS) {
            Some((cut, _)) => value[..cut].to_owned(),
            None => value,
        };
        dims.push((*dimension, value));
    }
    dims.sort();
    dims.dedup_by(|a, b| a.0 == b.0);
    Ok(dims)
}

/// The point's time in ms (now when it has none), or why CloudWatch would refuse it.
pub(super) fn timestamp(time_unix_nano: u64, now_ms: i64) -> Result<i64, String> {
    if time_unix_nano == 0 {
        return Ok(now_ms);
    }
    let ms = i64::try_from(time_unix_nano / 1_000_000).unwrap_or(i64::MAX);
    if in_window(ms, now_ms) {
        Ok(ms)
    } else {
        Err("timestamp outside what CloudWatch accepts (at most 14 days old, 2 hours ahead)".into())
    }
}

pub(super) fn refusal(refusal: Refusal) -> String {
    match refusal {
        Refusal::Full => format!(
            "more than {} live cumulative series; send delta temporality or fewer series",
            super::cumulative::MAX_CUMULATIVE_SERIES
        ),
        Refusal::LayoutChanged => {
            "histogram buckets changed layout without a reset; the next point counts from here"
                .into()
        }
    }
}

pub(super) fn checked(value: f64) -> Result<f64, String> {
    check_value(value)
        .map_err(|_| "value is not finite or outside CloudWatch's range (±2^360)".to_owned())
}

fn number_point(target: &Target, point: &NumberDataPoint, at: &mut At<'_>) -> PointResult {
    if point.flags & NO_RECORDED_VALUE != 0 {
        return Ok(None);
    }
    let dims = dimensions(target.catalog, &point.attributes)?;
    let timestamp_ms = timestamp(point.time_unix_nano, at.now_ms)?;
    let raw = match point.value {
        Some(Number::AsDouble(v)) => v,
        Some(Number::AsInt(v)) => v as f64,
        None => return Err("data point has no value".into()),
    };
    let value = checked(raw * target.scale)?;
    let value = if target.distribution {
        PointValue::Sample(value)
    } else {
        if value < 0.0 {
            return Err("a counter's value is negative".into());
        }
        match at.cumulative_temporality {
            Some(false) => PointValue::Delta(value),
            Some(true) => {
                let key: SeriesKey = (target.catalog.name, dims.clone());
                let start = point.start_time_unix_nano;
                match at.cumulative.sum_delta(key, start, value, at.now_ms) {
                    // Two in-range values can differ by less than CloudWatch's smallest value: none.
                    Ok(Some(delta)) if delta < MIN_ABS_NONZERO_VALUE => PointValue::Delta(0.0),
                    Ok(Some(delta)) => PointValue::Delta(delta),
                    Ok(None) => return Ok(None),
                    Err(why) => return Err(refusal(why)),
                }
            }
            None => return Err("aggregation temporality is unspecified".into()),
        }
    };
    Ok(Some(MetricPoint {
        metric: target.catalog.name,
        dimensions: dims,
        timestamp_ms,
        value,
    }))
}

/// A name or key as a reason quotes it: cut, control characters replaced.
fn quoted(text: &str) -> String {
    let cut: String = text
        .chars()
        .take(MAX_QUOTED_CHARS)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if text.chars().count() > MAX_QUOTED_CHARS {
        format!("`{cut}…`")
    } else {
        format!("`{cut}`")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::AnyValue;
    use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets as ExpBuckets;
    use opentelemetry_proto::tonic::metrics::v1::{
        ExponentialHistogram, Gauge, Histogram, ResourceMetrics, ScopeMetrics, Sum,
    };
    use opentelemetry_proto::tonic::metrics::v1::{
        ExponentialHistogramDataPoint, HistogramDataPoint,
    };

    const NOW_MS: i64 = 1_800_000_000_000;
    const NOW_NS: u64 = NOW_MS as u64 * 1_000_000;

    fn attr(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(Any::StringValue(value.into())),
            }),
            ..Default::default()
        }
    }

    fn request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn metric(name: &str, unit: &str, data: Data) -> Metric {
        Metric {
            name: name.into(),
            unit: unit.into(),
            data: Some(data),
            ..Default::default()
        }
    }

    fn number(attributes: Vec<KeyValue>, start_ns: u64, value: f64) -> NumberDataPoint {
        NumberDataPoint {
            attributes,
            start_time_unix_nano: start_ns,
            time_unix_nano: NOW_NS,
            value: Some(Number::AsDouble(value)),
            ..Default::default()
        }
    }

    fn sum(temporality: AggregationTemporality, points: Vec<NumberDataPoint>) -> Data {
        Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: temporality as i32,
            is_monotonic: true,
        })
    }

    #[test]
    fn counters_map_their_attributes_onto_the_catalog_dimensions() {
        let mut state = Cumulative::new(0);
        let data = sum(
            AggregationTemporality::Cumulative,
            vec![number(vec![attr("provider", "openai")], 1, 7.0)],
        );
        let req = request(vec![metric("tokensstreamed", "{token}", data)]);
        let first = map(&req, &mut state, NOW_MS);
        let second = map(&req, &mut state, NOW_MS);
        assert_eq!(first.rejected_points(), 0, "{}", first.message());
        assert_eq!(
            first.points,
            vec![MetricPoint {
                metric: "TokensStreamed",
                dimensions: vec![("Provider", "openai".into())],
                timestamp_ms: NOW_MS,
                value: PointValue::Delta(7.0),
            }]
        );
        assert_eq!(
            second.points[0].value,
            PointValue::Delta(0.0),
            "no increase"
        );
    }

    #[test]
    fn histograms_keep_their_shape_in_milliseconds() {
        let mut state = Cumulative::new(0);
        let explicit = HistogramDataPoint {
            attributes: vec![attr("endpoint", "/v1/chat")],
            time_unix_nano: NOW_NS,
            count: 6,
            sum: Some(0.1),
            bucket_counts: vec![1, 2, 3, 0],
            explicit_bounds: vec![0.01, 0.02, 0.03],
            min: Some(0.004),
            ..Default::default()
        };
        let exponential = ExponentialHistogramDataPoint {
            time_unix_nano: NOW_NS,
            count: 3,
            scale: 0,
            zero_count: 1,
            positive: Some(ExpBuckets {
                offset: 3,
                bucket_counts: vec![2],
            }),
            ..Default::default()
        };
        let req = request(vec![
            metric(
                "ResponseTimeMs",
                "s",
                Data::Histogram(Histogram {
                    data_points: vec![explicit],
                    aggregation_temporality: AggregationTemporality::Delta as i32,
                }),
            ),
            metric(
                "TimeToFirstTokenMs",
                "ms",
                Data::ExponentialHistogram(ExponentialHistogram {
                    data_points: vec![exponential],
                    aggregation_temporality: AggregationTemporality::Delta as i32,
                }),
            ),
        ]);
        let mapped = map(&req, &mut state, NOW_MS);
        assert_eq!(mapped.rejected_points(), 0, "{}", mapped.message());
        let PointValue::Distribution(pairs) = &mapped.points[0].value else {
            panic!("{:?}", mapped.points);
        };
        // The min for the first bucket, middles for the others, all ×1,000 (s → ms).
        let want = [(4.0, 1), (15.0, 2), (25.0, 3)];
        assert_eq!(pairs.len(), want.len());
        for ((v, c), (wv, wc)) in pairs.iter().zip(want) {
            assert!((v - wv).abs() < 1e-9 && *c == wc, "{pairs:?}");
        }
        // Scale 0: bucket 3 is (8, 16], represented by 2^3.5; the zero bucket by 0.
        let PointValue::Distribution(pairs) = &mapped.points[1].value else {
            panic!("{:?}", mapped.points);
        };
        assert_eq!(pairs, &vec![(0.0, 1), (3.5f64.exp2(), 2)]);
    }

    #[test]
    fn every_rejection_is_counted_with_a_reason_that_quotes_no_value() {
        let mut state = Cumulative::new(0);
        let delta = AggregationTemporality::Delta;
        let gauge = |points| {
            Data::Gauge(Gauge {
                data_points: points,
            })
        };
        let mut not_monotonic = sum(delta, vec![number(vec![], 0, 1.0)]);
        if let Data::Sum(s) = &mut not_monotonic {
            s.is_monotonic = false;
        }
        let req = request(vec![
            metric("Nope", "1", sum(delta, vec![number(vec![], 0, 1.0)])),
            metric(
                "SidecarEventsDropped",
                "1",
                sum(delta, vec![number(vec![], 0, 1.0)]),
            ),
            metric(
                "JobsFailed",
                "1",
                sum(
                    delta,
                    vec![
                        number(vec![attr("userId", "secret-user")], 0, 1.0),
                        number(vec![attr("provider", "a")], 0, f64::NAN),
                        NumberDataPoint {
                            time_unix_nano: 1,
                            ..number(vec![], 0, 1.0)
                        },
                        number(vec![attr("provider", "b")], 0, 2.0),
                    ],
                ),
            ),
            metric("JobsFailed", "ms", sum(delta, vec![number(vec![], 0, 1.0)])),
            metric("JobsCancelled", "1", not_monotonic),
            metric(
                "JobsCreated",
                "1",
                sum(
                    AggregationTemporality::Unspecified,
                    vec![number(vec![], 0, 1.0)],
                ),
            ),
            metric(
                "ResponseTimeMs",
                "ms",
                sum(delta, vec![number(vec![], 0, 1.0)]),
            ),
            metric("ResponseTimeMs", "ms", gauge(vec![number(vec![], 0, 12.0)])),
        ]);
        let mapped = map(&req, &mut state, NOW_MS);
        assert_eq!(mapped.points.len(), 2, "{:?}", mapped.points);
        assert_eq!(mapped.points[1].value, PointValue::Sample(12.0));
        let message = mapped.message();
        assert_eq!(mapped.rejected_points(), 9, "{message}");
        for reason in [
            "`Nope` is not a metric of the AIStudio/Streaming catalog",
            "`SidecarEventsDropped` is the sidecar's own metric",
            "`JobsFailed`: attribute `userId` is not a dimension",
            "`JobsFailed`: value is not finite",
            "`JobsFailed`: timestamp outside what CloudWatch accepts",
            "`JobsFailed` has unit `ms`, the catalog's is Count",
            "`JobsCancelled` is a non-monotonic sum",
            "`JobsCreated`: aggregation temporality is unspecified",
            "`ResponseTimeMs` is a distribution metric",
        ] {
            assert!(message.contains(reason), "{reason} in {message}");
        }
        assert!(!message.contains("secret-user"), "{message}");
    }
}
