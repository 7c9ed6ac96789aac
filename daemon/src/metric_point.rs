//! Metric points a source hands to the metric stage directly, without a log line: an OTLP
//! counter delta, gauge sample or histogram, already mapped onto a catalog metric and its
//! dimensions. A leaf, so a source can produce them without knowing the stage.

/// The value a point carries.
#[derive(Debug, Clone, PartialEq)]
pub enum PointValue {
    /// A counter's increase over the point's interval (summed into the period).
    Delta(f64),
    /// One observed value (a gauge sample), recorded like one log line's value.
    Sample(f64),
    /// A distribution as `(value, count)` pairs (a histogram's buckets, each represented by
    /// one value inside it), recorded with its shape.
    Distribution(Vec<(f64, u64)>),
}

/// One point for one catalog metric.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPoint {
    /// The catalog metric's CloudWatch name.
    pub metric: &'static str,
    /// Its extra dimensions (CloudWatch name, value), `Environment` excluded; a dimension of
    /// the metric that is missing here is published with the stage's missing-value marker.
    pub dimensions: Vec<(&'static str, String)>,
    /// When it was observed (epoch milliseconds).
    pub timestamp_ms: i64,
    /// What it carries.
    pub value: PointValue,
}

/// A batch of points from one request.
pub type PointBatch = Vec<MetricPoint>;
