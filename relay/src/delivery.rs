//! Posting to Slack: a bounded queue in front of one worker, de-duplication by SNS
//! `MessageId` (SNS delivers at least once), retries with the shared backoff on 5xx and
//! network errors, and `Retry-After` honoured on 429.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aistudio_core::backoff::{Backoff, DEFAULT_CAP};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::telemetry::Counters;
use crate::webhook::WebhookUrl;

/// First Slack retry waits up to this long (then doubling, capped by the shared cap).
pub const SLACK_BACKOFF_INITIAL: Duration = Duration::from_millis(250);
/// Wait when a 429 carries no usable `Retry-After` (Slack documents sending one; this is the
/// margin for a proxy that strips it).
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// How a Slack queue behaves.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Queue capacity.
    pub capacity: usize,
    /// Attempts per message.
    pub max_attempts: u32,
    /// Per-post timeout.
    pub timeout: Duration,
    /// Retry-After cap.
    pub max_retry_after: Duration,
    /// MessageIds remembered.
    pub dedup_capacity: usize,
}

/// One message for Slack.
#[derive(Debug)]
struct Outgoing {
    message_id: String,
    payload: Value,
}

/// What happened to an offered message.
#[derive(Debug, PartialEq, Eq)]
pub enum Offer {
    /// Queued for posting.
    Queued,
    /// Already seen: acknowledged, not posted again.
    Duplicate,
    /// The queue is full: answer 503 so SNS retries later.
    Full,
}

/// MessageIds seen, oldest forgotten first.
struct Seen {
    order: VecDeque<String>,
    set: HashSet<String>,
    capacity: usize,
}

impl Seen {
    fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }

    fn insert(&mut self, id: String) {
        if self.set.len() >= self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        self.set.insert(id.clone());
        self.order.push_back(id);
    }
}

/// The sending side of the queue, shared by request handlers.
pub struct SlackQueue {
    tx: mpsc::Sender<Outgoing>,
    seen: Mutex<Seen>,
    counters: Arc<Counters>,
}

impl SlackQueue {
    /// Starts the worker on `tracker`; it drains until `stop`, then gives up on what is left
    /// when `force` fires.
    pub fn start(
        settings: DeliverySettings,
        webhook: WebhookUrl,
        counters: Arc<Counters>,
        tracker: &tokio_util::task::TaskTracker,
        force: CancellationToken,
    ) -> Result<Arc<Self>, String> {
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.timeout)
            .timeout(settings.timeout)
            .build()
            .map_err(|e| format!("cannot build the Slack HTTP client: {e}"))?;
        let (tx, rx) = mpsc::channel(settings.capacity);
        let queue = Arc::new(Self {
            tx,
            seen: Mutex::new(Seen {
                order: VecDeque::new(),
                set: HashSet::new(),
                capacity: settings.dedup_capacity,
            }),
            counters: counters.clone(),
        });
        let worker = Worker {
            client,
            webhook,
            settings,
            counters,
            force,
        };
        tracker.spawn(worker.run(rx));
        Ok(queue)
    }

    /// Offers a verified notification's payload.
    pub fn offer(&self, message_id: &str, payload: Value) -> Offer {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.contains(message_id) {
            Counters::inc(&self.counters.duplicates);
            return Offer::Duplicate;
        }
        let item = Outgoing {
            message_id: message_id.to_owned(),
            payload,
        };
        match self.tx.try_send(item) {
            Ok(()) => {
                seen.insert(message_id.to_owned());
                Offer::Queued
            }
            Err(_) => {
                Counters::inc(&self.counters.queue_full);
                Offer::Full
            }
        }
    }
}

struct Worker {
    client: reqwest::Client,
    webhook: WebhookUrl,
    settings: DeliverySettings,
    counters: Arc<Counters>,
    force: CancellationToken,
}

/// One attempt's outcome.
enum Attempt {
    Posted,
    RetryAfter(Duration),
    Retry(String),
    Permanent(String),
}

impl Worker {
    async fn run(self, mut rx: mpsc::Receiver<Outgoing>) {
        // The channel closes when the server (holding the sender) is gone: drain, then stop.
        while let Some(item) = rx.recv().await {
            tokio::select! {
                () = self.deliver(&item) => {}
                () = self.force.cancelled() => {
                    Counters::inc(&self.counters.failed);
                    tracing::error!(message_id = %item.message_id, "shutdown deadline passed before Slack accepted the message; it is lost");
                    break;
                }
            }
        }
        let mut lost = 0u64;
        while rx.try_recv().is_ok() {
            lost += 1;
            Counters::inc(&self.counters.failed);
        }
        if lost > 0 {
            tracing::error!(lost, "shutdown left messages unposted to Slack");
        }
    }

    async fn deliver(&self, item: &Outgoing) {
        let mut backoff = Backoff::new(SLACK_BACKOFF_INITIAL, DEFAULT_CAP);
        for attempt in 1..=self.settings.max_attempts {
            let wait = match self.attempt(&item.payload).await {
                Attempt::Posted => {
                    Counters::inc(&self.counters.posted);
                    tracing::info!(message_id = %item.message_id, attempt, "posted to Slack");
                    return;
                }
                Attempt::Permanent(why) => {
                    Counters::inc(&self.counters.failed);
                    tracing::error!(message_id = %item.message_id, "Slack refused the message ({why}); check the webhook URL secret");
                    return;
                }
                Attempt::RetryAfter(wait) => {
                    tracing::warn!(message_id = %item.message_id, attempt, wait_ms = wait.as_millis() as u64, "Slack rate-limited the post; waiting as asked");
                    wait
                }
                Attempt::Retry(why) => {
                    let wait = backoff.next_delay();
                    tracing::warn!(message_id = %item.message_id, attempt, wait_ms = wait.as_millis() as u64, "Slack post failed ({why}); retrying");
                    wait
                }
            };
            if attempt == self.settings.max_attempts {
                break;
            }
            Counters::inc(&self.counters.retried);
            tokio::time::sleep(wait).await;
        }
        Counters::inc(&self.counters.failed);
        tracing::error!(
            message_id = %item.message_id,
            attempts = self.settings.max_attempts,
            "gave up posting to Slack; the alarm is in CloudWatch but not in the channel"
        );
    }

    async fn attempt(&self, payload: &Value) -> Attempt {
        let response = match self
            .client
            .post(self.webhook.as_url().clone())
            .json(payload)
            .send()
            .await
        {
            Ok(r) => r,
            // Without the URL: reqwest's Display would print the secret webhook.
            Err(e) => {
                let kind = if e.is_timeout() {
                    "timed out"
                } else if e.is_connect() {
                    "cannot connect"
                } else {
                    "request error"
                };
                return Attempt::Retry(kind.to_owned());
            }
        };
        let status = response.status();
        if status.is_success() {
            return Attempt::Posted;
        }
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let wait = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs)
                .unwrap_or(DEFAULT_RETRY_AFTER)
                .min(self.settings.max_retry_after);
            return Attempt::RetryAfter(wait);
        }
        if status.is_server_error() || status == reqwest::StatusCode::REQUEST_TIMEOUT {
            return Attempt::Retry(format!("status {status}"));
        }
        Attempt::Permanent(format!("status {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_forgets_the_oldest_past_capacity() {
        let mut seen = Seen {
            order: VecDeque::new(),
            set: HashSet::new(),
            capacity: 2,
        };
        seen.insert("a".into());
        seen.insert("b".into());
        seen.insert("c".into());
        assert!(!seen.contains("a"));
        assert!(seen.contains("b") && seen.contains("c"));
    }
}
