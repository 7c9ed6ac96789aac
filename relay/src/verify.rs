//! The gate every POST passes before the relay acts on it: envelope, topic, age, certificate
//! URL, certificate chain, signature — in that order, so that nothing is fetched for a
//! message that fails a local check.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::certs::{CertError, CertStore};
use crate::message::{ParseError, SnsMessage};
use crate::signature::{self, SignatureError};

/// A timestamp this far in the future is still accepted: SNS's clock and ours may disagree
/// by a little (NTP keeps both within a second; the margin covers a badly synced host).
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);

/// Why a POST is refused. Each has one `/metrics` reason and one status.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// The body is larger than the limit.
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    /// Not an SNS envelope.
    #[error(transparent)]
    Malformed(#[from] ParseError),
    /// A topic the relay is not configured for.
    #[error("the TopicArn is not one this relay is configured for")]
    UnknownTopic,
    /// `Timestamp` is not RFC 3339.
    #[error("the Timestamp is not an RFC 3339 time")]
    BadTimestamp,
    /// Older than the replay horizon, or too far in the future.
    #[error("the message is {0} s outside the accepted age window (a replay or a bad clock)")]
    Stale(i64),
    /// The certificate URL or certificate.
    #[error(transparent)]
    Cert(#[from] CertError),
    /// The signature.
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

impl Rejection {
    /// The `/metrics` reason label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::TooLarge(_) => "too_large",
            Self::Malformed(_) => "malformed",
            Self::UnknownTopic => "unknown_topic",
            Self::BadTimestamp | Self::Stale(_) => "stale",
            Self::Cert(e) => e.reason(),
            Self::Signature(SignatureError::UnsupportedVersion) => "signature_version",
            Self::Signature(_) => "signature",
        }
    }

    /// 400 for a body that is not a message at all, 503 when the certificate cannot be had
    /// (SNS retries; a genuine message is not lost to a network blip), 403 for the rest.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::TooLarge(_) | Self::Malformed(_) => StatusCode::BAD_REQUEST,
            Self::Cert(CertError::Fetch(_)) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::FORBIDDEN,
        }
    }
}

/// Verifies SNS messages for a set of topics.
pub struct Verifier {
    topics: HashSet<String>,
    max_age: Duration,
    certs: Arc<CertStore>,
}

impl Verifier {
    /// A verifier accepting `topics`, refusing messages older than `max_age`.
    pub fn new(topics: &[String], max_age: Duration, certs: Arc<CertStore>) -> Self {
        Self {
            topics: topics.iter().cloned().collect(),
            max_age,
            certs,
        }
    }

    /// The certificate store (for SubscribeURL visits).
    pub fn certs(&self) -> &CertStore {
        &self.certs
    }

    /// Parses and verifies a body at time `now`.
    pub async fn verify(&self, body: &[u8], now: OffsetDateTime) -> Result<SnsMessage, Rejection> {
        let msg = SnsMessage::parse(body)?;
        if !self.topics.contains(&msg.topic_arn) {
            return Err(Rejection::UnknownTopic);
        }
        let sent =
            OffsetDateTime::parse(&msg.timestamp, &Rfc3339).map_err(|_| Rejection::BadTimestamp)?;
        let age = now - sent;
        let max_age = time::Duration::try_from(self.max_age).unwrap_or(time::Duration::MAX);
        let skew = time::Duration::try_from(MAX_CLOCK_SKEW).unwrap_or(time::Duration::MAX);
        if age > max_age {
            return Err(Rejection::Stale((age - max_age).whole_seconds()));
        }
        if -age > skew {
            return Err(Rejection::Stale((-age - skew).whole_seconds()));
        }
        let leaf = self.certs.leaf(&msg.signing_cert_url).await?;
        signature::verify(&msg, &leaf)?;
        Ok(msg)
    }
}
