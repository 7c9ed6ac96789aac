//! Shared by the preview tests: a definitions root holding the fixture dashboard (one widget
//! of each kind) and one shipped alarm, the small datum set, and a text description of a
//! widget's preview for the golden files.
// Test helpers may unwrap: a panic is the test failing.
#![allow(clippy::unwrap_used, dead_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use aistudio_preview::preview::{Body, WidgetPreview};
use aistudio_preview::{DashboardPreview, DatumStore, Problem};
use provision::render::Placeholders;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A fixture file.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A definitions root with `dashboards/every-widget.json` and the shipped
/// `jobs-failed-high` alarm (with the topics it routes to).
pub fn fixture_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("dashboards")).unwrap();
    std::fs::create_dir_all(dir.path().join("alarms")).unwrap();
    std::fs::copy(
        fixture("every-widget.json"),
        dir.path().join("dashboards/every-widget.json"),
    )
    .unwrap();
    for f in ["jobs-failed-high.toml", "topics.toml"] {
        std::fs::copy(
            repo().join("alarms").join(f),
            dir.path().join("alarms").join(f),
        )
        .unwrap();
    }
    dir
}

/// The fixture dashboard previewed from `small.ndjson`.
pub fn preview_fixture() -> (DashboardPreview, Vec<Problem>) {
    let root = fixture_root();
    let mut problems = Vec::new();
    let defs = aistudio_preview::load_definitions(
        root.path(),
        &Placeholders::defaults("dev", "us-east-1"),
        &mut problems,
    );
    let mut store = DatumStore::default();
    aistudio_preview::datums::read_file(&fixture("small.ndjson"), &mut store, &mut problems);
    let range = aistudio_preview::range_of(&store, None).unwrap();
    let mut previews = aistudio_preview::build(&defs, &store, range, &mut problems);
    assert_eq!(previews.len(), 1);
    (previews.remove(0), problems)
}

fn num(v: f64) -> String {
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// What a widget's preview holds, as stable text.
pub fn describe(w: &WidgetPreview, problems: &[Problem]) -> String {
    let mut out = String::new();
    let c = w.cell;
    let r = c.rect();
    let _ = writeln!(
        out,
        "widget {} \"{}\" type={} status={} cell={},{} {}x{} px={},{} {}x{}",
        w.widget.index,
        w.widget.title,
        w.widget.kind_name,
        w.body.status(),
        c.x,
        c.y,
        c.width,
        c.height,
        r.left,
        r.top,
        r.width,
        r.height
    );
    match &w.body {
        Body::Chart(chart) => {
            let _ = writeln!(out, "stacked={}", chart.stacked);
            for right in [false, true] {
                let a = if right { &chart.right } else { &chart.left };
                let _ = writeln!(
                    out,
                    "axis {} min={:?} max={:?} label=\"{}\"",
                    if right { "right" } else { "left" },
                    a.min,
                    a.max,
                    chart.axis_label(right)
                );
            }
            for s in &chart.series {
                let points: Vec<String> = s
                    .points
                    .iter()
                    .map(|(t, v)| format!("{t}={}", num(*v)))
                    .collect();
                let _ = writeln!(
                    out,
                    "series \"{}\" row={} axis={} color={:?} missing={:?}: {}",
                    s.label,
                    s.row,
                    if s.right { "right" } else { "left" },
                    s.color,
                    s.missing,
                    points.join(" ")
                );
            }
            for a in &chart.annotations {
                let _ = writeln!(
                    out,
                    "annotation {} \"{}\" right={}",
                    num(a.value),
                    a.label,
                    a.right
                );
            }
        }
        Body::Single(values) => {
            for v in values {
                let _ = writeln!(out, "value \"{}\" = {:?} {:?}", v.label, v.value, v.unit);
            }
        }
        Body::Text(md) => {
            let _ = writeln!(
                out,
                "html {}",
                aistudio_preview::html::markdown_html(md).trim()
            );
        }
        Body::Alarms(states) => {
            for s in states {
                let _ = writeln!(out, "alarm {} state={:?} ({})", s.name, s.state, s.detail);
            }
        }
        Body::NoData(m) | Body::Unsupported(m) => {
            let _ = writeln!(out, "panel {m}");
        }
    }
    let prefix = format!("widgets[{}] ", w.widget.index);
    for p in problems.iter().filter(|p| p.place.starts_with(&prefix)) {
        let line = p.to_string();
        // The definitions root is a temporary folder: keep the file name only.
        let file = Path::new(&p.file)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let _ = writeln!(out, "problem {}", line.replacen(&p.file, &file, 1));
    }
    out
}
