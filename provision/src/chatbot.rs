//! The AWS Chatbot Slack channel configuration of an environment, made to match its rendered
//! CreateSlackChannelConfiguration request (`chatbot_request` below) through the official
//! `aws-sdk-chatbot`: read by name, then created, updated or left alone.

use std::fmt;

use aistudio_core::aws::{describe, timeout_config, AwsConfig, MAX_SDK_ATTEMPTS};
use aws_config::retry::RetryConfig;
use aws_config::Region;
use serde_json::{json, Value};

use super::definitions::TopicsDef;
use super::render::{
    name_prefix, topic_arn, ACCOUNT_PLACEHOLDER, MANAGED_TAG_KEY, MANAGED_TAG_VALUE,
};
use super::report::{Action, FieldChange};

/// Chatbot's API lives in a few regions only (AWS General Reference, "AWS Chatbot endpoints":
/// us-east-2, us-west-2, eu-west-1, ap-southeast-1); its configurations are global and may
/// subscribe to topics of any region.
pub const CHATBOT_API_REGION: &str = "us-east-2";
/// The role Chatbot assumes for a channel (`deploy/iam/chatbot-channel-role.json`).
pub const CHATBOT_ROLE_NAME: &str = "aistudio-chatbot-channel";
/// What the channel's members may do through Chatbot: read CloudWatch, nothing else (an AWS
/// managed policy, so it follows new CloudWatch read actions).
pub const CHATBOT_GUARDRAIL_POLICY: &str = "arn:aws:iam::aws:policy/CloudWatchReadOnlyAccess";
/// The severity whose topics Chatbot receives when `ChatbotTopics` is not given.
const DEFAULT_CHATBOT_SEVERITY: &str = "warning";
/// DescribeSlackChannelConfigurations pages read at most (100 configurations each, the API
/// maximum); an account with more than 2,000 channel configurations is refused, not hung on.
const MAX_PAGES: usize = 20;
const PAGE_SIZE: i32 = 100;

/// The fields compared between the request and the live configuration.
const COMPARED: [&str; 6] = [
    "SlackTeamId",
    "SlackChannelId",
    "SnsTopicArns",
    "IamRoleArn",
    "LoggingLevel",
    "GuardrailPolicyArns",
];

/// What apply does with the channel configuration.
#[derive(Debug, Clone)]
pub struct ChatbotChange {
    /// `ConfigurationName`.
    pub name: String,
    /// Create, update or no change.
    pub action: Action,
    /// For updates: what differs.
    pub fields: Vec<FieldChange>,
    /// The live configuration's ARN (updates).
    arn: Option<String>,
}

impl fmt::Display for ChatbotChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let action = match self.action {
            Action::Create => "create",
            Action::Update => "update",
            _ => "no change",
        };
        write!(f, "  chatbot-channel {}: {action}", self.name)?;
        for c in &self.fields {
            write!(f, "\n      {}: {} -> {}", c.field, c.before, c.after)?;
        }
        Ok(())
    }
}

/// A Chatbot client with the same timeouts and attempt bound as every provisioning client.
pub async fn client(aws: &AwsConfig) -> aws_sdk_chatbot::Client {
    let mut loader = aistudio_core::aws::sdk_loader()
        .region(Region::new(CHATBOT_API_REGION))
        .timeout_config(timeout_config())
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_SDK_ATTEMPTS));
    if let Some(endpoint) = &aws.endpoint_url {
        loader = loader.endpoint_url(endpoint.clone());
    }
    aws_sdk_chatbot::Client::new(&loader.load().await)
}

fn text<'a>(request: &'a Value, field: &str) -> &'a str {
    request[field].as_str().unwrap_or_default()
}

fn list(request: &Value, field: &str) -> Vec<String> {
    let mut out: Vec<String> = request[field]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Reads the live configuration named like the request and says what apply would do.
pub async fn plan(
    client: &aws_sdk_chatbot::Client,
    request: &Value,
) -> Result<ChatbotChange, String> {
    let name = text(request, "ConfigurationName").to_owned();
    let mut token: Option<String> = None;
    let mut live = None;
    for _ in 0..MAX_PAGES {
        let page = client
            .describe_slack_channel_configurations()
            .max_results(PAGE_SIZE)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| {
                format!(
                    "DescribeSlackChannelConfigurations failed: {}",
                    describe(&e)
                )
            })?;
        live = page
            .slack_channel_configurations()
            .iter()
            .find(|c| c.configuration_name() == Some(name.as_str()))
            .cloned();
        token = page.next_token().map(str::to_owned);
        if live.is_some() || token.is_none() {
            break;
        }
    }
    let Some(live) = live else {
        return Ok(ChatbotChange {
            name,
            action: Action::Create,
            fields: Vec::new(),
            arn: None,
        });
    };
    let mut live_value = serde_json::Map::new();
    live_value.insert("SlackTeamId".into(), live.slack_team_id().into());
    live_value.insert("SlackChannelId".into(), live.slack_channel_id().into());
    live_value.insert("SnsTopicArns".into(), live.sns_topic_arns().to_vec().into());
    live_value.insert("IamRoleArn".into(), live.iam_role_arn().into());
    live_value.insert(
        "LoggingLevel".into(),
        live.logging_level().unwrap_or("NONE").into(),
    );
    live_value.insert(
        "GuardrailPolicyArns".into(),
        live.guardrail_policy_arns().to_vec().into(),
    );
    let live_value = Value::Object(live_value);
    let mut fields = Vec::new();
    for field in COMPARED {
        let (before, after) = if request[field].is_array() {
            (
                Value::from(list(&live_value, field)),
                Value::from(list(request, field)),
            )
        } else {
            (live_value[field].clone(), request[field].clone())
        };
        if before != after {
            fields.push(FieldChange {
                field: field.to_owned(),
                before: before.to_string(),
                after: after.to_string(),
            });
        }
    }
    // The workspace cannot change in place (UpdateSlackChannelConfiguration has no team).
    if fields.iter().any(|f| f.field == "SlackTeamId") {
        return Err(format!("the Chatbot configuration {name} exists for another Slack workspace; delete it in the Chatbot console (or rename it), then apply again"));
    }
    let action = if fields.is_empty() {
        Action::NoChange
    } else {
        Action::Update
    };
    Ok(ChatbotChange {
        name,
        action,
        fields,
        arn: Some(live.chat_configuration_arn().to_owned()),
    })
}

/// Creates or updates the configuration as planned.
pub async fn apply(
    client: &aws_sdk_chatbot::Client,
    request: &Value,
    change: &ChatbotChange,
) -> Result<(), String> {
    let topics = Some(list(request, "SnsTopicArns"));
    let guardrails = Some(list(request, "GuardrailPolicyArns"));
    match (change.action, &change.arn) {
        (Action::Create, _) => {
            let mut call = client
                .create_slack_channel_configuration()
                .configuration_name(&change.name)
                .slack_team_id(text(request, "SlackTeamId"))
                .slack_channel_id(text(request, "SlackChannelId"))
                .set_sns_topic_arns(topics)
                .iam_role_arn(text(request, "IamRoleArn"))
                .logging_level(text(request, "LoggingLevel"))
                .set_guardrail_policy_arns(guardrails)
                .user_authorization_required(false);
            for tag in request["Tags"].as_array().into_iter().flatten() {
                let tag = aws_sdk_chatbot::types::Tag::builder()
                    .tag_key(text(tag, "TagKey"))
                    .tag_value(text(tag, "TagValue"))
                    .build()
                    .map_err(|e| format!("the Chatbot tag is incomplete: {e}"))?;
                call = call.tags(tag);
            }
            call.send()
                .await
                .map(|_| ())
                .map_err(|e| format!("CreateSlackChannelConfiguration failed: {}", describe(&e)))
        }
        (Action::Update, Some(arn)) => client
            .update_slack_channel_configuration()
            .chat_configuration_arn(arn)
            .slack_channel_id(text(request, "SlackChannelId"))
            .set_sns_topic_arns(topics)
            .iam_role_arn(text(request, "IamRoleArn"))
            .logging_level(text(request, "LoggingLevel"))
            .set_guardrail_policy_arns(guardrails)
            .user_authorization_required(false)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("UpdateSlackChannelConfiguration failed: {}", describe(&e))),
        _ => Ok(()),
    }
}

/// Plans (and with `write`, applies) the environment's Chatbot channel configuration; the
/// lines to print, or `None` when the environment names no Chatbot channel. Runs after the
/// topics exist, whose ARNs give the account id the request needs.
pub async fn sync(
    aws: &super::AwsClients,
    config: &AwsConfig,
    dir: &std::path::Path,
    ph: &super::render::Placeholders,
    write: bool,
) -> Result<Option<String>, String> {
    let (defs, _) = super::definitions::load(dir).map_err(|e| e.to_string())?;
    let Some(request) = defs
        .topics
        .as_ref()
        .and_then(|t| chatbot_request(&t.spec, &ph.environment, &ph.region))
    else {
        return Ok(None);
    };
    let desired = super::load_rendered(dir, ph).map_err(|e| e.to_string())?;
    let live = super::live::read(aws, &desired)
        .await
        .map_err(|e| e.to_string())?;
    let Some(account) = live.account else {
        let name = text(&request, "ConfigurationName");
        return match write {
            true => Err(format!("cannot create the Chatbot configuration {name}: the account id is unknown because no managed topic exists; run apply again once the topics are created")),
            false => Ok(Some(format!("  chatbot-channel {name}: create (after the topics)"))),
        };
    };
    let request: Value =
        serde_json::from_str(&request.to_string().replace(ACCOUNT_PLACEHOLDER, &account))
            .map_err(|e| e.to_string())?;
    let client = client(config).await;
    let change = plan(&client, &request).await?;
    if write {
        apply(&client, &request, &change).await?;
    }
    Ok(Some(change.to_string()))
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
