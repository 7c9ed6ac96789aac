//! Statistics per period from datums, as CloudWatch computes them: SampleCount, Sum, Average,
//! Minimum and Maximum from every kind of datum; percentiles from `Values`/`Counts` (and from
//! single values) through the one percentile of `aistudio-core` (by way of the alarm engine's
//! [`Statistic`]), never from a statistic set that hides its distribution.

use alarm_eval::stats::Statistic;

use crate::datums::{Datum, Observation};

/// Everything one period's datums say.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    count: f64,
    sum: f64,
    min: f64,
    max: f64,
    /// `(value, count)` of every sample whose value is known.
    samples: Vec<(f64, u64)>,
    /// False once a statistic set with several different values was added: its
    /// distribution is unknown, and CloudWatch gives no percentile for such a period.
    exact: bool,
}

impl Default for Bucket {
    fn default() -> Self {
        Self {
            count: 0.0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            samples: Vec::new(),
            exact: true,
        }
    }
}

impl Bucket {
    /// Adds one datum.
    pub fn add(&mut self, observation: &Observation) {
        match observation {
            Observation::Value(v) => self.add_samples(&[(*v, 1.0)]),
            Observation::Distribution(pairs) => self.add_samples(pairs),
            Observation::Stats {
                count,
                sum,
                min,
                max,
            } => {
                if *count <= 0.0 {
                    return;
                }
                self.count += count;
                self.sum += sum;
                self.min = self.min.min(*min);
                self.max = self.max.max(*max);
                // A set of one value (or of equal values) is its distribution.
                if min == max && count.fract() == 0.0 {
                    self.samples.push((*min, *count as u64));
                } else {
                    self.exact = false;
                }
            }
        }
    }

    fn add_samples(&mut self, pairs: &[(f64, f64)]) {
        for (value, count) in pairs {
            if *count <= 0.0 {
                continue;
            }
            self.count += count;
            self.sum += value * count;
            self.min = self.min.min(*value);
            self.max = self.max.max(*value);
            if count.fract() == 0.0 {
                self.samples.push((*value, *count as u64));
            } else {
                self.exact = false;
            }
        }
    }

    /// The statistic of this period; `None` without samples (a missing point) or for a
    /// percentile the datums cannot give.
    pub fn statistic(&self, stat: &Statistic) -> Option<f64> {
        if self.count <= 0.0 {
            return None;
        }
        Some(match stat {
            Statistic::SampleCount => self.count,
            Statistic::Sum => self.sum,
            Statistic::Average => self.sum / self.count,
            Statistic::Minimum => self.min,
            Statistic::Maximum => self.max,
            Statistic::Percentile(_) if !self.exact => return None,
            Statistic::Percentile(_) => return stat.of(&self.samples),
        })
    }
}

/// Period start (seconds) of `timestamp`: CloudWatch aligns periods on the epoch.
pub fn period_start(timestamp: i64, period: i64) -> i64 {
    timestamp.div_euclid(period) * period
}

/// The statistic of `datums` for each period starting at `starts`; `None` where a period
/// has no datum.
pub fn series(datums: &[Datum], stat: &Statistic, period: i64, starts: &[i64]) -> Vec<Option<f64>> {
    let Some(first) = starts.first().copied() else {
        return Vec::new();
    };
    let mut buckets = vec![Bucket::default(); starts.len()];
    for d in datums {
        let start = period_start(d.timestamp, period);
        let index = (start - first).div_euclid(period);
        if let Some(bucket) = usize::try_from(index).ok().and_then(|i| buckets.get_mut(i)) {
            bucket.add(&d.observation);
        }
    }
    buckets.iter().map(|b| b.statistic(stat)).collect()
}

/// Period starts covering `[from, to]`, aligned on `period`.
pub fn period_starts(from: i64, to: i64, period: i64) -> Vec<i64> {
    let first = period_start(from, period);
    let last = period_start(to, period);
    (0..)
        .map(|i| first + i * period)
        .take_while(|s| *s <= last)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datum(timestamp: i64, observation: Observation) -> Datum {
        Datum {
            timestamp,
            unit: None,
            observation,
        }
    }

    #[test]
    fn statistics_combine_every_kind_of_datum() {
        let mut b = Bucket::default();
        b.add(&Observation::Distribution(vec![(10.0, 3.0), (100.0, 1.0)]));
        b.add(&Observation::Stats {
            count: 2.0,
            sum: 40.0,
            min: 20.0,
            max: 20.0,
        });
        b.add(&Observation::Value(5.0));
        assert_eq!(b.statistic(&Statistic::SampleCount), Some(7.0));
        assert_eq!(b.statistic(&Statistic::Sum), Some(175.0));
        assert_eq!(b.statistic(&Statistic::Average), Some(25.0));
        assert_eq!(b.statistic(&Statistic::Minimum), Some(5.0));
        assert_eq!(b.statistic(&Statistic::Maximum), Some(100.0));
        // Sorted: 5, 10, 10, 10, 20, 20, 100; nearest rank: p50 = 4th = 10, p99 = 7th.
        assert_eq!(b.statistic(&Statistic::Percentile(50.0)), Some(10.0));
        assert_eq!(b.statistic(&Statistic::Percentile(99.0)), Some(100.0));
        // The same number the metric stage and the alarm engine give.
        let mut sorted: Vec<(f64, u64)> = vec![(5.0, 1), (10.0, 3), (20.0, 2), (100.0, 1)];
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert_eq!(
            b.statistic(&Statistic::Percentile(71.0)),
            aistudio_core::stats::percentile(&sorted, 71.0)
        );
        assert_eq!(Bucket::default().statistic(&Statistic::Sum), None);
    }

    #[test]
    fn a_statistic_set_of_different_values_has_no_percentile() {
        let mut b = Bucket::default();
        b.add(&Observation::Stats {
            count: 4.0,
            sum: 10.0,
            min: 1.0,
            max: 4.0,
        });
        assert_eq!(b.statistic(&Statistic::Average), Some(2.5));
        assert_eq!(b.statistic(&Statistic::Percentile(95.0)), None);
    }

    #[test]
    fn periods_are_aligned_on_the_epoch() {
        assert_eq!(period_start(1_000_059, 60), 1_000_020);
        assert_eq!(period_starts(125, 301, 60), vec![120, 180, 240, 300]);
        let datums = vec![
            datum(121, Observation::Value(1.0)),
            datum(170, Observation::Value(2.0)),
            datum(300, Observation::Value(7.0)),
            datum(10_000, Observation::Value(9.0)),
        ];
        assert_eq!(
            series(&datums, &Statistic::Sum, 60, &[120, 180, 240, 300]),
            vec![Some(3.0), None, None, Some(7.0)]
        );
    }
}
