//! `provision plan | apply` look the load balancer and target group up instead of guessing:
//! against the emulator, with an ALB, target group and listener created through the AWS CLI,
//! the rendered alarms watch `app/NAME/ID` and `targetgroup/NAME/ID` (read back with the AWS
//! CLI), an explicit value in that form is used as given, a name that resolves to nothing is
//! an error that writes nothing, and offline `render` warns about bare names.
// Test helpers may unwrap: a panic is the test failing.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

use serde_json::Value;
use tests::emulator::Emulator;
use tests::sidecar::sidecar_binary;
use tests::workspace_root as repo_root;

/// Creates a VPC, two subnets, the ALB, the target group and a listener forwarding to it;
/// returns the load balancer's and the target group's ARNs.
fn create_alb(emulator: &Emulator, lb_name: &str, tg_name: &str) -> (String, String) {
    let vpc = emulator
        .aws_cli(&["ec2", "create-vpc", "--cidr-block", "10.0.0.0/16"])
        .unwrap()["Vpc"]["VpcId"]
        .as_str()
        .unwrap()
        .to_owned();
    let subnet = |cidr: &str, az: &str| {
        emulator
            .aws_cli(&[
                "ec2",
                "create-subnet",
                "--vpc-id",
                &vpc,
                "--cidr-block",
                cidr,
                "--availability-zone",
                az,
            ])
            .unwrap()["Subnet"]["SubnetId"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (a, b) = (
        subnet("10.0.1.0/24", "us-east-1a"),
        subnet("10.0.2.0/24", "us-east-1b"),
    );
    let lb = emulator
        .aws_cli(&[
            "elbv2",
            "create-load-balancer",
            "--name",
            lb_name,
            "--subnets",
            &a,
            &b,
        ])
        .unwrap()["LoadBalancers"][0]["LoadBalancerArn"]
        .as_str()
        .unwrap()
        .to_owned();
    let tg = emulator
        .aws_cli(&[
            "elbv2",
            "create-target-group",
            "--name",
            tg_name,
            "--protocol",
            "HTTP",
            "--port",
            "3000",
            "--vpc-id",
            &vpc,
            "--target-type",
            "ip",
        ])
        .unwrap()["TargetGroups"][0]["TargetGroupArn"]
        .as_str()
        .unwrap()
        .to_owned();
    emulator
        .aws_cli(&[
            "elbv2",
            "create-listener",
            "--load-balancer-arn",
            &lb,
            "--protocol",
            "HTTP",
            "--port",
            "80",
            "--default-actions",
            &format!("Type=forward,TargetGroupArn={tg}"),
        ])
        .unwrap();
    (lb, tg)
}

fn provision(emulator: &Emulator, args: &[&str]) -> Output {
    Command::new(sidecar_binary())
        .arg("provision")
        .args(args)
        .arg("--dir")
        .arg(repo_root())
        .envs(emulator.child_env())
        .env_remove("AISTUDIO_ENV")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every dimension value of `name` in the alarm's metrics (single-metric or metric math).
fn dimension_values(alarm: &Value, name: &str) -> Vec<String> {
    let mut dims: Vec<&Value> = alarm["Dimensions"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    for q in alarm["Metrics"].as_array().into_iter().flatten() {
        dims.extend(
            q["MetricStat"]["Metric"]["Dimensions"]
                .as_array()
                .into_iter()
                .flatten(),
        );
    }
    dims.into_iter()
        .filter(|d| d["Name"] == name)
        .map(|d| d["Value"].as_str().unwrap().to_owned())
        .collect()
}

fn alarms(emulator: &Emulator, prefix: &str) -> Vec<Value> {
    emulator
        .aws_cli(&[
            "cloudwatch",
            "describe-alarms",
            "--alarm-name-prefix",
            prefix,
        ])
        .unwrap()["MetricAlarms"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn plan_and_apply_resolve_alb_names_to_their_cloudwatch_dimensions() {
    let emulator = Emulator::start().unwrap();
    let (lb_arn, tg_arn) = create_alb(&emulator, "aistudio-dev-alb", "aistudio-dev-frontend-tg");
    let lb_dim = lb_arn.split("loadbalancer/").nth(1).unwrap().to_owned();
    let tg_dim = format!(
        "targetgroup/{}",
        tg_arn.split("targetgroup/").nth(1).unwrap()
    );
    assert!(lb_dim.starts_with("app/aistudio-dev-alb/"), "{lb_dim}");

    // Plan with the default names: both looked up and printed.
    let out = provision(&emulator, &["plan", "--env", "dev"]);
    let plan = text(&out);
    assert!(out.status.success(), "{plan}");
    assert!(
        plan.contains(&format!(
            "${{LoadBalancer}}: `aistudio-dev-alb` is {lb_dim}"
        )),
        "{plan}"
    );
    assert!(
        plan.contains(&format!(
            "${{TargetGroup}}: `aistudio-dev-frontend-tg` is {tg_dim}"
        )),
        "{plan}"
    );

    // Apply: every ALB alarm watches the resolved values, read back with the AWS CLI.
    let out = provision(&emulator, &["apply", "--env", "dev"]);
    assert!(out.status.success(), "{}", text(&out));
    let written = alarms(&emulator, "aistudio-dev-");
    let lb_values: Vec<String> = written
        .iter()
        .flat_map(|a| dimension_values(a, "LoadBalancer"))
        .collect();
    let tg_values: Vec<String> = written
        .iter()
        .flat_map(|a| dimension_values(a, "TargetGroup"))
        .collect();
    assert!(lb_values.len() >= 4, "ALB alarms found: {lb_values:?}");
    assert!(!tg_values.is_empty());
    assert!(lb_values.iter().all(|v| *v == lb_dim), "{lb_values:?}");
    assert!(tg_values.iter().all(|v| *v == tg_dim), "{tg_values:?}");
}

#[test]
fn an_unresolvable_name_is_an_error_and_nothing_is_written() {
    let emulator = Emulator::start().unwrap();
    let out = provision(
        &emulator,
        &[
            "apply",
            "--env",
            "staging",
            "--load-balancer",
            "no-such-alb",
        ],
    );
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("no load balancer named `no-such-alb` in us-east-1"),
        "{said}"
    );
    assert!(said.contains("--load-balancer"), "{said}");
    assert!(
        alarms(&emulator, "aistudio-staging-").is_empty(),
        "apply wrote alarms"
    );

    // A target group behind another load balancer would draw an empty HealthyHostCount.
    create_alb(
        &emulator,
        "aistudio-staging-alb",
        "aistudio-staging-frontend-tg",
    );
    create_alb(&emulator, "other-alb", "other-tg");
    let out = provision(
        &emulator,
        &["plan", "--env", "staging", "--target-group", "other-tg"],
    );
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains(
            "target group `other-tg` is not attached to load balancer `aistudio-staging-alb`"
        ),
        "{said}"
    );
}

#[test]
fn values_already_in_cloudwatch_form_are_used_as_given_and_render_warns_about_names() {
    let emulator = Emulator::start().unwrap();
    let lb = "app/given-alb/50dc6c495c0c9188";
    let tg = "targetgroup/given-tg/73e2d6bc24d8a067";
    // No load balancer exists in the emulator: nothing is looked up for values in that form.
    let out = provision(
        &emulator,
        &[
            "apply",
            "--env",
            "prod",
            "--load-balancer",
            lb,
            "--target-group",
            tg,
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let written = alarms(&emulator, "aistudio-prod-");
    let values: Vec<String> = written
        .iter()
        .flat_map(|a| dimension_values(a, "LoadBalancer"))
        .collect();
    assert!(
        !values.is_empty() && values.iter().all(|v| v == lb),
        "{values:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(sidecar_binary())
        .args(["provision", "render", "--env", "prod", "--out"])
        .arg(dir.path())
        .arg("--dir")
        .arg(repo_root())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "warning: ${LoadBalancer} = `aistudio-prod-alb` is a name, not the app/NAME/ID value"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("warning: ${TargetGroup} = `aistudio-prod-frontend-tg`"),
        "{stderr}"
    );
    let out = Command::new(sidecar_binary())
        .args([
            "provision",
            "render",
            "--env",
            "prod",
            "--load-balancer",
            lb,
            "--target-group",
            tg,
            "--out",
        ])
        .arg(dir.path())
        .arg("--dir")
        .arg(repo_root())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("warning"),
        "{}",
        text(&out)
    );
}

/// Without credentials, plan says so in one readable line: the cause's own words, no Debug
/// dump of the SDK error, nothing masked that explains the failure.
#[test]
fn a_call_without_credentials_fails_with_one_readable_line() {
    let out = Command::new(sidecar_binary())
        .args(["provision", "plan", "--env", "dev", "--dir"])
        .arg(repo_root())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", "/nonexistent")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        // Nothing listens here: if credentials were found, the call would fail fast too.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    let line = lines[0];
    assert!(
        line.starts_with(
            "aistudio-sidecar: error: cannot look up load balancer `aistudio-dev-alb`"
        ),
        "{line}"
    );
    assert!(line.contains("credentials"), "the cause is named: {line}");
    for dump in [
        "ErrorMetadata",
        "Extensions",
        "SdkBody",
        "ServiceError(",
        "DispatchFailure(",
        "[REDACTED",
    ] {
        assert!(!line.contains(dump), "`{dump}` in {line}");
    }
    assert!(line.len() < 600, "{} chars: {line}", line.len());
}
