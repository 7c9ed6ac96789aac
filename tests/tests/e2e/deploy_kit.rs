//! The ECS deployment kit (`deploy/`): the IAM policies grant exactly the AWS operations the
//! sidecar's code calls (run-time sinks vs `provision`), the task definition follows the rules
//! the issue and ARCHITECTURE.md set, the baked-in sidecar config is valid and agrees with both, the
//! Dockerfiles are multi-stage and non-root, and the README's configuration reference names
//! every field of the sidecar's config structs.
// Test helpers may unwrap: a panic is the test failing.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn json(rel: &str) -> Value {
    serde_json::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not valid JSON: {e}"))
}

// ---------------------------------------------------------------------------------------------
// AWS operations: the SDK client methods of the three services the daemon links, as listed in
// `src/operation/` of aws-sdk-cloudwatch 1.140, aws-sdk-cloudwatchlogs 1.162, aws-sdk-sns 1.121.
// A call is recognised by `.operation_name()` in the source; a name that is an operation of
// several services (TagResource, ListTagsForResource) may be granted on any of them.

const CLOUDWATCH_OPS: &str = "associate_dataset_kms_key create_resource_metrics_configuration delete_alarm_mute_rule delete_alarms delete_anomaly_detector delete_dashboards delete_insight_rules delete_metric_stream delete_resource_metrics_configuration describe_alarm_contributors describe_alarm_history describe_alarms describe_alarms_for_metric describe_anomaly_detectors describe_insight_rules disable_alarm_actions disable_insight_rules disassociate_dataset_kms_key enable_alarm_actions enable_insight_rules get_alarm_mute_rule get_dashboard get_dataset get_insight_rule_report get_metric_data get_metric_statistics get_metric_stream get_metric_widget_image get_o_tel_enrichment get_resource_metrics_configuration list_alarm_mute_rules list_dashboards list_managed_insight_rules list_metric_streams list_metrics list_tags_for_resource put_alarm_mute_rule put_anomaly_detector put_composite_alarm put_dashboard put_insight_rule put_log_alarm put_managed_insight_rules put_metric_alarm put_metric_data put_metric_stream set_alarm_state start_metric_streams start_o_tel_enrichment stop_metric_streams stop_o_tel_enrichment tag_resource untag_resource update_o_tel_enrichment update_resource_metrics_configuration";

const LOGS_OPS: &str = "associate_kms_key associate_source_to_s3_table_integration cancel_export_task cancel_import_task create_delivery create_export_task create_import_task create_log_anomaly_detector create_log_group create_log_stream create_lookup_table create_scheduled_query delete_account_policy delete_data_protection_policy delete_delivery delete_delivery_destination delete_delivery_destination_policy delete_delivery_source delete_destination delete_index_policy delete_integration delete_log_anomaly_detector delete_log_group delete_log_stream delete_lookup_table delete_metric_filter delete_query_definition delete_resource_policy delete_retention_policy delete_scheduled_query delete_subscription_filter delete_syslog_configuration delete_transformer describe_account_policies describe_configuration_templates describe_deliveries describe_delivery_destinations describe_delivery_sources describe_destinations describe_export_tasks describe_field_indexes describe_import_task_batches describe_import_tasks describe_index_policies describe_log_groups describe_log_streams describe_lookup_tables describe_metric_filters describe_queries describe_query_definitions describe_resource_policies describe_subscription_filters disassociate_kms_key disassociate_source_from_s3_table_integration filter_log_events get_data_protection_policy get_delivery get_delivery_destination get_delivery_destination_policy get_delivery_source get_integration get_log_anomaly_detector get_log_events get_log_fields get_log_group_fields get_log_object get_log_record get_lookup_table get_query_results get_scheduled_query get_scheduled_query_history get_storage_tier_policy get_transformer list_aggregate_log_group_summaries list_anomalies list_integrations list_log_anomaly_detectors list_log_groups list_log_groups_for_query list_scheduled_queries list_sources_for_s3_table_integration list_syslog_configurations list_tags_for_resource list_tags_log_group put_account_policy put_bearer_token_authentication put_data_protection_policy put_delivery_destination put_delivery_destination_policy put_delivery_source put_destination put_destination_policy put_index_policy put_integration put_log_events put_log_group_deletion_protection put_metric_filter put_query_definition put_resource_policy put_retention_policy put_storage_tier_policy put_subscription_filter put_syslog_configuration put_transformer start_live_tail start_query stop_query tag_log_group tag_resource test_metric_filter test_transformer untag_log_group untag_resource update_anomaly update_delivery_configuration update_log_anomaly_detector update_lookup_table update_scheduled_query";

const SNS_OPS: &str = "add_permission check_if_phone_number_is_opted_out confirm_subscription create_platform_application create_platform_endpoint create_sms_sandbox_phone_number create_topic delete_endpoint delete_platform_application delete_sms_sandbox_phone_number delete_topic get_data_protection_policy get_endpoint_attributes get_platform_application_attributes get_sms_attributes get_sms_sandbox_account_status get_subscription_attributes get_topic_attributes list_endpoints_by_platform_application list_origination_numbers list_phone_numbers_opted_out list_platform_applications list_sms_sandbox_phone_numbers list_subscriptions list_subscriptions_by_topic list_tags_for_resource list_topics opt_in_phone_number publish publish_batch put_data_protection_policy remove_permission set_endpoint_attributes set_platform_application_attributes set_sms_attributes set_subscription_attributes set_topic_attributes subscribe tag_resource unsubscribe untag_resource verify_sms_sandbox_phone_number";

/// aws-sdk-elasticloadbalancingv2 1.134 `src/operation/` (provisioning's read-only lookups).
const ELB_OPS: &str = "add_listener_certificates add_tags add_trust_store_revocations create_listener create_load_balancer create_rule create_target_group create_trust_store delete_listener delete_load_balancer delete_rule delete_shared_trust_store_association delete_target_group delete_trust_store deregister_targets describe_account_limits describe_capacity_reservation describe_listener_attributes describe_listener_certificates describe_listeners describe_load_balancer_attributes describe_load_balancers describe_rules describe_ssl_policies describe_tags describe_target_group_attributes describe_target_groups describe_target_health describe_trust_store_associations describe_trust_store_revocations describe_trust_stores get_resource_policy get_trust_store_ca_certificates_bundle get_trust_store_revocation_content modify_capacity_reservation modify_ip_pools modify_listener modify_listener_attributes modify_load_balancer_attributes modify_rule modify_target_group modify_target_group_attributes modify_trust_store register_targets remove_listener_certificates remove_tags remove_trust_store_revocations set_ip_address_type set_rule_priorities set_security_groups set_subnets";

/// Actions that support no resource-level permission (Service Authorization Reference: no
/// resource type in the action's row), so a statement scoped to ARNs never allows them and
/// they must be granted on `*`. `sns:Unsubscribe` is the one found by the parliament IAM
/// linter on a topic-scoped statement: prune of a subscription would have been denied.
const STAR_ONLY_ACTIONS: [&str; 7] = [
    "cloudwatch:ListDashboards",
    "sns:ListTopics",
    "sns:Unsubscribe",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeTargetGroups",
    "logs:DescribeLogGroups",
    "cloudwatch:PutMetricData",
];

/// IAM service prefix → its operations (snake_case).
fn services() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    BTreeMap::from([
        ("cloudwatch", CLOUDWATCH_OPS.split(' ').collect()),
        ("logs", LOGS_OPS.split(' ').collect()),
        ("sns", SNS_OPS.split(' ').collect()),
        ("elasticloadbalancing", ELB_OPS.split(' ').collect()),
        ("chatbot", CHATBOT_OPS.split(' ').collect()),
    ])
}

/// Every (action, resource) pair a policy grants.
fn grants_by_resource(policy: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for st in policy["Statement"].as_array().unwrap() {
        let resource = st["Resource"].as_str().unwrap().to_owned();
        for a in statement_actions(st) {
            out.insert((a.to_owned(), resource.clone()));
        }
    }
    out
}

/// A statement's `Action`, a string or a list.
fn statement_actions(st: &Value) -> Vec<&str> {
    match &st["Action"] {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().map(|v| v.as_str().unwrap()).collect(),
        other => panic!("bad Action {other}"),
    }
}

/// A star-only action granted on anything but `*` is granted on nothing.
fn check_star_only(policy_file: &str) {
    for (action, resource) in grants_by_resource(&json(policy_file)) {
        if STAR_ONLY_ACTIONS.contains(&action.as_str()) {
            assert_eq!(
                resource, "*",
                "{policy_file}: {action} supports no resource-level permission; grant it on \"*\" or it is never allowed"
            );
        }
    }
}

fn all_ops() -> BTreeSet<&'static str> {
    services().into_values().flatten().collect()
}

/// `PutMetricData` → `put_metric_data`.
fn snake(action: &str) -> String {
    let mut out = String::new();
    for (i, c) in action.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Source without its `#[cfg(test)]` tail (unit tests may call anything) and without comments.
fn production_code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The SDK operations called by the `provision` crate (`true`) or at run time by the sidecar
/// and the crate it shares with provisioning (`false`).
fn called_ops(provision: bool) -> BTreeMap<String, Vec<String>> {
    let ops = all_ops();
    let dirs: &[&str] = if provision {
        &["provision/src"]
    } else {
        &["daemon/src", "core/src"]
    };
    let mut files = Vec::new();
    for dir in dirs {
        rust_files(&root().join(dir), &mut files);
    }
    let mut called: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in files {
        let rel = file
            .strip_prefix(root())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let code = production_code(&std::fs::read_to_string(&file).unwrap());
        // `.operation()` — the fluent builder call of an SDK client.
        for (i, _) in code.match_indices("()") {
            let head = &code[..i];
            let name_start = head
                .rfind(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                .map_or(0, |p| p + 1);
            let name = &head[name_start..];
            if name_start == 0 || !head[..name_start].ends_with('.') || !ops.contains(name) {
                continue;
            }
            called.entry(name.to_owned()).or_default().push(rel.clone());
        }
    }
    called
}

/// Every `service:Action` the policy grants (all statements are `Allow`; no wildcards).
/// aws-sdk-chatbot 1.109 `src/operation/` (provision's Chatbot channel configuration).
const CHATBOT_OPS: &str = "associate_to_configuration create_chime_webhook_configuration create_custom_action create_microsoft_teams_channel_configuration create_slack_channel_configuration delete_chime_webhook_configuration delete_custom_action delete_microsoft_teams_channel_configuration delete_microsoft_teams_configured_team delete_microsoft_teams_user_identity delete_slack_channel_configuration delete_slack_user_identity delete_slack_workspace_authorization describe_chime_webhook_configurations describe_slack_channel_configurations describe_slack_user_identities describe_slack_workspaces disassociate_from_configuration get_account_preferences get_custom_action get_microsoft_teams_channel_configuration list_associations list_custom_actions list_microsoft_teams_channel_configurations list_microsoft_teams_configured_teams list_microsoft_teams_user_identities list_tags_for_resource tag_resource untag_resource update_account_preferences update_chime_webhook_configuration update_custom_action update_microsoft_teams_channel_configuration update_slack_channel_configuration";

/// `iam:PassRole` is no SDK call of ours: Chatbot's create/update pass the channel role.
const PASS_ROLE: &str = "iam:PassRole";

fn granted(policy: &Value) -> BTreeSet<String> {
    assert_eq!(policy["Version"], "2012-10-17");
    let mut out = BTreeSet::new();
    for st in policy["Statement"].as_array().unwrap() {
        assert_eq!(st["Effect"], "Allow", "{st}");
        assert!(st.get("NotAction").is_none() && st.get("NotResource").is_none());
        for a in statement_actions(st) {
            assert!(!a.contains('*'), "wildcard action {a}");
            assert!(out.insert(a.to_owned()), "{a} granted twice");
        }
    }
    out
}

/// Each called operation is allowed, and each allowed action is a call the code makes.
fn check_policy(policy_file: &str, provision: bool) -> BTreeMap<String, Vec<String>> {
    let called = called_ops(provision);
    assert!(!called.is_empty(), "no SDK calls found: the scan is broken");
    let grants = granted(&json(policy_file));
    let services = services();
    for (op, files) in &called {
        let ok = grants.iter().any(|g| {
            let (svc, action) = g.split_once(':').unwrap();
            snake(action) == *op && services.get(svc).is_some_and(|s| s.contains(op.as_str()))
        });
        assert!(
            ok,
            "{policy_file} does not allow `{op}` (called in {files:?})"
        );
    }
    for g in grants.iter().filter(|g| *g != PASS_ROLE) {
        let (svc, action) = g.split_once(':').unwrap();
        let op = snake(action);
        assert!(
            services.get(svc).is_some_and(|s| s.contains(op.as_str())),
            "{policy_file}: {g} is not an operation of {svc}"
        );
        assert!(
            called.contains_key(&op),
            "{policy_file} grants {g}, which the code never calls: least privilege says remove it"
        );
    }
    called
}

#[test]
fn task_role_policy_grants_exactly_the_run_time_calls() {
    let called = check_policy("deploy/iam/task-role-policy.json", false);
    // The scan sees the sinks' calls (a sanity check of the scan itself).
    for op in ["put_log_events", "create_log_stream", "put_metric_data"] {
        assert!(called.contains_key(op), "{op} not found in the sinks");
    }
    assert!(
        !called.keys().any(|op| op.starts_with("put_dashboard")),
        "run-time code must not provision"
    );

    let policy = json("deploy/iam/task-role-policy.json");
    let group = sidecar_config()
        .sinks
        .cloudwatch_logs
        .expect("deploy/sidecar.toml ships to CloudWatch Logs")
        .log_group_for("prod");
    for st in policy["Statement"].as_array().unwrap() {
        let actions = st["Action"].to_string();
        if actions.contains("logs:") {
            let resource = st["Resource"].as_str().unwrap();
            assert!(
                resource.starts_with("arn:aws:logs:")
                    && resource.ends_with(&format!(":log-group:{group}:*")),
                "logs actions must be limited to the sidecar's log group {group}: {resource}"
            );
        }
        if actions.contains("cloudwatch:PutMetricData") {
            assert_eq!(
                st["Condition"]["StringEquals"]["cloudwatch:namespace"],
                aistudio_core::catalog::APP_NAMESPACE,
                "PutMetricData must be limited to the catalog namespace"
            );
            assert_eq!(
                st["Action"], "cloudwatch:PutMetricData",
                "alone in its statement"
            );
        }
    }
    // CreateLogGroup/PutRetentionPolicy are optional: in their own statement, so they can be
    // dropped together with `create_log_group = false`.
    let optional = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|st| st["Action"].to_string().contains("logs:CreateLogGroup"))
        .unwrap();
    let actions = optional["Action"].to_string();
    assert!(!actions.contains("PutLogEvents") && actions.contains("PutRetentionPolicy"));
}

#[test]
fn provisioning_policy_grants_exactly_the_provision_calls() {
    let called = check_policy("deploy/iam/provisioning-policy.json", true);
    for op in [
        "put_dashboard",
        "put_metric_alarm",
        "create_topic",
        "subscribe",
    ] {
        assert!(called.contains_key(op), "{op} not found in provision/");
    }
    check_star_only("deploy/iam/provisioning-policy.json");
    check_star_only("deploy/iam/task-role-policy.json");
    // Writes are scoped to the managed `aistudio-` names; only list/describe calls and the
    // actions that support no resource scope use `*`.
    let policy = json("deploy/iam/provisioning-policy.json");
    for st in policy["Statement"].as_array().unwrap() {
        let resource = st["Resource"].as_str().unwrap();
        if resource == "*" {
            for a in statement_actions(st) {
                let (_, action) = a.split_once(':').unwrap();
                assert!(
                    action.starts_with("List")
                        || action.starts_with("Describe")
                        || STAR_ONLY_ACTIONS.contains(&a),
                    "{a} on * (only read/list calls and star-only actions may be unscoped)"
                );
            }
        } else {
            assert!(resource.contains("aistudio-"), "{resource}");
        }
    }
    // Chatbot: the channel role may be passed, to Chatbot only, and only that role.
    for op in [
        "describe_slack_channel_configurations",
        "create_slack_channel_configuration",
        "update_slack_channel_configuration",
    ] {
        assert!(called.contains_key(op), "{op} not found in provision/");
    }
    let pass = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|st| st["Action"] == PASS_ROLE)
        .expect("iam:PassRole alone in its statement");
    assert_eq!(
        pass["Resource"],
        "arn:aws:iam::111122223333:role/aistudio-chatbot-channel"
    );
    assert_eq!(
        pass["Condition"]["StringEquals"]["iam:PassedToService"],
        "chatbot.amazonaws.com"
    );
    // The task role must not be able to provision, and the provisioning role does not ship:
    // no action on the same resource in both (both may set retention, each on its own group).
    let task = grants_by_resource(&json("deploy/iam/task-role-policy.json"));
    let prov = grants_by_resource(&json("deploy/iam/provisioning-policy.json"));
    assert!(
        task.is_disjoint(&prov),
        "{:?}",
        task.intersection(&prov).collect::<Vec<_>>()
    );
    let task_actions = granted(&json("deploy/iam/task-role-policy.json"));
    for (action, _) in &prov {
        assert!(
            !task_actions.contains(action) || action.starts_with("logs:"),
            "the task role may also {action}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The task definition.

fn container<'a>(td: &'a Value, name: &str) -> &'a Value {
    td["containerDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

fn env<'a>(c: &'a Value, name: &str) -> Option<&'a str> {
    c["environment"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str())
}

fn health_command(c: &Value) -> String {
    let cmd = c["healthCheck"]["command"].as_array().unwrap();
    assert!(matches!(cmd[0].as_str(), Some("CMD" | "CMD-SHELL")));
    cmd[1..]
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect::<Vec<_>>()
        .join(" ")
}

fn sidecar_config() -> daemon::config::SidecarConfig {
    daemon::config::SidecarConfig::from_toml(&read("deploy/sidecar.toml")).unwrap()
}

/// `*`-only glob match (what the shipped include pattern uses).
fn wildcard(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, rest)) => {
            name.starts_with(head)
                && (0..=name.len() - head.len()).any(|i| {
                    name.is_char_boundary(head.len() + i) && wildcard(rest, &name[head.len() + i..])
                })
        }
    }
}

#[test]
fn task_definition_follows_the_rules() {
    let td = json("deploy/ecs-task-definition.json");
    assert_eq!(td["networkMode"], "awsvpc");
    assert_eq!(td["cpu"], "512", "0.5 vCPU as the seeds size it");
    assert_eq!(td["memory"], "1024", "1 GB as the seeds size it");
    assert!(td["requiresCompatibilities"]
        .to_string()
        .contains("FARGATE"));
    assert!(td["taskRoleArn"]
        .as_str()
        .unwrap()
        .starts_with("arn:aws:iam::"));
    assert!(td["executionRoleArn"]
        .as_str()
        .unwrap()
        .starts_with("arn:aws:iam::"));
    assert_eq!(td["containerDefinitions"].as_array().unwrap().len(), 2);

    let server = container(&td, "server");
    let sidecar = container(&td, "sidecar");
    let cpu: u64 = ["server", "sidecar"]
        .iter()
        .map(|n| container(&td, n)["cpu"].as_u64().unwrap())
        .sum();
    let mem: u64 = ["server", "sidecar"]
        .iter()
        .map(|n| container(&td, n)["memory"].as_u64().unwrap())
        .sum();
    assert!(
        cpu <= 512 && mem <= 1024,
        "containers exceed the task: {cpu} cpu, {mem} MiB"
    );

    // Server: port 3000, health on /api/health, no awslogs (raw lines would bypass redaction).
    let ports = server["portMappings"].as_array().unwrap();
    assert_eq!(ports[0]["containerPort"], 3000);
    assert_eq!(env(server, "PORT"), Some("3000"));
    assert!(health_command(server).contains("127.0.0.1:3000/api/health"));
    assert!(
        server.get("logConfiguration").is_none()
            || server["logConfiguration"]["logDriver"] != "awslogs",
        "the server must not use the awslogs driver"
    );
    assert!(server["essential"].as_bool().unwrap());
    assert!(sidecar["essential"].as_bool().unwrap());

    // Sidecar: its own health check on the API address of its config.
    let config = sidecar_config();
    let api = config.api.address.to_string();
    let port = api.rsplit(':').next().unwrap();
    let hc = health_command(sidecar);
    assert!(hc.contains(&format!(":{port}/health")), "{hc} vs api {api}");

    // Sidecar starts first (server waits for it to be healthy) and therefore stops last.
    let deps = server["dependsOn"].as_array().unwrap();
    assert!(
        deps.iter()
            .any(|d| d["containerName"] == "sidecar" && d["condition"] == "HEALTHY"),
        "{deps:?}"
    );
    assert!(
        sidecar.get("dependsOn").is_none(),
        "the sidecar depends on nothing"
    );

    // Shared log volume: the server writes LOG_FILE into it, the sidecar tails it (read-only).
    let mount = |c: &Value| -> (String, String, bool) {
        let m = c["mountPoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["sourceVolume"] == "app-logs")
            .unwrap();
        (
            m["sourceVolume"].as_str().unwrap().to_owned(),
            m["containerPath"].as_str().unwrap().to_owned(),
            m["readOnly"].as_bool().unwrap_or(false),
        )
    };
    let (_, server_path, server_ro) = mount(server);
    let (_, sidecar_path, sidecar_ro) = mount(sidecar);
    assert!(!server_ro && sidecar_ro);
    assert!(td["volumes"].to_string().contains("\"app-logs\""));
    let log_file = env(server, "LOG_FILE").unwrap();
    assert!(log_file.starts_with(&format!("{server_path}/")));
    let include = &config.sources.file[0].include;
    assert!(
        include
            .iter()
            .any(|g| g.starts_with(&format!("{sidecar_path}/"))),
        "{include:?} outside {sidecar_path}"
    );
    let file_name = Path::new(log_file).file_name().unwrap().to_str().unwrap();
    let pattern = Path::new(&include[0])
        .file_name()
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        wildcard(pattern, file_name) && wildcard(pattern, &format!("{file_name}.1")),
        "{pattern} must match {file_name} and its rotation {file_name}.1"
    );

    // stopTimeout leaves room for the drain deadlines (server 25 s, sidecar 20 s); Fargate max 120.
    let drain_ms: u64 = env(server, "DRAIN_DEADLINE_MS").unwrap().parse().unwrap();
    let server_stop = server["stopTimeout"].as_u64().unwrap();
    let sidecar_stop = sidecar["stopTimeout"].as_u64().unwrap();
    assert!(server_stop * 1000 > drain_ms && server_stop <= 120);
    assert!(sidecar_stop > config.shutdown_deadline_secs && sidecar_stop <= 120);

    // One socket per open stream: the server's open-files limit allows the 10,000 it is sized
    // for (Fargate's nofile maximum is 65,535 hard and soft).
    let nofile = server["ulimits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "nofile")
        .unwrap();
    let soft = nofile["softLimit"].as_u64().unwrap();
    assert!((16_384..=65_535).contains(&soft) && soft <= nofile["hardLimit"].as_u64().unwrap());

    // Secrets come from Secrets Manager / SSM, never as plain environment values.
    let secrets = server["secrets"].as_array().unwrap();
    assert!(secrets.iter().any(|s| s["name"] == "JWT_SECRET"));
    for s in secrets {
        let from = s["valueFrom"].as_str().unwrap();
        assert!(from.starts_with("arn:aws:secretsmanager:") || from.starts_with("arn:aws:ssm:"));
    }
    for c in [server, sidecar] {
        for e in c["environment"].as_array().unwrap() {
            let name = e["name"].as_str().unwrap();
            assert!(
                !name.contains("SECRET")
                    && !name.ends_with("API_KEY")
                    && !name.contains("PASSWORD"),
                "{name} must be in `secrets`"
            );
        }
    }
    // The sidecar's environment and log group agree with the task role policy.
    assert_eq!(env(sidecar, "AISTUDIO_ENV"), Some("prod"));
    let group = env(sidecar, "AISTUDIO_LOG_GROUP").unwrap();
    assert!(read("deploy/iam/task-role-policy.json").contains(&format!(":log-group:{group}:*")));
}

#[test]
fn deploy_sidecar_config_is_valid_for_the_binary() {
    let (code, stdout, stderr) = tests::sidecar::run_sidecar(&[
        "validate",
        "--config",
        root().join("deploy/sidecar.toml").to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let config = sidecar_config();
    assert_eq!(
        config.metrics.mode,
        daemon::metric_stage::MetricsMode::PutMetricData
    );
    assert_eq!(
        config.metrics.namespace,
        aistudio_core::catalog::APP_NAMESPACE
    );
    assert!(config.sinks.cloudwatch_logs.is_some());
}

#[test]
fn dockerfiles_are_multi_stage_slim_and_non_root() {
    // the sidecar image is built with the `dist` profile (LTO), the server's with `--release`
    for (file, bin, profile) in [
        ("deploy/Dockerfile.server", "aistudio-server", "release"),
        ("deploy/Dockerfile.sidecar", "aistudio-sidecar", "dist"),
    ] {
        let text = read(file);
        let froms: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
        assert!(froms.len() >= 2, "{file}: multi-stage");
        assert!(
            froms[0].contains(" AS build"),
            "{file}: a named build stage"
        );
        assert!(
            froms[froms.len() - 1].contains("slim")
                || froms[froms.len() - 1].contains("distroless")
        );
        assert!(text.contains(&format!("--bin {bin}")) && text.contains("--locked"));
        let flag = if profile == "release" {
            "--release".to_owned()
        } else {
            format!("--profile {profile}")
        };
        assert!(
            text.contains(&format!("cargo build {flag} --locked")),
            "{file}"
        );
        assert!(text.contains(&format!("COPY --from=build /src/target/{profile}/{bin}")));
        let user = text.lines().rfind(|l| l.starts_with("USER ")).unwrap();
        assert!(
            !user.contains("root") && !user.contains(" 0"),
            "{file}: {user}"
        );
        assert!(text.contains("curl"), "{file}: the health check needs curl");
    }
}

// ---------------------------------------------------------------------------------------------
// The README's configuration reference names every field of the sidecar's config structs.

/// `(struct, field)` for every `pub` field of a `#[serde(deny_unknown_fields)]` struct in the
/// sidecar's config files (serde `rename`s applied, `skip`ped fields left out).
fn config_fields() -> Vec<(String, String)> {
    let files = [
        "daemon/src/config.rs",
        "daemon/src/api.rs",
        "daemon/src/sources/file/config.rs",
        "daemon/src/sources/tcp.rs",
        "daemon/src/sources/fluent/config.rs",
        "daemon/src/sources/otlp/config.rs",
        "daemon/src/sinks/mod.rs",
        "daemon/src/sinks/file.rs",
        "daemon/src/sinks/cloudwatch_logs/config.rs",
        "daemon/src/metric_stage/config.rs",
        "core/src/aws/mod.rs",
        "daemon/src/redact/config.rs",
    ];
    let mut out = Vec::new();
    for f in files {
        let code = production_code(&read(f));
        let mut in_struct: Option<String> = None;
        let mut attrs = String::new();
        let mut pending_deny = false;
        for line in code.lines() {
            let t = line.trim();
            if t.starts_with("#[serde(") && t.contains("deny_unknown_fields") {
                pending_deny = true;
            }
            if let Some(rest) = t.strip_prefix("pub struct ") {
                let name: String = rest.chars().take_while(|c| c.is_alphanumeric()).collect();
                in_struct =
                    (pending_deny && !rest.contains(';') && !rest.contains("{}")).then_some(name);
                pending_deny = false;
                continue;
            }
            if t.starts_with("pub enum ") || t.starts_with("impl ") || t.starts_with("fn ") {
                pending_deny = false;
            }
            let Some(s) = &in_struct else { continue };
            if t == "}" {
                in_struct = None;
                continue;
            }
            if t.starts_with("#[") {
                attrs.push_str(t);
                continue;
            }
            if let Some(rest) = t.strip_prefix("pub ") {
                let field: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if rest[field.len()..].starts_with(':')
                    && !attrs.contains("skip)")
                    && !attrs.contains("skip,")
                {
                    let name = attrs
                        .split("rename = \"")
                        .nth(1)
                        .and_then(|r| r.split('"').next())
                        .map_or(field.clone(), str::to_owned);
                    out.push((s.clone(), name));
                }
            }
            if !t.starts_with("///") {
                attrs.clear();
            }
        }
    }
    out
}

#[test]
fn readme_configuration_reference_names_every_sidecar_config_field() {
    let fields = config_fields();
    // The scan must see the structs (guards against a parser that silently finds nothing).
    for (s, f) in [
        ("SidecarConfig", "shutdown_deadline_secs"),
        ("FileSinkConfig", "max_files"),
        ("MetricsConfig", "period_secs"),
        ("RuleConfig", "match"),
        ("RedactConfig", "hash_key_env"),
    ] {
        assert!(
            fields.iter().any(|(a, b)| a == s && b == f),
            "{s}.{f} not found by the scan: {fields:?}"
        );
    }
    assert!(
        !fields.iter().any(|(_, f)| f == "aws_detected"),
        "skipped fields are internal"
    );
    let readme = read("README.md");
    let reference = readme
        .split("## Configuration reference")
        .nth(1)
        .expect("README.md has a `## Configuration reference` section");
    let reference = reference.split("\n## ").next().unwrap_or(reference);
    let missing: Vec<String> = fields
        .iter()
        .filter(|(_, f)| !reference.contains(&format!("`{f}`")))
        .map(|(s, f)| format!("{s}.{f}"))
        .collect();
    assert!(
        missing.is_empty(),
        "README.md \"Configuration reference\" does not document: {missing:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The AWS CLI (botocore's parameter validation) and moto accept the files as AWS would take
// them: the task definition registers, and both policies are valid IAM policy documents.

#[test]
fn aws_accepts_the_task_definition_and_policies() {
    let emulator = tests::emulator::Emulator::shared();
    let td = root().join("deploy/ecs-task-definition.json");
    let registered = emulator
        .aws_cli(&[
            "ecs",
            "register-task-definition",
            "--cli-input-json",
            &format!("file://{}", td.display()),
        ])
        .unwrap();
    let task = &registered["taskDefinition"];
    assert_eq!(task["family"], "aistudio-prod-frontend");
    assert_eq!(task["containerDefinitions"].as_array().unwrap().len(), 2);
    for (name, file) in [
        ("task-role", "deploy/iam/task-role-policy.json"),
        ("provisioning", "deploy/iam/provisioning-policy.json"),
    ] {
        let created = emulator
            .aws_cli(&[
                "iam",
                "create-policy",
                "--policy-name",
                &tests::emulator::unique_name(&format!("aistudio-{name}")),
                "--policy-document",
                &format!("file://{}", root().join(file).display()),
            ])
            .unwrap_or_else(|e| panic!("{file} refused: {e:#}"));
        assert!(created["Policy"]["Arn"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:iam::"));
    }
}

// ---------------------------------------------------------------------------------------------
// The FireLens variant: the server logs to stdout through the `awsfirelens` driver, and the
// sidecar is the task's log router, listening where ECS sends the forward messages.

#[test]
fn firelens_task_definition_routes_the_servers_stdout_through_the_sidecar() {
    let td = json("deploy/ecs-task-definition-firelens.json");
    let file_variant = json("deploy/ecs-task-definition.json");
    for key in [
        "networkMode",
        "cpu",
        "memory",
        "taskRoleArn",
        "executionRoleArn",
    ] {
        assert_eq!(
            td[key], file_variant[key],
            "{key} differs from the file variant"
        );
    }
    assert_eq!(td["containerDefinitions"].as_array().unwrap().len(), 2);
    let server = container(&td, "server");
    let sidecar = container(&td, "sidecar");
    let (cpu, mem) = [server, sidecar].iter().fold((0, 0), |(c, m), x| {
        (
            c + x["cpu"].as_u64().unwrap(),
            m + x["memory"].as_u64().unwrap(),
        )
    });
    assert!(cpu <= 512 && mem <= 1024, "{cpu} cpu, {mem} MiB");

    // ECS accepts only fluentbit or fluentd as the router type; the metadata option makes it
    // add ecs_cluster, ecs_task_arn and ecs_task_definition to every record.
    let firelens = &sidecar["firelensConfiguration"];
    assert_eq!(firelens["type"], "fluentbit");
    assert_eq!(firelens["options"]["enable-ecs-log-metadata"], "true");
    // FireLens requires its router to run as uid 0 (it owns the socket directory ECS mounts).
    assert_eq!(sidecar["user"], "0");
    // The router cannot route its own log: it keeps awslogs (its lines are already redacted).
    assert_eq!(sidecar["logConfiguration"]["logDriver"], "awslogs");

    // The server: stdout through FireLens, no log file, no shared log volume.
    assert_eq!(server["logConfiguration"]["logDriver"], "awsfirelens");
    assert!(
        env(server, "LOG_FILE").is_none(),
        "the server logs to stdout"
    );
    assert!(server.get("mountPoints").is_none());
    assert!(!td["volumes"].to_string().contains("app-logs"));
    let deps = server["dependsOn"].as_array().unwrap();
    assert!(deps
        .iter()
        .any(|d| d["containerName"] == "sidecar" && d["condition"] == "HEALTHY"));

    // The sidecar runs the FireLens config, which its image carries at that path.
    let command: Vec<&str> = sidecar["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        command,
        [
            "run",
            "--config",
            "/etc/aistudio-sidecar/sidecar-firelens.toml"
        ]
    );
    assert!(read("deploy/Dockerfile.sidecar")
        .contains("COPY deploy/sidecar-firelens.toml /etc/aistudio-sidecar/sidecar-firelens.toml"));
    let config =
        daemon::config::SidecarConfig::from_toml(&read("deploy/sidecar-firelens.toml")).unwrap();
    let fluent = config
        .sources
        .fluent
        .as_ref()
        .expect("a [sources.fluent] section");
    assert_eq!(
        fluent.socket_path.as_deref(),
        Some(Path::new("/var/run/fluent.sock")),
        "where ECS's FireLens driver sends"
    );
    let address = fluent.address.expect("the forward TCP port");
    assert!(address.ip().is_loopback() && address.port() == 24224);
    assert!(config.sources.file.is_empty());
    assert!(config.sinks.cloudwatch_logs.is_some());
    let hc = health_command(sidecar);
    assert!(
        hc.contains(&format!(":{}/health", config.api.address.port())),
        "{hc}"
    );
    assert!(sidecar["stopTimeout"].as_u64().unwrap() > config.shutdown_deadline_secs);
    assert_eq!(
        env(sidecar, "AISTUDIO_LOG_GROUP"),
        env(container(&file_variant, "sidecar"), "AISTUDIO_LOG_GROUP")
    );

    let (code, stdout, stderr) = tests::sidecar::run_sidecar(&[
        "validate",
        "--config",
        root()
            .join("deploy/sidecar-firelens.toml")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");

    let registered = tests::emulator::Emulator::shared()
        .aws_cli(&[
            "ecs",
            "register-task-definition",
            "--cli-input-json",
            &format!(
                "file://{}",
                root()
                    .join("deploy/ecs-task-definition-firelens.json")
                    .display()
            ),
        ])
        .unwrap();
    let task = &registered["taskDefinition"];
    assert_eq!(task["family"], "aistudio-prod-frontend-firelens");
    let routed = task["containerDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "server")
        .unwrap();
    assert_eq!(routed["logConfiguration"]["logDriver"], "awsfirelens");
}

// ---------------------------------------------------------------------------------------------
// The Slack relay's task: its config is valid for the binary, the webhook URL is a secret, it
// needs no task role (the relay calls no AWS API), and ECS accepts the definition.

#[test]
fn relay_task_definition_and_config_follow_the_rules() {
    let td = json("deploy/relay-task-definition.json");
    assert!(
        td.get("taskRoleArn").is_none(),
        "the relay calls no AWS API: no task role"
    );
    let relay = container(&td, "relay");
    let command: Vec<&str> = relay["command"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(command[..2], ["relay", "--config"]);
    let config_path = command[2];
    let dockerfile = read("deploy/Dockerfile.sidecar");
    assert!(
        dockerfile.contains(&format!("COPY deploy/relay.toml {config_path}")),
        "the image carries {config_path}"
    );
    let config = aistudio_relay::RelayConfig::load(&root().join("deploy/relay.toml"))
        .unwrap_or_else(|e| panic!("deploy/relay.toml: {e}"));
    assert!(config.cert_host.is_match("sns.us-east-1.amazonaws.com"));
    assert!(
        config.trust_roots_file.is_none(),
        "real roots in production"
    );
    let port = config.listen.port();
    assert_eq!(relay["portMappings"][0]["containerPort"], port);
    assert!(health_command(relay).contains(&format!("127.0.0.1:{port}/health")));
    let secrets: Vec<&str> = relay["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(
        secrets,
        ["AISTUDIO_SLACK_WEBHOOK_URL"],
        "the webhook URL is a secret"
    );
    assert!(env(relay, "AISTUDIO_SLACK_WEBHOOK_URL").is_none());
    assert_eq!(relay["readonlyRootFilesystem"], true);
    assert_ne!(relay["user"], "0");
    // The relay crate reaches no AWS service: no SDK in its dependencies.
    let manifest = read("relay/Cargo.toml");
    assert!(
        !manifest.contains("aws-sdk"),
        "relay/Cargo.toml depends on an AWS SDK"
    );
}

#[test]
fn aws_accepts_the_relay_task_definition() {
    let emulator = tests::emulator::Emulator::shared();
    let td = root().join("deploy/relay-task-definition.json");
    let registered = emulator
        .aws_cli(&[
            "ecs",
            "register-task-definition",
            "--cli-input-json",
            &format!("file://{}", td.display()),
        ])
        .unwrap();
    assert_eq!(
        registered["taskDefinition"]["family"],
        "aistudio-prod-slack-relay"
    );
}
