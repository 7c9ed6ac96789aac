//! The Fluent forward source: what FireLens (the `awsfirelens` log driver) and any Fluentd or
//! Fluent Bit forward output send to, on a unix socket and/or a loopback TCP port. Forward
//! protocol v1 (all four event modes, EventTime), acks once the pipeline accepted the events.

mod auth;
mod body;
mod config;
mod connection;
mod frame;
mod partial;
mod protocol;
mod record;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::FluentSourceConfig;
use connection::Shared;

use crate::event::AckGate;
use crate::sources::RawChunk;
use crate::telemetry::Telemetry;

/// Decodes `bytes` as one connection's stream, frame by frame as a connection reads it (a
/// frame over `max_frame_bytes` or a malformed one ends it, as it closes a connection), and
/// returns the lines it would ship and why it stopped early, if it did. The forward decoder's
/// whole path from bytes to lines, without sockets: for the fuzz target and tests.
#[cfg(any(test, feature = "testing"))]
pub fn decode_stream(bytes: &[u8], max_frame_bytes: usize) -> (Vec<Vec<u8>>, Option<String>) {
    let mut partials = partial::Partials::default();
    let mut lines = Vec::new();
    let mut rest = bytes;
    let stopped = loop {
        if rest.is_empty() {
            break None;
        }
        let len = match frame::scan(rest) {
            frame::Scan::Complete(len) if len <= max_frame_bytes => len,
            frame::Scan::Complete(_) => break Some("frame over the limit".to_owned()),
            frame::Scan::Incomplete { at_least } if at_least > max_frame_bytes as u64 => {
                break Some("frame over the limit".to_owned())
            }
            frame::Scan::Incomplete { .. } => break Some("stream ends inside a frame".to_owned()),
            frame::Scan::Invalid => break Some("not msgpack".to_owned()),
        };
        let (frame, tail) = rest.split_at(len);
        rest = tail;
        match connection::frame_lines(
            frame,
            &mut partials,
            max_frame_bytes,
            crate::sources::DEFAULT_MAX_LINE_BYTES,
        ) {
            Ok((chunks, _)) => lines.extend(chunks.iter().flat_map(RawChunk::whole_lines)),
            Err(err) => break Some(err.to_string()),
        }
    };
    (lines, stopped)
}

/// Pause after a failed accept: long enough not to spin, short enough that a freed descriptor
/// is used at once.
const ACCEPT_RETRY: std::time::Duration = std::time::Duration::from_millis(50);

/// Why the source could not listen; each names the key to change.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The TCP port is busy or not allowed.
    #[error("cannot listen on {address} for the fluent source: {source}; free the port or set sources.fluent.address")]
    Tcp {
        /// The address.
        address: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The shared key's environment variable is not set.
    #[error("the environment variable {var} named by sources.fluent.shared_key_env is not set or empty; put the shared key there (an ECS `secrets` entry) or remove shared_key_env")]
    SharedKey {
        /// The variable's name.
        var: String,
    },
    /// A user's password variable is not set.
    #[error("the environment variable {var} named by sources.fluent.users[{index}].password_env is not set or empty; put the user's password there (an ECS `secrets` entry) or remove the user")]
    UserPassword {
        /// The user's index in `sources.fluent.users`.
        index: usize,
        /// The variable's name.
        var: String,
    },
    /// The socket path cannot be used.
    #[error("cannot listen on the unix socket {path} for the fluent source: {reason}; set sources.fluent.socket_path")]
    Unix {
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
}

/// The source's bound sockets.
#[derive(Debug)]
pub struct Listeners {
    tcp: Option<TcpListener>,
    unix: Option<(UnixListener, PathBuf)>,
    auth: Option<auth::SharedKey>,
}

/// Each configured user with the password from its environment variable.
fn user_passwords(config: &FluentSourceConfig) -> Result<Vec<(String, String)>, BindError> {
    config
        .users
        .iter()
        .enumerate()
        .map(|(index, user)| match std::env::var(&user.password_env) {
            Ok(password) if !password.is_empty() => Ok((user.username.clone(), password)),
            _ => Err(BindError::UserPassword {
                index,
                var: user.password_env.clone(),
            }),
        })
        .collect()
}

/// Binds every configured socket, so a busy port or an unusable path fails the start.
pub async fn bind(config: &FluentSourceConfig) -> Result<Listeners, BindError> {
    let auth = match &config.shared_key_env {
        Some(var) => match std::env::var(var) {
            Ok(key) if !key.is_empty() => Some(auth::SharedKey::new(
                key,
                config.self_hostname.clone(),
                user_passwords(config)?,
            )),
            _ => return Err(BindError::SharedKey { var: var.clone() }),
        },
        None => None,
    };
    let tcp = match config.address {
        Some(address) => Some(
            TcpListener::bind(address)
                .await
                .map_err(|source| BindError::Tcp { address, source })?,
        ),
        None => None,
    };
    let unix = match &config.socket_path {
        Some(path) => Some((bind_unix(path, config.socket_mode)?, path.clone())),
        None => None,
    };
    Ok(Listeners { tcp, unix, auth })
}

/// Binds the socket file: a stale one (nobody accepts on it: a killed run left it) is
/// replaced; a live one, or anything that is not a socket, is left alone and refused.
fn bind_unix(path: &Path, mode: u32) -> Result<UnixListener, BindError> {
    let fail = |reason: String| BindError::Unix {
        path: path.display().to_string(),
        reason,
    };
    match std::fs::symlink_metadata(path) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(fail(err.to_string())),
        Ok(meta) if meta.file_type().is_socket() => {
            match std::os::unix::net::UnixStream::connect(path) {
                Ok(_) => return Err(fail("another process is listening on it".into())),
                Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => {
                    tracing::info!(path = %path.display(), "fluent source: replacing a stale socket file");
                    std::fs::remove_file(path).map_err(|err| fail(err.to_string()))?;
                }
                Err(err) => return Err(fail(err.to_string())),
            }
        }
        Ok(_) => return Err(fail("the path exists and is not a socket".into())),
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|err| fail(err.to_string()))?;
    }
    let listener = UnixListener::bind(path).map_err(|err| fail(err.to_string()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|err| fail(format!("cannot set its mode {mode:#o}: {err}")))?;
    Ok(listener)
}

/// What [`serve`] needs from the run.
pub struct Context {
    /// The processor's raw-chunk queue.
    pub tx: mpsc::Sender<RawChunk>,
    /// Stops the source.
    pub shutdown: CancellationToken,
    /// Counters.
    pub telemetry: Telemetry,
    /// The run's acknowledgement gate.
    pub gate: AckGate,
    /// `sources.max_line_bytes`.
    pub max_line_bytes: usize,
}

/// Accepts connections on every bound socket until shutdown, then waits for them to end and
/// removes the socket file.
pub async fn serve(listeners: Listeners, config: FluentSourceConfig, context: Context) {
    let shared = Arc::new(Shared {
        tx: context.tx,
        telemetry: context.telemetry,
        gate: context.gate,
        max_frame_bytes: config.max_frame_bytes as usize,
        max_line_bytes: context.max_line_bytes,
        shutdown: context.shutdown,
        large_frames: Arc::new(Semaphore::new(connection::LARGE_FRAME_SLOTS)),
        auth: listeners.auth,
    });
    let slots = Arc::new(Semaphore::new(config.max_connections as usize));
    let connections = TaskTracker::new();
    let mut socket_file = None;
    let accept = TaskTracker::new();
    if let Some(listener) = listeners.tcp {
        accept.spawn(accept_loop(
            listener,
            Arc::clone(&shared),
            Arc::clone(&slots),
            connections.clone(),
        ));
    }
    if let Some((listener, path)) = listeners.unix {
        socket_file = Some(path);
        accept.spawn(accept_loop(
            listener,
            Arc::clone(&shared),
            slots,
            connections.clone(),
        ));
    }
    accept.close();
    accept.wait().await;
    connections.close();
    connections.wait().await;
    if let Some(path) = socket_file {
        let _ = std::fs::remove_file(path);
    }
}

/// Waits for a free connection slot (beyond `max_connections`, clients wait in the kernel's
/// backlog); none once shutdown started.
async fn connection_slot(
    shared: &Shared,
    slots: &Arc<Semaphore>,
) -> Option<tokio::sync::OwnedSemaphorePermit> {
    tokio::select! {
        () = shared.shutdown.cancelled() => None,
        permit = Arc::clone(slots).acquire_owned() => permit.ok(),
    }
}

/// After a failed accept (out of file descriptors, most often), waits before the next one:
/// retrying at once would spin on the same error.
async fn accept_pause(shared: &Shared) {
    tokio::select! {
        () = shared.shutdown.cancelled() => {}
        () = tokio::time::sleep(ACCEPT_RETRY) => {}
    }
}

/// The two listeners the source accepts on, for one accept loop.
trait ForwardListener: Send + Sync + 'static {
    type Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static;
    /// `tcp` or `unix`, for the log line of a failed accept.
    const KIND: &'static str;
    /// The next connection and how to name its peer in logs.
    fn accept_one(
        &self,
    ) -> impl std::future::Future<Output = std::io::Result<(Self::Stream, String)>> + Send;
}

impl ForwardListener for TcpListener {
    type Stream = tokio::net::TcpStream;
    const KIND: &'static str = "tcp";
    async fn accept_one(&self) -> std::io::Result<(Self::Stream, String)> {
        let (stream, peer) = self.accept().await?;
        let _ = stream.set_nodelay(true);
        Ok((stream, peer.to_string()))
    }
}

impl ForwardListener for UnixListener {
    type Stream = tokio::net::UnixStream;
    const KIND: &'static str = "unix";
    async fn accept_one(&self) -> std::io::Result<(Self::Stream, String)> {
        let (stream, _) = self.accept().await?;
        Ok((stream, "unix socket".to_owned()))
    }
}

async fn accept_loop<L: ForwardListener>(
    listener: L,
    shared: Arc<Shared>,
    slots: Arc<Semaphore>,
    connections: TaskTracker,
) {
    loop {
        let Some(permit) = connection_slot(&shared, &slots).await else {
            return;
        };
        let accepted = tokio::select! {
            () = shared.shutdown.cancelled() => return,
            accepted = listener.accept_one() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let shared = Arc::clone(&shared);
                connections.spawn(async move {
                    connection::serve(stream, shared, peer).await;
                    drop(permit);
                });
            }
            Err(err) => {
                tracing::warn!(
                    error = %err,
                    listener = L::KIND,
                    "fluent source: accept failed; retrying shortly"
                );
                accept_pause(&shared).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Valid frames of every mode, then random mutations of them: the decoder never panics,
    /// every line it ships is one JSON object without a newline, and a frame is never read
    /// past its end (the fuzz target checks the same on arbitrary input).
    #[test]
    fn mutated_frames_never_panic_and_every_line_is_one_json_object() {
        use rmpv::Value;
        let record = Value::Map(vec![
            (
                Value::from("log"),
                Value::from(r#"{"event":"job.completed","seq":1}"#),
            ),
            (Value::from("container_id"), Value::from("c0ffee")),
        ]);
        let entry = Value::Array(vec![
            Value::Ext(0, vec![0, 0, 0, 1, 0, 0, 0, 2]),
            record.clone(),
        ]);
        let mut packed = Vec::new();
        rmpv::encode::write_value(&mut packed, &entry).unwrap();
        let frames = [
            Value::Array(vec![Value::from("t"), Value::from(1), record.clone()]),
            Value::Array(vec![
                Value::from("t"),
                Value::Array(vec![entry.clone(), entry]),
            ]),
            Value::Array(vec![Value::from("t"), Value::Binary(packed)]),
        ];
        let mut seed = Vec::new();
        for frame in &frames {
            rmpv::encode::write_value(&mut seed, frame).unwrap();
        }
        let (lines, stopped) = decode_stream(&seed, 1 << 20);
        assert_eq!((lines.len(), stopped), (4, None));
        let mut rng = fastrand::Rng::with_seed(20);
        for _ in 0..20_000 {
            let mut input = seed.clone();
            for _ in 0..rng.usize(1..4) {
                let at = rng.usize(..input.len());
                match rng.u8(..3) {
                    0 => input[at] = rng.u8(..),
                    1 => input.truncate(at),
                    _ => input.insert(at, rng.u8(..)),
                }
                if input.is_empty() {
                    break;
                }
            }
            let (lines, _) = decode_stream(&input, 1 << 16);
            for line in lines {
                assert!(!line.contains(&b'\n'));
                let value: serde_json::Value = serde_json::from_slice(&line)
                    .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&line)));
                assert!(value.is_object());
            }
        }
    }

    /// Inputs the fuzzer (`fuzz/fuzz_targets/forward_decode.rs`) found, each a regression case.
    #[test]
    fn fuzzer_findings_ship_only_json_objects() {
        let findings: [&[u8]; 2] = [
            // Nested compound map keys.
            &[
                147, 160, 255, 146, 206, 147, 206, 0, 166, 147, 166, 224, 4, 28, 129, 129, 129,
                129, 129, 129, 129, 129, 129, 129, 166, 150, 129, 63, 166, 147, 166, 224, 4, 28,
                129, 28, 129, 129, 129, 129, 129, 129, 129, 129, 129, 129, 129, 129, 129, 129, 129,
                150, 166, 0, 0, 0, 0, 0, 255, 255, 247, 0, 0, 0, 0, 0, 249, 255, 255, 255, 0, 0, 0,
                0, 146, 210, 0, 164, 146, 166, 63, 0, 0, 0, 0, 0, 0, 0, 249, 255, 255, 241, 255,
                255, 255, 255, 255, 255, 255, 29, 166, 220, 166, 70,
            ],
            // A JSON `log` with `1e999`, which a value scan let through.
            &[
                147, 160, 255, 146, 154, 220, 0, 8, 44, 255, 255, 255, 130, 145, 145, 145, 145,
                145, 145, 144, 145, 145, 145, 145, 145, 145, 145, 145, 149, 145, 145, 145, 145,
                145, 145, 145, 145, 145, 255, 145, 145, 145, 145, 145, 145, 203, 119, 228, 5, 52,
                203, 202, 203, 203, 203, 0, 0, 46, 255, 255, 203, 202, 203, 203, 255, 62, 109, 196,
                0, 203, 203, 203, 145, 145, 145, 145, 145, 145, 145, 145, 145, 145, 145, 145, 145,
                145, 145, 145, 255, 145, 145, 145, 145, 145, 145, 203, 119, 228, 5, 52, 203, 202,
                203, 203, 203, 0, 0, 46, 255, 255, 203, 202, 203, 203, 255, 62, 109, 145, 145, 145,
                144, 145, 145, 145, 145, 145, 145, 145, 145, 149, 145, 145, 145, 145, 145, 145,
                145, 145, 145, 255, 145, 145, 145, 145, 145, 145, 203, 119, 228, 5, 52, 203, 202,
                203, 203, 203, 0, 0, 46, 255, 255, 203, 202, 203, 203, 255, 62, 109, 196, 0, 203,
                203, 203, 145, 145, 145, 145, 145, 145, 145, 145, 145, 145, 145, 145, 145, 145,
                145, 145, 255, 145, 145, 145, 145, 145, 145, 203, 119, 228, 5, 50, 203, 202, 203,
                203, 203, 255, 239, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
                255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 46, 255, 255, 203,
                202, 203, 196, 0, 203, 203, 203, 203, 145, 145, 145, 145, 145, 145, 145, 145, 145,
                145, 145, 145, 145, 145, 145, 145, 145, 203, 119, 228, 5, 203, 145, 145, 145, 145,
                145, 145, 145, 145, 145, 145, 145, 145, 145, 145, 145, 145, 145, 203, 119, 228, 5,
                52, 145, 128, 208, 8, 144, 14, 144, 0, 12, 0, 6,
            ],
        ];
        for input in findings {
            let (lines, _) = decode_stream(input, 64 * 1024);
            // Nested compound map keys once doubled the escaping per level (2.3 MB of line
            // from these 109 bytes): what a frame becomes is a bounded multiple of it.
            let total: usize = lines.iter().map(Vec::len).sum();
            assert!(
                total <= 16 * input.len() + 128 * lines.len(),
                "{total} bytes of lines from {} bytes",
                input.len()
            );
            for line in lines {
                let text = String::from_utf8_lossy(&line);
                assert!(!line.contains(&b'\n'), "{text}");
                let value: serde_json::Value =
                    serde_json::from_slice(&line).unwrap_or_else(|e| panic!("{e}: {text}"));
                assert!(value.is_object(), "{text}");
            }
        }
    }
}
