//! Offline unit tests for CloudWatch alarms: feed an alarm's rendered PutMetricAlarm payload
//! a timeline of metric data and check the states and notifications CloudWatch's evaluation
//! rules give, without an AWS account (what `promtool test rules` is for Prometheus).
//!
//! The command-line glue calls [`run_files`] with an [`AlarmSource`] (for example
//! [`RenderedDir`] over `provision render --out DIR`) and prints [`Report::render`]. The
//! engine is usable on its own: [`Alarm::from_json`] and [`evaluate::simulate`], or
//! [`evaluate::decide`] for a single evaluation. The test-file format is in the crate's
//! README.

pub mod alarm;
pub mod evaluate;
pub mod matheval;
pub mod mathexpr;
pub mod payload;
pub mod report;
pub mod run;
pub mod series;
pub mod source;
pub mod stats;
pub mod testfile;

use std::path::PathBuf;

pub use alarm::{Alarm, State, TreatMissing};
pub use evaluate::{decide, simulate, Decision, Point, Rule};
pub use payload::AlarmPayload;
pub use report::{Format, Report};
pub use run::{CaseResult, Outcome};
pub use source::{AlarmSource, RenderedDir};
pub use testfile::FileError;

/// Where the shipped alarm tests live, relative to the repository root (the default of
/// `aistudio-sidecar alarms test`).
pub const DEFAULT_TEST_DIR: &str = "alarms/tests";

/// Runs every test of `paths` (test files, or directories whose `*.toml` files are tests)
/// against the payloads of `source`. Malformed files and unknown alarms are errors in the
/// report, not panics; the run goes on with the other tests.
pub fn run_files(paths: &[PathBuf], source: &dyn AlarmSource) -> Report {
    let files = match run::test_files(paths) {
        Ok(files) => files,
        Err(e) => {
            return Report {
                cases: vec![CaseResult {
                    file: e.file.clone(),
                    line: e.line,
                    name: e.file.display().to_string(),
                    alarm: None,
                    duration: std::time::Duration::ZERO,
                    outcome: Outcome::Error(e),
                }],
            }
        }
    };
    Report {
        cases: files
            .iter()
            .flat_map(|f| run::run_file(f, source))
            .collect(),
    }
}
