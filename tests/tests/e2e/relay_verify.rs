//! The relay's gate, end to end on loopback: the real `aistudio-sidecar relay` process, a test
//! CA whose RSA signing certificate is served over HTTPS, and a fake Slack. Valid messages of
//! every type and both SignatureVersions pass; every kind of forgery or bad input is refused
//! with its status and its counter, and never reaches Slack.

use std::time::Duration;

use serde_json::{json, Value};
use tests::sidecar::Workspace;
use tests::sns::{
    confirmation, notification, timestamp, CertServer, FakeSlack, Relay, SlackAnswer, TestPki,
};

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:aistudio-dev-operational-alerts";
const WAIT: Duration = Duration::from_secs(20);

fn alarm_message(name: &str) -> String {
    json!({
        "AlarmName": name,
        "AlarmDescription": "p95 response time above 2 s. First check: the Application Performance dashboard, slowest endpoint.",
        "AlarmArn": format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"),
        "NewStateValue": "ALARM",
        "OldStateValue": "OK",
        "NewStateReason": "Threshold Crossed: 3 datapoints were greater than the threshold (2000.0).",
        "StateChangeTime": "2026-12-01T12:00:00.000+0000",
        "Trigger": {"MetricName": "ResponseTimeMs", "Namespace": "AIStudio/Streaming", "ExtendedStatistic": "p95",
                    "Period": 60, "EvaluationPeriods": 3, "ComparisonOperator": "GreaterThanThreshold", "Threshold": 2000.0}
    })
    .to_string()
}

fn rejected(reason: &str) -> String {
    format!("aistudio_relay_rejected_total{{reason=\"{reason}\"}}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_messages_of_every_type_and_version_pass() {
    let ws = Workspace::new();
    let pki = TestPki::new().unwrap();
    let certs = CertServer::start(&pki).await.unwrap();
    let slack = FakeSlack::start(&[], SlackAnswer::Ok).await.unwrap();
    let relay = Relay::start(ws.tmp.path(), &pki, &[TOPIC], &slack.url, "", "")
        .await
        .unwrap();
    let cert = certs.url("/leaf.pem");
    for version in ["1", "2"] {
        let mut n = notification(
            TOPIC,
            &format!("n-{version}"),
            &alarm_message(&format!("aistudio-dev-v{version}")),
            &cert,
        );
        pki.sign(&mut n, version).unwrap();
        assert_eq!(
            relay.post_json(&n).await.unwrap(),
            200,
            "Notification v{version}"
        );

        let confirm_path = format!("/?Action=ConfirmSubscription&Token=v{version}");
        let mut c = confirmation(
            "SubscriptionConfirmation",
            TOPIC,
            &format!("c-{version}"),
            &certs.url(&confirm_path),
            &cert,
        );
        pki.sign(&mut c, version).unwrap();
        assert_eq!(
            relay.post_json(&c).await.unwrap(),
            200,
            "SubscriptionConfirmation v{version}"
        );
        assert!(
            certs.visits().contains(&confirm_path),
            "SubscribeURL visited: {:?}",
            certs.visits()
        );

        let unsubscribe_path = format!("/?Action=Subscribe&Token=u{version}");
        let mut u = confirmation(
            "UnsubscribeConfirmation",
            TOPIC,
            &format!("u-{version}"),
            &certs.url(&unsubscribe_path),
            &cert,
        );
        pki.sign(&mut u, version).unwrap();
        assert_eq!(
            relay.post_json(&u).await.unwrap(),
            200,
            "UnsubscribeConfirmation v{version}"
        );
        assert!(
            !certs.visits().contains(&unsubscribe_path),
            "an unsubscribe is logged, not visited"
        );
    }
    assert_eq!(
        relay
            .counter("aistudio_relay_verified_total")
            .await
            .unwrap(),
        6
    );
    assert_eq!(
        relay
            .counter("aistudio_relay_subscriptions_confirmed_total")
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        relay
            .counter("aistudio_relay_unsubscribe_confirmations_total")
            .await
            .unwrap(),
        2
    );
    slack.wait_posts(2, WAIT).await.unwrap();
    let posts = slack.posts();
    assert_eq!(posts.len(), 2);
    let text = posts[0].2.to_string();
    assert!(text.contains("ALARM: aistudio-dev-v1"), "{text}");
    assert!(text.contains("OK → ALARM"), "{text}");
    assert!(text.contains("Threshold Crossed: 3 datapoints"), "{text}");
    assert!(
        text.contains("First check:* the Application Performance dashboard, slowest endpoint."),
        "{text}"
    );
    assert!(text.contains("p95 of ResponseTimeMs (AIStudio/Streaming) greater than 2000 in 3 of 3 periods of 1 minute"), "{text}");
    assert_eq!(posts[0].2["attachments"][0]["color"], "#d62728");
    assert!(relay
        .stderr_text()
        .contains("confirmed the SNS subscription"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_bad_messages_are_refused_with_their_reason() {
    let ws = Workspace::new();
    let pki = TestPki::new().unwrap();
    let certs = CertServer::start(&pki).await.unwrap();
    let slack = FakeSlack::start(&[], SlackAnswer::Ok).await.unwrap();
    let relay = Relay::start(
        ws.tmp.path(),
        &pki,
        &[TOPIC],
        &slack.url,
        "max_body_bytes = 8192",
        "",
    )
    .await
    .unwrap();
    let cert = certs.url("/leaf.pem");
    let marker = "BODY-MARKER-never-logged";
    let signed = |id: &str, cert_url: &str, topic: &str, f: &dyn Fn(&mut Value)| -> Value {
        let mut n = notification(
            topic,
            id,
            &format!("{marker} {}", alarm_message("aistudio-dev-x")),
            cert_url,
        );
        f(&mut n);
        pki.sign(&mut n, "2").unwrap();
        n
    };
    let none = |_: &mut Value| {};

    // forged signature: a valid signature of another message
    let other = signed("other", &cert, TOPIC, &none);
    let mut forged = signed("forged", &cert, TOPIC, &none);
    forged["Signature"] = other["Signature"].clone();
    // tampered field after signing
    let mut tampered = signed("tampered", &cert, TOPIC, &none);
    tampered["Message"] = json!(alarm_message("aistudio-dev-tampered"));
    let mut tampered_subject = signed("tampered-subject", &cert, TOPIC, &none);
    tampered_subject["Subject"] = json!("OK: all fine");
    // a SubscriptionConfirmation with a forged signature must not be visited
    let mut forged_confirm = confirmation(
        "SubscriptionConfirmation",
        TOPIC,
        "fc",
        &certs.url("/?Action=ConfirmSubscription&Token=forged"),
        &cert,
    );
    pki.sign(&mut forged_confirm, "2").unwrap();
    forged_confirm["Token"] = json!("another-token");
    let mut v3 = signed("v3", &cert, TOPIC, &none);
    v3["SignatureVersion"] = json!("3");

    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "forged signature",
            forged.to_string().into_bytes(),
            403,
            "signature",
        ),
        (
            "tampered Message",
            tampered.to_string().into_bytes(),
            403,
            "signature",
        ),
        (
            "tampered Subject",
            tampered_subject.to_string().into_bytes(),
            403,
            "signature",
        ),
        (
            "forged confirmation",
            forged_confirm.to_string().into_bytes(),
            403,
            "signature",
        ),
        (
            "unsupported version",
            v3.to_string().into_bytes(),
            403,
            "signature_version",
        ),
        (
            "wrong certificate host",
            signed(
                "host",
                &format!("https://127.0.0.1:{}/leaf.pem", certs.port),
                TOPIC,
                &none,
            )
            .to_string()
            .into_bytes(),
            403,
            "cert_url_host",
        ),
        (
            "plain-HTTP certificate URL",
            signed(
                "http",
                &format!("http://localhost:{}/leaf.pem", certs.port),
                TOPIC,
                &none,
            )
            .to_string()
            .into_bytes(),
            403,
            "cert_url_not_https",
        ),
        (
            "expired certificate",
            signed("expired", &certs.url("/expired.pem"), TOPIC, &none)
                .to_string()
                .into_bytes(),
            403,
            "cert_untrusted",
        ),
        (
            "certificate of another CA",
            signed("foreign", &certs.url("/foreign.pem"), TOPIC, &none)
                .to_string()
                .into_bytes(),
            403,
            "cert_untrusted",
        ),
        (
            "unknown TopicArn",
            signed(
                "topic",
                &cert,
                "arn:aws:sns:us-east-1:123456789012:somebody-else",
                &none,
            )
            .to_string()
            .into_bytes(),
            403,
            "unknown_topic",
        ),
        (
            "replayed old message",
            signed("old", &cert, TOPIC, &|n: &mut Value| {
                n["Timestamp"] = json!(timestamp(-7_200))
            })
            .to_string()
            .into_bytes(),
            403,
            "stale",
        ),
        (
            "oversized body",
            signed("big", &cert, TOPIC, &|n: &mut Value| {
                n["Message"] = json!("x".repeat(20_000))
            })
            .to_string()
            .into_bytes(),
            400,
            "too_large",
        ),
        (
            "malformed JSON",
            format!("{{\"Type\": \"Notification\", \"Message\": \"{marker}").into_bytes(),
            400,
            "malformed",
        ),
        (
            "invalid UTF-8",
            b"{\"Type\":\"\xff\xfe\"}".to_vec(),
            400,
            "malformed",
        ),
    ];
    for (name, body, status, reason) in cases {
        let before = relay.counter(&rejected(reason)).await.unwrap();
        assert_eq!(relay.post(body).await.unwrap(), status, "{name}");
        assert_eq!(
            relay.counter(&rejected(reason)).await.unwrap(),
            before + 1,
            "{name}: counter {reason}"
        );
    }
    assert!(
        certs.visits().is_empty(),
        "no SubscribeURL visited: {:?}",
        certs.visits()
    );
    assert_eq!(
        relay
            .counter("aistudio_relay_verified_total")
            .await
            .unwrap(),
        0
    );
    // The queue is FIFO: the one valid message being Slack's first post proves nothing
    // refused above was queued.
    let valid = signed("valid", &cert, TOPIC, &none);
    assert_eq!(relay.post_json(&valid).await.unwrap(), 200);
    slack.wait_posts(1, WAIT).await.unwrap();
    let posts = slack.posts();
    assert_eq!(posts.len(), 1);
    assert!(posts[0].2.to_string().contains("aistudio-dev-x"));
    let log = relay.stderr_text();
    assert_eq!(log.matches("refused an SNS message").count(), 14, "{log}");
    assert!(
        !log.contains("BODY-MARKER"),
        "a body reached the log: {log}"
    );
    assert!(
        !log.contains("test-secret-token"),
        "the webhook URL reached the log"
    );
    assert_eq!(relay.health().await.unwrap(), 200);
}
