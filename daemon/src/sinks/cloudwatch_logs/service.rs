//! The CloudWatch Logs calls: make sure the group and stream exist, send one batch.

use aistudio_core::aws::{describe, CallError, ErrorClass, Service};
use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata;
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use aws_sdk_cloudwatchlogs::Client;

use super::batch::LogBatch;
use crate::telemetry::{RejectReason, SidecarEvent, Telemetry};

/// Where a sink writes.
#[derive(Debug, Clone)]
pub struct StreamTarget {
    /// Log group name.
    pub group: String,
    /// Log stream name.
    pub stream: String,
    /// Retention applied when this sidecar creates the group.
    pub retention_days: i32,
    /// May this sidecar create the group?
    pub create_group: bool,
}

/// Creates the stream, and the group first if it is missing and we may. A group made by
/// infrastructure is used as it is: no CreateLogGroup call, no retention change.
pub async fn ensure_stream(client: &Client, target: &StreamTarget) -> Result<(), CallError> {
    match create_stream(client, target).await {
        Ok(()) => return Ok(()),
        Err(err) if err.class != ErrorClass::Recreate => return Err(err),
        Err(_) => {}
    }
    if !target.create_group {
        return Err(CallError {
            class: ErrorClass::Retry,
            message: format!(
                "log group {} does not exist and create_log_group is off; create it or turn the option on",
                target.group
            ),
            retry_after: None,
        });
    }
    match client
        .create_log_group()
        .log_group_name(&target.group)
        .send()
        .await
    {
        Ok(_) => {
            tracing::info!(group = %target.group, "created log group");
            if let Err(err) = client
                .put_retention_policy()
                .log_group_name(&target.group)
                .retention_in_days(target.retention_days)
                .send()
                .await
            {
                tracing::warn!(group = %target.group, error = %describe(&err), "cannot set retention on the new log group");
            }
        }
        Err(err) if err.code() == Some("ResourceAlreadyExistsException") => {}
        Err(err) => {
            let mut err = CallError::from_sdk(
                Service::Logs,
                &format!("cannot create log group {}", target.group),
                &err,
            );
            if err.class == ErrorClass::Recreate {
                err.class = ErrorClass::Permanent;
            }
            return Err(err);
        }
    }
    create_stream(client, target).await
}

async fn create_stream(client: &Client, target: &StreamTarget) -> Result<(), CallError> {
    match client
        .create_log_stream()
        .log_group_name(&target.group)
        .log_stream_name(&target.stream)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(err) if err.code() == Some("ResourceAlreadyExistsException") => Ok(()),
        Err(err) => Err(CallError::from_sdk(
            Service::Logs,
            &format!(
                "cannot create log stream {} in {}",
                target.stream, target.group
            ),
            &err,
        )),
    }
}

/// Sends one batch; on success counts what CloudWatch refused inside it
/// (`rejectedLogEventsInfo`) — those are final, never sent again.
pub async fn put_batch(
    client: &Client,
    target: &StreamTarget,
    batch: &LogBatch,
    telemetry: &Telemetry,
) -> Result<(), CallError> {
    let events: Vec<InputLogEvent> = batch
        .events
        .iter()
        .filter_map(|(ts, message)| {
            InputLogEvent::builder()
                .timestamp(*ts)
                .message(message.clone())
                .build()
                .ok()
        })
        .collect();
    telemetry.emit(SidecarEvent::RequestSent);
    let output = client
        .put_log_events()
        .log_group_name(&target.group)
        .log_stream_name(&target.stream)
        .set_log_events(Some(events))
        .send()
        .await;
    let total = batch.events.len();
    let output = match output {
        Ok(output) => output,
        Err(err) => {
            let err = CallError::from_sdk(
                Service::Logs,
                &format!("PutLogEvents to {}/{} failed", target.group, target.stream),
                &err,
            );
            if err.class != ErrorClass::AlreadyApplied {
                return Err(err);
            }
            // An earlier attempt of this batch landed and its answer was lost: delivered.
            tracing::info!(events = total, group = %target.group, "CloudWatch Logs already had this batch; counted as delivered");
            telemetry.emit(SidecarEvent::EventsShipped(total as u64));
            telemetry.emit(SidecarEvent::BytesShipped(batch.bytes as u64));
            return Ok(());
        }
    };
    let mut rejected = 0;
    if let Some(info) = output.rejected_log_events_info() {
        let clamp = |index: Option<i32>| index.map(|i| usize::try_from(i).unwrap_or(0).min(total));
        // Indices as documented: events before tooOldLogEventEndIndex / expiredLogEventEndIndex,
        // and from tooNewLogEventStartIndex on, were refused.
        let too_old = clamp(info.too_old_log_event_end_index()).unwrap_or(0);
        let expired = clamp(info.expired_log_event_end_index()).unwrap_or(0);
        let too_new = clamp(info.too_new_log_event_start_index()).map_or(0, |start| total - start);
        let old_only = too_old.saturating_sub(expired);
        for (reason, count) in [
            (RejectReason::Expired, expired),
            (RejectReason::TooOld, old_only),
            (RejectReason::TooNew, too_new),
        ] {
            if count > 0 {
                rejected += count;
                telemetry.emit(SidecarEvent::EventsRejected(reason, count as u64));
                tracing::warn!(?reason, count, group = %target.group, "cloudwatch refused events outside its time window");
            }
        }
    }
    // Refused events are final (counted above), not shipped, and never sent again.
    telemetry.emit(SidecarEvent::EventsShipped(
        total.saturating_sub(rejected) as u64
    ));
    telemetry.emit(SidecarEvent::BytesShipped(batch.bytes as u64));
    Ok(())
}
