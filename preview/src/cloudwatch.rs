//! Datums read back from CloudWatch: every metric the dashboards (and their alarms) read,
//! fetched with GetMetricData through the sidecar's AWS clients (`aistudio_core::aws`: the
//! `[aws]` settings, the same timeouts and bounded attempts as every other call), against an
//! emulator or a real account.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aistudio_core::aws::{describe, AwsClients};
use alarm_eval::stats::Statistic;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
use aws_smithy_types::DateTime;

use crate::datums::{MetricData, MetricKey};
use crate::error::PreviewError;
use crate::math::Range;
use crate::preview::Dashboard;
use crate::stats::period_start;
use crate::widgets::{self, Source, WidgetKind};

/// Queries per GetMetricData request (CloudWatch API reference, GetMetricData
/// `MetricDataQueries`: "maximum of 500").
pub const MAX_QUERIES_PER_REQUEST: usize = 500;
/// Pages followed per request: a preview of a few hours at one-minute periods needs one;
/// past this the range is too large for a preview.
pub const MAX_PAGES: usize = 20;

/// One metric read with one statistic and period.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Query {
    /// The metric.
    pub key: MetricKey,
    /// The statistic as written (`Sum`, `p95`).
    pub stat: String,
    /// Seconds.
    pub period: i64,
}

/// Every metric query of the dashboards' metric rows, deduplicated.
pub fn queries(dashboards: &[Dashboard]) -> Vec<Query> {
    let mut out = BTreeSet::new();
    for d in dashboards {
        for w in widgets::read_widgets(&d.body).unwrap_or_default() {
            let WidgetKind::Metric(m) = &w.kind else {
                continue;
            };
            for row in &m.rows {
                if let Source::Metric {
                    namespace,
                    metric_name,
                    dimensions,
                } = &row.source
                {
                    out.insert(Query {
                        key: MetricKey::new(namespace, metric_name, dimensions.clone()),
                        stat: row.stat.clone(),
                        period: row.period,
                    });
                }
            }
        }
    }
    out.into_iter().collect()
}

/// What GetMetricData returned, by query.
#[derive(Debug, Clone, Default)]
pub struct CloudWatchData {
    values: HashMap<Query, BTreeMap<i64, f64>>,
}

impl CloudWatchData {
    /// Adds one returned point, at the start of its period (aligned on the epoch, as the
    /// datum file's periods are).
    pub fn insert(&mut self, query: Query, timestamp: i64, value: f64) {
        let start = period_start(timestamp, query.period.max(1));
        self.values.entry(query).or_default().insert(start, value);
    }
}

impl MetricData for CloudWatchData {
    fn series(
        &self,
        key: &MetricKey,
        stat: &Statistic,
        period: i64,
        starts: &[i64],
    ) -> (Vec<Option<f64>>, Option<String>) {
        let query = Query {
            key: key.clone(),
            stat: stat.to_string(),
            period,
        };
        let found = self.values.get(&query);
        (
            starts
                .iter()
                .map(|s| found.and_then(|m| m.get(s).copied()))
                .collect(),
            None,
        )
    }

    fn time_span(&self) -> Option<(i64, i64)> {
        let mut all = self.values.values().flat_map(|m| m.keys().copied());
        let first = all.next()?;
        Some(all.fold((first, first), |(lo, hi), t| (lo.min(t), hi.max(t))))
    }
}

fn metric_query(i: usize, q: &Query) -> MetricDataQuery {
    let dimensions = q
        .key
        .dimensions
        .iter()
        .map(|(name, value)| Dimension::builder().name(name).value(value).build())
        .collect();
    MetricDataQuery::builder()
        .id(format!("q{i}"))
        .return_data(true)
        .metric_stat(
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace(&q.key.namespace)
                        .metric_name(&q.key.metric_name)
                        .set_dimensions(Some(dimensions))
                        .build(),
                )
                .period(i32::try_from(q.period).unwrap_or(i32::MAX))
                .stat(&q.stat)
                .build(),
        )
        .build()
}

/// Start times are aligned on the hour: CloudWatch answers best "when StartTime and EndTime
/// align with the Period and the beginning and end of an hour" (GetMetricData reference).
const ALIGN_SECS: i64 = 3_600;

/// Fetches every query over `range` (its start rounded down to the hour). The statistic is normalised (`p95.0` and `p95` are one)
/// so that lookups by [`Statistic`] find it.
pub async fn fetch(
    aws: &AwsClients,
    queries: &[Query],
    range: Range,
) -> Result<CloudWatchData, PreviewError> {
    let mut data = CloudWatchData::default();
    let normalised: Vec<Query> = queries
        .iter()
        .filter_map(|q| {
            Statistic::parse(&q.stat).ok().map(|s| Query {
                stat: s.to_string(),
                ..q.clone()
            })
        })
        .collect();
    for (batch_no, batch) in normalised.chunks(MAX_QUERIES_PER_REQUEST).enumerate() {
        let offset = batch_no * MAX_QUERIES_PER_REQUEST;
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let resp = aws
                .cloudwatch
                .get_metric_data()
                .set_metric_data_queries(Some(
                    batch
                        .iter()
                        .enumerate()
                        .map(|(i, q)| metric_query(offset + i, q))
                        .collect(),
                ))
                .start_time(DateTime::from_secs(period_start(range.from, ALIGN_SECS)))
                .end_time(DateTime::from_secs(range.to.saturating_add(1)))
                .scan_by(ScanBy::TimestampAscending)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| PreviewError::CloudWatch(describe(&e)))?;
            for result in resp.metric_data_results() {
                let Some(index) = result
                    .id()
                    .and_then(|id| id.strip_prefix('q'))
                    .and_then(|n| n.parse::<usize>().ok())
                    .and_then(|n| n.checked_sub(offset))
                else {
                    continue;
                };
                let Some(query) = batch.get(index) else {
                    continue;
                };
                for (t, v) in result.timestamps().iter().zip(result.values()) {
                    if v.is_finite() {
                        data.insert(query.clone(), t.secs(), *v);
                    }
                }
            }
            token = resp.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
    }
    Ok(data)
}
