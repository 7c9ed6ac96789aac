//! Every shipped test in `alarms/tests/` passes against the shipped alarms in `alarms/`,
//! rendered for dev and prod into a tempdir exactly as `provision render` writes them, and
//! every shipped alarm has tests.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use alarm_eval::{run_files, Outcome, RenderedDir, State};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate is in the workspace")
        .to_path_buf()
}

/// `provision render --env ENV --out DIR`, through the library (no nested cargo build).
fn render(env: &str, out: &Path) {
    let ph = provision::render::Placeholders::defaults(env, "us-east-1");
    let rendered = provision::load_rendered(&repo(), &ph).expect("definitions render");
    rendered.write_to(out).expect("payloads written");
}

#[test]
fn shipped_alarm_tests_pass() {
    let dirs: Vec<(tempfile::TempDir, &str)> = ["dev", "prod"]
        .into_iter()
        .map(|env| (tempfile::tempdir().expect("tempdir"), env))
        .collect();
    for (dir, env) in &dirs {
        render(env, dir.path());
    }
    let sources: Vec<RenderedDir> = dirs
        .iter()
        .map(|(d, _)| RenderedDir::new(d.path()))
        .collect();
    let report = run_files(&[repo().join("alarms/tests")], &sources);
    assert!(report.success(), "{}", report.to_text(false));

    let alarms: BTreeSet<String> = std::fs::read_dir(repo().join("alarms"))
        .expect("alarms/")
        .filter_map(Result::ok)
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".toml")
                .map(str::to_owned)
        })
        .filter(|stem| stem != "topics")
        .collect();
    // alarm id -> (has a test expecting ALARM, has a test never expecting ALARM)
    let mut kinds: std::collections::BTreeMap<String, (bool, bool)> = Default::default();
    for case in &report.cases {
        let Outcome::Pass(ev) = &case.outcome else {
            continue;
        };
        let id = ev
            .alarm
            .name
            .trim_start_matches("aistudio-dev-")
            .trim_start_matches("aistudio-prod-")
            .to_owned();
        let fires = ev.expect.values().any(|s| *s == State::Alarm);
        let entry = kinds.entry(id).or_default();
        entry.0 |= fires;
        entry.1 |= !fires;
    }
    let tested: BTreeSet<String> = kinds.keys().cloned().collect();
    assert_eq!(
        alarms, tested,
        "every alarm in alarms/ has tests in alarms/tests/"
    );
    for (id, (firing, quiet)) in kinds {
        assert!(
            firing && quiet,
            "{id}: firing test {firing}, quiet test {quiet}"
        );
    }
}
