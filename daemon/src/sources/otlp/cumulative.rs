//! Cumulative OTLP points turned into deltas: the metric stage sums increases per period, so
//! a cumulative counter or histogram (the SDKs' default temporality) is published as the
//! difference from the series' previous point. The state is one entry per series, bounded.

use std::collections::{BTreeMap, HashMap};

/// Most cumulative series remembered: the catalog's 13 log metrics × the cardinality guard's
/// default 100 dimension sets is 1,300; 10,000 leaves room for several exporters and custom
/// caps while bounding the state to a few MiB (an entry is a key and up to a few hundred
/// bucket counts).
pub const MAX_CUMULATIVE_SERIES: usize = 10_000;
/// A series not seen for this long may be forgotten to make room: 10 × the SDKs' default
/// 60 s export interval.
pub const STALE_SERIES_MS: i64 = 10 * 60_000;

/// A series: the catalog metric and its dimensions, sorted.
pub type SeriesKey = (&'static str, Vec<(&'static str, String)>);

/// A histogram bucket's place: `(sign, index)` — sign 1 positive, -1 negative, 0 the zero
/// bucket (exponential) or every bucket of an explicit-bucket histogram.
pub type BucketKey = (i8, i64);

/// How a histogram's buckets are laid out; deltas are taken only between equal layouts
/// (exponential histograms may also lower their scale, which merges buckets).
#[derive(Debug, Clone, PartialEq)]
pub enum Layout {
    /// Explicit bounds, by their bits.
    Explicit(Vec<u64>),
    /// Base-2 exponential buckets at this scale.
    Exponential(i32),
}

/// A histogram point's counts per bucket, with its sum when it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct Buckets {
    /// The layout.
    pub layout: Layout,
    /// Count per bucket (zeros left out).
    pub counts: BTreeMap<BucketKey, u64>,
    /// Sum of the values, when the exporter sent it.
    pub sum: Option<f64>,
}

impl Buckets {
    fn total(&self) -> u64 {
        self.counts.values().fold(0u64, |a, c| a.saturating_add(*c))
    }
}

#[derive(Debug, Clone)]
enum Previous {
    Sum(f64),
    Histogram(Buckets),
}

#[derive(Debug)]
struct Entry {
    start_ns: u64,
    seen_ms: i64,
    previous: Previous,
}

/// Why a cumulative point gave no delta.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The state is full of live series.
    Full,
    /// A histogram's buckets changed layout without a reset.
    LayoutChanged,
}

/// The previous point of every cumulative series.
#[derive(Debug)]
pub struct Cumulative {
    /// When the source started (ns): a series that started after it is counted from its
    /// first point; one that started before is only a baseline (its earlier increase may
    /// have been counted by a previous run, so counting it again would double it).
    started_ns: u64,
    series: HashMap<SeriesKey, Entry>,
}

impl Cumulative {
    /// Empty state for a source started at `started_ns`.
    pub fn new(started_ns: u64) -> Self {
        Self {
            started_ns,
            series: HashMap::new(),
        }
    }

    /// Series remembered.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// The increase of a cumulative sum since the series' previous point (`None`: a baseline).
    pub fn sum_delta(
        &mut self,
        key: SeriesKey,
        start_ns: u64,
        value: f64,
        now_ms: i64,
    ) -> Result<Option<f64>, Refusal> {
        let counts_from_start = self.counts_from_start(start_ns);
        let entry = match self.entry(key, start_ns, now_ms, Previous::Sum(value))? {
            Some(entry) => entry,
            None => return Ok(counts_from_start.then_some(value)),
        };
        let delta = match entry.previous {
            // Same run of the counter: the increase; a lower value is a reset.
            Previous::Sum(previous) if entry.start_ns == start_ns && value >= previous => {
                value - previous
            }
            _ => value,
        };
        entry.start_ns = start_ns;
        entry.previous = Previous::Sum(value);
        Ok(Some(delta))
    }

    /// The buckets filled since the series' previous point (`None`: a baseline).
    pub fn histogram_delta(
        &mut self,
        key: SeriesKey,
        start_ns: u64,
        current: Buckets,
        now_ms: i64,
    ) -> Result<Option<Buckets>, Refusal> {
        let counts_from_start = self.counts_from_start(start_ns);
        let entry = match self.entry(key, start_ns, now_ms, Previous::Histogram(current.clone()))? {
            Some(entry) => entry,
            None => return Ok(counts_from_start.then_some(current)),
        };
        let previous = match &entry.previous {
            Previous::Histogram(previous)
                if entry.start_ns == start_ns && current.total() >= previous.total() =>
            {
                Some(previous.clone())
            }
            // A new start time, a lower total or a type change: the series was reset.
            _ => None,
        };
        entry.start_ns = start_ns;
        entry.previous = Previous::Histogram(current.clone());
        let Some(previous) = previous else {
            return Ok(Some(current));
        };
        let previous = align(previous, &current.layout).ok_or(Refusal::LayoutChanged)?;
        let mut counts = BTreeMap::new();
        for (key, count) in &current.counts {
            let before = previous.counts.get(key).copied().unwrap_or(0);
            let delta = count.checked_sub(before).ok_or(Refusal::LayoutChanged)?;
            if delta > 0 {
                counts.insert(*key, delta);
            }
        }
        if previous
            .counts
            .keys()
            .any(|key| !current.counts.contains_key(key))
        {
            return Err(Refusal::LayoutChanged);
        }
        let sum = match (current.sum, previous.sum) {
            (Some(now), Some(before)) => Some(now - before),
            _ => None,
        };
        Ok(Some(Buckets {
            layout: current.layout,
            counts,
            sum,
        }))
    }

    fn counts_from_start(&self, start_ns: u64) -> bool {
        start_ns != 0 && start_ns >= self.started_ns
    }

    /// The series' entry, or `None` after inserting `first` for a series not seen before.
    fn entry(
        &mut self,
        key: SeriesKey,
        start_ns: u64,
        now_ms: i64,
        first: Previous,
    ) -> Result<Option<&mut Entry>, Refusal> {
        if !self.series.contains_key(&key) {
            if self.series.len() >= MAX_CUMULATIVE_SERIES {
                self.series
                    .retain(|_, e| now_ms.saturating_sub(e.seen_ms) < STALE_SERIES_MS);
                if self.series.len() >= MAX_CUMULATIVE_SERIES {
                    return Err(Refusal::Full);
                }
            }
            self.series.insert(
                key,
                Entry {
                    start_ns,
                    seen_ms: now_ms,
                    previous: first,
                },
            );
            return Ok(None);
        }
        let entry = self.series.get_mut(&key);
        if let Some(entry) = entry {
            entry.seen_ms = now_ms;
            return Ok(Some(entry));
        }
        Ok(None)
    }
}

/// `previous` in `layout`: equal layouts as they are; an exponential histogram whose scale
/// went down has each old bucket merged into the one holding it (index >> the difference).
fn align(previous: Buckets, layout: &Layout) -> Option<Buckets> {
    match (&previous.layout, layout) {
        (a, b) if a == b => Some(previous),
        (Layout::Exponential(old), Layout::Exponential(new)) if new < old => {
            let shift = u32::try_from(old - new).ok()?.min(63);
            let mut counts: BTreeMap<BucketKey, u64> = BTreeMap::new();
            for ((sign, index), count) in previous.counts {
                let index = if sign == 0 { 0 } else { index >> shift };
                let slot = counts.entry((sign, index)).or_default();
                *slot = slot.saturating_add(count);
            }
            Some(Buckets {
                layout: layout.clone(),
                counts,
                sum: previous.sum,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(provider: &str) -> SeriesKey {
        ("TokensStreamed", vec![("Provider", provider.to_owned())])
    }

    fn exp(scale: i32, counts: &[(i64, u64)]) -> Buckets {
        Buckets {
            layout: Layout::Exponential(scale),
            counts: counts.iter().map(|(i, c)| ((1, *i), *c)).collect(),
            sum: None,
        }
    }

    #[test]
    fn sums_become_increases_and_resets_start_over() {
        let mut state = Cumulative::new(1_000);
        // Started after the source: its first value is all new.
        assert_eq!(state.sum_delta(key("a"), 2_000, 5.0, 0), Ok(Some(5.0)));
        assert_eq!(state.sum_delta(key("a"), 2_000, 12.0, 0), Ok(Some(7.0)));
        // Lower value: the counter restarted.
        assert_eq!(state.sum_delta(key("a"), 2_000, 3.0, 0), Ok(Some(3.0)));
        // New start time: a new run of the counter.
        assert_eq!(state.sum_delta(key("a"), 9_000, 4.0, 0), Ok(Some(4.0)));
        // Started before the source: a baseline only, then increases.
        assert_eq!(state.sum_delta(key("b"), 500, 100.0, 0), Ok(None));
        assert_eq!(state.sum_delta(key("b"), 500, 130.0, 0), Ok(Some(30.0)));
        assert_eq!(state.len(), 2);
    }

    #[test]
    fn histograms_subtract_per_bucket_and_follow_a_lower_scale() {
        let mut state = Cumulative::new(0);
        let first = exp(2, &[(4, 1), (5, 2)]);
        assert_eq!(
            state.histogram_delta(key("a"), 1, first.clone(), 0),
            Ok(Some(first))
        );
        let second = exp(2, &[(4, 3), (5, 2), (6, 1)]);
        assert_eq!(
            state.histogram_delta(key("a"), 1, second, 0),
            Ok(Some(exp(2, &[(4, 2), (6, 1)])))
        );
        // Scale 2 → 1 merges 4 and 5 into 2, 6 into 3: previous (2: 5, 3: 1).
        let third = exp(1, &[(2, 6), (3, 4)]);
        assert_eq!(
            state.histogram_delta(key("a"), 1, third, 0),
            Ok(Some(exp(1, &[(2, 1), (3, 3)])))
        );
        // Different explicit bounds without a reset: refused, then the new baseline holds.
        let explicit = |bound: f64, count: u64| Buckets {
            layout: Layout::Explicit(vec![bound.to_bits()]),
            counts: BTreeMap::from([((0, 0), count)]),
            sum: None,
        };
        assert_eq!(
            state.histogram_delta(key("b"), 1, explicit(1.0, 1), 0),
            Ok(Some(explicit(1.0, 1)))
        );
        assert_eq!(
            state.histogram_delta(key("b"), 1, explicit(2.0, 2), 0),
            Err(Refusal::LayoutChanged)
        );
        assert_eq!(
            state.histogram_delta(key("b"), 1, explicit(2.0, 5), 0),
            Ok(Some(explicit(2.0, 3)))
        );
    }

    #[test]
    fn the_state_is_bounded_and_forgets_stale_series_first() {
        let mut state = Cumulative::new(0);
        for i in 0..MAX_CUMULATIVE_SERIES {
            assert!(state
                .sum_delta(key(&i.to_string()), 1, 1.0, 0)
                .is_ok_and(|d| d == Some(1.0)));
        }
        assert_eq!(
            state.sum_delta(key("new"), 1, 1.0, 1_000),
            Err(Refusal::Full),
            "every series is live"
        );
        assert_eq!(
            state.sum_delta(key("new"), 1, 1.0, STALE_SERIES_MS + 1),
            Ok(Some(1.0)),
            "stale series make room"
        );
        assert_eq!(state.len(), 1);
    }
}
