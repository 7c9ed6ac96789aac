//! The sidecar's own logs: JSON lines on stderr, passed through the same redactor as the
//! lines it ships, so an error quoting a log line cannot leak what it held.

use std::io::Write;
use std::sync::Arc;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::redact::Redactor;

/// Writes each formatted log record to stderr after redaction.
#[derive(Clone)]
pub struct RedactingStderr {
    redactor: Arc<Redactor>,
}

impl RedactingStderr {
    /// A writer redacting with `redactor`.
    pub fn new(redactor: Arc<Redactor>) -> Self {
        Self { redactor }
    }
}

/// One record being written.
pub struct RedactingRecord {
    redactor: Arc<Redactor>,
}

impl Write for RedactingRecord {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let clean = self.redactor.redact_str(&text);
        std::io::stderr().lock().write_all(clean.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> MakeWriter<'a> for RedactingStderr {
    type Writer = RedactingRecord;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingRecord {
            redactor: Arc::clone(&self.redactor),
        }
    }
}

/// Installs the JSON subscriber (level from `RUST_LOG`, default info). Safe to call twice.
pub fn init(redactor: Arc<Redactor>) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(RedactingStderr::new(redactor))
        .with_current_span(false)
        .try_init();
}
