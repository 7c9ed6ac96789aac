//! The TCP source: newline-delimited lines on a loopback port (tasks in awsvpc mode share
//! localhost, so the server can write to the sidecar without a shared volume).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{LineSplitter, RawChunk};
use crate::telemetry::{SidecarEvent, Telemetry};
use aistudio_core::clock::now_ms;

/// `[sources.tcp]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TcpSourceConfig {
    /// Address to listen on (`host:port`); keep it on loopback.
    #[serde(default = "default_address")]
    pub address: SocketAddr,
}

/// Loopback only by default, so nothing outside the task can inject lines.
fn default_address() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5170))
}

/// Binds the listener (so a busy port is a start-up error) and returns the serving future.
pub async fn bind(config: &TcpSourceConfig) -> std::io::Result<TcpListener> {
    TcpListener::bind(config.address).await
}

/// Accepts connections until shutdown; each connection is read until it closes or shutdown.
pub async fn serve(
    listener: TcpListener,
    tx: mpsc::Sender<RawChunk>,
    shutdown: CancellationToken,
    telemetry: Telemetry,
    max_line_bytes: usize,
) {
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                tracing::debug!(%peer, "tcp source: connection");
                connections.spawn(read_connection(
                    stream,
                    tx.clone(),
                    shutdown.clone(),
                    telemetry.clone(),
                    max_line_bytes,
                ));
            }
            Err(err) => tracing::warn!(error = %err, "tcp source: accept failed"),
        }
    }
    connections.close();
    connections.wait().await;
}

async fn read_connection(
    mut stream: TcpStream,
    tx: mpsc::Sender<RawChunk>,
    shutdown: CancellationToken,
    telemetry: Telemetry,
    max_line_bytes: usize,
) {
    let mut splitter = LineSplitter::new(max_line_bytes);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let read = tokio::select! {
            () = shutdown.cancelled() => break,
            read = stream.read(&mut buf) => read,
        };
        let n = match read {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) => {
                tracing::warn!(error = %err, "tcp source: read failed; connection closed");
                break;
            }
        };
        let mut chunk = RawChunk::default();
        let mut full = Vec::new();
        splitter.feed(&buf[..n], |line, _| {
            chunk.push_line(line);
            if chunk.is_full() {
                full.push(std::mem::take(&mut chunk));
            }
        });
        full.push(chunk);
        for ready in full.into_iter().filter(|c| !c.is_empty()) {
            if !send(&tx, ready, &telemetry).await {
                return;
            }
        }
    }
    // A peer that closes without a final newline still sent a line.
    if let Some(last) = splitter.take_partial() {
        let mut chunk = RawChunk::default();
        chunk.push_line(&last);
        send(&tx, chunk, &telemetry).await;
    }
}

async fn send(tx: &mpsc::Sender<RawChunk>, mut chunk: RawChunk, telemetry: &Telemetry) -> bool {
    chunk.read_at_ms = now_ms();
    telemetry.emit(SidecarEvent::LinesRead(chunk.len() as u64));
    tx.send(chunk).await.is_ok()
}
