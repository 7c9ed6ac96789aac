//! The processor thread: decodes and redacts each raw chunk, feeds the metric stage, and
//! hands the events to every log sink.

use std::sync::Arc;

use anyhow::Context;
use tokio::sync::mpsc;

use super::fanout::FanOut;
use super::Run;
use crate::decode::Decoder;
use crate::metric_stage::MetricsHandle;
use crate::sources::RawChunk;
use crate::telemetry::{SidecarEvent, Telemetry};

/// Starts the processor on its own thread (decoding and redaction are CPU work; a runtime
/// thread would stall the sinks' I/O).
pub fn spawn(
    run: &Run,
    raw_rx: mpsc::Receiver<RawChunk>,
    fanout: Arc<FanOut>,
    metrics: MetricsHandle,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let decoder = Decoder::new(Arc::clone(&run.redactor));
    let telemetry = run.telemetry.clone();
    std::thread::Builder::new()
        .name("processor".into())
        .spawn(move || process(raw_rx, &decoder, fanout, &telemetry, metrics))
        .context("cannot start the processor thread")
}

fn process(
    mut raw_rx: mpsc::Receiver<RawChunk>,
    decoder: &Decoder,
    fanout: Arc<FanOut>,
    telemetry: &Telemetry,
    metrics: MetricsHandle,
) {
    while let Some(chunk) = raw_rx.blocking_recv() {
        let mut events = Vec::with_capacity(chunk.len());
        // checked once a chunk: a member no rule can match is spliced in without a scan
        let member = chunk.member().map(|text| decoder.trailing_member(text));
        for (line, with_member) in chunk.lines_with_member() {
            let before = events.len();
            let member = member.as_ref().filter(|_| with_member);
            decoder.decode_into(
                line,
                member,
                chunk.read_at_ms,
                chunk.ack.as_ref(),
                &mut events,
            );
            if events.len() > before + 1 {
                telemetry.emit(SidecarEvent::LineSplit);
            }
        }
        drop(chunk);
        metrics.observe(&events);
        fanout.send(events);
    }
    // Sources are done: the metric publisher's final flush starts now, and once the last
    // producer lets go of the fan-out each buffer hands over what it holds on disk, then
    // closes.
    drop(metrics);
    drop(fanout);
}
