//! Criterion bench of the redactor's per-line cost on JSON and plain lines, clean and dirty.
//! Run with `cargo bench -p daemon --bench redact`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use daemon::redact::{RedactConfig, Redactor};

const JSON_CLEAN: &str = r#"{"timestamp":"2026-11-01T00:00:00.003Z","level":"info","message":"stream completed","requestId":"req-2facf844","jobId":"job-423b2817","userId":"4111","provider":"bedrock","modelId":"anthropic.claude-3-5-sonnet","duration":2235}"#;
const JSON_KEY_ONLY: &str = r#"{"timestamp":"2026-11-01T00:00:00.003Z","level":"info","message":"first token received","requestId":"req-2facf844","jobId":"job-423b2817","userId":"4111","provider":"openai","modelId":"gpt-4o","duration":197}"#;
const JSON_DIRTY: &str = r#"{"timestamp":"2026-11-01T00:00:00.003Z","level":"error","message":"payment card 4111 1111 1111 1111 declined for alice.smith@example.com","requestId":"req-2facf844","user":{"phone":"+1-555-017-1234","apiKey":"sk-abcdefghijklmnopqrstuvwxyz0123456789abcd"},"duration":2235}"#;
const PLAIN_CLEAN: &str = "2026-11-01T00:00:00.003Z INFO [req-2facf844] stream completed provider=bedrock model=anthropic.claude-3-5-sonnet duration=2235ms";
/// Lines only the `high_entropy` rule and the plain-text key rules catch (issue 18).
const PLAIN_UNNAMED: &str = "2026-11-01T00:00:00.003Z ERROR [req-2facf844] upstream closed, session Xb7RkP2mQ9dLs4TwVn8cYe3H after 3 retries";
const JSON_LONG_TOKEN: &str = r#"{"timestamp":"2026-11-01T00:00:00.003Z","level":"error","message":"retry budget spent for 9f#Kq2!vLm0Tz","requestId":"req-2facf844","userAgent":"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.71","duration":2235}"#;
const PLAIN_DIRTY: &str = "2026-11-01T00:00:00.003Z WARN [req-2facf844] login from alice.smith@example.com password=hunter2 auth header Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIx.sig";

fn bench(c: &mut Criterion) {
    let redactor = match Redactor::new(&RedactConfig::default()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot build the redactor: {e}");
            return;
        }
    };
    let mut group = c.benchmark_group("redact_line");
    for (name, line) in [
        ("json_clean", JSON_CLEAN),
        ("json_key_stem_only", JSON_KEY_ONLY),
        ("json_dirty", JSON_DIRTY),
        ("plain_clean", PLAIN_CLEAN),
        ("plain_dirty", PLAIN_DIRTY),
        ("plain_unnamed_secret", PLAIN_UNNAMED),
        ("json_long_token", JSON_LONG_TOKEN),
    ] {
        group.throughput(Throughput::Bytes(line.len() as u64));
        let mut out = String::new();
        group.bench_function(name, |b| {
            b.iter(|| {
                redactor.redact_line_into(black_box(line.as_bytes()), &mut out);
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
