//! Dashboards, alarms and SNS topics as code: `provision validate | plan | apply | render`.
//!
//! Definitions live in `dashboards/*.json` and `alarms/*.toml` (see `provision/README.md`);
//! they are loaded ([`definitions`]), checked offline ([`validate`], [`dashboard`], [`expr`]),
//! rendered per environment into API payloads ([`render`]), compared with what CloudWatch and
//! SNS hold ([`live`], [`plan`]) and written ([`apply`]).

mod alarm_rules;
mod apply;
mod chatbot;
mod dashboard;
pub mod definitions;
mod dimension_sets;
mod expr;
mod live;
pub mod payload;
mod placeholders;
mod plan;
pub mod render;
pub mod report;
mod resources;
mod slack;
mod topic_rules;
pub mod validate;

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};

pub use aistudio_core::aws::{AwsClients, AwsConfig};
use render::Placeholders;
use report::{ApplyReport, Plan, Problem};
pub use resources::{ResolveError, Resolved};

/// Region used when neither `--region`, the config, `AWS_REGION` nor the SDK chain gives one
/// (the seeds' `AWS_REGION`).
pub const FALLBACK_REGION: &str = "us-east-1";

/// Arguments of `aistudio-sidecar provision`.
#[derive(Debug, Args)]
pub struct ProvisionArgs {
    /// What to do (boxed: the verbs carry many placeholder options).
    #[command(subcommand)]
    pub command: Box<ProvisionCommand>,
}

/// The provisioning verbs.
#[derive(Debug, Subcommand)]
pub enum ProvisionCommand {
    /// Check every definition offline and report each problem with file and path.
    Validate {
        /// Definitions root holding `dashboards/` and `alarms/`.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Show what apply would create, update or delete, by reading the live state.
    Plan {
        /// Environment and placeholders.
        #[command(flatten)]
        target: TargetArgs,
        /// Plan deletions of managed resources that are no longer defined.
        #[arg(long)]
        prune: bool,
    },
    /// Make CloudWatch and SNS match the definitions; a second run writes nothing.
    Apply {
        /// Environment and placeholders.
        #[command(flatten)]
        target: TargetArgs,
        /// Delete managed resources (name prefix and tag) that are no longer defined.
        #[arg(long)]
        prune: bool,
    },
    /// Write the exact API payloads to a directory, without calling AWS.
    Render {
        /// Environment and placeholders.
        #[command(flatten)]
        target: TargetArgs,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// AWS account id for topic ARNs and policies; without it `${AWS::AccountId}` stays.
        #[arg(long)]
        account_id: Option<String>,
    },
}

/// Which environment, where the definitions are, and the placeholder values.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// Environment.
    #[arg(long, value_parser = ["dev", "staging", "prod"])]
    pub env: String,
    /// Definitions root holding `dashboards/` and `alarms/`.
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// `${Region}`; default: the config / AWS_REGION / SDK region, else us-east-1.
    #[arg(long)]
    pub region: Option<String>,
    /// `${ClusterName}`; default `aistudio-{env}-cluster`.
    #[arg(long)]
    pub cluster_name: Option<String>,
    /// `${ServiceName}`; default `aistudio-{env}-frontend`.
    #[arg(long)]
    pub service_name: Option<String>,
    /// `${LoadBalancer}`: the ALB's name, which plan and apply look up to get its `app/NAME/ID`
    /// dimension value, or that value itself; default: the name `aistudio-{env}-alb`.
    #[arg(long)]
    pub load_balancer: Option<String>,
    /// `${TargetGroup}`: the target group's name (looked up like the load balancer's) or its
    /// `targetgroup/NAME/ID` value; default: the name `aistudio-{env}-frontend-tg`.
    #[arg(long)]
    pub target_group: Option<String>,
    /// `${DbClusterId}`; default `aistudio-{env}-db`.
    #[arg(long)]
    pub db_cluster_id: Option<String>,
    /// `${LogGroupName}`; default `/aws/ecs/aistudio-{env}-frontend`.
    #[arg(long)]
    pub log_group_name: Option<String>,
    /// `${SidecarLogGroupName}`: the sidecar's own log group (its container's `awslogs`
    /// group), which provisioning creates when missing and whose retention it sets; default
    /// `/aws/ecs/aistudio-{env}-sidecar`.
    #[arg(long)]
    pub sidecar_log_group: Option<String>,
    /// Days the sidecar's own log group keeps events (a value CloudWatch Logs accepts);
    /// default 30, like the application's.
    #[arg(long)]
    pub sidecar_log_retention_days: Option<i32>,
}

impl TargetArgs {
    /// The placeholder values, defaults filled in for the environment.
    pub fn placeholders(&self, region: &str) -> Placeholders {
        let mut ph = Placeholders::defaults(&self.env, region);
        let set = |slot: &mut String, value: &Option<String>| {
            if let Some(v) = value {
                slot.clone_from(v);
            }
        };
        set(&mut ph.cluster_name, &self.cluster_name);
        set(&mut ph.service_name, &self.service_name);
        set(&mut ph.load_balancer, &self.load_balancer);
        set(&mut ph.target_group, &self.target_group);
        set(&mut ph.db_cluster_id, &self.db_cluster_id);
        set(&mut ph.log_group_name, &self.log_group_name);
        set(&mut ph.sidecar_log_group_name, &self.sidecar_log_group);
        if let Some(days) = self.sidecar_log_retention_days {
            ph.sidecar_log_retention_days = days;
        }
        ph
    }
}

/// Why provisioning stopped.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// The definitions could not be listed.
    #[error(transparent)]
    Load(#[from] definitions::LoadError),
    /// The definitions have problems; nothing was read or written.
    #[error("the definitions have {} problem(s); run `aistudio-sidecar provision validate` and fix them:\n{}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Problem>),
    /// A resource dimension (load balancer, target group) could not be looked up.
    #[error(transparent)]
    Resolve(#[from] resources::ResolveError),
    /// Reading the live state failed.
    #[error("cannot read the live state ({operation} {resource}): {message}; check the credentials, the region and the endpoint")]
    Read {
        /// The API operation.
        operation: &'static str,
        /// The resource.
        resource: String,
        /// What the SDK said.
        message: String,
    },
}

/// Loads, validates and renders the definitions for `ph.environment`.
pub fn load_rendered(dir: &Path, ph: &Placeholders) -> Result<render::Rendered, ProvisionError> {
    let (defs, mut problems) = definitions::load(dir)?;
    problems.extend(validate::check(&defs));
    if !problems.is_empty() {
        problems.sort();
        problems.dedup();
        return Err(ProvisionError::Invalid(problems));
    }
    render::render(&defs, ph).map_err(ProvisionError::Invalid)
}

/// Looks the load balancer and target group names up (read-only Elastic Load Balancing
/// calls) and puts their CloudWatch dimension values in `ph`; values already in that form
/// are kept. Plan and apply from the command line call this first.
pub async fn resolve_resources(
    aws: &AwsClients,
    ph: &mut Placeholders,
) -> Result<Vec<Resolved>, ProvisionError> {
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&aws.sdk);
    Ok(resources::resolve(&elb, ph).await?)
}

/// Renders, reads the live state and computes the plan.
pub async fn plan(
    aws: &AwsClients,
    dir: &Path,
    ph: &Placeholders,
    prune: bool,
) -> Result<Plan, ProvisionError> {
    let desired = load_rendered(dir, ph)?;
    let live = live::read(aws, &desired).await?;
    Ok(plan::diff(&desired, &live, prune))
}

/// Renders, reads the live state and makes it match; failures are in the report.
pub async fn apply(
    aws: &AwsClients,
    dir: &Path,
    ph: &Placeholders,
    prune: bool,
) -> Result<ApplyReport, ProvisionError> {
    let desired = load_rendered(dir, ph)?;
    apply::apply(aws, &desired, prune).await
}

/// Runs a provisioning verb (the command-line edge: errors become messages here).
///
/// `aws` is the sidecar's `[aws]` section with the environment applied (`AWS_REGION`,
/// `AWS_ENDPOINT_URL`); a `--region` flag wins over it.
pub async fn execute(args: ProvisionArgs, aws: AwsConfig) -> anyhow::Result<()> {
    match *args.command {
        ProvisionCommand::Validate { dir } => {
            let problems = validate::validate_dir(&dir)?;
            if problems.is_empty() {
                println!("{}: definitions are valid", dir.display());
                return Ok(());
            }
            for p in &problems {
                println!("{p}");
            }
            anyhow::bail!(
                "{} problem(s) in the definitions under {}; fix them and run validate again",
                problems.len(),
                dir.display()
            )
        }
        ProvisionCommand::Render {
            target,
            out,
            account_id,
        } => {
            let region = target
                .region
                .clone()
                .or(aws.region)
                .unwrap_or_else(|| FALLBACK_REGION.to_owned());
            let ph = target.placeholders(&region);
            for warning in resources::offline_warnings(&ph) {
                eprintln!("{warning}");
            }
            let mut rendered = load_rendered(&target.dir, &ph)?;
            if let Some(account) = &account_id {
                rendered = rendered.with_account(account);
            }
            let written = rendered.write_to(&out).with_context(|| {
                format!(
                    "cannot write the payloads to {}; check the directory",
                    out.display()
                )
            })?;
            // slack: the Chatbot channel configuration, when the environment names one.
            let chatbot = chatbot::write_chatbot_request(
                &target.dir,
                &target.env,
                &region,
                account_id.as_deref(),
                &out,
            )
            .with_context(|| format!("cannot write the Chatbot request to {}", out.display()))?;
            println!(
                "rendered {} payload(s) for {} into {}",
                written.len() + chatbot,
                target.env,
                out.display()
            );
            Ok(())
        }
        ProvisionCommand::Plan { target, prune } => {
            let chatbot_aws = aws.clone();
            let (aws, ph) = connect(&target, aws).await?;
            let plan = plan(&aws, &target.dir, &ph, prune).await?;
            println!("plan for {} in {}:\n{plan}", target.env, ph.region);
            // slack: the Chatbot channel configuration, when the environment names one.
            if let Some(lines) = chatbot::sync(&aws, &chatbot_aws, &target.dir, &ph, false)
                .await
                .map_err(anyhow::Error::msg)?
            {
                println!("{lines}");
            }
            Ok(())
        }
        ProvisionCommand::Apply { target, prune } => {
            let chatbot_aws = aws.clone();
            let (aws, ph) = connect(&target, aws).await?;
            let report = apply(&aws, &target.dir, &ph, prune).await?;
            println!("apply for {} in {}:\n{report}", target.env, ph.region);
            // slack: the Chatbot channel configuration, once the topics exist.
            if let Some(lines) = chatbot::sync(&aws, &chatbot_aws, &target.dir, &ph, true)
                .await
                .map_err(|e| anyhow::anyhow!("{e}; fix the cause and run apply again"))?
            {
                println!("{lines}");
            }
            if report.is_success() {
                Ok(())
            } else {
                anyhow::bail!(
                    "{} write(s) failed; see the report above, fix the cause and run apply again",
                    report.failures().count()
                )
            }
        }
    }
}

async fn connect(
    target: &TargetArgs,
    mut config: AwsConfig,
) -> anyhow::Result<(AwsClients, Placeholders)> {
    if let Some(region) = &target.region {
        config.region = Some(region.clone());
    }
    let aws = AwsClients::from_config(&config).await;
    let region = config
        .region
        .clone()
        .or_else(|| aws.cloudwatch.config().region().map(ToString::to_string))
        .unwrap_or_else(|| FALLBACK_REGION.to_owned());
    let mut ph = target.placeholders(&region);
    for r in resolve_resources(&aws, &mut ph).await? {
        println!("${{{}}}: `{}` is {}", r.placeholder, r.name, r.value);
    }
    Ok((aws, ph))
}
