//! The traffic generator: a paced mix of successful, slow and failing streams, rate-limited
//! and unauthorized requests, and application log lines carrying personal data and keys. It
//! counts what it did, and remembers every secret it sent, so the outputs can be checked.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinSet;

/// Model routed to the fast simulated provider.
pub const FAST_MODEL: &str = "gpt-4o";
/// Model routed to the slow simulated provider.
pub const SLOW_MODEL: &str = "claude-3-5-sonnet";
/// Model routed to the simulated provider that fails half its jobs.
pub const FLAKY_MODEL: &str = "gemini-1.5-pro";
/// The one user that sends bursts above its rate limit.
pub const NOISY_USER: &str = "load-test-bot";
/// Requests in one burst of the noisy user (its limit is the server's per-minute rate).
pub const BURST: usize = 12;
/// Time between two bursts.
pub const BURST_EVERY: Duration = Duration::from_secs(3);

/// What the generator did; read by the live screen while it runs.
#[derive(Debug, Default)]
pub struct Counts {
    /// Chat requests answered by the server (any status).
    pub requests: AtomicU64,
    /// 2xx answers.
    pub ok: AtomicU64,
    /// 401 answers.
    pub unauthorized: AtomicU64,
    /// 429 answers.
    pub rate_limited: AtomicU64,
    /// Other 4xx answers.
    pub client_errors: AtomicU64,
    /// 5xx answers.
    pub server_errors: AtomicU64,
    /// Requests that got no answer (connection errors).
    pub transport_errors: AtomicU64,
    /// Jobs the server accepted (200 answers, streamed or not).
    pub jobs: AtomicU64,
    /// Streams opened (200 with `stream: true`).
    pub streams_started: AtomicU64,
    /// Streams that ended with `[DONE]`.
    pub streams_completed: AtomicU64,
    /// Streams that ended with an error chunk (provider failure).
    pub streams_failed: AtomicU64,
    /// Streams on the slow provider.
    pub slow_streams: AtomicU64,
    /// Application lines appended to the app log.
    pub app_lines: AtomicU64,
}

/// A copy of [`Counts`].
#[derive(Debug, Default, Clone, Copy, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct CountsSnapshot {
    /// See [`Counts`].
    pub requests: u64,
    /// See [`Counts`].
    pub ok: u64,
    /// See [`Counts`].
    pub unauthorized: u64,
    /// See [`Counts`].
    pub rate_limited: u64,
    /// See [`Counts`].
    pub client_errors: u64,
    /// See [`Counts`].
    pub server_errors: u64,
    /// See [`Counts`].
    pub transport_errors: u64,
    /// See [`Counts`].
    pub jobs: u64,
    /// See [`Counts`].
    pub streams_started: u64,
    /// See [`Counts`].
    pub streams_completed: u64,
    /// See [`Counts`].
    pub streams_failed: u64,
    /// See [`Counts`].
    pub slow_streams: u64,
    /// See [`Counts`].
    pub app_lines: u64,
}

impl Counts {
    /// The current values.
    pub fn snapshot(&self) -> CountsSnapshot {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CountsSnapshot {
            requests: g(&self.requests),
            ok: g(&self.ok),
            unauthorized: g(&self.unauthorized),
            rate_limited: g(&self.rate_limited),
            client_errors: g(&self.client_errors),
            server_errors: g(&self.server_errors),
            transport_errors: g(&self.transport_errors),
            jobs: g(&self.jobs),
            streams_started: g(&self.streams_started),
            streams_completed: g(&self.streams_completed),
            streams_failed: g(&self.streams_failed),
            slow_streams: g(&self.slow_streams),
            app_lines: g(&self.app_lines),
        }
    }
}

fn inc(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}

/// A user and its bearer token.
#[derive(Debug, Clone)]
pub struct User {
    /// The token's `sub` (the server's `userId`); some are e-mail addresses.
    pub sub: String,
    /// A valid token.
    pub token: String,
}

/// Everything the generator needs.
pub struct Generator {
    client: reqwest::Client,
    chat_url: String,
    users: Vec<User>,
    noisy: User,
    /// Tokens the server must refuse (expired, wrong signature, garbage).
    bad_tokens: Vec<String>,
    app_log: Mutex<std::fs::File>,
    /// What the generator counted.
    pub counts: Arc<Counts>,
    secrets: Mutex<Vec<String>>,
    rng: Mutex<fastrand::Rng>,
    seq: AtomicU64,
}

/// What one tick does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Fast,
    Slow,
    Flaky,
    Unauthorized,
    AppLine,
}

const FIRST: [&str; 8] = [
    "ana", "ben", "chen", "dana", "elif", "farid", "grace", "hugo",
];
const LAST: [&str; 6] = ["silva", "okafor", "li", "novak", "yilmaz", "haddad"];
/// Well-known test card numbers (Luhn-valid, never real accounts).
const CARDS: [&str; 4] = [
    "4111 1111 1111 1111",
    "5555-5555-5555-4444",
    "4012 8888 8888 1881",
    "3782 822463 10005",
];

impl Generator {
    /// A generator against `base_url`, appending application lines to `app_log`.
    pub fn new(
        client: reqwest::Client,
        base_url: &str,
        users: Vec<User>,
        noisy: User,
        bad_tokens: Vec<String>,
        app_log: PathBuf,
        seed: u64,
    ) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(app_log)?;
        let mut secrets: Vec<String> = bad_tokens.clone();
        for u in users.iter().chain(std::iter::once(&noisy)) {
            secrets.push(u.token.clone());
            if u.sub.contains('@') {
                secrets.push(u.sub.clone());
            }
        }
        Ok(Self {
            client,
            chat_url: format!("{base_url}/v1/chat/completions"),
            users,
            noisy,
            bad_tokens,
            app_log: Mutex::new(file),
            counts: Arc::new(Counts::default()),
            secrets: Mutex::new(secrets),
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            seq: AtomicU64::new(0),
        })
    }

    /// Every secret sent so far (tokens, e-mails, phone numbers, cards, keys).
    pub fn secrets(&self) -> Vec<String> {
        self.secrets.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn remember(&self, s: &str) {
        if let Ok(mut v) = self.secrets.lock() {
            v.push(s.to_owned());
        }
    }

    fn with_rng<T>(&self, f: impl FnOnce(&mut fastrand::Rng) -> T) -> T {
        match self.rng.lock() {
            Ok(mut rng) => f(&mut rng),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// Runs `rate` actions per second for `duration` plus the noisy user's bursts, then waits
    /// for every request in flight to finish.
    pub async fn run(self: Arc<Self>, duration: Duration, rate: f64) {
        let mut tasks = JoinSet::new();
        let period = Duration::from_secs_f64(1.0 / rate.max(0.1));
        let mut tick = tokio::time::interval(period);
        let mut burst = tokio::time::interval(BURST_EVERY);
        let end = tokio::time::sleep(duration);
        tokio::pin!(end);
        loop {
            tokio::select! {
                () = &mut end => break,
                _ = tick.tick() => {
                    let g = Arc::clone(&self);
                    tasks.spawn(async move { g.act().await });
                }
                _ = burst.tick() => {
                    for _ in 0..BURST {
                        let g = Arc::clone(&self);
                        tasks.spawn(async move { g.noisy_request().await });
                    }
                }
            }
        }
        while tasks.join_next().await.is_some() {}
    }

    async fn act(&self) {
        let action = self.with_rng(|rng| match rng.u32(0..100) {
            0..=44 => Action::Fast,
            45..=59 => Action::Slow,
            60..=74 => Action::Flaky,
            75..=84 => Action::Unauthorized,
            _ => Action::AppLine,
        });
        match action {
            Action::Fast => self.stream(FAST_MODEL).await,
            Action::Slow => self.stream(SLOW_MODEL).await,
            Action::Flaky => self.stream(FLAKY_MODEL).await,
            Action::Unauthorized => self.unauthorized().await,
            Action::AppLine => self.app_line(),
        }
    }

    fn next_id(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// An e-mail and a phone number, remembered as secrets.
    fn person(&self) -> (String, String) {
        let (f, l, n, p) = self.with_rng(|rng| {
            (
                FIRST[rng.usize(0..FIRST.len())],
                LAST[rng.usize(0..LAST.len())],
                rng.u32(1..999),
                rng.u32(100..999),
            )
        });
        let email = format!("{f}.{l}{n}@example.com");
        let phone = format!("+1 415 555 0{p}");
        self.remember(&email);
        self.remember(&phone);
        (email, phone)
    }

    async fn stream(&self, model: &str) {
        let id = self.next_id();
        let user = &self.users[self.with_rng(|rng| rng.usize(0..self.users.len()))];
        let (email, phone) = self.person();
        // Prompts carry personal data too; the server never logs them (checked by the test).
        let body = serde_json::json!({
            "model": model,
            "stream": true,
            "messages": [{"role": "user", "content": format!("Summarise my account. Reach me at {email} or {phone}. Request {id}.")}],
        });
        let resp = self
            .client
            .post(&self.chat_url)
            .bearer_auth(&user.token)
            .header("x-request-id", format!("demo-{id}"))
            .json(&body)
            .send()
            .await;
        let Some(resp) = self.answered(resp) else {
            return;
        };
        if !resp.status().is_success() {
            return;
        }
        inc(&self.counts.jobs);
        inc(&self.counts.streams_started);
        if model == SLOW_MODEL {
            inc(&self.counts.slow_streams);
        }
        match resp.text().await {
            Ok(text) if text.contains("data: [DONE]") => inc(&self.counts.streams_completed),
            _ => inc(&self.counts.streams_failed),
        }
    }

    async fn noisy_request(&self) {
        let id = self.next_id();
        let body = serde_json::json!({
            "model": FAST_MODEL,
            "max_tokens": 4,
            "messages": [{"role": "user", "content": "ping"}],
        });
        let resp = self
            .client
            .post(&self.chat_url)
            .bearer_auth(&self.noisy.token)
            .header("x-request-id", format!("demo-{id}"))
            .json(&body)
            .send()
            .await;
        if let Some(resp) = self.answered(resp) {
            if resp.status().is_success() {
                inc(&self.counts.jobs);
                // Read the body so the job finishes before the server is stopped.
                let _ = resp.bytes().await;
            }
        }
    }

    async fn unauthorized(&self) {
        let id = self.next_id();
        let token = &self.bad_tokens[self.with_rng(|rng| rng.usize(0..self.bad_tokens.len()))];
        let resp = self
            .client
            .post(&self.chat_url)
            .bearer_auth(token)
            .header("x-request-id", format!("demo-{id}"))
            .json(&serde_json::json!({"model": FAST_MODEL, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await;
        let _ = self.answered(resp);
    }

    /// Counts the answer by status; `None` when there was none.
    fn answered(&self, resp: reqwest::Result<reqwest::Response>) -> Option<reqwest::Response> {
        let c = &self.counts;
        match resp {
            Err(_) => {
                inc(&c.transport_errors);
                None
            }
            Ok(resp) => {
                inc(&c.requests);
                let status = resp.status().as_u16();
                match status {
                    200..=299 => inc(&c.ok),
                    401 => inc(&c.unauthorized),
                    429 => inc(&c.rate_limited),
                    400..=499 => inc(&c.client_errors),
                    _ => inc(&c.server_errors),
                }
                Some(resp)
            }
        }
    }

    /// One line of the "application" sharing the task: a support-ticket log line with an
    /// e-mail, a phone number, a card number, an OpenAI-style key and an AWS access key id.
    fn app_line(&self) {
        let id = self.next_id();
        let (email, phone) = self.person();
        let (card, key, aws) = self.with_rng(|rng| {
            let alnum = |rng: &mut fastrand::Rng, n: usize| -> String {
                (0..n).map(|_| rng.alphanumeric()).collect()
            };
            let upper = |rng: &mut fastrand::Rng, n: usize| -> String {
                (0..n)
                    .map(|_| rng.alphanumeric().to_ascii_uppercase())
                    .collect()
            };
            (
                CARDS[rng.usize(0..CARDS.len())],
                format!("sk-proj-{}", alnum(rng, 32)),
                format!("AKIA{}", upper(rng, 16)),
            )
        });
        self.remember(card);
        self.remember(&key);
        self.remember(&aws);
        let line = serde_json::json!({
            "timestamp": now_rfc3339(),
            "level": "warn",
            "message": format!("support ticket from {email}: call back on {phone}, card {card}, pasted key {key}"),
            "event": "app.support_ticket",
            "requestId": format!("demo-{id}"),
            "apiKey": key,
            "awsAccessKeyId": aws,
        });
        let written = self
            .app_log
            .lock()
            .map_err(|_| std::io::Error::other("app log lock poisoned"))
            .and_then(|mut f| writeln!(f, "{line}"));
        match written {
            Ok(()) => inc(&self.counts.app_lines),
            Err(_) => inc(&self.counts.transport_errors),
        }
    }
}

/// Now as RFC 3339 UTC with milliseconds (the log contract's `timestamp`).
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now
        .replace_nanosecond(u32::from(now.millisecond()) * 1_000_000)
        .unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
