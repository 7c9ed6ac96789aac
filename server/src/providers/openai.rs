//! The `openai` provider: any OpenAI-compatible upstream, streamed through with backpressure.
//!
//! The upstream is always asked for a stream. Its body is read only as fast as the
//! client consumes ours (one chunk per poll), and dropping our stream (the client went
//! away) drops the upstream response, which closes the upstream connection.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt as _;
use serde_json::{json, Value};

use super::{Delta, ProviderError, ProviderRequest, TokenStream};
use crate::config::OpenAiConfig;

/// Upstream error bodies are read up to this size.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// An SSE line longer than this is a protocol error.
const MAX_LINE: usize = 1024 * 1024;

/// Errors building the provider.
#[derive(Debug, thiserror::Error)]
#[error("could not build the upstream http client: {0}")]
pub struct BuildError(#[from] reqwest::Error);

/// An OpenAI-compatible upstream.
#[derive(Debug)]
pub struct OpenAiProvider {
    config: OpenAiConfig,
    client: reqwest::Client,
}

impl OpenAiProvider {
    /// A provider for this upstream.
    pub fn new(config: OpenAiConfig) -> Result<Self, BuildError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(config.timeout_ms))
            .build()?;
        Ok(Self { config, client })
    }

    fn url(&self) -> String {
        format!(
            "{}/chat/completions",
            self.config.base_url.trim_end_matches('/')
        )
    }

    /// Sends the request; a non-2xx answer becomes `UpstreamStatus` before any byte reaches the client.
    pub async fn open(&self, request: ProviderRequest) -> Result<TokenStream, ProviderError> {
        let model = self
            .config
            .upstream_models
            .get(&request.model)
            .cloned()
            .unwrap_or_else(|| request.model.clone());
        let mut body = json!({
            "model": model,
            "messages": request.messages,
            "stream": true,
        });
        if let Some(n) = request.max_tokens {
            body["max_tokens"] = json!(n);
        }
        if let Some(t) = request.temperature {
            body["temperature"] = json!(t);
        }
        let mut req = self.client.post(self.url()).json(&body);
        if let Some(key) = &self.config.api_key {
            req = req.bearer_auth(key);
        }
        let timeout_ms = self.config.timeout_ms;
        let response = tokio::time::timeout(Duration::from_millis(timeout_ms), req.send())
            .await
            .map_err(|_| ProviderError::Timeout(timeout_ms))?
            .map_err(|e| ProviderError::Connect(e.without_url()))?;
        let status = response.status();
        if !status.is_success() {
            let retry_after_s = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok());
            let message = error_message(response).await;
            return Err(ProviderError::UpstreamStatus {
                status: status.as_u16(),
                message,
                retry_after_s,
            });
        }
        let bytes = response
            .bytes_stream()
            .map(|r| r.map_err(|e| ProviderError::Stream(e.without_url().to_string())))
            .boxed();
        Ok(sse_deltas(bytes))
    }
}

async fn error_message(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ERROR_BODY {
            break;
        }
    }
    serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| "no error message".to_string())
}

/// Splits bytes into lines and turns `data:` payloads into deltas.
#[derive(Debug, Default)]
pub struct SseDecoder {
    buf: Vec<u8>,
}

/// What one SSE `data:` payload meant.
#[derive(Debug, PartialEq)]
pub enum SseItem {
    /// Deltas from a chunk (possibly none).
    Deltas(Vec<Delta>),
    /// `[DONE]`.
    Done,
}

impl SseDecoder {
    /// Feeds bytes; returns the items of every complete line.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<SseItem>, ProviderError> {
        self.buf.extend_from_slice(bytes);
        let mut items = Vec::new();
        while let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=pos).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if let Some(data) = line.strip_prefix("data:") {
                items.push(parse_data(data.trim_start())?);
            }
        }
        if self.buf.len() > MAX_LINE {
            return Err(ProviderError::Stream(
                "upstream sent an SSE line over 1 MiB".to_string(),
            ));
        }
        Ok(items)
    }
}

fn parse_data(data: &str) -> Result<SseItem, ProviderError> {
    if data == "[DONE]" {
        return Ok(SseItem::Done);
    }
    let v: Value = serde_json::from_str(data).map_err(|e| {
        ProviderError::Stream(format!("upstream sent a chunk that is not JSON: {e}"))
    })?;
    if let Some(err) = v.get("error") {
        let message = err
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("unknown error");
        return Err(ProviderError::Stream(format!(
            "upstream sent an error chunk: {message}"
        )));
    }
    let mut deltas = Vec::new();
    if let Some(choice) = v.pointer("/choices/0") {
        if let Some(text) = choice.pointer("/delta/content").and_then(Value::as_str) {
            if !text.is_empty() {
                deltas.push(Delta::Token(text.to_string()));
            }
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            deltas.push(Delta::Finish(reason.to_string()));
        }
    }
    Ok(SseItem::Deltas(deltas))
}

struct DecodeState {
    bytes: BoxStream<'static, Result<Bytes, ProviderError>>,
    decoder: SseDecoder,
    pending: VecDeque<Delta>,
    finished: bool,
    done: bool,
}

/// Turns an upstream SSE byte stream into deltas; pulls bytes only when a delta is wanted.
pub fn sse_deltas(bytes: BoxStream<'static, Result<Bytes, ProviderError>>) -> TokenStream {
    let state = DecodeState {
        bytes,
        decoder: SseDecoder::default(),
        pending: VecDeque::new(),
        finished: false,
        done: false,
    };
    futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(d) = st.pending.pop_front() {
                if matches!(d, Delta::Finish(_)) {
                    st.finished = true;
                }
                return Some((Ok(d), st));
            }
            if st.done {
                return None;
            }
            match st.bytes.next().await {
                Some(Ok(chunk)) => match st.decoder.push(&chunk) {
                    Ok(items) => {
                        for item in items {
                            match item {
                                SseItem::Deltas(ds) => st.pending.extend(ds),
                                SseItem::Done => st.done = true,
                            }
                        }
                        if st.done
                            && !st.finished
                            && !st.pending.iter().any(|d| matches!(d, Delta::Finish(_)))
                        {
                            st.pending.push_back(Delta::Finish("stop".to_string()));
                        }
                    }
                    Err(e) => {
                        st.done = true;
                        return Some((Err(e), st));
                    }
                },
                Some(Err(e)) => {
                    st.done = true;
                    return Some((Err(e), st));
                }
                None => {
                    st.done = true;
                    if !st.finished {
                        return Some((
                            Err(ProviderError::Stream(
                                "upstream closed the stream before [DONE]".to_string(),
                            )),
                            st,
                        ));
                    }
                }
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_of(parts: &[&'static str]) -> BoxStream<'static, Result<Bytes, ProviderError>> {
        futures::stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p.as_bytes())))
                .collect::<Vec<_>>(),
        )
        .boxed()
    }

    #[tokio::test]
    async fn decodes_chunks_split_across_reads() {
        let s = stream_of(&[
            ": keep-alive\n\ndata: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hel",
            "lo\"}}]}\r\n\r\ndata: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n",
        ]);
        let out: Vec<_> = sse_deltas(s)
            .map(|r| r.map_err(|e| e.to_string()))
            .collect()
            .await;
        assert_eq!(
            out,
            vec![
                Ok(Delta::Token("Hello".into())),
                Ok(Delta::Finish("stop".into()))
            ]
        );
    }

    #[tokio::test]
    async fn truncated_stream_is_an_error() {
        let s = stream_of(&["data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"]);
        let out: Vec<_> = sse_deltas(s).collect().await;
        assert_eq!(out.len(), 2);
        assert!(out[1]
            .as_ref()
            .is_err_and(|e| e.to_string().contains("before [DONE]")));
    }

    #[tokio::test]
    async fn error_chunk_and_garbage_are_errors() {
        let s = stream_of(&["data: {\"error\":{\"message\":\"overloaded\"}}\n\n"]);
        let out: Vec<_> = sse_deltas(s).collect().await;
        assert!(out[0]
            .as_ref()
            .is_err_and(|e| e.to_string().contains("overloaded")));
        let s = stream_of(&["data: nope\n\n"]);
        let out: Vec<_> = sse_deltas(s).collect().await;
        assert!(out[0].is_err());
    }

    #[tokio::test]
    async fn unreachable_upstream_is_a_connect_error() {
        let p = OpenAiProvider::new(OpenAiConfig {
            base_url: "http://127.0.0.1:1/v1".into(),
            api_key: Some("sk-secret".into()),
            timeout_ms: 2_000,
            upstream_models: Default::default(),
        })
        .unwrap();
        let err = p
            .open(ProviderRequest {
                model: "m".into(),
                messages: vec![],
                max_tokens: None,
                temperature: None,
            })
            .await
            .err()
            .unwrap();
        assert_eq!(err.name(), "UpstreamUnreachable");
        assert!(!err.to_string().contains("sk-secret"));
    }
}
