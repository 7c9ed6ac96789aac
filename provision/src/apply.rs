//! Performing the plan: topics and subscriptions first (alarms point at them), then dashboards
//! and alarms, then the deletions `--prune` asked for. Every write is attempted; failures are
//! collected in the report, and a re-run picks up from whatever is still different.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, Metric, MetricDataQuery, MetricStat, StandardUnit, Statistic,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use super::definitions::DimensionDef;
use super::live::{self, account_of, LiveState};
use super::plan::{self, sub_name, PENDING_CONFIRMATION, TAGS_FIELD};
use super::render::{
    AlarmSpec, LogGroupSpec, Rendered, TopicSpec, MANAGED_TAG_KEY, MANAGED_TAG_VALUE,
};
use super::report::{Action, ApplyReport, Kind, Outcome};
use super::ProvisionError;
use aistudio_core::aws::errors::describe;
use aistudio_core::aws::AwsClients;

fn message<E: ProvideErrorMetadata + std::error::Error + 'static>(
    operation: &str,
    err: SdkError<E, HttpResponse>,
) -> String {
    format!("{operation} failed: {}", describe(&err))
}

/// Makes the live state match `desired`; only errors reading the live state stop it early.
pub async fn apply(
    aws: &AwsClients,
    desired: &Rendered,
    prune: bool,
) -> Result<ApplyReport, ProvisionError> {
    let live = live::read(aws, desired).await?;
    let mut report = ApplyReport::default();
    let mut account = live.account.clone();
    let mut topic_arns: BTreeMap<String, String> = live
        .topics
        .iter()
        .map(|(n, t)| (n.clone(), t.arn.clone()))
        .collect();

    // Phase 1: topics and their subscriptions.
    let first = plan::diff(desired, &live, prune);
    for topic in &desired.topics {
        let Some(change) = first.find(Kind::Topic, &topic.name) else {
            continue;
        };
        let outcome = match change.action {
            Action::Create => create_topic(aws, topic, &mut account).await.map(|arn| {
                topic_arns.insert(topic.name.clone(), arn);
            }),
            Action::Update => {
                let fields: Vec<&str> = change.fields.iter().map(|f| f.field.as_str()).collect();
                let arn = topic_arns.get(&topic.name).cloned().unwrap_or_default();
                update_topic(aws, topic, &arn, account.as_deref(), &fields).await
            }
            _ => continue,
        };
        report.outcomes.push(Outcome {
            kind: Kind::Topic,
            name: topic.name.clone(),
            action: change.action,
            error: outcome.err(),
        });
    }
    for topic in &desired.topics {
        let arn = topic_arns.get(&topic.name);
        for s in &topic.subscriptions {
            let name = sub_name(&topic.name, &s.protocol, &s.endpoint);
            if first.find(Kind::Subscription, &name).map(|c| c.action) != Some(Action::Create) {
                continue;
            }
            let Some(arn) = arn else {
                report.outcomes.push(Outcome {
                    kind: Kind::Subscription,
                    name,
                    action: Action::Create,
                    error: Some("skipped: its topic could not be created (see above)".to_owned()),
                });
                continue;
            };
            let result = aws
                .sns
                .subscribe()
                .topic_arn(arn)
                .protocol(&s.protocol)
                .endpoint(&s.endpoint)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| message("Subscribe", e));
            report.outcomes.push(Outcome {
                kind: Kind::Subscription,
                name,
                action: Action::Create,
                error: result.err(),
            });
        }
    }

    // Phase 2: with the account known, dashboards and alarms.
    let resolved = match &account {
        Some(a) => desired.with_account(a),
        None => desired.clone(),
    };
    let second = plan::diff(
        &resolved,
        &LiveState {
            account: account.clone(),
            ..live.clone()
        },
        prune,
    );
    for d in &resolved.dashboards {
        let Some(change) = second.find(Kind::Dashboard, &d.dashboard_name) else {
            continue;
        };
        if !matches!(change.action, Action::Create | Action::Update) {
            continue;
        }
        let result = aws
            .cloudwatch
            .put_dashboard()
            .dashboard_name(&d.dashboard_name)
            .dashboard_body(d.dashboard_body.to_string())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| message("PutDashboard", e));
        report.outcomes.push(Outcome {
            kind: Kind::Dashboard,
            name: d.dashboard_name.clone(),
            action: change.action,
            error: result.err(),
        });
    }
    for a in &resolved.alarms {
        let Some(change) = second.find(Kind::Alarm, &a.alarm_name) else {
            continue;
        };
        let result = match change.action {
            Action::Create => put_alarm(aws, a).await,
            Action::Update => {
                let tags_only = change.fields.iter().all(|f| f.field == TAGS_FIELD);
                let mut result = if tags_only {
                    Ok(())
                } else {
                    put_alarm(aws, a).await
                };
                if result.is_ok() && change.fields.iter().any(|f| f.field == TAGS_FIELD) {
                    let arn = live
                        .alarms
                        .get(&a.alarm_name)
                        .map(|l| l.arn.clone())
                        .unwrap_or_default();
                    result = tag_alarm(aws, &arn).await;
                }
                result
            }
            _ => continue,
        };
        report.outcomes.push(Outcome {
            kind: Kind::Alarm,
            name: a.alarm_name.clone(),
            action: change.action,
            error: result.err(),
        });
    }

    // Log groups: created when missing, their retention set; never deleted.
    for g in &desired.log_groups {
        let Some(change) = second.find(Kind::LogGroup, &g.log_group_name) else {
            continue;
        };
        if !matches!(change.action, Action::Create | Action::Update) {
            continue;
        }
        let result = put_log_group(aws, g, change.action == Action::Create).await;
        report.outcomes.push(Outcome {
            kind: Kind::LogGroup,
            name: g.log_group_name.clone(),
            action: change.action,
            error: result.err(),
        });
    }

    // Phase 3: deletions (only with --prune), alarms before the topics they point at.
    for change in second.changes.iter().filter(|c| c.action == Action::Delete) {
        let result = match change.kind {
            Kind::Alarm => aws
                .cloudwatch
                .delete_alarms()
                .alarm_names(&change.name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| message("DeleteAlarms", e)),
            Kind::Dashboard => aws
                .cloudwatch
                .delete_dashboards()
                .dashboard_names(&change.name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| message("DeleteDashboards", e)),
            Kind::Subscription => match subscription_arn(&live, &change.name) {
                Some(arn) => aws
                    .sns
                    .unsubscribe()
                    .subscription_arn(arn)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| message("Unsubscribe", e)),
                None => Err(
                    "the subscription disappeared before it could be removed; run apply again"
                        .to_owned(),
                ),
            },
            Kind::LogGroup => Err("log groups are never deleted by provisioning".to_owned()),
            Kind::Topic => match live.topics.get(&change.name) {
                Some(t) => aws
                    .sns
                    .delete_topic()
                    .topic_arn(&t.arn)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| message("DeleteTopic", e)),
                None => Ok(()),
            },
        };
        report.outcomes.push(Outcome {
            kind: change.kind,
            name: change.name.clone(),
            action: Action::Delete,
            error: result.err(),
        });
    }
    report.unchanged = second.count(Action::NoChange);
    report.orphaned = second.count(Action::Orphan);
    Ok(report)
}

/// CreateLogGroup (when `create`; a group made meanwhile by the sidecar is fine) and
/// PutRetentionPolicy.
async fn put_log_group(aws: &AwsClients, g: &LogGroupSpec, create: bool) -> Result<(), String> {
    if create {
        let created = aws
            .logs
            .create_log_group()
            .log_group_name(&g.log_group_name)
            .send()
            .await;
        if let Err(err) = created {
            let exists = err
                .as_service_error()
                .is_some_and(|e| e.is_resource_already_exists_exception());
            if !exists {
                return Err(message("CreateLogGroup", err));
            }
        }
    }
    aws.logs
        .put_retention_policy()
        .log_group_name(&g.log_group_name)
        .retention_in_days(g.retention_in_days)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| message("PutRetentionPolicy", e))
}

fn subscription_arn(live: &LiveState, name: &str) -> Option<String> {
    live.topics.iter().find_map(|(topic, t)| {
        t.subscriptions
            .iter()
            .find(|s| {
                s.arn != PENDING_CONFIRMATION && sub_name(topic, &s.protocol, &s.endpoint) == name
            })
            .map(|s| s.arn.clone())
    })
}

async fn create_topic(
    aws: &AwsClients,
    topic: &TopicSpec,
    account: &mut Option<String>,
) -> Result<String, String> {
    let tags = topic
        .tags
        .iter()
        .map(|t| {
            aws_sdk_sns::types::Tag::builder()
                .key(&t.key)
                .value(&t.value)
                .build()
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot build the topic tags: {e}"))?;
    let mut request = aws
        .sns
        .create_topic()
        .name(&topic.name)
        .set_tags(Some(tags));
    if let Some(display) = &topic.display_name {
        request = request.attributes("DisplayName", display);
    }
    let out = request
        .send()
        .await
        .map_err(|e| message("CreateTopic", e))?;
    let arn = out.topic_arn().unwrap_or_default().to_owned();
    if account.is_none() {
        *account = account_of(&arn);
    }
    // The policy names the topic ARN and the account, known only now.
    let policy = match account {
        Some(a) => super::render::Rendered::policy_for(topic, a),
        None => topic.policy.clone(),
    };
    set_attribute(aws, &arn, "Policy", &policy.to_string()).await?;
    Ok(arn)
}

async fn update_topic(
    aws: &AwsClients,
    topic: &TopicSpec,
    arn: &str,
    account: Option<&str>,
    fields: &[&str],
) -> Result<(), String> {
    if fields.contains(&"DisplayName") {
        set_attribute(
            aws,
            arn,
            "DisplayName",
            topic.display_name.as_deref().unwrap_or_default(),
        )
        .await?;
    }
    if fields.contains(&"Policy") {
        let policy = match account {
            Some(a) => super::render::Rendered::policy_for(topic, a),
            None => topic.policy.clone(),
        };
        set_attribute(aws, arn, "Policy", &policy.to_string()).await?;
    }
    if fields.contains(&TAGS_FIELD) {
        let tag = aws_sdk_sns::types::Tag::builder()
            .key(MANAGED_TAG_KEY)
            .value(MANAGED_TAG_VALUE)
            .build()
            .map_err(|e| format!("cannot build the marker tag: {e}"))?;
        aws.sns
            .tag_resource()
            .resource_arn(arn)
            .tags(tag)
            .send()
            .await
            .map_err(|e| message("TagResource", e))?;
    }
    Ok(())
}

async fn set_attribute(aws: &AwsClients, arn: &str, name: &str, value: &str) -> Result<(), String> {
    aws.sns
        .set_topic_attributes()
        .topic_arn(arn)
        .attribute_name(name)
        .attribute_value(value)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| message("SetTopicAttributes", e))
}

async fn tag_alarm(aws: &AwsClients, arn: &str) -> Result<(), String> {
    let tag = aws_sdk_cloudwatch::types::Tag::builder()
        .key(MANAGED_TAG_KEY)
        .value(MANAGED_TAG_VALUE)
        .build();
    aws.cloudwatch
        .tag_resource()
        .resource_arn(arn)
        .tags(tag)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| message("TagResource", e))
}

fn dimensions(list: &[DimensionDef]) -> Option<Vec<Dimension>> {
    Some(
        list.iter()
            .map(|d| Dimension::builder().name(&d.name).value(&d.value).build())
            .collect(),
    )
}

async fn put_alarm(aws: &AwsClients, a: &AlarmSpec) -> Result<(), String> {
    let metrics: Vec<MetricDataQuery> = a
        .metrics
        .iter()
        .map(|q| {
            MetricDataQuery::builder()
                .id(&q.id)
                .set_expression(q.expression.clone())
                .set_label(q.label.clone())
                .set_return_data(q.return_data)
                .set_period(q.period)
                .set_metric_stat(q.metric_stat.as_ref().map(|ms| {
                    MetricStat::builder()
                        .metric(
                            Metric::builder()
                                .namespace(&ms.metric.namespace)
                                .metric_name(&ms.metric.metric_name)
                                .set_dimensions(dimensions(&ms.metric.dimensions))
                                .build(),
                        )
                        .period(ms.period)
                        .stat(&ms.stat)
                        .set_unit(ms.unit.as_deref().map(StandardUnit::from))
                        .build()
                }))
                .build()
        })
        .collect();
    let tags = a
        .tags
        .iter()
        .map(|t| {
            aws_sdk_cloudwatch::types::Tag::builder()
                .key(&t.key)
                .value(&t.value)
                .build()
        })
        .collect();
    aws.cloudwatch
        .put_metric_alarm()
        .alarm_name(&a.alarm_name)
        .set_alarm_description(a.alarm_description.clone())
        .actions_enabled(a.actions_enabled)
        .set_ok_actions(Some(a.ok_actions.clone()))
        .set_alarm_actions(Some(a.alarm_actions.clone()))
        .set_insufficient_data_actions(Some(a.insufficient_data_actions.clone()))
        .set_metric_name(a.metric_name.clone())
        .set_namespace(a.namespace.clone())
        .set_statistic(a.statistic.as_deref().map(Statistic::from))
        .set_extended_statistic(a.extended_statistic.clone())
        .set_dimensions(if a.dimensions.is_empty() {
            None
        } else {
            dimensions(&a.dimensions)
        })
        .set_period(a.period)
        .set_unit(a.unit.as_deref().map(StandardUnit::from))
        .evaluation_periods(a.evaluation_periods)
        .set_datapoints_to_alarm(a.datapoints_to_alarm)
        .threshold(a.threshold)
        .comparison_operator(ComparisonOperator::from(a.comparison_operator.as_str()))
        .set_treat_missing_data(a.treat_missing_data.clone())
        .set_evaluate_low_sample_count_percentile(a.evaluate_low_sample_count_percentile.clone())
        .set_metrics(if metrics.is_empty() {
            None
        } else {
            Some(metrics)
        })
        .set_tags(Some(tags))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| message("PutMetricAlarm", e))
}
