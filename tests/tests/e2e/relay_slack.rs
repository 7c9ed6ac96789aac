//! The relay's Slack side against a fake webhook on loopback: one post per MessageId however
//! often SNS delivers, `Retry-After` honoured on 429, and a Slack outage longer than the
//! queue counted and logged while the relay stays healthy.

use std::time::Duration;

use serde_json::json;
use tests::sidecar::Workspace;
use tests::sns::{notification, CertServer, FakeSlack, Relay, SlackAnswer, TestPki};

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:aistudio-staging-operational-alerts";
const WAIT: Duration = Duration::from_secs(20);

fn alarm(name: &str) -> String {
    json!({"AlarmName": name, "NewStateValue": "ALARM", "OldStateValue": "OK",
           "NewStateReason": "Threshold Crossed", "AlarmDescription": "d. First check: logs."})
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_delivered_twice_is_posted_once() {
    let ws = Workspace::new();
    let pki = TestPki::new().unwrap();
    let certs = CertServer::start(&pki).await.unwrap();
    let slack = FakeSlack::start(&[], SlackAnswer::Ok).await.unwrap();
    let relay = Relay::start(ws.tmp.path(), &pki, &[TOPIC], &slack.url, "", "")
        .await
        .unwrap();
    let mut n = notification(
        TOPIC,
        "same-id",
        &alarm("aistudio-staging-a"),
        &certs.url("/leaf.pem"),
    );
    pki.sign(&mut n, "1").unwrap();
    assert_eq!(relay.post_json(&n).await.unwrap(), 200);
    assert_eq!(
        relay.post_json(&n).await.unwrap(),
        200,
        "a redelivery is acknowledged"
    );
    let mut other = notification(
        TOPIC,
        "other-id",
        &alarm("aistudio-staging-b"),
        &certs.url("/leaf.pem"),
    );
    pki.sign(&mut other, "2").unwrap();
    assert_eq!(relay.post_json(&other).await.unwrap(), 200);
    slack.wait_posts(2, WAIT).await.unwrap();
    relay
        .wait_counter("aistudio_relay_posted_total", 2, WAIT)
        .await
        .unwrap();
    let posts = slack.posts();
    assert_eq!(posts.len(), 2, "one post per MessageId");
    assert!(posts[0].2.to_string().contains("aistudio-staging-a"));
    assert!(posts[1].2.to_string().contains("aistudio-staging-b"));
    assert_eq!(
        relay
            .counter("aistudio_relay_duplicates_total")
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        relay
            .counter("aistudio_relay_verified_total")
            .await
            .unwrap(),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_429_then_200_is_delivered_once_after_the_wait() {
    let ws = Workspace::new();
    let pki = TestPki::new().unwrap();
    let certs = CertServer::start(&pki).await.unwrap();
    let slack = FakeSlack::start(&[SlackAnswer::RateLimited(1)], SlackAnswer::Ok)
        .await
        .unwrap();
    let relay = Relay::start(ws.tmp.path(), &pki, &[TOPIC], &slack.url, "", "")
        .await
        .unwrap();
    let mut n = notification(
        TOPIC,
        "rl",
        &alarm("aistudio-staging-rl"),
        &certs.url("/leaf.pem"),
    );
    pki.sign(&mut n, "2").unwrap();
    assert_eq!(relay.post_json(&n).await.unwrap(), 200);
    slack.wait_posts(2, WAIT).await.unwrap();
    relay
        .wait_counter("aistudio_relay_posted_total", 1, WAIT)
        .await
        .unwrap();
    let posts = slack.posts();
    assert_eq!(posts.len(), 2);
    let waited = posts[1].0 - posts[0].0;
    assert!(
        waited >= Duration::from_secs(1),
        "Retry-After: 1 honoured, waited {waited:?}"
    );
    assert_eq!(posts[0].2, posts[1].2, "the same message retried");
    assert_eq!(
        relay.counter("aistudio_relay_retried_total").await.unwrap(),
        1
    );
    assert_eq!(
        relay.counter("aistudio_relay_failed_total").await.unwrap(),
        0
    );
    assert_eq!(
        relay.counter("aistudio_relay_posted_total").await.unwrap(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_down_longer_than_the_queue_is_counted_and_the_relay_stays_up() {
    let ws = Workspace::new();
    let pki = TestPki::new().unwrap();
    let certs = CertServer::start(&pki).await.unwrap();
    // Each attempt takes 1.5 s to fail: one message in flight, one queued, the rest refused.
    let slack = FakeSlack::start(&[], SlackAnswer::DownSlowly(1_500))
        .await
        .unwrap();
    let relay = Relay::start(
        ws.tmp.path(),
        &pki,
        &[TOPIC],
        &slack.url,
        "",
        "queue_capacity = 1\nmax_attempts = 2",
    )
    .await
    .unwrap();
    // Warm the certificate cache so that the burst below is fast.
    let mut statuses = Vec::new();
    for i in 0..5 {
        let mut n = notification(
            TOPIC,
            &format!("down-{i}"),
            &alarm(&format!("aistudio-staging-down-{i}")),
            &certs.url("/leaf.pem"),
        );
        pki.sign(&mut n, "2").unwrap();
        statuses.push(relay.post_json(&n).await.unwrap());
        if i == 0 {
            slack.wait_posts(1, WAIT).await.unwrap();
        }
    }
    assert_eq!(statuses[..2], [200, 200], "{statuses:?}");
    assert_eq!(
        statuses[2..],
        [503, 503, 503],
        "a full queue answers 503 so that SNS retries: {statuses:?}"
    );
    assert_eq!(
        relay
            .counter("aistudio_relay_queue_full_total")
            .await
            .unwrap(),
        3
    );
    relay
        .wait_counter("aistudio_relay_failed_total", 2, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(
        slack.posts().len(),
        4,
        "two attempts for each of the two accepted messages"
    );
    assert_eq!(
        relay.counter("aistudio_relay_posted_total").await.unwrap(),
        0
    );
    assert_eq!(relay.health().await.unwrap(), 200, "the relay stays up");
    let log = relay.stderr_text();
    assert!(log.contains("gave up posting to Slack"), "{log}");
    assert!(
        !log.contains("test-secret-token"),
        "the webhook URL reached the log"
    );
}
