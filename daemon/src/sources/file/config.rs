//! `[[sources.file]]`: which files a file source tails and how, checked by `validate`.

use std::path::PathBuf;

use aistudio_core::bounds::out_of_range;
use serde::{Deserialize, Serialize};

use super::paths;
use crate::sources::ReadFrom;

/// How often an idle tailer looks for new lines, new files and rotations (Fluent Bit's tail
/// input polls at 250 ms by default too).
pub const DEFAULT_POLL_INTERVAL_MS: u64 = 250;
/// Allowed `poll_interval_ms`: below 10 ms an idle tailer spins; above 10 s new lines wait
/// too long (and a shutdown never waits on it: the sleep is sliced, see the tailer's `idle`).
pub const POLL_INTERVAL_MS_RANGE: std::ops::RangeInclusive<u64> = 10..=10_000;

/// `[[sources.file]]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// Glob patterns of the files to tail, e.g. `/var/log/aistudio/*.log`.
    pub include: Vec<String>,
    /// Where to start in a file that has no checkpoint and existed at start-up; files that
    /// appear later are always read from their beginning.
    #[serde(default)]
    pub read_from: ReadFrom,
    /// Checkpoint file; default `<data_dir>/checkpoints-<index>.json`.
    #[serde(default)]
    pub checkpoint_path: Option<PathBuf>,
    /// Milliseconds between polls when there is nothing new to read.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// Follow symbolic links the globs match. Off by default; when on, a link is read only if
    /// it resolves inside the directories the globs name, and never into `/proc`, `/sys` or
    /// `/dev`.
    #[serde(default)]
    pub follow_symlinks: bool,
}

impl FileSourceConfig {
    /// Every problem of `[[sources.file]]` number `index`, each naming its key and the fix.
    pub fn problems(&self, index: usize) -> Vec<String> {
        let mut problems = Vec::new();
        if self.include.is_empty() {
            problems.push(format!(
                "sources.file[{index}].include: empty; give at least one glob"
            ));
        }
        problems.extend(out_of_range(
            &format!("sources.file[{index}].poll_interval_ms"),
            self.poll_interval_ms,
            &POLL_INTERVAL_MS_RANGE,
        ));
        for pattern in &self.include {
            if let Err(err) = glob::Pattern::new(pattern) {
                problems.push(format!(
                    "sources.file[{index}].include: `{pattern}` is not a valid glob: {err}"
                ));
            }
            if paths::in_pseudo_filesystem(&paths::glob_directory(pattern)) {
                problems.push(format!(
                    "sources.file[{index}].include: `{pattern}` reads from /proc, /sys or /dev, whose files are not logs; point it at the log directory"
                ));
            }
        }
        problems
    }
}

fn default_poll_interval_ms() -> u64 {
    DEFAULT_POLL_INTERVAL_MS
}
