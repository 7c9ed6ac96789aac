//! Input series of a test: the compact per-period notation (`values`, `samples`) and which of
//! the alarm's metrics each series feeds.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::alarm::Alarm;
use crate::evaluate::PeriodData;
use crate::payload::Dimension;
use crate::testfile::{FileError, Located};

/// One input series as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesDef {
    /// MetricName or, for metric math, a query Id.
    pub metric: Spanned<String>,
    /// Namespace (default: the alarm's metric with that name).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Dimensions as `{ Name = "Value" }` (default: the alarm's). A set the alarm does not
    /// read is allowed: it shows the alarm ignores it.
    #[serde(default)]
    pub dimensions: Option<BTreeMap<String, String>>,
    /// Seconds per value (default and only accepted value: the alarm's period).
    #[serde(default)]
    pub period: Option<Spanned<i64>>,
    /// One statistic value per period: `"0 0 5x10 _ _x3"`.
    #[serde(default)]
    pub values: Option<Spanned<String>>,
    /// Raw samples per period: `["120x300 15000x20", "_", { repeat = 3, samples = "5" }]`.
    #[serde(default)]
    pub samples: Option<Spanned<Vec<SamplesDef>>>,
}

/// One period of raw samples, or several equal ones.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum SamplesDef {
    /// `"120x300 15000x20"`; `"_"` or `""` for a missing period.
    One(String),
    /// The same samples for `repeat` periods.
    Repeated {
        /// Number of periods.
        repeat: usize,
        /// The samples of each.
        samples: String,
    },
}

/// Parses one statistic value per period: numbers, `_` for a missing period, `VxK` for K
/// periods of V (`_xK` too).
pub fn parse_values(text: &str) -> Result<Vec<PeriodData>, String> {
    let mut out = Vec::new();
    for token in text.split_whitespace() {
        let (value, times) = repeat_of(token)?;
        let data = if value == "_" {
            PeriodData::Missing
        } else {
            PeriodData::Value(number(value, token)?)
        };
        extend(&mut out, data, times)?;
    }
    Ok(out)
}

/// A test runs at most this many periods: two weeks of one-minute periods (20,160), with
/// room; longer runs say nothing a shorter one does not and would only eat memory.
pub const MAX_PERIODS: usize = 100_000;

fn extend(out: &mut Vec<PeriodData>, data: PeriodData, times: usize) -> Result<(), String> {
    if out.len().saturating_add(times) > MAX_PERIODS {
        return Err(format!(
            "a series of more than {MAX_PERIODS} periods: write a shorter test"
        ));
    }
    out.extend(std::iter::repeat_n(data, times));
    Ok(())
}

/// Parses one period's raw samples: `V` or `VxK` (K samples of V), space separated; `_` or
/// nothing for a period without data.
pub fn parse_samples(text: &str) -> Result<PeriodData, String> {
    let text = text.trim();
    if text.is_empty() || text == "_" {
        return Ok(PeriodData::Missing);
    }
    let mut samples = Vec::new();
    for token in text.split_whitespace() {
        let (value, times) = repeat_of(token)?;
        samples.push((number(value, token)?, times as u64));
    }
    Ok(PeriodData::Samples(samples))
}

fn repeat_of(token: &str) -> Result<(&str, usize), String> {
    match token.split_once('x') {
        Some((value, times)) if !value.is_empty() && !times.is_empty() => {
            match times.parse::<usize>() {
                Ok(n) if n >= 1 => Ok((value, n)),
                _ => Err(format!(
                    "`{token}`: a repeat is VALUExCOUNT with COUNT at least 1, e.g. `5x10` or \
                     `_x3`"
                )),
            }
        }
        _ => Ok((token, 1)),
    }
}

fn number(value: &str, token: &str) -> Result<f64, String> {
    value
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| {
            format!(
                "`{token}` is not a value: write a number, `_` for a missing period, or \
                 VALUExCOUNT such as `0x5`"
            )
        })
}

fn metric_list(alarm: &Alarm) -> String {
    alarm
        .metrics
        .iter()
        .map(|m| format!("`{}` ({}/{})", m.id, m.namespace, m.metric_name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn series_data(
    loc: &Located,
    s: &Spanned<SeriesDef>,
    alarm: &Alarm,
) -> Result<Vec<PeriodData>, FileError> {
    let def = s.get_ref();
    if let Some(p) = &def.period {
        if *p.get_ref() != alarm.period {
            return Err(loc.at(
                p,
                format!(
                    "this series has one value per {} s but {} evaluates {} s periods: give one \
                     value per {} s period (and drop `period`, it defaults to the alarm's)",
                    p.get_ref(),
                    alarm.name,
                    alarm.period,
                    alarm.period
                ),
            ));
        }
    }
    match (&def.values, &def.samples) {
        (Some(v), None) => parse_values(v.get_ref()).map_err(|e| loc.at(v, e)),
        (None, Some(list)) => {
            let mut out = Vec::new();
            for item in list.get_ref() {
                let (text, times) = match item {
                    SamplesDef::One(t) => (t.as_str(), 1),
                    SamplesDef::Repeated { repeat, samples } => (samples.as_str(), *repeat),
                };
                let period = parse_samples(text).map_err(|e| loc.at(list, e))?;
                extend(&mut out, period, times).map_err(|e| loc.at(list, e))?;
            }
            Ok(out)
        }
        _ => Err(loc.at(
            s,
            "give a series either `values = \"1 2 _ 3x4\"` (one value per period) or \
             `samples = [\"120x300 15000x2\", \"_\"]` (raw samples per period), not both",
        )),
    }
}

/// The series of a test, bound to the alarm's metrics.
pub struct Series<'a> {
    /// Data per metric of the alarm (`None`: no series given).
    pub data: Vec<Option<Vec<PeriodData>>>,
    /// Series of dimension sets the alarm does not read, labelled.
    pub unread: Vec<(String, Vec<PeriodData>)>,
    /// Each series given, with its number of periods.
    pub lengths: Vec<(&'a Spanned<SeriesDef>, usize)>,
}

/// Which metrics of `alarm` a series feeds; `Ok(None)` for a dimension set it does not read.
fn targets(loc: &Located, sd: &SeriesDef, alarm: &Alarm) -> Result<Option<Vec<usize>>, FileError> {
    let name = sd.metric.get_ref();
    let candidates: Vec<usize> = (0..alarm.metrics.len())
        .filter(|i| {
            let m = &alarm.metrics[*i];
            (m.id == *name || m.metric_name == *name)
                && sd.namespace.as_ref().is_none_or(|ns| *ns == m.namespace)
        })
        .collect();
    if candidates.is_empty() {
        return Err(loc.at(
            &sd.metric,
            format!(
                "{} does not read `{name}`: it reads {}; write one of those ids or metric names",
                alarm.name,
                metric_list(alarm)
            ),
        ));
    }
    if let Some(dims) = &sd.dimensions {
        let mut want: Vec<Dimension> = dims
            .iter()
            .map(|(k, v)| Dimension {
                name: k.clone(),
                value: v.clone(),
            })
            .collect();
        want.sort();
        let hit: Vec<usize> = candidates
            .into_iter()
            .filter(|i| alarm.metrics[*i].dimensions == want)
            .collect();
        return Ok((!hit.is_empty()).then_some(hit));
    }
    let first = &alarm.metrics[candidates[0]].dimensions;
    if candidates
        .iter()
        .any(|i| alarm.metrics[*i].dimensions != *first)
    {
        return Err(loc.at(
            &sd.metric,
            format!(
                "`{name}` is read with several dimension sets: write the query id instead, or \
                 add `dimensions = {{ Name = \"Value\" }}`"
            ),
        ));
    }
    Ok(Some(candidates))
}

/// Binds every series of a test to the metrics of `alarm`.
pub fn bind_series<'a>(
    loc: &Located,
    series: &'a [Spanned<SeriesDef>],
    alarm: &Alarm,
) -> Result<Series<'a>, FileError> {
    let mut out = Series {
        data: vec![None; alarm.metrics.len()],
        unread: Vec::new(),
        lengths: Vec::new(),
    };
    for s in series {
        let sd = s.get_ref();
        let found = targets(loc, sd, alarm)?;
        let values = series_data(loc, s, alarm)?;
        out.lengths.push((s, values.len()));
        let Some(targets) = found else {
            let label = sd
                .dimensions
                .iter()
                .flatten()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            out.unread.push((
                format!("{}{{{label}}} (not read)", sd.metric.get_ref()),
                values,
            ));
            continue;
        };
        if alarm.ignore_low_sample_count && targets.contains(&0) && sd.values.is_some() {
            return Err(loc.at(
                &sd.metric,
                format!(
                    "{} reads {} with EvaluateLowSampleCountPercentile = ignore, which depends \
                     on each period's sample count: give `samples = [\"120x300 15000x20\", ...]` \
                     instead of `values`",
                    alarm.name, alarm.metrics[0].stat
                ),
            ));
        }
        for t in targets {
            if out.data[t].is_some() {
                return Err(loc.at(
                    &sd.metric,
                    format!(
                        "a second series for `{}`: give each metric once",
                        alarm.metrics[t].id
                    ),
                ));
            }
            out.data[t] = Some(values.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_values() {
        let v = parse_values("0 1.5 _ 2x3 _x2").expect("parses");
        assert_eq!(
            v,
            vec![
                PeriodData::Value(0.0),
                PeriodData::Value(1.5),
                PeriodData::Missing,
                PeriodData::Value(2.0),
                PeriodData::Value(2.0),
                PeriodData::Value(2.0),
                PeriodData::Missing,
                PeriodData::Missing,
            ]
        );
        for bad in ["1x0", "abc", "1xx", "NaN", "inf"] {
            let err = parse_values(bad).expect_err(bad);
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn compact_samples() {
        assert_eq!(
            parse_samples("120x300 15000").expect("parses"),
            PeriodData::Samples(vec![(120.0, 300), (15000.0, 1)])
        );
        assert_eq!(parse_samples(" _ ").expect("parses"), PeriodData::Missing);
        assert_eq!(parse_samples("").expect("parses"), PeriodData::Missing);
        assert!(parse_samples("1 x").is_err());
    }
}
