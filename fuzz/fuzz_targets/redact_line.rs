//! Fuzz target: arbitrary bytes through the redactor. It must never panic, must write one line
//! for one line, and a valid JSON line must come out as valid JSON (with as many keys at the top).
#![no_main]

use std::sync::OnceLock;

use daemon::redact::{RedactConfig, Redactor};
use libfuzzer_sys::fuzz_target;

fn redactor() -> Option<&'static Redactor> {
    static R: OnceLock<Option<Redactor>> = OnceLock::new();
    R.get_or_init(|| {
        let config = RedactConfig {
            ip_addresses: true,
            ..RedactConfig::default()
        };
        Redactor::new(&config).ok()
    })
    .as_ref()
}

fuzz_target!(|data: &[u8]| {
    let Some(r) = redactor() else { return };
    let out = r.redact_line(data);
    if !data.contains(&b'\n') {
        assert!(!out.contains('\n'), "one line in, one line out");
    }
    if let Ok(input) = serde_json::from_slice::<serde_json::Value>(data) {
        let output: serde_json::Value = match serde_json::from_str(&out) {
            Ok(v) => v,
            Err(e) => panic!("valid JSON in, invalid JSON out ({e}): {out}"),
        };
        if let (Some(a), Some(b)) = (input.as_object(), output.as_object()) {
            assert!(b.len() <= a.len(), "no key is added");
        }
        let mut v = input;
        r.redact_value(&mut v);
    }
    let _ = r.redact_str(&String::from_utf8_lossy(data));
});
