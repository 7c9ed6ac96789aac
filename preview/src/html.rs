//! Writing the previews: one self-contained HTML page per dashboard (inline CSS, each
//! widget's SVG inline, Markdown as HTML with raw HTML and images neutralised: nothing is
//! fetched, the page opens from a file), a PNG per dashboard, an index page, and
//! `preview.json` saying what each widget showed (for scripts and tests).

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::error::{PreviewError, Problem};
use crate::layout;
use crate::math::Missing;
use crate::plot;
use crate::preview::{Body, DashboardPreview, WidgetPreview};

/// Height of a widget's HTML title bar, pixels (the SVG gets the rest).
const TITLE_PX: u32 = 26;
/// Gap between widgets, pixels.
const GAP_PX: u32 = 6;

/// Where the data came from, for the pages' headers.
#[derive(Debug, Clone)]
pub struct About {
    /// Environment.
    pub env: String,
    /// The data source (`out/metrics.ndjson`, `CloudWatch (GetMetricData)`).
    pub source: String,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Written {
    /// The index page.
    pub index: PathBuf,
    /// One HTML page per dashboard.
    pub pages: Vec<PathBuf>,
    /// One PNG per dashboard.
    pub pngs: Vec<PathBuf>,
    /// `preview.json`.
    pub manifest: PathBuf,
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Markdown as HTML. Raw HTML is shown as text and images as their alt text: a page must
/// not run or fetch anything a dashboard's Markdown names.
pub fn markdown_html(md: &str) -> String {
    use pulldown_cmark::{html, Event, Parser, Tag, TagEnd};
    // An image's alt text stays (its Text events), the image itself goes.
    let events = Parser::new(md).filter_map(|e| match e {
        Event::Html(t) | Event::InlineHtml(t) => Some(Event::Text(t)),
        Event::Start(Tag::Image { .. }) | Event::End(TagEnd::Image) => None,
        other => Some(other),
    });
    let mut out = String::new();
    html::push_html(&mut out, events);
    out
}

const STYLE: &str = r#"
body{font-family:sans-serif;margin:16px;background:#fafafa;color:#16191f}
header h1{font-size:20px;margin:0 0 4px}
header p{margin:2px 0;color:#545b64;font-size:13px}
.grid{position:relative;margin-top:12px}
.widget{position:absolute;box-sizing:border-box;background:#fff;border:1px solid #d5dbdb;overflow:hidden}
.widget h2{font-size:14px;margin:0;padding:4px 8px;height:18px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.plot svg{display:block}
.markdown{padding:4px 10px;font-size:13px;overflow:auto;height:100%;box-sizing:border-box}
.markdown h1{font-size:18px;margin:4px 0}
.markdown p{margin:4px 0}
table{border-collapse:collapse;font-size:14px}
td,th{border:1px solid #d5dbdb;padding:4px 8px;text-align:left}
.problems li{font-family:monospace;font-size:12px}
"#;

fn widget_section(w: &WidgetPreview) -> Result<String, String> {
    let r = w.cell.rect();
    let (width, height) = (
        r.width.saturating_sub(GAP_PX),
        r.height.saturating_sub(GAP_PX),
    );
    let mut inner = String::new();
    if !w.widget.title.is_empty() {
        inner.push_str(&format!("<h2>{}</h2>", escape(&w.widget.title)));
    }
    let plot_height = if w.widget.title.is_empty() {
        height
    } else {
        height.saturating_sub(TITLE_PX)
    };
    match &w.body {
        Body::Text(md) => inner.push_str(&format!(
            "<div class=\"markdown\">{}</div>",
            markdown_html(md)
        )),
        _ => {
            let svg = plot::widget_svg(w, (width.max(40), plot_height.max(40)))?;
            inner.push_str(&format!("<div class=\"plot\">{svg}</div>"));
        }
    }
    let series = match &w.body {
        Body::Chart(c) => c.series.iter().filter(|s| !s.points.is_empty()).count(),
        Body::Single(v) => v.iter().filter(|s| s.value.is_some()).count(),
        _ => 0,
    };
    Ok(format!(
        "<section class=\"widget\" data-index=\"{}\" data-kind=\"{}\" data-status=\"{}\" data-title=\"{}\" data-series-with-data=\"{series}\" style=\"left:{}px;top:{}px;width:{width}px;height:{height}px\">{inner}</section>\n",
        w.widget.index,
        escape(&w.widget.kind_name),
        w.body.status(),
        escape(&w.widget.title),
        r.left,
        r.top,
    ))
}

fn range_text(p: &DashboardPreview) -> String {
    let day = |t: i64| {
        time::OffsetDateTime::from_unix_timestamp(t)
            .map(|d| format!("{} {}", d.date(), plot::clock(t)))
            .unwrap_or_default()
    };
    format!("{} to {} UTC", day(p.range.from), day(p.range.to))
}

/// One dashboard's page.
pub fn page(p: &DashboardPreview, about: &About) -> Result<String, String> {
    let cells: Vec<layout::Cell> = p.widgets.iter().map(|w| w.cell).collect();
    let (width, height) = layout::page_size(&cells);
    let mut sections = String::new();
    for w in &p.widgets {
        sections.push_str(&widget_section(w)?);
    }
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{name} (preview)</title><style>{STYLE}</style></head>\n<body><header><h1>{name}</h1><p>Preview of <code>{file}</code> for {env}, from {source}, {range}. Not live data.</p><p><a href=\"index.html\">All dashboards</a> · <a href=\"{name}.png\">PNG</a></p></header>\n<main class=\"grid\" data-widgets=\"{count}\" style=\"width:{width}px;height:{height}px\">\n{sections}</main></body></html>\n",
        name = escape(&p.name),
        file = escape(&p.file),
        env = escape(&about.env),
        source = escape(&about.source),
        range = range_text(p),
        count = p.widgets.len(),
    ))
}

fn counts(p: &DashboardPreview, status: &str) -> usize {
    p.widgets
        .iter()
        .filter(|w| w.body.status() == status)
        .count()
}

/// The index page.
pub fn index(previews: &[DashboardPreview], about: &About, problems: &[Problem]) -> String {
    let mut rows = String::new();
    for p in previews {
        rows.push_str(&format!(
            "<tr><td><a href=\"{name}.html\">{name}</a></td><td><code>{file}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><a href=\"{name}.png\">PNG</a></td></tr>\n",
            p.widgets.len(),
            counts(p, "data"),
            counts(p, "no-data"),
            counts(p, "unsupported"),
            name = escape(&p.name),
            file = escape(&p.file),
        ));
    }
    let list: String = problems
        .iter()
        .map(|p| format!("<li>{}</li>", escape(&p.to_string())))
        .collect();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Dashboard previews ({env})</title><style>{STYLE}</style></head>\n<body><header><h1>Dashboard previews ({env})</h1><p>From {source}. Each page shows a dashboard as <code>provision apply</code> would send it, drawn from these datums; widgets whose metrics the datums lack say \"no data in this preview\".</p></header>\n<table><tr><th>dashboard</th><th>definition</th><th>widgets</th><th>with data</th><th>no data</th><th>not supported</th><th>image</th></tr>\n{rows}</table>\n<h2>Problems</h2><ul class=\"problems\">{list}</ul></body></html>\n",
        env = escape(&about.env),
        source = escape(&about.source),
    )
}

fn manifest(
    previews: &[DashboardPreview],
    about: &About,
    problems: &[Problem],
) -> serde_json::Value {
    let widgets = |p: &DashboardPreview| -> Vec<serde_json::Value> {
        p.widgets
            .iter()
            .map(|w| {
                let series: Vec<serde_json::Value> = match &w.body {
                    Body::Chart(c) => c
                        .series
                        .iter()
                        .map(|s| {
                            json!({
                                "label": s.label,
                                "points": s.points.len(),
                                "missing": match &s.missing {
                                    None => serde_json::Value::Null,
                                    Some(Missing::NoData) => json!("no data"),
                                    Some(Missing::Refused(m)) => json!(m),
                                },
                            })
                        })
                        .collect(),
                    Body::Single(v) => v
                        .iter()
                        .map(|s| json!({"label": s.label, "points": usize::from(s.value.is_some()), "missing": null}))
                        .collect(),
                    _ => Vec::new(),
                };
                json!({
                    "index": w.widget.index,
                    "type": w.widget.kind_name,
                    "title": w.widget.title,
                    "status": w.body.status(),
                    "series": series,
                })
            })
            .collect()
    };
    json!({
        "env": about.env,
        "source": about.source,
        "dashboards": previews.iter().map(|p| json!({
            "name": p.name,
            "file": p.file,
            "html": format!("{}.html", p.name),
            "png": format!("{}.png", p.name),
            "range": {"from": p.range.from, "to": p.range.to},
            "widgets": widgets(p),
        })).collect::<Vec<_>>(),
        "problems": problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
    })
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), PreviewError> {
    std::fs::write(path, bytes).map_err(|source| PreviewError::Write {
        path: path.display().to_string(),
        source,
    })
}

/// Writes every page, PNG, the index and the manifest into `out` (created if needed).
pub fn write_all(
    out: &Path,
    previews: &[DashboardPreview],
    about: &About,
    problems: &[Problem],
) -> Result<Written, PreviewError> {
    std::fs::create_dir_all(out).map_err(|source| PreviewError::Write {
        path: out.display().to_string(),
        source,
    })?;
    let mut written = Written {
        index: out.join("index.html"),
        pages: Vec::new(),
        pngs: Vec::new(),
        manifest: out.join("preview.json"),
    };
    for p in previews {
        let html_path = out.join(format!("{}.html", p.name));
        let text = page(p, about).map_err(|message| PreviewError::Draw {
            path: html_path.display().to_string(),
            message,
        })?;
        write(&html_path, text.as_bytes())?;
        written.pages.push(html_path);
        let png_path = out.join(format!("{}.png", p.name));
        let cells: Vec<layout::Cell> = p.widgets.iter().map(|w| w.cell).collect();
        plot::dashboard_png(&p.widgets, layout::page_size(&cells), &png_path).map_err(
            |message| PreviewError::Draw {
                path: png_path.display().to_string(),
                message,
            },
        )?;
        written.pngs.push(png_path);
    }
    write(&written.index, index(previews, about, problems).as_bytes())?;
    let json = serde_json::to_vec_pretty(&manifest(previews, about, problems)).map_err(|e| {
        PreviewError::Draw {
            path: written.manifest.display().to_string(),
            message: e.to_string(),
        }
    })?;
    write(&written.manifest, &json)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_cannot_run_or_fetch_anything() {
        let html = markdown_html(
            "# T\n<script>alert(1)</script>\n\n![x](http://example.invalid/a.png) `code`",
        );
        assert!(html.contains("<h1>T</h1>"), "{html}");
        assert!(
            !html.contains("<script") && !html.contains("<img"),
            "{html}"
        );
        assert!(
            html.contains("&lt;script&gt;") && html.contains("<code>code</code>"),
            "{html}"
        );
        assert_eq!(escape("a\"<&>'"), "a&quot;&lt;&amp;&gt;&#39;");
    }
}
