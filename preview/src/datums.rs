//! The datums a preview draws: the NDJSON file the sidecar writes on its embedded default
//! (`<data_dir>/metrics.ndjson`, one PutMetricData `MetricDatum` per line with its
//! `Namespace`), indexed by metric and dimension set.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use alarm_eval::stats::Statistic;

use crate::error::Problem;
use crate::stats;

/// Lines of one datum file that may be reported one by one; past this, one summary line
/// (a file of garbage must not flood the terminal).
pub const MAX_LINE_PROBLEMS: usize = 10;

/// The largest datum file read: ten times the sidecar's rotation size (100 MiB,
/// `[metrics] file_max_bytes`); a bigger file is not one the sidecar wrote.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024 * 1024;

/// A metric: namespace, name and dimensions sorted by name (CloudWatch treats a dimension
/// set as unordered).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetricKey {
    /// Namespace.
    pub namespace: String,
    /// MetricName.
    pub metric_name: String,
    /// Dimensions, sorted by name.
    pub dimensions: Vec<(String, String)>,
}

impl MetricKey {
    /// A key; the dimensions are sorted here.
    pub fn new(namespace: &str, metric_name: &str, mut dimensions: Vec<(String, String)>) -> Self {
        dimensions.sort();
        Self {
            namespace: namespace.to_owned(),
            metric_name: metric_name.to_owned(),
            dimensions,
        }
    }
}

/// What one datum holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// `Value`: one sample.
    Value(f64),
    /// `StatisticValues`: a statistic set.
    Stats {
        /// SampleCount.
        count: f64,
        /// Sum.
        sum: f64,
        /// Minimum.
        min: f64,
        /// Maximum.
        max: f64,
    },
    /// `Values`/`Counts`: the distribution, `(value, count)`.
    Distribution(Vec<(f64, f64)>),
}

/// One datum at its timestamp (seconds since the epoch).
#[derive(Debug, Clone, PartialEq)]
pub struct Datum {
    /// Seconds since the epoch.
    pub timestamp: i64,
    /// The unit it was published with, if any.
    pub unit: Option<String>,
    /// The observation.
    pub observation: Observation,
}

/// Every datum, by metric.
#[derive(Debug, Clone, Default)]
pub struct DatumStore {
    series: HashMap<MetricKey, Vec<Datum>>,
}

impl DatumStore {
    /// Adds one datum.
    pub fn insert(&mut self, key: MetricKey, datum: Datum) {
        self.series.entry(key).or_default().push(datum);
    }

    /// The datums of `key`, in file order.
    pub fn get(&self, key: &MetricKey) -> &[Datum] {
        self.series.get(key).map_or(&[], Vec::as_slice)
    }

    /// Number of datums.
    pub fn len(&self) -> usize {
        self.series.values().map(Vec::len).sum()
    }

    /// Whether no datum was read.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// The earliest and latest timestamp, if any datum was read.
    pub fn time_span(&self) -> Option<(i64, i64)> {
        let mut all = self.series.values().flatten().map(|d| d.timestamp);
        let first = all.next()?;
        Some(all.fold((first, first), |(lo, hi), t| (lo.min(t), hi.max(t))))
    }
}

/// Where a preview's numbers come from: the datum file, or CloudWatch's GetMetricData.
pub trait MetricData {
    /// The statistic of `key` for each period starting at `starts` (`None`: no data in that
    /// period), and the unit the datums carry.
    fn series(
        &self,
        key: &MetricKey,
        stat: &Statistic,
        period: i64,
        starts: &[i64],
    ) -> (Vec<Option<f64>>, Option<String>);

    /// The earliest and latest timestamp of the data (seconds).
    fn time_span(&self) -> Option<(i64, i64)>;
}

impl MetricData for DatumStore {
    fn series(
        &self,
        key: &MetricKey,
        stat: &Statistic,
        period: i64,
        starts: &[i64],
    ) -> (Vec<Option<f64>>, Option<String>) {
        let datums = self.get(key);
        let unit = datums.iter().find_map(|d| d.unit.clone());
        (stats::series(datums, stat, period, starts), unit)
    }

    fn time_span(&self) -> Option<(i64, i64)> {
        DatumStore::time_span(self)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawDimension {
    name: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawStats {
    sample_count: f64,
    sum: f64,
    minimum: f64,
    maximum: f64,
}

/// One line as the sidecar writes it (`daemon/src/datum.rs`, `Datum::to_json`).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RawDatum {
    namespace: String,
    metric_name: String,
    #[serde(default)]
    dimensions: Vec<RawDimension>,
    timestamp: i64,
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    storage_resolution: Option<i64>,
    #[serde(default)]
    value: Option<f64>,
    #[serde(default)]
    statistic_values: Option<RawStats>,
    #[serde(default)]
    values: Option<Vec<f64>>,
    #[serde(default)]
    counts: Option<Vec<f64>>,
}

fn observation(raw: &RawDatum) -> Result<Observation, String> {
    let finite = |v: f64| v.is_finite();
    match (&raw.value, &raw.statistic_values, &raw.values) {
        (Some(v), None, None) if finite(*v) => Ok(Observation::Value(*v)),
        (None, Some(s), None)
            if [s.sample_count, s.sum, s.minimum, s.maximum]
                .into_iter()
                .all(finite) =>
        {
            Ok(Observation::Stats {
                count: s.sample_count,
                sum: s.sum,
                min: s.minimum,
                max: s.maximum,
            })
        }
        (None, None, Some(values)) => {
            let counts = match &raw.counts {
                Some(c) if c.len() == values.len() => c.clone(),
                Some(c) => {
                    return Err(format!(
                        "{} Values but {} Counts: they pair up one to one",
                        values.len(),
                        c.len()
                    ))
                }
                None => vec![1.0; values.len()],
            };
            if values.iter().chain(&counts).any(|v| !v.is_finite()) || counts.iter().any(|c| *c < 0.0)
            {
                return Err("a value or count is not a finite number (counts must be >= 0)".into());
            }
            Ok(Observation::Distribution(
                values.iter().copied().zip(counts).collect(),
            ))
        }
        _ => Err(
            "a datum holds exactly one of Value, StatisticValues or Values/Counts, with finite numbers"
                .into(),
        ),
    }
}

/// Parses one NDJSON line into its metric and datum.
pub fn parse_line(line: &str) -> Result<(MetricKey, Datum), String> {
    let raw: RawDatum = serde_json::from_str(line).map_err(|e| {
        format!("not a metric datum ({e}); each line is one JSON MetricDatum with its Namespace")
    })?;
    // Accepted and not needed: the preview aggregates into each widget's period.
    let _ = raw.storage_resolution;
    let observation = observation(&raw)?;
    let key = MetricKey::new(
        &raw.namespace,
        &raw.metric_name,
        raw.dimensions
            .into_iter()
            .map(|d| (d.name, d.value))
            .collect(),
    );
    Ok((
        key,
        Datum {
            timestamp: raw.timestamp,
            unit: raw.unit,
            observation,
        },
    ))
}

/// Reads a datum file into `store`; each unreadable line is a problem (at most
/// [`MAX_LINE_PROBLEMS`], then one line with the count), an unreadable file one problem.
pub fn read_file(path: &Path, store: &mut DatumStore, problems: &mut Vec<Problem>) {
    let file = path.display().to_string();
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.len() > MAX_FILE_BYTES {
            problems.push(Problem::error(
                &file,
                "",
                format!(
                    "{} bytes is more than the {MAX_FILE_BYTES} a datum file may have; give the sidecar's metrics.ndjson",
                    meta.len()
                ),
            ));
            return;
        }
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            problems.push(Problem::error(
                &file,
                "",
                format!("cannot read the datum file: {e}; give the metrics.ndjson the sidecar wrote (--data)"),
            ));
            return;
        }
    };
    let mut bad = 0usize;
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let result = match std::str::from_utf8(line) {
            Ok(text) if text.trim().is_empty() => continue,
            Ok(text) => parse_line(text),
            Err(_) => Err("not UTF-8 text".to_owned()),
        };
        match result {
            Ok((key, datum)) => store.insert(key, datum),
            Err(message) => {
                bad += 1;
                if bad <= MAX_LINE_PROBLEMS {
                    problems.push(Problem::error(&file, &format!("line {}", i + 1), message));
                }
            }
        }
    }
    if bad > MAX_LINE_PROBLEMS {
        problems.push(Problem::error(
            &file,
            "",
            format!(
                "{} more unreadable line(s) skipped",
                bad - MAX_LINE_PROBLEMS
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_sidecar_lines_and_reports_bad_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("metrics.ndjson");
        std::fs::write(
            &path,
            concat!(
                r#"{"Namespace":"AIStudio/Streaming","MetricName":"JobsCompleted","Dimensions":[{"Name":"Provider","Value":"a"},{"Name":"Environment","Value":"dev"}],"Timestamp":1796121120,"Unit":"Count","StorageResolution":60,"StatisticValues":{"SampleCount":2.0,"Sum":2.0,"Minimum":1.0,"Maximum":1.0}}"#,
                "\n",
                r#"{"Namespace":"AIStudio/Streaming","MetricName":"ResponseTimeMs","Dimensions":[],"Timestamp":1796121130,"Unit":"Milliseconds","Values":[5.0,9.0],"Counts":[3.0,1.0]}"#,
                "\nnot json\n\n",
                r#"{"Namespace":"N","MetricName":"M","Timestamp":1,"Values":[1.0],"Counts":[1.0,2.0]}"#,
                "\n"
            ),
        )
        .expect("write");
        let mut store = DatumStore::default();
        let mut problems = Vec::new();
        read_file(&path, &mut store, &mut problems);
        assert_eq!(store.len(), 2);
        assert_eq!(store.time_span(), Some((1796121120, 1796121130)));
        let key = MetricKey::new(
            "AIStudio/Streaming",
            "JobsCompleted",
            vec![
                ("Environment".into(), "dev".into()),
                ("Provider".into(), "a".into()),
            ],
        );
        assert_eq!(store.get(&key).len(), 1);
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains("line 3") && lines[0].contains("not a metric datum"));
        assert!(lines[1].contains("line 5") && lines[1].contains("1 Values but 2 Counts"));

        let mut problems = Vec::new();
        read_file(
            &dir.path().join("missing.ndjson"),
            &mut store,
            &mut problems,
        );
        assert_eq!(problems.len(), 1);
        assert!(problems[0]
            .to_string()
            .contains("missing.ndjson: cannot read the datum file"));
    }
}
