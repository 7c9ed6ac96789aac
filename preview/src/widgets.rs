//! The widget kinds of a dashboard body, read from its JSON: `metric` (time series, lines or
//! `stacked`, and `singleValue`), `text` (Markdown) and `alarm` status, with the metric rows'
//! `"."` / `"..."` shorthand expanded, per-row options (`stat`, `period`, `label`, `id`,
//! `expression`, `visible`, `yAxis`, `color`), axes and horizontal annotations.

use serde_json::{Map, Value};

use crate::layout::Requested;

/// Statistic of a metric widget that names none (CloudWatch's default).
pub const DEFAULT_STAT: &str = "Average";
/// Period of a metric widget that names none (CloudWatch's default, seconds).
pub const DEFAULT_PERIOD: i64 = 300;

/// One widget as defined.
#[derive(Debug, Clone)]
pub struct Widget {
    /// Index in `widgets`.
    pub index: usize,
    /// `type` as written.
    pub kind_name: String,
    /// `properties.title`, empty when absent.
    pub title: String,
    /// The requested place.
    pub requested: Requested,
    /// What it shows.
    pub kind: WidgetKind,
}

impl Widget {
    /// `widgets[3] "Title"`: how problems name a widget.
    pub fn place_name(&self) -> String {
        if self.title.is_empty() {
            format!("widgets[{}] ({})", self.index, self.kind_name)
        } else {
            format!("widgets[{}] \"{}\"", self.index, self.title)
        }
    }
}

/// The kinds the preview draws.
#[derive(Debug, Clone)]
pub enum WidgetKind {
    /// A `metric` widget.
    Metric(MetricWidget),
    /// A `text` widget: Markdown.
    Text(String),
    /// An `alarm` status widget: alarm ARNs.
    Alarm(Vec<String>),
    /// A kind the preview cannot draw (`log`, `explorer`, `custom`, ...), or a widget that
    /// does not read: the message says which.
    Unsupported(String),
}

/// How a metric widget shows its series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    /// `timeSeries` (the default).
    TimeSeries,
    /// `singleValue`: the latest value of each series.
    SingleValue,
    /// Another view (`bar`, `pie`, `gauge`, `table`), drawn as a time series.
    Other(String),
}

/// `yAxis.left` or `yAxis.right`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Axis {
    /// `min`.
    pub min: Option<f64>,
    /// `max`.
    pub max: Option<f64>,
    /// `label`.
    pub label: Option<String>,
}

/// A horizontal annotation (an alarm threshold, typically).
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    /// `value`.
    pub value: f64,
    /// `label`.
    pub label: String,
    /// On the right axis.
    pub right: bool,
    /// `color`.
    pub color: Option<String>,
}

/// What a metric row reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A metric.
    Metric {
        /// Namespace.
        namespace: String,
        /// MetricName.
        metric_name: String,
        /// Dimensions as written.
        dimensions: Vec<(String, String)>,
    },
    /// A metric-math expression.
    Expression(String),
}

/// One row of `metrics`, shorthand expanded and options applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// What it reads.
    pub source: Source,
    /// `id`.
    pub id: Option<String>,
    /// `label`.
    pub label: Option<String>,
    /// `stat` (the widget's when absent).
    pub stat: String,
    /// `period` (the widget's when absent).
    pub period: i64,
    /// `visible` (default true).
    pub visible: bool,
    /// `yAxis: "right"`.
    pub right: bool,
    /// `color`.
    pub color: Option<String>,
}

impl Row {
    /// The legend label: `label`, else the metric name or the expression's id.
    pub fn legend(&self) -> String {
        if let Some(l) = &self.label {
            return l.clone();
        }
        match &self.source {
            Source::Metric { metric_name, .. } => metric_name.clone(),
            Source::Expression(e) => self.id.clone().unwrap_or_else(|| e.clone()),
        }
    }
}

/// A `metric` widget.
#[derive(Debug, Clone)]
pub struct MetricWidget {
    /// `view`.
    pub view: View,
    /// `stacked`.
    pub stacked: bool,
    /// `period`.
    pub period: i64,
    /// `yAxis.left`.
    pub left: Axis,
    /// `yAxis.right`.
    pub right: Axis,
    /// `annotations.horizontal`.
    pub annotations: Vec<Annotation>,
    /// The rows, in order.
    pub rows: Vec<Row>,
}

/// Reads every widget of a body; an error is the body's (no `widgets` array).
pub fn read_widgets(body: &Value) -> Result<Vec<Widget>, String> {
    let widgets = body
        .get("widgets")
        .and_then(Value::as_array)
        .ok_or("the dashboard body has no `widgets` array")?;
    Ok(widgets
        .iter()
        .enumerate()
        .map(|(i, w)| read_widget(i, w))
        .collect())
}

fn int(obj: Option<&Map<String, Value>>, key: &str) -> Option<i64> {
    obj?.get(key)?.as_i64()
}

fn read_widget(index: usize, w: &Value) -> Widget {
    let obj = w.as_object();
    let props = obj
        .and_then(|o| o.get("properties"))
        .and_then(Value::as_object);
    let kind_name = obj
        .and_then(|o| o.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let title = props
        .and_then(|p| p.get("title"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let requested = Requested {
        x: int(obj, "x"),
        y: int(obj, "y"),
        width: int(obj, "width"),
        height: int(obj, "height"),
    };
    let kind = match (obj, kind_name.as_str()) {
        (None, _) => WidgetKind::Unsupported("a widget is a JSON object with `type` and `properties`".into()),
        (_, "metric") => match props.map(read_metric).transpose() {
            Ok(Some(m)) => WidgetKind::Metric(m),
            Ok(None) => WidgetKind::Unsupported("a metric widget needs `properties`".into()),
            Err(e) => WidgetKind::Unsupported(e),
        },
        (_, "text") => match props.and_then(|p| p.get("markdown")).and_then(Value::as_str) {
            Some(md) => WidgetKind::Text(md.to_owned()),
            None => WidgetKind::Unsupported("a text widget needs `properties.markdown`".into()),
        },
        (_, "alarm") => WidgetKind::Alarm(
            props
                .and_then(|p| p.get("alarms"))
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default(),
        ),
        (_, other) => WidgetKind::Unsupported(format!(
            "widget type `{other}` is not supported by the preview (it draws metric, text and alarm widgets); it is left out of the picture"
        )),
    };
    Widget {
        index,
        kind_name,
        title,
        requested,
        kind,
    }
}

fn axis(props: &Map<String, Value>, side: &str) -> Axis {
    let a = props.get("yAxis").and_then(|y| y.get(side));
    Axis {
        min: a.and_then(|a| a.get("min")).and_then(Value::as_f64),
        max: a.and_then(|a| a.get("max")).and_then(Value::as_f64),
        label: a
            .and_then(|a| a.get("label"))
            .and_then(Value::as_str)
            .map(str::to_owned),
    }
}

fn read_metric(props: &Map<String, Value>) -> Result<MetricWidget, String> {
    let stat = props
        .get("stat")
        .and_then(Value::as_str)
        .unwrap_or(DEFAULT_STAT)
        .to_owned();
    let period = props
        .get("period")
        .and_then(Value::as_i64)
        .filter(|p| *p > 0)
        .unwrap_or(DEFAULT_PERIOD);
    let view = match props.get("view").and_then(Value::as_str) {
        None | Some("timeSeries") => View::TimeSeries,
        Some("singleValue") => View::SingleValue,
        Some(other) => View::Other(other.to_owned()),
    };
    let annotations = props
        .get("annotations")
        .and_then(|a| a.get("horizontal"))
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|a| {
                    Some(Annotation {
                        value: a.get("value")?.as_f64()?,
                        label: a
                            .get("label")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned(),
                        right: a.get("yAxis").and_then(Value::as_str) == Some("right"),
                        color: a.get("color").and_then(Value::as_str).map(str::to_owned),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let rows = props
        .get("metrics")
        .and_then(Value::as_array)
        .ok_or("a metric widget needs a `metrics` array")?;
    Ok(MetricWidget {
        view,
        stacked: props
            .get("stacked")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        period,
        left: axis(props, "left"),
        right: axis(props, "right"),
        annotations,
        rows: expand_rows(rows, &stat, period)?,
    })
}

/// Expands the rows: `"."` repeats the previous row's entry at the same position, `"..."`
/// repeats every remaining entry of the previous row; a trailing object holds the options.
pub fn expand_rows(rows: &[Value], stat: &str, period: i64) -> Result<Vec<Row>, String> {
    let mut previous: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let items = row
            .as_array()
            .ok_or_else(|| format!("metrics[{i}] is not an array"))?;
        let (strings, options) = match items.last() {
            Some(Value::Object(o)) => (&items[..items.len() - 1], Some(o)),
            _ => (&items[..], None),
        };
        let opt_str = |k: &str| {
            options
                .and_then(|o| o.get(k))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let mut row = Row {
            source: Source::Expression(String::new()),
            id: opt_str("id"),
            label: opt_str("label"),
            stat: opt_str("stat").unwrap_or_else(|| stat.to_owned()),
            period: options
                .and_then(|o| o.get("period"))
                .and_then(Value::as_i64)
                .filter(|p| *p > 0)
                .unwrap_or(period),
            visible: options
                .and_then(|o| o.get("visible"))
                .and_then(Value::as_bool)
                .unwrap_or(true),
            right: opt_str("yAxis").as_deref() == Some("right"),
            color: opt_str("color"),
        };
        if let Some(expr) = opt_str("expression") {
            row.source = Source::Expression(expr);
            out.push(row);
            continue;
        }
        let mut expanded = Vec::new();
        for (pos, item) in strings.iter().enumerate() {
            let text = item
                .as_str()
                .ok_or_else(|| format!("metrics[{i}][{pos}] is not a string"))?;
            match text {
                "..." => expanded.extend(previous.iter().skip(pos).cloned()),
                "." => expanded.push(previous.get(pos).cloned().ok_or_else(|| {
                    format!("metrics[{i}][{pos}] is \".\" but the row above has nothing there")
                })?),
                other => expanded.push(other.to_owned()),
            }
        }
        if expanded.len() < 2 || expanded.len() % 2 != 0 {
            return Err(format!(
                "metrics[{i}] is not [namespace, metric name, dimension name, value, ...]"
            ));
        }
        row.source = Source::Metric {
            namespace: expanded[0].clone(),
            metric_name: expanded[1].clone(),
            dimensions: expanded[2..]
                .chunks(2)
                .map(|p| (p[0].clone(), p[1].clone()))
                .collect(),
        };
        previous = expanded;
        out.push(row);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shorthand_rows_expand_like_the_console() {
        let rows = json!([
            ["AIStudio/Streaming", "ErrorCount", "Environment", "dev", "Endpoint", "/a", {"id": "e", "visible": false}],
            [".", "RequestCount", ".", ".", ".", ".", {"stat": "SampleCount"}],
            ["...", {"stat": "p95", "label": "p95", "yAxis": "right", "period": 60}],
            [{"expression": "100 * e", "id": "rate"}]
        ]);
        let rows = expand_rows(rows.as_array().expect("array"), "Sum", 300).expect("expands");
        let dims = vec![
            ("Environment".to_owned(), "dev".to_owned()),
            ("Endpoint".to_owned(), "/a".to_owned()),
        ];
        assert_eq!(
            rows[1].source,
            Source::Metric {
                namespace: "AIStudio/Streaming".into(),
                metric_name: "RequestCount".into(),
                dimensions: dims.clone()
            }
        );
        assert_eq!(rows[2].source, rows[1].source);
        assert_eq!(
            (rows[2].stat.as_str(), rows[2].period, rows[2].right),
            ("p95", 60, true)
        );
        assert_eq!(
            (rows[1].stat.as_str(), rows[1].period),
            ("SampleCount", 300)
        );
        assert!(!rows[0].visible && rows[1].visible);
        assert_eq!(rows[3].source, Source::Expression("100 * e".into()));
        assert_eq!(rows[3].legend(), "rate");
        assert_eq!(rows[1].legend(), "RequestCount");
    }

    #[test]
    fn bad_rows_and_kinds_are_named() {
        let err = expand_rows(json!([[".", "M"]]).as_array().expect("array"), "Sum", 60)
            .expect_err("nothing above");
        assert!(err.contains("metrics[0][0]"), "{err}");
        let widgets = read_widgets(&json!({"widgets": [
            {"type": "log", "properties": {"title": "Logs"}},
            {"type": "metric", "properties": {"title": "T"}}
        ]}))
        .expect("reads");
        assert!(matches!(&widgets[0].kind, WidgetKind::Unsupported(m) if m.contains("`log`")));
        assert!(matches!(&widgets[1].kind, WidgetKind::Unsupported(m) if m.contains("metrics")));
        assert_eq!(widgets[0].place_name(), "widgets[0] \"Logs\"");
        assert!(read_widgets(&json!({"w": []})).is_err());
    }
}
