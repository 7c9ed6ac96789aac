//! `provision validate`: the shipped definitions pass, and a broken example of every rule of
//! the provisioning issue is reported with its file and path.

use std::path::Path;
use std::process::Command;

use provision::render::{render, Placeholders};
use provision::report::Problem;
use provision::{definitions, validate};
use serde_json::{json, Value};
use tempfile::TempDir;
use tests::sidecar::sidecar_binary;
use tests::workspace_root as repo_root;

/// A copy of the repository's definitions in a temp dir, for a test to break.
fn copy_definitions() -> TempDir {
    let tmp = tempfile::tempdir().expect("temp dir");
    for sub in ["dashboards", "alarms"] {
        let to = tmp.path().join(sub);
        std::fs::create_dir_all(&to).expect("mkdir");
        for entry in std::fs::read_dir(repo_root().join(sub)).expect("definitions dir") {
            let path = entry.expect("entry").path();
            if path.is_file() {
                std::fs::copy(&path, to.join(path.file_name().expect("name"))).expect("copy");
            }
        }
    }
    tmp
}

fn problems(dir: &Path) -> Vec<Problem> {
    validate::validate_dir(dir).expect("definitions dir readable")
}

/// Asserts one problem names `file`, a path containing `path`, and a message containing `text`.
fn assert_reported(found: &[Problem], file: &str, path: &str, text: &str) {
    assert!(
        found
            .iter()
            .any(|p| p.file.ends_with(file) && p.path.contains(path) && p.message.contains(text)),
        "expected a problem in {file} at {path:?} saying {text:?}; got:\n{}",
        found
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).expect("read definition");
    assert!(text.contains(from), "{file} does not contain {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).expect("write definition");
}

fn write_dashboard(dir: &Path, name: &str, body: &Value) {
    std::fs::write(dir.join("dashboards").join(name), body.to_string()).expect("write dashboard");
}

fn metric_widget(x: i64, y: i64, rows: usize) -> Value {
    let metrics: Vec<Value> = (0..rows)
        .map(|i| {
            json!([
                "AWS/ECS",
                "CPUUtilization",
                "ClusterName",
                "cluster",
                "ServiceName",
                format!("svc-{i}")
            ])
        })
        .collect();
    json!({"type": "metric", "x": x, "y": y, "width": 12, "height": 6,
        "properties": {"region": "${Region}", "metrics": metrics}})
}

#[test]
fn shipped_definitions_are_valid_and_render_the_catalog_for_every_environment() {
    let found = problems(&repo_root());
    assert!(found.is_empty(), "{found:?}");
    let (defs, load_problems) = definitions::load(&repo_root()).expect("load");
    assert!(load_problems.is_empty());
    for env in ["dev", "staging", "prod"] {
        let rendered = render(&defs, &Placeholders::defaults(env, "eu-west-1")).expect("render");
        let names: Vec<&str> = rendered
            .dashboards
            .iter()
            .map(|d| d.dashboard_name.as_str())
            .collect();
        for want in [
            "ecs-service-health",
            "application-performance",
            "database-performance",
            "streaming-jobs",
        ] {
            assert!(
                names.contains(&format!("aistudio-{env}-{want}").as_str()),
                "{names:?}"
            );
        }
        for d in &rendered.dashboards {
            let text = d.dashboard_body.to_string();
            assert!(
                !text.contains("${"),
                "placeholder left in {}",
                d.dashboard_name
            );
            assert!(
                text.contains("eu-west-1"),
                "{} has no region",
                d.dashboard_name
            );
        }
        let alarm = |name: &str| {
            rendered
                .alarms
                .iter()
                .find(|a| a.alarm_name == format!("aistudio-{env}-{name}"))
                .unwrap_or_else(|| panic!("no alarm {name} in {env}"))
        };
        let critical =
            format!("arn:aws:sns:eu-west-1:${{AWS::AccountId}}:aistudio-{env}-critical-alerts");
        let warning =
            format!("arn:aws:sns:eu-west-1:${{AWS::AccountId}}:aistudio-{env}-operational-alerts");
        for name in [
            "ecs-cpu-high",
            "ecs-memory-high",
            "alb-unhealthy-targets",
            "http-error-rate-high",
            "alb-target-5xx-high",
            "ecs-no-running-tasks",
            "jobs-failed-high",
        ] {
            assert_eq!(alarm(name).alarm_actions, vec![critical.clone()], "{name}");
        }
        for name in [
            "response-time-p95-high",
            "db-connections-high",
            "ecs-running-below-desired",
            "sidecar-log-shipping",
            "sidecar-events-lost",
        ] {
            assert_eq!(alarm(name).alarm_actions, vec![warning.clone()], "{name}");
        }
        let unhealthy = alarm("alb-unhealthy-targets");
        assert_eq!(
            unhealthy.comparison_operator,
            "GreaterThanOrEqualToThreshold"
        );
        assert_eq!(unhealthy.threshold, 1.0);
        assert_eq!(alarm("ecs-cpu-high").threshold, 80.0);
        assert_eq!(alarm("ecs-memory-high").threshold, 85.0);
        assert_eq!(
            alarm("response-time-p95-high")
                .extended_statistic
                .as_deref(),
            Some("p95")
        );
        let topics: Vec<&str> = rendered.topics.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            topics,
            vec![
                format!("aistudio-{env}-critical-alerts"),
                format!("aistudio-{env}-operational-alerts")
            ]
        );
        let policy = rendered.topics[0].policy.to_string();
        assert!(policy.contains("cloudwatch.amazonaws.com"), "{policy}");
    }
    // Per-environment values: DB connections are 80 % of each environment's maximum.
    let threshold = |env: &str| {
        render(&defs, &Placeholders::defaults(env, "us-east-1"))
            .expect("render")
            .alarms
            .into_iter()
            .find(|a| a.alarm_name.ends_with("db-connections-high"))
            .map(|a| a.threshold)
    };
    assert_eq!(threshold("dev"), Some(80.0));
    assert_eq!(threshold("prod"), Some(800.0));
}

#[test]
fn files_that_do_not_parse_are_reported_each() {
    let tmp = copy_definitions();
    std::fs::write(tmp.path().join("dashboards/broken.json"), "{\"widgets\": [").expect("write");
    edit(
        tmp.path(),
        "alarms/ecs-cpu-high.toml",
        "Threshold = 80",
        "Threshhold = 80",
    );
    let found = problems(tmp.path());
    assert_reported(&found, "dashboards/broken.json", "", "EOF");
    assert_reported(
        &found,
        "alarms/ecs-cpu-high.toml",
        "line ",
        "unknown field `Threshhold`",
    );
}

#[test]
fn dashboard_quotas_are_enforced() {
    let tmp = copy_definitions();
    let widgets: Vec<Value> = (0..501)
        .map(|i| json!({"type": "text", "x": 0, "y": i, "width": 1, "height": 1, "properties": {"markdown": "x"}}))
        .collect();
    write_dashboard(
        tmp.path(),
        "too-many-widgets.json",
        &json!({"widgets": widgets}),
    );
    write_dashboard(
        tmp.path(),
        "wide-widget.json",
        &json!({"widgets": [metric_widget(0, 0, 501)]}),
    );
    let six: Vec<Value> = (0..6).map(|i| metric_widget(0, i * 6, 450)).collect();
    write_dashboard(
        tmp.path(),
        "too-many-metrics.json",
        &json!({"widgets": six}),
    );
    let found = problems(tmp.path());
    assert_reported(
        &found,
        "too-many-widgets.json",
        "widgets",
        "at most 500 per dashboard",
    );
    assert_reported(
        &found,
        "wide-widget.json",
        "widgets[0].properties.metrics",
        "at most 500 per widget",
    );
    assert_reported(
        &found,
        "too-many-metrics.json",
        "widgets",
        "2700 metrics in all",
    );
}

#[test]
fn the_grid_and_overlaps_are_checked() {
    let tmp = copy_definitions();
    write_dashboard(
        tmp.path(),
        "past-the-grid.json",
        &json!({"widgets": [metric_widget(18, 0, 1)]}),
    );
    write_dashboard(
        tmp.path(),
        "overlap.json",
        &json!({"widgets": [metric_widget(0, 0, 1), metric_widget(6, 3, 1)]}),
    );
    let found = problems(tmp.path());
    assert_reported(&found, "past-the-grid.json", "widgets[0].x", "24 columns");
    assert_reported(&found, "overlap.json", "widgets[1]", "overlaps widgets[0]");
}

#[test]
fn dashboard_names_must_fit_cloudwatch() {
    let tmp = copy_definitions();
    write_dashboard(tmp.path(), "bad.name.json", &json!({"widgets": []}));
    let long = format!("{}.json", "x".repeat(250));
    write_dashboard(tmp.path(), &long, &json!({"widgets": []}));
    let found = problems(tmp.path());
    assert_reported(&found, "bad.name.json", "", "contains `.`");
    assert_reported(&found, &long, "", "longer than 255");
}

#[test]
fn dashboard_metrics_expressions_and_catalog_are_checked() {
    let tmp = copy_definitions();
    let body = json!({"widgets": [{"type": "metric", "x": 0, "y": 0, "width": 24, "height": 6,
    "properties": {"region": "${Region}", "metrics": [
        [{"expression": "100 * errs / (total", "id": "rate"}],
        ["AIStudio/Streaming", "ErrorCount", "Environment", "${Environment}", {"id": "Errs"}],
        ["AIStudio/Streaming", "JobsExploded", "Environment", "${Environment}"],
        [{"expression": "SEARCH('{AIStudio/Streaming,Environment} MetricName=\"Nope\"', 'Sum', 60)", "id": "s1"}]
    ]}}]});
    write_dashboard(tmp.path(), "bad-metrics.json", &body);
    let found = problems(tmp.path());
    assert_reported(
        &found,
        "bad-metrics.json",
        "metrics[1]",
        "`Errs` is not a valid id",
    );
    assert_reported(
        &found,
        "bad-metrics.json",
        "metrics[0]",
        "not a valid expression",
    );
    assert_reported(
        &found,
        "bad-metrics.json",
        "metrics[2][1]",
        "`JobsExploded` is not in the AIStudio/Streaming metric catalog",
    );
    assert_reported(&found, "bad-metrics.json", "metrics[3]", "`Nope`");
}

#[test]
fn alarm_names_are_bounded_and_printable() {
    let tmp = copy_definitions();
    edit(
        tmp.path(),
        "alarms/ecs-cpu-high.toml",
        "AlarmName = \"ecs-cpu-high\"",
        &format!("AlarmName = \"{}\"", "a".repeat(250)),
    );
    edit(
        tmp.path(),
        "alarms/ecs-memory-high.toml",
        "AlarmName = \"ecs-memory-high\"",
        "AlarmName = \"ecs-memory\\thigh\"",
    );
    let found = problems(tmp.path());
    assert_reported(&found, "ecs-cpu-high.toml", "AlarmName", "longer than 255");
    assert_reported(
        &found,
        "ecs-memory-high.toml",
        "AlarmName",
        "control character",
    );
}

#[test]
fn periods_and_the_evaluation_window_are_checked() {
    let tmp = copy_definitions();
    edit(
        tmp.path(),
        "alarms/ecs-cpu-high.toml",
        "Period = 300",
        "Period = 45",
    );
    edit(
        tmp.path(),
        "alarms/jobs-failed-high.toml",
        "EvaluationPeriods = 2\nDatapointsToAlarm = 2",
        "EvaluationPeriods = 300\nDatapointsToAlarm = 2",
    );
    edit(
        tmp.path(),
        "alarms/http-error-rate-high.toml",
        "Period = 60",
        "Period = 90",
    );
    // 20 s is valid (the API reference is the later word over the "10 or 30").
    edit(
        tmp.path(),
        "alarms/alb-target-5xx-high.toml",
        "Period = 60",
        "Period = 20",
    );
    let found = problems(tmp.path());
    assert_reported(
        &found,
        "ecs-cpu-high.toml",
        "Period",
        "period 45 s is not allowed",
    );
    assert_reported(
        &found,
        "jobs-failed-high.toml",
        "EvaluationPeriods",
        "90000 s is more than CloudWatch's 86400 s",
    );
    assert_reported(
        &found,
        "http-error-rate-high.toml",
        "Metrics[1].MetricStat.Period",
        "period 90 s",
    );
    assert!(
        !found
            .iter()
            .any(|p| p.file.ends_with("alb-target-5xx-high.toml")),
        "{found:?}"
    );
}

#[test]
fn datapoints_to_alarm_may_not_exceed_evaluation_periods_in_any_environment() {
    let tmp = copy_definitions();
    edit(
        tmp.path(),
        "alarms/ecs-cpu-high.toml",
        "DatapointsToAlarm = 3",
        "DatapointsToAlarm = 4",
    );
    let mut text =
        std::fs::read_to_string(tmp.path().join("alarms/ecs-memory-high.toml")).expect("read");
    text.push_str("\n[Environments.prod]\nDatapointsToAlarm = 5\n");
    std::fs::write(tmp.path().join("alarms/ecs-memory-high.toml"), text).expect("write");
    let found = problems(tmp.path());
    assert_reported(
        &found,
        "ecs-cpu-high.toml",
        "DatapointsToAlarm",
        "must be between 1 and EvaluationPeriods (3)",
    );
    assert_reported(
        &found,
        "ecs-memory-high.toml",
        "DatapointsToAlarm",
        "(in prod)",
    );
}

#[test]
fn at_most_five_actions_per_state() {
    let tmp = copy_definitions();
    let arns: Vec<String> = (0..5)
        .map(|i| format!("\"arn:aws:sns:us-east-1:123456789012:extra-{i}\""))
        .collect();
    edit(
        tmp.path(),
        "alarms/ecs-cpu-high.toml",
        "Severity = \"critical\"",
        &format!(
            "Severity = \"critical\"\nAlarmActions = [{}]",
            arns.join(", ")
        ),
    );
    let found = problems(tmp.path());
    assert_reported(
        &found,
        "ecs-cpu-high.toml",
        "AlarmActions",
        "6 actions; CloudWatch allows at most 5",
    );
}

#[test]
fn metric_math_ids_and_expressions_are_checked() {
    let tmp = copy_definitions();
    edit(
        tmp.path(),
        "alarms/http-error-rate-high.toml",
        "100 * FILL(errors, 0) / requests",
        "100 * FILL(errors, 0) / reqs",
    );
    edit(
        tmp.path(),
        "alarms/ecs-running-below-desired.toml",
        "Id = \"desired\"",
        "Id = \"Desired-Tasks\"",
    );
    edit(
        tmp.path(),
        "alarms/sidecar-log-shipping.toml",
        "FILL(requests, 0) - FILL(shipped, 0)",
        "FILL(requests, 0) - (shipped",
    );
    let found = problems(tmp.path());
    assert_reported(
        &found,
        "http-error-rate-high.toml",
        "Metrics[0].Expression",
        "`reqs` is not the id of another query",
    );
    assert_reported(
        &found,
        "ecs-running-below-desired.toml",
        "Metrics[1].Id",
        "not a valid id",
    );
    assert_reported(
        &found,
        "sidecar-log-shipping.toml",
        "Metrics[0].Expression",
        "missing `)`",
    );
}

#[test]
fn app_metrics_must_exist_in_the_catalog() {
    let tmp = copy_definitions();
    edit(
        tmp.path(),
        "alarms/jobs-failed-high.toml",
        "MetricName = \"JobsFailed\"",
        "MetricName = \"JobFailures\"",
    );
    edit(
        tmp.path(),
        "alarms/response-time-p95-high.toml",
        "Name = \"Environment\"",
        "Name = \"UserId\"",
    );
    let found = problems(tmp.path());
    assert_reported(
        &found,
        "jobs-failed-high.toml",
        "MetricName",
        "`JobFailures` is not in the AIStudio/Streaming metric catalog",
    );
    assert_reported(
        &found,
        "response-time-p95-high.toml",
        "Dimensions",
        "not published with dimensions {Endpoint,UserId}",
    );
}

/// Point 5 of the blind-alarms issue: a query whose dimensions are not exactly a combination
/// the metric is published with matches no series; each such alarm and widget row is an error
/// naming the combinations it could use.
#[test]
fn dimension_combinations_are_checked_as_sets() {
    let tmp = copy_definitions();
    // A subset of ProviderLatencyMs's published {Environment, ModelId, Provider}.
    edit(
        tmp.path(),
        "alarms/jobs-failed-high.toml",
        "MetricName = \"JobsFailed\"\nDimensions = [{ Name = \"Environment\", Value = \"${Environment}\" }]",
        "MetricName = \"ProviderLatencyMs\"\nDimensions = [{ Name = \"Environment\", Value = \"${Environment}\" }, { Name = \"Provider\", Value = \"openai\" }]",
    );
    // Endpoint without Environment: never published.
    edit(
        tmp.path(),
        "alarms/response-time-p95-high.toml",
        "  { Name = \"Environment\", Value = \"${Environment}\" },\n",
        "",
    );
    let body = json!({"widgets": [{"type": "metric", "x": 0, "y": 0, "width": 24, "height": 6,
    "properties": {"region": "${Region}", "stat": "Sum", "period": 60, "metrics": [
        ["AIStudio/Streaming", "RateLimitedRequests"],
        ["AIStudio/Streaming", "ErrorCount", "Endpoint", "/v1/models"],
        ["AIStudio/Streaming", "ProviderLatencyMs", "Provider", "openai", "Environment", "${Environment}"],
        ["AIStudio/Streaming", "JobsFailed", "Provider", "openai", "Environment", "${Environment}"],
        ["AWS/ApplicationELB", "HealthyHostCount", "LoadBalancer", "${LoadBalancer}"],
        ["AWS/ECS", "CPUUtilization", "ServiceName", "${ServiceName}"],
        ["AWS/ApplicationELB", "SurgeQueueLength", "LoadBalancer", "${LoadBalancer}"],
        ["AWS/Lambda", "Errors"]
    ]}}]});
    write_dashboard(tmp.path(), "bad-sets.json", &body);
    let found = problems(tmp.path());
    assert_reported(
        &found,
        "jobs-failed-high.toml",
        "Dimensions",
        "ProviderLatencyMs is not published with dimensions {Environment,Provider}, so this query matches no series; use {Environment} or {Environment,ModelId,Provider}",
    );
    assert_reported(
        &found,
        "response-time-p95-high.toml",
        "Dimensions",
        "every AIStudio/Streaming series carries Environment",
    );
    let at = |row: usize| format!("widgets[0].properties.metrics[{row}]");
    assert_reported(&found, "bad-sets.json", &at(0), "RateLimitedRequests is not published with dimensions {}, so this query matches no series; use {Environment} (every");
    assert_reported(
        &found,
        "bad-sets.json",
        &at(1),
        "ErrorCount is not published with dimensions {Endpoint}",
    );
    assert_reported(
        &found,
        "bad-sets.json",
        &at(2),
        "use {Environment} or {Environment,ModelId,Provider}",
    );
    assert_reported(&found, "bad-sets.json", &at(4), "HealthyHostCount is not published with dimensions {LoadBalancer}, so this query matches no series; use {LoadBalancer,TargetGroup}");
    assert_reported(
        &found,
        "bad-sets.json",
        &at(5),
        "use {ClusterName} or {ClusterName,ServiceName}",
    );
    assert_reported(
        &found,
        "bad-sets.json",
        &format!("{}[1]", at(6)),
        "`SurgeQueueLength` is not a AWS/ApplicationELB metric these definitions know",
    );
    assert_reported(
        &found,
        "bad-sets.json",
        &format!("{}[0]", at(7)),
        "namespace `AWS/Lambda` is not one the definitions know",
    );
    // The published combination with Provider is fine: row 3 has no problem.
    assert!(
        !found
            .iter()
            .any(|p| p.file.ends_with("bad-sets.json") && p.path == at(3)),
        "row 3 is a published combination: {found:?}"
    );
}

/// A dimension value written out where CloudWatch uses `app/NAME/ID` (or `targetgroup/...`)
/// watches nothing; placeholders are looked up by plan/apply and pass.
#[test]
fn literal_alb_dimension_values_must_have_cloudwatchs_form() {
    let tmp = copy_definitions();
    edit(
        tmp.path(),
        "alarms/http-error-rate-high.toml",
        "Value = \"${LoadBalancer}\"",
        "Value = \"aistudio-prod-alb\"",
    );
    let body = json!({"widgets": [{"type": "metric", "x": 0, "y": 0, "width": 24, "height": 6,
    "properties": {"region": "${Region}", "stat": "Sum", "period": 60, "metrics": [
        ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", "my-alb"],
        ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", "app/my-alb/50dc6c495c0c9188"],
        ["AWS/ApplicationELB", "RequestCount", "TargetGroup", "my-tg"]
    ]}}]});
    write_dashboard(tmp.path(), "bad-values.json", &body);
    let found = problems(tmp.path());
    assert_reported(
        &found,
        "http-error-rate-high.toml",
        "Metrics[1].MetricStat.Metric.Dimensions[0]",
        "LoadBalancer `aistudio-prod-alb` is not in the form CloudWatch uses (app/NAME/ID)",
    );
    assert_reported(
        &found,
        "bad-values.json",
        "metrics[0]",
        "LoadBalancer `my-alb` is not in the form",
    );
    assert_reported(
        &found,
        "bad-values.json",
        "metrics[2]",
        "(targetgroup/NAME/ID)",
    );
    assert!(
        !found
            .iter()
            .any(|p| p.file.ends_with("bad-values.json") && p.path.ends_with("metrics[1]")),
        "the app/NAME/ID row is fine: {found:?}"
    );
}

#[test]
fn every_alarm_routes_to_a_defined_topic() {
    let tmp = copy_definitions();
    edit(
        tmp.path(),
        "alarms/ecs-cpu-high.toml",
        "Severity = \"critical\"",
        "Severity = \"urgent\"",
    );
    edit(
        tmp.path(),
        "alarms/db-connections-high.toml",
        "Severity = \"warning\"",
        "Severity = \"warning\"\nAlarmActions = [\"pager-alerts\"]",
    );
    edit(
        tmp.path(),
        "alarms/topics.toml",
        "warning = [\"operational-alerts\"]",
        "warning = [\"operational-alerts\", \"missing-topic\"]",
    );
    let found = problems(tmp.path());
    assert_reported(
        &found,
        "ecs-cpu-high.toml",
        "Severity",
        "severity `urgent` is not defined",
    );
    assert_reported(
        &found,
        "db-connections-high.toml",
        "AlarmActions[0]",
        "`pager-alerts` is neither an ARN nor a topic",
    );
    assert_reported(
        &found,
        "topics.toml",
        "Severities.warning[1]",
        "topic `missing-topic` is not defined",
    );
}

#[test]
fn critical_alarms_must_reach_an_email_subscriber_in_every_environment() {
    let tmp = copy_definitions();
    edit(
        tmp.path(),
        "alarms/topics.toml",
        "Protocol = \"email\"\nEndpoint = \"ops-team@example.com\"\n",
        "Protocol = \"email\"\nEndpoint = \"ops-team@example.com\"\nEnvironments = [\"prod\"]\n",
    );
    edit(
        tmp.path(),
        "alarms/topics.toml",
        "Environments = [\"staging\", \"prod\"]",
        "Environments = [\"prod\"]",
    );
    let found = problems(tmp.path());
    assert_reported(
        &found,
        "jobs-failed-high.toml",
        "Severity",
        "no topic with an e-mail subscriber in dev",
    );
    assert_reported(&found, "jobs-failed-high.toml", "Severity", "in staging");
    assert!(
        !found
            .iter()
            .any(|p| p.message.contains("subscriber in prod")),
        "{found:?}"
    );
    // Warning alarms need no e-mail.
    assert!(
        !found
            .iter()
            .any(|p| p.file.ends_with("db-connections-high.toml")),
        "{found:?}"
    );
}

#[test]
fn unknown_placeholders_and_bad_subscriptions_are_reported() {
    let tmp = copy_definitions();
    edit(
        tmp.path(),
        "alarms/ecs-cpu-high.toml",
        "${ClusterName}",
        "${Cluster}",
    );
    edit(
        tmp.path(),
        "alarms/topics.toml",
        "Endpoint = \"oncall@example.com\"",
        "Endpoint = \"oncall.example.com\"",
    );
    edit(
        tmp.path(),
        "alarms/topics.toml",
        "Protocol = \"https\"",
        "Protocol = \"slack\"",
    );
    let found = problems(tmp.path());
    assert_reported(
        &found,
        "ecs-cpu-high.toml",
        "Dimensions[0].Value",
        "unknown placeholder `${Cluster}`",
    );
    assert_reported(
        &found,
        "topics.toml",
        "Topics[0].Subscriptions[1].Endpoint",
        "not a valid email endpoint",
    );
    assert_reported(
        &found,
        "topics.toml",
        "Topics[1].Subscriptions[0].Protocol",
        "`slack` is not one of",
    );
}

#[test]
fn the_binary_reports_problems_with_file_and_path_and_fails() {
    let tmp = copy_definitions();
    edit(
        tmp.path(),
        "alarms/ecs-cpu-high.toml",
        "DatapointsToAlarm = 3",
        "DatapointsToAlarm = 9",
    );
    let out = Command::new(sidecar_binary())
        .args(["provision", "validate", "--dir"])
        .arg(tmp.path())
        .output()
        .expect("run aistudio-sidecar");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains(
            "ecs-cpu-high.toml: DatapointsToAlarm: 9 must be between 1 and EvaluationPeriods (3)"
        ),
        "{stdout}"
    );
    assert!(stderr.contains("1 problem(s)"), "{stderr}");

    let ok = Command::new(sidecar_binary())
        .args(["provision", "validate", "--dir"])
        .arg(repo_root())
        .output()
        .expect("run aistudio-sidecar");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );

    // Run outside the repository root: no definitions is an error naming --dir, never
    // "valid" for zero files.
    let empty = tempfile::tempdir().expect("temp dir");
    let lost = Command::new(sidecar_binary())
        .args(["provision", "validate"])
        .current_dir(empty.path())
        .output()
        .expect("run aistudio-sidecar");
    let stderr = String::from_utf8_lossy(&lost.stderr);
    assert!(!lost.status.success(), "{stderr}");
    assert!(
        stderr.contains("no dashboards/ or alarms/ folder under .: run from the repository root or pass --dir DIR"),
        "{stderr}"
    );
}

#[test]
fn render_writes_the_exact_payloads() {
    let out = tempfile::tempdir().expect("temp dir");
    let status = Command::new(sidecar_binary())
        .args([
            "provision",
            "render",
            "--env",
            "staging",
            "--region",
            "eu-west-1",
            "--account-id",
            "111122223333",
            "--cluster-name",
            "blue",
            "--dir",
        ])
        .arg(repo_root())
        .arg("--out")
        .arg(out.path())
        .env_remove("AWS_REGION")
        .output()
        .expect("run aistudio-sidecar");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let read = |p: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(out.path().join(p)).expect("payload"))
            .expect("json")
    };
    let alarm = read("alarms/aistudio-staging-ecs-cpu-high.json");
    assert_eq!(
        alarm["Dimensions"][0],
        json!({"Name": "ClusterName", "Value": "blue"})
    );
    assert_eq!(
        alarm["AlarmActions"],
        json!(["arn:aws:sns:eu-west-1:111122223333:aistudio-staging-critical-alerts"])
    );
    let dashboard = read("dashboards/aistudio-staging-streaming-jobs.json");
    let body: Value =
        serde_json::from_str(dashboard["DashboardBody"].as_str().expect("body string"))
            .expect("body json");
    assert_eq!(body["widgets"][1]["properties"]["region"], "eu-west-1");
    let topic = read("topics/aistudio-staging-critical-alerts.json");
    let policy: Value = serde_json::from_str(
        topic["CreateTopic"]["Attributes"]["Policy"]
            .as_str()
            .expect("policy"),
    )
    .expect("policy json");
    assert!(
        policy
            .to_string()
            .contains("arn:aws:cloudwatch:eu-west-1:111122223333:alarm:*"),
        "{policy}"
    );
    let emails: Vec<&str> = topic["Subscribe"]
        .as_array()
        .expect("subscribe")
        .iter()
        .filter_map(|s| s["Endpoint"].as_str())
        .collect();
    assert_eq!(emails, vec!["oncall@example.com", "ops-team@example.com"]);
}
