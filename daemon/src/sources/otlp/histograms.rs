//! OTLP histogram points (explicit-bucket and exponential) as distribution points: buckets
//! (after the cumulative delta) become `(value, count)` pairs, each bucket represented by one
//! value inside it, so the distribution keeps its shape.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets as ExpBuckets;
use opentelemetry_proto::tonic::metrics::v1::{ExponentialHistogramDataPoint, HistogramDataPoint};

use super::cumulative::{BucketKey, Buckets, Layout, SeriesKey};
use super::metrics::{
    checked, dimensions, refusal, timestamp, At, PointResult, Target, NO_RECORDED_VALUE,
};
use crate::metric_point::{MetricPoint, PointValue};

/// Exponential histogram scales OTLP defines.
const EXPONENTIAL_SCALES: std::ops::RangeInclusive<i32> = -10..=20;

/// A histogram point (after its cumulative delta) as a distribution point.
fn histogram_point(
    target: &Target,
    attributes: &[KeyValue],
    times: (u64, u64),
    flags: u32,
    buckets: Buckets,
    at: &mut At<'_>,
    representative: impl Fn(BucketKey, &Buckets) -> f64,
) -> PointResult {
    let (start_ns, time_ns) = times;
    if flags & NO_RECORDED_VALUE != 0 {
        return Ok(None);
    }
    let dims = dimensions(target.catalog, attributes)?;
    let timestamp_ms = timestamp(time_ns, at.now_ms)?;
    let buckets = match at.cumulative_temporality {
        Some(false) => buckets,
        Some(true) => {
            let key: SeriesKey = (target.catalog.name, dims.clone());
            match at
                .cumulative
                .histogram_delta(key, start_ns, buckets, at.now_ms)
            {
                Ok(Some(delta)) => delta,
                Ok(None) => return Ok(None),
                Err(why) => return Err(refusal(why)),
            }
        }
        None => return Err("aggregation temporality is unspecified".into()),
    };
    let mut pairs = Vec::with_capacity(buckets.counts.len());
    for (key, count) in &buckets.counts {
        pairs.push((
            checked(representative(*key, &buckets) * target.scale)?,
            *count,
        ));
    }
    if pairs.is_empty() {
        return Ok(None);
    }
    Ok(Some(MetricPoint {
        metric: target.catalog.name,
        dimensions: dims,
        timestamp_ms,
        value: PointValue::Distribution(pairs),
    }))
}

/// Explicit buckets: bucket `i` holds `(bounds[i-1], bounds[i]]`; each is represented by its
/// midpoint, the open-ended first and last by the point's min and max when it has them, else
/// by their finite bound; a histogram with no bounds by its mean.
pub(super) fn explicit_point(
    target: &Target,
    point: &HistogramDataPoint,
    at: &mut At<'_>,
) -> PointResult {
    let bounds = &point.explicit_bounds;
    if point.flags & NO_RECORDED_VALUE == 0 {
        if point.bucket_counts.len() != bounds.len() + 1 && !point.bucket_counts.is_empty() {
            return Err("bucket_counts must have one more entry than explicit_bounds".into());
        }
        if bounds.iter().any(|b| !b.is_finite()) || bounds.windows(2).any(|w| w[0] >= w[1]) {
            return Err("explicit_bounds must be finite and increasing".into());
        }
        if bounds.is_empty() && point.sum.is_none() && point.count > 0 {
            return Err("a histogram without bounds needs its sum".into());
        }
    }
    let buckets = Buckets {
        layout: Layout::Explicit(bounds.iter().map(|b| b.to_bits()).collect()),
        counts: point
            .bucket_counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| ((0, i as i64), *c))
            .collect(),
        sum: point.sum,
    };
    let (min, max) = (point.min, point.max);
    histogram_point(
        target,
        &point.attributes,
        (point.start_time_unix_nano, point.time_unix_nano),
        point.flags,
        buckets,
        at,
        |(_, index), buckets| {
            let index = usize::try_from(index).unwrap_or(0);
            let (Some(first), Some(last)) = (bounds.first(), bounds.last()) else {
                let count: u64 = buckets.counts.values().sum();
                return buckets.sum.unwrap_or(0.0) / count.max(1) as f64;
            };
            if index == 0 {
                min.filter(|m| m <= first).unwrap_or(*first)
            } else if index >= bounds.len() {
                max.filter(|m| m > last).unwrap_or(*last)
            } else {
                (bounds[index - 1] + bounds[index]) / 2.0
            }
        },
    )
}

/// Exponential buckets: index `i` at scale `s` holds `(2^(i·2^-s), 2^((i+1)·2^-s)]`, each
/// represented by its geometric middle `2^((i+½)·2^-s)`, within `2^(2^-s / 2) − 1` of every
/// value in it (0.27% at scale 7, 9% at scale 2: the SDKs pick the largest scale that fits
/// the data into 160 buckets); the zero bucket by 0.
pub(super) fn exponential_point(
    target: &Target,
    point: &ExponentialHistogramDataPoint,
    at: &mut At<'_>,
) -> PointResult {
    if !EXPONENTIAL_SCALES.contains(&point.scale) {
        return Err(format!(
            "scale {} is outside OTLP's {}..={}",
            point.scale,
            EXPONENTIAL_SCALES.start(),
            EXPONENTIAL_SCALES.end()
        ));
    }
    let mut counts = BTreeMap::new();
    if point.zero_count > 0 {
        counts.insert((0, 0), point.zero_count);
    }
    for (sign, side) in [(1i8, &point.positive), (-1, &point.negative)] {
        let Some(ExpBuckets {
            offset,
            bucket_counts,
        }) = side
        else {
            continue;
        };
        for (k, count) in bucket_counts.iter().enumerate().filter(|(_, c)| **c > 0) {
            counts.insert((sign, i64::from(*offset) + k as i64), *count);
        }
    }
    let buckets = Buckets {
        layout: Layout::Exponential(point.scale),
        counts,
        sum: point.sum,
    };
    let scale = point.scale;
    histogram_point(
        target,
        &point.attributes,
        (point.start_time_unix_nano, point.time_unix_nano),
        point.flags,
        buckets,
        at,
        |(sign, index), _| {
            let magnitude = ((index as f64 + 0.5) * (-f64::from(scale)).exp2()).exp2();
            f64::from(sign) * if sign == 0 { 0.0 } else { magnitude }
        },
    )
}
