//! Our AWS clients against the real emulator over the real wire protocols, each write checked
//! from the outside by the AWS CLI.

use aistudio_core::aws::AwsClients;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, MetricDatum, StandardUnit, Statistic,
};
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use serde_json::Value;
use tests::emulator::{unique_name, Emulator};

async fn clients() -> (&'static Emulator, AwsClients) {
    let emulator = Emulator::shared();
    let clients = AwsClients::from_sdk_config(&emulator.sdk_config().await);
    (emulator, clients)
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

#[tokio::test]
async fn put_metric_data_with_values_and_counts_is_read_back_by_the_cli() {
    let (emulator, aws) = clients().await;
    // moto 5.2's GetMetricData ignores the namespace when dimensions are given: unique names.
    let metric = unique_name("ResponseTimeMs");
    let values = [12.5, 40.0, 250.0];
    let counts = [3.0, 5.0, 2.0];
    let timestamp = now_secs() - 60;
    let datum = MetricDatum::builder()
        .metric_name(&metric)
        .dimensions(
            Dimension::builder()
                .name("Environment")
                .value("dev")
                .build(),
        )
        .set_values(Some(values.to_vec()))
        .set_counts(Some(counts.to_vec()))
        .unit(StandardUnit::Milliseconds)
        .storage_resolution(1)
        .timestamp(DateTime::from_secs(timestamp))
        .build();
    aws.cloudwatch
        .put_metric_data()
        .namespace("AIStudio/Streaming")
        .metric_data(datum)
        .send()
        .await
        .expect("put_metric_data through the CBOR gateway");

    let queries = serde_json::json!([
        {"Id": "total", "MetricStat": {"Metric": {"Namespace": "AIStudio/Streaming",
            "MetricName": metric, "Dimensions": [{"Name": "Environment", "Value": "dev"}]},
            "Period": 60, "Stat": "Sum"}},
        {"Id": "samples", "MetricStat": {"Metric": {"Namespace": "AIStudio/Streaming",
            "MetricName": metric, "Dimensions": [{"Name": "Environment", "Value": "dev"}]},
            "Period": 60, "Stat": "SampleCount"}}
    ]);
    let start = (timestamp - 600).to_string();
    let end = (timestamp + 600).to_string();
    let out = emulator
        .aws_cli(&[
            "cloudwatch",
            "get-metric-data",
            "--metric-data-queries",
            &queries.to_string(),
            "--start-time",
            &start,
            "--end-time",
            &end,
        ])
        .expect("aws cloudwatch get-metric-data");
    let result = |id: &str| -> f64 {
        let results = out["MetricDataResults"].as_array().expect("results array");
        let found = results
            .iter()
            .find(|r| r["Id"] == id)
            .unwrap_or_else(|| panic!("no result {id} in {out}"));
        found["Values"]
            .as_array()
            .expect("values")
            .iter()
            .filter_map(Value::as_f64)
            .sum()
    };
    let expected_sum: f64 = values.iter().zip(counts).map(|(v, c)| v * c).sum();
    let expected_samples: f64 = counts.iter().sum();
    assert_eq!(result("total"), expected_sum, "{out}");
    assert_eq!(result("samples"), expected_samples, "{out}");

    let listed = emulator
        .aws_cli(&[
            "cloudwatch",
            "list-metrics",
            "--namespace",
            "AIStudio/Streaming",
            "--metric-name",
            &metric,
        ])
        .expect("aws cloudwatch list-metrics");
    assert_eq!(
        listed["Metrics"][0]["Dimensions"][0]["Value"], "dev",
        "{listed}"
    );
}

#[tokio::test]
async fn dashboard_put_by_us_is_read_back_by_the_cli() {
    let (emulator, aws) = clients().await;
    let name = unique_name("aistudio-dev-app");
    let body = serde_json::json!({"widgets": [{"type": "metric", "x": 0, "y": 0, "width": 12,
        "height": 6, "properties": {"metrics": [["AIStudio/Streaming", "JobsFailed",
        "Environment", "dev"]], "region": "us-east-1", "stat": "Sum", "period": 300,
        "title": "Jobs failed"}}]});
    aws.cloudwatch
        .put_dashboard()
        .dashboard_name(&name)
        .dashboard_body(body.to_string())
        .send()
        .await
        .expect("put_dashboard");

    let ours = aws
        .cloudwatch
        .get_dashboard()
        .dashboard_name(&name)
        .send()
        .await
        .expect("get_dashboard");
    let ours: Value = serde_json::from_str(ours.dashboard_body().expect("body")).expect("json");
    assert_eq!(ours, body);

    let out = emulator
        .aws_cli(&["cloudwatch", "get-dashboard", "--dashboard-name", &name])
        .expect("aws cloudwatch get-dashboard");
    assert_eq!(out["DashboardName"], name.as_str());
    let theirs: Value =
        serde_json::from_str(out["DashboardBody"].as_str().expect("body string")).expect("json");
    assert_eq!(theirs, body);
}

#[tokio::test]
async fn alarm_put_described_and_deleted() {
    let (emulator, aws) = clients().await;
    let name = unique_name("aistudio-dev-jobs-failed");
    aws.cloudwatch
        .put_metric_alarm()
        .alarm_name(&name)
        .namespace("AIStudio/Streaming")
        .metric_name("JobsFailed")
        .dimensions(
            Dimension::builder()
                .name("Environment")
                .value("dev")
                .build(),
        )
        .statistic(Statistic::Sum)
        .period(300)
        .evaluation_periods(1)
        .datapoints_to_alarm(1)
        .threshold(10.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .treat_missing_data("notBreaching")
        .alarm_actions("arn:aws:sns:us-east-1:123456789012:aistudio-dev-critical-alerts")
        .send()
        .await
        .expect("put_metric_alarm");

    let described = aws
        .cloudwatch
        .describe_alarms()
        .alarm_names(&name)
        .send()
        .await
        .expect("describe_alarms through the gateway");
    let alarm = &described.metric_alarms()[0];
    assert_eq!(alarm.threshold(), Some(10.0));
    assert_eq!(alarm.period(), Some(300));

    let out = emulator
        .aws_cli(&["cloudwatch", "describe-alarms", "--alarm-names", &name])
        .expect("aws cloudwatch describe-alarms");
    let alarm = &out["MetricAlarms"][0];
    assert_eq!(alarm["AlarmName"], name.as_str(), "{out}");
    assert_eq!(alarm["Threshold"], 10.0);
    assert_eq!(alarm["ComparisonOperator"], "GreaterThanThreshold");
    assert_eq!(alarm["TreatMissingData"], "notBreaching");
    assert_eq!(
        alarm["AlarmActions"][0],
        "arn:aws:sns:us-east-1:123456789012:aistudio-dev-critical-alerts"
    );

    aws.cloudwatch
        .delete_alarms()
        .alarm_names(&name)
        .send()
        .await
        .expect("delete_alarms");
    let out = emulator
        .aws_cli(&["cloudwatch", "describe-alarms", "--alarm-names", &name])
        .expect("aws cloudwatch describe-alarms");
    assert_eq!(
        out["MetricAlarms"].as_array().map(Vec::len),
        Some(0),
        "{out}"
    );
}

#[tokio::test]
async fn log_events_put_by_us_are_read_back_by_the_cli() {
    let (emulator, aws) = clients().await;
    let group = format!("/aws/ecs/{}", unique_name("aistudio-dev-frontend"));
    aws.logs
        .create_log_group()
        .log_group_name(&group)
        .send()
        .await
        .expect("create_log_group");
    aws.logs
        .put_retention_policy()
        .log_group_name(&group)
        .retention_in_days(30)
        .send()
        .await
        .expect("put_retention_policy");
    aws.logs
        .create_log_stream()
        .log_group_name(&group)
        .log_stream_name("task-1")
        .send()
        .await
        .expect("create_log_stream");
    let now_ms = now_secs() * 1000;
    let messages: Vec<String> = (0..5)
        .map(|i| format!(r#"{{"event":"job.completed","jobId":"j-{i}","duration":{i}}}"#))
        .collect();
    let events: Vec<InputLogEvent> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            InputLogEvent::builder()
                .timestamp(now_ms + i as i64)
                .message(m)
                .build()
                .expect("event")
        })
        .collect();
    let put = aws
        .logs
        .put_log_events()
        .log_group_name(&group)
        .log_stream_name("task-1")
        .set_log_events(Some(events))
        .send()
        .await
        .expect("put_log_events");
    assert!(put.rejected_log_events_info().is_none());

    let out = emulator
        .aws_cli(&[
            "logs",
            "get-log-events",
            "--log-group-name",
            &group,
            "--log-stream-name",
            "task-1",
            "--start-from-head",
        ])
        .expect("aws logs get-log-events");
    let got: Vec<&str> = out["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert_eq!(got, messages);

    let groups = emulator
        .aws_cli(&[
            "logs",
            "describe-log-groups",
            "--log-group-name-prefix",
            &group,
        ])
        .expect("aws logs describe-log-groups");
    assert_eq!(groups["logGroups"][0]["retentionInDays"], 30, "{groups}");
}

#[tokio::test]
async fn sns_topic_and_subscription_are_listed_by_the_cli() {
    let (emulator, aws) = clients().await;
    let topic = unique_name("aistudio-dev-critical-alerts");
    let created = aws
        .sns
        .create_topic()
        .name(&topic)
        .send()
        .await
        .expect("create_topic");
    let arn = created.topic_arn().expect("topic arn").to_owned();
    assert!(arn.ends_with(&topic), "{arn}");
    aws.sns
        .subscribe()
        .topic_arn(&arn)
        .protocol("email")
        .endpoint("oncall@example.com")
        .send()
        .await
        .expect("subscribe");

    let out = emulator
        .aws_cli(&["sns", "list-subscriptions-by-topic", "--topic-arn", &arn])
        .expect("aws sns list-subscriptions-by-topic");
    let subs = out["Subscriptions"].as_array().expect("subscriptions");
    assert_eq!(subs.len(), 1, "{out}");
    assert_eq!(subs[0]["Protocol"], "email");
    assert_eq!(subs[0]["Endpoint"], "oncall@example.com");
    assert_eq!(subs[0]["TopicArn"], arn.as_str());
}

#[tokio::test]
async fn injected_throttling_reaches_the_sdk_as_a_throttling_error() {
    let emulator = Emulator::start().expect("private emulator");
    let sdk = emulator.sdk_config().await;
    let cloudwatch = aws_sdk_cloudwatch::Client::from_conf(
        aws_sdk_cloudwatch::config::Builder::from(&sdk)
            .retry_config(aws_sdk_cloudwatch::config::retry::RetryConfig::disabled())
            .build(),
    );
    emulator
        .inject_fault("PutMetricData", 400, "ThrottlingException", 1)
        .await
        .expect("inject");
    let err = cloudwatch
        .put_metric_data()
        .namespace("AIStudio/Streaming")
        .metric_data(
            MetricDatum::builder()
                .metric_name("Throttled")
                .value(1.0)
                .build(),
        )
        .send()
        .await
        .expect_err("the injected fault must surface");
    let code = aws_sdk_cloudwatch::error::ProvideErrorMetadata::code(&err);
    assert_eq!(code, Some("ThrottlingException"), "{err:?}");
    let calls = emulator.calls().await.expect("calls");
    assert_eq!(calls["PutMetricData"]["count"], 1, "{calls}");
}

#[test]
fn a_missing_emulator_package_fails_with_the_install_command() {
    // `-S` hides site-packages, so moto cannot be imported: the harness must say so.
    let err = match Emulator::start_with("python3", &["-S"]) {
        Ok(_) => panic!("the emulator must not start without its packages"),
        Err(err) => format!("{err:#}"),
    };
    assert!(err.contains("missing python package"), "{err}");
    assert!(err.contains("pip install"), "{err}");
}

#[test]
fn a_missing_interpreter_fails_with_the_install_command() {
    let err = match Emulator::start_with("/nonexistent/python3", &[]) {
        Ok(_) => panic!("the emulator must not start without python"),
        Err(err) => format!("{err:#}"),
    };
    assert!(err.contains("pip install"), "{err}");
}
