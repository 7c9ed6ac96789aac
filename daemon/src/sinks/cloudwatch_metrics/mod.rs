//! The CloudWatch metrics sink: datums packed into PutMetricData requests (batch) and sent
//! with gzip compression through the shared retry loop (sink).

mod batch;
mod sink;

pub use batch::take_request;
pub use sink::CloudWatchMetricsSink;
