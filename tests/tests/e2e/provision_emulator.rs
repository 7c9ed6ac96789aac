//! `provision plan | apply` against the real emulator, checked with the AWS CLI: apply creates
//! everything, a second apply writes nothing, a threshold edit is one update, `--prune`
//! deletes exactly the removed alarm and nothing unmanaged, and a partial failure converges.
//! Each test runs its own emulator: they count write calls and prune.

use std::process::Command;

use aistudio_core::aws::AwsClients;
use provision::render::Placeholders;
use provision::report::{Action, Kind};
use provision::{apply, plan};
use serde_json::Value;
use tempfile::TempDir;
use tests::emulator::{Emulator, REGION};
use tests::sidecar::sidecar_binary;
use tests::workspace_root as repo_root;

/// Every write operation provisioning may call; a converged apply calls none of them.
const WRITE_OPERATIONS: [&str; 13] = [
    "PutDashboard",
    "DeleteDashboards",
    "PutMetricAlarm",
    "DeleteAlarms",
    "TagResource",
    "CreateTopic",
    "SetTopicAttributes",
    "Subscribe",
    "Unsubscribe",
    "DeleteTopic",
    "UntagResource",
    "CreateLogGroup",
    "PutRetentionPolicy",
];
/// What the shipped definitions hold: 4 dashboards, 13 alarms, 2 topics.
const DASHBOARDS: usize = 4;
const ALARMS: usize = 13;
const TOPICS: usize = 2;
/// Log groups whose retention provisioning sets: the sidecar's own.
const LOG_GROUPS: usize = 1;
const SIDECAR_LOG_GROUP: &str = "/aws/ecs/aistudio-dev-sidecar";
/// The ALB dimensions in CloudWatch's form (the emulator has no load balancer to look up).
const LOAD_BALANCER: &str = "app/aistudio-dev-alb/50dc6c495c0c9188";
const TARGET_GROUP: &str = "targetgroup/aistudio-dev-frontend-tg/73e2d6bc24d8a067";
/// Subscriptions in dev: ops-team e-mail on critical, the Slack relay on operational.
const DEV_SUBSCRIPTIONS: usize = 2;

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

async fn clients(emulator: &Emulator) -> AwsClients {
    AwsClients::from_sdk_config(&emulator.sdk_config().await)
}

fn dev() -> Placeholders {
    let mut ph = Placeholders::defaults("dev", REGION);
    ph.load_balancer = LOAD_BALANCER.to_owned();
    ph.target_group = TARGET_GROUP.to_owned();
    ph
}

/// Write calls seen so far, per operation.
async fn writes(emulator: &Emulator) -> Vec<(String, u64)> {
    let calls = emulator.calls().await.expect("gateway call counts");
    WRITE_OPERATIONS
        .iter()
        .map(|op| ((*op).to_owned(), calls[*op]["count"].as_u64().unwrap_or(0)))
        .collect()
}

fn describe_alarms(emulator: &Emulator) -> Vec<Value> {
    let out = emulator
        .aws_cli(&[
            "cloudwatch",
            "describe-alarms",
            "--alarm-name-prefix",
            "aistudio-dev-",
        ])
        .expect("aws cloudwatch describe-alarms");
    out["MetricAlarms"].as_array().cloned().unwrap_or_default()
}

fn alarm_named<'a>(alarms: &'a [Value], name: &str) -> Option<&'a Value> {
    alarms.iter().find(|a| a["AlarmName"] == name)
}

#[tokio::test]
async fn apply_creates_everything_and_a_second_apply_writes_nothing() {
    let emulator = Emulator::start().expect("private emulator");
    let aws = clients(&emulator).await;
    let defs = copy_definitions();

    let first = plan(&aws, defs.path(), &dev(), false).await.expect("plan");
    assert_eq!(
        first.count(Action::Create),
        DASHBOARDS + ALARMS + TOPICS + DEV_SUBSCRIPTIONS + LOG_GROUPS,
        "{first}"
    );

    let report = apply(&aws, defs.path(), &dev(), false)
        .await
        .expect("apply");
    assert!(report.is_success(), "{report}");
    assert_eq!(
        report.outcomes.len(),
        DASHBOARDS + ALARMS + TOPICS + DEV_SUBSCRIPTIONS + LOG_GROUPS,
        "{report}"
    );

    // Checked from the outside with the AWS CLI.
    let alarms = describe_alarms(&emulator);
    assert_eq!(alarms.len(), ALARMS, "{alarms:?}");
    let topics = emulator
        .aws_cli(&["sns", "list-topics"])
        .expect("aws sns list-topics");
    let arn_of = |name: &str| -> String {
        topics["Topics"]
            .as_array()
            .expect("topics")
            .iter()
            .filter_map(|t| t["TopicArn"].as_str())
            .find(|arn| arn.ends_with(&format!(":{name}")))
            .unwrap_or_else(|| panic!("no topic {name} in {topics}"))
            .to_owned()
    };
    let critical = arn_of("aistudio-dev-critical-alerts");
    let operational = arn_of("aistudio-dev-operational-alerts");
    let unhealthy = alarm_named(&alarms, "aistudio-dev-alb-unhealthy-targets")
        .expect("unhealthy-targets alarm");
    assert_eq!(
        unhealthy["ComparisonOperator"],
        "GreaterThanOrEqualToThreshold"
    );
    assert_eq!(unhealthy["Threshold"], 1.0);
    assert_eq!(unhealthy["AlarmActions"], serde_json::json!([critical]));
    let p95 = alarm_named(&alarms, "aistudio-dev-response-time-p95-high").expect("p95 alarm");
    assert_eq!(p95["ExtendedStatistic"], "p95");
    assert_eq!(p95["AlarmActions"], serde_json::json!([operational]));
    let math = alarm_named(&alarms, "aistudio-dev-http-error-rate-high").expect("error-rate alarm");
    assert_eq!(math["Metrics"].as_array().map(Vec::len), Some(3), "{math}");
    assert_eq!(
        math["Threshold"], 20.0,
        "dev threshold from [Environments.dev]"
    );

    let dashboard = emulator
        .aws_cli(&[
            "cloudwatch",
            "get-dashboard",
            "--dashboard-name",
            "aistudio-dev-ecs-service-health",
        ])
        .expect("aws cloudwatch get-dashboard");
    let body: Value =
        serde_json::from_str(dashboard["DashboardBody"].as_str().expect("body")).expect("json");
    assert_eq!(
        body["widgets"][1]["properties"]["metrics"][0][3], "aistudio-dev-cluster",
        "placeholders rendered: {body}"
    );
    let listed = emulator
        .aws_cli(&[
            "cloudwatch",
            "list-dashboards",
            "--dashboard-name-prefix",
            "aistudio-dev-",
        ])
        .expect("aws cloudwatch list-dashboards");
    assert_eq!(
        listed["DashboardEntries"].as_array().map(Vec::len),
        Some(DASHBOARDS)
    );

    let subs = emulator
        .aws_cli(&[
            "sns",
            "list-subscriptions-by-topic",
            "--topic-arn",
            &critical,
        ])
        .expect("aws sns list-subscriptions-by-topic");
    let endpoints: Vec<&str> = subs["Subscriptions"]
        .as_array()
        .expect("subs")
        .iter()
        .filter_map(|s| s["Endpoint"].as_str())
        .collect();
    assert_eq!(endpoints, vec!["ops-team@example.com"], "{subs}");
    let attrs = emulator
        .aws_cli(&["sns", "get-topic-attributes", "--topic-arn", &critical])
        .expect("aws sns get-topic-attributes");
    let policy: Value =
        serde_json::from_str(attrs["Attributes"]["Policy"].as_str().expect("policy"))
            .expect("policy json");
    let statement = policy["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .find(|s| s["Principal"]["Service"] == "cloudwatch.amazonaws.com")
        .unwrap_or_else(|| panic!("no CloudWatch statement in {policy}"));
    assert_eq!(statement["Resource"], critical.as_str());
    assert!(
        !policy.to_string().contains("${AWS::AccountId}"),
        "{policy}"
    );

    // Apply again: nothing to write, and the gateway saw no write call.
    let before = writes(&emulator).await;
    let again = apply(&aws, defs.path(), &dev(), false)
        .await
        .expect("second apply");
    let after = writes(&emulator).await;
    assert!(again.outcomes.is_empty(), "{again}");
    assert_eq!(
        again.unchanged,
        DASHBOARDS + ALARMS + TOPICS + DEV_SUBSCRIPTIONS + LOG_GROUPS
    );
    assert_eq!(before, after, "the second apply made write calls");
    assert!(
        before
            .iter()
            .any(|(op, n)| op == "PutMetricAlarm" && *n == ALARMS as u64),
        "{before:?}"
    );

    let settled = plan(&aws, defs.path(), &dev(), false).await.expect("plan");
    assert!(!settled.has_writes(), "{settled}");

    // The sidecar's own log group: created with 30 days, read back with the AWS CLI; a
    // retention changed by hand is one update back to the definition's.
    let retention = || {
        let out = emulator
            .aws_cli(&[
                "logs",
                "describe-log-groups",
                "--log-group-name-prefix",
                SIDECAR_LOG_GROUP,
            ])
            .expect("aws logs describe-log-groups");
        out["logGroups"]
            .as_array()
            .and_then(|g| g.iter().find(|g| g["logGroupName"] == SIDECAR_LOG_GROUP))
            .map(|g| g["retentionInDays"].clone())
    };
    assert_eq!(retention(), Some(Value::from(30)));
    emulator
        .aws_cli(&[
            "logs",
            "put-retention-policy",
            "--log-group-name",
            SIDECAR_LOG_GROUP,
            "--retention-in-days",
            "7",
        ])
        .expect("aws logs put-retention-policy");
    let drift = plan(&aws, defs.path(), &dev(), false).await.expect("plan");
    let change = drift
        .find(Kind::LogGroup, SIDECAR_LOG_GROUP)
        .expect("log group in the plan");
    assert_eq!(change.action, Action::Update, "{drift}");
    assert_eq!(
        (
            change.fields[0].before.as_str(),
            change.fields[0].after.as_str()
        ),
        ("7", "30")
    );
    assert_eq!(drift.count(Action::Update), 1, "{drift}");
    let fixed = apply(&aws, defs.path(), &dev(), false)
        .await
        .expect("apply");
    assert!(fixed.is_success(), "{fixed}");
    assert_eq!(retention(), Some(Value::from(30)));
}

#[tokio::test]
async fn a_threshold_edit_is_one_update_and_prune_deletes_exactly_the_removed_alarm() {
    let emulator = Emulator::start().expect("private emulator");
    let aws = clients(&emulator).await;
    let defs = copy_definitions();
    let report = apply(&aws, defs.path(), &dev(), false)
        .await
        .expect("apply");
    assert!(report.is_success(), "{report}");

    // An alarm somebody made by hand with our prefix but without our marker: prune keeps it.
    emulator
        .aws_cli(&[
            "cloudwatch",
            "put-metric-alarm",
            "--alarm-name",
            "aistudio-dev-handmade",
            "--namespace",
            "AWS/ECS",
            "--metric-name",
            "CPUUtilization",
            "--statistic",
            "Average",
            "--period",
            "60",
            "--evaluation-periods",
            "1",
            "--threshold",
            "99",
            "--comparison-operator",
            "GreaterThanThreshold",
        ])
        .expect("aws cloudwatch put-metric-alarm");

    let path = defs.path().join("alarms/jobs-failed-high.toml");
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(
        &path,
        text.replace(
            "[Environments.dev]\nThreshold = 25",
            "[Environments.dev]\nThreshold = 30",
        ),
    )
    .expect("write");
    let edited = plan(&aws, defs.path(), &dev(), false).await.expect("plan");
    let updates: Vec<_> = edited
        .changes
        .iter()
        .filter(|c| c.action != Action::NoChange)
        .collect();
    assert_eq!(updates.len(), 1, "{edited}");
    assert_eq!(
        (updates[0].kind, updates[0].name.as_str()),
        (Kind::Alarm, "aistudio-dev-jobs-failed-high")
    );
    assert_eq!(updates[0].action, Action::Update);
    let fields: Vec<(&str, &str, &str)> = updates[0]
        .fields
        .iter()
        .map(|f| (f.field.as_str(), f.before.as_str(), f.after.as_str()))
        .collect();
    assert_eq!(fields, vec![("Threshold", "25.0", "30.0")]);
    assert!(
        edited.to_string().contains("Threshold: 25.0 -> 30.0"),
        "{edited}"
    );

    // Remove one alarm file and apply --prune through the real binary.
    std::fs::remove_file(defs.path().join("alarms/ecs-cpu-high.toml")).expect("remove");
    let before = emulator.calls().await.expect("calls");
    let out = Command::new(sidecar_binary())
        .args(["provision", "apply", "--env", "dev", "--prune"])
        // Given in CloudWatch's form: nothing to look up (the emulator has no load balancer).
        .args(["--load-balancer", LOAD_BALANCER])
        .args(["--target-group", TARGET_GROUP])
        .arg("--dir")
        .arg(defs.path())
        .envs(emulator.child_env())
        .env_remove("AISTUDIO_ENV")
        .output()
        .expect("run aistudio-sidecar provision apply");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("- delete     alarm        aistudio-dev-ecs-cpu-high: done"),
        "{stdout}"
    );
    assert!(
        stdout.contains("~ update     alarm        aistudio-dev-jobs-failed-high: done"),
        "{stdout}"
    );
    let after = emulator.calls().await.expect("calls");
    let delta = |op: &str| {
        after[op]["count"].as_u64().unwrap_or(0) - before[op]["count"].as_u64().unwrap_or(0)
    };
    assert_eq!(delta("DeleteAlarms"), 1);
    assert_eq!(delta("PutMetricAlarm"), 1);
    assert_eq!(
        delta("DeleteDashboards") + delta("DeleteTopic") + delta("Unsubscribe"),
        0
    );

    let alarms = describe_alarms(&emulator);
    assert!(
        alarm_named(&alarms, "aistudio-dev-ecs-cpu-high").is_none(),
        "pruned alarm still there"
    );
    assert!(
        alarm_named(&alarms, "aistudio-dev-handmade").is_some(),
        "prune deleted an unmanaged alarm"
    );
    assert_eq!(alarms.len(), ALARMS, "11 managed + 1 handmade: {alarms:?}");
    let jobs = alarm_named(&alarms, "aistudio-dev-jobs-failed-high").expect("jobs alarm");
    assert_eq!(jobs["Threshold"], 30.0);
}

#[tokio::test]
async fn a_partial_failure_is_reported_and_a_rerun_converges() {
    let emulator = Emulator::start().expect("private emulator");
    let aws = clients(&emulator).await;
    let defs = copy_definitions();
    emulator
        .inject_fault("PutMetricAlarm", 400, "LimitExceededFault", 1)
        .await
        .expect("inject fault");
    let report = apply(&aws, defs.path(), &dev(), false)
        .await
        .expect("apply");
    let failed: Vec<_> = report.failures().collect();
    assert_eq!(failed.len(), 1, "{report}");
    assert_eq!(failed[0].kind, Kind::Alarm);
    assert!(
        failed[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("PutMetricAlarm failed"),
        "{report}"
    );
    assert!(report.to_string().contains("run apply again"), "{report}");
    assert_eq!(describe_alarms(&emulator).len(), ALARMS - 1);

    let before = writes(&emulator).await;
    let rerun = apply(&aws, defs.path(), &dev(), false)
        .await
        .expect("re-run");
    assert!(rerun.is_success(), "{rerun}");
    assert_eq!(rerun.outcomes.len(), 1, "{rerun}");
    assert_eq!(rerun.outcomes[0].name, failed[0].name);
    let after = writes(&emulator).await;
    let changed: Vec<_> = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| b != a)
        .map(|(_, a)| a.0.as_str())
        .collect();
    assert_eq!(changed, vec!["PutMetricAlarm"]);
    assert_eq!(describe_alarms(&emulator).len(), ALARMS);
}
