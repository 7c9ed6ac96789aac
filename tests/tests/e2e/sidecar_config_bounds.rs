//! Bounded configuration and a shutdown-aware tailer, with the real binary: absurd values are
//! refused by `validate` (and `run`) naming the allowed range, and a file source with the
//! longest allowed poll interval still stops at once on SIGTERM (its idle sleep watches the
//! shutdown). `validate` reports every problem of a file in one run, each at its file, line
//! and column with a fix: unknown keys, wrong types and bad values in every section. A
//! missing file is one line; a file sink rotating at 0 bytes is refused with the range.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tests::sidecar::{append_lines, contract_line, health, run_sidecar, Sidecar, Workspace};

#[test]
fn absurd_values_are_refused_naming_the_allowed_range() {
    let ws = Workspace::new();
    let path = ws.path("bad.toml");
    std::fs::write(
        &path,
        "shutdown_deadline_secs = 86400\n[[sources.file]]\ninclude = [\"/var/log/x/*.log\"]\npoll_interval_ms = 120000\n",
    )
    .unwrap();
    let path = path.display().to_string();
    let (code, _, stderr) = run_sidecar(&["validate", "--config", &path]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "sources.file[0].poll_interval_ms: 120000 is out of range; allowed 10..=10000"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("shutdown_deadline_secs: 86400 is out of range; allowed 1..=120"),
        "{stderr}"
    );
    let (code, _, stderr) = run_sidecar(&["run", "--config", &path]);
    assert_eq!(code, Some(1), "run refuses it too: {stderr}");
}

#[test]
fn every_sink_and_metric_interval_size_and_count_is_bounded() {
    let ws = Workspace::new();
    let path = ws.path("bad.toml");
    std::fs::write(
        &path,
        "[sinks.cloudwatch_logs]\nlog_group = \"/aws/ecs/x\"\nbatch_timeout_ms = 0\nmax_in_flight = 500\n\
         [metrics]\nflush_grace_ms = 7200000\nbatch_delay_ms = 999999\nmax_dimension_sets_per_metric = 0\n\
         max_pending_datums = 50000000\nfile_max_bytes = 10\n",
    )
    .unwrap();
    let (code, _, stderr) = run_sidecar(&["validate", "--config", &path.display().to_string()]);
    assert_eq!(code, Some(1), "{stderr}");
    for line in [
        "sinks.cloudwatch_logs.batch_timeout_ms: 0 is out of range; allowed 1..=60000",
        "sinks.cloudwatch_logs.max_in_flight: 500 is out of range; allowed 1..=16",
        "metrics.flush_grace_ms: 7200000 is out of range; allowed 0..=3600000",
        "metrics.batch_delay_ms: 999999 is out of range; allowed 0..=60000",
        "metrics.max_dimension_sets_per_metric: 0 is out of range; allowed 1..=10000",
        "metrics.max_pending_datums: 50000000 is out of range; allowed 1..=1000000",
        "metrics.file_max_bytes: 10 is out of range; allowed 4096..=10737418240",
    ] {
        assert!(stderr.contains(line), "missing `{line}`: {stderr}");
    }
}

#[tokio::test]
async fn a_long_poll_interval_does_not_hold_the_shutdown() {
    let ws = Workspace::new();
    append_lines(&ws.path("app.log"), &[contract_line(0)]);
    let config = format!(
        "shutdown_deadline_secs = 5\n[[sources.file]]\ninclude = [\"{}\"]\npoll_interval_ms = 10000\n[sinks.file]\npath = \"{}\"\n",
        ws.path("*.log").display(),
        ws.path("out.ndjson").display()
    );
    let mut sidecar = Sidecar::start(ws.tmp.path(), &config, &[], Stdio::null()).unwrap();
    sidecar
        .wait_metric_at_least(
            "aistudio_sidecar_events_shipped_total",
            1.0,
            Duration::from_secs(30),
        )
        .await;
    health(&sidecar).await;
    // The tailer is now in its 10 s idle sleep.
    let signalled = Instant::now();
    sidecar.signal("TERM");
    let code = sidecar.wait_exit(Duration::from_secs(30)).await;
    let took = signalled.elapsed();
    assert_eq!(code, Some(0), "{}", sidecar.stderr());
    assert!(
        took < Duration::from_secs(2),
        "SIGTERM to exit took {took:?} with a 10 s poll interval"
    );
    println!("poll_interval_ms = 10000: SIGTERM to exit {took:?}");
}

#[test]
fn validate_reports_every_problem_in_one_run_with_file_line_and_column() {
    let ws = Workspace::new();
    let path = ws.path("many.toml");
    let text = [
        "environmnet = \"prod\"",           // 1: unknown key, misspelt
        "shutdown_deadline_secs = \"20\"",  // 2: a string for a number
        "[buffer]",                         // 3
        "max_memory_byts = 67108864",       // 4: unknown key, misspelt
        "when_full = \"explode\"",          // 5: not a variant
        "[sinks.file]",                     // 6
        "path = \"out.ndjson\"",            // 7
        "colour = \"blue\"",                // 8: unknown key
        "max_files = -1",                   // 9: negative
        "[redact]",                         // 10
        "hash_chars = 3",                   // 11: out of range
        "disable = [\"phone\", \"nope\"]",  // 12: unknown rule (element 1)
        "modes = { emial = \"mask\" }",     // 13: unknown rule
        "ip_adresses = true",               // 14: unknown key
        "[[redact.custom]]",                // 15
        "name = \"Bad Name\"",              // 16: not a label
        "pattern = \"(\"",                  // 17: not a regex
        "[[sources.file]]",                 // 18: include missing
        "read_from = \"beginning\"",        // 19
        "[[sources.file]]",                 // 20
        "include = [\"/var/log/x/*.log\"]", // 21
        "poll_interval_ms = true",          // 22: a boolean for a number
    ]
    .join("\n");
    std::fs::write(&path, text).unwrap();
    let path = path.display().to_string();
    let (code, _, stderr) = run_sidecar(&["validate", "--config", &path]);
    assert_eq!(code, Some(1), "{stderr}");
    let expected = [
        "1:1: environmnet: unknown key; rename it to `environment` or remove it",
        "2:26: shutdown_deadline_secs: invalid type: string \"20\", expected a whole number",
        "4:1: buffer.max_memory_byts: unknown key; rename it to `max_memory_bytes` or remove it",
        "5:13: buffer.when_full: \"explode\" is not allowed; use \"block\" or \"drop\"",
        "8:1: sinks.file.colour: unknown key; remove it (keys here: `path`, `max_bytes`, `max_files`)",
        "9:13: sinks.file.max_files: invalid value: integer `-1`, expected a whole number, 0 or more",
        "11:14: redact.hash_chars: redact.hash_chars is 3; use a number from 8 to 64",
        "12:21: redact.disable[1]: redact.disable names unknown rule `nope`",
        "13:19: redact.modes.emial: redact.modes names unknown rule `emial`",
        "14:1: redact.ip_adresses: unknown key; rename it to `ip_addresses` or remove it",
        "16:8: redact.custom[0].name: custom redaction rule name `Bad Name` is invalid",
        "17:11: redact.custom[0].pattern: custom redaction rule `Bad Name` has an invalid regex: regex parse error: ( ^ error: unclosed group; fix its `pattern`",
        "18:1: sources.file[0]: missing key `include`; add it",
        "22:20: sources.file[1].poll_interval_ms: invalid type: boolean `true`, expected a whole number",
    ];
    for line in expected {
        assert!(
            stderr.contains(&format!("{path}:{line}")),
            "missing `{path}:{line}` in\n{stderr}"
        );
    }
    assert!(
        stderr.contains(&format!("({} problems)", expected.len())),
        "exactly these problems, once each:\n{stderr}"
    );

    // The same file, repaired, validates: nothing above was a false alarm about the rest.
    let fixed = ws.path("fixed.toml");
    std::fs::write(
        &fixed,
        "environment = \"prod\"\nshutdown_deadline_secs = 20\n[buffer]\nwhen_full = \"drop\"\n[redact]\ndisable = [\"phone\"]\n[[redact.custom]]\nname = \"bad_name\"\npattern = \"x+\"\n[[sources.file]]\ninclude = [\"/var/log/x/*.log\"]\n",
    )
    .unwrap();
    let fixed = fixed.display().to_string();
    let (code, stdout, stderr) = run_sidecar(&["validate", "--config", &fixed]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("ok"), "{stdout}");

    // A TOML syntax error stops there, located.
    let broken = ws.path("broken.toml");
    std::fs::write(&broken, "environment = \"prod\"\n[buffer\n").unwrap();
    let broken = broken.display().to_string();
    let (code, _, stderr) = run_sidecar(&["validate", "--config", &broken]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{broken}:2:")) && stderr.contains("TOML syntax error"),
        "{stderr}"
    );
}

#[test]
fn a_missing_file_is_one_line_and_a_zero_byte_rotation_is_refused() {
    let ws = Workspace::new();
    let missing = ws.path("nope.toml").display().to_string();
    let (code, _, stderr) = run_sidecar(&["validate", "--config", &missing]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "the I/O error is said once: {stderr}"
    );
    assert!(
        stderr.contains(&format!("cannot read config file {missing}"))
            && stderr.contains("check the path"),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");

    let zero = ws.path("zero.toml");
    std::fs::write(
        &zero,
        "[sinks.file]\npath = \"out.ndjson\"\nmax_bytes = 0\n",
    )
    .unwrap();
    let zero = zero.display().to_string();
    let (code, _, stderr) = run_sidecar(&["validate", "--config", &zero]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{zero}:3:13: sinks.file.max_bytes: 0 is out of range; allowed 1048576..=1099511627776"
        )),
        "{stderr}"
    );
}
