//! The stdin source: `aistudio-server | aistudio-sidecar run` for local piping.

use std::io::Read;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{LineSplitter, RawChunk};
use crate::telemetry::{SidecarEvent, Telemetry};
use aistudio_core::clock::now_ms;

/// Read size: one syscall per 64 KiB keeps the per-line cost of reading negligible.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// Reads stdin on a dedicated thread (blocking reads; tokio's stdin would hop threads per read)
/// until EOF or shutdown, sending chunks downstream. EOF ends the source, which drains the
/// pipeline like a shutdown would.
pub fn spawn(
    tx: mpsc::Sender<RawChunk>,
    shutdown: CancellationToken,
    telemetry: Telemetry,
    max_line_bytes: usize,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("source-stdin".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            let mut input = stdin.lock();
            read_stream(&mut input, &tx, &shutdown, &telemetry, max_line_bytes);
        })
}

/// Reads `input` to EOF (or shutdown), sending full chunks as they fill and the rest at the
/// end of each read, so a quiet stream is not held back.
pub fn read_stream(
    input: &mut impl Read,
    tx: &mpsc::Sender<RawChunk>,
    shutdown: &CancellationToken,
    telemetry: &Telemetry,
    max_line_bytes: usize,
) {
    let mut splitter = LineSplitter::new(max_line_bytes);
    let mut buf = vec![0u8; READ_BUFFER_BYTES];
    let mut chunk = RawChunk::default();
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => {
                tracing::error!(error = %err, "cannot read stdin; the stdin source stops");
                break;
            }
        };
        let mut full = Vec::new();
        splitter.feed(&buf[..n], |line, _| {
            chunk.push_line(line);
            if chunk.is_full() {
                full.push(std::mem::take(&mut chunk));
            }
        });
        for ready in full {
            if !send(tx, ready, telemetry) {
                return;
            }
        }
        if !chunk.is_empty() && !send(tx, std::mem::take(&mut chunk), telemetry) {
            return;
        }
    }
    if let Some(last) = splitter.take_partial() {
        chunk.push_line(&last);
    }
    if !chunk.is_empty() {
        send(tx, chunk, telemetry);
    }
}

fn send(tx: &mpsc::Sender<RawChunk>, mut chunk: RawChunk, telemetry: &Telemetry) -> bool {
    chunk.read_at_ms = now_ms();
    telemetry.emit(SidecarEvent::LinesRead(chunk.len() as u64));
    tx.blocking_send(chunk).is_ok()
}
