//! The SNS HTTP/S message envelope and its canonical string to sign, field by field as AWS
//! documents it ("Verifying the signatures of Amazon SNS messages").

use serde::Deserialize;

/// The three message types SNS posts to an HTTP/S endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// A published message.
    Notification,
    /// Sent once on Subscribe; visit `SubscribeURL` to confirm.
    SubscriptionConfirmation,
    /// Sent when the subscription is deleted.
    UnsubscribeConfirmation,
}

impl MessageType {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "Notification" => Some(Self::Notification),
            "SubscriptionConfirmation" => Some(Self::SubscriptionConfirmation),
            "UnsubscribeConfirmation" => Some(Self::UnsubscribeConfirmation),
            _ => None,
        }
    }

    /// The `Type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Notification => "Notification",
            Self::SubscriptionConfirmation => "SubscriptionConfirmation",
            Self::UnsubscribeConfirmation => "UnsubscribeConfirmation",
        }
    }
}

/// The envelope's fields (unknown ones, e.g. `MessageAttributes`, are ignored: SNS adds fields).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Envelope {
    #[serde(rename = "Type")]
    kind: String,
    message_id: String,
    topic_arn: String,
    message: String,
    timestamp: String,
    signature_version: String,
    signature: String,
    #[serde(rename = "SigningCertURL")]
    signing_cert_url: String,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default, rename = "SubscribeURL")]
    subscribe_url: Option<String>,
    #[serde(default)]
    token: Option<String>,
}

/// A parsed, not yet verified, SNS message.
#[derive(Debug, Clone)]
pub struct SnsMessage {
    /// `Type`.
    pub kind: MessageType,
    /// `MessageId`: the de-duplication key.
    pub message_id: String,
    /// `TopicArn`.
    pub topic_arn: String,
    /// `Message`: for alarms, CloudWatch's JSON.
    pub message: String,
    /// `Timestamp` as sent (it is signed verbatim).
    pub timestamp: String,
    /// `SignatureVersion`: "1" (SHA1withRSA) or "2" (SHA256withRSA).
    pub signature_version: String,
    /// `Signature`, base64.
    pub signature: String,
    /// `SigningCertURL`.
    pub signing_cert_url: String,
    /// `Subject` (notifications only, optional).
    pub subject: Option<String>,
    /// `SubscribeURL` (confirmations).
    pub subscribe_url: Option<String>,
    /// `Token` (confirmations).
    pub token: Option<String>,
}

/// Why a body is not an SNS message. Never quotes the body.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    /// Not UTF-8, not JSON, or a required field missing or of the wrong type.
    #[error("the body is not an SNS message envelope ({0})")]
    Malformed(String),
    /// `Type` is none of the three.
    #[error("unknown SNS message type")]
    UnknownType,
    /// A confirmation without `SubscribeURL` or `Token`.
    #[error("a {0} needs SubscribeURL and Token")]
    MissingConfirmationFields(&'static str),
}

impl SnsMessage {
    /// Parses a POST body.
    pub fn parse(body: &[u8]) -> Result<Self, ParseError> {
        let text = std::str::from_utf8(body).map_err(|e| {
            ParseError::Malformed(format!("invalid UTF-8 at byte {}", e.valid_up_to()))
        })?;
        let env: Envelope = serde_json::from_str(text).map_err(|e| {
            // serde_json's message names the field or the position, not the value.
            ParseError::Malformed(format!(
                "line {} column {}: {}",
                e.line(),
                e.column(),
                category(&e)
            ))
        })?;
        let kind = MessageType::parse(&env.kind).ok_or(ParseError::UnknownType)?;
        if kind != MessageType::Notification && (env.subscribe_url.is_none() || env.token.is_none())
        {
            return Err(ParseError::MissingConfirmationFields(kind.as_str()));
        }
        Ok(Self {
            kind,
            message_id: env.message_id,
            topic_arn: env.topic_arn,
            message: env.message,
            timestamp: env.timestamp,
            signature_version: env.signature_version,
            signature: env.signature,
            signing_cert_url: env.signing_cert_url,
            subject: env.subject,
            subscribe_url: env.subscribe_url,
            token: env.token,
        })
    }

    /// The string SNS signed: `Name\nValue\n` for each signed field of this type, in
    /// byte order of the names; `Subject` only when present.
    pub fn string_to_sign(&self) -> String {
        let mut out = String::with_capacity(self.message.len() + 512);
        let mut field = |name: &str, value: &str| {
            out.push_str(name);
            out.push('\n');
            out.push_str(value);
            out.push('\n');
        };
        field("Message", &self.message);
        field("MessageId", &self.message_id);
        match self.kind {
            MessageType::Notification => {
                if let Some(subject) = &self.subject {
                    field("Subject", subject);
                }
                field("Timestamp", &self.timestamp);
                field("TopicArn", &self.topic_arn);
            }
            MessageType::SubscriptionConfirmation | MessageType::UnsubscribeConfirmation => {
                field("SubscribeURL", self.subscribe_url.as_deref().unwrap_or(""));
                field("Timestamp", &self.timestamp);
                field("Token", self.token.as_deref().unwrap_or(""));
                field("TopicArn", &self.topic_arn);
            }
        }
        field("Type", self.kind.as_str());
        out
    }
}

/// A value-free description of a JSON error (serde's own message may quote input text).
fn category(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Eof => "truncated JSON",
        serde_json::error::Category::Data => "a required field is missing or not a string",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(kind: &str, extra: &str) -> String {
        format!(
            r#"{{"Type":"{kind}","MessageId":"m1","TopicArn":"arn:aws:sns:us-east-1:1:t","Message":"hi","Timestamp":"2026-01-01T00:00:00.000Z","SignatureVersion":"1","Signature":"AA==","SigningCertURL":"https://sns.us-east-1.amazonaws.com/c.pem"{extra}}}"#
        )
    }

    #[test]
    fn notification_string_includes_subject_only_when_present() {
        let m = SnsMessage::parse(body("Notification", "").as_bytes()).unwrap();
        assert_eq!(
            m.string_to_sign(),
            "Message\nhi\nMessageId\nm1\nTimestamp\n2026-01-01T00:00:00.000Z\nTopicArn\narn:aws:sns:us-east-1:1:t\nType\nNotification\n"
        );
        let m = SnsMessage::parse(body("Notification", r#","Subject":"S""#).as_bytes()).unwrap();
        assert!(m
            .string_to_sign()
            .contains("MessageId\nm1\nSubject\nS\nTimestamp\n"));
    }

    #[test]
    fn confirmation_string_has_subscribe_url_and_token() {
        let extra = r#","SubscribeURL":"https://sns.us-east-1.amazonaws.com/?x","Token":"tok""#;
        let m = SnsMessage::parse(body("SubscriptionConfirmation", extra).as_bytes()).unwrap();
        assert_eq!(
            m.string_to_sign(),
            "Message\nhi\nMessageId\nm1\nSubscribeURL\nhttps://sns.us-east-1.amazonaws.com/?x\nTimestamp\n2026-01-01T00:00:00.000Z\nToken\ntok\nTopicArn\narn:aws:sns:us-east-1:1:t\nType\nSubscriptionConfirmation\n"
        );
        assert_eq!(
            SnsMessage::parse(body("SubscriptionConfirmation", "").as_bytes()).unwrap_err(),
            ParseError::MissingConfirmationFields("SubscriptionConfirmation")
        );
    }

    #[test]
    fn bad_bodies_are_malformed_without_quoting_them() {
        for bad in [
            &b"\xff\xfe"[..],
            b"{not json SECRET",
            b"{\"Type\":\"Notification\"}",
            b"[]",
        ] {
            let err = SnsMessage::parse(bad).unwrap_err();
            assert!(matches!(err, ParseError::Malformed(_)), "{err}");
            assert!(!err.to_string().contains("SECRET"));
        }
        assert_eq!(
            SnsMessage::parse(body("Other", "").as_bytes()).unwrap_err(),
            ParseError::UnknownType
        );
    }
}
