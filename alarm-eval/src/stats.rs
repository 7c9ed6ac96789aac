//! Per-period statistics (SampleCount, Sum, Average, Minimum, Maximum, pNN) from raw samples,
//! and the sample count below which a percentile alarm may skip evaluation.
//!
//! The percentile is `aistudio_core::stats::percentile`, the one definition the metric stage
//! uses too, so both agree on what "p95" means.

/// A statistic an alarm (or a `MetricStat`) reads per period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Statistic {
    /// Number of samples.
    SampleCount,
    /// Sum of the samples.
    Sum,
    /// Sum / SampleCount.
    Average,
    /// Smallest sample.
    Minimum,
    /// Largest sample.
    Maximum,
    /// Percentile, 0 < p < 100 (p95 = 95.0).
    Percentile(f64),
}

impl Statistic {
    /// Parses `Statistic`, `ExtendedStatistic` or `MetricStat.Stat` text. Extended statistics
    /// other than plain percentiles (trimmed mean `tm`, `wm`, `IQM`, `PR`, `TC`, `TS`) are not
    /// supported offline.
    pub fn parse(text: &str) -> Result<Statistic, String> {
        Ok(match text {
            "SampleCount" => Statistic::SampleCount,
            "Sum" => Statistic::Sum,
            "Average" => Statistic::Average,
            "Minimum" => Statistic::Minimum,
            "Maximum" => Statistic::Maximum,
            _ => {
                let p = text
                    .strip_prefix('p')
                    .and_then(|rest| rest.parse::<f64>().ok())
                    .filter(|p| *p > 0.0 && *p < 100.0);
                match p {
                    Some(p) => Statistic::Percentile(p),
                    None => {
                        return Err(format!(
                            "statistic `{text}` is not supported offline: use SampleCount, Sum, \
                             Average, Minimum, Maximum or a percentile such as p95 or p99.9"
                        ))
                    }
                }
            }
        })
    }

    /// The value of this statistic over a period's samples (`(value, count)` pairs in any
    /// order); `None` when the period has no samples (a missing data point).
    pub fn of(&self, samples: &[(f64, u64)]) -> Option<f64> {
        let count: u64 = samples.iter().map(|(_, c)| c).sum();
        if count == 0 {
            return None;
        }
        let values = samples.iter().filter(|(_, c)| *c > 0).map(|(v, _)| *v);
        Some(match self {
            Statistic::SampleCount => count as f64,
            Statistic::Sum => samples.iter().map(|(v, c)| v * *c as f64).sum(),
            Statistic::Average => {
                samples.iter().map(|(v, c)| v * *c as f64).sum::<f64>() / count as f64
            }
            Statistic::Minimum => values.fold(f64::INFINITY, f64::min),
            Statistic::Maximum => values.fold(f64::NEG_INFINITY, f64::max),
            Statistic::Percentile(p) => {
                let mut sorted = samples.to_vec();
                sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
                return percentile(&sorted, *p);
            }
        })
    }

    /// For a percentile: the sample count below which `EvaluateLowSampleCountPercentile`
    /// applies. CloudWatch user guide, "Percentile-based alarms and low data samples": for
    /// percentiles from 0.5 up to 1.00 (exclusive), fewer than 10/(1-percentile) data points;
    /// for percentiles below 0.5, fewer than 10/percentile. Computed on the percent scale
    /// (1000/(100-p)) so p95 gives exactly 200 and p99 exactly 1000.
    pub fn low_sample_limit(&self) -> Option<f64> {
        match self {
            Statistic::Percentile(p) if *p >= 50.0 => Some(1000.0 / (100.0 - p)),
            Statistic::Percentile(p) => Some(1000.0 / p),
            _ => None,
        }
    }

    /// Whether this is a percentile.
    pub fn is_percentile(&self) -> bool {
        matches!(self, Statistic::Percentile(_))
    }
}

impl std::fmt::Display for Statistic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Statistic::SampleCount => f.write_str("SampleCount"),
            Statistic::Sum => f.write_str("Sum"),
            Statistic::Average => f.write_str("Average"),
            Statistic::Minimum => f.write_str("Minimum"),
            Statistic::Maximum => f.write_str("Maximum"),
            Statistic::Percentile(p) => write!(f, "p{p}"),
        }
    }
}

/// The one percentile definition (nearest rank over weighted values), shared with the metric
/// stage and the dashboard previews.
pub use aistudio_core::stats::percentile;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_of_samples() {
        let s = [(3.0, 1), (1.0, 2), (10.0, 1)];
        assert_eq!(Statistic::SampleCount.of(&s), Some(4.0));
        assert_eq!(Statistic::Sum.of(&s), Some(15.0));
        assert_eq!(Statistic::Average.of(&s), Some(3.75));
        assert_eq!(Statistic::Minimum.of(&s), Some(1.0));
        assert_eq!(Statistic::Maximum.of(&s), Some(10.0));
        assert_eq!(Statistic::Percentile(50.0).of(&s), Some(1.0));
        assert_eq!(Statistic::Percentile(75.0).of(&s), Some(3.0));
        assert_eq!(Statistic::Percentile(95.0).of(&s), Some(10.0));
        assert_eq!(Statistic::Sum.of(&[]), None);
        assert_eq!(Statistic::Maximum.of(&[(5.0, 0)]), None);
    }

    #[test]
    fn nearest_rank_percentile_matches_the_metrics_stage() {
        // 100 values 1..=100: p95 is the 95th smallest.
        let sorted: Vec<(f64, u64)> = (1..=100).map(|v| (f64::from(v), 1)).collect();
        assert_eq!(percentile(&sorted, 95.0), Some(95.0));
        assert_eq!(percentile(&sorted, 99.9), Some(100.0));
        assert_eq!(percentile(&sorted, 0.1), Some(1.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn low_sample_limits_follow_the_guide() {
        assert_eq!(Statistic::Percentile(99.0).low_sample_limit(), Some(1000.0));
        assert_eq!(Statistic::Percentile(95.0).low_sample_limit(), Some(200.0));
        assert_eq!(Statistic::Percentile(50.0).low_sample_limit(), Some(20.0));
        assert_eq!(Statistic::Percentile(10.0).low_sample_limit(), Some(100.0));
        assert_eq!(Statistic::Sum.low_sample_limit(), None);
    }

    #[test]
    fn statistic_names() {
        assert_eq!(Statistic::parse("p99.9"), Ok(Statistic::Percentile(99.9)));
        assert_eq!(Statistic::parse("Maximum"), Ok(Statistic::Maximum));
        for bad in ["tm99", "IQM", "p100", "p0", "max", "PR(10:)"] {
            let err = Statistic::parse(bad).expect_err(bad);
            assert!(err.contains("not supported offline"), "{err}");
        }
    }
}
