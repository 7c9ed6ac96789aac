//! Structured JSON log lines (the log contract, ARCHITECTURE.md) to stdout or a size-rotated file.
//!
//! Events are emitted with `tracing` macros whose field names are the contract's
//! (`event`, `requestId`, `jobId`, …); dotted names such as `error.name` become
//! nested objects. The formatter writes one JSON object per line with `timestamp`
//! (RFC 3339 UTC) and a lowercase `level` first.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::EnvFilter;

use crate::config::LoggingConfig;

/// `event` of lines that did not set one (library warnings).
pub const FALLBACK_EVENT: &str = "server.log";

/// Errors while setting up logging.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// The log file could not be opened.
    #[error("could not open log file {path}: {source}; check LOG_FILE and directory permissions")]
    Open {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The level filter was invalid.
    #[error("invalid log level filter: {0}")]
    Filter(String),
    /// A global subscriber was already installed.
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled,
}

/// The contract formatter.
#[derive(Debug, Default, Clone, Copy)]
pub struct ContractJson;

impl<S, N> FormatEvent<S, N> for ContractJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let line = render(event);
        writeln!(writer, "{line}")
    }
}

/// Renders one event as a JSON object string.
pub fn render(event: &Event<'_>) -> String {
    let mut fields = FieldVisitor::default();
    event.record(&mut fields);
    let mut out = Map::new();
    out.insert("timestamp".into(), Value::String(timestamp()));
    out.insert(
        "level".into(),
        Value::String(level_name(*event.metadata().level()).into()),
    );
    let message = fields
        .map
        .remove("message")
        .unwrap_or(Value::String(String::new()));
    out.insert("message".into(), message);
    let ev = fields
        .map
        .remove("event")
        .unwrap_or_else(|| Value::String(FALLBACK_EVENT.into()));
    out.insert("event".into(), ev);
    if !fields.map.contains_key("target") && ev_is_fallback(&out) {
        out.insert(
            "target".into(),
            Value::String(event.metadata().target().to_string()),
        );
    }
    for (k, v) in fields.map {
        out.insert(k, v);
    }
    Value::Object(out).to_string()
}

fn ev_is_fallback(out: &Map<String, Value>) -> bool {
    out.get("event").and_then(Value::as_str) == Some(FALLBACK_EVENT)
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        // The contract has four levels; trace folds into debug.
        _ => "debug",
    }
}

fn timestamp() -> String {
    use time::format_description::well_known::Rfc3339;
    let now = time::OffsetDateTime::now_utc();
    let millis = now
        .replace_nanosecond(now.millisecond() as u32 * 1_000_000)
        .unwrap_or(now);
    millis
        .format(&Rfc3339)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

#[derive(Default)]
struct FieldVisitor {
    map: Map<String, Value>,
}

impl FieldVisitor {
    fn put(&mut self, name: &str, value: Value) {
        match name.split_once('.') {
            Some((outer, inner)) => {
                let entry = self
                    .map
                    .entry(outer.to_string())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(obj) = entry {
                    obj.insert(inner.to_string(), value);
                }
            }
            None => {
                self.map.insert(name.to_string(), value);
            }
        }
    }
}

impl Visit for FieldVisitor {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let v = serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number);
        self.put(field.name(), v);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field.name(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field.name(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field.name(), Value::from(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field.name(), Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field.name(), Value::String(format!("{value:?}")));
    }
}

/// A log file rotated by size: `FILE` → `FILE.1` → … → `FILE.N`, oldest dropped.
#[derive(Debug)]
pub struct RotatingFile {
    state: Mutex<RotState>,
}

#[derive(Debug)]
struct RotState {
    path: PathBuf,
    file: File,
    size: u64,
    max_bytes: u64,
    max_files: usize,
}

impl RotatingFile {
    /// Opens (appending) `path`, rotating when a write would take it past `max_bytes`.
    pub fn open(path: &Path, max_bytes: u64, max_files: usize) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            state: Mutex::new(RotState {
                path: path.to_path_buf(),
                file,
                size,
                max_bytes,
                max_files,
            }),
        })
    }
}

impl RotState {
    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        if self.max_files == 0 {
            self.file = File::create(&self.path)?;
        } else {
            for i in (1..self.max_files).rev() {
                let from = numbered(&self.path, i);
                if from.exists() {
                    std::fs::rename(&from, numbered(&self.path, i + 1))?;
                }
            }
            std::fs::rename(&self.path, numbered(&self.path, 1))?;
            self.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
        }
        self.size = 0;
        Ok(())
    }
}

/// `FILE.n`.
pub fn numbered(path: &Path, n: usize) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

impl Write for &RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut st = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let len = buf.len() as u64;
        if st.size > 0 && st.size + len > st.max_bytes {
            st.rotate()?;
        }
        st.file.write_all(buf)?;
        st.size += len;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .file
            .flush()
    }
}

/// Builds the writer the config asks for.
pub fn make_writer(config: &LoggingConfig) -> Result<BoxMakeWriter, LoggingError> {
    match &config.file {
        Some(path) => {
            let file =
                RotatingFile::open(path, config.max_bytes, config.max_files).map_err(|source| {
                    LoggingError::Open {
                        path: path.clone(),
                        source,
                    }
                })?;
            Ok(BoxMakeWriter::new(Arc::new(file)))
        }
        None => Ok(BoxMakeWriter::new(io::stdout)),
    }
}

/// Installs the global JSON subscriber: this crate at `config.level`, libraries at warn.
pub fn init(config: &LoggingConfig) -> Result<(), LoggingError> {
    let filter = EnvFilter::try_new(format!("warn,server={}", config.level))
        .map_err(|e| LoggingError::Filter(e.to_string()))?;
    let layer = tracing_subscriber::fmt::layer()
        .event_format(ContractJson)
        .with_writer(make_writer(config)?);
    tracing_subscriber::registry()
        .with(filter)
        .with(layer)
        .try_init()
        .map_err(|_| LoggingError::AlreadyInstalled)
}

/// The `error.stack` text: the error's source chain, one cause per line.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = String::new();
    let mut cur = err.source();
    while let Some(e) = cur {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str("caused by: ");
        out.push_str(&e.to_string());
        cur = e.source();
    }
    if out.is_empty() {
        out.push_str("(no further cause)");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn capture(f: impl FnOnce()) -> Vec<Value> {
        let buf = Buf::default();
        let out = buf.clone();
        let sub = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .event_format(ContractJson)
                .with_writer(move || buf.clone()),
        );
        tracing::subscriber::with_default(sub, f);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn formats_contract_fields_with_nested_error() {
        let lines = capture(|| {
            tracing::error!(
                event = "job.failed",
                requestId = "r1",
                jobId = "j1",
                duration = 12u64,
                error.name = "ProviderError",
                error.message = "boom",
                error.stack = "caused by: x",
                "job failed"
            );
        });
        assert_eq!(lines.len(), 1);
        let l = &lines[0];
        assert_eq!(l["level"], "error");
        assert_eq!(l["event"], "job.failed");
        assert_eq!(l["message"], "job failed");
        assert_eq!(l["duration"], 12);
        assert_eq!(l["error"]["name"], "ProviderError");
        assert_eq!(l["error"]["stack"], "caused by: x");
        let ts = l["timestamp"].as_str().unwrap();
        assert!(ts.ends_with('Z'), "{ts}");
        time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).unwrap();
        let keys: Vec<&String> = l.as_object().unwrap().keys().collect();
        assert_eq!(keys[..4], ["timestamp", "level", "message", "event"]);
    }

    #[test]
    fn lines_without_event_get_the_fallback() {
        let lines = capture(|| tracing::warn!("plain"));
        assert_eq!(lines[0]["event"], FALLBACK_EVENT);
        assert_eq!(lines[0]["level"], "warn");
    }

    #[test]
    fn rotating_file_rotates_by_size_and_keeps_n() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.log");
        let f = RotatingFile::open(&path, 100, 2).unwrap();
        let line = [b'x'; 39];
        for _ in 0..10 {
            let mut w = &f;
            w.write_all(&line).unwrap();
            w.write_all(b"\n").unwrap();
        }
        assert!(numbered(&path, 1).exists());
        assert!(numbered(&path, 2).exists());
        assert!(!numbered(&path, 3).exists());
        for p in [path.clone(), numbered(&path, 1), numbered(&path, 2)] {
            let len = std::fs::metadata(&p).unwrap().len();
            assert!(len <= 100, "{} is {len} bytes", p.display());
        }
    }

    #[test]
    fn error_chain_lists_causes() {
        let inner = io::Error::other("disk full");
        let outer = LoggingError::Open {
            path: "/x".into(),
            source: inner,
        };
        assert!(error_chain(&outer).contains("disk full"));
    }
}
