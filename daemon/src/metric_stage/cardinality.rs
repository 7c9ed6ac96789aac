//! The cardinality guard: each distinct dimension set of a metric becomes a CloudWatch metric
//! (billed monthly), so each rule keeps at most `cap` of them for the life of the process.
//! Observations with a new set past the cap are folded into one set whose extra dimensions
//! are all `Other`, so totals stay right, and are counted.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

use super::config::{ENVIRONMENT_DIMENSION, OVERFLOW_DIMENSION_VALUE};

/// Index of a series (rule + dimension set).
pub type SeriesId = u32;

/// One metric's dimension set.
#[derive(Debug, Clone)]
pub struct Series {
    /// The rule it belongs to.
    pub rule: usize,
    /// `Environment` first, then the rule's dimensions.
    pub dimensions: Arc<[(Arc<str>, String)]>,
}

#[derive(Debug, Default)]
struct RuleSets {
    by_hash: HashMap<u64, Vec<SeriesId>, foldhash::fast::RandomState>,
    distinct: usize,
    overflow: Option<SeriesId>,
}

/// Registry of series, capped per rule.
#[derive(Debug)]
pub struct CardinalityGuard {
    cap: usize,
    environment: String,
    rules: Vec<RuleSets>,
    series: Vec<Series>,
    // Seeded per process like std's SipHash, but several times cheaper on the short dimension
    // values hashed for every observation; the cap bounds each chain anyway.
    hasher: foldhash::fast::RandomState,
}

/// The outcome of a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lookup {
    /// The series to record into.
    pub id: SeriesId,
    /// The series did not exist before this lookup.
    pub new: bool,
    /// The observation was folded into the overflow set.
    pub overflowed: bool,
}

impl CardinalityGuard {
    /// A guard for `rules` rules, keeping at most `cap` sets each.
    pub fn new(rules: usize, cap: usize, environment: &str) -> Self {
        Self {
            cap: cap.max(1),
            environment: environment.to_owned(),
            rules: (0..rules).map(|_| RuleSets::default()).collect(),
            series: Vec::new(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// The series `id`.
    pub fn series(&self, id: SeriesId) -> Option<&Series> {
        self.series.get(id as usize)
    }

    #[cfg(test)]
    /// Distinct sets registered for `rule` (the overflow set excluded).
    pub fn distinct(&self, rule: usize) -> usize {
        self.rules.get(rule).map_or(0, |r| r.distinct)
    }

    /// Finds or creates the series of `rule` with dimension `values` (paired with `names`).
    pub fn lookup(&mut self, rule: usize, names: &[Arc<str>], values: &[Cow<'_, str>]) -> Lookup {
        let values = &values[..names.len().min(values.len())];
        let mut hasher = self.hasher.build_hasher();
        for value in values {
            value.as_ref().hash(&mut hasher);
        }
        let hash = hasher.finish();
        let series = &self.series;
        let Some(sets) = self.rules.get_mut(rule) else {
            return Lookup {
                id: 0,
                new: false,
                overflowed: true,
            };
        };
        if let Some(candidates) = sets.by_hash.get(&hash) {
            for id in candidates {
                let same = series.get(*id as usize).is_some_and(|s| {
                    s.dimensions[1..]
                        .iter()
                        .map(|(_, v)| v.as_str())
                        .eq(values.iter().map(|v| v.as_ref()))
                });
                if same {
                    return Lookup {
                        id: *id,
                        new: false,
                        overflowed: false,
                    };
                }
            }
        }
        // The `Environment`-only roll-up (no extra names) is one set at most: never capped.
        if sets.distinct >= self.cap && !names.is_empty() {
            if let Some(id) = sets.overflow {
                return Lookup {
                    id,
                    new: false,
                    overflowed: true,
                };
            }
            let id = self.series.len() as SeriesId;
            let dimensions = self.dimensions(names, names.iter().map(|_| OVERFLOW_DIMENSION_VALUE));
            self.series.push(Series { rule, dimensions });
            if let Some(sets) = self.rules.get_mut(rule) {
                sets.overflow = Some(id);
            }
            return Lookup {
                id,
                new: true,
                overflowed: true,
            };
        }
        let id = self.series.len() as SeriesId;
        sets.by_hash.entry(hash).or_default().push(id);
        if !names.is_empty() {
            sets.distinct += 1;
        }
        let dimensions = self.dimensions(names, values.iter().map(|v| v.as_ref()));
        self.series.push(Series { rule, dimensions });
        Lookup {
            id,
            new: true,
            overflowed: false,
        }
    }

    fn dimensions<'v>(
        &self,
        names: &[Arc<str>],
        values: impl Iterator<Item = &'v str>,
    ) -> Arc<[(Arc<str>, String)]> {
        std::iter::once((Arc::from(ENVIRONMENT_DIMENSION), self.environment.clone()))
            .chain(names.iter().cloned().zip(values.map(str::to_owned)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_distinct_sets_and_folds_the_rest_into_other() {
        let names: Vec<Arc<str>> = vec!["Provider".into()];
        let mut guard = CardinalityGuard::new(2, 3, "prod");
        let mut ids = Vec::new();
        for p in ["a", "b", "a", "c"] {
            let l = guard.lookup(0, &names, &[Cow::Borrowed(p)]);
            assert!(!l.overflowed);
            ids.push(l.id);
        }
        assert_eq!(ids[0], ids[2], "same set, same series");
        assert_eq!(guard.distinct(0), 3);
        let over = guard.lookup(0, &names, &[Cow::Borrowed("d")]);
        assert!(over.overflowed && over.new);
        let again = guard.lookup(0, &names, &[Cow::Borrowed("e")]);
        assert_eq!(
            (again.id, again.overflowed, again.new),
            (over.id, true, false)
        );
        let known = guard.lookup(0, &names, &[Cow::Borrowed("b")]);
        assert!(!known.overflowed, "known sets keep working past the cap");
        let series = guard.series(over.id).expect("series");
        assert_eq!(&*series.dimensions[0].0, "Environment");
        assert_eq!(series.dimensions[0].1, "prod");
        assert_eq!(series.dimensions[1].1, OVERFLOW_DIMENSION_VALUE);
        // Another rule has its own budget.
        assert!(!guard.lookup(1, &names, &[Cow::Borrowed("z")]).overflowed);
    }
}
