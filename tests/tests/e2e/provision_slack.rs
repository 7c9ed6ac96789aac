//! Slack in `alarms/topics.toml`: the relay's URL is per-environment configuration that
//! `provision validate` insists on where the relay subscription is enabled, and the Chatbot
//! Slack channel configuration is rendered as a CreateSlackChannelConfiguration request that
//! botocore's own parameter validation accepts.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use tempfile::TempDir;
use tests::sidecar::sidecar_binary;
use tests::workspace_root;

fn copy_definitions() -> TempDir {
    let tmp = tempfile::tempdir().expect("copy the definitions into a temp dir");
    for sub in ["dashboards", "alarms"] {
        let to = tmp.path().join(sub);
        std::fs::create_dir_all(&to).expect("copy the definitions into a temp dir");
        for entry in std::fs::read_dir(workspace_root().join(sub))
            .expect("copy the definitions into a temp dir")
        {
            let path = entry.expect("copy the definitions into a temp dir").path();
            if path.is_file() {
                std::fs::copy(
                    &path,
                    to.join(
                        path.file_name()
                            .expect("copy the definitions into a temp dir"),
                    ),
                )
                .expect("copy the definitions into a temp dir");
            }
        }
    }
    tmp
}

fn edit_topics(dir: &Path, from: &str, to: &str) {
    let path = dir.join("alarms/topics.toml");
    let text = std::fs::read_to_string(&path).expect("edit the temp topics.toml");
    assert!(text.contains(from), "topics.toml has no {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).expect("edit the temp topics.toml");
}

/// Runs `aistudio-sidecar provision ARGS` with no AWS settings; (success, stdout + stderr).
fn provision(args: &[&str]) -> (bool, String) {
    let out = Command::new(sidecar_binary())
        .arg("provision")
        .args(args)
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_REGION")
        .output()
        .expect("run aistudio-sidecar provision");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .expect("a JSON file")
}

#[test]
fn the_relay_url_comes_from_the_environment_and_must_be_set_where_enabled() {
    let defs = copy_definitions();
    let dir = defs.path().to_str().unwrap();
    let out = tempfile::tempdir().unwrap();
    let (ok, text) = provision(&[
        "render",
        "--env",
        "staging",
        "--dir",
        dir,
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    let topic = read_json(
        &out.path()
            .join("topics/aistudio-staging-operational-alerts.json"),
    );
    let endpoints: Vec<&str> = topic["Subscribe"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["Endpoint"].as_str())
        .collect();
    assert_eq!(
        endpoints,
        ["https://slack-relay.staging.example.com/sns"],
        "{topic}"
    );

    edit_topics(
        defs.path(),
        "RelayUrl = \"https://slack-relay.prod.example.com/sns\"",
        "",
    );
    let (ok, text) = provision(&["validate", "--dir", dir]);
    assert!(!ok, "validate must refuse: {text}");
    assert!(
        text.contains(
            "the Slack relay subscription is enabled for `prod` but its relay URL is not set"
        ),
        "{text}"
    );
    assert!(!text.contains("`dev` but"), "dev still has its URL: {text}");

    edit_topics(
        defs.path(),
        "RelayUrl = \"https://slack-relay.dev.example.com/sns\"",
        "RelayUrl = \"http://slack-relay.dev.example.com/sns\"",
    );
    let (_, text) = provision(&["validate", "--dir", dir]);
    assert!(text.contains("Slack.dev.RelayUrl"), "{text}");
    assert!(text.contains("is not an https URL"), "{text}");
}

#[test]
fn the_chatbot_channel_configuration_is_rendered_and_botocore_accepts_it() {
    let defs = copy_definitions();
    let dir = defs.path().to_str().unwrap();
    edit_topics(
        defs.path(),
        "[Slack.staging]\n",
        "[Slack.staging]\nChatbotWorkspaceId = \"T0123ABCDE9\"\nChatbotChannelId = \"C0456FGHIJ8\"\n",
    );
    let out = tempfile::tempdir().unwrap();
    let (ok, text) = provision(&[
        "render",
        "--env",
        "staging",
        "--dir",
        dir,
        "--out",
        out.path().to_str().unwrap(),
        "--account-id",
        "123456789012",
    ]);
    assert!(ok, "{text}");
    let request_path = out.path().join("chatbot/aistudio-staging-slack.json");
    let request = read_json(&request_path);
    assert_eq!(request["SlackTeamId"], "T0123ABCDE9");
    assert_eq!(request["SlackChannelId"], "C0456FGHIJ8");
    assert_eq!(
        request["SnsTopicArns"],
        serde_json::json!([
            "arn:aws:sns:us-east-1:123456789012:aistudio-staging-operational-alerts"
        ])
    );
    assert_eq!(
        request["IamRoleArn"],
        "arn:aws:iam::123456789012:role/aistudio-chatbot-channel"
    );
    // botocore's parameter validation, the check the AWS CLI runs before it sends anything.
    let script = r#"
import json, sys, botocore.session
from botocore.validate import ParamValidator
model = botocore.session.get_session().get_service_model("chatbot")
shape = model.operation_model("CreateSlackChannelConfiguration").input_shape
report = ParamValidator().validate(json.load(open(sys.argv[1])), shape)
print(report.generate_report())
sys.exit(1 if report.has_errors() else 0)
"#;
    let python = std::env::var("AISTUDIO_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let check = |path: &Path| {
        Command::new(&python)
            .args(["-c", script])
            .arg(path)
            .output()
            .unwrap()
    };
    let good = check(&request_path);
    assert!(
        good.status.success(),
        "botocore: {}{}",
        String::from_utf8_lossy(&good.stdout),
        String::from_utf8_lossy(&good.stderr)
    );
    // The check can fail: the same request without a required member.
    let mut broken = request.clone();
    broken.as_object_mut().unwrap().remove("SlackChannelId");
    let broken_path = out.path().join("broken.json");
    std::fs::write(&broken_path, broken.to_string()).unwrap();
    let bad = check(&broken_path);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stdout).contains("SlackChannelId"));

    // No Chatbot IDs in dev: nothing rendered for it.
    let dev_out = tempfile::tempdir().unwrap();
    let (ok, text) = provision(&[
        "render",
        "--env",
        "dev",
        "--dir",
        dir,
        "--out",
        dev_out.path().to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    assert!(!dev_out.path().join("chatbot").exists());

    // Half a configuration is refused.
    edit_topics(defs.path(), "ChatbotChannelId = \"C0456FGHIJ8\"\n", "");
    let (ok, text) = provision(&["validate", "--dir", dir]);
    assert!(!ok);
    assert!(
        text.contains("set both ChatbotWorkspaceId and ChatbotChannelId, or neither"),
        "{text}"
    );
}

#[test]
fn the_chatbot_channel_role_is_least_privilege() {
    let read = |rel: &str| -> Value { read_json(&workspace_root().join(rel)) };
    let trust = read("deploy/iam/chatbot-channel-trust-policy.json");
    let statements = trust["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 1);
    assert_eq!(
        statements[0]["Principal"]["Service"],
        "chatbot.amazonaws.com"
    );
    assert_eq!(statements[0]["Action"], "sts:AssumeRole");
    let policy = read("deploy/iam/chatbot-channel-policy.json");
    let mut actions: Vec<String> = Vec::new();
    for s in policy["Statement"].as_array().unwrap() {
        assert_eq!(s["Effect"], "Allow");
        for a in s["Action"].as_array().unwrap() {
            actions.push(a.as_str().unwrap().to_owned());
        }
    }
    actions.sort();
    assert_eq!(
        actions,
        [
            "cloudwatch:DescribeAlarms",
            "cloudwatch:GetMetricData",
            "cloudwatch:GetMetricWidgetImage"
        ],
        "alarm notifications need these reads and nothing else"
    );
    assert!(actions.iter().all(|a| !a.contains('*')));
    let emulator = tests::emulator::Emulator::shared();
    let role = emulator
        .aws_cli(&[
            "iam",
            "create-role",
            "--role-name",
            &tests::emulator::unique_name("aistudio-chatbot-channel"),
            "--assume-role-policy-document",
            &format!(
                "file://{}",
                workspace_root()
                    .join("deploy/iam/chatbot-channel-trust-policy.json")
                    .display()
            ),
        ])
        .unwrap();
    assert!(role["Role"]["Arn"]
        .as_str()
        .unwrap()
        .starts_with("arn:aws:iam::"));
    let created = emulator
        .aws_cli(&[
            "iam",
            "create-policy",
            "--policy-name",
            &tests::emulator::unique_name("aistudio-chatbot-channel"),
            "--policy-document",
            &format!(
                "file://{}",
                workspace_root()
                    .join("deploy/iam/chatbot-channel-policy.json")
                    .display()
            ),
        ])
        .unwrap();
    assert!(created["Policy"]["Arn"]
        .as_str()
        .unwrap()
        .starts_with("arn:aws:iam::"));
}
