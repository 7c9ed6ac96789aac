//! What can go wrong in a preview, as one line each naming the file and the widget.

use std::fmt;

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Shown in the widget and printed; the preview is still complete (a `SEARCH`
    /// expression, a function the offline evaluator does not know).
    Note,
    /// Bad input: an unreadable datum file, a dashboard that does not parse, a widget kind the
    /// preview cannot draw. The pages are still written for everything else.
    Error,
}

/// One problem: where (file, widget) and what to do.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// Error or note.
    pub severity: Severity,
    /// The file (a dashboard, a datum file).
    pub file: String,
    /// Where in it: `widgets[3] "Title"`, `line 12`; empty for the whole file.
    pub place: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl Problem {
    /// An error in `file` at `place`.
    pub fn error(file: &str, place: &str, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            file: file.to_owned(),
            place: place.to_owned(),
            message: message.into(),
        }
    }

    /// A note in `file` at `place`.
    pub fn note(file: &str, place: &str, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Note,
            ..Self::error(file, place, message)
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Note => "note",
        };
        // One line per problem, whatever the message quoted.
        let message = self.message.replace(['\n', '\r'], " ");
        if self.place.is_empty() {
            write!(f, "{level}: {}: {message}", self.file)
        } else {
            write!(f, "{level}: {}: {}: {message}", self.file, self.place)
        }
    }
}

/// Why no preview could be written at all.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    /// The output folder could not be written.
    #[error("cannot write {path}: {source}; check the --out folder and free space")]
    Write {
        /// The file or folder.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A PNG could not be drawn or encoded.
    #[error("cannot draw {path}: {message}")]
    Draw {
        /// The file.
        path: String,
        /// What plotters said.
        message: String,
    },
    /// The datums could not be read from CloudWatch.
    #[error("cannot read the datums from CloudWatch (GetMetricData): {0}; check the credentials, the region and the endpoint")]
    CloudWatch(String),
}
