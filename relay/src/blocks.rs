//! Slack Block Kit messages for incoming webhooks: an alarm's state change as a coloured
//! attachment with its facts, console links and runbook line; anything else as plain text.

use serde_json::{json, Value};

use crate::alarm::AlarmNotification;
use crate::message::SnsMessage;

/// Slack's limits (Block Kit reference, "section" and "header" blocks): a header's text
/// ≤ 150 characters, a section's text ≤ 3,000, a field ≤ 2,000. We stay a little under each.
const MAX_HEADER_CHARS: usize = 140;
const MAX_SECTION_CHARS: usize = 2_900;
const MAX_FIELD_CHARS: usize = 1_900;

/// A redaction pass applied to every text that goes to Slack (the daemon passes its
/// redactor; PII or a secret in an alarm reason or a free-form notification stays home).
pub type Redact = std::sync::Arc<dyn Fn(&str) -> String + Send + Sync>;

/// Where the console links point.
#[derive(Debug, Clone)]
pub struct Links {
    /// Dashboard name template, `${Environment}` substituted.
    pub dashboard: String,
}

/// The webhook payload for a verified notification.
pub fn payload(msg: &SnsMessage, links: &Links, redact: &Redact) -> Value {
    match AlarmNotification::parse(&msg.message) {
        Some(alarm) => alarm_payload(&alarm, msg, links, redact),
        None => plain_payload(msg, redact),
    }
}

fn alarm_payload(a: &AlarmNotification, msg: &SnsMessage, links: &Links, r: &Redact) -> Value {
    let state = a.new_state_value.as_str();
    let (emoji, colour) = match state {
        "ALARM" => (":red_circle:", "#d62728"),
        "OK" => (":large_green_circle:", "#2ca02c"),
        _ => (":large_yellow_circle:", "#ff9900"),
    };
    let env = a.environment().unwrap_or("unknown environment");
    let header = truncate(&format!("{state}: {}", a.alarm_name), MAX_HEADER_CHARS);
    let change = match a.old_state_value.as_deref() {
        Some(old) => format!("{old} → {state}"),
        None => state.to_owned(),
    };
    let mut fields = vec![field("Environment", env), field("State", &change)];
    if let Some(trigger) = &a.trigger {
        fields.push(field("Condition", &trigger.in_words()));
    }
    if let Some(t) = &a.state_change_time {
        fields.push(field("Changed at", t));
    }
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": format!("{emoji} {header}"), "emoji": true}}),
        json!({"type": "section", "fields": fields}),
    ];
    let (description, runbook) = a.description_and_runbook();
    if let Some(d) = description {
        blocks.push(section(&escape(&r(d))));
    }
    if let Some(reason) = &a.new_state_reason {
        blocks.push(section(&format!("*Reason:* {}", escape(&r(reason)))));
    }
    if let Some(rb) = runbook {
        blocks.push(section(&format!(":mag: *First check:* {}", escape(&r(rb)))));
    }
    if let Some(region) = a.region().or_else(|| msg.topic_arn.split(':').nth(3)) {
        let console =
            format!("https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}");
        let alarm = format!("{console}#alarmsV2:alarm/{}", url_component(&a.alarm_name));
        let dashboard = links.dashboard.replace("${Environment}", env);
        let dash = format!(
            "{console}#dashboards/dashboard/{}",
            url_component(&dashboard)
        );
        blocks.push(json!({"type": "context", "elements": [
            {"type": "mrkdwn", "text": format!("<{alarm}|Open the alarm> · <{dash}|Dashboard {}>", escape(&dashboard))}
        ]}));
    }
    let fallback = format!("{state}: {} ({env})", a.alarm_name);
    json!({
        "text": truncate(&fallback, MAX_SECTION_CHARS),
        "attachments": [{"color": colour, "blocks": blocks}],
    })
}

fn plain_payload(msg: &SnsMessage, r: &Redact) -> Value {
    let subject = msg.subject.as_deref().unwrap_or("SNS notification");
    let topic = msg.topic_arn.rsplit(':').next().unwrap_or("");
    let text = format!(
        "*{}* ({})\n{}",
        escape(&r(subject)),
        escape(topic),
        escape(&r(&msg.message))
    );
    let text = truncate(&text, MAX_SECTION_CHARS);
    json!({
        "text": text,
        "blocks": [section(&text)],
    })
}

fn field(name: &str, value: &str) -> Value {
    json!({"type": "mrkdwn", "text": truncate(&format!("*{name}*\n{}", escape(value)), MAX_FIELD_CHARS)})
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, MAX_SECTION_CHARS)}})
}

/// Slack's mrkdwn control characters (Slack API "Formatting text": escape &, <, >).
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn truncate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn url_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::MessageType;

    fn msg(message: &str) -> SnsMessage {
        SnsMessage {
            kind: MessageType::Notification,
            message_id: "m".into(),
            topic_arn: "arn:aws:sns:us-east-1:1:aistudio-prod-operational-alerts".into(),
            message: message.into(),
            timestamp: String::new(),
            signature_version: "2".into(),
            signature: String::new(),
            signing_cert_url: String::new(),
            subject: None,
            subscribe_url: None,
            token: None,
        }
    }

    #[test]
    fn alarm_becomes_a_coloured_attachment_with_runbook_and_links() {
        let redact: Redact =
            std::sync::Arc::new(|s: &str| s.replace("jane@example.com", "[email]"));
        let p = payload(
            &msg(
                r#"{"AlarmName":"aistudio-prod-jobs-failed-high","AlarmDescription":"Jobs fail. First check: the <Streaming Jobs> dashboard.","NewStateValue":"ALARM","OldStateValue":"OK","NewStateReason":"user jane@example.com saw 7 > 5","AlarmArn":"arn:aws:cloudwatch:us-east-1:1:alarm:aistudio-prod-jobs-failed-high"}"#,
            ),
            &Links {
                dashboard: "aistudio-${Environment}-streaming-jobs".into(),
            },
            &redact,
        );
        let text = p.to_string();
        assert_eq!(p["attachments"][0]["color"], "#d62728");
        assert!(text.contains("ALARM: aistudio-prod-jobs-failed-high"));
        assert!(text.contains("OK → ALARM"));
        assert!(text.contains("First check:* the &lt;Streaming Jobs&gt; dashboard."));
        assert!(text.contains("[email] saw 7 &gt; 5"));
        assert!(!text.contains("jane@"));
        assert!(text.contains("#dashboards/dashboard/aistudio-prod-streaming-jobs"));
        assert!(text.contains("#alarmsV2:alarm/aistudio-prod-jobs-failed-high"));
    }

    #[test]
    fn other_messages_are_plain_and_bounded() {
        let redact: Redact = std::sync::Arc::new(|s: &str| s.to_owned());
        let long = "x".repeat(10_000);
        let p = payload(
            &msg(&long),
            &Links {
                dashboard: String::new(),
            },
            &redact,
        );
        let text = p["text"].as_str().unwrap();
        assert!(text.starts_with("*SNS notification* (aistudio-prod-operational-alerts)"));
        assert!(text.chars().count() <= MAX_SECTION_CHARS + 1);
    }
}
