//! AWS resource dimensions looked up instead of guessed: the load balancer and target group
//! names become the `app/NAME/ID` and `targetgroup/NAME/ID` values CloudWatch files their
//! metrics under.
//!
//! A bare name in `LoadBalancer` matches no series, and with `notBreaching` the ALB alarms
//! would stay OK forever; so `plan` and `apply` resolve names through Elastic Load Balancing
//! (read-only Describe calls), keep values already in CloudWatch's form, and stop with an
//! error when a name resolves to nothing. `render` (offline) cannot look anything up and warns.

use aws_sdk_elasticloadbalancingv2::error::ProvideErrorMetadata;
use aws_sdk_elasticloadbalancingv2::Client as ElbClient;

use super::dimension_sets::{has_value_form, value_form};
use super::placeholders::Placeholders;
use aistudio_core::aws::errors::describe;

/// One placeholder value that was looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The placeholder (`LoadBalancer`, `TargetGroup`).
    pub placeholder: &'static str,
    /// The name it was given.
    pub name: String,
    /// The dimension value found.
    pub value: String,
}

/// Why a resource dimension could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// No resource has that name in the region.
    #[error("no {kind} named `{name}` in {region}: the alarms and widgets on ${{{placeholder}}} would watch nothing; pass --{flag} with the right name or its {form} dimension value")]
    NotFound {
        /// "load balancer" or "target group".
        kind: &'static str,
        /// The name looked up.
        name: String,
        /// The region searched.
        region: String,
        /// The placeholder.
        placeholder: &'static str,
        /// The command-line flag that sets it.
        flag: &'static str,
        /// CloudWatch's form of the value.
        form: &'static str,
    },
    /// The target group does not route for the load balancer: HealthyHostCount for the pair
    /// would have no data.
    #[error("target group `{target_group}` is not attached to load balancer `{load_balancer}`, so their HealthyHostCount series does not exist; pass the target group the service registers with")]
    NotAttached {
        /// The target group's name.
        target_group: String,
        /// The load balancer's name.
        load_balancer: String,
    },
    /// The Describe call failed.
    #[error("cannot look up {kind} `{name}` ({operation}): {message}; check the credentials, the region and that the provisioning role may call {operation}")]
    Call {
        /// "load balancer" or "target group".
        kind: &'static str,
        /// The name looked up.
        name: String,
        /// The API operation.
        operation: &'static str,
        /// What the SDK said (code and message, never a payload).
        message: String,
    },
    /// The answer had no ARN in the documented form.
    #[error("Elastic Load Balancing answered for {kind} `{name}` without an ARN of the form …:{prefix}NAME/ID; report this")]
    Malformed {
        /// "load balancer" or "target group".
        kind: &'static str,
        /// The name looked up.
        name: String,
        /// The ARN resource prefix expected.
        prefix: &'static str,
    },
}

/// The dimension value in an ELB ARN: what follows `loadbalancer/` (`app/NAME/ID`) or the
/// `targetgroup/NAME/ID` resource itself.
fn dimension_from_arn(arn: &str, marker: &str, keep_marker: bool) -> Option<String> {
    let at = arn.find(marker)?;
    let value = if keep_marker {
        &arn[at..]
    } else {
        &arn[at + marker.len()..]
    };
    Some(value.to_owned())
}

/// Resolves `LoadBalancer` and `TargetGroup` in place; values already in CloudWatch's form
/// are kept (and not looked up). Returns what was looked up, for the plan's header.
pub async fn resolve(
    elb: &ElbClient,
    ph: &mut Placeholders,
) -> Result<Vec<Resolved>, ResolveError> {
    let mut resolved = Vec::new();
    let mut lb_arn = None;
    if !has_value_form("LoadBalancer", &ph.load_balancer) {
        let name = ph.load_balancer.clone();
        let out = elb
            .describe_load_balancers()
            .names(&name)
            .send()
            .await
            .map_err(|err| match err.as_service_error().and_then(|e| e.code()) {
                Some("LoadBalancerNotFound") => {
                    not_found("load balancer", &name, ph, "LoadBalancer", "load-balancer")
                }
                _ => ResolveError::Call {
                    kind: "load balancer",
                    name: name.clone(),
                    operation: "DescribeLoadBalancers",
                    message: describe(&err),
                },
            })?;
        let arn = out
            .load_balancers()
            .iter()
            .find(|lb| lb.load_balancer_name() == Some(name.as_str()))
            .and_then(|lb| lb.load_balancer_arn())
            .ok_or_else(|| not_found("load balancer", &name, ph, "LoadBalancer", "load-balancer"))?
            .to_owned();
        let value = dimension_from_arn(&arn, "loadbalancer/", false)
            .filter(|v| has_value_form("LoadBalancer", v))
            .ok_or_else(|| ResolveError::Malformed {
                kind: "load balancer",
                name: name.clone(),
                prefix: "loadbalancer/app/",
            })?;
        ph.load_balancer.clone_from(&value);
        lb_arn = Some((name.clone(), arn));
        resolved.push(Resolved {
            placeholder: "LoadBalancer",
            name,
            value,
        });
    }
    if !has_value_form("TargetGroup", &ph.target_group) {
        let name = ph.target_group.clone();
        let out = elb
            .describe_target_groups()
            .names(&name)
            .send()
            .await
            .map_err(|err| match err.as_service_error().and_then(|e| e.code()) {
                Some("TargetGroupNotFound") => {
                    not_found("target group", &name, ph, "TargetGroup", "target-group")
                }
                _ => ResolveError::Call {
                    kind: "target group",
                    name: name.clone(),
                    operation: "DescribeTargetGroups",
                    message: describe(&err),
                },
            })?;
        let group = out
            .target_groups()
            .iter()
            .find(|tg| tg.target_group_name() == Some(name.as_str()))
            .ok_or_else(|| not_found("target group", &name, ph, "TargetGroup", "target-group"))?;
        if let Some((lb_name, arn)) = &lb_arn {
            if !group.load_balancer_arns().iter().any(|a| a == arn) {
                return Err(ResolveError::NotAttached {
                    target_group: name,
                    load_balancer: lb_name.clone(),
                });
            }
        }
        let value = group
            .target_group_arn()
            .and_then(|arn| dimension_from_arn(arn, "targetgroup/", true))
            .filter(|v| has_value_form("TargetGroup", v))
            .ok_or_else(|| ResolveError::Malformed {
                kind: "target group",
                name: name.clone(),
                prefix: "targetgroup/",
            })?;
        ph.target_group.clone_from(&value);
        resolved.push(Resolved {
            placeholder: "TargetGroup",
            name,
            value,
        });
    }
    Ok(resolved)
}

fn not_found(
    kind: &'static str,
    name: &str,
    ph: &Placeholders,
    placeholder: &'static str,
    flag: &'static str,
) -> ResolveError {
    ResolveError::NotFound {
        kind,
        name: name.to_owned(),
        region: ph.region.clone(),
        placeholder,
        flag,
        form: value_form(placeholder).unwrap_or("CloudWatch"),
    }
}

/// For offline rendering, which cannot look names up: one line per placeholder whose value is
/// not in CloudWatch's form, saying what would watch nothing and how to fix it.
pub fn offline_warnings(ph: &Placeholders) -> Vec<String> {
    [
        ("LoadBalancer", &ph.load_balancer, "load-balancer"),
        ("TargetGroup", &ph.target_group, "target-group"),
    ]
    .into_iter()
    .filter(|(dim, value, _)| !has_value_form(dim, value))
    .map(|(dim, value, flag)| {
        format!(
            "warning: ${{{dim}}} = `{value}` is a name, not the {} value CloudWatch files \
             metrics under: the rendered alarms and widgets on it watch a series that does not \
             exist; pass --{flag} with the {} value, or use plan/apply, which look the name up",
            value_form(dim).unwrap_or_default(),
            value_form(dim).unwrap_or_default(),
        )
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimension_values_come_from_the_arns() {
        let lb = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/my-alb/50dc6c495c0c9188";
        assert_eq!(
            dimension_from_arn(lb, "loadbalancer/", false).as_deref(),
            Some("app/my-alb/50dc6c495c0c9188")
        );
        let tg = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/my-tg/73e2d6bc24d8a067";
        assert_eq!(
            dimension_from_arn(tg, "targetgroup/", true).as_deref(),
            Some("targetgroup/my-tg/73e2d6bc24d8a067")
        );
    }

    #[test]
    fn offline_rendering_warns_about_bare_names_only() {
        let mut ph = Placeholders::defaults("prod", "us-east-1");
        let warnings = offline_warnings(&ph);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("`aistudio-prod-alb`") && warnings[0].contains("app/NAME/ID"));
        ph.load_balancer = "app/aistudio-prod-alb/50dc6c495c0c9188".into();
        ph.target_group = "targetgroup/aistudio-prod-frontend-tg/73e2d6bc24d8a067".into();
        assert!(offline_warnings(&ph).is_empty());
    }
}
