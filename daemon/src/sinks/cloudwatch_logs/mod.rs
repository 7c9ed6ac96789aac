//! The CloudWatch Logs sink: config, batch (request builder), service calls and the sink task,
//! one file each; errors are classified and retried by `aistudio_core::aws`.

mod batch;
mod config;
mod service;
mod sink;

pub use config::CloudWatchLogsSinkConfig;
pub use service::StreamTarget;
pub use sink::{CloudWatchLogsSink, HoldNotice};

/// How long to wait for the ECS task metadata endpoint before falling back to the hostname.
const ECS_METADATA_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The default stream name: the ECS task ID from the task metadata endpoint (v4) when the
/// sidecar runs on ECS, else the hostname.
pub async fn default_stream_name() -> String {
    if let Ok(base) = std::env::var("ECS_CONTAINER_METADATA_URI_V4") {
        match ecs_task_id(&base).await {
            Some(id) => return id,
            None => tracing::warn!(
                "cannot read the ECS task ID from the task metadata endpoint; using the hostname"
            ),
        }
    }
    hostname()
}

async fn ecs_task_id(base: &str) -> Option<String> {
    let client = reqwest::Client::builder()
        .timeout(ECS_METADATA_TIMEOUT)
        .build()
        .ok()?;
    let task: serde_json::Value = client
        .get(format!("{base}/task"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    task_id_from_arn(task.get("TaskARN")?.as_str()?)
}

/// `arn:aws:ecs:region:account:task/cluster/TASKID` → `TASKID`.
pub fn task_id_from_arn(arn: &str) -> Option<String> {
    let id = arn.rsplit('/').next()?;
    (!id.is_empty() && !id.contains(':')).then(|| id.to_owned())
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().replace([':', '*'], "-"))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "aistudio-sidecar".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_id_is_the_last_arn_segment() {
        assert_eq!(
            task_id_from_arn("arn:aws:ecs:us-east-1:123456789012:task/aistudio-prod/0a1b2c3d4e")
                .as_deref(),
            Some("0a1b2c3d4e")
        );
        assert_eq!(task_id_from_arn("arn:aws:ecs:us-east-1:1:task/"), None);
    }
}
