//! The warning path end to end on the emulator: the repository's own warning alarm (rendered
//! by `provision` for dev) moved to ALARM with SetAlarmState → its SNS topic → an HTTP
//! subscriber → the relay → a fake Slack webhook, which sees one readable message even when
//! the notification is delivered twice.
//!
//! Two stand-ins, because moto 5.2 does not do everything AWS does:
//! - moto's CloudWatch does not run alarm actions, so the harness publishes the alarm
//!   notification CloudWatch would send (built from DescribeAlarms after SetAlarmState) to
//!   the alarm's own action topic;
//! - moto's SNS signs its HTTP deliveries (SHA256withRSA) with a certificate that chains to
//!   nothing and is announced on the unreachable `sns.us-east-1.amazonaws.com`. The hop below
//!   checks moto's signature with the relay's own verifier (against the certificate moto
//!   serves), then re-signs the delivery with the test CA and forwards it, so the relay under
//!   test verifies the whole chain as it would in AWS.

use std::time::Duration;

use aistudio_relay::message::SnsMessage;
use aws_sdk_cloudwatch::types::StateValue;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use serde_json::{json, Value};
use tests::emulator::Emulator;
use tests::sidecar::Workspace;
use tests::sns::{CertServer, FakeSlack, Relay, SlackAnswer, TestPki};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(30);
/// The warning alarm used: severity warning, so it routes to the operational topic.
const ALARM: &str = "aistudio-dev-response-time-p95-high";

/// An HTTP subscriber on loopback that hands each POST body to the test.
async fn hop() -> (String, mpsc::Receiver<Vec<u8>>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(16);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback listener for the hop");
    let port = listener
        .local_addr()
        .expect("a loopback listener for the hop")
        .port();
    let app = axum::Router::new().route(
        "/sns",
        axum::routing::post(move |body: axum::body::Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(body.to_vec()).await;
                "ok"
            }
        }),
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://127.0.0.1:{port}/sns"), rx, task)
}

/// The certificate moto signed with, fetched from moto (its PEM route belongs to SNS, which
/// moto's server finds by the credential scope of the Authorization header).
async fn moto_certificate(emulator: &Emulator, cert_url: &str) -> CertificateDer<'static> {
    let name = cert_url
        .rsplit('/')
        .next()
        .expect("moto serves the signing certificate");
    let pem = reqwest::Client::new()
        .get(format!("{}/{name}", emulator.endpoint()))
        .header("authorization", "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sns/aws4_request, SignedHeaders=host, Signature=0")
        .send()
        .await
        .expect("moto serves the signing certificate")
        .bytes()
        .await
        .expect("moto serves the signing certificate");
    CertificateDer::from_pem_slice(&pem).expect("moto serves a PEM certificate")
}

/// The notification CloudWatch publishes for an alarm state change (the fields of the
/// "Amazon SNS notification" format in the CloudWatch user guide).
fn cloudwatch_notification(alarm: &aws_sdk_cloudwatch::types::MetricAlarm) -> Value {
    json!({
        "AlarmName": alarm.alarm_name(),
        "AlarmDescription": alarm.alarm_description(),
        "AWSAccountId": "123456789012",
        "NewStateValue": alarm.state_value().map(|s| s.as_str()),
        "NewStateReason": alarm.state_reason(),
        "StateChangeTime": "2026-12-01T12:00:00.000+0000",
        "Region": "US East (N. Virginia)",
        "AlarmArn": alarm.alarm_arn(),
        "OldStateValue": "OK",
        "Trigger": {
            "MetricName": alarm.metric_name(),
            "Namespace": alarm.namespace(),
            "StatisticType": "ExtendedStatistic",
            "ExtendedStatistic": alarm.extended_statistic(),
            "Period": alarm.period(),
            "EvaluationPeriods": alarm.evaluation_periods(),
            "DatapointsToAlarm": alarm.datapoints_to_alarm(),
            "ComparisonOperator": alarm.comparison_operator().map(|c| c.as_str()),
            "Threshold": alarm.threshold(),
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warning_alarm_reaches_slack_once_through_sns_and_the_relay() {
    let emulator = Emulator::shared();
    let sdk = emulator.sdk_config().await;
    let sns = aws_sdk_sns::Client::new(&sdk);
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk);

    // The repository's definitions, rendered for dev as provision would write them.
    let ph = provision::render::Placeholders::defaults("dev", tests::emulator::REGION);
    let rendered = provision::load_rendered(&tests::workspace_root(), &ph)
        .expect("definitions render")
        .with_account("123456789012");
    let spec = rendered
        .alarms
        .iter()
        .find(|a| a.alarm_name == ALARM)
        .expect("the p95 alarm");
    let description = spec.alarm_description.clone().expect("a description");
    assert!(description.contains("First check:"), "{description}");
    let runbook = description
        .split("First check:")
        .nth(1)
        .unwrap()
        .trim()
        .to_owned();

    let topic = sns
        .create_topic()
        .name("aistudio-dev-operational-alerts")
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_owned();
    let (hop_url, mut deliveries, _hop) = hop().await;
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("http")
        .endpoint(&hop_url)
        .send()
        .await
        .unwrap();
    // The rendered PutMetricAlarm payload, as provision sends it, through the AWS CLI.
    assert_eq!(
        spec.alarm_actions,
        std::slice::from_ref(&topic),
        "the warning alarm notifies the operational topic"
    );
    let input = serde_json::to_string(spec).unwrap();
    emulator
        .aws_cli(&["cloudwatch", "put-metric-alarm", "--cli-input-json", &input])
        .expect("aws cloudwatch put-metric-alarm");
    let reason = "Threshold Crossed: 3 datapoints [2412.0, 2301.5, 2650.0] were greater than the threshold (2000.0).";
    cloudwatch
        .set_alarm_state()
        .alarm_name(ALARM)
        .state_value(StateValue::Alarm)
        .state_reason(reason)
        .send()
        .await
        .unwrap();

    // CloudWatch's part: the alarm action publishes the state change to the alarm's topic.
    let described = cloudwatch
        .describe_alarms()
        .alarm_names(ALARM)
        .send()
        .await
        .unwrap();
    let alarm = described
        .metric_alarms()
        .first()
        .expect("the alarm")
        .clone();
    assert_eq!(alarm.state_value(), Some(&StateValue::Alarm));
    assert_eq!(alarm.alarm_actions(), std::slice::from_ref(&topic));
    let message = cloudwatch_notification(&alarm).to_string();
    // No Subject: moto 5.2 leaves Subject out of the string it signs even when it sends one.
    sns.publish()
        .topic_arn(&topic)
        .message(&message)
        .send()
        .await
        .unwrap();

    let body = tokio::time::timeout(WAIT, deliveries.recv())
        .await
        .expect("moto delivers")
        .expect("a body");
    let delivered: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(delivered["Type"], "Notification");
    assert_eq!(delivered["SignatureVersion"], "2");

    // moto's signature, checked by the relay's verifier against moto's certificate.
    let moto_cert = moto_certificate(emulator, delivered["SigningCertURL"].as_str().unwrap()).await;
    let parsed = SnsMessage::parse(&body).unwrap();
    aistudio_relay::signature::verify(&parsed, &moto_cert).expect("moto's signature verifies");
    let mut altered = delivered.clone();
    altered["Message"] = json!("something else");
    let altered = SnsMessage::parse(altered.to_string().as_bytes()).unwrap();
    assert!(
        aistudio_relay::signature::verify(&altered, &moto_cert).is_err(),
        "the check can fail"
    );

    // The re-signing hop, then the relay.
    let ws = Workspace::new();
    let pki = TestPki::new().unwrap();
    let certs = CertServer::start(&pki).await.unwrap();
    let slack = FakeSlack::start(&[], SlackAnswer::Ok).await.unwrap();
    let relay = Relay::start(ws.tmp.path(), &pki, &[&topic], &slack.url, "", "")
        .await
        .unwrap();
    let mut forwarded = delivered.clone();
    forwarded["SigningCertURL"] = json!(certs.url("/leaf.pem"));
    pki.sign(&mut forwarded, "2").unwrap();
    assert_eq!(relay.post_json(&forwarded).await.unwrap(), 200);
    // SNS retries a delivery it thinks failed: the same MessageId again.
    assert_eq!(relay.post_json(&forwarded).await.unwrap(), 200);
    slack.wait_posts(1, WAIT).await.unwrap();
    relay
        .wait_counter("aistudio_relay_posted_total", 1, WAIT)
        .await
        .unwrap();
    assert_eq!(
        relay
            .counter("aistudio_relay_duplicates_total")
            .await
            .unwrap(),
        1
    );
    let posts = slack.posts();
    assert_eq!(posts.len(), 1, "posted once");
    let text = posts[0].2.to_string();
    assert!(text.contains(&format!("ALARM: {ALARM}")), "{text}");
    assert!(text.contains("*Environment*\\ndev"), "{text}");
    assert!(text.contains("OK → ALARM"), "{text}");
    assert!(text.contains("Threshold Crossed: 3 datapoints"), "{text}");
    let runbook_start: String = runbook.chars().take(40).collect();
    assert!(
        text.contains(&format!(
            "First check:* {}",
            runbook_start.replace('>', "&gt;").replace('<', "&lt;")
        )),
        "runbook line: {text}"
    );
    assert!(
        text.contains("#alarmsV2:alarm/aistudio-dev-response-time-p95-high"),
        "{text}"
    );
}
