//! Cost per event of metric extraction + aggregation (the work the processor thread adds per
//! line), on log-contract lines with the default catalog rules, on W1-shaped lines (no
//! `event` field: the prefilter's cost), and on W1 lines with rules mapped to W1's messages.
//!
//! `cargo bench -p daemon --bench metrics`

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use daemon::event::LogEvent;
use daemon::metric_stage::config::MetricsConfig;
use daemon::metric_stage::histogram::Distribution;
use daemon::metric_stage::Aggregator;
use daemon::metric_stage::Exporter;

const LINES: usize = 10_000;
const NOW: i64 = 1_800_000_000_000;

/// Contract lines as the server writes them (redacted already), a mix of every catalog event.
fn contract_lines() -> Vec<LogEvent> {
    let mut rng = fastrand::Rng::with_seed(7);
    let providers = [
        ("openai", "gpt-4o"),
        ("bedrock", "anthropic.claude-3-5-sonnet"),
        ("google", "gemini-1.5-pro"),
    ];
    (0..LINES)
        .map(|i| {
            let (provider, model) = providers[rng.usize(..providers.len())];
            let common = format!(
                r#""timestamp":"2027-01-15T08:00:00.000Z","level":"info","requestId":"req-{:08x}","jobId":"job-{:08x}","userId":"[REDACTED:hash:{:016x}]","provider":"{provider}","modelId":"{model}""#,
                rng.u32(..),
                rng.u32(..),
                rng.u64(..)
            );
            let message = match i % 6 {
                0 => format!(r#"{{{common},"message":"job created","event":"job.created"}}"#),
                1 => format!(r#"{{{common},"message":"first token","event":"job.first_token","duration":{}}}"#, rng.u32(50..2_000)),
                2 => format!(r#"{{{common},"message":"job completed","event":"job.completed","duration":{},"tokens":{}}}"#, rng.u32(200..60_000), rng.u32(1..4_000)),
                3 => format!(r#"{{{common},"message":"provider call","event":"provider.response","duration":{},"status":200}}"#, rng.u32(100..9_000)),
                _ => format!(
                    r#"{{{common},"message":"request","event":"http.request","endpoint":"/v1/chat/completions","method":"POST","status":{},"duration":{}}}"#,
                    if rng.u8(..) < 8 { 503 } else { 200 },
                    rng.u32(1..30_000)
                ),
            };
            LogEvent { timestamp_ms: NOW + (i as i64) * 3, message, ack: None }
        })
        .collect()
}

/// W1's shape (scripts/gen_workload.py): no `event` field.
fn w1_lines() -> Vec<LogEvent> {
    let mut rng = fastrand::Rng::with_seed(7);
    let messages = [
        "stream started",
        "first token received",
        "stream completed",
        "job created",
        "job completed",
        "provider request",
        "db query",
    ];
    (0..LINES)
        .map(|i| LogEvent {
            timestamp_ms: NOW + (i as i64) * 3,
            message: format!(
                r#"{{"timestamp":"2027-01-15T08:00:00.000Z","level":"info","message":"{}","requestId":"req-{:08x}","jobId":"job-{:08x}","userId":"{}","provider":"openai","modelId":"gpt-4o","duration":{}}}"#,
                messages[rng.usize(..messages.len())],
                rng.u32(..),
                rng.u32(..),
                rng.u32(1..5_000),
                rng.u32(5..9_000)
            ),
            ack: None,
        })
        .collect()
}

/// Rules mapping W1's messages to catalog metrics (as in README-metrics.md's W1 figures).
pub const W1_RULES: &str = r#"
default_rules = false
[[rules]]
metric = "JobsCreated"
match = { message = "job created" }
dimensions = { Provider = "provider" }
[[rules]]
metric = "JobsCompleted"
match = { message = "job completed" }
dimensions = { Provider = "provider" }
[[rules]]
metric = "ProcessingLatencyMs"
unit = "Milliseconds"
match = { message = "job completed" }
value = "duration"
dimensions = { Provider = "provider" }
[[rules]]
metric = "TimeToFirstTokenMs"
unit = "Milliseconds"
match = { message = "first token received" }
value = "duration"
dimensions = { Provider = "provider" }
[[rules]]
metric = "ProviderLatencyMs"
unit = "Milliseconds"
match = { message = "provider request" }
value = "duration"
dimensions = { Provider = "provider", ModelId = "modelId" }
[[rules]]
metric = "DatabaseQueryTimeMs"
unit = "Milliseconds"
match = { message = "db query" }
value = "duration"
[[rules]]
metric = "JobsFailed"
match = { level = "error" }
dimensions = { Provider = "provider" }
"#;

fn aggregator(config: &str) -> Aggregator {
    let config: MetricsConfig = toml::from_str(config).unwrap_or_default();
    Aggregator::new(&config, "prod", &Exporter::new())
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("metrics");
    group.throughput(Throughput::Elements(LINES as u64));
    for (name, events, rules) in [
        ("contract_lines_default_rules", contract_lines(), ""),
        (
            "contract_lines_default_rules_no_prometheus",
            contract_lines(),
            "prometheus = false",
        ),
        ("w1_lines_default_rules", w1_lines(), ""),
        ("w1_lines_w1_rules", w1_lines(), W1_RULES),
    ] {
        group.bench_function(name, |b| {
            b.iter_batched_ref(
                || aggregator(rules),
                |agg| {
                    agg.observe(black_box(&events), NOW);
                    black_box(agg.flush(NOW, true))
                },
                BatchSize::LargeInput,
            )
        });
    }
    let mut rng = fastrand::Rng::with_seed(3);
    let values: Vec<f64> = (0..LINES)
        .map(|_| (4.6 + 1.5 * (rng.f64() - 0.5)).exp())
        .collect();
    group.bench_function("histogram_record", |b| {
        b.iter(|| {
            let mut d = Distribution::default();
            for v in &values {
                d.record(*v);
            }
            black_box(d.chunks())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
