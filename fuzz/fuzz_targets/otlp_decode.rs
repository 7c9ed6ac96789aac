//! Fuzz target: arbitrary bytes as an OTLP/HTTP protobuf body for `/v1/logs` and
//! `/v1/metrics`, through the decoders and the mappings (records → lines; metrics → catalog
//! points, cumulative state included). It must never panic; every line is one JSON object
//! without a newline, and every point names a catalog metric, only its catalog dimensions,
//! and values CloudWatch accepts.
#![no_main]

use aistudio_core::catalog::catalog_metric;
use daemon::datum::check_value;
use daemon::metric_point::PointValue;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (lines, points, _message) = daemon::testing::decode_otlp_bodies(data);
    for line in lines {
        assert!(!line.contains(&b'\n'), "one record, one line");
        let value: serde_json::Value = serde_json::from_slice(&line).expect("every line is JSON");
        assert!(value.is_object(), "every line is a JSON object");
    }
    for point in points {
        let metric = catalog_metric(point.metric).expect("a catalog metric");
        for (name, _) in &point.dimensions {
            assert!(metric.has_extra_dimension(name), "a catalog dimension");
        }
        match point.value {
            PointValue::Delta(v) => assert!(check_value(v).is_ok() && v >= 0.0, "{v}"),
            PointValue::Sample(v) => assert!(check_value(v).is_ok(), "{v}"),
            PointValue::Distribution(pairs) => {
                assert!(!pairs.is_empty());
                for (v, c) in pairs {
                    assert!(check_value(v).is_ok() && c > 0, "{v} {c}");
                }
            }
        }
    }
});
