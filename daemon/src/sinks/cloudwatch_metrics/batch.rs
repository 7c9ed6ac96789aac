//! Packs datums into PutMetricData requests: at most 1,000 datums and 1 MB each.

use std::collections::VecDeque;

use crate::datum::{Datum, MAX_DATUMS_PER_REQUEST, MAX_REQUEST_BYTES};

/// Bytes kept for the request envelope (action, version, namespace, headers of the form).
const REQUEST_OVERHEAD_BYTES: usize = 4_096;

/// Takes the next request's datums from the front of `pending`. With `only_full`, returns
/// nothing unless the request is full (1,000 datums, or the next datum would pass 1 MB), so
/// partly filled requests wait for more datums.
pub fn take_request(pending: &mut VecDeque<Datum>, only_full: bool) -> Option<Vec<Datum>> {
    let budget = MAX_REQUEST_BYTES - REQUEST_OVERHEAD_BYTES;
    let mut bytes = 0;
    let mut count = 0;
    let mut full = false;
    for datum in pending.iter() {
        let size = datum.estimated_bytes();
        if count == MAX_DATUMS_PER_REQUEST || (count > 0 && bytes + size > budget) {
            full = true;
            break;
        }
        bytes += size;
        count += 1;
    }
    if count == MAX_DATUMS_PER_REQUEST {
        full = true;
    }
    if count == 0 || (only_full && !full) {
        return None;
    }
    Some(pending.drain(..count).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datum::{DatumValue, Unit, MAX_VALUES_PER_DATUM};

    fn datum(values: usize) -> Datum {
        Datum {
            metric: "ResponseTimeMs".into(),
            dimensions: vec![("Environment".into(), "dev".to_owned())].into(),
            timestamp_ms: 0,
            unit: Unit::Milliseconds,
            storage_resolution: 60,
            value: if values == 0 {
                DatumValue::Stats {
                    count: 1.0,
                    sum: 1.0,
                    min: 1.0,
                    max: 1.0,
                }
            } else {
                DatumValue::Distribution {
                    values: (0..values).map(|v| v as f64).collect(),
                    counts: vec![1.0; values],
                }
            },
        }
    }

    #[test]
    fn at_most_one_thousand_datums_per_request() {
        let mut pending: VecDeque<Datum> = (0..2_500).map(|_| datum(0)).collect();
        let sizes: Vec<usize> = std::iter::from_fn(|| take_request(&mut pending, false))
            .map(|r| r.len())
            .collect();
        assert_eq!(sizes, vec![1_000, 1_000, 500]);
    }

    #[test]
    fn large_distributions_are_cut_at_one_megabyte() {
        let mut pending: VecDeque<Datum> =
            (0..1_000).map(|_| datum(MAX_VALUES_PER_DATUM)).collect();
        let first = take_request(&mut pending, true).expect("a full request");
        let bytes: usize = first.iter().map(Datum::estimated_bytes).sum();
        assert!(bytes <= MAX_REQUEST_BYTES, "{bytes}");
        let next = pending
            .front()
            .map(Datum::estimated_bytes)
            .unwrap_or_default();
        assert!(
            bytes + next > MAX_REQUEST_BYTES - REQUEST_OVERHEAD_BYTES,
            "filled to the limit"
        );
        // The real wire size (JSON, the largest encoding the SDK uses) is under the estimate.
        let json: usize = first
            .iter()
            .map(|d| d.to_json("AIStudio/Streaming").to_string().len())
            .sum();
        assert!(json < bytes);
    }

    #[test]
    fn partly_filled_requests_wait_when_asked() {
        let mut pending: VecDeque<Datum> = (0..10).map(|_| datum(0)).collect();
        assert!(take_request(&mut pending, true).is_none());
        assert_eq!(pending.len(), 10);
        assert_eq!(take_request(&mut pending, false).map(|r| r.len()), Some(10));
        assert!(take_request(&mut pending, false).is_none());
    }
}
