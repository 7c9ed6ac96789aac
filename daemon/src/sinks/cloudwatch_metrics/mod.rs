//! The CloudWatch metrics sink: datums packed into PutMetricData requests (batch) and sent
//! with gzip compression and the shared backoff (sink).

pub mod batch;
pub mod sink;

pub use sink::CloudWatchMetricsSink;
