//! Sends one PutMetricData request until CloudWatch accepts it, refuses it for good, or the
//! shutdown deadline passes; retries with the shared backoff like the log sink.

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit, StatisticSet};
/// The shutdown deadline's token, re-exported for callers of [`CloudWatchMetricsSink::send`].
pub use tokio_util::sync::CancellationToken;

use crate::aws::AwsClients;
use crate::backoff::Backoff;
use crate::decode::now_ms;
use crate::metrics::datum::{in_window, Datum, DatumValue, RejectKind};
use crate::metrics::prometheus::StageCounters;
use crate::sinks::cloudwatch_logs::retry::{classify, describe, ErrorClass};

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

/// The CloudWatch client for PutMetricData: SDK retries off, gzip on above
/// [`MIN_COMPRESSION_BYTES`].
pub fn metrics_client(clients: &AwsClients) -> aws_sdk_cloudwatch::Client {
    let config = clients
        .cloudwatch
        .config()
        .to_builder()
        .retry_config(aws_sdk_cloudwatch::config::retry::RetryConfig::disabled())
        .disable_request_compression(false)
        .request_min_compression_size_bytes(MIN_COMPRESSION_BYTES)
        .build();
    aws_sdk_cloudwatch::Client::from_conf(config)
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
    /// Sends `datums` (one request's worth, from `batch::take_request`).
    pub async fn send(&self, mut datums: Vec<Datum>, force: &CancellationToken) {
        let mut backoff = Backoff::default();
        loop {
            // Time passes while retrying: never send what CloudWatch would now refuse.
            let now = now_ms();
            let before = datums.len();
            datums.retain(|d| in_window(d.timestamp_ms, now));
            let stale = (before - datums.len()) as u64;
            if stale > 0 {
                self.counters.rejected[RejectKind::OutsideWindow.index()].increment(stale);
                self.counters.dropped.increment(stale);
            }
            if datums.is_empty() {
                return;
            }
            self.counters.requests.increment(1);
            let sent = self
                .client
                .put_metric_data()
                .namespace(&self.namespace)
                .set_metric_data(Some(datums.iter().map(to_sdk).collect()))
                .send()
                .await;
            let err = match sent {
                Ok(_) => {
                    self.counters.published.increment(datums.len() as u64);
                    return;
                }
                Err(err) => err,
            };
            let message = describe(&err);
            if classify(&err) == ErrorClass::Permanent {
                self.counters.dropped.increment(datums.len() as u64);
                tracing::error!(error = %message, datums = datums.len(), namespace = %self.namespace, "PutMetricData refused the request; its datums are dropped; check the IAM policy (cloudwatch:PutMetricData) and the metric rules");
                return;
            }
            self.counters.retries.increment(1);
            tracing::warn!(error = %message, attempt = backoff.attempts() + 1, "PutMetricData failed; retrying");
            tokio::select! {
                () = backoff.wait() => {}
                () = force.cancelled() => {
                    self.counters.dropped.increment(datums.len() as u64);
                    tracing::error!(datums = datums.len(), "the shutdown deadline passed while retrying PutMetricData; datums dropped");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::datum::Unit;

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
        let client = metrics_client(&AwsClients::from_sdk_config(&sdk));
        let config = client.config();
        assert_eq!(config.disable_request_compression(), Some(false));
        assert_eq!(
            config.request_min_compression_size_bytes(),
            Some(MIN_COMPRESSION_BYTES)
        );
        assert_eq!(config.retry_config().map(|r| r.max_attempts()), Some(1));
    }
}
