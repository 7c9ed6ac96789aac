//! Statistics over weighted values, one definition shared by the metric stage, the offline
//! alarm engine and the dashboard previews, so that a percentile means the same everywhere.

/// The `p`-th percentile (0–100) of weighted values sorted ascending, nearest-rank: the
/// smallest value with at least `p%` of the observations at or below it.
pub fn percentile(sorted: &[(f64, u64)], p: f64) -> Option<f64> {
    let total: u64 = sorted.iter().map(|(_, c)| c).sum();
    if total == 0 {
        return None;
    }
    let rank = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (value, count) in sorted {
        seen += count;
        if seen >= rank {
            return Some(*value);
        }
    }
    sorted.last().map(|(v, _)| *v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_over_weighted_values() {
        let values = [(1.0, 1), (2.0, 1), (3.0, 1), (4.0, 1)];
        assert_eq!(percentile(&values, 50.0), Some(2.0));
        assert_eq!(percentile(&values, 51.0), Some(3.0));
        assert_eq!(percentile(&values, 100.0), Some(4.0));
        assert_eq!(percentile(&values, 0.0), Some(1.0));
        assert_eq!(percentile(&[(7.0, 3), (9.0, 1)], 75.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[(1.0, 0)], 50.0), None);
    }
}
