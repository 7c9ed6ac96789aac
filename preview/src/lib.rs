//! Dashboard previews: every dashboard of `dashboards/`, rendered for an environment exactly
//! as `provision apply` would send it, drawn from metric datums (the sidecar's
//! `metrics.ndjson`, or CloudWatch's GetMetricData) into one self-contained HTML page and one
//! PNG per dashboard, with an index page.
//!
//! [`load_definitions`] reads and renders the definitions (through `provision`), [`build`]
//! computes each widget ([`preview`]), [`html::write_all`] writes the files. Problems name
//! the file and the widget, one line each; nothing here panics on bad input.

pub mod alarms;
pub mod cloudwatch;
pub mod datums;
pub mod error;
pub mod html;
pub mod layout;
pub mod math;
pub mod plot;
pub mod preview;
pub mod stats;
pub mod widgets;

use std::path::Path;

use provision::definitions::{self, Definitions};
use provision::render::{self, AlarmSpec, Placeholders};

pub use datums::{DatumStore, MetricData, MetricKey};
pub use error::{PreviewError, Problem, Severity};
pub use html::{About, Written};
pub use math::Range;
pub use preview::{Dashboard, DashboardPreview};

/// A time range of this many seconds is shown when the data holds a single instant.
pub const MIN_RANGE_SECS: i64 = 300;

/// The dashboards and alarms of a definitions root, rendered for one environment.
#[derive(Debug, Clone, Default)]
pub struct RenderedDefinitions {
    /// The dashboards, placeholders substituted.
    pub dashboards: Vec<Dashboard>,
    /// The alarms (for alarm status widgets).
    pub alarms: Vec<AlarmSpec>,
}

fn provision_problem(p: &provision::report::Problem, severity: Severity) -> Problem {
    Problem {
        severity,
        file: p.file.clone(),
        place: p.path.clone(),
        message: p.message.clone(),
    }
}

/// Reads `dir/dashboards` and `dir/alarms` and renders them for `ph` with provision's own
/// loader and renderer. A dashboard that does not parse is an error (the others are still
/// previewed); a broken alarm file is a note (alarm widgets then say "not evaluated").
pub fn load_definitions(
    dir: &Path,
    ph: &Placeholders,
    problems: &mut Vec<Problem>,
) -> RenderedDefinitions {
    let (defs, load_problems) = match definitions::load(dir) {
        Ok(loaded) => loaded,
        Err(e) => {
            problems.push(Problem::error(
                &dir.display().to_string(),
                "",
                e.to_string(),
            ));
            return RenderedDefinitions::default();
        }
    };
    for p in &load_problems {
        let is_dashboard =
            defs.dashboards.iter().all(|d| d.path != p.file) && p.file.ends_with(".json");
        problems.push(provision_problem(
            p,
            if is_dashboard {
                Severity::Error
            } else {
                Severity::Note
            },
        ));
    }
    // Dashboards and alarms are rendered apart, so that a placeholder problem in one alarm
    // does not hide every dashboard.
    let mut out = RenderedDefinitions::default();
    for file in &defs.dashboards {
        let one = Definitions {
            dashboards: vec![file.clone()],
            ..Definitions::default()
        };
        match render::render(&one, ph) {
            Ok(rendered) => out
                .dashboards
                .extend(rendered.dashboards.into_iter().map(|d| Dashboard {
                    file: file.path.clone(),
                    name: d.dashboard_name,
                    body: d.dashboard_body,
                })),
            Err(list) => {
                problems.extend(list.iter().map(|p| provision_problem(p, Severity::Error)))
            }
        }
    }
    let alarms_only = Definitions {
        dashboards: Vec::new(),
        ..defs
    };
    match render::render(&alarms_only, ph) {
        Ok(rendered) => out.alarms = rendered.alarms,
        Err(list) => problems.extend(list.iter().map(|p| provision_problem(p, Severity::Note))),
    }
    out
}

/// The range a preview covers: `range` if given, else the data's own span (at least
/// [`MIN_RANGE_SECS`]).
pub fn range_of(data: &dyn MetricData, range: Option<Range>) -> Option<Range> {
    range.or_else(|| {
        let (from, to) = data.time_span()?;
        Some(Range {
            from,
            to: to.max(from + MIN_RANGE_SECS - 1),
        })
    })
}

/// Computes the preview of every dashboard.
pub fn build(
    defs: &RenderedDefinitions,
    data: &dyn MetricData,
    range: Range,
    problems: &mut Vec<Problem>,
) -> Vec<DashboardPreview> {
    let ctx = preview::Context {
        data,
        alarms: &defs.alarms,
        range,
    };
    defs.dashboards
        .iter()
        .filter_map(|d| preview::build(d, &ctx, problems))
        .collect()
}
