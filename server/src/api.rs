//! OpenAI wire types: the chat request, completion and chunk bodies, and the error shape.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Largest `max_tokens` accepted.
pub const MAX_TOKENS_LIMIT: u32 = 128_000;

/// A client-visible error in OpenAI's shape: `{"error": {message, type, param, code}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Human-readable message (never contains secrets).
    pub message: String,
    /// OpenAI error `type`.
    pub kind: &'static str,
    /// OpenAI error `code`.
    pub code: Option<&'static str>,
    /// The request parameter at fault.
    pub param: Option<String>,
    /// Seconds for a `Retry-After` header.
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    /// A 400 `invalid_request_error`.
    pub fn bad_request(message: impl Into<String>, param: Option<&str>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            None,
            message,
        )
        .param(param)
    }

    /// Builds an error.
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        code: Option<&'static str>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            message: message.into(),
            kind,
            code,
            param: None,
            retry_after_s: None,
        }
    }

    /// Sets the `param` field.
    pub fn param(mut self, param: Option<&str>) -> Self {
        self.param = param.map(str::to_string);
        self
    }

    /// Sets a `Retry-After` header.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_s = Some(seconds);
        self
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        json!({"error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        }})
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.status)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if let Some(s) = self.retry_after_s {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"aistudio\""),
            );
        }
        response
    }
}

/// `POST /v1/chat/completions` body; unknown fields are accepted and ignored, as OpenAI clients send many.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatRequest {
    /// Model id.
    pub model: String,
    /// Conversation.
    pub messages: Vec<ChatMessage>,
    /// Stream SSE chunks.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Completion length cap.
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Newer name of `max_tokens`.
    #[serde(default)]
    pub max_completion_tokens: Option<u32>,
    /// Sampling temperature, 0–2.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// End-user id supplied by the client (informational; the JWT `sub` is the user).
    #[serde(default)]
    pub user: Option<String>,
    /// `{"include_usage": true}` adds a usage chunk before `[DONE]`.
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
}

/// Streaming options.
#[derive(Debug, Clone, Deserialize)]
pub struct StreamOptions {
    /// Send a final usage chunk.
    #[serde(default)]
    pub include_usage: bool,
}

/// One message.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ChatMessage {
    /// system, developer, user, assistant or tool.
    pub role: String,
    /// Text, an array of content parts, or null (assistant tool calls).
    #[serde(default)]
    pub content: Value,
}

impl ChatRequest {
    /// Parses and validates a body; every failure is a 400 that says what to fix.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(
                format!("request body is not valid JSON ({e}); send a JSON object"),
                None,
            )
        })?;
        if !value.is_object() {
            return Err(ApiError::bad_request(
                "request body must be a JSON object",
                None,
            ));
        }
        let request: ChatRequest = serde_json::from_value(value).map_err(|e| {
            ApiError::bad_request(
                format!("invalid request body: {e}; see the chat completions API reference"),
                None,
            )
        })?;
        request.validate()?;
        Ok(request)
    }

    fn validate(&self) -> Result<(), ApiError> {
        if self.model.trim().is_empty() {
            return Err(ApiError::bad_request(
                "model must not be empty",
                Some("model"),
            ));
        }
        if self.messages.is_empty() {
            return Err(ApiError::bad_request(
                "messages must contain at least one message",
                Some("messages"),
            ));
        }
        for (i, m) in self.messages.iter().enumerate() {
            if !matches!(
                m.role.as_str(),
                "system" | "developer" | "user" | "assistant" | "tool" | "function"
            ) {
                return Err(ApiError::bad_request(
                    format!("messages[{i}].role must be one of system, developer, user, assistant, tool"),
                    Some("messages"),
                ));
            }
            let ok = match &m.content {
                Value::String(_) | Value::Array(_) => true,
                Value::Null => m.role == "assistant",
                _ => false,
            };
            if !ok {
                return Err(ApiError::bad_request(
                    format!("messages[{i}].content must be a string or an array of content parts"),
                    Some("messages"),
                ));
            }
        }
        if let Some(t) = self.temperature {
            if !(0.0..=2.0).contains(&t) {
                return Err(ApiError::bad_request(
                    "temperature must be between 0 and 2",
                    Some("temperature"),
                ));
            }
        }
        if let Some(n) = self.max_tokens.or(self.max_completion_tokens) {
            if n == 0 || n > MAX_TOKENS_LIMIT {
                return Err(ApiError::bad_request(
                    format!("max_tokens must be between 1 and {MAX_TOKENS_LIMIT}"),
                    Some("max_tokens"),
                ));
            }
        }
        Ok(())
    }

    /// The effective completion cap.
    pub fn token_cap(&self) -> Option<u32> {
        self.max_tokens.or(self.max_completion_tokens)
    }

    /// Whether the client asked for SSE.
    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }
}

/// Seconds since the Unix epoch, for `created`.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A `chat.completion.chunk` carrying `delta`.
pub fn chunk(
    id: &str,
    created: u64,
    model: &str,
    delta: Value,
    finish_reason: Option<&str>,
) -> Value {
    json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    })
}

/// The usage-only chunk sent when `stream_options.include_usage` is set.
pub fn usage_chunk(id: &str, created: u64, model: &str, usage: Value) -> Value {
    json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [],
        "usage": usage,
    })
}

/// The `usage` object.
pub fn usage(prompt_tokens: u32, completion_tokens: u32) -> Value {
    json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    })
}

/// A whole `chat.completion`.
pub fn completion(
    id: &str,
    created: u64,
    model: &str,
    content: &str,
    finish_reason: &str,
    usage: Value,
) -> Value {
    json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": finish_reason,
        }],
        "usage": usage,
    })
}

/// A rough prompt token count (whitespace-separated words) for `usage`.
pub fn prompt_tokens(messages: &[ChatMessage]) -> u32 {
    let words: usize = messages
        .iter()
        .map(|m| match &m.content {
            Value::String(s) => s.split_whitespace().count(),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .map(|s| s.split_whitespace().count())
                .sum(),
            _ => 0,
        })
        .sum();
    u32::try_from(words).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_minimal_request_and_ignores_unknown_fields() {
        let r = ChatRequest::parse(
            br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":true,"top_p":1,"n":1}"#,
        )
        .unwrap();
        assert!(r.is_stream());
        assert_eq!(r.model, "gpt-4o");
    }

    #[test]
    fn every_malformed_body_is_a_400() {
        let cases: &[&[u8]] = &[
            b"{not json",
            b"[]",
            br#"{"messages":[{"role":"user","content":"x"}]}"#,
            br#"{"model":"m","messages":[]}"#,
            br#"{"model":"m","messages":"hi"}"#,
            br#"{"model":5,"messages":[{"role":"user","content":"x"}]}"#,
            br#"{"model":"m","messages":[{"role":"wizard","content":"x"}]}"#,
            br#"{"model":"m","messages":[{"role":"user","content":7}]}"#,
            br#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"}"#,
            br#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":-1}"#,
            br#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0}"#,
            br#"{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":3}"#,
            br#"{"model":"","messages":[{"role":"user","content":"x"}]}"#,
        ];
        for body in cases {
            let err = ChatRequest::parse(body).unwrap_err();
            assert_eq!(
                err.status,
                StatusCode::BAD_REQUEST,
                "{}",
                String::from_utf8_lossy(body)
            );
            assert_eq!(err.body()["error"]["type"], "invalid_request_error");
        }
    }

    #[test]
    fn error_response_has_openai_shape_and_retry_after() {
        let e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            Some("rate_limit_exceeded"),
            "slow down",
        )
        .retry_after(7);
        let r = e.clone().into_response();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()[header::RETRY_AFTER], "7");
        assert_eq!(e.body()["error"]["code"], "rate_limit_exceeded");
        assert!(e.body()["error"].get("param").is_some());
    }

    #[test]
    fn prompt_tokens_counts_words_in_text_and_parts() {
        let msgs: Vec<ChatMessage> = serde_json::from_str(
            r#"[{"role":"user","content":"one two"},{"role":"user","content":[{"type":"text","text":"three"}]}]"#,
        )
        .unwrap();
        assert_eq!(prompt_tokens(&msgs), 3);
    }
}
