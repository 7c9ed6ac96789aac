//! `aistudio-sidecar alarms test`: the offline alarm unit tests (`alarms/tests/*.toml`, run by
//! the `alarm-eval` engine) against the alarms of `alarms/`, rendered in memory for each
//! environment exactly as `provision render` would write them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use alarm_eval::{run_files, AlarmSource, Format};
use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use provision::render::{Placeholders, Rendered};

use crate::config::KNOWN_ENVIRONMENTS;

/// Region the alarms are rendered for offline; actions' topic ARNs carry it, nothing else.
const OFFLINE_REGION: &str = "us-east-1";

/// Arguments of `aistudio-sidecar alarms`.
#[derive(Debug, Args)]
pub struct AlarmsArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: AlarmsCommand,
}

/// The alarm verbs.
#[derive(Debug, Subcommand)]
pub enum AlarmsCommand {
    /// Run alarm unit tests offline: does each alarm fire on this data, and stay quiet on that?
    Test {
        /// Test files or directories of them (default: `alarms/tests` under `--dir`).
        paths: Vec<PathBuf>,
        /// Definitions root holding `alarms/` (and `dashboards/`).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Output: a line per test with failure timelines, or JUnit XML for CI systems.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
        /// Print the timeline of every test, not only of the failures.
        #[arg(long)]
        verbose: bool,
    },
}

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Text.
    Text,
    /// JUnit XML.
    Junit,
}

/// The definitions rendered for every environment.
struct RenderedAlarms {
    by_env: BTreeMap<String, Rendered>,
}

impl AlarmSource for RenderedAlarms {
    fn alarm(&self, alarm_id: &str, env: &str) -> Result<serde_json::Value, String> {
        let Some(rendered) = self.by_env.get(env) else {
            return Err(format!(
                "environment `{env}` is not one of {}; write one of them",
                KNOWN_ENVIRONMENTS.join(", ")
            ));
        };
        let name = alarm_eval::source::alarm_name(alarm_id, env);
        let spec = rendered
            .alarms
            .iter()
            .find(|a| a.alarm_name == name)
            .ok_or_else(|| {
                format!("no alarm `{alarm_id}` in alarms/ (rendered for {env} as `{name}`)")
            })?;
        serde_json::to_value(spec).map_err(|err| format!("cannot encode alarm `{name}`: {err}"))
    }

    fn alarm_ids(&self, env: &str) -> Vec<String> {
        let prefix = provision::render::name_prefix(env);
        self.by_env
            .get(env)
            .map(|r| {
                r.alarms
                    .iter()
                    .filter_map(|a| a.alarm_name.strip_prefix(&prefix).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Runs an alarm verb; an error means the tests could not run, a failing test is reported
/// and turns into a non-zero exit.
pub fn execute(args: AlarmsArgs) -> anyhow::Result<()> {
    let AlarmsCommand::Test {
        paths,
        dir,
        format,
        verbose,
    } = args.command;
    let mut by_env = BTreeMap::new();
    for env in KNOWN_ENVIRONMENTS {
        let rendered = provision::load_rendered(&dir, &Placeholders::defaults(env, OFFLINE_REGION))
            .with_context(|| {
                format!(
                    "cannot render the alarms under {} for {env}; run `aistudio-sidecar provision validate --dir {}`",
                    dir.display(),
                    dir.display()
                )
            })?;
        by_env.insert(env.to_owned(), rendered);
    }
    let paths = if paths.is_empty() {
        vec![dir.join(alarm_eval::DEFAULT_TEST_DIR)]
    } else {
        paths
    };
    let report = run_files(&paths, &RenderedAlarms { by_env });
    let text = match (format, verbose) {
        (OutputFormat::Junit, _) => report.render(Format::Junit),
        (OutputFormat::Text, verbose) => report.to_text(verbose),
    };
    print!("{text}");
    if report.success() {
        Ok(())
    } else {
        anyhow::bail!("alarm tests failed; the timelines above show where")
    }
}
