//! Slack, per environment (`[Slack.<env>]` in `alarms/topics.toml`): the relay's URL that
//! `${RelayUrl}` stands for in a subscription endpoint, and the AWS Chatbot Slack channel
//! configuration (its CreateSlackChannelConfiguration request, rendered here).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::definitions::TopicsDef;
use super::render::{
    name_prefix, topic_arn, ACCOUNT_PLACEHOLDER, MANAGED_TAG_KEY, MANAGED_TAG_VALUE,
};
use super::report::Problem;
use aistudio_core::catalog::KNOWN_ENVIRONMENTS;

/// What a subscription endpoint writes for the environment's relay URL.
pub const RELAY_URL_PLACEHOLDER: &str = "${RelayUrl}";
/// The role Chatbot assumes for a channel (`deploy/iam/chatbot-channel-role.json`).
pub const CHATBOT_ROLE_NAME: &str = "aistudio-chatbot-channel";
/// What the channel's members may do through Chatbot: read CloudWatch, nothing else (an AWS
/// managed policy, so it follows new CloudWatch read actions).
pub const CHATBOT_GUARDRAIL_POLICY: &str = "arn:aws:iam::aws:policy/CloudWatchReadOnlyAccess";
/// The severity whose topics Chatbot receives when `ChatbotTopics` is not given.
const DEFAULT_CHATBOT_SEVERITY: &str = "warning";

/// `[Slack.<env>]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct SlackEnvDef {
    /// The HTTPS URL of `aistudio-sidecar relay` in this environment (`${RelayUrl}`).
    #[serde(default)]
    pub relay_url: Option<String>,
    /// Chatbot: the Slack workspace (team) ID, `T…`, shown by the Chatbot console once the
    /// workspace is authorised.
    #[serde(default)]
    pub chatbot_workspace_id: Option<String>,
    /// Chatbot: the Slack channel ID, `C…` (public) or `G…` (private).
    #[serde(default)]
    pub chatbot_channel_id: Option<String>,
    /// Chatbot: topic keys the channel receives; default: the warning severity's topics.
    #[serde(default)]
    pub chatbot_topics: Vec<String>,
}

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

/// The CreateSlackChannelConfiguration request for `env`, if the environment names a
/// workspace and a channel. ARNs carry [`ACCOUNT_PLACEHOLDER`] until the account is known.
pub fn chatbot_request(spec: &TopicsDef, env: &str, region: &str) -> Option<Value> {
    let s = spec.slack.get(env)?;
    let (team, channel) = (
        s.chatbot_workspace_id.as_ref()?,
        s.chatbot_channel_id.as_ref()?,
    );
    let keys: Vec<&String> = if s.chatbot_topics.is_empty() {
        spec.severities
            .get(DEFAULT_CHATBOT_SEVERITY)
            .map(|k| k.iter().collect())
            .unwrap_or_default()
    } else {
        s.chatbot_topics.iter().collect()
    };
    let prefix = name_prefix(env);
    let topics: Vec<String> = keys
        .iter()
        .map(|k| topic_arn(region, &format!("{prefix}{k}")))
        .collect();
    Some(json!({
        "ConfigurationName": format!("{prefix}slack"),
        "SlackTeamId": team,
        "SlackChannelId": channel,
        "SnsTopicArns": topics,
        "IamRoleArn": format!("arn:aws:iam::{ACCOUNT_PLACEHOLDER}:role/{CHATBOT_ROLE_NAME}"),
        "LoggingLevel": "ERROR",
        "GuardrailPolicyArns": [CHATBOT_GUARDRAIL_POLICY],
        "UserAuthorizationRequired": false,
        "Tags": [{"TagKey": MANAGED_TAG_KEY, "TagValue": MANAGED_TAG_VALUE}],
    }))
}

/// Writes `chatbot/{ConfigurationName}.json` (the CreateSlackChannelConfiguration input) under
/// `out` when `env` names a Chatbot channel; returns the files written (0 or 1).
pub fn write_chatbot_request(
    root: &std::path::Path,
    env: &str,
    region: &str,
    account: Option<&str>,
    out: &std::path::Path,
) -> std::io::Result<usize> {
    let (defs, _) = super::definitions::load(root).map_err(std::io::Error::other)?;
    let Some(request) = defs
        .topics
        .as_ref()
        .and_then(|t| chatbot_request(&t.spec, env, region))
    else {
        return Ok(0);
    };
    let mut text = serde_json::to_string_pretty(&request).map_err(std::io::Error::other)?;
    if let Some(account) = account {
        text = text.replace(ACCOUNT_PLACEHOLDER, account);
    }
    text.push('\n');
    let folder = out.join("chatbot");
    std::fs::create_dir_all(&folder)?;
    std::fs::write(folder.join(format!("{}slack.json", name_prefix(env))), text)?;
    Ok(1)
}
