//! The attack cases of issue 18, each tried with the default config: secrets that nothing names,
//! credentials in URLs of any scheme and in header pairs, JSON behind a prefix, a byte-order mark
//! or truncated, escaped text, IBANs, webhooks; and the harmless values that must stay.

use daemon::redact::{Mode, NumericMarker, RedactConfig, Redactor};
use serde_json::{json, Value};

fn redactor() -> Redactor {
    Redactor::new(&RedactConfig::default()).expect("the default config builds")
}

fn out(line: &str) -> String {
    redactor().redact_line(line.as_bytes())
}

/// Asserts that `secret` is gone from the redacted `line` and returns the output.
fn gone(line: &str, secret: &str) -> String {
    let o = out(line);
    assert!(!o.contains(secret), "{secret:?} leaked: {o}");
    o
}

#[test]
fn unnamed_secrets_in_plain_text_are_removed() {
    let o = gone(
        "ERROR retry budget spent for 9f#Kq2!vLm0Tz",
        "9f#Kq2!vLm0Tz",
    );
    assert_eq!(o, "ERROR retry budget spent for [REDACTED:high_entropy]");
    gone(
        "upstream closed, session Xb7RkP2mQ9dLs4TwVn8cYe3H",
        "Xb7RkP2mQ9dLs4TwVn8cYe3H",
    );
    // inside a JSON message too, and the line stays JSON
    let o = gone(
        r#"{"msg":"panic: invalid credential mdw0UBIul!oMieqy#Ffx% (after 3 attempts)"}"#,
        "mdw0UBIul",
    );
    serde_json::from_str::<Value>(&o).expect("still JSON");
}

#[test]
fn high_entropy_has_its_own_switch_and_mode() {
    let line = b"session Xb7RkP2mQ9dLs4TwVn8cYe3H closed";
    let off = Redactor::new(&RedactConfig {
        disable: vec!["high_entropy".into()],
        ..RedactConfig::default()
    })
    .expect("config builds");
    assert_eq!(
        off.redact_line(line),
        "session Xb7RkP2mQ9dLs4TwVn8cYe3H closed"
    );
    let partial = Redactor::new(&RedactConfig {
        modes: [("high_entropy".to_owned(), Mode::Partial)]
            .into_iter()
            .collect(),
        ..RedactConfig::default()
    })
    .expect("config builds");
    assert_eq!(
        partial.redact_line(line),
        "session [REDACTED:high_entropy:****Ye3H] closed"
    );
    assert_eq!(partial.counters().per_rule["high_entropy"], 1);
}

#[test]
fn key_value_pairs_in_plain_text_go_by_key() {
    for (line, secret) in [
        ("config loaded password=s3cr3t-pw region=eu", "s3cr3t-pw"),
        ("retry with token=abc123def", "abc123def"),
        ("secret: opensesame42", "opensesame42"),
        ("api_key=k-123456", "k-123456"),
        (
            "> authorization: Basic dXNlcjpwYXNzd29yZA==",
            "dXNlcjpwYXNzd29yZA",
        ),
        (
            "sending request bearer=jy-sDRhn4IMgevyvAauKgv0CsmJrGMD now",
            "sDRhn4IMgevy",
        ),
        ("Password=s)x6ZaGQGxZXL1;Encrypt=True", "x6ZaGQGxZXL1"),
    ] {
        let o = gone(line, secret);
        assert!(o.contains("[REDACTED:"), "{o}");
    }
    assert!(out("config loaded password=s3cr3t-pw region=eu").ends_with(" region=eu"));
}

#[test]
fn url_credentials_of_any_scheme_are_removed_whole() {
    for (line, secret) in [
        ("cache at redis://:s3cr3tP4ss@cache:6379", "s3cr3tP4ss"),
        (
            "DSN=amqps://svc:ab/cd#ef?gh@mq.internal:5672/vhost",
            "ab/cd#ef?gh",
        ),
        ("connecting to clickhouse://default:p@ss@db:8443/x", "p@ss"),
        ("GET http://u:pa?ss@h.example/", "pa?ss"),
    ] {
        let o = gone(line, secret);
        // no prefix of the password survives either
        let head = &secret[..2];
        assert!(!o.contains(&format!(":{head}")), "{o}");
    }
    assert_eq!(
        out("see https://example.com:8443/x?email=none"),
        "see https://example.com:8443/x?email=none"
    );
}

#[test]
fn auth_schemes_in_header_pairs_are_removed() {
    let basic = "Basic dXNlcjpodW50ZXIyenp6";
    let har = json!({"headers": [{"name": "Authorization", "value": basic}]}).to_string();
    let o = gone(&har, "dXNlcjpodW50ZXIyenp6");
    assert_eq!(
        serde_json::from_str::<Value>(&o).expect("JSON")["headers"][0]["value"],
        json!("Basic [REDACTED:authorization]")
    );
    let pairs = json!({"h": [["accept", "*/*"], ["authorization", basic]]}).to_string();
    gone(&pairs, "dXNlcjpodW50ZXIyenp6");
    let digest = r#"Authorization: Digest username="u", realm="api", nonce="ab12", response="6629fae49393a05397450978507c4ef1""#;
    gone(digest, "6629fae49393a05397450978507c4ef1");
    let pairs = json!([["proxy-authorization", "Bearer abcdef123456"]]).to_string();
    gone(&pairs, "abcdef123456");
    // `basic` as a word is no credential
    assert_eq!(
        out("basic authentication failed"),
        "basic authentication failed"
    );
}

#[test]
fn json_behind_a_prefix_a_bom_or_truncated_is_scanned_for_keys() {
    let cri = r#"2024-05-01T12:00:00.123456789Z stdout F {"password":["hunter2zz"],"user":"bob"}"#;
    let o = gone(cri, "hunter2zz");
    assert!(o.contains(r#""user":"bob""#), "{o}");
    let bom = "\u{feff}{\"password\":\"hunter2zz\",\"n\":1}";
    let o = gone(bom, "hunter2zz");
    let body = o.strip_prefix('\u{feff}').expect("the mark is kept");
    assert_eq!(
        serde_json::from_str::<Value>(body).expect("JSON after the mark")["n"],
        json!(1)
    );
    gone(
        r#"{"level":"error","secret":{"value":"hunter2zz","rot"#,
        "hunter2zz",
    );
    // the sidecar's own messages echoing an AWS error
    let msg = r#"sink error: service error: {"password":{"v":"hunter2zz"}}"#;
    let r = redactor();
    assert!(!r.redact_str(msg).contains("hunter2zz"));
}

#[test]
fn escaped_and_encoded_text_is_decoded_for_matching() {
    let o = gone("GET /unsubscribe?u=alice%40example.com&list=news", "alice");
    assert!(o.ends_with("&list=news"), "{o}");
    gone(
        r#"payload {"to":"alice\u0040example.com"} rejected"#,
        "alice",
    );
    // split across JSON escapes inside a JSON string
    let o = gone(
        r#"{"m":"reset for al\u0069ce\u002esmith\u0040example\u002ecom"}"#,
        "smith",
    );
    assert_eq!(
        serde_json::from_str::<Value>(&o).expect("JSON")["m"],
        json!("reset for [REDACTED:email]")
    );
}

#[test]
fn ibans_pem_webhooks_and_ip_literal_emails() {
    gone("payout to DE89 3704 0044 0532 0130 00 failed", "3704 0044");
    gone("payout to GB82WEST12345698765432 failed", "WEST1234");
    assert_eq!(
        out("ref DE00 3704 0044 0532 0130 00 ok"),
        "ref DE00 3704 0044 0532 0130 00 ok",
        "a bad checksum is no IBAN"
    );
    let pem = "key -----begin private key-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\n-----end private key-----";
    gone(pem, "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC");
    gone(
        "alert to https://discord.com/api/webhooks/123456789012345678/abcDEF_ghi-jkl",
        "abcDEF_ghi",
    );
    gone("smtp: delivered to bob@[192.0.2.7]", "bob@");
}

#[test]
fn cards_need_a_scheme_and_numbers_stay_numbers() {
    // Luhn-valid 13-digit order numbers outside every scheme
    assert_eq!(
        out("order 1000000000009 shipped"),
        "order 1000000000009 shipped"
    );
    assert_eq!(
        out(r#"{"orderId":7992739871300}"#),
        r#"{"orderId":7992739871300}"#
    );
    gone("card 2223 0031 2200 3222 declined", "0031");
    gone("card 6200000000000005 declined", "6200000000000005");
    // a counter stays a number, whatever it looks like
    let line = r#"{"total_tokens":4242424242424242}"#;
    assert_eq!(out(line), line);
    // a masked number can stay a number
    let zero = Redactor::new(&RedactConfig {
        numeric_marker: NumericMarker::Zero,
        ..RedactConfig::default()
    })
    .expect("config builds");
    let o = zero.redact_line(br#"{"value":4111111111111111,"pin":1234}"#);
    assert_eq!(o, r#"{"value":0,"pin":0}"#);
    let mut v = json!({"value": 4111111111111111u64});
    zero.redact_value(&mut v);
    assert_eq!(v, json!({"value": 0}));
}

#[test]
fn harmless_values_stay() {
    for line in [
        "ports 3000 3001 3002 3003",
        "buckets 256 512 1024 2048 4096",
        "build 123.456.7890",
        r#"{"nextToken":"2"}"#,
        r#"{"requestId":"Xb7RkP2mQ9dLs4TwVn8cYe3H"}"#,
        "model anthropic.claude-3-5-sonnet-20240620-v1:0 trace 1-5f3a1b2c-0123456789abcdef01234567",
        "commit 3f786850e387550fdab836ed7e6dc881de23001b uuid 123e4567-e89b-12d3-a456-426614174000",
        "arn:aws:iam::123456789012:role/MyAppTaskRole2 at 2026-11-01T00:00:00.003Z v12.3.4-rc.1",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) FxiOS/18.5o1417.0 Mobile/83Z971",
        "thumbnail data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAgAAAAJCAIAAACAMfp5AAAA7ElEQVR4nAHh",
        "mac cc:06:12:9e:f2:70",
    ] {
        assert_eq!(out(line), line);
    }
}
