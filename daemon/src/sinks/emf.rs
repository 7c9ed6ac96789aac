//! CloudWatch Embedded Metric Format: datums as log lines with an `_aws` object, written
//! through the log sinks' buffers like any log line, for teams that prefer log-ingestion pricing to PutMetricData.
//!
//! One line per (timestamp, dimension set): dimension values and metric values are top-level
//! members, the directive names them. Sum metrics publish their period sum as one value;
//! distributions publish every observation (each represented value repeated by its count),
//! at most 100 per metric per line, so percentiles work as with PutMetricData.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::datum::{Datum, DatumValue, Unit};
use serde_json::{json, Map, Value};

/// Metrics per directive (EMF specification, `MetricDirective.Metrics`: "MUST NOT contain more
/// than 100 MetricDefinition objects").
pub const MAX_METRICS_PER_DIRECTIVE: usize = 100;
/// Dimensions per dimension set (EMF specification, `DimensionSet`: "MUST NOT contain more
/// than 30 dimension references").
pub const MAX_DIMENSIONS_PER_SET: usize = 30;
/// Values per metric array (EMF specification: "arrays with up to 100 values").
pub const MAX_VALUES_PER_METRIC: usize = 100;

struct MetricValues {
    unit: Unit,
    storage_resolution: i32,
    values: Vec<f64>,
}

/// A line's timestamp and dimension set.
type GroupKey<'a> = (i64, &'a [(Arc<str>, String)]);

/// Renders datums as EMF lines `(timestamp_ms, line)`.
pub fn render(datums: &[Datum], namespace: &str) -> Vec<(i64, String)> {
    let mut groups: BTreeMap<GroupKey<'_>, BTreeMap<&str, MetricValues>> = BTreeMap::new();
    for datum in datums {
        let group = groups
            .entry((datum.timestamp_ms, &datum.dimensions[..]))
            .or_default();
        let entry = group.entry(&datum.metric).or_insert_with(|| MetricValues {
            unit: datum.unit,
            storage_resolution: datum.storage_resolution,
            values: Vec::new(),
        });
        match &datum.value {
            DatumValue::Stats { sum, .. } => match entry.values.first_mut() {
                Some(total) => *total += sum,
                None => entry.values.push(*sum),
            },
            DatumValue::Distribution { values, counts } => {
                for (value, count) in values.iter().zip(counts) {
                    let repeat = *count as usize;
                    entry.values.extend(std::iter::repeat_n(*value, repeat));
                }
            }
        }
    }
    let mut lines = Vec::new();
    for ((timestamp_ms, dimensions), metrics) in groups {
        let names: Vec<&str> = dimensions
            .iter()
            .take(MAX_DIMENSIONS_PER_SET)
            .map(|(n, _)| &**n)
            .collect();
        let metrics: Vec<(&str, MetricValues)> = metrics.into_iter().collect();
        for block in metrics.chunks(MAX_METRICS_PER_DIRECTIVE) {
            let rounds = block
                .iter()
                .map(|(_, m)| m.values.len().div_ceil(MAX_VALUES_PER_METRIC))
                .max()
                .unwrap_or(0);
            for round in 0..rounds {
                let mut line = Map::new();
                let mut definitions = Vec::new();
                for (name, metric) in block {
                    let start = round * MAX_VALUES_PER_METRIC;
                    let Some(chunk) = metric
                        .values
                        .get(start..(start + MAX_VALUES_PER_METRIC).min(metric.values.len()))
                    else {
                        continue;
                    };
                    if chunk.is_empty() {
                        continue;
                    }
                    definitions.push(json!({
                        "Name": name,
                        "Unit": metric.unit.as_str(),
                        "StorageResolution": metric.storage_resolution,
                    }));
                    let value = if chunk.len() == 1 {
                        json!(chunk[0])
                    } else {
                        json!(chunk)
                    };
                    line.insert((*name).to_owned(), value);
                }
                for (name, value) in dimensions.iter().take(MAX_DIMENSIONS_PER_SET) {
                    line.insert(name.to_string(), Value::String(value.clone()));
                }
                line.insert(
                    "_aws".into(),
                    json!({
                        "Timestamp": timestamp_ms,
                        "CloudWatchMetrics": [{
                            "Namespace": namespace,
                            "Dimensions": [names],
                            "Metrics": definitions,
                        }],
                    }),
                );
                lines.push((timestamp_ms, Value::Object(line).to_string()));
            }
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datum(metric: &str, provider: &str, value: DatumValue) -> Datum {
        Datum {
            metric: metric.into(),
            dimensions: vec![
                ("Environment".into(), "dev".to_owned()),
                ("Provider".into(), provider.to_owned()),
            ]
            .into(),
            timestamp_ms: 1_800_000_000_000,
            unit: if metric.ends_with("Ms") {
                Unit::Milliseconds
            } else {
                Unit::Count
            },
            storage_resolution: 60,
            value,
        }
    }

    #[test]
    fn one_line_per_dimension_set_with_every_observation() {
        let datums = vec![
            datum(
                "JobsCompleted",
                "openai",
                DatumValue::Stats {
                    count: 3.0,
                    sum: 3.0,
                    min: 1.0,
                    max: 1.0,
                },
            ),
            datum(
                "ProcessingLatencyMs",
                "openai",
                DatumValue::Distribution {
                    values: vec![10.0, 20.0],
                    counts: vec![150.0, 1.0],
                },
            ),
            datum(
                "JobsCompleted",
                "bedrock",
                DatumValue::Stats {
                    count: 1.0,
                    sum: 1.0,
                    min: 1.0,
                    max: 1.0,
                },
            ),
        ];
        let lines = render(&datums, "AIStudio/Streaming");
        // bedrock: 1 line; openai: 151 samples → 2 lines.
        assert_eq!(lines.len(), 3);
        let parsed: Vec<Value> = lines
            .iter()
            .map(|(_, l)| serde_json::from_str(l).expect("json"))
            .collect();
        let openai: Vec<&Value> = parsed
            .iter()
            .filter(|v| v["Provider"] == "openai")
            .collect();
        let samples: usize = openai
            .iter()
            .map(|v| v["ProcessingLatencyMs"].as_array().map_or(1, Vec::len))
            .sum();
        assert_eq!(samples, 151);
        assert_eq!(openai[0]["JobsCompleted"], 3.0);
        assert!(
            openai[1].get("JobsCompleted").is_none(),
            "sums are published once"
        );
        assert_eq!(
            openai[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0],
            json!(["Environment", "Provider"])
        );
    }
}
