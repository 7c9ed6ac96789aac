//! Every rendered alarm, in every environment, against the reviewer-written table in
//! `tests/golden/alarm-payloads.md`: what reaches CloudWatch changes only with a visible diff
//! of that table (a threshold, a period override, a dropped TreatMissingData, OKActions or
//! runbook fails here).

use std::collections::BTreeMap;
use std::path::Path;

use aistudio_core::catalog::KNOWN_ENVIRONMENTS;
use provision::definitions;
use provision::render::{name_prefix, render, AlarmSpec, Placeholders};

/// One row of the table.
#[derive(Debug, PartialEq)]
struct Row {
    metric: String,
    period: String,
    eval: String,
    dta: String,
    comparison: String,
    threshold: String,
    missing: String,
    alarm_topics: String,
    ok_topics: String,
    first_check: String,
}

fn table() -> BTreeMap<(String, String), Row> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/alarm-payloads.md");
    let text = std::fs::read_to_string(&path).expect("the golden table");
    let mut rows = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<String> = line
            .trim_matches('|')
            .split(" | ")
            .map(|c| c.trim().replace("\\|", "|"))
            .collect();
        assert_eq!(cells.len(), 12, "a table row has 12 cells: {line}");
        if cells[0] == "alarm" {
            continue;
        }
        let key = (cells[0].clone(), cells[1].clone());
        let row = Row {
            metric: cells[2].clone(),
            period: cells[3].clone(),
            eval: cells[4].clone(),
            dta: cells[5].clone(),
            comparison: cells[6].clone(),
            threshold: cells[7].clone(),
            missing: cells[8].clone(),
            alarm_topics: cells[9].clone(),
            ok_topics: cells[10].clone(),
            first_check: cells[11].clone(),
        };
        assert!(rows.insert(key, row).is_none(), "row twice: {line}");
    }
    rows
}

/// Topic keys of a list of topic ARNs (`...:aistudio-prod-critical-alerts` → `critical-alerts`).
fn keys(arns: &[String], env: &str) -> String {
    let prefix = name_prefix(env);
    let mut keys: Vec<&str> = arns
        .iter()
        .map(|arn| {
            let name = arn.rsplit(':').next().unwrap_or_default();
            name.strip_prefix(prefix.as_str()).unwrap_or(name)
        })
        .collect();
    keys.sort_unstable();
    if keys.is_empty() {
        "-".to_owned()
    } else {
        keys.join(" ")
    }
}

/// The row the rendered payload amounts to (the "first check" cell is the runbook's start as
/// the table gives it, checked separately).
fn row_of(spec: &AlarmSpec, env: &str, first_check: &str) -> Row {
    let (metric, period) = match (&spec.metric_name, spec.metrics.is_empty()) {
        (Some(name), true) => {
            let stat = spec
                .statistic
                .clone()
                .or_else(|| spec.extended_statistic.clone())
                .unwrap_or_default();
            (
                format!("{name} {stat}"),
                spec.period.map(|p| p.to_string()).unwrap_or_default(),
            )
        }
        _ => {
            let returned = spec
                .metrics
                .iter()
                .find(|q| q.return_data != Some(false))
                .expect("one query returns data");
            let metric = match (&returned.expression, &returned.metric_stat) {
                (Some(expr), _) => format!("= {expr}"),
                (None, Some(ms)) => ms.metric.metric_name.clone(),
                (None, None) => String::new(),
            };
            let mut periods: Vec<i32> = spec
                .metrics
                .iter()
                .filter_map(|q| q.metric_stat.as_ref().map(|ms| ms.period))
                .collect();
            periods.dedup();
            let periods: Vec<String> = periods.iter().map(ToString::to_string).collect();
            (metric, periods.join(" "))
        }
    };
    let threshold = if spec.threshold.fract() == 0.0 {
        format!("{}", spec.threshold as i64)
    } else {
        spec.threshold.to_string()
    };
    Row {
        metric,
        period,
        eval: spec.evaluation_periods.to_string(),
        dta: spec
            .datapoints_to_alarm
            .unwrap_or(spec.evaluation_periods)
            .to_string(),
        comparison: spec.comparison_operator.replace("Threshold", ""),
        threshold,
        missing: spec
            .treat_missing_data
            .clone()
            .unwrap_or_else(|| "missing".to_owned()),
        alarm_topics: keys(&spec.alarm_actions, env),
        ok_topics: keys(&spec.ok_actions, env),
        first_check: first_check.to_owned(),
    }
}

#[test]
fn every_rendered_alarm_matches_its_row_in_every_environment() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let (defs, problems) = definitions::load(&root).expect("definitions");
    assert!(problems.is_empty(), "{problems:?}");
    let mut expected = table();
    let mut checked = 0;
    for env in KNOWN_ENVIRONMENTS {
        let rendered = render(&defs, &Placeholders::defaults(env, "us-east-1")).expect("render");
        for spec in &rendered.alarms {
            let id = spec
                .alarm_name
                .strip_prefix(name_prefix(env).as_str())
                .expect("prefixed name")
                .to_owned();
            let want = expected
                .remove(&(id.clone(), env.to_owned()))
                .unwrap_or_else(|| {
                    panic!(
                        "{} has no row for {env} in tests/golden/alarm-payloads.md: add one",
                        id
                    )
                });
            let description = spec.alarm_description.clone().unwrap_or_default();
            assert!(
                description.contains(&format!("First check: {}", want.first_check)),
                "{id} in {env}: the description lost its runbook: {description}"
            );
            assert!(spec.actions_enabled, "{id} in {env}: actions disabled");
            let got = row_of(spec, env, &want.first_check);
            assert_eq!(
                got, want,
                "{id} in {env}: the rendered payload differs from its row"
            );
            checked += 1;
        }
    }
    assert!(
        expected.is_empty(),
        "rows for alarms that are not defined: {:?}",
        expected.keys().collect::<Vec<_>>()
    );
    assert!(checked >= 13 * KNOWN_ENVIRONMENTS.len(), "{checked}");
}
