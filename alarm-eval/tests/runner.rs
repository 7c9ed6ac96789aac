//! The runner end to end on test files in a tempdir: passes, failures with their timeline,
//! and errors that name file, line and what to write instead.

use std::path::PathBuf;

use alarm_eval::{run_files, Format, Outcome, Report};
use serde_json::{json, Value};

fn payloads(id: &str, env: &str) -> Result<Value, String> {
    let topic = format!("arn:aws:sns:us-east-1:111122223333:aistudio-{env}-critical-alerts");
    match id {
        "cpu" => Ok(json!({
            "AlarmName": format!("aistudio-{env}-cpu"), "ActionsEnabled": true,
            "AlarmDescription": "d", "Tags": [{"Key": "k", "Value": "v"}],
            "MetricName": "CPUUtilization", "Namespace": "AWS/ECS", "Statistic": "Average",
            "Dimensions": [{"Name": "ClusterName", "Value": "c"}], "Period": 300,
            "EvaluationPeriods": 3, "DatapointsToAlarm": 3, "Threshold": 80.0,
            "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching",
            "AlarmActions": [topic], "OKActions": [topic], "InsufficientDataActions": []
        })),
        "rate" => Ok(json!({
            "AlarmName": format!("aistudio-{env}-rate"),
            "EvaluationPeriods": 2, "Threshold": 5.0, "ComparisonOperator": "GreaterThanThreshold",
            "AlarmActions": [topic],
            "Metrics": [
                {"Id": "e1", "Expression": "IF(requests > 0, 100 * FILL(errors, 0) / requests, 0)", "ReturnData": true},
                {"Id": "errors", "ReturnData": false, "MetricStat": {"Metric": {"Namespace": "N", "MetricName": "Errors"}, "Period": 60, "Stat": "Sum"}},
                {"Id": "requests", "ReturnData": false, "MetricStat": {"Metric": {"Namespace": "N", "MetricName": "Requests"}, "Period": 60, "Stat": "Sum"}}
            ]
        })),
        "query" => Ok(json!({
            "AlarmName": format!("aistudio-{env}-query"),
            "EvaluationPeriods": 1, "Threshold": 0.0, "ComparisonOperator": "LessThanOrEqualToThreshold",
            "TreatMissingData": "ignore",
            "Metrics": [{"Id": "m1", "MetricStat": {"Metric": {"Namespace": "N", "MetricName": "Up"}, "Period": 60, "Stat": "Minimum"}}]
        })),
        "two" => Ok(json!({
            "AlarmName": format!("aistudio-{env}-two"),
            "EvaluationPeriods": 1, "Threshold": 0.0, "ComparisonOperator": "LessThanThreshold",
            "Metrics": [
                {"Id": "a", "Expression": "b * 2"},
                {"Id": "b", "MetricStat": {"Metric": {"Namespace": "N", "MetricName": "Up"}, "Period": 60, "Stat": "Minimum"}}
            ]
        })),
        _ => Err(format!("no alarm {id}")),
    }
}

fn run(text: &str) -> (Report, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.toml");
    std::fs::write(&path, text).expect("write");
    let report = run_files(&[dir.path().to_path_buf()], &payloads);
    (report, path, dir)
}

const HEAD: &str = "env = \"prod\"\nstart = 2026-01-05T10:00:00Z\n";

#[test]
fn a_passing_and_a_failing_test() {
    let text = format!(
        "{HEAD}alarm = \"cpu\"\n\
         [[test]]\nname = \"fires\"\nstate = \"OK\"\n\
         series = [{{ metric = \"CPUUtilization\", values = \"85x3 50\" }}]\n\
         expect = {{ 3 = \"ALARM\", 4 = \"OK\" }}\n\
         notifications = [{{ at = 3, transition = \"OK -> ALARM\", topic = \"critical-alerts\" }}, \
                          {{ at = 4, transition = \"ALARM -> OK\", topic = \"aistudio-prod-critical-alerts\" }}]\n\
         [[test]]\nname = \"wrongly expects two periods to fire\"\nstate = \"OK\"\n\
         series = [{{ metric = \"CPUUtilization\", values = \"85 85\" }}]\n\
         expect = {{ 2 = \"ALARM\" }}\n"
    );
    let (report, path, _dir) = run(&text);
    assert!(!report.success());
    assert_eq!(report.counts(), (1, 1, 0));
    let fail = &report.cases[1];
    assert_eq!(fail.line, 10, "line of the second [[test]]");
    let Outcome::Fail(ev) = &fail.outcome else {
        panic!("expected a failure: {:?}", fail.outcome)
    };
    assert_eq!(
        ev.mismatches,
        vec!["period 2: expected ALARM, got OK".to_owned()]
    );
    let text = report.to_text(false);
    assert!(text.contains("PASS  aistudio-prod-cpu  fires"), "{text}");
    assert!(
        text.contains("FAIL  aistudio-prod-cpu  wrongly expects two periods to fire"),
        "{text}"
    );
    assert!(text.contains(&format!("{}:10", path.display())), "{text}");
    assert!(
        text.contains("1 filled (notBreaching)  << MISMATCH"),
        "{text}"
    );
    assert!(text.contains("1 passed, 1 failed, 0 error(s)"), "{text}");
    let xml = report.render(Format::Junit);
    assert!(
        xml.contains("tests=\"2\" failures=\"1\" errors=\"0\""),
        "{xml}"
    );
    assert!(
        xml.contains("<failure message=\"period 2: expected ALARM, got OK\">"),
        "{xml}"
    );
}

#[test]
fn metric_math_with_if_and_fill() {
    let text = format!(
        "{HEAD}alarm = \"rate\"\n[[test]]\nname = \"rate\"\n\
         series = [{{ metric = \"errors\", values = \"_ 10 10 _\" }}, {{ metric = \"Requests\", values = \"_ 100 100 100\" }}]\n\
         expect = {{ 1 = \"INSUFFICIENT_DATA\", 2 = \"INSUFFICIENT_DATA\", 3 = \"ALARM\", 4 = \"OK\" }}\n\
         notifications = [{{ at = 3, transition = \"INSUFFICIENT_DATA -> ALARM\", topic = \"critical-alerts\" }}]\n"
    );
    let (report, _path, _dir) = run(&text);
    assert!(report.success(), "{}", report.to_text(true));
}

#[test]
fn a_metric_returned_from_metrics_and_ignore_keeps_the_state() {
    let text = format!(
        "{HEAD}alarm = \"query\"\n[[test]]\nname = \"q\"\nstate = \"ALARM\"\n\
         series = [{{ metric = \"Up\", samples = [\"1x3\", \"_\", \"0 1\", {{ repeat = 5, samples = \"_\" }}] }}]\n\
         expect = {{ 1 = \"OK\", 2 = \"OK\", 3 = \"ALARM\", 5 = \"ALARM\", 8 = \"ALARM\" }}\n"
    );
    let (report, _path, _dir) = run(&text);
    assert!(report.success(), "{}", report.to_text(true));
    let Outcome::Pass(ev) = &report.cases[0].outcome else {
        panic!("passes")
    };
    // From period 6 the range holds no real point: `ignore` keeps ALARM.
    assert_eq!(
        ev.timeline.rows[7].decision.rule,
        alarm_eval::Rule::AllMissing
    );
}

fn error_of(text: &str) -> String {
    let (report, _path, _dir) = run(text);
    assert!(!report.success());
    match &report.cases[0].outcome {
        Outcome::Error(e) => e.to_string(),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn errors_name_file_line_and_the_fix() {
    let e = error_of(&format!(
        "{HEAD}[[test]]\nname = \"x\"\nalarm = \"cpuu\"\nexpect = {{ 1 = \"OK\" }}\n"
    ));
    assert!(
        e.contains("t.toml:5:9: unknown alarm `cpuu` for env prod: no alarm cpuu"),
        "{e}"
    );

    let e = error_of(&format!(
        "{HEAD}alarm = \"cpu\"\n[[test]]\nname = \"x\"\n\
         series = [{{ metric = \"CPUUtilization\", period = 60, values = \"1 2\" }}]\nexpect = {{ 1 = \"OK\" }}\n"
    ));
    assert!(e.contains("t.toml:6:"), "{e}");
    assert!(e.contains("give one value per 300 s period"), "{e}");

    let e = error_of(&format!(
        "{HEAD}alarm = \"cpu\"\n[[test]]\nname = \"x\"\n\
         series = [{{ metric = \"CPU\", values = \"1 2\" }}]\nexpect = {{ 1 = \"OK\" }}\n"
    ));
    assert!(
        e.contains("does not read `CPU`: it reads `m1` (AWS/ECS/CPUUtilization)"),
        "{e}"
    );

    let e = error_of(&format!(
        "{HEAD}alarm = \"cpu\"\n[[test]]\nname = \"x\"\n\
         series = [{{ metric = \"CPUUtilization\", values = \"1 2\" }}]\nexpect = {{ 3 = \"OK\" }}\n"
    ));
    assert!(e.contains("period numbers from 1 to 2"), "{e}");

    let e = error_of(&format!(
        "{HEAD}alarm = \"cpu\"\n[[test]]\nname = \"x\"\nvalues = \"1\"\nexpect = {{ 1 = \"OK\" }}\n"
    ));
    assert!(e.contains("t.toml:6:1: unknown field `values`"), "{e}");

    let e = error_of(&format!(
        "{HEAD}alarm = \"cpu\"\n[[test]]\nname = \"x\"\n\
         override = {{ ComparisonOperator = \"GreaterThanUpperThreshold\" }}\n\
         series = [{{ metric = \"CPUUtilization\", values = \"1 2\" }}]\nexpect = {{ 1 = \"OK\" }}\n"
    ));
    assert!(e.contains("not supported offline"), "{e}");

    let e = error_of(&format!(
        "{HEAD}alarm = \"cpu\"\n[[test]]\nname = \"x\"\n\
         series = [{{ metric = \"CPUUtilization\", values = \"1 2\" }}, {{ metric = \"m1\", values = \"1 2\" }}]\n\
         expect = {{ 1 = \"OK\" }}\n"
    ));
    assert!(e.contains("a second series for `m1`"), "{e}");

    let e = error_of(
        "alarm = \"cpu\"\nenv = \"prod\"\nstart = 2026-01-05T10:00:00\n[[test]]\nname = \"x\"\n\
         series = [{ metric = \"m1\", values = \"1\" }]\nexpect = { 1 = \"OK\" }\n",
    );
    assert!(
        e.contains("t.toml:3:9: start must be a date and time with an offset"),
        "{e}"
    );

    let e = error_of(&format!(
        "{HEAD}alarm = \"two\"\n[[test]]\nname = \"x\"\nseries = [{{ metric = \"b\", values = \"1\" }}]\nexpect = {{ 1 = \"OK\" }}\n"
    ));
    assert!(
        e.contains("exactly one entry of Metrics must have ReturnData true, 2 have"),
        "{e}"
    );

    let e = error_of("[[test]]\nname = \"x\"\nexpect = { 1 = \"OK\" }\n");
    assert!(e.contains("t.toml:1:1: the test names no alarm"), "{e}");
}
