//! Sends one PutMetricData request until CloudWatch accepts it, refuses it for good, or the
//! shutdown deadline passes, through the shared retry loop like the log sink.

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit, StatisticSet};
use tokio_util::sync::CancellationToken;

use aistudio_core::aws::{retry_until, AwsClients, CallError, GiveUp, Service};
use aistudio_core::backoff::Backoff;
use aistudio_core::clock::now_ms;

use crate::datum::{in_window, Datum, DatumValue, RejectKind};
use crate::telemetry::prometheus::StageCounters;

/// Requests at least this large are sent gzip-compressed (`Content-Encoding: gzip`): the SDK
/// compresses PutMetricData, the one CloudWatch operation with the `requestCompression`
/// trait, above this size (its own default is 10,240 bytes; datum payloads repeat names and
/// compress well, and a 1 KiB body gains little from compression).
pub const MIN_COMPRESSION_BYTES: u32 = 1_024;

/// A configured metrics sink.
#[derive(Debug, Clone)]
pub struct CloudWatchMetricsSink {
    /// Client with SDK retries off (this sink retries) and request compression on.
    pub client: aws_sdk_cloudwatch::Client,
    /// Namespace of every datum.
    pub namespace: String,
    /// Counters.
    pub counters: StageCounters,
}

/// The SDK shape of a datum.
pub fn to_sdk(datum: &Datum) -> MetricDatum {
    let dimensions = datum
        .dimensions
        .iter()
        .map(|(name, value)| Dimension::builder().name(&**name).value(value).build())
        .collect();
    let builder = MetricDatum::builder()
        .metric_name(&*datum.metric)
        .set_dimensions(Some(dimensions))
        .timestamp(DateTime::from_millis(datum.timestamp_ms))
        .unit(StandardUnit::from(datum.unit.as_str()))
        .storage_resolution(datum.storage_resolution);
    match &datum.value {
        DatumValue::Stats {
            count,
            sum,
            min,
            max,
        } => builder.statistic_values(
            StatisticSet::builder()
                .sample_count(*count)
                .sum(*sum)
                .minimum(*min)
                .maximum(*max)
                .build(),
        ),
        DatumValue::Distribution { values, counts } => builder
            .set_values(Some(values.clone()))
            .set_counts(Some(counts.clone())),
    }
    .build()
}

impl CloudWatchMetricsSink {
    /// A sink publishing into `namespace` with a single-attempt, compressing client.
    pub fn new(clients: &AwsClients, namespace: String, counters: StageCounters) -> Self {
        Self {
            client: clients.metrics_single_attempt(MIN_COMPRESSION_BYTES),
            namespace,
            counters,
        }
    }

    /// Sends `datums` (one request's worth, from `take_request`) until CloudWatch accepts
    /// them, refuses them for good, or `force` (the shutdown deadline) fires.
    pub async fn send(&self, mut datums: Vec<Datum>, force: &CancellationToken) {
        let counters = &self.counters;
        let outcome = retry_until(
            force,
            None,
            Backoff::default(),
            |_| {
                // Time passes while retrying: never send what CloudWatch would now refuse.
                let now = now_ms();
                let before = datums.len();
                datums.retain(|d| in_window(d.timestamp_ms, now));
                let stale = (before - datums.len()) as u64;
                if stale > 0 {
                    counters.rejected[RejectKind::OutsideWindow.index()].increment(stale);
                    counters.dropped.increment(stale);
                }
                let request = (!datums.is_empty()).then(|| {
                    counters.requests.increment(1);
                    self.client
                        .put_metric_data()
                        .namespace(&self.namespace)
                        .set_metric_data(Some(datums.iter().map(to_sdk).collect()))
                        .send()
                });
                let count = datums.len() as u64;
                async move {
                    let Some(request) = request else {
                        return Ok(0);
                    };
                    request.await.map(|_| count).map_err(|err| {
                        CallError::from_sdk(Service::CloudWatch, "PutMetricData failed", &err)
                    })
                }
            },
            |err, attempt| {
                counters.retries.increment(1);
                tracing::warn!(error = %err.message, attempt, "PutMetricData failed; retrying");
            },
        )
        .await;
        match outcome {
            Ok(published) => counters.published.increment(published),
            Err(GiveUp::Permanent(err) | GiveUp::Exhausted(err)) => {
                counters.dropped.increment(datums.len() as u64);
                tracing::error!(error = %err.message, datums = datums.len(), namespace = %self.namespace, "PutMetricData refused the request; its datums are dropped; check the IAM policy (cloudwatch:PutMetricData) and the metric rules");
            }
            Err(GiveUp::Cancelled(_)) => {
                counters.dropped.increment(datums.len() as u64);
                tracing::error!(
                    datums = datums.len(),
                    "the shutdown deadline passed while retrying PutMetricData; datums dropped"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datum::Unit;

    #[test]
    fn sdk_datums_carry_every_field() {
        let datum = Datum {
            metric: "JobsFailed".into(),
            dimensions: vec![
                ("Environment".into(), "prod".to_owned()),
                ("Provider".into(), "openai".to_owned()),
            ]
            .into(),
            timestamp_ms: 1_800_000_000_000,
            unit: Unit::Count,
            storage_resolution: 60,
            value: DatumValue::Stats {
                count: 3.0,
                sum: 3.0,
                min: 1.0,
                max: 1.0,
            },
        };
        let sdk = to_sdk(&datum);
        assert_eq!(sdk.metric_name(), Some("JobsFailed"));
        assert_eq!(sdk.dimensions().len(), 2);
        assert_eq!(sdk.unit(), Some(&StandardUnit::Count));
        assert_eq!(sdk.statistic_values().and_then(|s| s.sum()), Some(3.0));
        assert_eq!(sdk.timestamp().map(|t| t.secs()), Some(1_800_000_000));
    }

    #[tokio::test]
    async fn the_client_compresses_and_does_not_retry_itself() {
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .build();
        let exporter = crate::telemetry::prometheus::Exporter::new();
        let sink = CloudWatchMetricsSink::new(
            &AwsClients::from_sdk_config(&sdk),
            "AIStudio/Streaming".into(),
            StageCounters::new(&exporter),
        );
        let config = sink.client.config();
        assert_eq!(config.disable_request_compression(), Some(false));
        assert_eq!(
            config.request_min_compression_size_bytes(),
            Some(MIN_COMPRESSION_BYTES)
        );
        assert_eq!(config.retry_config().map(|r| r.max_attempts()), Some(1));
    }
}
