//! Fuzz target: arbitrary bytes as one Fluent forward connection's stream, through the whole
//! decoder (frame scan, the four modes, gzip, EventTime, record mapping, partial joining). It
//! must never panic, and every line it ships must be one JSON object without a newline.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// A small frame limit, so the fuzzer also reaches the over-the-limit paths.
const MAX_FRAME_BYTES: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let (lines, _) = daemon::testing::decode_forward_stream(data, MAX_FRAME_BYTES);
    for line in lines {
        assert!(!line.contains(&b'\n'), "one event, one line");
        let value: serde_json::Value =
            serde_json::from_slice(&line).expect("every shipped line is JSON");
        assert!(value.is_object(), "every shipped line is a JSON object");
    }
});
