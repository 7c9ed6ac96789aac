//! Maps OTLP log records onto the log contract: the body is the line (a JSON-object string or
//! a key/value body is read as the line's fields, anything else is its `message`), severity
//! becomes `level`, and the record's attributes, `trace_id`/`span_id`, and the resource's and
//! scope's attributes are kept as fields.

use base64::Engine;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use serde_json::{Map, Value};

use crate::sources::structured::rfc3339_ns;

/// Calls `on_line` with every record of the request as one JSON line, in order; `now_ns` is
/// the time of a record that carries neither a time nor an observed time.
pub fn lines(request: &ExportLogsServiceRequest, now_ns: i128, mut on_line: impl FnMut(&[u8])) {
    let mut out = Vec::new();
    for resource_logs in &request.resource_logs {
        let resource = resource_logs
            .resource
            .as_ref()
            .map(|r| attributes(&r.attributes))
            .filter(|m| !m.is_empty());
        for scope_logs in &resource_logs.scope_logs {
            let scope = scope_logs.scope.as_ref().and_then(|s| {
                let mut scope = attributes(&s.attributes);
                if !s.version.is_empty() {
                    scope.insert("version".into(), Value::from(s.version.as_str()));
                }
                if !s.name.is_empty() {
                    scope.insert("name".into(), Value::from(s.name.as_str()));
                }
                (!scope.is_empty()).then_some(scope)
            });
            for record in &scope_logs.log_records {
                let line = line(record, resource.as_ref(), scope.as_ref(), now_ns);
                out.clear();
                // Writing a Value into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut out, &Value::Object(line));
                on_line(&out);
            }
        }
    }
}

fn line(
    record: &LogRecord,
    resource: Option<&Map<String, Value>>,
    scope: Option<&Map<String, Value>>,
    now_ns: i128,
) -> Map<String, Value> {
    let body = match record.body.as_ref().and_then(|b| b.value.as_ref()) {
        Some(Any::StringValue(text)) => json_object(text).unwrap_or_else(|| {
            Map::from_iter([("message".to_owned(), Value::from(text.as_str()))])
        }),
        Some(Any::KvlistValue(list)) => attributes(&list.values),
        Some(other) => Map::from_iter([("message".to_owned(), any(other).to_string().into())]),
        None => Map::new(),
    };
    let mut line = Map::new();
    // The record's time first, where the decoder looks for it, unless the body has its own.
    if !body.contains_key("timestamp") {
        let ns = [record.time_unix_nano, record.observed_time_unix_nano]
            .into_iter()
            .find(|&t| t > 0)
            .map_or(now_ns, i128::from);
        line.insert("timestamp".into(), Value::from(rfc3339_ns(ns)));
    }
    line.extend(body);
    let mut add = |key: &str, value: Value| {
        line.entry(key.to_owned()).or_insert(value);
    };
    if let Some(level) = level(record) {
        add("level", Value::from(level));
    }
    if !record.event_name.is_empty() {
        add("event", Value::from(record.event_name.as_str()));
    }
    for (key, value) in attributes(&record.attributes) {
        add(&key, value);
    }
    if !record.trace_id.is_empty() {
        add("trace_id", Value::from(hex(&record.trace_id)));
    }
    if !record.span_id.is_empty() {
        add("span_id", Value::from(hex(&record.span_id)));
    }
    if let Some(resource) = resource {
        add("resource", Value::Object(resource.clone()));
    }
    if let Some(scope) = scope {
        add("scope", Value::Object(scope.clone()));
    }
    line
}

/// The log contract's level from OTLP's severity number (its ranges: 1–8 trace and debug,
/// 9–12 info, 13–16 warn, 17–24 error and fatal), else from the severity text.
fn level(record: &LogRecord) -> Option<&'static str> {
    match record.severity_number {
        1..=8 => Some("debug"),
        9..=12 => Some("info"),
        13..=16 => Some("warn"),
        17..=24 => Some("error"),
        _ => match record.severity_text.to_ascii_lowercase().as_str() {
            "trace" | "debug" => Some("debug"),
            "info" | "information" => Some("info"),
            "warn" | "warning" => Some("warn"),
            "error" | "fatal" | "critical" => Some("error"),
            _ => None,
        },
    }
}

/// A string body holding a JSON object (the server's own log line), as its fields.
fn json_object(text: &str) -> Option<Map<String, Value>> {
    let trimmed = text.trim();
    if !trimmed.starts_with('{') {
        return None;
    }
    match serde_json::from_str(trimmed) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

fn attributes(list: &[KeyValue]) -> Map<String, Value> {
    list.iter()
        .map(|kv| {
            let value = kv.value.as_ref().and_then(|v| v.value.as_ref());
            (kv.key.clone(), value.map_or(Value::Null, any))
        })
        .collect()
}

fn any(value: &Any) -> Value {
    match value {
        Any::StringValue(s) => Value::from(s.as_str()),
        Any::BoolValue(b) => Value::from(*b),
        Any::IntValue(i) => Value::from(*i),
        Any::DoubleValue(d) => serde_json::Number::from_f64(*d).map_or(Value::Null, Value::Number),
        Any::ArrayValue(array) => Value::Array(
            array
                .values
                .iter()
                .map(|v: &AnyValue| v.value.as_ref().map_or(Value::Null, any))
                .collect(),
        ),
        Any::KvlistValue(list) => Value::Object(attributes(&list.values)),
        // An index into a profiles string table, which logs do not have.
        Any::StringValueStrindex(_) => Value::Null,
        Any::BytesValue(bytes) => {
            Value::from(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValueList};
    use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;

    fn kv(key: &str, value: Any) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    fn request(records: Vec<LogRecord>) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![kv(
                        "service.name",
                        Any::StringValue("aistudio-server".into()),
                    )],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: "aistudio".into(),
                        ..Default::default()
                    }),
                    log_records: records,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn collect(request: &ExportLogsServiceRequest) -> Vec<Value> {
        let mut out = Vec::new();
        lines(request, 7_000_000_000, |line| {
            out.push(serde_json::from_slice(line).unwrap())
        });
        out
    }

    #[test]
    fn string_json_and_structured_bodies_map_onto_the_contract() {
        let got = collect(&request(vec![
            LogRecord {
                time_unix_nano: 1_795_568_523_456_000_000,
                severity_number: 17,
                body: Some(AnyValue {
                    value: Some(Any::StringValue("payment failed for a@example.com".into())),
                }),
                attributes: vec![kv("requestId", Any::StringValue("req-1".into()))],
                trace_id: vec![0xab; 16],
                span_id: vec![0x01; 8],
                ..Default::default()
            },
            LogRecord {
                observed_time_unix_nano: 2_000_000_000,
                severity_text: "WARN".into(),
                body: Some(AnyValue {
                    value: Some(Any::StringValue(
                        r#"{"event":"job.completed","level":"info","duration":12}"#.into(),
                    )),
                }),
                ..Default::default()
            },
            LogRecord {
                body: Some(AnyValue {
                    value: Some(Any::KvlistValue(KeyValueList {
                        values: vec![
                            kv("event", Any::StringValue("http.request".into())),
                            kv("status", Any::IntValue(503)),
                            kv("ratio", Any::DoubleValue(f64::NAN)),
                        ],
                    })),
                }),
                ..Default::default()
            },
        ]));
        assert_eq!(got[0]["timestamp"], "2026-11-25T01:02:03.456Z");
        assert_eq!(got[0]["message"], "payment failed for a@example.com");
        assert_eq!(got[0]["level"], "error");
        assert_eq!(got[0]["requestId"], "req-1");
        assert_eq!(got[0]["trace_id"], "ab".repeat(16));
        assert_eq!(got[0]["span_id"], "01".repeat(8));
        assert_eq!(got[0]["resource"]["service.name"], "aistudio-server");
        assert_eq!(got[0]["scope"]["name"], "aistudio");
        // The body's own level wins over the severity.
        assert_eq!(got[1]["level"], "info");
        assert_eq!(got[1]["duration"], 12);
        assert_eq!(got[1]["timestamp"], "1970-01-01T00:00:02Z");
        assert_eq!(got[2]["event"], "http.request");
        assert_eq!(got[2]["status"], 503);
        assert_eq!(got[2]["ratio"], Value::Null);
        assert_eq!(got[2]["timestamp"], "1970-01-01T00:00:07Z");
        let first = serde_json::to_string(&got[0]).unwrap();
        assert!(first.starts_with("{\"timestamp\""), "{first}");
    }
}
