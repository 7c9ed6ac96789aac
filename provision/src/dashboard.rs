//! Validation of CloudWatch dashboard bodies: quotas, the 24-column grid, overlapping widgets,
//! metric rows (with `"."` shorthand), metric-math ids and expressions, and the catalog.

use std::collections::BTreeSet;

use serde_json::Value;

use super::dimension_sets::{check_dimension_set, check_literal_value, SetProblem};
use super::expr::{check_expression, is_valid_id};
use super::report::Problem;
use aistudio_core::catalog::{catalog_metric, APP_NAMESPACE};
use aistudio_core::limits::{
    is_valid_period, DASHBOARD_GRID_COLUMNS, MAX_METRICS_PER_DASHBOARD, MAX_METRICS_PER_WIDGET,
    MAX_WIDGETS_PER_DASHBOARD, MAX_WIDGET_HEIGHT,
};

/// Top-level keys of a dashboard body (CloudWatch "Dashboard body structure and syntax").
const BODY_KEYS: [&str; 5] = ["widgets", "start", "end", "periodOverride", "variables"];
/// Widget types (CloudWatch "Dashboard body structure and syntax").
const WIDGET_TYPES: [&str; 6] = ["metric", "text", "log", "alarm", "explorer", "custom"];
/// Widget width and height when the body leaves them out (same reference).
const DEFAULT_WIDGET_SIZE: i64 = 6;
/// Dashboard-only periods below a minute (graphs of high-resolution metrics may use 1 and 5 s;
/// same reference, `period`).
const DASHBOARD_ONLY_PERIODS: [i64; 2] = [1, 5];

struct Rect {
    index: usize,
    x: i64,
    y: i64,
    w: i64,
    h: i64,
}

/// Checks one dashboard body; problems are added with paths like `widgets[2].properties`.
pub fn check_dashboard(file: &str, body: &Value, problems: &mut Vec<Problem>) {
    let mut push =
        |path: String, message: String| problems.push(Problem::new(file, &path, message));
    let Some(obj) = body.as_object() else {
        push(
            String::new(),
            "a dashboard body must be a JSON object with a `widgets` array".into(),
        );
        return;
    };
    for key in obj.keys() {
        if !BODY_KEYS.contains(&key.as_str()) {
            push(
                key.clone(),
                format!(
                    "unknown dashboard body key `{key}`; allowed: {}",
                    BODY_KEYS.join(", ")
                ),
            );
        }
    }
    let Some(widgets) = obj.get("widgets").and_then(Value::as_array) else {
        push("widgets".into(), "the body needs a `widgets` array".into());
        return;
    };
    if widgets.len() > MAX_WIDGETS_PER_DASHBOARD {
        push(
            "widgets".into(),
            format!(
                "{} widgets; CloudWatch allows at most {MAX_WIDGETS_PER_DASHBOARD} per dashboard",
                widgets.len()
            ),
        );
    }
    let mut rects = Vec::new();
    let mut total_metrics = 0;
    for (i, widget) in widgets.iter().enumerate() {
        let at = format!("widgets[{i}]");
        let Some(w) = widget.as_object() else {
            push(at, "a widget must be an object".into());
            continue;
        };
        let kind = w.get("type").and_then(Value::as_str).unwrap_or_default();
        if !WIDGET_TYPES.contains(&kind) {
            push(
                format!("{at}.type"),
                format!(
                    "`{kind}` is not a widget type; use one of {}",
                    WIDGET_TYPES.join(", ")
                ),
            );
        }
        let int = |key: &str| w.get(key).map(|v| v.as_i64());
        let mut pos = |key: &str, default: Option<i64>| -> Option<i64> {
            match int(key) {
                Some(Some(v)) => Some(v),
                Some(None) => {
                    push(
                        format!("{at}.{key}"),
                        format!("`{key}` must be a whole number"),
                    );
                    None
                }
                None if default.is_some() => default,
                None => {
                    push(
                        format!("{at}.{key}"),
                        format!("give `{key}` so the layout is fixed and overlaps can be checked"),
                    );
                    None
                }
            }
        };
        let (x, y) = (pos("x", None), pos("y", None));
        let (width, height) = (
            pos("width", Some(DEFAULT_WIDGET_SIZE)),
            pos("height", Some(DEFAULT_WIDGET_SIZE)),
        );
        if let (Some(x), Some(y), Some(wd), Some(ht)) = (x, y, width, height) {
            let mut ok = true;
            if !(1..=DASHBOARD_GRID_COLUMNS).contains(&wd) {
                push(format!("{at}.width"), format!("width {wd} must be 1 to {DASHBOARD_GRID_COLUMNS} (the grid has {DASHBOARD_GRID_COLUMNS} columns)"));
                ok = false;
            }
            if x < 0 || x + wd > DASHBOARD_GRID_COLUMNS {
                push(
                    format!("{at}.x"),
                    format!(
                        "x {x} + width {wd} goes past the grid's {DASHBOARD_GRID_COLUMNS} columns"
                    ),
                );
                ok = false;
            }
            if y < 0 {
                push(format!("{at}.y"), format!("y {y} must not be negative"));
                ok = false;
            }
            if !(1..=MAX_WIDGET_HEIGHT).contains(&ht) {
                push(
                    format!("{at}.height"),
                    format!("height {ht} must be 1 to {MAX_WIDGET_HEIGHT}"),
                );
                ok = false;
            }
            if ok {
                rects.push(Rect {
                    index: i,
                    x,
                    y,
                    w: wd,
                    h: ht,
                });
            }
        }
        if kind == "metric" {
            total_metrics += check_metric_widget(&at, w.get("properties"), &mut push);
        }
    }
    if total_metrics > MAX_METRICS_PER_DASHBOARD {
        push("widgets".into(), format!("{total_metrics} metrics in all; CloudWatch allows at most {MAX_METRICS_PER_DASHBOARD} per dashboard"));
    }
    for (n, a) in rects.iter().enumerate() {
        for b in &rects[n + 1..] {
            if a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h {
                push(
                    format!("widgets[{}]", b.index),
                    format!("overlaps widgets[{}]; move one of them", a.index),
                );
            }
        }
    }
}

/// Checks a metric widget's properties; returns how many metric rows it has.
fn check_metric_widget(
    at: &str,
    props: Option<&Value>,
    push: &mut dyn FnMut(String, String),
) -> usize {
    let Some(props) = props.and_then(Value::as_object) else {
        push(
            format!("{at}.properties"),
            "a metric widget needs a `properties` object".into(),
        );
        return 0;
    };
    if props.get("region").and_then(Value::as_str).is_none() {
        push(
            format!("{at}.properties.region"),
            "a metric widget needs a `region` (use \"${Region}\")".into(),
        );
    }
    if let Some(p) = props.get("period") {
        match p.as_i64() {
            Some(p)
                if DASHBOARD_ONLY_PERIODS.contains(&p)
                    || i32::try_from(p).is_ok_and(is_valid_period) => {}
            _ => push(
                format!("{at}.properties.period"),
                format!("period {p} is not allowed; use 1, 5, 10, 20, 30 or a multiple of 60"),
            ),
        }
    }
    let Some(rows) = props.get("metrics").and_then(Value::as_array) else {
        push(
            format!("{at}.properties.metrics"),
            "a metric widget needs a `metrics` array".into(),
        );
        return 0;
    };
    if rows.len() > MAX_METRICS_PER_WIDGET {
        push(
            format!("{at}.properties.metrics"),
            format!(
                "{} metrics; CloudWatch allows at most {MAX_METRICS_PER_WIDGET} per widget",
                rows.len()
            ),
        );
    }
    // First pass: ids, so expressions may refer to rows below them.
    let mut ids = BTreeSet::new();
    for (r, row) in rows.iter().enumerate() {
        let options = row
            .as_array()
            .and_then(|a| a.last())
            .and_then(Value::as_object);
        if let Some(id) = options.and_then(|o| o.get("id")).and_then(Value::as_str) {
            let path = format!("{at}.properties.metrics[{r}]");
            if !is_valid_id(id) {
                push(path.clone(), format!("`{id}` is not a valid id; start with a lowercase letter, then letters, digits or _"));
            }
            if !ids.insert(id.to_owned()) {
                push(path, format!("id `{id}` is used twice in this widget"));
            }
        }
    }
    let mut previous: Vec<String> = Vec::new();
    for (r, row) in rows.iter().enumerate() {
        let path = format!("{at}.properties.metrics[{r}]");
        let Some(items) = row.as_array() else {
            push(path, "a metric row must be an array".into());
            continue;
        };
        let (strings, options) = match items.split_last() {
            Some((Value::Object(o), rest)) => (rest, Some(o)),
            _ => (items.as_slice(), None),
        };
        if strings.is_empty() {
            match options
                .and_then(|o| o.get("expression"))
                .and_then(Value::as_str)
            {
                Some(expr) => {
                    let own = options
                        .and_then(|o| o.get("id"))
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let others: BTreeSet<String> =
                        ids.iter().filter(|i| *i != own).cloned().collect();
                    if let Err(err) = check_expression(expr, &others) {
                        push(
                            path.clone(),
                            format!("`{expr}` is not a valid expression: {err}"),
                        );
                    }
                    check_search(&path, expr, push);
                }
                None => push(
                    path,
                    "a row without a metric needs an `expression` in its options".into(),
                ),
            }
            continue;
        }
        let mut resolved = Vec::with_capacity(strings.len());
        if strings.len() == 1 && strings[0].as_str() == Some("...") {
            // `...` repeats the whole row above (only the options differ).
            if previous.is_empty() {
                push(
                    path,
                    "`...` repeats the row above, but there is no metric row above".into(),
                );
                continue;
            }
            resolved.clone_from(&previous);
        }
        let repeat_all = !resolved.is_empty();
        for (k, item) in strings.iter().enumerate().filter(|_| !repeat_all) {
            match item.as_str() {
                Some(".") => match previous.get(k) {
                    Some(prev) => resolved.push(prev.clone()),
                    None => {
                        push(format!("{path}[{k}]"), "`.` repeats the row above, but there is nothing above at this position".into());
                        resolved.push(String::new());
                    }
                },
                Some(s) => resolved.push(s.to_owned()),
                None => {
                    push(format!("{path}[{k}]"), "namespace, metric name and dimensions must be strings; options go last, as an object".into());
                    resolved.push(String::new());
                }
            }
        }
        if resolved.len() < 2 || resolved.len() % 2 != 0 {
            push(path.clone(), "a metric row is [namespace, metric name, dimension name, value, ...]: an even number of strings, at least two".into());
        } else {
            let dims: Vec<&str> = resolved[2..].chunks(2).map(|p| p[0].as_str()).collect();
            match check_dimension_set(&resolved[0], &resolved[1], &dims) {
                Ok(()) => {}
                Err(SetProblem::UnknownNamespace(m)) => push(format!("{path}[0]"), m),
                Err(SetProblem::UnknownMetric(m)) => push(format!("{path}[1]"), m),
                Err(SetProblem::WrongSet(m)) => push(path.clone(), m),
            }
            for pair in resolved[2..].chunks(2) {
                check_literal_value(&path, &pair[0], &pair[1], push);
            }
        }
        previous = resolved;
    }
    rows.len()
}

/// Checks the metric names a SEARCH over the catalog namespace asks for.
fn check_search(path: &str, expr: &str, push: &mut dyn FnMut(String, String)) {
    if !expr.contains(APP_NAMESPACE) {
        return;
    }
    let mut rest = expr;
    while let Some(at) = rest.find("MetricName=") {
        rest = &rest[at + "MetricName=".len()..];
        let name: String = rest
            .trim_start_matches(['"', '\\'])
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if catalog_metric(&name).is_none() {
            push(path.to_owned(), format!("SEARCH asks for `{name}`, which is not in the {APP_NAMESPACE} metric catalog (ARCHITECTURE.md)"));
        }
    }
}
