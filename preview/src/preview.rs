//! One dashboard's preview: every widget placed on the grid and computed from the data into
//! what is drawn: a chart, single values, Markdown, alarm states, or an explicit panel
//! ("no data in this preview", "not supported") that cannot be mistaken for a healthy graph.

use provision::render::AlarmSpec;
use serde_json::Value;

use crate::alarms::{self, AlarmStatus};
use crate::datums::MetricData;
use crate::error::Problem;
use crate::layout::{self, Cell};
use crate::math::{self, Computed, Missing, Range};
use crate::widgets::{self, Annotation, Axis, Source, View, Widget, WidgetKind};

/// A dashboard as `provision apply` would send it.
#[derive(Debug, Clone)]
pub struct Dashboard {
    /// The definition file (`dashboards/streaming-jobs.json`).
    pub file: String,
    /// DashboardName (`aistudio-dev-streaming-jobs`).
    pub name: String,
    /// DashboardBody, placeholders substituted.
    pub body: Value,
}

/// A time-series chart.
#[derive(Debug, Clone)]
pub struct Chart {
    /// `stacked`.
    pub stacked: bool,
    /// `yAxis.left`.
    pub left: Axis,
    /// `yAxis.right`.
    pub right: Axis,
    /// Horizontal annotations.
    pub annotations: Vec<Annotation>,
    /// The visible series (those without data included: the legend says so).
    pub series: Vec<Computed>,
    /// The time range.
    pub range: Range,
}

impl Chart {
    /// The axis label: `yAxis.*.label`, else the unit its series share.
    pub fn axis_label(&self, right: bool) -> String {
        let axis = if right { &self.right } else { &self.left };
        if let Some(l) = &axis.label {
            return l.clone();
        }
        let mut units = self
            .series
            .iter()
            .filter(|s| s.right == right)
            .filter_map(|s| s.unit.clone());
        match units.next() {
            Some(u) if units.all(|v| v == u) => u,
            _ => String::new(),
        }
    }
}

/// The latest value of one series of a `singleValue` widget.
#[derive(Debug, Clone, PartialEq)]
pub struct SingleValue {
    /// Legend label.
    pub label: String,
    /// Latest value.
    pub value: Option<f64>,
    /// Unit.
    pub unit: Option<String>,
}

/// What a widget shows.
#[derive(Debug, Clone)]
pub enum Body {
    /// A time-series chart with data.
    Chart(Chart),
    /// Latest values.
    Single(Vec<SingleValue>),
    /// Markdown.
    Text(String),
    /// Alarm states.
    Alarms(Vec<AlarmStatus>),
    /// No data for any of its series: the panel says which metrics.
    NoData(String),
    /// Cannot be drawn: the panel says why.
    Unsupported(String),
}

impl Body {
    /// `data`, `no-data`, `text`, `alarm` or `unsupported` (the pages' `data-status`).
    pub fn status(&self) -> &'static str {
        match self {
            Body::Chart(_) | Body::Single(_) => "data",
            Body::Text(_) => "text",
            Body::Alarms(_) => "alarm",
            Body::NoData(_) => "no-data",
            Body::Unsupported(_) => "unsupported",
        }
    }
}

/// One widget, placed and computed.
#[derive(Debug, Clone)]
pub struct WidgetPreview {
    /// The widget as defined.
    pub widget: Widget,
    /// Its place on the grid.
    pub cell: Cell,
    /// What it shows.
    pub body: Body,
}

/// One dashboard, placed and computed.
#[derive(Debug, Clone)]
pub struct DashboardPreview {
    /// The definition file.
    pub file: String,
    /// DashboardName.
    pub name: String,
    /// The time range.
    pub range: Range,
    /// Widgets in body order.
    pub widgets: Vec<WidgetPreview>,
}

/// What a preview needs besides the dashboard.
pub struct Context<'a> {
    /// The numbers.
    pub data: &'a dyn MetricData,
    /// The rendered alarms, for alarm widgets.
    pub alarms: &'a [AlarmSpec],
    /// The time range.
    pub range: Range,
}

fn metric_names(widget: &widgets::MetricWidget, series: &[Computed]) -> String {
    let mut names: Vec<String> = series
        .iter()
        .filter(|s| s.missing == Some(Missing::NoData))
        .filter_map(|s| match &widget.rows[s.row].source {
            Source::Metric {
                namespace,
                metric_name,
                ..
            } => Some(format!("{namespace} {metric_name}")),
            Source::Expression(_) => None,
        })
        .collect();
    names.dedup();
    names.join(", ")
}

fn metric_body(
    w: &Widget,
    m: &widgets::MetricWidget,
    ctx: &Context<'_>,
    problems: &mut Vec<Problem>,
    file: &str,
) -> Body {
    let all = math::compute(&m.rows, ctx.data, ctx.range);
    for s in &all {
        if let Some(Missing::Refused(message)) = &s.missing {
            problems.push(Problem::note(
                file,
                &format!("{}: metrics[{}]", w.place_name(), s.row),
                message.clone(),
            ));
        }
    }
    let visible: Vec<Computed> = all.into_iter().filter(|s| s.visible).collect();
    let with_data = visible.iter().filter(|s| !s.points.is_empty()).count();
    if with_data == 0 {
        let refused: Vec<&str> = visible
            .iter()
            .filter_map(|s| match &s.missing {
                Some(Missing::Refused(m)) => Some(m.as_str()),
                _ => None,
            })
            .collect();
        let names = metric_names(m, &visible);
        return match (refused.first(), names.is_empty()) {
            (Some(reason), true) => Body::Unsupported((*reason).to_owned()),
            _ if names.is_empty() => {
                Body::NoData("the datums hold nothing this widget reads".into())
            }
            _ => Body::NoData(format!("the datums hold no {names}")),
        };
    }
    if m.view == View::SingleValue {
        return Body::Single(
            visible
                .iter()
                .map(|s| SingleValue {
                    label: s.label.clone(),
                    value: s.points.last().map(|p| p.1),
                    unit: s.unit.clone(),
                })
                .collect(),
        );
    }
    Body::Chart(Chart {
        stacked: m.stacked,
        left: m.left.clone(),
        right: m.right.clone(),
        annotations: m.annotations.clone(),
        series: visible,
        range: ctx.range,
    })
}

/// Places and computes every widget of `dashboard`; problems (file and widget named) are
/// added to `problems`.
pub fn build(
    dashboard: &Dashboard,
    ctx: &Context<'_>,
    problems: &mut Vec<Problem>,
) -> Option<DashboardPreview> {
    let list = match widgets::read_widgets(&dashboard.body) {
        Ok(list) => list,
        Err(message) => {
            problems.push(Problem::error(&dashboard.file, "", message));
            return None;
        }
    };
    let cells = layout::place(&list.iter().map(|w| w.requested).collect::<Vec<_>>());
    let widgets = list
        .into_iter()
        .zip(cells)
        .map(|(widget, cell)| {
            let body = match &widget.kind {
                WidgetKind::Metric(m) => metric_body(&widget, m, ctx, problems, &dashboard.file),
                WidgetKind::Text(md) => Body::Text(md.clone()),
                WidgetKind::Alarm(arns) => Body::Alarms(
                    arns.iter()
                        .map(|a| alarms::status(a, ctx.alarms, ctx.data, ctx.range))
                        .collect(),
                ),
                WidgetKind::Unsupported(message) => {
                    problems.push(Problem::error(
                        &dashboard.file,
                        &widget.place_name(),
                        message.clone(),
                    ));
                    Body::Unsupported(message.clone())
                }
            };
            WidgetPreview { widget, cell, body }
        })
        .collect();
    Some(DashboardPreview {
        file: dashboard.file.clone(),
        name: dashboard.name.clone(),
        range: ctx.range,
        widgets,
    })
}
