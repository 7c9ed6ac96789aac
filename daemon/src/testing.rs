//! Seams for the end-to-end tests (feature `testing`): the PutMetricData sink and its request
//! builder, so the emulator tests can send exact datum sets, and the metric stage's counters.

pub use crate::sinks::cloudwatch_metrics::{take_request, CloudWatchMetricsSink};
pub use crate::telemetry::prometheus::{Exporter, StageCounters};
