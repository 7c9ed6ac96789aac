//! One forward connection: reads frames (one msgpack value each, bounded), turns their
//! events into lines, hands them to the pipeline (waiting when it is full, so the client's
//! own buffer holds), and answers `{"ack": chunk}` only once the pipeline accepted them.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::auth::{AuthError, Challenge, SharedKey};
use super::frame::{scan, Scan};
use super::partial::Partials;
use super::protocol::{self, ProtocolError};
use super::record::{self, TagPlacement};
use crate::event::{Ack, AckGate};
use crate::sources::structured::{acceptance, push_line_with_member, push_written_line};
use crate::sources::RawChunk;
use crate::telemetry::{SidecarEvent, Telemetry};
use aistudio_core::clock::now_ms;

/// Bytes asked of the socket per read.
const READ_BYTES: usize = 64 * 1024;
/// A frame up to this size is read in a connection's own buffer; a larger one first takes one
/// of [`LARGE_FRAME_SLOTS`], so a thousand connections cannot each hold a maximal frame.
pub const SMALL_FRAME_BYTES: u64 = 256 * 1024;
/// Large frames read at once, across all connections: memory is bounded by
/// `max_connections × SMALL_FRAME_BYTES + LARGE_FRAME_SLOTS × max_frame_bytes`.
pub const LARGE_FRAME_SLOTS: usize = 4;
/// How long the partial lines left by an ending connection may wait for room in the pipeline
/// (the pipeline drains even during shutdown; past this they are failed and not acked).
const FLUSH_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
/// Frames a connection may have waiting for their ack; a client that pipelines more waits.
const MAX_PENDING_ACKS: usize = 64;

/// What every connection of one source shares.
#[derive(Debug)]
pub struct Shared {
    /// The processor's raw-chunk queue.
    pub tx: mpsc::Sender<RawChunk>,
    /// Counters.
    pub telemetry: Telemetry,
    /// The run's acknowledgement gate.
    pub gate: AckGate,
    /// `sources.fluent.max_frame_bytes`.
    pub max_frame_bytes: usize,
    /// `sources.max_line_bytes`: longer lines are cut into pieces.
    pub max_line_bytes: usize,
    /// Stops reading.
    pub shutdown: CancellationToken,
    /// Permits to read a frame larger than [`SMALL_FRAME_BYTES`].
    pub large_frames: Arc<Semaphore>,
    /// The shared key clients must prove, when configured.
    pub auth: Option<SharedKey>,
}

/// What the connection's writer sends, in order.
enum Reply {
    /// `{"ack": chunk}` once the frame's events are accepted.
    Ack {
        chunk: String,
        accepted: oneshot::Receiver<bool>,
    },
    /// A handshake message (HELO, PONG).
    Handshake(Vec<u8>),
    /// A refusing PONG, after which the connection closes.
    Refusal(Vec<u8>),
}

/// Where the shared-key handshake stands on one connection.
enum Handshake {
    /// No shared key configured, or the client proved it.
    Done,
    /// HELO sent with this challenge; the next frame must be the PING.
    AwaitingPing(Challenge),
}

/// Serves one connection until the peer closes it, it breaks the protocol, or shutdown.
pub async fn serve<S>(stream: S, shared: Arc<Shared>, peer: String)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (reader, writer) = tokio::io::split(stream);
    let (ack_tx, ack_rx) = mpsc::channel(MAX_PENDING_ACKS);
    let writer = tokio::spawn(write_replies(writer, ack_rx, peer.clone()));
    let handshake = match &shared.auth {
        None => Handshake::Done,
        Some(key) => match key.helo() {
            Ok((challenge, helo)) => {
                let _ = ack_tx.send(Reply::Handshake(helo)).await;
                Handshake::AwaitingPing(challenge)
            }
            Err(err) => {
                tracing::error!(error = %err, "fluent source: cannot make a handshake nonce; connection closed");
                return;
            }
        },
    };
    let mut connection = Connection {
        shared,
        peer,
        partials: Partials::default(),
        ack_tx,
        handshake,
    };
    connection.read_frames(reader).await;
    connection.flush_partials().await;
    drop(connection);
    // Acks of what was handed over still go out (the pipeline may accept it during the drain).
    let _ = writer.await;
}

struct Connection {
    shared: Arc<Shared>,
    peer: String,
    partials: Partials,
    ack_tx: mpsc::Sender<Reply>,
    handshake: Handshake,
}

impl Connection {
    async fn read_frames<R: AsyncRead + Unpin>(&mut self, mut reader: R) {
        let max = self.shared.max_frame_bytes as u64;
        let mut buf: Vec<u8> = Vec::with_capacity(READ_BYTES);
        let mut start = 0usize;
        // Bytes the frame being read needs before it is worth measuring again.
        let mut needed = 1u64;
        let mut large: Option<OwnedSemaphorePermit> = None;
        loop {
            while (buf.len() - start) as u64 >= needed {
                let scanned = match scan(&buf[start..]) {
                    // A frame whose lower bound stayed under the limit may still end past it.
                    Scan::Complete(len) if len as u64 > max => Scan::Incomplete {
                        at_least: len as u64,
                    },
                    scanned => scanned,
                };
                match scanned {
                    Scan::Complete(len) => {
                        let end = start + len;
                        if !self.frame(&buf[start..end]).await {
                            return;
                        }
                        start = end;
                        needed = 1;
                        large = None;
                    }
                    Scan::Incomplete { at_least } if at_least > max => {
                        tracing::error!(
                            peer = %self.peer,
                            frame_bytes_at_least = at_least,
                            max_frame_bytes = max,
                            "fluent source: frame larger than sources.fluent.max_frame_bytes; connection closed (events acked before it are kept; raise the limit or make the client send smaller chunks)"
                        );
                        return;
                    }
                    Scan::Incomplete { at_least } => needed = at_least,
                    Scan::Invalid => {
                        tracing::warn!(peer = %self.peer, "fluent source: bytes that are not msgpack; connection closed");
                        return;
                    }
                }
            }
            buf.drain(..start);
            start = 0;
            if needed > SMALL_FRAME_BYTES && large.is_none() {
                let permit = tokio::select! {
                    () = self.shared.shutdown.cancelled() => return,
                    permit = Arc::clone(&self.shared.large_frames).acquire_owned() => permit,
                };
                let Ok(permit) = permit else { return };
                large = Some(permit);
            } else if large.is_none() && buf.capacity() > SMALL_FRAME_BYTES as usize * 2 {
                buf.shrink_to(READ_BYTES.max(buf.len()));
            }
            buf.reserve(READ_BYTES);
            let read = tokio::select! {
                () = self.shared.shutdown.cancelled() => return,
                read = reader.read_buf(&mut buf) => read,
            };
            match read {
                Ok(0) => {
                    if !buf.is_empty() {
                        tracing::warn!(peer = %self.peer, bytes = buf.len(), "fluent source: connection closed inside a frame; the client resends what was not acked");
                    }
                    return;
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(peer = %self.peer, error = %err, "fluent source: read failed; connection closed");
                    return;
                }
            }
        }
    }

    /// Decodes and hands over one frame; false when the connection must close.
    async fn frame(&mut self, frame: &[u8]) -> bool {
        if let Handshake::AwaitingPing(challenge) = &self.handshake {
            return self.ping(frame, &challenge.clone()).await;
        }
        let (chunks, options) = match self.lines(frame) {
            Ok(decoded) => decoded,
            Err(err) => {
                tracing::warn!(peer = %self.peer, error = %err, "fluent source: malformed frame; connection closed (other connections are not affected)");
                return false;
            }
        };
        let pending = options.chunk.map(|chunk| {
            let (ack, rx) = acceptance(&self.shared.gate);
            (chunk, rx, ack)
        });
        let ack = pending.as_ref().map(|(_, _, ack)| ack.clone());
        if !self.send_chunks(chunks, ack, false).await {
            return false;
        }
        if let Some((chunk, accepted, ack)) = pending {
            drop(ack);
            if self
                .ack_tx
                .send(Reply::Ack { chunk, accepted })
                .await
                .is_err()
            {
                return false;
            }
        }
        true
    }

    /// Hands the chunks to the pipeline, each with `ack`; false when it did not take them
    /// (the ack is failed: the client gets none and resends). Waits for room until shutdown,
    /// or, for the last lines of a connection, at most [`FLUSH_WAIT`].
    async fn send_chunks(&mut self, chunks: Vec<RawChunk>, ack: Option<Ack>, last: bool) -> bool {
        for mut chunk in chunks {
            chunk.ack = ack.clone();
            chunk.read_at_ms = now_ms();
            let lines = chunk.len() as u64;
            // A slot first, so the chunk is never lost inside a cancelled send.
            let slot = if last {
                tokio::time::timeout(FLUSH_WAIT, self.shared.tx.reserve())
                    .await
                    .ok()
                    .and_then(Result::ok)
            } else {
                tokio::select! {
                    () = self.shared.shutdown.cancelled() => None,
                    slot = self.shared.tx.reserve() => slot.ok(),
                }
            };
            let Some(slot) = slot else {
                // Not taken: the client gets no ack and resends.
                if let Some(ack) = &chunk.ack {
                    ack.fail();
                }
                return false;
            };
            slot.send(chunk);
            self.shared.telemetry.emit(SidecarEvent::LinesRead(lines));
        }
        true
    }

    /// The connection ends with partial lines open: they are written as they stand, so
    /// nothing is lost (only frames without an ack request are joined, see `lines`).
    async fn flush_partials(&mut self) {
        let held = self.partials.drain();
        if held.is_empty() {
            return;
        }
        let mut chunks = Vec::new();
        for part in &held {
            let record: Vec<_> = part
                .fields
                .iter()
                .map(|(k, v)| (k.as_ref(), v.as_ref()))
                .collect();
            let event = protocol::Event {
                tag: &part.tag,
                time_ns: part.time_ns,
                record: &record,
                acked: false,
            };
            push_written_line(&mut chunks, self.shared.max_line_bytes, |out| {
                record::write_line(&event, Some(&part.text), TagPlacement::Inline, out);
            });
        }
        self.send_chunks(chunks, None, true).await;
    }

    /// Checks the handshake's PING; false when the client failed it (told why, then closed).
    async fn ping(&mut self, frame: &[u8], challenge: &Challenge) -> bool {
        let Some(key) = &self.shared.auth else {
            return true;
        };
        let checked = rmpv::decode::read_value_ref(&mut &frame[..])
            .map_err(|_| AuthError::NotPing)
            .and_then(|ping| key.check_ping(&ping, challenge));
        match checked {
            Ok(pong) => {
                self.handshake = Handshake::Done;
                self.ack_tx.send(Reply::Handshake(pong)).await.is_ok()
            }
            Err(err) => {
                // The check that failed, never the username, a digest or a secret.
                tracing::warn!(peer = %self.peer, check = err.kind(), error = %err, "fluent source: handshake failed; connection closed");
                let _ = self
                    .ack_tx
                    .send(Reply::Refusal(SharedKey::refusal(&err.to_string())))
                    .await;
                false
            }
        }
    }

    /// The frame's events as line chunks, partial messages joined.
    fn lines(&mut self, frame: &[u8]) -> Result<(Vec<RawChunk>, protocol::Options), ProtocolError> {
        let max_line = self.shared.max_line_bytes;
        let max_frame = self.shared.max_frame_bytes;
        frame_lines(frame, &mut self.partials, max_frame, max_line)
    }
}

/// One frame's events as line chunks, partial messages joined through `partials`.
pub fn frame_lines(
    frame: &[u8],
    partials: &mut Partials,
    max_frame: usize,
    max_line: usize,
) -> Result<(Vec<RawChunk>, protocol::Options), ProtocolError> {
    let mut chunks = Vec::new();
    // (tag, its member): a frame has one tag, so this is built once
    let mut tag_member: Option<(String, String)> = None;
    let options = protocol::decode(frame, max_frame, |event| {
        // A part is held for joining only when its frame asks for no ack: an acked frame
        // must be accepted before its ack, and a client that waits for each ack would never
        // send the rest. Its parts then ship one line each, with their partial fields.
        let joined = if event.acked {
            None
        } else {
            match partials.offer(&event, max_frame) {
                super::partial::Offer::Whole => None,
                super::partial::Offer::Held => return,
                super::partial::Offer::Joined(log) => Some(log),
            }
        };
        if tag_member.as_ref().is_some_and(|(tag, _)| tag != event.tag) {
            tag_member = None;
        }
        let (_, member) =
            tag_member.get_or_insert_with(|| (event.tag.to_owned(), record::tag_member(event.tag)));
        push_line_with_member(
            &mut chunks,
            max_line,
            member,
            |out| record::write_line(&event, joined.as_deref(), TagPlacement::Trailing, out),
            |out| {
                record::write_line(&event, joined.as_deref(), TagPlacement::Inline, out);
            },
        );
    })?;
    Ok((chunks, options))
}

/// Writes each reply in order: an ack once the pipeline accepted its frame; a frame it did
/// not accept closes the connection, so the client resends at once instead of waiting for its
/// timeout.
async fn write_replies<W: AsyncWrite>(writer: W, mut pending: mpsc::Receiver<Reply>, peer: String) {
    tokio::pin!(writer);
    while let Some(reply) = pending.recv().await {
        let (bytes, close) = match reply {
            Reply::Ack { chunk, accepted } => {
                if accepted.await != Ok(true) {
                    tracing::warn!(peer = %peer, "fluent source: events not accepted by the pipeline; not acked, the client resends them");
                    break;
                }
                let mut ack = Vec::with_capacity(chunk.len() + 8);
                // Writing into a Vec cannot fail.
                let _ = rmp::encode::write_map_len(&mut ack, 1);
                let _ = rmp::encode::write_str(&mut ack, "ack");
                let _ = rmp::encode::write_str(&mut ack, &chunk);
                (ack, false)
            }
            Reply::Handshake(bytes) => (bytes, false),
            Reply::Refusal(bytes) => (bytes, true),
        };
        if let Err(err) = writer.write_all(&bytes).await {
            tracing::debug!(peer = %peer, error = %err, "fluent source: cannot write a reply; the client resends");
            break;
        }
        if close {
            break;
        }
    }
    let _ = writer.shutdown().await;
}
