//! Turning a provider's token stream into the client's answer: SSE chunks or one JSON completion.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::api::{self, ApiError};
use crate::job::{reason, Job};
use crate::providers::{Delta, TokenStream};

/// What the stream needs besides the provider.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    /// Completion id (`chatcmpl-…`).
    pub id: String,
    /// Model id echoed back.
    pub model: String,
    /// `created`.
    pub created: u64,
    /// Prompt token estimate for usage.
    pub prompt_tokens: u32,
    /// Send a usage chunk before `[DONE]`.
    pub include_usage: bool,
}

/// The error body sent as the last chunk when the drain deadline cuts a stream.
pub fn shutdown_error() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "server_error",
        Some("server_shutting_down"),
        "the server is shutting down and ended this stream; retry the request",
    )
}

enum Step {
    Delta(Option<Result<Delta, crate::providers::ProviderError>>),
    Deadline,
}

async fn next_step(tokens: &mut TokenStream, deadline: &CancellationToken) -> Step {
    tokio::select! {
        biased;
        () = deadline.cancelled() => Step::Deadline,
        d = tokens.next() => Step::Delta(d),
    }
}

struct SseState {
    job: Job,
    tokens: TokenStream,
    spec: StreamSpec,
    deadline: CancellationToken,
    queue: VecDeque<Event>,
    ended: bool,
}

fn data(v: &Value) -> Event {
    Event::default().data(v.to_string())
}

/// The SSE response: a role chunk, one chunk per token, a finish chunk, usage if asked, `[DONE]`.
pub fn stream_response(
    job: Job,
    tokens: TokenStream,
    spec: StreamSpec,
    deadline: CancellationToken,
    keepalive: Duration,
) -> Response {
    let mut queue = VecDeque::new();
    queue.push_back(data(&api::chunk(
        &spec.id,
        spec.created,
        &spec.model,
        json!({"role": "assistant", "content": ""}),
        None,
    )));
    let state = SseState {
        job,
        tokens,
        spec,
        deadline,
        queue,
        ended: false,
    };
    let events = futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(ev) = st.queue.pop_front() {
                return Some((Ok::<Event, Infallible>(ev), st));
            }
            if st.ended {
                return None;
            }
            match next_step(&mut st.tokens, &st.deadline).await {
                Step::Delta(Some(Ok(Delta::Token(text)))) => {
                    st.job.token();
                    let c = api::chunk(
                        &st.spec.id,
                        st.spec.created,
                        &st.spec.model,
                        json!({"content": text}),
                        None,
                    );
                    st.queue.push_back(data(&c));
                }
                Step::Delta(Some(Ok(Delta::Finish(reason)))) => {
                    st.ended = true;
                    st.job.complete(&reason);
                    let s = &st.spec;
                    st.queue.push_back(data(&api::chunk(
                        &s.id,
                        s.created,
                        &s.model,
                        json!({}),
                        Some(&reason),
                    )));
                    if s.include_usage {
                        let usage = api::usage(s.prompt_tokens, st.job.tokens());
                        st.queue
                            .push_back(data(&api::usage_chunk(&s.id, s.created, &s.model, usage)));
                    }
                    st.queue.push_back(Event::default().data("[DONE]"));
                }
                Step::Delta(Some(Err(err))) => {
                    st.ended = true;
                    st.job.fail(&err);
                    st.queue.push_back(data(&err.to_api_error().body()));
                }
                Step::Delta(None) => {
                    // A provider stream must end with Finish or an error; treat a bare end as a failure.
                    st.ended = true;
                    let err = crate::providers::ProviderError::Stream(
                        "provider stream ended without a finish reason".to_string(),
                    );
                    st.job.fail(&err);
                    st.queue.push_back(data(&err.to_api_error().body()));
                }
                Step::Deadline => {
                    st.ended = true;
                    st.job.cancel(reason::SHUTDOWN);
                    st.queue.push_back(data(&shutdown_error().body()));
                }
            }
        }
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(keepalive))
        .into_response()
}

/// The non-streaming answer: collects every token, then one `chat.completion`.
pub async fn collect_response(
    mut job: Job,
    mut tokens: TokenStream,
    spec: StreamSpec,
    deadline: CancellationToken,
) -> Response {
    let mut text = String::new();
    loop {
        match next_step(&mut tokens, &deadline).await {
            Step::Delta(Some(Ok(Delta::Token(t)))) => {
                job.token();
                text.push_str(&t);
            }
            Step::Delta(Some(Ok(Delta::Finish(reason)))) => {
                job.complete(&reason);
                let usage = api::usage(spec.prompt_tokens, job.tokens());
                let body =
                    api::completion(&spec.id, spec.created, &spec.model, &text, &reason, usage);
                return axum::Json(body).into_response();
            }
            Step::Delta(Some(Err(err))) => {
                job.fail(&err);
                return err.to_api_error().into_response();
            }
            Step::Delta(None) => {
                let err = crate::providers::ProviderError::Stream(
                    "provider stream ended without a finish reason".to_string(),
                );
                job.fail(&err);
                return err.to_api_error().into_response();
            }
            Step::Deadline => {
                job.cancel(reason::SHUTDOWN);
                return shutdown_error().into_response();
            }
        }
    }
}
