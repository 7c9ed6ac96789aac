//! Offline validation of the definitions: every rule of the provisioning issue, each problem
//! reported with its file and the path inside it. Dashboard bodies are checked in
//! [`super::dashboard`], rendered alarms in [`super::alarm_rules`], topics and routing in
//! [`super::topic_rules`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

pub use super::alarm_rules::check_alarm_spec;
use super::dashboard::check_dashboard;
use super::definitions::{load, AlarmDef, Definitions, LoadError, TopicsDef};
use super::dimension_sets::check_literal_value;
use super::render::{name_prefix, render, Placeholders};
use super::report::Problem;
use super::topic_rules::{check_critical_routes, check_topics};
use aistudio_core::catalog::KNOWN_ENVIRONMENTS;
use aistudio_core::limits::MAX_DASHBOARD_NAME_LEN;

/// Region used to render the definitions when validating offline; names and rules do not
/// depend on it.
pub const VALIDATION_REGION: &str = "us-east-1";

/// Loads and checks everything under `root`; an empty list means valid.
pub fn validate_dir(root: &Path) -> Result<Vec<Problem>, LoadError> {
    let (defs, mut problems) = load(root)?;
    problems.extend(check(&defs));
    problems.sort();
    problems.dedup();
    Ok(problems)
}

/// Checks parsed definitions, for every environment.
pub fn check(defs: &Definitions) -> Vec<Problem> {
    let mut problems = Vec::new();
    if let Some(topics) = &defs.topics {
        check_topics(&topics.path, &topics.spec, &mut problems);
        super::slack::check_slack(&topics.path, &topics.spec, &mut problems);
    }
    for file in &defs.dashboards {
        check_dashboard(&file.path, &file.body, &mut problems);
        for env in KNOWN_ENVIRONMENTS {
            let name = format!("{}{}", name_prefix(env), file.stem);
            check_dashboard_name(&file.path, &name, &mut problems);
        }
    }
    for file in &defs.alarms {
        check_alarm_def(
            &file.path,
            &file.alarm,
            defs.topics.as_ref().map(|t| &t.spec),
            &mut problems,
        );
    }
    // Rendered checks, per environment; a problem found in only some environments says which.
    let mut by_env: BTreeMap<Problem, Vec<&str>> = BTreeMap::new();
    for env in KNOWN_ENVIRONMENTS {
        let ph = Placeholders::defaults(env, VALIDATION_REGION);
        let rendered = match render(defs, &ph) {
            Ok(rendered) => rendered,
            Err(found) => {
                for p in found {
                    by_env.entry(p).or_default().push(env);
                }
                continue;
            }
        };
        let mut seen = BTreeMap::new();
        for (file, spec) in defs.alarms.iter().zip(&rendered.alarms) {
            let mut found = Vec::new();
            check_alarm_spec(spec, &mut found);
            if let Some(other) = seen.insert(spec.alarm_name.clone(), file.path.clone()) {
                found.push((
                    "AlarmName".to_owned(),
                    format!(
                        "`{}` is also defined in {other}; alarm names must be unique",
                        spec.alarm_name
                    ),
                ));
            }
            for (path, message) in found {
                by_env
                    .entry(Problem::new(&file.path, &path, message))
                    .or_default()
                    .push(env);
            }
        }
    }
    for (problem, envs) in by_env {
        if envs.len() == KNOWN_ENVIRONMENTS.len() {
            problems.push(problem);
        } else {
            let message = format!("{} (in {})", problem.message, envs.join(", "));
            problems.push(Problem { message, ..problem });
        }
    }
    check_critical_routes(defs, &mut problems);
    problems
}

fn check_dashboard_name(file: &str, name: &str, problems: &mut Vec<Problem>) {
    if name.len() > MAX_DASHBOARD_NAME_LEN {
        problems.push(Problem::new(file, "", format!("dashboard name `{name}` is longer than {MAX_DASHBOARD_NAME_LEN} characters; shorten the file name")));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        problems.push(Problem::new(
            file,
            "",
            format!(
                "dashboard name `{name}` contains `{bad}`; file names may use only A-Z a-z 0-9 - _"
            ),
        ));
    }
}

fn topic_keys(topics: Option<&TopicsDef>) -> BTreeSet<&str> {
    topics
        .map(|t| t.topics.iter().map(|t| t.key.as_str()).collect())
        .unwrap_or_default()
}

fn check_alarm_def(
    file: &str,
    def: &AlarmDef,
    topics: Option<&TopicsDef>,
    problems: &mut Vec<Problem>,
) {
    let keys = topic_keys(topics);
    match topics.map(|t| &t.severities) {
        Some(severities) => match severities.get(&def.severity) {
            None => problems.push(Problem::new(
                file,
                "Severity",
                format!(
                    "severity `{}` is not defined in the topics file; use one of: {}",
                    def.severity,
                    severities.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )),
            Some(list)
                if list.iter().all(|k| !keys.contains(k.as_str()))
                    && def.alarm_actions.is_empty() =>
            {
                problems.push(Problem::new(file, "Severity", format!(
                    "severity `{}` routes to no defined topic, so this alarm notifies nobody; map it to a topic in the topics file",
                    def.severity
                )));
            }
            Some(_) => {}
        },
        None => problems.push(Problem::new(
            file,
            "Severity",
            "there is no topics file to route this alarm to; create alarms/topics.toml",
        )),
    }
    for (field, list) in [
        ("AlarmActions", &def.alarm_actions),
        ("OKActions", &def.ok_actions),
        ("InsufficientDataActions", &def.insufficient_data_actions),
    ] {
        for (i, entry) in list.iter().enumerate() {
            if !entry.starts_with("arn:") && !keys.contains(entry.as_str()) {
                problems.push(Problem::new(
                    file,
                    &format!("{field}[{i}]"),
                    format!("`{entry}` is neither an ARN nor a topic defined in the topics file"),
                ));
            }
        }
    }
    for env in def.environments.keys() {
        if !KNOWN_ENVIRONMENTS.contains(&env.as_str()) {
            problems.push(Problem::new(
                file,
                &format!("Environments.{env}"),
                format!(
                    "unknown environment `{env}`; use one of {}",
                    KNOWN_ENVIRONMENTS.join(", ")
                ),
            ));
        }
    }
    let mut push =
        |path: String, message: String| problems.push(Problem::new(file, &path, message));
    for (i, d) in def.dimensions.iter().enumerate() {
        check_literal_value(&format!("Dimensions[{i}]"), &d.name, &d.value, &mut push);
    }
    for (q, query) in def.metrics.iter().enumerate() {
        let Some(stat) = &query.metric_stat else {
            continue;
        };
        for (i, d) in stat.metric.dimensions.iter().enumerate() {
            let path = format!("Metrics[{q}].MetricStat.Metric.Dimensions[{i}]");
            check_literal_value(&path, &d.name, &d.value, &mut push);
        }
    }
    if def.alarm_name.trim().is_empty() {
        problems.push(Problem::new(file, "AlarmName", "the alarm name is empty"));
    }
}
