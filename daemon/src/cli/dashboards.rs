//! `aistudio-sidecar dashboards preview`: every dashboard of `dashboards/`, rendered for an
//! environment as `provision apply` would send it, drawn from the sidecar's datum file (or
//! from CloudWatch with GetMetricData) into HTML pages, PNGs and an index page
//! (`aistudio-preview` does the work; this is the command-line edge).

use std::path::PathBuf;

use aistudio_core::aws::{AwsClients, AwsConfig};
use aistudio_preview::{About, DatumStore, MetricData, Range, Severity};
use anyhow::Context;
use clap::{Args, Subcommand};
use provision::render::Placeholders;

use crate::config::KNOWN_ENVIRONMENTS;
use crate::redact::{RedactConfig, Redactor};

/// How far back `--cloudwatch` reads when `--minutes` is not given: three hours, the
/// console's default range.
const DEFAULT_MINUTES: i64 = 180;
/// The longest range `--cloudwatch` reads: two weeks, CloudWatch's one-minute retention
/// (older data only exists at 5-minute and 1-hour resolution).
const MAX_MINUTES: i64 = 15 * 24 * 60;

/// Arguments of `aistudio-sidecar dashboards`.
#[derive(Debug, Args)]
pub struct DashboardsArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: DashboardsCommand,
}

/// The dashboard verbs.
#[derive(Debug, Subcommand)]
pub enum DashboardsCommand {
    /// Draw every dashboard from metric datums: one HTML page and one PNG each, plus index.html.
    Preview {
        /// Environment the dashboards are rendered for.
        #[arg(long, value_parser = KNOWN_ENVIRONMENTS)]
        env: String,
        /// Datum files the sidecar wrote (`<data_dir>/metrics.ndjson`); repeat for several.
        #[arg(long, required_unless_present = "cloudwatch")]
        data: Vec<PathBuf>,
        /// Read the datums from CloudWatch (GetMetricData) with the `[aws]` settings,
        /// `AWS_REGION` and `AWS_ENDPOINT_URL`, instead of files.
        #[arg(long, conflicts_with = "data")]
        cloudwatch: bool,
        /// With --cloudwatch: minutes back from now to read.
        #[arg(long, default_value_t = DEFAULT_MINUTES, value_parser = clap::value_parser!(i64).range(1..=MAX_MINUTES))]
        minutes: i64,
        /// Output folder (created; existing previews are overwritten).
        #[arg(long)]
        out: PathBuf,
        /// Definitions root holding `dashboards/` and `alarms/`.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// `${Region}` of the dashboards; default: the config / AWS_REGION, else us-east-1.
        #[arg(long)]
        region: Option<String>,
    },
}

/// Runs a dashboard verb. Every problem is one line on stderr; bad input fails the command
/// after the pages for everything else are written.
pub async fn execute(args: DashboardsArgs, mut aws: AwsConfig) -> anyhow::Result<()> {
    let DashboardsCommand::Preview {
        env,
        data,
        cloudwatch,
        minutes,
        out,
        dir,
        region,
    } = args.command;
    if let Some(r) = &region {
        aws.region = Some(r.clone());
    }
    let region = aws
        .region
        .clone()
        .unwrap_or_else(|| provision::FALLBACK_REGION.to_owned());
    let mut problems = Vec::new();
    let defs = aistudio_preview::load_definitions(
        &dir,
        &Placeholders::defaults(&env, &region),
        &mut problems,
    );
    let (source, store, range): (String, Box<dyn MetricData>, Option<Range>) = if cloudwatch {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let range = Range {
            from: now - minutes * 60,
            to: now,
        };
        let clients = AwsClients::from_config(&aws).await;
        let queries = aistudio_preview::cloudwatch::queries(&defs.dashboards);
        let fetched = aistudio_preview::cloudwatch::fetch(&clients, &queries, range).await?;
        (
            format!("CloudWatch GetMetricData ({region}), last {minutes} min"),
            Box::new(fetched),
            Some(range),
        )
    } else {
        let mut store = DatumStore::default();
        for path in &data {
            aistudio_preview::datums::read_file(path, &mut store, &mut problems);
        }
        let names: Vec<String> = data.iter().map(|p| p.display().to_string()).collect();
        (
            format!("{} ({} datums)", names.join(", "), store.len()),
            Box::new(store),
            None,
        )
    };
    let Some(range) = aistudio_preview::range_of(store.as_ref(), range) else {
        redact(&mut problems);
        report(&problems);
        anyhow::bail!("no datums to preview from {source}: run the sidecar (or the demo) first, or check --data");
    };
    let previews = aistudio_preview::build(&defs, store.as_ref(), range, &mut problems);
    redact(&mut problems);
    let about = About { env, source };
    let written = aistudio_preview::html::write_all(&out, &previews, &about, &problems)
        .context("cannot write the previews")?;
    report(&problems);
    println!(
        "previewed {} dashboard(s) into {}; open {}",
        written.pages.len(),
        out.display(),
        written.index.display()
    );
    let errors = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .count();
    if errors > 0 {
        anyhow::bail!("{errors} problem(s) in the input (the error lines above); the pages show everything else");
    }
    Ok(())
}

/// Passes each problem's text through the default redactor, like every message of the
/// sidecar (a datum line or a dashboard may quote anything), before it is printed or written
/// into the index page.
fn redact(problems: &mut [aistudio_preview::Problem]) {
    let Ok(redactor) = Redactor::new(&RedactConfig::default()) else {
        return;
    };
    for p in problems {
        p.message = redactor.redact_str(&p.message).into_owned();
        p.file = redactor.redact_str(&p.file).into_owned();
    }
}

/// Prints each problem on its own line.
fn report(problems: &[aistudio_preview::Problem]) {
    for p in problems {
        eprintln!("{p}");
    }
}
