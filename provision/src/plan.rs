//! Comparing the rendered definitions with the live state by meaning, not by text: JSON key
//! order, CloudWatch's defaults (TreatMissingData = missing, DatapointsToAlarm =
//! EvaluationPeriods, ReturnData = true) and the order of action and dimension lists do not
//! count as changes.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::live::{is_managed, LiveState};
use super::render::{
    name_prefix, AlarmSpec, Rendered, TopicSpec, MANAGED_TAG_KEY, MANAGED_TAG_VALUE,
};
use super::report::{Action, Change, FieldChange, Kind, Plan};

/// How many differing fields of one resource the plan lists before summarising the rest.
const MAX_FIELDS_SHOWN: usize = 20;
/// How many characters of a value the plan shows.
const MAX_VALUE_CHARS: usize = 160;
/// The pseudo-field that stands for the managed marker tag.
pub const TAGS_FIELD: &str = "Tags";
/// SNS's ARN for an e-mail subscription nobody confirmed yet; it cannot be unsubscribed.
pub const PENDING_CONFIRMATION: &str = "PendingConfirmation";

/// The plan that makes `live` match `desired`. `desired` should carry the account id when it is
/// known (see [`Rendered::with_account`]); `prune` turns orphans into deletions.
pub fn diff(desired: &Rendered, live: &LiveState, prune: bool) -> Plan {
    let desired = match &live.account {
        Some(account) => desired.with_account(account),
        None => desired.clone(),
    };
    let prefix = name_prefix(&desired.env);
    let gone = if prune {
        Action::Delete
    } else {
        Action::Orphan
    };
    let mut changes = Vec::new();

    // Topics and subscriptions first: alarms point at them.
    for topic in &desired.topics {
        match live.topics.get(&topic.name) {
            None => {
                changes.push(change(Kind::Topic, &topic.name, Action::Create, Vec::new()));
                for s in &topic.subscriptions {
                    changes.push(change(
                        Kind::Subscription,
                        &sub_name(&topic.name, &s.protocol, &s.endpoint),
                        Action::Create,
                        Vec::new(),
                    ));
                }
            }
            Some(lt) => {
                let fields = topic_fields(
                    topic,
                    lt.display_name.as_deref(),
                    lt.policy.as_ref(),
                    is_managed(&lt.tags),
                );
                let action = if fields.is_empty() {
                    Action::NoChange
                } else {
                    Action::Update
                };
                changes.push(change(Kind::Topic, &topic.name, action, fields));
                let wanted: BTreeSet<(&str, &str)> = topic
                    .subscriptions
                    .iter()
                    .map(|s| (s.protocol.as_str(), s.endpoint.as_str()))
                    .collect();
                let have: BTreeSet<(&str, &str)> = lt
                    .subscriptions
                    .iter()
                    .map(|s| (s.protocol.as_str(), s.endpoint.as_str()))
                    .collect();
                for (protocol, endpoint) in &wanted {
                    let action = if have.contains(&(protocol, endpoint)) {
                        Action::NoChange
                    } else {
                        Action::Create
                    };
                    changes.push(change(
                        Kind::Subscription,
                        &sub_name(&topic.name, protocol, endpoint),
                        action,
                        Vec::new(),
                    ));
                }
                for s in &lt.subscriptions {
                    if !wanted.contains(&(s.protocol.as_str(), s.endpoint.as_str())) {
                        let action = if s.arn == PENDING_CONFIRMATION {
                            Action::Orphan
                        } else {
                            gone
                        };
                        changes.push(change(
                            Kind::Subscription,
                            &sub_name(&topic.name, &s.protocol, &s.endpoint),
                            action,
                            Vec::new(),
                        ));
                    }
                }
            }
        }
    }

    let defined: BTreeSet<&str> = desired
        .dashboards
        .iter()
        .map(|d| d.dashboard_name.as_str())
        .collect();
    for d in &desired.dashboards {
        let (action, fields) = match live.dashboards.get(&d.dashboard_name) {
            None => (Action::Create, Vec::new()),
            Some(body) => {
                let mut fields = Vec::new();
                json_diff(body, &d.dashboard_body, "", &mut fields);
                (
                    if fields.is_empty() {
                        Action::NoChange
                    } else {
                        Action::Update
                    },
                    cap(fields),
                )
            }
        };
        changes.push(change(Kind::Dashboard, &d.dashboard_name, action, fields));
    }

    let defined_alarms: BTreeSet<&str> = desired
        .alarms
        .iter()
        .map(|a| a.alarm_name.as_str())
        .collect();
    for a in &desired.alarms {
        let (action, fields) = match live.alarms.get(&a.alarm_name) {
            None => (Action::Create, Vec::new()),
            Some(la) => {
                let fields = alarm_fields(&la.spec, a);
                (
                    if fields.is_empty() {
                        Action::NoChange
                    } else {
                        Action::Update
                    },
                    cap(fields),
                )
            }
        };
        changes.push(change(Kind::Alarm, &a.alarm_name, action, fields));
    }

    for g in &desired.log_groups {
        let (action, fields) = match live.log_groups.get(&g.log_group_name) {
            None => (Action::Create, Vec::new()),
            Some(days) if *days == Some(g.retention_in_days) => (Action::NoChange, Vec::new()),
            Some(days) => (
                Action::Update,
                vec![FieldChange {
                    field: "retentionInDays".to_owned(),
                    before: days.map_or_else(|| "(never expire)".to_owned(), |d| d.to_string()),
                    after: g.retention_in_days.to_string(),
                }],
            ),
        };
        changes.push(change(Kind::LogGroup, &g.log_group_name, action, fields));
    }

    // What is managed but no longer defined: alarms, dashboards, then topics. Log groups are
    // never deleted: their events are data.
    for (name, la) in &live.alarms {
        if name.starts_with(&prefix)
            && !defined_alarms.contains(name.as_str())
            && is_managed(&la.spec.tags)
        {
            changes.push(change(Kind::Alarm, name, gone, Vec::new()));
        }
    }
    for name in live.dashboards.keys() {
        if name.starts_with(&prefix) && !defined.contains(name.as_str()) {
            changes.push(change(Kind::Dashboard, name, gone, Vec::new()));
        }
    }
    for (name, lt) in &live.topics {
        if name.starts_with(&prefix)
            && !desired.topics.iter().any(|t| &t.name == name)
            && is_managed(&lt.tags)
        {
            changes.push(change(Kind::Topic, name, gone, Vec::new()));
        }
    }
    Plan { changes }
}

fn change(kind: Kind, name: &str, action: Action, fields: Vec<FieldChange>) -> Change {
    Change {
        kind,
        name: name.to_owned(),
        action,
        fields,
    }
}

/// The display name of a subscription in the plan.
pub fn sub_name(topic: &str, protocol: &str, endpoint: &str) -> String {
    format!("{topic} {protocol}:{endpoint}")
}

fn show(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "(unset)".to_owned(),
        Some(v) => {
            let text = v.to_string();
            if text.chars().count() > MAX_VALUE_CHARS {
                let cut: String = text.chars().take(MAX_VALUE_CHARS).collect();
                format!("{cut}…")
            } else {
                text
            }
        }
    }
}

fn field(name: &str, before: Option<&Value>, after: Option<&Value>) -> FieldChange {
    FieldChange {
        field: name.to_owned(),
        before: show(before),
        after: show(after),
    }
}

fn cap(mut fields: Vec<FieldChange>) -> Vec<FieldChange> {
    if fields.len() > MAX_FIELDS_SHOWN {
        let more = fields.len() - MAX_FIELDS_SHOWN;
        fields.truncate(MAX_FIELDS_SHOWN);
        fields.push(FieldChange {
            field: format!("… and {more} more"),
            before: String::new(),
            after: String::new(),
        });
    }
    fields
}

fn marker_value() -> Value {
    Value::String(format!("{MANAGED_TAG_KEY}={MANAGED_TAG_VALUE}"))
}

/// Differences of a topic: DisplayName, Policy (as JSON), and the managed marker.
pub fn topic_fields(
    topic: &TopicSpec,
    display_name: Option<&str>,
    policy: Option<&Value>,
    managed: bool,
) -> Vec<FieldChange> {
    let mut fields = Vec::new();
    let want_display = topic.display_name.as_deref().unwrap_or_default();
    if want_display != display_name.unwrap_or_default() {
        fields.push(field(
            "DisplayName",
            display_name.map(|d| Value::String(d.to_owned())).as_ref(),
            Some(&Value::String(want_display.to_owned())),
        ));
    }
    if policy.map(normalize_policy) != Some(normalize_policy(&topic.policy)) {
        fields.push(field("Policy", policy, Some(&topic.policy)));
    }
    if !managed {
        fields.push(field(TAGS_FIELD, None, Some(&marker_value())));
    }
    fields
}

/// IAM treats a one-element list and a scalar alike, and statement order does not matter.
fn normalize_policy(policy: &Value) -> Value {
    match policy {
        Value::Array(items) if items.len() == 1 => normalize_policy(&items[0]),
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(normalize_policy).collect();
            items.sort_by_key(ToString::to_string);
            Value::Array(items)
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), normalize_policy(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// An alarm as a map of its fields, with CloudWatch's defaults filled in and sets sorted.
pub fn normalize_alarm(spec: &AlarmSpec) -> BTreeMap<String, Value> {
    let mut spec = spec.clone();
    for list in [
        &mut spec.alarm_actions,
        &mut spec.ok_actions,
        &mut spec.insufficient_data_actions,
    ] {
        list.sort();
        list.dedup();
    }
    spec.dimensions.sort();
    if spec.datapoints_to_alarm.is_none() {
        spec.datapoints_to_alarm = Some(spec.evaluation_periods);
    }
    if spec.treat_missing_data.is_none() {
        spec.treat_missing_data = Some("missing".to_owned());
    }
    if spec.alarm_description.as_deref() == Some("") {
        spec.alarm_description = None;
    }
    if spec.evaluate_low_sample_count_percentile.as_deref() == Some("") {
        spec.evaluate_low_sample_count_percentile = None;
    }
    for q in &mut spec.metrics {
        if q.return_data.is_none() {
            q.return_data = Some(true);
        }
        if let Some(ms) = &mut q.metric_stat {
            ms.metric.dimensions.sort();
        }
    }
    spec.tags.clear();
    let mut out = BTreeMap::new();
    if let Ok(Value::Object(map)) = serde_json::to_value(&spec) {
        for (k, v) in map {
            if !v.is_null() && k != TAGS_FIELD {
                out.insert(k, v);
            }
        }
    }
    out
}

/// Fields that differ between a live alarm and its definition, plus the marker tag.
pub fn alarm_fields(live: &AlarmSpec, desired: &AlarmSpec) -> Vec<FieldChange> {
    let (before, after) = (normalize_alarm(live), normalize_alarm(desired));
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let mut fields: Vec<FieldChange> = keys
        .into_iter()
        .filter(|k| !same(before.get(*k), after.get(*k)))
        .map(|k| field(k, before.get(k), after.get(k)))
        .collect();
    if !is_managed(&live.tags) {
        fields.push(field(TAGS_FIELD, None, Some(&marker_value())));
    }
    fields
}

/// Equality by meaning: numbers compare as numbers (`80` and `80.0` are the same).
fn same(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x.as_f64() == y.as_f64(),
        (Some(Value::Array(x)), Some(Value::Array(y))) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(Some(x), Some(y)))
        }
        (Some(Value::Object(x)), Some(Value::Object(y))) => objects_same(x, y),
        (a, b) => a == b,
    }
}

fn objects_same(x: &Map<String, Value>, y: &Map<String, Value>) -> bool {
    x.len() == y.len() && x.iter().all(|(k, v)| same(Some(v), y.get(k)))
}

/// Paths where two JSON documents differ (objects by key, arrays by position).
pub fn json_diff(before: &Value, after: &Value, path: &str, out: &mut Vec<FieldChange>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
            for key in keys {
                match (b.get(key), a.get(key)) {
                    (Some(bv), Some(av)) => json_diff(bv, av, &join(key), out),
                    (bv, av) => out.push(field(&join(key), bv, av)),
                }
            }
        }
        (Value::Array(b), Value::Array(a)) if b.len() == a.len() => {
            for (i, (bv, av)) in b.iter().zip(a).enumerate() {
                json_diff(bv, av, &format!("{path}[{i}]"), out);
            }
        }
        (b, a) => {
            if !same(Some(b), Some(a)) {
                out.push(field(
                    if path.is_empty() { "(body)" } else { path },
                    Some(b),
                    Some(a),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn alarm() -> AlarmSpec {
        AlarmSpec {
            alarm_name: "aistudio-dev-x".into(),
            alarm_description: Some("d".into()),
            actions_enabled: true,
            ok_actions: vec!["b".into(), "a".into()],
            alarm_actions: vec!["a".into()],
            insufficient_data_actions: vec![],
            metric_name: Some("CPUUtilization".into()),
            namespace: Some("AWS/ECS".into()),
            statistic: Some("Average".into()),
            extended_statistic: None,
            dimensions: vec![],
            period: Some(300),
            unit: None,
            evaluation_periods: 3,
            datapoints_to_alarm: None,
            threshold: 80.0,
            comparison_operator: "GreaterThanThreshold".into(),
            treat_missing_data: None,
            evaluate_low_sample_count_percentile: None,
            metrics: vec![],
            tags: vec![],
        }
    }

    #[test]
    fn defaults_and_order_are_not_changes() {
        let desired = alarm();
        let mut live = alarm();
        live.ok_actions.reverse();
        live.datapoints_to_alarm = Some(3);
        live.treat_missing_data = Some("missing".into());
        live.tags = vec![super::super::render::TagSpec {
            key: MANAGED_TAG_KEY.into(),
            value: MANAGED_TAG_VALUE.into(),
        }];
        assert_eq!(alarm_fields(&live, &desired), Vec::new());
    }

    #[test]
    fn a_threshold_change_is_one_field() {
        let desired = alarm();
        let mut live = alarm();
        live.threshold = 90.0;
        live.tags = vec![super::super::render::TagSpec {
            key: MANAGED_TAG_KEY.into(),
            value: MANAGED_TAG_VALUE.into(),
        }];
        let fields = alarm_fields(&live, &desired);
        assert_eq!(fields.len(), 1, "{fields:?}");
        assert_eq!(fields[0].field, "Threshold");
        assert_eq!(
            (fields[0].before.as_str(), fields[0].after.as_str()),
            ("90.0", "80.0")
        );
    }

    #[test]
    fn missing_marker_is_reported() {
        let fields = alarm_fields(&alarm(), &alarm());
        assert_eq!(
            fields.iter().map(|f| f.field.as_str()).collect::<Vec<_>>(),
            vec![TAGS_FIELD]
        );
    }

    #[test]
    fn json_key_order_is_not_a_change_but_a_value_is() {
        let a = json!({"widgets": [{"x": 0, "y": 0, "properties": {"title": "A", "period": 60}}]});
        let b =
            json!({"widgets": [{"properties": {"period": 60.0, "title": "A"}, "y": 0, "x": 0}]});
        let mut out = Vec::new();
        json_diff(&a, &b, "", &mut out);
        assert!(out.is_empty(), "{out:?}");
        let c = json!({"widgets": [{"x": 0, "y": 0, "properties": {"title": "B", "period": 60}}]});
        json_diff(&a, &c, "", &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].field, "widgets[0].properties.title");
    }

    #[test]
    fn policy_compares_by_meaning() {
        let a = json!({"Statement": [{"Action": ["sns:Publish"], "Sid": "x"}]});
        let b = json!({"Statement": {"Sid": "x", "Action": "sns:Publish"}});
        assert_eq!(normalize_policy(&a), normalize_policy(&b));
    }
}
