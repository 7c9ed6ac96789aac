//! The `${...}` placeholders of the definitions and their per-environment defaults.

use aistudio_core::limits::DEFAULT_RETENTION_DAYS;

/// Stands for the AWS account id until it is known; the same spelling as CloudFormation's
/// pseudo parameter, so rendered payloads can go through `Fn::Sub` unchanged.
pub const ACCOUNT_PLACEHOLDER: &str = "${AWS::AccountId}";

/// Values of the `${...}` placeholders in the definitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholders {
    /// `${Environment}`: dev, staging or prod.
    pub environment: String,
    /// `${Region}`: the AWS region of the dashboards' widgets and the alarms.
    pub region: String,
    /// `${ClusterName}`: the ECS cluster.
    pub cluster_name: String,
    /// `${ServiceName}`: the ECS service.
    pub service_name: String,
    /// `${LoadBalancer}`: the ALB dimension value (`app/NAME/ID` on AWS); a bare name until
    /// plan/apply look it up (`resources`).
    pub load_balancer: String,
    /// `${TargetGroup}`: the target group dimension value (`targetgroup/NAME/ID` on AWS); a bare
    /// name until plan/apply look it up.
    pub target_group: String,
    /// `${DbClusterId}`: the Aurora cluster identifier.
    pub db_cluster_id: String,
    /// `${LogGroupName}`: the log group the sidecar ships to.
    pub log_group_name: String,
    /// `${SidecarLogGroupName}`: the sidecar's own log group (its container's `awslogs`
    /// group), whose retention `provision` sets.
    pub sidecar_log_group_name: String,
    /// Days the sidecar's own log group keeps events (not a placeholder; set with it).
    pub sidecar_log_retention_days: i32,
}

/// The placeholder names, in the order of [`Placeholders`]' fields.
pub const PLACEHOLDER_NAMES: [&str; 9] = [
    "Environment",
    "Region",
    "ClusterName",
    "ServiceName",
    "LoadBalancer",
    "TargetGroup",
    "DbClusterId",
    "LogGroupName",
    "SidecarLogGroupName",
];

impl Placeholders {
    /// The names the seeds use for an environment (`aistudio-{env}-cluster`, ...).
    pub fn defaults(env: &str, region: &str) -> Self {
        Self {
            environment: env.to_owned(),
            region: region.to_owned(),
            cluster_name: format!("aistudio-{env}-cluster"),
            service_name: format!("aistudio-{env}-frontend"),
            load_balancer: format!("aistudio-{env}-alb"),
            target_group: format!("aistudio-{env}-frontend-tg"),
            db_cluster_id: format!("aistudio-{env}-db"),
            log_group_name: format!("/aws/ecs/aistudio-{env}-frontend"),
            sidecar_log_group_name: format!("/aws/ecs/aistudio-{env}-sidecar"),
            sidecar_log_retention_days: DEFAULT_RETENTION_DAYS,
        }
    }

    fn value(&self, name: &str) -> Option<&str> {
        Some(match name {
            "Environment" => &self.environment,
            "Region" => &self.region,
            "ClusterName" => &self.cluster_name,
            "ServiceName" => &self.service_name,
            "LoadBalancer" => &self.load_balancer,
            "TargetGroup" => &self.target_group,
            "DbClusterId" => &self.db_cluster_id,
            "LogGroupName" => &self.log_group_name,
            "SidecarLogGroupName" => &self.sidecar_log_group_name,
            _ => return None,
        })
    }

    /// Replaces every `${Name}`; `${AWS::AccountId}` stays. Unknown names are an error.
    pub fn substitute(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(format!(
                    "unterminated placeholder in `{text}`; close it with `}}`"
                ));
            };
            let name = &after[..end];
            if name == "AWS::AccountId" {
                out.push_str(ACCOUNT_PLACEHOLDER);
            } else if let Some(value) = self.value(name) {
                out.push_str(value);
            } else {
                return Err(format!(
                    "unknown placeholder `${{{name}}}`; use one of {}",
                    PLACEHOLDER_NAMES.map(|n| format!("${{{n}}}")).join(" ")
                ));
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}
