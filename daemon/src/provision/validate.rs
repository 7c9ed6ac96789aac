//! Offline validation of the definitions: every rule of the provisioning issue, each problem
//! reported with its file and the path inside it. Dashboard bodies are checked in
//! [`super::dashboard`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::dashboard::check_dashboard;
use super::definitions::{load, AlarmDef, Definitions, DimensionDef, LoadError, TopicsDef};
use super::expr::{check_expression, is_valid_id};
use super::limits::{
    catalog_metric, is_valid_period, max_evaluation_window, APP_NAMESPACE, ENVIRONMENT_DIMENSION,
    MAX_ACTIONS_PER_STATE, MAX_ALARM_NAME_LEN, MAX_DASHBOARD_NAME_LEN, MAX_TOPIC_NAME_LEN,
};
use super::render::{name_prefix, render, AlarmSpec, Placeholders};
use super::report::Problem;
use crate::config::KNOWN_ENVIRONMENTS;

/// PutMetricAlarm: AlarmDescription is at most 1,024 characters (CloudWatch API reference,
/// PutMetricAlarm `AlarmDescription`).
pub const MAX_ALARM_DESCRIPTION_LEN: usize = 1_024;
/// Region used to render the definitions when validating offline; names and rules do not
/// depend on it.
pub const VALIDATION_REGION: &str = "us-east-1";
/// The severity whose alarms must reach an e-mail subscriber.
pub const CRITICAL_SEVERITY: &str = "critical";

/// The statistics CloudWatch accepts in `Statistic` (PutMetricAlarm API reference).
const STATISTICS: [&str; 5] = ["SampleCount", "Average", "Sum", "Minimum", "Maximum"];
/// Alarm comparison operators against a static threshold (PutMetricAlarm API reference; the
/// anomaly-band operators need ThresholdMetricId, which the definitions do not support).
const COMPARISON_OPERATORS: [&str; 4] = [
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
];
/// TreatMissingData values (PutMetricAlarm API reference).
const TREAT_MISSING_DATA: [&str; 4] = ["breaching", "notBreaching", "ignore", "missing"];
/// EvaluateLowSampleCountPercentile values (PutMetricAlarm API reference).
const LOW_SAMPLE_COUNT: [&str; 2] = ["evaluate", "ignore"];
/// Subscription protocols the topics file may use (SNS Subscribe API reference).
const PROTOCOLS: [&str; 8] = [
    "email",
    "email-json",
    "https",
    "http",
    "sms",
    "sqs",
    "lambda",
    "firehose",
];

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
    if def.alarm_name.trim().is_empty() {
        problems.push(Problem::new(file, "AlarmName", "the alarm name is empty"));
    }
}

fn is_extended_statistic(stat: &str) -> bool {
    // p99, p99.9, tm90, wm(10%:90%), TM(10:90), IQM, tc/ts/pr with ranges.
    if stat == "IQM" {
        return true;
    }
    let lower = stat.to_ascii_lowercase();
    let Some(rest) = ["p", "tm", "wm", "tc", "ts", "pr"]
        .iter()
        .find_map(|pre| lower.strip_prefix(pre))
    else {
        return false;
    };
    if let Some(inner) = rest.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        return !inner.is_empty()
            && inner
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '.' | ':' | '%'));
    }
    rest.parse::<f64>()
        .is_ok_and(|v| (0.0..=100.0).contains(&v))
}

fn check_stat(stat: &str) -> Option<String> {
    if STATISTICS.contains(&stat) || is_extended_statistic(stat) {
        None
    } else {
        Some(format!(
            "`{stat}` is not a statistic; use {} or a percentile such as p95",
            STATISTICS.join(", ")
        ))
    }
}

fn check_catalog(
    namespace: &str,
    metric: &str,
    dims: &[DimensionDef],
    path: &str,
    found: &mut Vec<(String, String)>,
) {
    if namespace != APP_NAMESPACE {
        return;
    }
    match catalog_metric(metric) {
        None => found.push((format!("{path}MetricName"), format!("`{metric}` is not in the {APP_NAMESPACE} metric catalog (DESIGN.md); use a catalog metric or add it to the catalog first"))),
        Some(entry) => {
            for (i, d) in dims.iter().enumerate() {
                if d.name != ENVIRONMENT_DIMENSION && !entry.extra_dimensions.contains(&d.name.as_str()) {
                    found.push((format!("{path}Dimensions[{i}].Name"), format!("{metric} has no dimension `{}`; it has {ENVIRONMENT_DIMENSION} {}", d.name, entry.extra_dimensions.join(" "))));
                }
            }
            if !dims.iter().any(|d| d.name == ENVIRONMENT_DIMENSION) {
                found.push((format!("{path}Dimensions"), format!("{metric} is published with an {ENVIRONMENT_DIMENSION} dimension; add it or the alarm sees no data")));
            }
        }
    }
}

/// Checks one rendered PutMetricAlarm payload; returns (path, message) pairs.
pub fn check_alarm_spec(spec: &AlarmSpec, found: &mut Vec<(String, String)>) {
    let mut push = |path: &str, message: String| found.push((path.to_owned(), message));
    let name = &spec.alarm_name;
    if name.chars().count() > MAX_ALARM_NAME_LEN {
        push(
            "AlarmName",
            format!("`{name}` is longer than {MAX_ALARM_NAME_LEN} characters; shorten it"),
        );
    }
    if name.chars().any(char::is_control) {
        push(
            "AlarmName",
            "the alarm name contains a control character; remove it".to_owned(),
        );
    }
    if let Some(d) = &spec.alarm_description {
        if d.chars().count() > MAX_ALARM_DESCRIPTION_LEN {
            push("AlarmDescription", format!("the description and runbook together are longer than {MAX_ALARM_DESCRIPTION_LEN} characters; shorten them"));
        }
    }
    let single = spec.metric_name.is_some() || spec.namespace.is_some();
    let math = !spec.metrics.is_empty();
    let mut period = spec.period;
    if single && math {
        push(
            "Metrics",
            "give either MetricName/Namespace or Metrics, not both".to_owned(),
        );
    } else if !single && !math {
        push(
            "MetricName",
            "the alarm watches nothing; give MetricName and Namespace, or Metrics".to_owned(),
        );
    } else if single {
        let (Some(ns), Some(metric)) = (&spec.namespace, &spec.metric_name) else {
            push(
                "Namespace",
                "a single-metric alarm needs both Namespace and MetricName".to_owned(),
            );
            return;
        };
        match (&spec.statistic, &spec.extended_statistic) {
            (Some(_), Some(_)) | (None, None) => push(
                "Statistic",
                "give exactly one of Statistic and ExtendedStatistic".to_owned(),
            ),
            (Some(s), None) if !STATISTICS.contains(&s.as_str()) => push(
                "Statistic",
                format!("`{s}` is not one of {}", STATISTICS.join(", ")),
            ),
            (None, Some(s)) if !is_extended_statistic(s) => push(
                "ExtendedStatistic",
                format!("`{s}` is not a percentile or trimmed statistic such as p95"),
            ),
            _ => {}
        }
        if spec.period.is_none() {
            push("Period", "a single-metric alarm needs a Period".to_owned());
        }
        let mut catalog = Vec::new();
        check_catalog(ns, metric, &spec.dimensions, "", &mut catalog);
        found.extend(catalog);
    } else {
        for (field, set) in [
            ("Statistic", spec.statistic.is_some()),
            ("ExtendedStatistic", spec.extended_statistic.is_some()),
            ("Period", spec.period.is_some()),
            ("Dimensions", !spec.dimensions.is_empty()),
        ] {
            if set {
                found.push((
                    field.to_owned(),
                    format!("{field} is not allowed beside Metrics; put it in the MetricStat"),
                ));
            }
        }
        let ids: BTreeSet<String> = spec.metrics.iter().map(|q| q.id.clone()).collect();
        let mut seen = BTreeSet::new();
        let mut returning = 0;
        let mut max_period = None;
        for (i, q) in spec.metrics.iter().enumerate() {
            let at = format!("Metrics[{i}]");
            if !is_valid_id(&q.id) {
                found.push((format!("{at}.Id"), format!("`{}` is not a valid id; start with a lowercase letter, then letters, digits or _", q.id)));
            }
            if !seen.insert(q.id.clone()) {
                found.push((
                    format!("{at}.Id"),
                    format!("id `{}` is used twice; ids must be unique", q.id),
                ));
            }
            if q.return_data != Some(false) {
                returning += 1;
            }
            match (&q.expression, &q.metric_stat) {
                (Some(_), Some(_)) | (None, None) => found.push((
                    at.clone(),
                    "give exactly one of Expression and MetricStat".to_owned(),
                )),
                (Some(expr), None) => {
                    let others: BTreeSet<String> =
                        ids.iter().filter(|id| **id != q.id).cloned().collect();
                    if let Err(err) = check_expression(expr, &others) {
                        found.push((
                            format!("{at}.Expression"),
                            format!("`{expr}` is not a valid expression: {err}"),
                        ));
                    }
                    if let Some(p) = q.period {
                        if !is_valid_period(p) {
                            found.push((format!("{at}.Period"), period_message(p)));
                        }
                        max_period = max_period.max(Some(p));
                    }
                }
                (None, Some(ms)) => {
                    if !is_valid_period(ms.period) {
                        found.push((format!("{at}.MetricStat.Period"), period_message(ms.period)));
                    }
                    max_period = max_period.max(Some(ms.period));
                    if let Some(message) = check_stat(&ms.stat) {
                        found.push((format!("{at}.MetricStat.Stat"), message));
                    }
                    check_catalog(
                        &ms.metric.namespace,
                        &ms.metric.metric_name,
                        &ms.metric.dimensions,
                        &format!("{at}.MetricStat.Metric."),
                        found,
                    );
                }
            }
        }
        if returning != 1 {
            found.push(("Metrics".to_owned(), format!("{returning} queries return data; exactly one must (set ReturnData = false on the others)")));
        }
        period = max_period;
    }
    let mut push = |path: &str, message: String| found.push((path.to_owned(), message));
    if let Some(p) = spec.period {
        if !is_valid_period(p) {
            push("Period", period_message(p));
        }
    }
    if spec.evaluation_periods < 1 {
        push(
            "EvaluationPeriods",
            format!("{} must be at least 1", spec.evaluation_periods),
        );
    }
    if let Some(d) = spec.datapoints_to_alarm {
        if d < 1 || d > spec.evaluation_periods {
            push(
                "DatapointsToAlarm",
                format!(
                    "{d} must be between 1 and EvaluationPeriods ({})",
                    spec.evaluation_periods
                ),
            );
        }
    }
    if let Some(p) = period.filter(|p| *p > 0) {
        let window = i64::from(p) * i64::from(spec.evaluation_periods);
        let max = max_evaluation_window(p);
        if window > max {
            push("EvaluationPeriods", format!("Period {p} s × EvaluationPeriods {} = {window} s is more than CloudWatch's {max} s; evaluate fewer or shorter periods", spec.evaluation_periods));
        }
    }
    if !COMPARISON_OPERATORS.contains(&spec.comparison_operator.as_str()) {
        push(
            "ComparisonOperator",
            format!(
                "`{}` is not one of {}",
                spec.comparison_operator,
                COMPARISON_OPERATORS.join(", ")
            ),
        );
    }
    if let Some(t) = &spec.treat_missing_data {
        if !TREAT_MISSING_DATA.contains(&t.as_str()) {
            push(
                "TreatMissingData",
                format!("`{t}` is not one of {}", TREAT_MISSING_DATA.join(", ")),
            );
        }
    }
    if let Some(t) = &spec.evaluate_low_sample_count_percentile {
        if !LOW_SAMPLE_COUNT.contains(&t.as_str()) {
            push(
                "EvaluateLowSampleCountPercentile",
                format!("`{t}` is not one of {}", LOW_SAMPLE_COUNT.join(", ")),
            );
        }
    }
    if !spec.threshold.is_finite() {
        push(
            "Threshold",
            "the threshold must be a finite number".to_owned(),
        );
    }
    for (field, list) in [
        ("AlarmActions", &spec.alarm_actions),
        ("OKActions", &spec.ok_actions),
        ("InsufficientDataActions", &spec.insufficient_data_actions),
    ] {
        if list.len() > MAX_ACTIONS_PER_STATE {
            push(
                field,
                format!(
                    "{} actions; CloudWatch allows at most {MAX_ACTIONS_PER_STATE} per state",
                    list.len()
                ),
            );
        }
    }
}

fn period_message(p: i32) -> String {
    format!("period {p} s is not allowed; use 10, 20, 30 or a multiple of 60")
}

fn check_topics(file: &str, spec: &TopicsDef, problems: &mut Vec<Problem>) {
    let mut keys = BTreeSet::new();
    for (i, topic) in spec.topics.iter().enumerate() {
        let at = format!("Topics[{i}]");
        if !keys.insert(topic.key.as_str()) {
            problems.push(Problem::new(
                file,
                &format!("{at}.Key"),
                format!("topic `{}` is defined twice", topic.key),
            ));
        }
        for env in KNOWN_ENVIRONMENTS {
            let name = format!("{}{}", name_prefix(env), topic.key);
            if name.len() > MAX_TOPIC_NAME_LEN
                || topic.key.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                problems.push(Problem::new(file, &format!("{at}.Key"), format!("topic name `{name}` is not valid; use 1 to {MAX_TOPIC_NAME_LEN} characters of A-Z a-z 0-9 - _")));
                break;
            }
        }
        for (j, sub) in topic.subscriptions.iter().enumerate() {
            let at = format!("{at}.Subscriptions[{j}]");
            if !PROTOCOLS.contains(&sub.protocol.as_str()) {
                problems.push(Problem::new(file, &format!("{at}.Protocol"), format!("`{}` is not one of {}; Slack goes through an https endpoint or AWS Chatbot", sub.protocol, PROTOCOLS.join(", "))));
            }
            let e = sub.endpoint.as_str();
            let ok = match sub.protocol.as_str() {
                "email" | "email-json" => {
                    e.contains('@')
                        && !e.contains(char::is_whitespace)
                        && !e.starts_with('@')
                        && !e.ends_with('@')
                }
                "https" => e.starts_with("https://"),
                "http" => e.starts_with("http://"),
                "sms" => e.starts_with('+'),
                "sqs" | "lambda" | "firehose" => e.starts_with("arn:"),
                _ => true,
            };
            if !ok {
                problems.push(Problem::new(
                    file,
                    &format!("{at}.Endpoint"),
                    format!("`{e}` is not a valid {} endpoint", sub.protocol),
                ));
            }
            for env in &sub.environments {
                if !KNOWN_ENVIRONMENTS.contains(&env.as_str()) {
                    problems.push(Problem::new(
                        file,
                        &format!("{at}.Environments"),
                        format!(
                            "unknown environment `{env}`; use one of {}",
                            KNOWN_ENVIRONMENTS.join(", ")
                        ),
                    ));
                }
            }
        }
    }
    for (severity, list) in &spec.severities {
        if list.is_empty() {
            problems.push(Problem::new(
                file,
                &format!("Severities.{severity}"),
                "the severity maps to no topic; list at least one",
            ));
        }
        for (i, key) in list.iter().enumerate() {
            if !keys.contains(key.as_str()) {
                problems.push(Problem::new(
                    file,
                    &format!("Severities.{severity}[{i}]"),
                    format!("topic `{key}` is not defined in [[Topics]]"),
                ));
            }
        }
    }
}

/// Every critical alarm must reach, in every environment, a topic with an e-mail subscriber.
fn check_critical_routes(defs: &Definitions, problems: &mut Vec<Problem>) {
    let Some(topics) = defs.topics.as_ref().map(|t| &t.spec) else {
        return;
    };
    for file in defs
        .alarms
        .iter()
        .filter(|f| f.alarm.severity == CRITICAL_SEVERITY)
    {
        let mut keys: Vec<&String> = topics
            .severities
            .get(CRITICAL_SEVERITY)
            .into_iter()
            .flatten()
            .collect();
        keys.extend(file.alarm.alarm_actions.iter());
        for env in KNOWN_ENVIRONMENTS {
            let reaches_email = topics
                .topics
                .iter()
                .filter(|t| keys.contains(&&t.key))
                .any(|t| {
                    t.subscriptions.iter().any(|s| {
                        s.protocol == "email"
                            && (s.environments.is_empty()
                                || s.environments.iter().any(|e| e == env))
                    })
                });
            if !reaches_email {
                problems.push(Problem::new(&file.path, "Severity", format!(
                    "critical alarm reaches no topic with an e-mail subscriber in {env}; add an email subscription for {env} to a critical topic"
                )));
            }
        }
    }
}
