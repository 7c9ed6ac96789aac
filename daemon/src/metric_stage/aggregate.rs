//! Aggregation: observations summed (or kept as distributions) per series and period, and
//! closed periods turned into datums. Observations come from log lines (through the rules)
//! and from sources' metric points (OTLP), both recorded by the same [`Store`].

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use metrics::Counter;

use super::cardinality::{CardinalityGuard, SeriesId};
use super::config::{Aggregation, MetricsConfig, MISSING_DIMENSION_VALUE};
use super::extract::{CompiledRule, Extractor};
use super::histogram::Distribution;
use crate::datum::{check_value, in_window, Datum, DatumValue, RejectKind, MAX_DIMENSIONS};
use crate::event::LogEvent;
use crate::metric_point::{MetricPoint, PointValue};
use crate::telemetry::prometheus::{Exporter, Instrument, StageCounters};

/// Lines whose timestamps run ahead of the clock move the "log time" at most this far.
const WATERMARK_MAX_AHEAD_MS: i64 = 5_000;

#[derive(Debug, Clone)]
enum Value {
    Stats {
        count: u64,
        sum: f64,
        min: f64,
        max: f64,
    },
    Distribution(Distribution),
}

#[derive(Debug)]
struct Accumulator {
    value: Value,
    /// Recorded into since the previous flush.
    touched: bool,
}

/// What one observation adds to a series.
#[derive(Debug, Clone, Copy)]
enum Sample<'a> {
    /// One value (a line's, a counter delta, a gauge sample).
    One(f64),
    /// `(value, count)` pairs (a histogram's buckets).
    Weighted(&'a [(f64, u64)]),
}

/// The aggregation state; one per pipeline, behind a mutex shared by the processor thread
/// and the points recorder (which record) and the publisher (which flushes).
#[derive(Debug)]
pub struct Aggregator {
    extractor: Extractor,
    store: Store,
    grace_ms: i64,
    watermark_ms: i64,
}

/// The series, their open periods and their Prometheus instruments.
#[derive(Debug)]
struct Store {
    guard: CardinalityGuard,
    open: HashMap<(i64, SeriesId), Accumulator, foldhash::fast::RandomState>,
    exporter: Option<Exporter>,
    instruments: Vec<Option<Instrument>>,
    counters: StageCounters,
    overflow: Vec<Option<Counter>>,
}

impl Aggregator {
    /// An aggregator for the config's rules; `exporter` receives the application metrics too
    /// when `config.prometheus` is on.
    pub fn new(config: &MetricsConfig, environment: &str, exporter: &Exporter) -> Self {
        let rules = config.effective_rules();
        let extractor = Extractor::new(&rules, config.period_secs);
        Self {
            store: Store {
                guard: CardinalityGuard::new(
                    rules.len(),
                    config.max_dimension_sets_per_metric,
                    environment,
                ),
                open: HashMap::default(),
                exporter: config.prometheus.then(|| exporter.clone()),
                instruments: Vec::new(),
                counters: StageCounters::new(exporter),
                overflow: vec![None; rules.len()],
            },
            extractor,
            grace_ms: i64::try_from(config.flush_grace_ms).unwrap_or(i64::MAX / 4),
            watermark_ms: i64::MIN,
        }
    }

    /// The stage's counters.
    pub fn counters(&self) -> &StageCounters {
        &self.store.counters
    }

    /// Series (metric + dimension set) open in any period.
    pub fn open_accumulators(&self) -> usize {
        self.store.open.len()
    }

    /// Extracts and records every event's observations; `now_ms` is the wall clock.
    pub fn observe(&mut self, events: &[LogEvent], now_ms: i64) {
        for event in events {
            self.observe_line(&event.message, event.timestamp_ms, now_ms);
        }
    }

    /// Extracts and records one line's observations.
    pub fn observe_line(&mut self, line: &str, timestamp_ms: i64, now_ms: i64) {
        let Some(fields) = self.extractor.scan(line) else {
            return;
        };
        let extractor = &self.extractor;
        let store = &mut self.store;
        let window_ok = in_window(timestamp_ms, now_ms);
        let mut matched = false;
        extractor.evaluate(&fields, |obs| {
            let value = match (obs.value, window_ok) {
                (Ok(v), true) => v,
                (Err(kind), _) => return store.reject(kind),
                (Ok(_), false) => return store.reject(RejectKind::OutsideWindow),
            };
            let Some(rule) = extractor.rules().get(obs.rule) else {
                return;
            };
            matched = true;
            store.record(
                obs.rule,
                rule,
                &obs.dimensions,
                timestamp_ms,
                Sample::One(value),
            );
        });
        if matched {
            self.advance_watermark(timestamp_ms, now_ms);
        }
    }

    /// Records metric points a source mapped onto catalog metrics (OTLP): each goes to the
    /// first rule publishing its metric, with its dimensions in the rule's order, through the
    /// same cardinality guard, periods and roll-up as a line's. A point whose metric no rule
    /// publishes (`default_rules = false`), or whose values CloudWatch would refuse, is
    /// counted as rejected.
    pub fn observe_points(&mut self, points: &[MetricPoint], now_ms: i64) {
        for point in points {
            let rules = self.extractor.rules();
            let Some((index, rule)) = rules
                .iter()
                .enumerate()
                .find(|(_, r)| &*r.metric == point.metric)
            else {
                self.store.reject(RejectKind::OutOfRange);
                continue;
            };
            if !in_window(point.timestamp_ms, now_ms) {
                self.store.reject(RejectKind::OutsideWindow);
                continue;
            }
            let sample = match &point.value {
                PointValue::Delta(v) | PointValue::Sample(v) => check_value(*v).map(Sample::One),
                PointValue::Distribution(pairs) => pairs
                    .iter()
                    .try_for_each(|(v, _)| check_value(*v).map(drop))
                    .map(|()| Sample::Weighted(pairs)),
            };
            let sample = match sample {
                Ok(sample) => sample,
                Err(kind) => {
                    self.store.reject(kind);
                    continue;
                }
            };
            let mut dimensions: [Cow<'_, str>; MAX_DIMENSIONS] =
                std::array::from_fn(|_| Cow::Borrowed(""));
            for (slot, name) in dimensions.iter_mut().zip(rule.dimension_names.iter()) {
                *slot = point
                    .dimensions
                    .iter()
                    .find(|(n, _)| *n == &**name)
                    .map_or(Cow::Borrowed(MISSING_DIMENSION_VALUE), |(_, v)| {
                        Cow::Borrowed(v.as_str())
                    });
            }
            self.store
                .record(index, rule, &dimensions, point.timestamp_ms, sample);
            self.advance_watermark(point.timestamp_ms, now_ms);
        }
    }

    fn advance_watermark(&mut self, timestamp_ms: i64, now_ms: i64) {
        self.watermark_ms = self
            .watermark_ms
            .max(timestamp_ms.min(now_ms.saturating_add(WATERMARK_MAX_AHEAD_MS)));
    }

    /// Closes periods and returns their datums: a period closes once the log time (the newest
    /// line's timestamp) or, for a period no line touched since the last flush, the clock is
    /// `flush_grace_ms` past its end; `everything` closes all (shutdown).
    pub fn flush(&mut self, now_ms: i64, everything: bool) -> Vec<Datum> {
        let mut closed = Vec::new();
        let rules = self.extractor.rules();
        let store = &mut self.store;
        let guard = &store.guard;
        let (grace, watermark) = (self.grace_ms, self.watermark_ms);
        store.open.retain(|(start, id), acc| {
            let period = guard
                .series(*id)
                .and_then(|s| rules.get(s.rule))
                .map_or(60_000, |r| r.period_ms);
            let due = start.saturating_add(period).saturating_add(grace);
            let close = everything || due <= watermark || (due <= now_ms && !acc.touched);
            acc.touched = false;
            if close {
                closed.push((
                    *start,
                    *id,
                    std::mem::replace(
                        &mut acc.value,
                        Value::Stats {
                            count: 0,
                            sum: 0.0,
                            min: 0.0,
                            max: 0.0,
                        },
                    ),
                ));
            }
            !close
        });
        closed.sort_by_key(|(start, id, _)| (*start, *id));
        let mut datums = Vec::with_capacity(closed.len());
        for (start, id, value) in closed {
            let Some(series) = store.guard.series(id) else {
                continue;
            };
            let Some(rule) = rules.get(series.rule) else {
                continue;
            };
            let make = |value: DatumValue| Datum {
                metric: Arc::clone(&rule.metric),
                dimensions: Arc::clone(&series.dimensions),
                timestamp_ms: start,
                unit: rule.unit,
                storage_resolution: rule.storage_resolution,
                value,
            };
            match value {
                Value::Stats {
                    count,
                    sum,
                    min,
                    max,
                } if count > 0 => datums.push(make(DatumValue::Stats {
                    count: count as f64,
                    sum,
                    min,
                    max,
                })),
                Value::Stats { .. } => {}
                Value::Distribution(d) => {
                    for (values, counts) in d.chunks() {
                        datums.push(make(DatumValue::Distribution { values, counts }));
                    }
                }
            }
        }
        if let Some(exporter) = &store.exporter {
            exporter.upkeep();
        }
        datums
    }
}

impl Store {
    fn reject(&self, kind: RejectKind) {
        self.counters.rejected[kind.index()].increment(1);
    }

    /// Records one observation of rule `index` into the period holding `timestamp_ms`, and
    /// into the metric's `Environment` roll-up.
    fn record(
        &mut self,
        index: usize,
        rule: &CompiledRule,
        dimensions: &[Cow<'_, str>],
        timestamp_ms: i64,
        sample: Sample<'_>,
    ) {
        let lookup = self.guard.lookup(index, &rule.dimension_names, dimensions);
        if lookup.overflowed {
            if let Some(slot) = self.overflow.get_mut(index) {
                slot.get_or_insert_with(|| self.counters.overflow(&rule.metric))
                    .increment(1);
            }
        }
        let series = lookup.id as usize;
        if lookup.new || self.instruments.len() <= series {
            self.instruments.resize(series + 1, None);
            if let (Some(exporter), Some(found)) = (&self.exporter, self.guard.series(lookup.id)) {
                self.instruments[series] =
                    Some(exporter.instrument(&rule.metric, rule.aggregation, &found.dimensions));
            }
        }
        if let Some(Some(instrument)) = self.instruments.get(series) {
            match sample {
                Sample::One(value) => instrument.record(value),
                Sample::Weighted(pairs) => {
                    for (value, count) in pairs {
                        instrument.record_many(*value, *count);
                    }
                }
            }
        }
        self.counters.observations.increment(1);
        let start = timestamp_ms - timestamp_ms.rem_euclid(rule.period_ms);
        accumulate(&mut self.open, (start, lookup.id), rule.aggregation, sample);
        // CloudWatch never aggregates across dimensions: a metric published only per
        // Provider or Endpoint is invisible to an alarm or widget that asks for it by
        // `Environment` alone (JobsFailed > 10, p95 ResponseTimeMs, dashboard totals). So
        // what has extra dimensions is also published rolled up to `Environment`, as the
        // CloudWatch agent's `aggregation_dimensions` does (not to Prometheus, which sums
        // over labels itself).
        if !rule.dimension_names.is_empty() {
            let rollup = self.guard.lookup(index, &[], &[]);
            accumulate(&mut self.open, (start, rollup.id), rule.aggregation, sample);
        }
    }
}

/// Adds one observation to the open period of a series.
fn accumulate(
    open: &mut HashMap<(i64, SeriesId), Accumulator, foldhash::fast::RandomState>,
    key: (i64, SeriesId),
    aggregation: Aggregation,
    sample: Sample<'_>,
) {
    let acc = open.entry(key).or_insert_with(|| Accumulator {
        value: match aggregation {
            Aggregation::Sum => Value::Stats {
                count: 0,
                sum: 0.0,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
            },
            Aggregation::Distribution => Value::Distribution(Distribution::default()),
        },
        touched: true,
    });
    acc.touched = true;
    let one;
    let pairs: &[(f64, u64)] = match sample {
        Sample::One(value) => {
            one = [(value, 1)];
            &one
        }
        Sample::Weighted(pairs) => pairs,
    };
    for &(value, n) in pairs.iter().filter(|(_, n)| *n > 0) {
        match &mut acc.value {
            Value::Stats {
                count,
                sum,
                min,
                max,
            } => {
                *count += n;
                *sum += value * n as f64;
                *min = min.min(value);
                *max = max.max(value);
            }
            Value::Distribution(d) => d.record_n(value, n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric_point::{MetricPoint, PointValue};

    const NOW: i64 = 1_800_000_000_000; // a period boundary (divisible by 60,000)

    fn aggregator(extra: &str) -> (Aggregator, Exporter) {
        let config: MetricsConfig = toml::from_str(extra).expect("config");
        assert_eq!(config.problems(), Vec::<String>::new());
        let exporter = Exporter::new();
        (Aggregator::new(&config, "dev", &exporter), exporter)
    }

    fn line(event: &str, provider: &str, duration: f64) -> String {
        serde_json::json!({"event": event, "provider": provider, "duration": duration, "tokens": 10, "userId": "u-1"}).to_string()
    }

    fn find<'a>(datums: &'a [Datum], metric: &str, provider: &str) -> Vec<&'a Datum> {
        datums
            .iter()
            .filter(|d| &*d.metric == metric && d.dimensions.iter().any(|(_, v)| v == provider))
            .collect()
    }

    #[test]
    fn counters_sum_and_distributions_keep_every_sample() {
        let (mut agg, _) = aggregator("");
        for i in 0..1_000 {
            let provider = if i % 4 == 0 { "bedrock" } else { "openai" };
            agg.observe_line(
                &line("job.completed", provider, f64::from(i)),
                NOW + 10,
                NOW + 10,
            );
        }
        assert!(
            agg.flush(NOW + 1_000, false).is_empty(),
            "the period is still open"
        );
        let datums = agg.flush(NOW + 1_000, true);
        let completed = find(&datums, "JobsCompleted", "openai");
        assert_eq!(completed.len(), 1);
        assert_eq!(
            completed[0].value,
            DatumValue::Stats {
                count: 750.0,
                sum: 750.0,
                min: 1.0,
                max: 1.0
            }
        );
        assert_eq!(completed[0].timestamp_ms, NOW);
        assert_eq!(completed[0].storage_resolution, 60);
        let tokens = find(&datums, "TokensStreamed", "bedrock");
        assert_eq!(tokens[0].sum(), 2_500.0);
        let latency = find(&datums, "ProcessingLatencyMs", "openai");
        assert!(
            latency.len() >= 2,
            "750 distinct values need several datums"
        );
        let samples: f64 = latency.iter().map(|d| d.sample_count()).sum();
        assert_eq!(samples, 750.0);
        for d in &datums {
            assert_eq!(&*d.dimensions[0].0, "Environment");
            assert!(d.dimensions.iter().all(|(_, v)| v != "u-1"), "no user ids");
        }
    }

    #[test]
    fn periods_close_when_log_time_passes_them_or_they_go_idle() {
        let (mut agg, _) = aggregator("");
        agg.observe_line(&line("job.created", "a", 1.0), NOW + 5, NOW + 5);
        agg.observe_line(&line("job.created", "a", 1.0), NOW + 61_000, NOW + 61_000);
        // Log time is 61 s: the first period ends at 60 s, grace 2 s: not yet.
        assert!(agg.flush(NOW + 61_000, false).is_empty());
        agg.observe_line(&line("job.created", "a", 1.0), NOW + 62_000, NOW + 62_000);
        let first = agg.flush(NOW + 62_000, false);
        assert_eq!(first.len(), 2, "provider a and its Environment roll-up");
        assert!(first.iter().all(|d| d.timestamp_ms == NOW));
        // The second period is past its end + grace by the clock, but a line just came in:
        // it closes once a flush finds it untouched.
        agg.observe_line(&line("job.created", "a", 1.0), NOW + 63_000, NOW + 63_000);
        assert!(
            agg.flush(NOW + 200_000, false).is_empty(),
            "touched since the last flush"
        );
        let second = agg.flush(NOW + 201_000, false);
        assert_eq!(find(&second, "JobsCreated", "a")[0].sample_count(), 3.0);
        assert_eq!(agg.open_accumulators(), 0);
    }

    #[test]
    fn rejected_values_are_counted_never_published() {
        let (mut agg, exporter) = aggregator("");
        agg.observe_line(r#"{"event":"db.query","duration":"NaN"}"#, NOW, NOW);
        agg.observe_line(r#"{"event":"db.query","duration":"Infinity"}"#, NOW, NOW);
        agg.observe_line(r#"{"event":"db.query","duration":1e300}"#, NOW, NOW);
        agg.observe_line(
            r#"{"event":"db.query","duration":5}"#,
            NOW - 15 * 86_400_000,
            NOW,
        );
        agg.observe_line(
            r#"{"event":"db.query","duration":5}"#,
            NOW + 3 * 3_600_000,
            NOW,
        );
        assert!(agg.flush(NOW, true).is_empty());
        let text = exporter.render();
        for needle in [
            "aistudio_sidecar_metric_values_rejected_total{reason=\"not_finite\"} 2",
            "aistudio_sidecar_metric_values_rejected_total{reason=\"out_of_range\"} 1",
            "aistudio_sidecar_metric_values_rejected_total{reason=\"outside_window\"} 2",
        ] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
    }

    #[test]
    fn high_resolution_rules_use_one_second_periods() {
        let (mut agg, _) = aggregator(
            "default_rules = false\n[[rules]]\nmetric = \"Fast\"\nmatch = { event = \"x\" }\nhigh_resolution = true\n",
        );
        for ms in [0, 999, 1_000, 2_500] {
            agg.observe_line(r#"{"event":"x"}"#, NOW + ms, NOW);
        }
        let datums = agg.flush(NOW, true);
        let stamps: Vec<(i64, f64)> = datums
            .iter()
            .map(|d| (d.timestamp_ms - NOW, d.sample_count()))
            .collect();
        assert_eq!(stamps, vec![(0, 2.0), (1_000, 1.0), (2_000, 1.0)]);
        assert!(datums.iter().all(|d| d.storage_resolution == 1));
    }

    #[test]
    fn the_cardinality_guard_folds_and_counts_overflow() {
        let (mut agg, exporter) = aggregator("max_dimension_sets_per_metric = 2");
        for p in ["a", "b", "c", "d", "a"] {
            agg.observe_line(&line("job.created", p, 1.0), NOW, NOW);
        }
        let datums = agg.flush(NOW, true);
        let created: Vec<&Datum> = datums
            .iter()
            .filter(|d| &*d.metric == "JobsCreated" && d.dimensions.len() > 1)
            .collect();
        assert_eq!(created.len(), 3, "a, b and Other");
        let rollup: Vec<&Datum> = datums
            .iter()
            .filter(|d| &*d.metric == "JobsCreated" && d.dimensions.len() == 1)
            .collect();
        assert_eq!(rollup.len(), 1, "the Environment roll-up is not capped");
        assert_eq!(rollup[0].sample_count(), 5.0, "and counts every line");
        let other = find(&datums, "JobsCreated", "Other");
        assert_eq!(other[0].sample_count(), 2.0);
        let total: f64 = created.iter().map(|d| d.sample_count()).sum();
        assert_eq!(total, 5.0, "totals survive the cap");
        assert!(exporter.render().contains(
            "aistudio_sidecar_metric_dimension_overflow_total{metric=\"JobsCreated\"} 2"
        ));
    }

    #[test]
    fn metric_points_share_the_guard_the_roll_up_and_the_distributions() {
        let (mut agg, exporter) = aggregator("max_dimension_sets_per_metric = 2");
        let point = |metric: &'static str, provider: Option<&str>, value: PointValue| MetricPoint {
            metric,
            dimensions: provider
                .map(|p| vec![("Provider", p.to_owned())])
                .unwrap_or_default(),
            timestamp_ms: NOW,
            value,
        };
        // A line and a point of the same metric land in the same series.
        agg.observe_line(&line("job.completed", "a", 10.0), NOW, NOW);
        agg.observe_points(
            &[
                point("TokensStreamed", Some("a"), PointValue::Delta(5.0)),
                point("TokensStreamed", Some("b"), PointValue::Delta(1.0)),
                point("TokensStreamed", Some("c"), PointValue::Delta(2.0)),
                point("TokensStreamed", None, PointValue::Delta(0.5)),
                point(
                    "ProcessingLatencyMs",
                    Some("a"),
                    PointValue::Distribution(vec![(5.0, 3), (50.0, 1)]),
                ),
                point(
                    "ProcessingLatencyMs",
                    Some("a"),
                    PointValue::Sample(f64::NAN),
                ),
            ],
            NOW,
        );
        let datums = agg.flush(NOW, true);
        let tokens = |provider: &str| find(&datums, "TokensStreamed", provider)[0].sum();
        assert_eq!(tokens("a"), 15.0, "10 from the line, 5 from the point");
        assert_eq!(tokens("b"), 1.0);
        // The cap (2 sets: a, b) folds c and the missing provider ("unknown") into Other.
        assert_eq!(tokens("Other"), 2.5);
        let rollup: f64 = datums
            .iter()
            .filter(|d| &*d.metric == "TokensStreamed" && d.dimensions.len() == 1)
            .map(Datum::sum)
            .sum();
        assert_eq!(rollup, 18.5, "the Environment roll-up has every point");
        let latency = find(&datums, "ProcessingLatencyMs", "a");
        let pairs: Vec<(f64, f64)> = latency
            .iter()
            .flat_map(|d| match &d.value {
                DatumValue::Distribution { values, counts } => values
                    .iter()
                    .copied()
                    .zip(counts.iter().copied())
                    .collect::<Vec<_>>(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(
            pairs.contains(&(5.0, 3.0))
                && pairs.contains(&(50.0, 1.0))
                && pairs.contains(&(10.0, 1.0)),
            "{pairs:?}"
        );
        assert!(exporter
            .render()
            .contains("aistudio_sidecar_metric_values_rejected_total{reason=\"not_finite\"} 1"));
    }

    #[test]
    fn prometheus_gets_the_same_application_metrics() {
        let (mut agg, exporter) = aggregator("");
        agg.observe_line(&line("job.completed", "openai", 120.0), NOW, NOW);
        agg.observe_line(&line("job.completed", "openai", 80.0), NOW, NOW);
        agg.flush(NOW, false);
        let text = exporter.render();
        assert!(text.contains("aistudio_streaming_jobs_completed_total{environment=\"dev\",provider=\"openai\"} 2"), "{text}");
        assert!(text.contains("aistudio_streaming_tokens_streamed_total{environment=\"dev\",provider=\"openai\"} 20"), "{text}");
        assert!(text.contains("aistudio_streaming_processing_latency_ms_sum{environment=\"dev\",provider=\"openai\"} 200"), "{text}");
    }
}
