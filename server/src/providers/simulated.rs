//! The simulated provider: a deterministic token stream with configurable TTFT, pace, length and failures.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt as _;

use super::{Delta, ProviderError, ProviderRequest, TokenStream};
use crate::config::SimulatedConfig;

/// Words the generator draws from.
const VOCAB: &[&str] = &[
    "stream",
    "token",
    "latency",
    "model",
    "observability",
    "metric",
    "alarm",
    "dashboard",
    "cluster",
    "service",
    "request",
    "response",
    "provider",
    "throughput",
    "budget",
    "signal",
    "queue",
    "worker",
    "deploy",
    "health",
    "cache",
    "region",
    "replica",
    "window",
    "trace",
    "sample",
    "context",
    "prompt",
    "answer",
    "studio",
    "fargate",
    "sidecar",
];

/// Deterministic generator.
#[derive(Debug)]
pub struct SimulatedProvider {
    config: SimulatedConfig,
    jobs: AtomicU64,
}

/// splitmix64: a small, well-mixed hash step.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// FNV-1a over the request's model and messages, so equal requests give equal completions.
fn request_hash(seed: u64, request: &ProviderRequest) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(request.model.as_bytes());
    for m in &request.messages {
        eat(m.role.as_bytes());
        eat(m.content.to_string().as_bytes());
    }
    h
}

/// The deterministic completion text for a request (what the stream yields, concatenated).
pub fn completion_text(seed: u64, request: &ProviderRequest, tokens: u32) -> String {
    (0..tokens)
        .map(|i| token_at(request_hash(seed, request), i))
        .collect()
}

fn token_at(hash: u64, i: u32) -> String {
    let idx = usize::try_from(mix(hash ^ u64::from(i)) % VOCAB.len() as u64).unwrap_or(0);
    if i == 0 {
        let w = VOCAB[idx];
        let mut c = w.chars();
        match c.next() {
            Some(first) => first.to_uppercase().chain(c).collect(),
            None => String::new(),
        }
    } else {
        format!(" {}", VOCAB[idx])
    }
}

struct State {
    hash: u64,
    next: u32,
    total: u32,
    fail_at: Option<u32>,
    ttft: Duration,
    gap: Duration,
    finish: &'static str,
    done: bool,
}

impl SimulatedProvider {
    /// A provider with this config.
    pub fn new(config: SimulatedConfig) -> Self {
        Self {
            config,
            jobs: AtomicU64::new(0),
        }
    }

    /// Whether the `n`th job (0-based) fails: a deterministic draw against `failure_rate`.
    fn fails(&self, n: u64) -> bool {
        if self.config.failure_rate <= 0.0 {
            return false;
        }
        let draw = (mix(self.config.seed ^ n.wrapping_mul(0x2545_F491_4F6C_DD1D)) >> 11) as f64
            / (1u64 << 53) as f64;
        draw < self.config.failure_rate
    }

    /// Starts the stream; nothing is awaited before the first token's delay.
    pub fn open(&self, request: ProviderRequest) -> TokenStream {
        let n = self.jobs.fetch_add(1, Ordering::Relaxed);
        let total = match request.max_tokens {
            Some(cap) => cap.min(self.config.completion_tokens),
            None => self.config.completion_tokens,
        };
        let finish = if request
            .max_tokens
            .is_some_and(|cap| cap < self.config.completion_tokens)
        {
            "length"
        } else {
            "stop"
        };
        let gap = match self.config.tokens_per_second {
            0 => Duration::ZERO,
            tps => Duration::from_secs_f64(1.0 / f64::from(tps)),
        };
        let state = State {
            hash: request_hash(self.config.seed, &request),
            next: 0,
            total,
            fail_at: self.fails(n).then_some(total / 2),
            ttft: Duration::from_millis(self.config.ttft_ms),
            gap,
            finish,
            done: false,
        };
        futures::stream::unfold(state, |mut st| async move {
            if st.done {
                return None;
            }
            if st.fail_at == Some(st.next) {
                st.done = true;
                return Some((Err(ProviderError::Simulated { tokens: st.next }), st));
            }
            if st.next >= st.total {
                st.done = true;
                let finish = st.finish.to_string();
                return Some((Ok(Delta::Finish(finish)), st));
            }
            let delay = if st.next == 0 { st.ttft } else { st.gap };
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let token = token_at(st.hash, st.next);
            st.next += 1;
            Some((Ok(Delta::Token(token)), st))
        })
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ChatMessage;

    fn cfg(tokens: u32, failure_rate: f64) -> SimulatedConfig {
        SimulatedConfig {
            ttft_ms: 0,
            tokens_per_second: 0,
            completion_tokens: tokens,
            failure_rate,
            seed: 7,
        }
    }

    fn req(text: &str, max_tokens: Option<u32>) -> ProviderRequest {
        ProviderRequest {
            model: "gpt-4o".into(),
            messages: vec![ChatMessage {
                role: "user".into(),
                content: serde_json::Value::String(text.into()),
            }],
            max_tokens,
            temperature: None,
        }
    }

    async fn collect(p: &SimulatedProvider, r: ProviderRequest) -> Vec<Result<Delta, String>> {
        p.open(r)
            .map(|d| d.map_err(|e| e.to_string()))
            .collect()
            .await
    }

    #[tokio::test]
    async fn stream_is_deterministic_and_has_configured_length() {
        let p = SimulatedProvider::new(cfg(5, 0.0));
        let a = collect(&p, req("hello", None)).await;
        let b = collect(&p, req("hello", None)).await;
        assert_eq!(a, b);
        assert_eq!(a.len(), 6);
        assert_eq!(a[5], Ok(Delta::Finish("stop".into())));
        let text: String = a
            .iter()
            .filter_map(|d| match d {
                Ok(Delta::Token(t)) => Some(t.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(text, completion_text(7, &req("hello", None), 5));
        let c = collect(&p, req("other prompt", None)).await;
        assert_ne!(a, c, "different prompts give different text");
    }

    #[tokio::test]
    async fn max_tokens_caps_with_length_finish() {
        let p = SimulatedProvider::new(cfg(10, 0.0));
        let a = collect(&p, req("x", Some(3))).await;
        assert_eq!(a.len(), 4);
        assert_eq!(a[3], Ok(Delta::Finish("length".into())));
    }

    #[tokio::test]
    async fn failure_rate_one_fails_every_job_mid_stream() {
        let p = SimulatedProvider::new(cfg(10, 1.0));
        let a = collect(&p, req("x", None)).await;
        assert_eq!(a.len(), 6, "five tokens then the error");
        assert!(a[5]
            .as_ref()
            .is_err_and(|e| e.contains("simulated provider failure")));
    }

    #[test]
    fn failure_rate_is_roughly_honoured_and_deterministic() {
        let p = SimulatedProvider::new(cfg(1, 0.25));
        let fails = (0..10_000).filter(|n| p.fails(*n)).count();
        assert!((2_000..3_000).contains(&fails), "{fails}");
        let q = SimulatedProvider::new(cfg(1, 0.25));
        assert!((0..100).all(|n| p.fails(n) == q.fails(n)));
    }
}
