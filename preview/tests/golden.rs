//! One golden test per widget kind: the fixture dashboard `tests/fixtures/every-widget.json`
//! previewed from `tests/fixtures/small.ndjson`, each widget's computed preview (place,
//! series and their values per period, axes, annotations, panels, alarm states, problems)
//! compared with `tests/golden/<widget>.txt`. `UPDATE_GOLDEN=1` rewrites the files; a change
//! then shows in the diff, where a reviewer checks the numbers.
// Test helpers may unwrap: a panic is the test failing.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

fn golden(index: usize, name: &str) {
    let (preview, problems) = common::preview_fixture();
    let widget = preview
        .widgets
        .iter()
        .find(|w| w.widget.index == index)
        .unwrap();
    let got = common::describe(widget, &problems);
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.txt"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with UPDATE_GOLDEN=1 once and review it",
            path.display()
        )
    });
    assert_eq!(got, want, "{} differs", path.display());
}

#[test]
fn text_widget() {
    golden(0, "text");
}

#[test]
fn metric_lines_with_annotation_label_and_color() {
    golden(1, "lines");
}

#[test]
fn metric_stacked() {
    golden(2, "stacked");
}

#[test]
fn single_value() {
    golden(3, "single-value");
}

#[test]
fn repetition_rows_percentiles_and_right_axis() {
    golden(4, "repetition-right-axis");
}

#[test]
fn metric_math_with_hidden_inputs() {
    golden(5, "metric-math");
}

#[test]
fn search_is_refused_with_a_message() {
    golden(6, "search");
}

#[test]
fn metrics_absent_from_the_data_are_a_no_data_panel() {
    golden(7, "no-data");
}

#[test]
fn alarm_status_from_the_offline_engine() {
    golden(8, "alarm");
}

#[test]
fn unsupported_widget_kind() {
    golden(9, "unsupported-kind");
}

#[test]
fn widget_without_a_position_is_placed_in_the_first_free_cell() {
    golden(10, "auto-placed");
}
