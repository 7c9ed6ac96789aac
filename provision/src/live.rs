//! Reading the live state of an environment: GetDashboard, DescribeAlarms (with each alarm's
//! tags), ListTopics, GetTopicAttributes and ListSubscriptionsByTopic. Reads only.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudwatch::types::{AlarmType, MetricAlarm};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use serde_json::Value;

use super::definitions::{DimensionDef, MetricDef, MetricQueryDef, MetricStatDef};
use super::render::{
    name_prefix, AlarmSpec, Rendered, TagSpec, MANAGED_TAG_KEY, MANAGED_TAG_VALUE,
};
use super::ProvisionError;
use aistudio_core::aws::errors::describe;
use aistudio_core::aws::AwsClients;

/// What CloudWatch and SNS hold for an environment (resources with its name prefix, plus
/// the defined topics whatever their name).
#[derive(Debug, Clone, Default)]
pub struct LiveState {
    /// The AWS account id, when any ARN revealed it.
    pub account: Option<String>,
    /// Dashboard name → body.
    pub dashboards: BTreeMap<String, Value>,
    /// Alarm name → alarm.
    pub alarms: BTreeMap<String, LiveAlarm>,
    /// Topic name → topic.
    pub topics: BTreeMap<String, LiveTopic>,
    /// Defined log group name → its retention in days (`None`: kept forever); absent when the
    /// group does not exist.
    pub log_groups: BTreeMap<String, Option<i32>>,
}

/// A live alarm.
#[derive(Debug, Clone)]
pub struct LiveAlarm {
    /// The ARN.
    pub arn: String,
    /// Its configuration, as a PutMetricAlarm payload (with its tags).
    pub spec: AlarmSpec,
}

/// A live SNS topic.
#[derive(Debug, Clone)]
pub struct LiveTopic {
    /// The ARN.
    pub arn: String,
    /// DisplayName attribute.
    pub display_name: Option<String>,
    /// Policy attribute, parsed.
    pub policy: Option<Value>,
    /// Tags.
    pub tags: Vec<TagSpec>,
    /// Subscriptions.
    pub subscriptions: Vec<LiveSubscription>,
}

/// A live SNS subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSubscription {
    /// The ARN, or `PendingConfirmation` while an e-mail address has not confirmed.
    pub arn: String,
    /// Protocol.
    pub protocol: String,
    /// Endpoint.
    pub endpoint: String,
}

/// Whether the tags carry our marker.
pub fn is_managed(tags: &[TagSpec]) -> bool {
    tags.iter()
        .any(|t| t.key == MANAGED_TAG_KEY && t.value == MANAGED_TAG_VALUE)
}

fn read_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    operation: &'static str,
    resource: &str,
    err: SdkError<E, HttpResponse>,
) -> ProvisionError {
    ProvisionError::Read {
        operation,
        resource: resource.to_owned(),
        message: describe(&err),
    }
}

/// The account id in an ARN (`arn:aws:service:region:ACCOUNT:...`).
pub fn account_of(arn: &str) -> Option<String> {
    arn.split(':')
        .nth(4)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
}

/// Reads everything of `desired.env` that plan and apply compare.
pub async fn read(aws: &AwsClients, desired: &Rendered) -> Result<LiveState, ProvisionError> {
    let prefix = name_prefix(&desired.env);
    let mut live = LiveState::default();
    read_dashboards(aws, &prefix, &mut live).await?;
    read_alarms(aws, &prefix, &mut live).await?;
    read_topics(aws, &prefix, desired, &mut live).await?;
    read_log_groups(aws, desired, &mut live).await?;
    Ok(live)
}

/// The defined log groups that exist, with their retention. Only defined names are read:
/// provisioning never deletes a log group (its events are data, not configuration).
async fn read_log_groups(
    aws: &AwsClients,
    desired: &Rendered,
    live: &mut LiveState,
) -> Result<(), ProvisionError> {
    for group in &desired.log_groups {
        let name = &group.log_group_name;
        let mut pages = aws
            .logs
            .describe_log_groups()
            .log_group_name_prefix(name)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| read_error("DescribeLogGroups", name, e))?;
            if let Some(found) = page
                .log_groups()
                .iter()
                .find(|g| g.log_group_name() == Some(name.as_str()))
            {
                live.log_groups
                    .insert(name.clone(), found.retention_in_days());
                break;
            }
        }
    }
    Ok(())
}

async fn read_dashboards(
    aws: &AwsClients,
    prefix: &str,
    live: &mut LiveState,
) -> Result<(), ProvisionError> {
    let mut token = None;
    let mut names = Vec::new();
    loop {
        let page = aws
            .cloudwatch
            .list_dashboards()
            .dashboard_name_prefix(prefix)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| read_error("ListDashboards", prefix, e))?;
        for entry in page.dashboard_entries() {
            if let Some(name) = entry.dashboard_name() {
                names.push(name.to_owned());
            }
            if live.account.is_none() {
                live.account = entry.dashboard_arn().and_then(account_of);
            }
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    for name in names {
        let out = aws
            .cloudwatch
            .get_dashboard()
            .dashboard_name(&name)
            .send()
            .await
            .map_err(|e| read_error("GetDashboard", &name, e))?;
        let body = out
            .dashboard_body()
            .and_then(|b| serde_json::from_str(b).ok())
            .unwrap_or(Value::Null);
        live.dashboards.insert(name, body);
    }
    Ok(())
}

async fn read_alarms(
    aws: &AwsClients,
    prefix: &str,
    live: &mut LiveState,
) -> Result<(), ProvisionError> {
    let mut token = None;
    let mut alarms = Vec::new();
    loop {
        let page = aws
            .cloudwatch
            .describe_alarms()
            .alarm_name_prefix(prefix)
            .alarm_types(AlarmType::MetricAlarm)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| read_error("DescribeAlarms", prefix, e))?;
        alarms.extend(page.metric_alarms().iter().cloned());
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    for alarm in alarms {
        let arn = alarm.alarm_arn().unwrap_or_default().to_owned();
        if live.account.is_none() {
            live.account = account_of(&arn);
        }
        let tags = aws
            .cloudwatch
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .map_err(|e| read_error("ListTagsForResource", &arn, e))?
            .tags()
            .iter()
            .map(|t| TagSpec {
                key: t.key().unwrap_or_default().to_owned(),
                value: t.value().unwrap_or_default().to_owned(),
            })
            .collect();
        let mut spec = alarm_spec_of(&alarm);
        spec.tags = tags;
        live.alarms
            .insert(spec.alarm_name.clone(), LiveAlarm { arn, spec });
    }
    Ok(())
}

fn dims(list: &[aws_sdk_cloudwatch::types::Dimension]) -> Vec<DimensionDef> {
    list.iter()
        .map(|d| DimensionDef {
            name: d.name().unwrap_or_default().to_owned(),
            value: d.value().unwrap_or_default().to_owned(),
        })
        .collect()
}

/// A described alarm as the PutMetricAlarm payload that would recreate it.
pub fn alarm_spec_of(alarm: &MetricAlarm) -> AlarmSpec {
    let text = |s: Option<&str>| s.map(str::to_owned);
    AlarmSpec {
        alarm_name: alarm.alarm_name().unwrap_or_default().to_owned(),
        alarm_description: text(alarm.alarm_description()),
        actions_enabled: alarm.actions_enabled().unwrap_or(true),
        ok_actions: alarm.ok_actions().to_vec(),
        alarm_actions: alarm.alarm_actions().to_vec(),
        insufficient_data_actions: alarm.insufficient_data_actions().to_vec(),
        metric_name: text(alarm.metric_name()),
        namespace: text(alarm.namespace()),
        statistic: alarm.statistic().map(|s| s.as_str().to_owned()),
        extended_statistic: text(alarm.extended_statistic()),
        dimensions: dims(alarm.dimensions()),
        period: alarm.period(),
        unit: alarm.unit().map(|u| u.as_str().to_owned()),
        evaluation_periods: alarm.evaluation_periods().unwrap_or_default(),
        datapoints_to_alarm: alarm.datapoints_to_alarm(),
        threshold: alarm.threshold().unwrap_or_default(),
        comparison_operator: alarm
            .comparison_operator()
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default(),
        treat_missing_data: text(alarm.treat_missing_data()),
        evaluate_low_sample_count_percentile: text(alarm.evaluate_low_sample_count_percentile()),
        metrics: alarm
            .metrics()
            .iter()
            .map(|q| MetricQueryDef {
                id: q.id().unwrap_or_default().to_owned(),
                expression: text(q.expression()),
                metric_stat: q.metric_stat().map(|ms| MetricStatDef {
                    metric: MetricDef {
                        namespace: ms
                            .metric()
                            .and_then(|m| m.namespace())
                            .unwrap_or_default()
                            .to_owned(),
                        metric_name: ms
                            .metric()
                            .and_then(|m| m.metric_name())
                            .unwrap_or_default()
                            .to_owned(),
                        dimensions: ms
                            .metric()
                            .map(|m| dims(m.dimensions()))
                            .unwrap_or_default(),
                    },
                    period: ms.period().unwrap_or_default(),
                    stat: ms.stat().unwrap_or_default().to_owned(),
                    unit: ms.unit().map(|u| u.as_str().to_owned()),
                }),
                label: text(q.label()),
                return_data: q.return_data(),
                period: q.period(),
            })
            .collect(),
        tags: Vec::new(),
    }
}

async fn read_topics(
    aws: &AwsClients,
    prefix: &str,
    desired: &Rendered,
    live: &mut LiveState,
) -> Result<(), ProvisionError> {
    let mut token = None;
    let mut arns = Vec::new();
    loop {
        let page = aws
            .sns
            .list_topics()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| read_error("ListTopics", prefix, e))?;
        for topic in page.topics() {
            let Some(arn) = topic.topic_arn() else {
                continue;
            };
            let name = arn.rsplit(':').next().unwrap_or_default();
            if name.starts_with(prefix) || desired.topics.iter().any(|t| t.name == name) {
                arns.push((name.to_owned(), arn.to_owned()));
            }
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    for (name, arn) in arns {
        if live.account.is_none() {
            live.account = account_of(&arn);
        }
        let attrs = aws
            .sns
            .get_topic_attributes()
            .topic_arn(&arn)
            .send()
            .await
            .map_err(|e| read_error("GetTopicAttributes", &arn, e))?;
        let attr = |key: &str| {
            attrs
                .attributes()
                .and_then(|a| a.get(key))
                .filter(|v| !v.is_empty())
                .cloned()
        };
        let tags = aws
            .sns
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .map_err(|e| read_error("ListTagsForResource", &arn, e))?
            .tags()
            .iter()
            .map(|t| TagSpec {
                key: t.key().to_owned(),
                value: t.value().to_owned(),
            })
            .collect();
        let mut subscriptions = Vec::new();
        let mut sub_token = None;
        loop {
            let page = aws
                .sns
                .list_subscriptions_by_topic()
                .topic_arn(&arn)
                .set_next_token(sub_token)
                .send()
                .await
                .map_err(|e| read_error("ListSubscriptionsByTopic", &arn, e))?;
            subscriptions.extend(page.subscriptions().iter().map(|s| LiveSubscription {
                arn: s.subscription_arn().unwrap_or_default().to_owned(),
                protocol: s.protocol().unwrap_or_default().to_owned(),
                endpoint: s.endpoint().unwrap_or_default().to_owned(),
            }));
            sub_token = page.next_token().map(str::to_owned);
            if sub_token.is_none() {
                break;
            }
        }
        live.topics.insert(
            name,
            LiveTopic {
                display_name: attr("DisplayName"),
                policy: attr("Policy").and_then(|p| serde_json::from_str(&p).ok()),
                arn,
                tags,
                subscriptions,
            },
        );
    }
    Ok(())
}
