//! Seams for the end-to-end tests (feature `testing`): the PutMetricData sink and its request
//! builder, so the emulator tests can send exact datum sets, the metric stage's counters, and
//! the forward and OTLP decoders' bytes-to-lines paths (the fuzz targets).

pub use crate::sinks::cloudwatch_metrics::{take_request, CloudWatchMetricsSink};
pub use crate::sources::fluent::decode_stream as decode_forward_stream;
pub use crate::sources::otlp::decode_bodies as decode_otlp_bodies;
/// Lines per chunk: a file sink's replay window after a crash (one written, unacknowledged
/// chunk), which the kill tests bound duplicates by.
pub use crate::sources::CHUNK_MAX_LINES;
pub use crate::telemetry::prometheus::{Exporter, StageCounters};
