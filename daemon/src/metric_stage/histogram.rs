//! A distribution that keeps its shape within CloudWatch's `Values`/`Counts` limits.
//!
//! Up to [`MAX_VALUES_PER_DATUM`] distinct values are kept exactly. Past that, values are
//! mapped to logarithmic buckets of ratio `γ = (1 + α) / (1 − α)` with `α` =
//! [`RELATIVE_ACCURACY`], each bucket represented by the value `2γ^k / (γ + 1)`, which is within
//! `α` (relative) of every value in it. The mapping is monotone, so the k-th smallest
//! represented value is the representative of the k-th smallest raw value: any percentile
//! CloudWatch computes from the published pairs is within `α` of the same percentile of the
//! raw values, whatever the data's shape. Sample counts are exact; sums, minimums and maximums
//! are within `α`. More than 150 buckets are split into several datums for the same metric,
//! dimensions and timestamp, which CloudWatch aggregates into one period.

use std::collections::BTreeMap;

use crate::datum::MAX_VALUES_PER_DATUM;

/// Largest relative error of a represented value (0.5%: half the 1% bound on
/// percentiles, leaving room for floating-point rounding at bucket edges).
pub const RELATIVE_ACCURACY: f64 = 0.005;

/// Bucket index of a positive magnitude.
fn bucket_of(magnitude: f64, ln_gamma: f64) -> i32 {
    // Finite, non-zero magnitudes give |ln| ≤ 745, so the index fits easily in i32.
    (magnitude.ln() / ln_gamma).ceil() as i32
}

/// Observations of one series in one period.
#[derive(Debug, Clone)]
pub enum Distribution {
    /// Distinct values and their counts, while there are at most 150 of them.
    Exact(Vec<(f64, u64)>),
    /// Logarithmic buckets.
    Buckets(Buckets),
}

/// Bucketed observations: positive and negative magnitudes by bucket, and zeros.
#[derive(Debug, Clone, Default)]
pub struct Buckets {
    positive: BTreeMap<i32, u64>,
    negative: BTreeMap<i32, u64>,
    zeros: u64,
}

impl Default for Distribution {
    fn default() -> Self {
        Self::Exact(Vec::new())
    }
}

struct Gamma {
    gamma: f64,
    ln_gamma: f64,
}

fn gamma() -> Gamma {
    let gamma = (1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY);
    Gamma {
        gamma,
        ln_gamma: gamma.ln(),
    }
}

impl Buckets {
    fn add(&mut self, value: f64, count: u64, ln_gamma: f64) {
        if value == 0.0 {
            self.zeros += count;
        } else if value > 0.0 {
            *self.positive.entry(bucket_of(value, ln_gamma)).or_default() += count;
        } else {
            *self
                .negative
                .entry(bucket_of(-value, ln_gamma))
                .or_default() += count;
        }
    }
}

impl Distribution {
    /// Records `value` (finite; callers check) once.
    pub fn record(&mut self, value: f64) {
        self.record_n(value, 1);
    }

    /// Records `value` (finite; callers check) `count` times (a histogram bucket).
    pub fn record_n(&mut self, value: f64, count: u64) {
        match self {
            Self::Exact(pairs) => {
                if let Some(pair) = pairs.iter_mut().find(|(v, _)| *v == value) {
                    pair.1 += count;
                } else if pairs.len() < MAX_VALUES_PER_DATUM {
                    pairs.push((value, count));
                } else {
                    let ln_gamma = gamma().ln_gamma;
                    let mut buckets = Buckets::default();
                    for (v, c) in pairs.iter() {
                        buckets.add(*v, *c, ln_gamma);
                    }
                    buckets.add(value, count, ln_gamma);
                    *self = Self::Buckets(buckets);
                }
            }
            Self::Buckets(buckets) => buckets.add(value, count, gamma().ln_gamma),
        }
    }

    /// Observations recorded.
    pub fn count(&self) -> u64 {
        match self {
            Self::Exact(pairs) => pairs.iter().map(|(_, c)| c).sum(),
            Self::Buckets(b) => {
                b.zeros + b.positive.values().sum::<u64>() + b.negative.values().sum::<u64>()
            }
        }
    }

    /// `(value, count)` pairs in ascending value order.
    pub fn pairs(&self) -> Vec<(f64, u64)> {
        match self {
            Self::Exact(pairs) => {
                let mut pairs = pairs.clone();
                pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
                pairs
            }
            Self::Buckets(b) => {
                let Gamma { gamma, .. } = gamma();
                let represent = |k: i32| 2.0 * gamma.powi(k) / (gamma + 1.0);
                let mut out = Vec::with_capacity(b.positive.len() + b.negative.len() + 1);
                out.extend(b.negative.iter().rev().map(|(k, c)| (-represent(*k), *c)));
                if b.zeros > 0 {
                    out.push((0.0, b.zeros));
                }
                out.extend(b.positive.iter().map(|(k, c)| (represent(*k), *c)));
                out
            }
        }
    }

    /// The pairs cut into chunks of at most [`MAX_VALUES_PER_DATUM`] (one datum each).
    pub fn chunks(&self) -> Vec<(Vec<f64>, Vec<f64>)> {
        self.pairs()
            .chunks(MAX_VALUES_PER_DATUM)
            .map(|chunk| {
                (
                    chunk.iter().map(|(v, _)| *v).collect(),
                    chunk.iter().map(|(_, c)| *c as f64).collect(),
                )
            })
            .collect()
    }
}

pub use aistudio_core::stats::percentile;

#[cfg(test)]
mod tests {
    use super::*;

    fn exact_percentile(raw: &mut [f64], p: f64) -> f64 {
        raw.sort_by(f64::total_cmp);
        let pairs: Vec<(f64, u64)> = raw.iter().map(|v| (*v, 1)).collect();
        percentile(&pairs, p).expect("non-empty")
    }

    /// Records `raw`, publishes it as datums (≤ 150 pairs each), merges the datums as
    /// CloudWatch does, and checks p50/p95/p99 (and others) against the raw data.
    fn assert_percentiles_within_one_percent(name: &str, mut raw: Vec<f64>) {
        let mut dist = Distribution::default();
        for v in &raw {
            dist.record(*v);
        }
        let chunks = dist.chunks();
        let mut merged: Vec<(f64, u64)> = Vec::new();
        for (values, counts) in &chunks {
            assert!(
                values.len() <= MAX_VALUES_PER_DATUM,
                "{name}: datum over 150 values"
            );
            assert_eq!(values.len(), counts.len());
            merged.extend(values.iter().zip(counts).map(|(v, c)| (*v, *c as u64)));
        }
        merged.sort_by(|a, b| a.0.total_cmp(&b.0));
        let published: u64 = merged.iter().map(|(_, c)| c).sum();
        assert_eq!(published, raw.len() as u64, "{name}: sample count is exact");
        for p in [50.0, 90.0, 95.0, 99.0, 99.9] {
            let exact = exact_percentile(&mut raw, p);
            let got = percentile(&merged, p).expect("non-empty");
            let error = ((got - exact) / exact).abs();
            assert!(
                error <= 0.01,
                "{name}: p{p} {got} vs exact {exact} (error {:.4}%)",
                error * 100.0
            );
            assert!(
                error <= RELATIVE_ACCURACY * 1.000_1,
                "{name}: p{p} beyond α: {error}"
            );
        }
    }

    #[test]
    fn percentiles_within_one_percent_on_uniform_data() {
        let mut rng = fastrand::Rng::with_seed(1);
        let raw: Vec<f64> = (0..100_000).map(|_| rng.f64() * 10_000.0 + 1.0).collect();
        assert_percentiles_within_one_percent("uniform", raw);
    }

    #[test]
    fn percentiles_within_one_percent_on_skewed_data() {
        // Log-normal latencies (median ~100 ms, long tail to minutes) and a Pareto tail.
        let mut rng = fastrand::Rng::with_seed(2);
        let normal = |rng: &mut fastrand::Rng| {
            let (u1, u2) = (rng.f64().max(1e-12), rng.f64());
            (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        };
        let lognormal: Vec<f64> = (0..100_000)
            .map(|_| (4.6 + 1.5 * normal(&mut rng)).exp())
            .collect();
        assert_percentiles_within_one_percent("lognormal", lognormal);
        let pareto: Vec<f64> = (0..50_000)
            .map(|_| 5.0 / rng.f64().max(1e-9).powf(1.0 / 1.2))
            .collect();
        assert_percentiles_within_one_percent("pareto", pareto);
        // Integer milliseconds, as the server logs them: many repeats, wide range.
        let integers: Vec<f64> = (0..50_000)
            .map(|_| ((3.0 + 2.0 * normal(&mut rng)).exp()).round().max(1.0))
            .collect();
        assert_percentiles_within_one_percent("integer ms", integers);
    }

    #[test]
    fn few_distinct_values_are_kept_exactly() {
        let mut dist = Distribution::default();
        for v in [5.0, 1.0, 5.0, 3.0] {
            dist.record(v);
        }
        assert_eq!(dist.pairs(), vec![(1.0, 1), (3.0, 1), (5.0, 2)]);
        assert_eq!(dist.chunks().len(), 1);
    }

    #[test]
    fn zero_and_negative_values_keep_their_order() {
        let mut dist = Distribution::default();
        for i in 0..400 {
            dist.record(f64::from(i) - 200.0);
        }
        let pairs = dist.pairs();
        assert!(pairs.windows(2).all(|w| w[0].0 < w[1].0), "ascending");
        assert_eq!(dist.count(), 400);
        assert!(pairs.iter().any(|(v, c)| *v == 0.0 && *c == 1));
        let min = pairs.first().map(|p| p.0).unwrap_or_default();
        assert!(((min + 200.0) / 200.0).abs() <= RELATIVE_ACCURACY, "{min}");
    }

    #[test]
    fn extreme_magnitudes_do_not_overflow_the_buckets() {
        let mut dist = Distribution::default();
        for i in 0..300 {
            dist.record(if i % 2 == 0 { 1e-300 } else { 1e300 } * f64::from(i + 1));
        }
        assert_eq!(dist.count(), 300);
        assert!(dist.pairs().iter().all(|(v, _)| v.is_finite()));
    }
}
