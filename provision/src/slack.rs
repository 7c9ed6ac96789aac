//! Slack, per environment (`[Slack.<env>]` in `alarms/topics.toml`): the relay's URL that
//! `${RelayUrl}` stands for in a subscription endpoint, and the rules of the section (the
//! Chatbot channel configuration itself is `chatbot.rs`).

use super::definitions::TopicsDef;
use super::report::Problem;
use aistudio_core::catalog::KNOWN_ENVIRONMENTS;

/// What a subscription endpoint writes for the environment's relay URL.
pub const RELAY_URL_PLACEHOLDER: &str = "${RelayUrl}";

/// The endpoint with `${RelayUrl}` replaced by the environment's relay URL (left empty when
/// unset: [`check_slack`] reports it).
pub fn resolve_endpoint(endpoint: &str, spec: &TopicsDef, env: &str) -> String {
    if !endpoint.contains(RELAY_URL_PLACEHOLDER) {
        return endpoint.to_owned();
    }
    let url = spec
        .slack
        .get(env)
        .and_then(|s| s.relay_url.as_deref())
        .unwrap_or("");
    endpoint.replace(RELAY_URL_PLACEHOLDER, url)
}

fn is_slack_id(id: &str, first: &[char]) -> bool {
    id.len() >= 9
        && id.len() <= 20
        && id.starts_with(first)
        && id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// The `[Slack]` rules: known environments, an https relay URL, both Chatbot IDs or none,
/// and a relay URL wherever a `${RelayUrl}` subscription is enabled.
pub fn check_slack(file: &str, spec: &TopicsDef, problems: &mut Vec<Problem>) {
    for (env, s) in &spec.slack {
        let at = format!("Slack.{env}");
        if !KNOWN_ENVIRONMENTS.contains(&env.as_str()) {
            problems.push(Problem::new(
                file,
                &at,
                format!(
                    "unknown environment `{env}`; use one of {}",
                    KNOWN_ENVIRONMENTS.join(", ")
                ),
            ));
        }
        if let Some(url) = &s.relay_url {
            if !url.starts_with("https://")
                || url.len() <= "https://".len()
                || url.contains(char::is_whitespace)
            {
                problems.push(Problem::new(file, &format!("{at}.RelayUrl"), format!("`{url}` is not an https URL; SNS delivers to the relay over HTTPS (its public address behind the load balancer)")));
            }
        }
        match (&s.chatbot_workspace_id, &s.chatbot_channel_id) {
            (Some(team), Some(channel)) => {
                if !is_slack_id(team, &['T']) {
                    problems.push(Problem::new(file, &format!("{at}.ChatbotWorkspaceId"), format!("`{team}` is not a Slack workspace ID (T followed by upper-case letters and digits)")));
                }
                if !is_slack_id(channel, &['C', 'G']) {
                    problems.push(Problem::new(file, &format!("{at}.ChatbotChannelId"), format!("`{channel}` is not a Slack channel ID (C or G followed by upper-case letters and digits)")));
                }
            }
            (None, None) => {
                if !s.chatbot_topics.is_empty() {
                    problems.push(Problem::new(file, &format!("{at}.ChatbotTopics"), "ChatbotTopics without ChatbotWorkspaceId and ChatbotChannelId; set both IDs or remove it"));
                }
            }
            _ => problems.push(Problem::new(
                file,
                &at,
                "set both ChatbotWorkspaceId and ChatbotChannelId, or neither",
            )),
        }
        for (i, key) in s.chatbot_topics.iter().enumerate() {
            if !spec.topics.iter().any(|t| &t.key == key) {
                problems.push(Problem::new(
                    file,
                    &format!("{at}.ChatbotTopics[{i}]"),
                    format!("topic `{key}` is not defined in [[Topics]]"),
                ));
            }
        }
    }
    for (i, topic) in spec.topics.iter().enumerate() {
        for (j, sub) in topic.subscriptions.iter().enumerate() {
            if !sub.endpoint.contains(RELAY_URL_PLACEHOLDER) {
                continue;
            }
            for env in KNOWN_ENVIRONMENTS {
                let enabled =
                    sub.environments.is_empty() || sub.environments.iter().any(|e| e == env);
                let set = spec.slack.get(env).is_some_and(|s| s.relay_url.is_some());
                if enabled && !set {
                    problems.push(Problem::new(file, &format!("Topics[{i}].Subscriptions[{j}].Endpoint"), format!("the Slack relay subscription is enabled for `{env}` but its relay URL is not set; add RelayUrl (the relay's HTTPS address) under [Slack.{env}], or leave `{env}` out of this subscription's Environments")));
                }
            }
        }
    }
}
