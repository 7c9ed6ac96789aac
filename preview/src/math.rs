//! The series of a metric widget: each row's statistic per period from the data, and the
//! `id` + `expression` rows evaluated with the offline alarm engine's metric-math parser and
//! evaluator (`alarm_eval::mathexpr`, `alarm_eval::matheval`: one implementation of
//! CloudWatch's missing-data rules). `SEARCH` is refused with a message: it queries the
//! live metric list, which a file of datums does not have.

use alarm_eval::matheval::{self, Scope, Series, Val};
use alarm_eval::mathexpr;
use alarm_eval::stats::Statistic;

use crate::datums::{MetricData, MetricKey};
use crate::stats::period_starts;
use crate::widgets::{Row, Source};

/// Expressions referring to expressions: deeper than this is a cycle (CloudWatch itself
/// refuses cycles; a dashboard has a handful of ids).
const MAX_EXPRESSION_DEPTH: usize = 16;

/// Why a row has no line.
#[derive(Debug, Clone, PartialEq)]
pub enum Missing {
    /// The data holds nothing for it (an ALB, ECS or RDS metric on a laptop).
    NoData,
    /// It cannot be previewed: `SEARCH`, an unsupported function or statistic.
    Refused(String),
}

/// One computed series of a widget.
#[derive(Debug, Clone, PartialEq)]
pub struct Computed {
    /// Legend label.
    pub label: String,
    /// Index of its row in `metrics`.
    pub row: usize,
    /// Shown (`visible` not false).
    pub visible: bool,
    /// On the right axis.
    pub right: bool,
    /// `color`.
    pub color: Option<String>,
    /// Points `(period start, value)`, oldest first, missing periods left out.
    pub points: Vec<(i64, f64)>,
    /// Unit of the datums, for metric rows.
    pub unit: Option<String>,
    /// Why there are no points, when there are none.
    pub missing: Option<Missing>,
}

/// The time range a preview covers, seconds, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// First second.
    pub from: i64,
    /// Last second.
    pub to: i64,
}

/// Whether an expression is a `SEARCH`.
pub fn is_search(expression: &str) -> bool {
    expression.contains("SEARCH(")
}

struct Rows<'a> {
    rows: &'a [Row],
    data: &'a dyn MetricData,
    range: Range,
}

impl Rows<'_> {
    /// A metric row's values at `starts` (each row keeps its own period; a start that is
    /// not one of its periods is missing).
    fn metric_at(&self, row: &Row, starts: &[i64]) -> Result<(Series, Option<String>), Missing> {
        let Source::Metric {
            namespace,
            metric_name,
            dimensions,
        } = &row.source
        else {
            return Err(Missing::Refused("not a metric row".into()));
        };
        let stat = Statistic::parse(&row.stat).map_err(Missing::Refused)?;
        let key = MetricKey::new(namespace, metric_name, dimensions.clone());
        let own = period_starts(self.range.from, self.range.to, row.period);
        let (values, unit) = self.data.series(&key, &stat, row.period, &own);
        let at = starts
            .iter()
            .map(|s| {
                own.binary_search(s)
                    .ok()
                    .and_then(|i| values.get(i).copied().flatten())
            })
            .collect();
        Ok((at, unit))
    }

    fn eval_row(&self, index: usize, starts: &[i64], depth: usize) -> Result<Val, String> {
        let row = &self.rows[index];
        match &row.source {
            Source::Metric { .. } => match self.metric_at(row, starts) {
                Ok((s, _)) => Ok(Val::Series(s)),
                Err(Missing::Refused(m)) => Err(m),
                Err(Missing::NoData) => Ok(Val::Series(vec![None; starts.len()])),
            },
            Source::Expression(text) => {
                if is_search(text) {
                    return Err(search_message());
                }
                if depth > MAX_EXPRESSION_DEPTH {
                    return Err(format!(
                        "expressions refer to each other more than {MAX_EXPRESSION_DEPTH} deep: is there a cycle of ids?"
                    ));
                }
                let expr =
                    mathexpr::parse(text).map_err(|e| format!("expression `{text}`: {e}"))?;
                let scope = WidgetScope {
                    rows: self,
                    starts,
                    depth: depth + 1,
                };
                matheval::eval(&expr, &scope).map_err(|e| format!("expression `{text}`: {e}"))
            }
        }
    }
}

fn search_message() -> String {
    "SEARCH expressions are not previewed: they query the live list of metrics, which datums do \
     not have (name the metrics in rows, or check this series on the console)"
        .to_owned()
}

struct WidgetScope<'a> {
    rows: &'a Rows<'a>,
    starts: &'a [i64],
    depth: usize,
}

impl Scope for WidgetScope<'_> {
    fn lookup(&self, id: &str) -> Result<Val, String> {
        let index = self
            .rows
            .rows
            .iter()
            .position(|r| r.id.as_deref() == Some(id))
            .ok_or_else(|| format!("no row has id `{id}`"))?;
        self.rows.eval_row(index, self.starts, self.depth)
    }

    fn metrics(&self, filter: &str) -> Vec<Series> {
        self.rows
            .rows
            .iter()
            .enumerate()
            .filter(|(_, r)| matches!(r.source, Source::Metric { .. }))
            .filter(|(_, r)| r.id.as_deref().unwrap_or("").contains(filter))
            .filter_map(
                |(i, _)| match self.rows.eval_row(i, self.starts, self.depth) {
                    Ok(Val::Series(s)) => Some(s),
                    _ => None,
                },
            )
            .collect()
    }
}

fn points(starts: &[i64], series: &Series) -> Vec<(i64, f64)> {
    starts
        .iter()
        .zip(series)
        .filter_map(|(t, v)| v.map(|v| (*t, v)))
        .collect()
}

/// Every series of a widget's rows over `range`; an expression giving an array yields one
/// series per member.
pub fn compute(rows: &[Row], data: &dyn MetricData, range: Range) -> Vec<Computed> {
    let ctx = Rows { rows, data, range };
    let mut out = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        let starts = period_starts(range.from, range.to, row.period);
        let base = Computed {
            label: row.legend(),
            row: index,
            visible: row.visible,
            right: row.right,
            color: row.color.clone(),
            points: Vec::new(),
            unit: None,
            missing: None,
        };
        let finish = |mut c: Computed| {
            if c.points.is_empty() && c.missing.is_none() {
                c.missing = Some(Missing::NoData);
            }
            c
        };
        match &row.source {
            Source::Metric { .. } => match ctx.metric_at(row, &starts) {
                Ok((s, unit)) => out.push(finish(Computed {
                    points: points(&starts, &s),
                    unit,
                    ..base
                })),
                Err(m) => out.push(Computed {
                    missing: Some(m),
                    ..base
                }),
            },
            Source::Expression(_) => match ctx.eval_row(index, &starts, 0) {
                Ok(Val::Series(s)) => out.push(finish(Computed {
                    points: points(&starts, &s),
                    ..base
                })),
                Ok(Val::Scalar(v)) => out.push(finish(Computed {
                    points: starts.iter().map(|t| (*t, v)).collect(),
                    ..base
                })),
                Ok(Val::Array(all)) => {
                    for (k, s) in all.iter().enumerate() {
                        out.push(finish(Computed {
                            label: format!("{} {}", base.label, k + 1),
                            points: points(&starts, s),
                            ..base.clone()
                        }));
                    }
                }
                Ok(other) => out.push(Computed {
                    missing: Some(Missing::Refused(format!(
                        "the expression gives {other:?}, not a time series"
                    ))),
                    ..base
                }),
                Err(m) => out.push(Computed {
                    missing: Some(Missing::Refused(m)),
                    ..base
                }),
            },
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datums::{Datum, DatumStore, Observation};
    use crate::widgets::expand_rows;
    use serde_json::json;

    fn store() -> DatumStore {
        let mut s = DatumStore::default();
        let dims = |e: &str| {
            vec![
                ("Environment".into(), "dev".into()),
                ("Endpoint".into(), e.into()),
            ]
        };
        for (t, req, err) in [(0, 10.0, 1.0), (60, 20.0, 0.0), (120, 5.0, 5.0)] {
            s.insert(
                MetricKey::new("N", "RequestCount", dims("/a")),
                Datum {
                    timestamp: t,
                    unit: Some("Count".into()),
                    observation: Observation::Value(req),
                },
            );
            if err > 0.0 {
                s.insert(
                    MetricKey::new("N", "ErrorCount", dims("/a")),
                    Datum {
                        timestamp: t + 5,
                        unit: None,
                        observation: Observation::Value(err),
                    },
                );
            }
        }
        s
    }

    #[test]
    fn expressions_combine_rows_by_id_with_fill_and_hidden_inputs() {
        let rows = json!([
            [{"expression": "100 * FILL(err, 0) / req", "label": "rate", "id": "rate"}],
            ["N", "ErrorCount", "Environment", "dev", "Endpoint", "/a", {"id": "err", "visible": false}],
            [".", "RequestCount", ".", ".", ".", ".", {"id": "req", "visible": false}],
            [{"expression": "SEARCH('{N} MetricName=\"ErrorCount\"', 'Sum', 60)", "id": "s"}],
            ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", "alb"],
            [{"expression": "ANOMALY_DETECTION_BAND(req)", "id": "band"}]
        ]);
        let rows = expand_rows(rows.as_array().expect("rows"), "Sum", 60).expect("rows");
        let out = compute(&rows, &store(), Range { from: 0, to: 179 });
        assert_eq!(out[0].points, vec![(0, 10.0), (60, 0.0), (120, 100.0)]);
        assert!(!out[1].visible && out[1].points.len() == 2);
        assert_eq!(out[2].unit.as_deref(), Some("Count"));
        assert!(matches!(&out[3].missing, Some(Missing::Refused(m)) if m.contains("SEARCH")));
        assert_eq!(out[4].missing, Some(Missing::NoData));
        assert!(
            matches!(&out[5].missing, Some(Missing::Refused(m)) if m.contains("not supported offline"))
        );
    }
}
