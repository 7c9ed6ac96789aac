//! Rules for the topics file and for routing: protocols and endpoints, severities mapped to
//! defined topics, and critical alarms reaching an e-mail subscriber in every environment.

use std::collections::BTreeSet;

use super::definitions::{Definitions, TopicsDef};
use super::render::name_prefix;
use super::report::Problem;
use aistudio_core::catalog::KNOWN_ENVIRONMENTS;
use aistudio_core::limits::MAX_TOPIC_NAME_LEN;

/// The severity whose alarms must reach an e-mail subscriber.
pub const CRITICAL_SEVERITY: &str = "critical";
/// Subscription protocols the topics file may use (SNS Subscribe API reference).
const PROTOCOLS: [&str; 8] = [
    "email",
    "email-json",
    "https",
    "http",
    "sms",
    "sqs",
    "lambda",
    "firehose",
];

pub fn check_topics(file: &str, spec: &TopicsDef, problems: &mut Vec<Problem>) {
    let mut keys = BTreeSet::new();
    for (i, topic) in spec.topics.iter().enumerate() {
        let at = format!("Topics[{i}]");
        if !keys.insert(topic.key.as_str()) {
            problems.push(Problem::new(
                file,
                &format!("{at}.Key"),
                format!("topic `{}` is defined twice", topic.key),
            ));
        }
        for env in KNOWN_ENVIRONMENTS {
            let name = format!("{}{}", name_prefix(env), topic.key);
            if name.len() > MAX_TOPIC_NAME_LEN
                || topic.key.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                problems.push(Problem::new(file, &format!("{at}.Key"), format!("topic name `{name}` is not valid; use 1 to {MAX_TOPIC_NAME_LEN} characters of A-Z a-z 0-9 - _")));
                break;
            }
        }
        for (j, sub) in topic.subscriptions.iter().enumerate() {
            let at = format!("{at}.Subscriptions[{j}]");
            if !PROTOCOLS.contains(&sub.protocol.as_str()) {
                problems.push(Problem::new(file, &format!("{at}.Protocol"), format!("`{}` is not one of {}; Slack goes through an https endpoint or AWS Chatbot", sub.protocol, PROTOCOLS.join(", "))));
            }
            let e = sub.endpoint.as_str();
            let ok = match sub.protocol.as_str() {
                "email" | "email-json" => {
                    e.contains('@')
                        && !e.contains(char::is_whitespace)
                        && !e.starts_with('@')
                        && !e.ends_with('@')
                }
                // `${RelayUrl}`: resolved per environment, checked by `slack::check_slack`.
                "https" => e.starts_with("https://") || e == super::slack::RELAY_URL_PLACEHOLDER,
                "http" => e.starts_with("http://"),
                "sms" => e.starts_with('+'),
                "sqs" | "lambda" | "firehose" => e.starts_with("arn:"),
                _ => true,
            };
            if !ok {
                problems.push(Problem::new(
                    file,
                    &format!("{at}.Endpoint"),
                    format!("`{e}` is not a valid {} endpoint", sub.protocol),
                ));
            }
            for env in &sub.environments {
                if !KNOWN_ENVIRONMENTS.contains(&env.as_str()) {
                    problems.push(Problem::new(
                        file,
                        &format!("{at}.Environments"),
                        format!(
                            "unknown environment `{env}`; use one of {}",
                            KNOWN_ENVIRONMENTS.join(", ")
                        ),
                    ));
                }
            }
        }
    }
    for (severity, list) in &spec.severities {
        if list.is_empty() {
            problems.push(Problem::new(
                file,
                &format!("Severities.{severity}"),
                "the severity maps to no topic; list at least one",
            ));
        }
        for (i, key) in list.iter().enumerate() {
            if !keys.contains(key.as_str()) {
                problems.push(Problem::new(
                    file,
                    &format!("Severities.{severity}[{i}]"),
                    format!("topic `{key}` is not defined in [[Topics]]"),
                ));
            }
        }
    }
}

/// Every critical alarm must reach, in every environment, a topic with an e-mail subscriber.
pub fn check_critical_routes(defs: &Definitions, problems: &mut Vec<Problem>) {
    let Some(topics) = defs.topics.as_ref().map(|t| &t.spec) else {
        return;
    };
    for file in defs
        .alarms
        .iter()
        .filter(|f| f.alarm.severity == CRITICAL_SEVERITY)
    {
        let mut keys: Vec<&String> = topics
            .severities
            .get(CRITICAL_SEVERITY)
            .into_iter()
            .flatten()
            .collect();
        keys.extend(file.alarm.alarm_actions.iter());
        for env in KNOWN_ENVIRONMENTS {
            let reaches_email = topics
                .topics
                .iter()
                .filter(|t| keys.contains(&&t.key))
                .any(|t| {
                    t.subscriptions.iter().any(|s| {
                        s.protocol == "email"
                            && (s.environments.is_empty()
                                || s.environments.iter().any(|e| e == env))
                    })
                });
            if !reaches_email {
                problems.push(Problem::new(&file.path, "Severity", format!(
                    "critical alarm reaches no topic with an e-mail subscriber in {env}; add an email subscription for {env} to a critical topic"
                )));
            }
        }
    }
}
