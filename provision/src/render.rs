//! Rendering the definitions for one environment into the exact API payloads: PutDashboard,
//! PutMetricAlarm, CreateTopic + SetTopicAttributes + Subscribe, CreateLogGroup +
//! PutRetentionPolicy.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{json, Value};

use super::definitions::{
    AlarmDef, Definitions, DimensionDef, MetricDef, MetricQueryDef, MetricStatDef, TopicDef,
};
use super::report::Problem;

pub use super::payload::{
    AlarmSpec, DashboardSpec, LogGroupSpec, Rendered, SubscriptionSpec, TagSpec, TopicSpec,
};
pub use super::placeholders::{Placeholders, ACCOUNT_PLACEHOLDER, PLACEHOLDER_NAMES};
use aistudio_core::limits::VALID_RETENTION_DAYS;

/// Tag key marking resources this tool manages (alarms and topics; dashboards cannot carry
/// tags through PutDashboard, their marker is the name prefix).
pub const MANAGED_TAG_KEY: &str = "aistudio:managed-by";
/// Value of [`MANAGED_TAG_KEY`].
pub const MANAGED_TAG_VALUE: &str = "aistudio-sidecar";

/// The name prefix of every managed resource of an environment.
pub fn name_prefix(env: &str) -> String {
    format!("aistudio-{env}-")
}

fn managed_tags() -> Vec<TagSpec> {
    vec![TagSpec {
        key: MANAGED_TAG_KEY.to_owned(),
        value: MANAGED_TAG_VALUE.to_owned(),
    }]
}

/// The ARN of a topic of ours; the account stays a placeholder until known.
pub fn topic_arn(region: &str, name: &str) -> String {
    format!("arn:aws:sns:{region}:{ACCOUNT_PLACEHOLDER}:{name}")
}

/// Renders every definition for the environment of `ph`. Placeholder errors are problems.
pub fn render(defs: &Definitions, ph: &Placeholders) -> Result<Rendered, Vec<Problem>> {
    let env = ph.environment.as_str();
    let prefix = name_prefix(env);
    let mut problems = Vec::new();
    let mut dashboards = Vec::new();
    for file in &defs.dashboards {
        let mut body = file.body.clone();
        substitute_value(&mut body, ph, &file.path, "", &mut problems);
        dashboards.push(DashboardSpec {
            dashboard_name: format!("{prefix}{}", file.stem),
            dashboard_body: body,
        });
    }
    let topics_def = defs.topics.as_ref().map(|t| &t.spec);
    let mut alarms = Vec::new();
    for file in &defs.alarms {
        let mut sub = |path: &str, text: &str| -> String {
            ph.substitute(text).unwrap_or_else(|message| {
                problems.push(Problem::new(&file.path, path, message));
                text.to_owned()
            })
        };
        let spec = render_alarm(&file.alarm, env, &ph.region, topics_def, &mut sub);
        alarms.push(spec);
    }
    let mut topics = Vec::new();
    if let Some(file) = &defs.topics {
        for (i, topic) in file.spec.topics.iter().enumerate() {
            let mut sub = |path: &str, text: &str| -> String {
                // slack: `${RelayUrl}` is the environment's relay URL from `[Slack.<env>]`.
                let text = &super::slack::resolve_endpoint(text, &file.spec, env);
                ph.substitute(text).unwrap_or_else(|message| {
                    problems.push(Problem::new(
                        &file.path,
                        &format!("Topics[{i}].{path}"),
                        message,
                    ));
                    text.to_owned()
                })
            };
            topics.push(render_topic(topic, env, &ph.region, &mut sub));
        }
    }
    if !VALID_RETENTION_DAYS.contains(&ph.sidecar_log_retention_days) {
        problems.push(Problem::new(
            "(command line)",
            "sidecar-log-retention-days",
            format!(
                "{} days is not a retention CloudWatch Logs accepts; use one of {VALID_RETENTION_DAYS:?}",
                ph.sidecar_log_retention_days
            ),
        ));
    }
    let log_groups = vec![LogGroupSpec {
        log_group_name: ph.sidecar_log_group_name.clone(),
        retention_in_days: ph.sidecar_log_retention_days,
    }];
    if problems.is_empty() {
        Ok(Rendered {
            env: env.to_owned(),
            region: ph.region.clone(),
            dashboards,
            alarms,
            topics,
            log_groups,
        })
    } else {
        Err(problems)
    }
}

/// The effective definition of an alarm in `env`: the base values with the environment's
/// overrides applied.
pub fn effective_alarm(def: &AlarmDef, env: &str) -> AlarmDef {
    let mut out = def.clone();
    if let Some(o) = def.environments.get(env) {
        if let Some(v) = o.threshold {
            out.threshold = v;
        }
        if let Some(v) = o.period {
            out.period = Some(v);
        }
        if let Some(v) = o.evaluation_periods {
            out.evaluation_periods = v;
        }
        if let Some(v) = o.datapoints_to_alarm {
            out.datapoints_to_alarm = Some(v);
        }
        if let Some(v) = &o.treat_missing_data {
            out.treat_missing_data = Some(v.clone());
        }
        if let Some(v) = o.actions_enabled {
            out.actions_enabled = Some(v);
        }
    }
    out
}

/// Resolves an action entry: a full ARN stays, a topic key becomes our topic's ARN.
pub fn action_arn(entry: &str, env: &str, region: &str) -> String {
    if entry.starts_with("arn:") {
        entry.to_owned()
    } else {
        topic_arn(region, &format!("{}{entry}", name_prefix(env)))
    }
}

fn render_alarm(
    def: &AlarmDef,
    env: &str,
    region: &str,
    topics: Option<&super::definitions::TopicsDef>,
    sub: &mut dyn FnMut(&str, &str) -> String,
) -> AlarmSpec {
    let def = effective_alarm(def, env);
    let severity_topics: Vec<String> = topics
        .and_then(|t| t.severities.get(&def.severity))
        .cloned()
        .unwrap_or_default();
    let actions = |extra: &[String], with_severity: bool| -> Vec<String> {
        let mut set = BTreeSet::new();
        if with_severity {
            set.extend(severity_topics.iter().map(|k| action_arn(k, env, region)));
        }
        set.extend(extra.iter().map(|k| action_arn(k, env, region)));
        set.into_iter().collect()
    };
    let description = match &def.runbook {
        Some(runbook) => format!(
            "{} First check: {}",
            def.alarm_description.trim(),
            runbook.trim()
        ),
        None => def.alarm_description.trim().to_owned(),
    };
    let dims = |dims: &[DimensionDef], path: &str, sub: &mut dyn FnMut(&str, &str) -> String| {
        dims.iter()
            .enumerate()
            .map(|(i, d)| DimensionDef {
                name: d.name.clone(),
                value: sub(&format!("{path}[{i}].Value"), &d.value),
            })
            .collect::<Vec<_>>()
    };
    let metrics = def
        .metrics
        .iter()
        .enumerate()
        .map(|(i, q)| MetricQueryDef {
            metric_stat: q.metric_stat.as_ref().map(|ms| MetricStatDef {
                metric: MetricDef {
                    dimensions: dims(
                        &ms.metric.dimensions,
                        &format!("Metrics[{i}].MetricStat.Metric.Dimensions"),
                        sub,
                    ),
                    ..ms.metric.clone()
                },
                ..ms.clone()
            }),
            ..q.clone()
        })
        .collect();
    AlarmSpec {
        alarm_name: format!("{}{}", name_prefix(env), def.alarm_name),
        alarm_description: Some(sub("AlarmDescription", &description)),
        actions_enabled: def.actions_enabled.unwrap_or(true),
        ok_actions: actions(&def.ok_actions, def.notify_on_recovery),
        alarm_actions: actions(&def.alarm_actions, true),
        insufficient_data_actions: actions(&def.insufficient_data_actions, false),
        metric_name: def.metric_name.clone(),
        namespace: def.namespace.clone(),
        statistic: def.statistic.clone(),
        extended_statistic: def.extended_statistic.clone(),
        dimensions: dims(&def.dimensions, "Dimensions", sub),
        period: def.period,
        unit: def.unit.clone(),
        evaluation_periods: def.evaluation_periods,
        datapoints_to_alarm: def.datapoints_to_alarm,
        threshold: def.threshold,
        comparison_operator: def.comparison_operator.clone(),
        treat_missing_data: def.treat_missing_data.clone(),
        evaluate_low_sample_count_percentile: def.evaluate_low_sample_count_percentile.clone(),
        metrics,
        tags: managed_tags(),
    }
}

fn render_topic(
    def: &TopicDef,
    env: &str,
    region: &str,
    sub: &mut dyn FnMut(&str, &str) -> String,
) -> TopicSpec {
    let name = format!("{}{}", name_prefix(env), def.key);
    let arn = topic_arn(region, &name);
    let mut subscriptions: Vec<SubscriptionSpec> = def
        .subscriptions
        .iter()
        .enumerate()
        .filter(|(_, s)| s.environments.is_empty() || s.environments.iter().any(|e| e == env))
        .map(|(i, s)| SubscriptionSpec {
            protocol: s.protocol.clone(),
            endpoint: sub(&format!("Subscriptions[{i}].Endpoint"), &s.endpoint),
        })
        .collect();
    subscriptions.sort();
    subscriptions.dedup();
    TopicSpec {
        policy: topic_policy(&arn, region),
        display_name: def.display_name.as_ref().map(|d| sub("DisplayName", d)),
        name,
        topic_arn: arn,
        tags: managed_tags(),
        subscriptions,
    }
}

/// The topic policy: the account keeps SNS's default owner rights, and CloudWatch alarms of
/// this account and region may publish (AWS docs, "Amazon SNS topic policy for CloudWatch
/// alarms").
pub fn topic_policy(topic_arn: &str, region: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountOwnerManagesTopic",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": [
                    "SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission",
                    "SNS:RemovePermission", "SNS:DeleteTopic", "SNS:Subscribe",
                    "SNS:ListSubscriptionsByTopic", "SNS:Publish"
                ],
                "Resource": topic_arn,
                "Condition": {"StringEquals": {"AWS:SourceOwner": ACCOUNT_PLACEHOLDER}}
            },
            {
                "Sid": "CloudWatchAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {
                    "ArnLike": {"aws:SourceArn":
                        format!("arn:aws:cloudwatch:{region}:{ACCOUNT_PLACEHOLDER}:alarm:*")},
                    "StringEquals": {"aws:SourceAccount": ACCOUNT_PLACEHOLDER}
                }
            }
        ]
    })
}

fn substitute_value(
    value: &mut Value,
    ph: &Placeholders,
    file: &str,
    path: &str,
    problems: &mut Vec<Problem>,
) {
    match value {
        Value::String(s) => match ph.substitute(s) {
            Ok(new) => *s = new,
            Err(message) => problems.push(Problem::new(file, path, message)),
        },
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                substitute_value(item, ph, file, &format!("{path}[{i}]"), problems);
            }
        }
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                substitute_value(item, ph, file, &child, problems);
            }
        }
        _ => {}
    }
}

fn replace_in_value(value: &mut Value, from: &str, to: &str) {
    match value {
        Value::String(s) if s.contains(from) => *s = s.replace(from, to),
        Value::Array(items) => items.iter_mut().for_each(|v| replace_in_value(v, from, to)),
        Value::Object(map) => map.values_mut().for_each(|v| replace_in_value(v, from, to)),
        _ => {}
    }
}

impl Rendered {
    /// The policy of `topic` with the account id filled in.
    pub fn policy_for(topic: &TopicSpec, account: &str) -> Value {
        let mut policy = topic.policy.clone();
        replace_in_value(&mut policy, ACCOUNT_PLACEHOLDER, account);
        policy
    }

    /// Fills in the account id wherever the placeholder stands.
    pub fn with_account(&self, account: &str) -> Rendered {
        let mut out = self.clone();
        let fix = |list: &mut Vec<String>| {
            for a in list.iter_mut() {
                *a = a.replace(ACCOUNT_PLACEHOLDER, account);
            }
        };
        for alarm in &mut out.alarms {
            fix(&mut alarm.alarm_actions);
            fix(&mut alarm.ok_actions);
            fix(&mut alarm.insufficient_data_actions);
        }
        for topic in &mut out.topics {
            topic.topic_arn = topic.topic_arn.replace(ACCOUNT_PLACEHOLDER, account);
            replace_in_value(&mut topic.policy, ACCOUNT_PLACEHOLDER, account);
        }
        for dashboard in &mut out.dashboards {
            replace_in_value(&mut dashboard.dashboard_body, ACCOUNT_PLACEHOLDER, account);
        }
        out
    }

    /// Writes one JSON file per payload under `dir`: `dashboards/NAME.json` (PutDashboard
    /// input, body as a string), `alarms/NAME.json` (PutMetricAlarm input), `topics/NAME.json`
    /// (CreateTopic input with Attributes and Tags, plus the Subscribe inputs).
    pub fn write_to(&self, dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
        let mut written = Vec::new();
        let mut put = |sub: &str, name: &str, value: &Value| -> std::io::Result<()> {
            let folder = dir.join(sub);
            std::fs::create_dir_all(&folder)?;
            let path = folder.join(format!("{name}.json"));
            let mut text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
            text.push('\n');
            std::fs::write(&path, text)?;
            written.push(path);
            Ok(())
        };
        for d in &self.dashboards {
            let payload = json!({
                "DashboardName": d.dashboard_name,
                "DashboardBody": d.dashboard_body.to_string(),
            });
            put("dashboards", &d.dashboard_name, &payload)?;
        }
        for a in &self.alarms {
            let payload = serde_json::to_value(a).map_err(std::io::Error::other)?;
            put("alarms", &a.alarm_name, &payload)?;
        }
        for t in &self.topics {
            let mut attributes = serde_json::Map::new();
            attributes.insert("Policy".into(), Value::String(t.policy.to_string()));
            if let Some(display) = &t.display_name {
                attributes.insert("DisplayName".into(), Value::String(display.clone()));
            }
            let subscriptions: Vec<Value> = t
                .subscriptions
                .iter()
                .map(|s| json!({"TopicArn": t.topic_arn, "Protocol": s.protocol, "Endpoint": s.endpoint}))
                .collect();
            let payload = json!({
                "CreateTopic": {"Name": t.name, "Attributes": attributes, "Tags": t.tags},
                "Subscribe": subscriptions,
            });
            put("topics", &t.name, &payload)?;
        }
        for g in &self.log_groups {
            let payload = json!({
                "CreateLogGroup": {"logGroupName": g.log_group_name},
                "PutRetentionPolicy": g,
            });
            let file = g.log_group_name.trim_matches('/').replace('/', "_");
            put("log-groups", &file, &payload)?;
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_substituted_and_unknown_ones_rejected() {
        let ph = Placeholders::defaults("prod", "eu-west-1");
        assert_eq!(
            ph.substitute("${ClusterName}/${ServiceName}@${Region}")
                .ok()
                .as_deref(),
            Some("aistudio-prod-cluster/aistudio-prod-frontend@eu-west-1")
        );
        assert_eq!(
            ph.substitute("arn:${AWS::AccountId}").ok().as_deref(),
            Some("arn:${AWS::AccountId}")
        );
        let err = ph
            .substitute("${Cluster}")
            .expect_err("unknown placeholder");
        assert!(err.contains("unknown placeholder `${Cluster}`"), "{err}");
        let err = ph.substitute("${Region").expect_err("unterminated");
        assert!(err.contains("unterminated"), "{err}");
    }

    #[test]
    fn the_account_fills_actions_and_policies() {
        let arn = topic_arn("us-east-1", "aistudio-dev-critical-alerts");
        let topic = TopicSpec {
            name: "aistudio-dev-critical-alerts".into(),
            topic_arn: arn.clone(),
            display_name: None,
            policy: topic_policy(&arn, "us-east-1"),
            tags: managed_tags(),
            subscriptions: Vec::new(),
        };
        let rendered = Rendered {
            env: "dev".into(),
            region: "us-east-1".into(),
            dashboards: Vec::new(),
            alarms: Vec::new(),
            topics: vec![topic],
            log_groups: Vec::new(),
        };
        let resolved = rendered.with_account("123456789012");
        let policy = resolved.topics[0].policy.to_string();
        assert!(!policy.contains(ACCOUNT_PLACEHOLDER), "{policy}");
        assert!(
            policy.contains("arn:aws:cloudwatch:us-east-1:123456789012:alarm:*"),
            "{policy}"
        );
        assert_eq!(
            resolved.topics[0].topic_arn,
            "arn:aws:sns:us-east-1:123456789012:aistudio-dev-critical-alerts"
        );
    }

    #[test]
    fn actions_resolve_topic_keys_and_keep_arns() {
        assert_eq!(
            action_arn("critical-alerts", "staging", "us-west-2"),
            "arn:aws:sns:us-west-2:${AWS::AccountId}:aistudio-staging-critical-alerts"
        );
        let arn = "arn:aws:autoscaling:us-east-1:1:scalingPolicy:x";
        assert_eq!(action_arn(arn, "dev", "us-east-1"), arn);
    }
}
