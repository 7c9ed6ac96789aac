//! The local default for metrics: each datum as one NDJSON line in PutMetricData's shape
//! (with `Namespace`), in a size-rotated file.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::datum::Datum;

/// Appends datums to a file, keeping one rotated predecessor (`<path>.1`).
#[derive(Debug, Clone)]
pub struct MetricsFile {
    /// The file.
    pub path: PathBuf,
    /// Rotate at this size.
    pub max_bytes: u64,
    /// Namespace written on every line.
    pub namespace: String,
}

impl MetricsFile {
    /// Appends `datums`, one line each, and flushes.
    pub fn write(&self, datums: &[Datum]) -> std::io::Result<()> {
        if datums.is_empty() {
            return Ok(());
        }
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let mut buf = Vec::with_capacity(datums.len() * 256);
        for datum in datums {
            serde_json::to_writer(&mut buf, &datum.to_json(&self.namespace))?;
            buf.push(b'\n');
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        file.write_all(&buf)?;
        file.flush()?;
        if file.metadata()?.len() >= self.max_bytes {
            rotate(&self.path)?;
        }
        Ok(())
    }
}

fn rotate(path: &Path) -> std::io::Result<()> {
    let mut rotated = path.as_os_str().to_owned();
    rotated.push(".1");
    std::fs::rename(path, PathBuf::from(rotated))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datum::{DatumValue, Unit};

    #[test]
    fn writes_one_line_per_datum_and_rotates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = MetricsFile {
            path: dir.path().join("m/metrics.ndjson"),
            max_bytes: 400,
            namespace: "AIStudio/Streaming".into(),
        };
        let datum = Datum {
            metric: "JobsCreated".into(),
            dimensions: vec![("Environment".into(), "dev".to_owned())].into(),
            timestamp_ms: 1_800_000_000_000,
            unit: Unit::Count,
            storage_resolution: 60,
            value: DatumValue::Stats {
                count: 2.0,
                sum: 2.0,
                min: 1.0,
                max: 1.0,
            },
        };
        file.write(std::slice::from_ref(&datum)).expect("write");
        let text = std::fs::read_to_string(&file.path).expect("read");
        let line: serde_json::Value = serde_json::from_str(text.trim()).expect("json line");
        assert_eq!(line["Namespace"], "AIStudio/Streaming");
        assert_eq!(line["StatisticValues"]["Sum"], 2.0);
        file.write(&[datum.clone(), datum]).expect("write");
        assert!(
            dir.path().join("m/metrics.ndjson.1").exists(),
            "rotated past 400 bytes"
        );
    }
}
