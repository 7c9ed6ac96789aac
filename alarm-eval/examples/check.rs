//! Runs alarm test files against rendered payloads until the CLI has `alarms test`:
//!
//! ```sh
//! aistudio-sidecar provision render --env dev --out build/rendered-dev
//! aistudio-sidecar provision render --env prod --out build/rendered-prod
//! cargo run -p alarm-eval --example check -- --rendered build/rendered-dev --rendered build/rendered-prod alarms/tests
//! ```
//!
//! Options: `--format text|junit`, `--verbose` (every test's timeline). Exit code 1 if any
//! test fails or cannot run, 2 on bad arguments.

use std::path::PathBuf;
use std::process::ExitCode;

use alarm_eval::{run_files, Format, RenderedDir};

const USAGE: &str =
    "usage: check --rendered DIR [--rendered DIR ...] [--format text|junit] [--verbose] PATH...";

fn main() -> ExitCode {
    let mut dirs = Vec::new();
    let mut paths = Vec::new();
    let mut format = Format::Text;
    let mut verbose = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rendered" => match args.next() {
                Some(d) => dirs.push(RenderedDir::new(d)),
                None => return usage("--rendered needs a directory"),
            },
            "--format" => match args.next().as_deref() {
                Some("text") => format = Format::Text,
                Some("junit") => format = Format::Junit,
                _ => return usage("--format is text or junit"),
            },
            "--verbose" => verbose = true,
            other if other.starts_with("--") => return usage(&format!("unknown option {other}")),
            other => paths.push(PathBuf::from(other)),
        }
    }
    if dirs.is_empty() || paths.is_empty() {
        return usage("give at least one --rendered DIR and one test path");
    }
    let report = run_files(&paths, &dirs);
    let text = match (format, verbose) {
        (Format::Text, true) => report.to_text(true),
        _ => report.render(format),
    };
    print!("{text}");
    if report.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("{problem}\n{USAGE}");
    ExitCode::from(2)
}
