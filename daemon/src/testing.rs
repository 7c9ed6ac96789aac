//! Seams for the end-to-end tests (feature `testing`): the PutMetricData sink and its request
//! builder, so the emulator tests can send exact datum sets, the metric stage's counters, and
//! the forward decoder's bytes-to-lines path (the fuzz target).

pub use crate::sinks::cloudwatch_metrics::{take_request, CloudWatchMetricsSink};
pub use crate::sources::fluent::decode_stream as decode_forward_stream;
/// Lines per chunk: a file sink's replay window after a crash (one written, unacknowledged
/// chunk), which the kill tests bound duplicates by.
pub use crate::sources::CHUNK_MAX_LINES;
pub use crate::telemetry::prometheus::{Exporter, StageCounters};
