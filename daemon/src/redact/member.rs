//! A member a source adds at the end of every line of a chunk (the fluent source's
//! `"tag":…`), redacted once a chunk instead of once a line when nothing in it can match.
//!
//! Why it is the same redaction: the line scan finds no trigger in the member alone; no literal
//! holds a `"`, a `,` or a `}` (so none spans the member's edge, and the line's own last `}`,
//! which becomes a `,`, ends no literal); digit runs end at a `,` or a `"`, and a mixed token
//! cannot form in JSON text outside strings (it needs both letter cases: a literal is lower
//! case, a number's only letter is its exponent); the JSON walk redacts each string by its own
//! key and content; an IP shape, the one trigger read from the whole line, needs a dotted
//! digit or two colons inside one string, which the line alone shows. The custom rules' set is
//! matched against the whole line, so with any configured the member is never taken as clean.
//! A test holds the spliced redaction to the redaction of the whole line, counters included.

use super::Redactor;

/// A member (`"key":value` text) added at the end of lines, and whether the redactor can
/// splice it in without reading it (see the module comment). Made by
/// [`Redactor::trailing_member`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailingMember {
    text: String,
    clean: bool,
}

impl TrailingMember {
    /// The member's text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether lines take it without a scan.
    pub fn is_clean(&self) -> bool {
        self.clean
    }
}

impl Redactor {
    /// `text` (one JSON member, `"key":value`) as a [`TrailingMember`] of this redactor.
    pub fn trailing_member(&self, text: &str) -> TrailingMember {
        let probe = format!("{{{text}}}");
        let one_member = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&probe)
            .is_ok_and(|members| members.len() == 1);
        let untouched = !self.enabled
            || (self.custom_set.is_none()
                && self.prefilter.member_edge_safe()
                && probe.len() <= self.max_line_bytes
                && self.prefilter.scan(probe.as_bytes()).is_empty());
        TrailingMember {
            text: text.to_owned(),
            clean: one_member && untouched,
        }
    }

    /// [`Redactor::redact_line_into`] for `line` (a JSON object line) with `member` added as its
    /// last member: the member is spliced into the redacted line when it is clean, and the
    /// whole line is built and redacted when it is not.
    pub fn redact_line_with_member_into(
        &self,
        line: &[u8],
        member: &TrailingMember,
        out: &mut String,
    ) {
        if member.clean && line.last() == Some(&b'}') {
            self.redact_into(line, Some(&member.text), out);
            return;
        }
        // the bytes as they are, so a line that is not UTF-8 is counted as one
        let mut whole = line.to_vec();
        splice_member_bytes(&mut whole, &member.text);
        self.redact_line_into(&whole, out);
    }
}

/// Adds `member` as the last member of the JSON object line `line`: before its closing `}`,
/// after a comma unless the object is empty. A line that does not end with `}` (no source
/// makes one) gets the member after a space, so nothing is dropped.
pub fn splice(line: &mut String, member: &str) {
    match splice_point(line.as_bytes()) {
        Splice::BeforeClose { comma } => {
            line.pop();
            if comma {
                line.push(',');
            }
            line.push_str(member);
            line.push('}');
        }
        Splice::After => {
            line.push(' ');
            line.push_str(member);
        }
    }
}

/// [`splice`] on bytes.
pub fn splice_member_bytes(line: &mut Vec<u8>, member: &str) {
    match splice_point(line) {
        Splice::BeforeClose { comma } => {
            line.pop();
            if comma {
                line.push(b',');
            }
            line.extend_from_slice(member.as_bytes());
            line.push(b'}');
        }
        Splice::After => {
            line.push(b' ');
            line.extend_from_slice(member.as_bytes());
        }
    }
}

/// Where a member goes in a line.
enum Splice {
    /// Before the line's final `}`, after a comma unless the object is empty.
    BeforeClose { comma: bool },
    /// After the line and a space: it is not an object.
    After,
}

fn splice_point(line: &[u8]) -> Splice {
    match line.split_last() {
        Some((b'}', rest)) => Splice::BeforeClose {
            comma: rest.trim_ascii_end().last() != Some(&b'{'),
        },
        _ => Splice::After,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::{CustomRule, RedactConfig};
    use crate::test_rng::TestRng;

    /// Values with and without triggers, and the shapes a line can end with.
    const VALUES: &[&str] = &[
        r#""plain""#,
        r#""login from grace.53@example.com""#,
        r#""call me at +1 415 555 0100""#,
        r#""AKIAIOSFODNN7EXAMPLE""#,
        r#""Bearer abcDEF123456789xyzXYZ0""#,
        r#""10.0.0.1""#,
        r#""fe80::1""#,
        r#""4111 1111 1111 1111""#,
        r#""a\"quoted\" \\ value""#,
        r#""https://user:pw@host/x""#,
        r#""sk-abcdefghijklmnopqrstuvwx""#,
        "1191",
        "1E5",
        "-0.25",
        "123456789012",
        "true",
        "null",
        "[1,2,{\"k\":\"v\"}]",
        "{\"password\":\"hunter2\",\"n\":1}",
        "{}",
        "[]",
    ];
    const KEYS: &[&str] = &[
        "message", "userId", "password", "token", "duration", "email", "phone", "a", "tag",
    ];

    fn line(rng: &mut TestRng) -> String {
        let mut members: Vec<String> = (0..rng.below(6))
            .map(|_| {
                format!(
                    "\"{}\":{}",
                    KEYS[rng.below(KEYS.len())],
                    VALUES[rng.below(VALUES.len())]
                )
            })
            .collect();
        // now and then a line near the limit of the 1 KiB config, the member tipping it over
        if rng.below(6) == 0 {
            members.push(format!("\"pad\":\"{}\"", "p".repeat(900 + rng.below(150))));
        }
        format!("{{{}}}", members.join(","))
    }

    fn redactor(config: &RedactConfig) -> Redactor {
        Redactor::new(config).unwrap()
    }

    #[test]
    fn a_spliced_member_redacts_as_the_whole_line_does_counters_included() {
        let custom = RedactConfig {
            custom: vec![CustomRule {
                name: "ticket".into(),
                pattern: r"\d+,".into(),
                mode: crate::redact::Mode::default(),
            }],
            ..RedactConfig::default()
        };
        let configs = [
            RedactConfig::default(),
            RedactConfig {
                ip_addresses: true,
                ..RedactConfig::default()
            },
            RedactConfig {
                max_line_bytes: crate::redact::MIN_MAX_LINE_BYTES,
                ..RedactConfig::default()
            },
            custom,
        ];
        let tags = [
            r#""tag":"server.stdout""#,
            r#""tag":"aistudio-server-firelens-0f1e2d3c""#,
            r#""tag":"grace@example.com""#,
            r#""tag":"AKIAIOSFODNN7EXAMPLE""#,
            r#""tag":"12345678901""#,
        ];
        let mut rng = TestRng(0x5eed_7a90_0000_0001);
        let mut spliced = 0;
        for config in &configs {
            let (whole, split) = (redactor(config), redactor(config));
            for tag in tags {
                let member = split.trailing_member(tag);
                spliced += usize::from(member.is_clean());
                for _ in 0..600 {
                    let line = line(&mut rng);
                    let mut full = line.clone();
                    splice(&mut full, tag);
                    let expected = whole.redact_line(full.as_bytes());
                    let mut got = String::new();
                    split.redact_line_with_member_into(line.as_bytes(), &member, &mut got);
                    assert_eq!(got, expected, "{line} + {tag}");
                }
            }
            assert_eq!(whole.counters(), split.counters());
        }
        // the plain tags of the first three configs are taken without a scan; the others not
        assert_eq!(spliced, 6);
    }

    #[test]
    fn a_member_is_clean_only_when_the_redactor_would_leave_it() {
        let r = redactor(&RedactConfig::default());
        assert!(r.trailing_member(r#""tag":"server.stdout""#).is_clean());
        assert!(!r.trailing_member(r#""tag":"a@b.example""#).is_clean());
        assert!(!r.trailing_member(r#""password":"x""#).is_clean());
        // not one member: spliced it would break the line
        assert!(!r.trailing_member(r#""a":1,"b":2"#).is_clean());
        assert!(!r.trailing_member("nonsense").is_clean());
    }

    #[test]
    fn splicing_keeps_the_object_valid() {
        for (line, want) in [
            (r#"{"a":1}"#, r#"{"a":1,"t":"x"}"#),
            ("{}", r#"{"t":"x"}"#),
            ("{ }", r#"{ "t":"x"}"#),
            ("text", r#"text "t":"x""#),
        ] {
            let mut bytes = line.as_bytes().to_vec();
            splice_member_bytes(&mut bytes, r#""t":"x""#);
            let mut line = line.to_owned();
            splice(&mut line, r#""t":"x""#);
            assert_eq!(line, want);
            assert_eq!(bytes, want.as_bytes());
        }
    }
}
