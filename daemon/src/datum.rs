//! A CloudWatch metric datum, its unit, and the PutMetricData limits every destination honours.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Datums per PutMetricData request (CloudWatch API reference, PutMetricData `MetricData`:
/// "maximum of 1000 metrics" per call).
pub const MAX_DATUMS_PER_REQUEST: usize = 1_000;
/// Request payload per PutMetricData call: 1 MB for HTTP POST (CloudWatch quotas, PutMetricData).
pub const MAX_REQUEST_BYTES: usize = 1_048_576;
/// Distinct values in one `Values`/`Counts` pair (PutMetricData `MetricDatum.Values`:
/// "up to 150 unique values").
pub const MAX_VALUES_PER_DATUM: usize = 150;
/// Dimensions per metric (PutMetricData `MetricDatum.Dimensions`: maximum 30).
pub const MAX_DIMENSIONS: usize = 30;
/// Metric and dimension names: 1-255 characters (PutMetricData `MetricName`, `Dimension.Name`).
pub const MAX_NAME_CHARS: usize = 255;
/// Dimension values: 1-1024 characters (PutMetricData `Dimension.Value`).
pub const MAX_DIMENSION_VALUE_CHARS: usize = 1_024;
/// Datums older than two weeks are refused (PutMetricData `Timestamp`: "up to two weeks in
/// the past"); one hour of margin for the time a datum may spend queued and retried.
pub const MAX_AGE_MS: i64 = 14 * 24 * 3_600_000 - 3_600_000;
/// Datums more than two hours ahead are refused (PutMetricData `Timestamp`: "up to two hours
/// in the future"); five minutes of margin for clock skew.
pub const MAX_AHEAD_MS: i64 = 2 * 3_600_000 - 300_000;
/// CloudWatch rejects values outside ±2^360 and non-zero magnitudes below 2^-360
/// (PutMetricData `MetricDatum.Value`: "Values must be in the range of -2^360 to 2^360";
/// "CloudWatch rejects values that are either too small or too large").
pub const MAX_ABS_VALUE: f64 = 2.348_542_582_773_833_2e108; // 2^360
/// See [`MAX_ABS_VALUE`].
pub const MIN_ABS_NONZERO_VALUE: f64 = 4.257_959_840_008_151e-109; // 2^-360
/// `StorageResolution` of standard-resolution metrics (PutMetricData: 60 or 1).
pub const STANDARD_RESOLUTION: i32 = 60;
/// `StorageResolution` of high-resolution metrics.
pub const HIGH_RESOLUTION: i32 = 1;

/// How a rule's values are combined within a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    /// Sum, count, min and max (CloudWatch `StatisticValues`).
    Sum,
    /// The whole distribution (CloudWatch `Values`/`Counts`), so percentiles work.
    Distribution,
}

/// CloudWatch `StandardUnit`s a rule may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub enum Unit {
    /// A count.
    Count,
    /// Milliseconds.
    Milliseconds,
    /// Microseconds.
    Microseconds,
    /// Seconds.
    Seconds,
    /// Bytes.
    Bytes,
    /// Kilobytes.
    Kilobytes,
    /// Megabytes.
    Megabytes,
    /// Percent.
    Percent,
    /// Count per second.
    #[serde(rename = "Count/Second")]
    CountPerSecond,
    /// No unit.
    None,
}

impl Unit {
    /// The unit's CloudWatch name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
            Self::Microseconds => "Microseconds",
            Self::Seconds => "Seconds",
            Self::Bytes => "Bytes",
            Self::Kilobytes => "Kilobytes",
            Self::Megabytes => "Megabytes",
            Self::Percent => "Percent",
            Self::CountPerSecond => "Count/Second",
            Self::None => "None",
        }
    }

    /// The unit whose CloudWatch name is `name` (`Count`, `Milliseconds`, …).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Count,
            Self::Milliseconds,
            Self::Microseconds,
            Self::Seconds,
            Self::Bytes,
            Self::Kilobytes,
            Self::Megabytes,
            Self::Percent,
            Self::CountPerSecond,
            Self::None,
        ]
        .into_iter()
        .find(|unit| unit.as_str() == name)
    }

    /// A duration: kept as a distribution by default.
    pub fn is_time(self) -> bool {
        matches!(
            self,
            Self::Milliseconds | Self::Microseconds | Self::Seconds
        )
    }
}

/// Why a value was not published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectKind {
    /// NaN or ±Infinity.
    NotFinite,
    /// Outside CloudWatch's ±2^360 range (or a non-zero magnitude under 2^-360).
    OutOfRange,
    /// Its timestamp is older than two weeks or more than two hours ahead.
    OutsideWindow,
}

impl RejectKind {
    /// All kinds, in counter order.
    pub const ALL: [RejectKind; 3] = [Self::NotFinite, Self::OutOfRange, Self::OutsideWindow];

    /// The Prometheus label.
    pub fn label(self) -> &'static str {
        match self {
            Self::NotFinite => "not_finite",
            Self::OutOfRange => "out_of_range",
            Self::OutsideWindow => "outside_window",
        }
    }

    /// Index into [`RejectKind::ALL`].
    pub fn index(self) -> usize {
        match self {
            Self::NotFinite => 0,
            Self::OutOfRange => 1,
            Self::OutsideWindow => 2,
        }
    }
}

/// Checks a value against what CloudWatch accepts.
pub fn check_value(value: f64) -> Result<f64, RejectKind> {
    if !value.is_finite() {
        return Err(RejectKind::NotFinite);
    }
    let magnitude = value.abs();
    if magnitude > MAX_ABS_VALUE || (magnitude != 0.0 && magnitude < MIN_ABS_NONZERO_VALUE) {
        return Err(RejectKind::OutOfRange);
    }
    Ok(value)
}

/// Checks a timestamp against CloudWatch's window at `now_ms`.
pub fn in_window(timestamp_ms: i64, now_ms: i64) -> bool {
    timestamp_ms >= now_ms.saturating_sub(MAX_AGE_MS)
        && timestamp_ms <= now_ms.saturating_add(MAX_AHEAD_MS)
}

/// The value part of a datum.
#[derive(Debug, Clone, PartialEq)]
pub enum DatumValue {
    /// `StatisticValues`: SampleCount, Sum, Minimum, Maximum.
    Stats {
        /// Observations.
        count: f64,
        /// Their sum.
        sum: f64,
        /// The smallest.
        min: f64,
        /// The largest.
        max: f64,
    },
    /// `Values` and `Counts` (at most [`MAX_VALUES_PER_DATUM`] pairs, values ascending).
    Distribution {
        /// Distinct values.
        values: Vec<f64>,
        /// How many times each occurred.
        counts: Vec<f64>,
    },
}

/// One datum, ready for any destination.
#[derive(Debug, Clone, PartialEq)]
pub struct Datum {
    /// Metric name.
    pub metric: Arc<str>,
    /// Dimensions, `Environment` first.
    pub dimensions: Arc<[(Arc<str>, String)]>,
    /// Start of the period, epoch milliseconds.
    pub timestamp_ms: i64,
    /// Unit.
    pub unit: Unit,
    /// 60 (standard) or 1 (high resolution).
    pub storage_resolution: i32,
    /// The values.
    pub value: DatumValue,
}

impl Datum {
    /// Observations the datum stands for.
    pub fn sample_count(&self) -> f64 {
        match &self.value {
            DatumValue::Stats { count, .. } => *count,
            DatumValue::Distribution { counts, .. } => counts.iter().sum(),
        }
    }

    /// The sum of the observations as CloudWatch will compute it.
    pub fn sum(&self) -> f64 {
        match &self.value {
            DatumValue::Stats { sum, .. } => *sum,
            DatumValue::Distribution { values, counts } => {
                values.iter().zip(counts).map(|(v, c)| v * c).sum()
            }
        }
    }

    /// The datum in PutMetricData's JSON shape (the `file` mode's line, and the base of the
    /// size estimate).
    pub fn to_json(&self, namespace: &str) -> serde_json::Value {
        let dimensions: Vec<serde_json::Value> = self
            .dimensions
            .iter()
            .map(|(name, value)| serde_json::json!({"Name": &**name, "Value": value}))
            .collect();
        let mut out = serde_json::json!({
            "Namespace": namespace,
            "MetricName": &*self.metric,
            "Dimensions": dimensions,
            "Timestamp": self.timestamp_ms / 1000,
            "Unit": self.unit.as_str(),
            "StorageResolution": self.storage_resolution,
        });
        if let Some(map) = out.as_object_mut() {
            match &self.value {
                DatumValue::Stats {
                    count,
                    sum,
                    min,
                    max,
                } => {
                    map.insert(
                        "StatisticValues".into(),
                        serde_json::json!({"SampleCount": count, "Sum": sum, "Minimum": min, "Maximum": max}),
                    );
                }
                DatumValue::Distribution { values, counts } => {
                    map.insert("Values".into(), serde_json::json!(values));
                    map.insert("Counts".into(), serde_json::json!(counts));
                }
            }
        }
        out
    }

    /// An upper bound of the bytes this datum adds to a PutMetricData request as the official
    /// SDK sends it: `aws-sdk-cloudwatch` speaks only Smithy RPC v2 CBOR (README, "The AWS
    /// emulator harness"), where a double is 9 bytes (major type 7, 64-bit float) and a map key
    /// is its UTF-8 bytes plus a 1-2 byte header. Estimating for the query protocol's form
    /// encoding instead (about 48 bytes a number) made W1 take 17 requests where 6 fit.
    pub fn estimated_bytes(&self) -> usize {
        let names: usize = self
            .dimensions
            .iter()
            .map(|(name, value)| name.len() + value.len() + CBOR_DIMENSION_OVERHEAD_BYTES)
            .sum();
        let numbers = match &self.value {
            DatumValue::Stats { .. } => 4,
            DatumValue::Distribution { values, .. } => values.len() * 2,
        };
        self.metric.len() + names + numbers * CBOR_DOUBLE_BYTES + CBOR_DATUM_OVERHEAD_BYTES
    }
}

/// A CBOR double: one header byte and eight bytes of IEEE 754 (RFC 8949 §3.3).
const CBOR_DOUBLE_BYTES: usize = 9;
/// A dimension's map: header, the keys `Name` and `Value` with their headers, string headers.
const CBOR_DIMENSION_OVERHEAD_BYTES: usize = 24;
/// The rest of a datum's map, generously: keys `MetricName`, `Dimensions`, `Timestamp` (tag 1
/// and a double), `Unit` and its value, `StorageResolution`, `Values`/`Counts` or
/// `StatisticValues` with their array and map headers.
const CBOR_DATUM_OVERHEAD_BYTES: usize = 160;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_estimate_bounds_the_cbor_encoding() {
        // A full distribution: 150 values and 150 counts, the API's maximum per datum.
        let datum = Datum {
            metric: "ProviderLatencyMs".into(),
            dimensions: vec![
                ("Environment".into(), "prod".to_owned()),
                ("Provider".into(), "openai".to_owned()),
                ("ModelId".into(), "gpt-4o".to_owned()),
            ]
            .into(),
            timestamp_ms: 1_795_568_523_456,
            unit: Unit::Milliseconds,
            storage_resolution: 60,
            value: DatumValue::Distribution {
                values: (0..150).map(|v| f64::from(v) * 1.5).collect(),
                counts: vec![3.0; 150],
            },
        };
        // Encoded for real with a CBOR library, the estimate must not be smaller.
        let value = serde_json::json!({
            "MetricName": "ProviderLatencyMs",
            "Dimensions": [{"Name": "Environment", "Value": "prod"}, {"Name": "Provider", "Value": "openai"}, {"Name": "ModelId", "Value": "gpt-4o"}],
            "Timestamp": 1_795_568_523.456_f64,
            "Unit": "Milliseconds",
            "StorageResolution": 60,
        });
        let mut encoded = Vec::new();
        ciborium::into_writer(&value, &mut encoded).unwrap();
        // Doubles are always sent as 9-byte floats (the Rust decoder rejects integers there).
        let arrays = 2 * (3 + 150 * 9);
        assert!(
            datum.estimated_bytes() >= encoded.len() + arrays,
            "{} < {}",
            datum.estimated_bytes(),
            encoded.len() + arrays
        );
        assert!(
            datum.estimated_bytes() < (encoded.len() + arrays) * 2,
            "not wastefully loose"
        );
    }

    #[test]
    fn cloudwatch_value_range_edges() {
        assert_eq!(MAX_ABS_VALUE, 2f64.powi(360));
        assert_eq!(MIN_ABS_NONZERO_VALUE, 2f64.powi(-360));
        assert_eq!(check_value(0.0), Ok(0.0));
        assert_eq!(check_value(-MAX_ABS_VALUE), Ok(-MAX_ABS_VALUE));
        assert_eq!(
            check_value(MAX_ABS_VALUE * 1.000_001),
            Err(RejectKind::OutOfRange)
        );
        assert_eq!(
            check_value(MIN_ABS_NONZERO_VALUE),
            Ok(MIN_ABS_NONZERO_VALUE)
        );
        assert_eq!(
            check_value(MIN_ABS_NONZERO_VALUE / 2.0),
            Err(RejectKind::OutOfRange)
        );
        assert_eq!(check_value(f64::NAN), Err(RejectKind::NotFinite));
        assert_eq!(check_value(f64::INFINITY), Err(RejectKind::NotFinite));
        assert_eq!(check_value(f64::NEG_INFINITY), Err(RejectKind::NotFinite));
    }

    #[test]
    fn timestamp_window_edges() {
        let now = 1_800_000_000_000;
        assert!(in_window(now, now));
        assert!(in_window(now - MAX_AGE_MS, now));
        assert!(!in_window(now - MAX_AGE_MS - 1, now));
        assert!(in_window(now + MAX_AHEAD_MS, now));
        assert!(!in_window(now + MAX_AHEAD_MS + 1, now));
        const { assert!(MAX_AGE_MS < 14 * 24 * 3_600_000 && MAX_AHEAD_MS < 2 * 3_600_000) };
    }

    #[test]
    fn json_shape_is_put_metric_data_and_the_estimate_bounds_it() {
        let datum = Datum {
            metric: "ResponseTimeMs".into(),
            dimensions: vec![("Environment".into(), "dev".to_owned())].into(),
            timestamp_ms: 1_800_000_060_000,
            unit: Unit::Milliseconds,
            storage_resolution: 60,
            value: DatumValue::Distribution {
                values: (0..MAX_VALUES_PER_DATUM)
                    .map(|v| v as f64 * 1.234_567_8)
                    .collect(),
                counts: vec![3.0; MAX_VALUES_PER_DATUM],
            },
        };
        let json = datum.to_json("AIStudio/Streaming");
        assert_eq!(json["Timestamp"], 1_800_000_060);
        assert_eq!(json["Dimensions"][0]["Name"], "Environment");
        assert_eq!(
            json["Values"].as_array().map(Vec::len),
            Some(MAX_VALUES_PER_DATUM)
        );
        assert!(datum.estimated_bytes() > json.to_string().len());
        assert_eq!(datum.sample_count(), 450.0);
    }
}
