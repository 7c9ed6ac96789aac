//! Drawing widgets with plotters: one widget into any drawing area (an SVG for a page, a
//! part of the dashboard's PNG), time series as lines or stacked areas on a left and a right
//! axis with `yAxis` bounds, horizontal annotations, a legend, single values, Markdown as
//! text, alarm states, and the explicit "no data" / "not supported" panels.

use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::alarms::AlarmStatus;
use crate::math::Computed;
use crate::preview::{Body, Chart, SingleValue, WidgetPreview};

/// CloudWatch's default series colours, in order.
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x17, 0xbe, 0xcf),
];
const BORDER: RGBColor = RGBColor(0xd5, 0xdb, 0xdb);
const PANEL: RGBColor = RGBColor(0xf2, 0xf3, 0xf3);
const MUTED: RGBColor = RGBColor(0x54, 0x5b, 0x64);
const ANNOTATION: RGBColor = RGBColor(0xd1, 0x32, 0x12);
const FONT: &str = "sans-serif";

/// Registers the font text is measured and drawn with (once per process).
pub fn fonts() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, epaint_default_fonts::UBUNTU_LIGHT)
            .map_err(|_| "the bundled font does not load".to_owned())
    })
    .clone()
}

type DrawResult = Result<(), String>;

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// `#rrggbb` as a colour.
pub fn parse_color(text: &str) -> Option<RGBColor> {
    let hex = text.strip_prefix('#')?;
    if hex.len() != 6 {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok();
    Some(RGBColor(byte(0)?, byte(2)?, byte(4)?))
}

/// `HH:MM` (UTC) of a timestamp.
pub fn clock(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .map(|d| format!("{:02}:{:02}", d.hour(), d.minute()))
        .unwrap_or_default()
}

/// Below this span the time axis shows seconds too (six ticks within ten minutes would
/// otherwise repeat the same minute).
const SECONDS_BELOW_SPAN: i64 = 600;

/// `HH:MM`, or `HH:MM:SS` on a short axis.
pub fn tick(t: i64, span: i64) -> String {
    if span >= SECONDS_BELOW_SPAN {
        return clock(t);
    }
    time::OffsetDateTime::from_unix_timestamp(t)
        .map(|d| format!("{:02}:{:02}:{:02}", d.hour(), d.minute(), d.second()))
        .unwrap_or_default()
}

/// A number as the console shows it: at most three decimals, thousands kept readable.
pub fn number(v: f64) -> String {
    if v.abs() >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v.abs() >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// Draws one widget into `area` (its whole rectangle): frame, the title when `titled` (a
/// page shows it as HTML instead), body.
pub fn draw_widget<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    w: &WidgetPreview,
    titled: bool,
) -> DrawResult {
    fonts()?;
    area.fill(&WHITE).map_err(err)?;
    let (width, height) = area.dim_in_pixel();
    let (wi, hi) = (
        i32::try_from(width).unwrap_or(i32::MAX),
        i32::try_from(height).unwrap_or(i32::MAX),
    );
    area.draw(&Rectangle::new(
        [(0, 0), (wi - 1, hi - 1)],
        BORDER.stroke_width(1),
    ))
    .map_err(err)?;
    let inner = if w.widget.title.is_empty() || !titled {
        area.margin(6, 6, 8, 8)
    } else {
        area.margin(4, 4, 8, 8)
            .titled(&w.widget.title, (FONT, 16).into_font().color(&BLACK))
            .map_err(err)?
    };
    match &w.body {
        Body::Chart(chart) => draw_chart(&inner, chart),
        Body::Single(values) => draw_single(&inner, values),
        Body::Text(md) => draw_markdown(&inner, md),
        Body::Alarms(states) => draw_alarms(&inner, states),
        Body::NoData(message) => draw_panel(&inner, "no data in this preview", message),
        Body::Unsupported(message) => draw_panel(&inner, "not supported in previews", message),
    }
}

fn wrap(text: &str, chars: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + word.chars().count() + 1 > chars {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

fn to_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    heading: &str,
    message: &str,
) -> DrawResult {
    area.fill(&PANEL).map_err(err)?;
    let (w, h) = area.dim_in_pixel();
    let center = Pos::new(HPos::Center, VPos::Center);
    let big = (FONT, 18).into_font().color(&MUTED).pos(center);
    let small = (FONT, 12).into_font().color(&MUTED).pos(center);
    let cx = to_i32(w / 2);
    let cy = to_i32(h / 2);
    area.draw(&Text::new(heading.to_owned(), (cx, cy - 14), big))
        .map_err(err)?;
    let chars = (w / 7).max(10) as usize;
    for (i, line) in wrap(message, chars).iter().take(4).enumerate() {
        let y = cy + 8 + 15 * to_i32(u32::try_from(i).unwrap_or(0));
        area.draw(&Text::new(line.clone(), (cx, y), small.clone()))
            .map_err(err)?;
    }
    Ok(())
}

/// Markdown drawn as text: headings larger, paragraphs wrapped (the page renders it as HTML).
fn draw_markdown<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, md: &str) -> DrawResult {
    use pulldown_cmark::{Event, Parser, Tag, TagEnd};
    let (w, h) = area.dim_in_pixel();
    let mut blocks: Vec<(u32, String)> = Vec::new();
    let mut current = String::new();
    let mut size = 13;
    for event in Parser::new(md) {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                size = match level as u32 {
                    1 => 20,
                    2 => 17,
                    _ => 15,
                };
            }
            Event::End(TagEnd::Heading(_) | TagEnd::Paragraph | TagEnd::Item) => {
                blocks.push((size, std::mem::take(&mut current)));
                size = 13;
            }
            Event::Text(t) | Event::Code(t) => current.push_str(&t),
            Event::SoftBreak | Event::HardBreak => current.push(' '),
            _ => {}
        }
    }
    if !current.is_empty() {
        blocks.push((size, current));
    }
    let mut y = 0i32;
    for (size, text) in blocks {
        let chars = (w * 2 / size.max(1)).max(10) as usize;
        for line in wrap(&text, chars) {
            if y + to_i32(size) > to_i32(h) {
                return Ok(());
            }
            area.draw(&Text::new(
                line,
                (0, y),
                (FONT, size).into_font().color(&BLACK),
            ))
            .map_err(err)?;
            y += to_i32(size) + 4;
        }
    }
    Ok(())
}

fn draw_single<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    values: &[SingleValue],
) -> DrawResult {
    let n = u32::try_from(values.len().max(1)).unwrap_or(1);
    let (w, h) = area.dim_in_pixel();
    let cell = w / n;
    let center = Pos::new(HPos::Center, VPos::Center);
    for (i, v) in values.iter().enumerate() {
        let cx = to_i32(cell * u32::try_from(i).unwrap_or(0) + cell / 2);
        let text = match v.value {
            Some(x) => format!(
                "{}{}",
                number(x),
                v.unit.as_deref().map_or(String::new(), |u| format!(" {u}"))
            ),
            None => "no data".to_owned(),
        };
        let color = PALETTE[i % PALETTE.len()];
        area.draw(&Text::new(
            v.label.clone(),
            (cx, to_i32(h / 3)),
            (FONT, 13).into_font().color(&MUTED).pos(center),
        ))
        .map_err(err)?;
        area.draw(&Text::new(
            text,
            (cx, to_i32(h * 2 / 3)),
            (FONT, 30).into_font().color(&color).pos(center),
        ))
        .map_err(err)?;
    }
    Ok(())
}

fn draw_alarms<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    states: &[AlarmStatus],
) -> DrawResult {
    if states.is_empty() {
        return draw_panel(area, "no alarms", "the widget lists no alarms");
    }
    for (i, s) in states.iter().enumerate() {
        let y = 4 + 22 * to_i32(u32::try_from(i).unwrap_or(0));
        let color = match s.state {
            Some("ALARM") => RGBColor(0xd1, 0x32, 0x12),
            Some("OK") => RGBColor(0x1d, 0x81, 0x02),
            _ => MUTED,
        };
        area.draw(&Rectangle::new([(0, y), (12, y + 12)], color.filled()))
            .map_err(err)?;
        let text = format!(
            "{}: {} ({})",
            s.name,
            s.state.unwrap_or("not evaluated"),
            s.detail
        );
        area.draw(&Text::new(
            text,
            (20, y),
            (FONT, 13).into_font().color(&BLACK),
        ))
        .map_err(err)?;
    }
    Ok(())
}

fn series_color(s: &Computed, i: usize) -> RGBColor {
    s.color
        .as_deref()
        .and_then(parse_color)
        .unwrap_or(PALETTE[i % PALETTE.len()])
}

/// Annotations above this multiple of the highest value do not stretch the axis (a 10 s
/// threshold would flatten 200 ms lines into the floor); the legend lists them instead.
const ANNOTATION_STRETCH: f64 = 2.0;

/// Whether an annotation fits the auto-scaled axis of `values`.
fn on_scale(value: f64, values: &[f64], axis_max: Option<f64>) -> bool {
    if let Some(max) = axis_max {
        return value <= max;
    }
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    !hi.is_finite() || hi <= 0.0 || value <= hi * ANNOTATION_STRETCH
}

/// The y range of one axis: `yAxis` bounds, else from 0 (or the lowest value) to a little
/// above the highest value or on-scale annotation.
fn y_range(chart: &Chart, right: bool, values: &[f64]) -> (f64, f64) {
    let axis = if right { &chart.right } else { &chart.left };
    let annotations = chart
        .annotations
        .iter()
        .filter(|a| a.right == right && on_scale(a.value, values, axis.max))
        .map(|a| a.value);
    let all: Vec<f64> = values.iter().copied().chain(annotations).collect();
    let lo = all.iter().copied().fold(0.0_f64, f64::min);
    let hi = all.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = axis.min.unwrap_or(lo);
    let mut max = axis.max.unwrap_or(if hi.is_finite() && hi > 0.0 {
        hi * 1.1
    } else {
        1.0
    });
    if max <= min {
        max = min + 1.0;
    }
    (min, max)
}

/// The points drawn for each series: as they are, or summed upwards when stacked.
fn stacked_points(chart: &Chart) -> Vec<Vec<(i64, f64)>> {
    let mut totals: std::collections::BTreeMap<(bool, i64), f64> = Default::default();
    chart
        .series
        .iter()
        .map(|s| {
            if !chart.stacked {
                return s.points.clone();
            }
            s.points
                .iter()
                .map(|(t, v)| {
                    let total = totals.entry((s.right, *t)).or_insert(0.0);
                    *total += v;
                    (*t, *total)
                })
                .collect()
        })
        .collect()
}

/// The chart's coordinates: time on x, a left and a right y axis.
type TimeChart<'a, DB> = plotters::chart::DualCoordChartContext<
    'a,
    DB,
    Cartesian2d<plotters::coord::types::RangedCoordi64, plotters::coord::types::RangedCoordf64>,
    Cartesian2d<plotters::coord::types::RangedCoordi64, plotters::coord::types::RangedCoordf64>,
>;

/// Horizontal annotations: a line with its label on its axis, or a legend entry when it is
/// far above the data.
fn draw_annotations<DB: DrawingBackend>(
    cc: &mut TimeChart<'_, DB>,
    chart: &Chart,
    (from, to): (i64, i64),
    values: &dyn Fn(bool) -> Vec<f64>,
) -> DrawResult {
    for a in &chart.annotations {
        let color = a
            .color
            .as_deref()
            .and_then(parse_color)
            .unwrap_or(ANNOTATION);
        let axis_max = if a.right {
            chart.right.max
        } else {
            chart.left.max
        };
        if !on_scale(a.value, &values(a.right), axis_max) {
            let legend = move |(x, y): (i32, i32)| {
                PathElement::new(vec![(x, y), (x + 14, y)], color.stroke_width(1))
            };
            let label = format!("{} ({}, above the range)", a.label, number(a.value));
            cc.draw_series(LineSeries::new(
                Vec::<(i64, f64)>::new(),
                color.stroke_width(1),
            ))
            .map_err(err)?
            .label(label)
            .legend(legend);
            continue;
        }
        let line = LineSeries::new(vec![(from, a.value), (to, a.value)], color.stroke_width(1));
        let text = Text::new(
            a.label.clone(),
            (from, a.value),
            (FONT, 11)
                .into_font()
                .color(&color)
                .pos(Pos::new(HPos::Left, VPos::Bottom)),
        );
        if a.right {
            cc.draw_secondary_series(line).map_err(err)?;
            cc.draw_secondary_series(std::iter::once(text))
                .map_err(err)?;
        } else {
            cc.draw_series(line).map_err(err)?;
            cc.draw_series(std::iter::once(text)).map_err(err)?;
        }
    }
    Ok(())
}

fn draw_chart<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, chart: &Chart) -> DrawResult {
    let from = chart
        .series
        .iter()
        .flat_map(|s| s.points.first())
        .map(|p| p.0)
        .min()
        .unwrap_or(chart.range.from);
    let to = chart
        .series
        .iter()
        .flat_map(|s| s.points.last())
        .map(|p| p.0)
        .max()
        .unwrap_or(chart.range.to)
        .max(from + 60);
    let drawn = stacked_points(chart);
    let values = |right: bool| -> Vec<f64> {
        chart
            .series
            .iter()
            .zip(&drawn)
            .filter(|(s, _)| s.right == right)
            .flat_map(|(_, p)| p.iter().map(|(_, v)| *v))
            .collect()
    };
    let has_right =
        chart.series.iter().any(|s| s.right) || chart.annotations.iter().any(|a| a.right);
    let (lmin, lmax) = y_range(chart, false, &values(false));
    let (rmin, rmax) = y_range(chart, true, &values(true));
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(4)
        .x_label_area_size(22)
        .y_label_area_size(52);
    if has_right {
        builder.right_y_label_area_size(52);
    }
    let mut cc = builder
        .build_cartesian_2d(from..to, lmin..lmax)
        .map_err(err)?
        .set_secondary_coord(from..to, rmin..rmax);
    let label_style = (FONT, 11).into_font().color(&MUTED);
    let left_label = chart.axis_label(false);
    cc.configure_mesh()
        .x_labels(6)
        .y_labels(5)
        .x_label_formatter(&|t| tick(*t, to - from))
        .y_label_formatter(&|v| number(*v))
        .label_style(label_style.clone())
        .axis_desc_style(label_style.clone())
        .y_desc(left_label)
        .light_line_style(RGBColor(0xee, 0xee, 0xee))
        .bold_line_style(RGBColor(0xdd, 0xdd, 0xdd))
        .draw()
        .map_err(err)?;
    if has_right {
        cc.configure_secondary_axes()
            .y_labels(5)
            .y_label_formatter(&|v| number(*v))
            .label_style(label_style.clone())
            .axis_desc_style(label_style)
            .y_desc(chart.axis_label(true))
            .draw()
            .map_err(err)?;
    }
    for (i, (s, points)) in chart.series.iter().zip(&drawn).enumerate() {
        let color = series_color(s, i);
        let label = match &s.missing {
            None => s.label.clone(),
            Some(crate::math::Missing::NoData) => format!("{} (no data in this preview)", s.label),
            Some(crate::math::Missing::Refused(_)) => format!("{} (not previewed)", s.label),
        };
        let style = color.stroke_width(2);
        let legend = move |(x, y): (i32, i32)| {
            PathElement::new(vec![(x, y), (x + 14, y)], color.stroke_width(2))
        };
        if chart.stacked {
            let area_series =
                AreaSeries::new(points.clone(), 0.0, color.mix(0.35)).border_style(style);
            let anno = if s.right {
                cc.draw_secondary_series(area_series)
            } else {
                cc.draw_series(area_series)
            };
            anno.map_err(err)?.label(label).legend(legend);
        } else {
            let line = LineSeries::new(points.clone(), style).point_size(2);
            let anno = if s.right {
                cc.draw_secondary_series(line)
            } else {
                cc.draw_series(line)
            };
            anno.map_err(err)?.label(label).legend(legend);
        }
    }
    draw_annotations(&mut cc, chart, (from, to), &values)?;
    cc.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT, 11).into_font().color(&BLACK))
        .background_style(WHITE.mix(0.85))
        .border_style(BORDER)
        .draw()
        .map_err(err)?;
    Ok(())
}

/// One widget as an SVG document of its own size.
pub fn widget_svg(w: &WidgetPreview, size: (u32, u32)) -> Result<String, String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        draw_widget(&root, w, false)?;
        root.present().map_err(err)?;
    }
    Ok(out)
}

/// The whole dashboard as a PNG of `size`, each widget at its grid rectangle.
pub fn dashboard_png(
    widgets: &[WidgetPreview],
    size: (u32, u32),
    path: &std::path::Path,
) -> Result<(), String> {
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&RGBColor(0xfa, 0xfa, 0xfa)).map_err(err)?;
    for w in widgets {
        let r = w.cell.rect();
        let gap = 3;
        let sub = root.clone().shrink(
            (r.left + gap, r.top + gap),
            (
                r.width.saturating_sub(2 * gap),
                r.height.saturating_sub(2 * gap),
            ),
        );
        draw_widget(&sub, w, true)?;
    }
    root.present().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_numbers_and_clock() {
        assert_eq!(parse_color("#ff7f0e"), Some(RGBColor(0xff, 0x7f, 0x0e)));
        assert_eq!(parse_color("red"), None);
        assert_eq!(number(12.5), "12.5");
        assert_eq!(number(1234.0), "1234");
        assert_eq!(number(25_000.0), "25.0k");
        assert_eq!(clock(3_600 * 25 + 60 * 7), "01:07");
        assert_eq!(tick(3_600 * 25 + 60 * 7 + 5, 120), "01:07:05");
        assert_eq!(tick(3_600 * 25 + 60 * 7 + 5, 3_600), "01:07");
        assert!(on_scale(150.0, &[100.0], None) && !on_scale(10_000.0, &[100.0], None));
        assert!(on_scale(10_000.0, &[], None) && !on_scale(5.0, &[1.0], Some(4.0)));
        assert_eq!(wrap("a bb ccc dd", 5), vec!["a bb", "ccc", "dd"]);
    }
}
