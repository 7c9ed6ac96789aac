//! One chat job's lifecycle: the `job.*` and `provider.response` log events and job metrics.
//!
//! A job logs exactly one terminal event: `job.completed`, `job.failed` or
//! `job.cancelled`. A job dropped before reaching one (the client went away) logs
//! `job.cancelled` with reason `client_disconnected`.

use std::sync::Arc;
use std::time::Instant;

use crate::logging::error_chain;
use crate::metrics as m;
use crate::providers::ProviderError;
use crate::shutdown::JobSlot;

/// Cancellation reasons in `job.cancelled`.
pub mod reason {
    /// The client closed the connection.
    pub const CLIENT_DISCONNECTED: &str = "client_disconnected";
    /// The drain deadline passed during shutdown.
    pub const SHUTDOWN: &str = "shutdown_deadline";
}

/// Identity of a job, shared by all its log lines.
#[derive(Debug, Clone)]
pub struct JobIds {
    /// Request id (from `x-request-id` or generated).
    pub request_id: Arc<str>,
    /// `chatcmpl-…` id, also the completion id.
    pub job_id: Arc<str>,
    /// The JWT `sub`.
    pub user_id: Arc<str>,
    /// Provider name from the config.
    pub provider: Arc<str>,
    /// Served model id.
    pub model: Arc<str>,
}

/// A running job.
#[derive(Debug)]
pub struct Job {
    /// Its ids.
    pub ids: JobIds,
    started: Instant,
    first_token: Option<Instant>,
    /// When the provider was asked; its latency is measured from here, not from `started`.
    provider_asked: Instant,
    tokens: u32,
    terminal: bool,
    provider_logged: bool,
    _slot: JobSlot,
}

fn ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn ms_between(from: Instant, to: Instant) -> u64 {
    u64::try_from(to.saturating_duration_since(from).as_millis()).unwrap_or(u64::MAX)
}

impl Job {
    /// Starts a job and logs `job.created`. `received` is when the request arrived: time to
    /// first token is what the user waits, from there.
    pub fn start(ids: JobIds, slot: JobSlot, stream: bool, received: Instant) -> Self {
        tracing::info!(
            event = "job.created",
            requestId = &*ids.request_id,
            jobId = &*ids.job_id,
            userId = &*ids.user_id,
            provider = &*ids.provider,
            modelId = &*ids.model,
            stream,
            "job created"
        );
        let now = Instant::now();
        Self {
            ids,
            started: received.min(now),
            first_token: None,
            provider_asked: now,
            tokens: 0,
            terminal: false,
            provider_logged: false,
            _slot: slot,
        }
    }

    /// Marks the moment the request goes to the provider (after parsing, routing and
    /// queueing), from which `provider.response` measures the provider's own latency.
    pub fn asking_provider(&mut self) {
        self.provider_asked = Instant::now();
    }

    /// Tokens so far.
    pub fn tokens(&self) -> u32 {
        self.tokens
    }

    /// Counts a token; the first logs `job.first_token`.
    pub fn token(&mut self) {
        self.tokens += 1;
        if self.first_token.is_none() {
            self.first_token = Some(Instant::now());
            let duration = ms(self.started);
            tracing::info!(
                event = "job.first_token",
                requestId = &*self.ids.request_id,
                jobId = &*self.ids.job_id,
                userId = &*self.ids.user_id,
                provider = &*self.ids.provider,
                modelId = &*self.ids.model,
                duration,
                "first token"
            );
            m::histogram_ttft(&self.ids.provider, self.started.elapsed().as_secs_f64());
        }
    }

    /// Logs `provider.response` once, when the provider's stream ends (or fails), with the
    /// upstream (or simulated) status. `duration` is the provider's latency: from asking it to
    /// its first token (to its failure when none came), which `ProviderLatencyMs` publishes;
    /// `streamDuration` is the provider's whole stream. Neither includes the server's own
    /// time before asking, which time to first token does.
    pub fn provider_response(&mut self, status: u16) {
        if self.provider_logged {
            return;
        }
        self.provider_logged = true;
        let end = Instant::now();
        let first_byte = self.first_token.unwrap_or(end).max(self.provider_asked);
        let duration = ms_between(self.provider_asked, first_byte);
        let stream_duration = ms_between(self.provider_asked, end);
        tracing::info!(
            event = "provider.response",
            requestId = &*self.ids.request_id,
            jobId = &*self.ids.job_id,
            userId = &*self.ids.user_id,
            provider = &*self.ids.provider,
            modelId = &*self.ids.model,
            duration,
            streamDuration = stream_duration,
            status,
            "provider responded"
        );
    }

    /// Logs `job.completed`.
    pub fn complete(&mut self, finish_reason: &str) {
        self.provider_response(200);
        self.terminal = true;
        let duration = ms(self.started);
        tracing::info!(
            event = "job.completed",
            requestId = &*self.ids.request_id,
            jobId = &*self.ids.job_id,
            userId = &*self.ids.user_id,
            provider = &*self.ids.provider,
            modelId = &*self.ids.model,
            duration,
            tokens = self.tokens,
            finishReason = finish_reason,
            "job completed"
        );
        self.record("completed");
    }

    /// Logs `job.failed` with the error.
    pub fn fail(&mut self, err: &ProviderError) {
        self.provider_response(err.provider_status());
        self.terminal = true;
        let duration = ms(self.started);
        tracing::error!(
            event = "job.failed",
            requestId = &*self.ids.request_id,
            jobId = &*self.ids.job_id,
            userId = &*self.ids.user_id,
            provider = &*self.ids.provider,
            modelId = &*self.ids.model,
            duration,
            tokens = self.tokens,
            error.name = err.name(),
            error.message = %err,
            error.stack = error_chain(err),
            "job failed"
        );
        self.record("failed");
    }

    /// Logs `job.cancelled`.
    pub fn cancel(&mut self, why: &str) {
        if self.terminal {
            return;
        }
        self.terminal = true;
        let duration = ms(self.started);
        tracing::warn!(
            event = "job.cancelled",
            requestId = &*self.ids.request_id,
            jobId = &*self.ids.job_id,
            userId = &*self.ids.user_id,
            provider = &*self.ids.provider,
            modelId = &*self.ids.model,
            duration,
            tokens = self.tokens,
            reason = why,
            "job cancelled"
        );
        self.record("cancelled");
    }

    fn record(&self, outcome: &'static str) {
        let provider = self.ids.provider.to_string();
        metrics::counter!(m::JOBS, "provider" => provider.clone(), "outcome" => outcome)
            .increment(1);
        metrics::counter!(m::TOKENS, "provider" => provider.clone())
            .increment(u64::from(self.tokens));
        metrics::histogram!(m::JOB_DURATION, "provider" => provider, "outcome" => outcome)
            .record(self.started.elapsed().as_secs_f64());
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        self.cancel(reason::CLIENT_DISCONNECTED);
    }
}
