//! Extraction: reads the top-level fields the rules need from a (redacted) JSON line and
//! evaluates the rules against them, like CloudWatch metric filters, without building a tree.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::config::{Aggregation, FieldMatch, RuleConfig, MISSING_DIMENSION_VALUE};
use crate::datum::{
    check_value, RejectKind, Unit, HIGH_RESOLUTION, MAX_DIMENSIONS, MAX_DIMENSION_VALUE_CHARS,
    STANDARD_RESOLUTION,
};

/// A top-level JSON value, borrowed from the line when it has no escapes.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    /// A string.
    Str(Cow<'a, str>),
    /// A number.
    Num(f64),
    /// `true` or `false`.
    Bool(bool),
    /// `null`, an object or an array (never matched, never a value).
    Other,
}

impl Scalar<'_> {
    /// The value as a number: numbers as they are, strings that parse as one (so a string
    /// "NaN" or "inf" comes out non-finite and is rejected downstream).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Num(n) => Some(*n),
            Self::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    fn equals(&self, text: &str) -> bool {
        match self {
            Self::Str(s) => s == text,
            Self::Num(n) => text.parse::<f64>().is_ok_and(|t| t == *n),
            Self::Bool(b) => text == if *b { "true" } else { "false" },
            Self::Other => false,
        }
    }

    /// The value as a dimension value: non-empty, at most 1,024 characters.
    fn dimension_value(&self) -> Cow<'_, str> {
        let text: Cow<'_, str> = match self {
            Self::Str(s) if !s.is_empty() => Cow::Borrowed(s.as_ref()),
            Self::Num(n) if n.fract() == 0.0 && n.abs() < 1e15 => {
                Cow::Owned(format!("{}", *n as i64))
            }
            Self::Num(n) => Cow::Owned(n.to_string()),
            Self::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            _ => Cow::Borrowed(MISSING_DIMENSION_VALUE),
        };
        match text.char_indices().nth(MAX_DIMENSION_VALUE_CHARS) {
            Some((cut, _)) => Cow::Owned(text[..cut].to_owned()),
            None => text,
        }
    }
}

/// A compiled field condition.
#[derive(Debug, Clone)]
enum Matcher {
    Equals(Box<str>),
    AnyOf(Box<[Box<str>]>),
    Range(Option<f64>, Option<f64>),
}

impl Matcher {
    fn accepts(&self, scalar: &Scalar<'_>) -> bool {
        match self {
            Self::Equals(text) => scalar.equals(text),
            Self::AnyOf(list) => list.iter().any(|t| scalar.equals(t)),
            Self::Range(min, max) => scalar.as_f64().is_some_and(|v| {
                v.is_finite() && min.is_none_or(|lo| v >= lo) && max.is_none_or(|hi| v <= hi)
            }),
        }
    }
}

/// One rule, with its fields resolved to slots of the scanned line.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    /// Metric name.
    pub metric: Arc<str>,
    /// Unit.
    pub unit: Unit,
    /// Sum or distribution.
    pub aggregation: Aggregation,
    /// Aggregation period in milliseconds.
    pub period_ms: i64,
    /// CloudWatch `StorageResolution`.
    pub storage_resolution: i32,
    /// Extra dimension names (Environment excluded), in config order.
    pub dimension_names: Arc<[Arc<str>]>,
    matchers: Vec<(usize, Matcher)>,
    value: Option<usize>,
    dimension_slots: Vec<usize>,
}

/// What one rule took from one line.
#[derive(Debug)]
pub struct Observation<'a> {
    /// Index of the rule.
    pub rule: usize,
    /// The value (1 for counts), or why it cannot be published.
    pub value: Result<f64, RejectKind>,
    /// Dimension values in the rule's order.
    pub dimensions: [Cow<'a, str>; MAX_DIMENSIONS],
}

/// Scans lines and evaluates the rules.
#[derive(Debug, Clone)]
pub struct Extractor {
    rules: Vec<CompiledRule>,
    keys: Vec<Box<str>>,
    /// When every rule matches on the same field, a line without `"field"` cannot match.
    prefilter: Option<memchr::memmem::Finder<'static>>,
}

impl Extractor {
    /// Compiles validated rules; `period_secs` is the standard-resolution period.
    pub fn new(rules: &[RuleConfig], period_secs: u64) -> Self {
        let mut keys: Vec<Box<str>> = Vec::new();
        let mut slot = |field: &str| -> usize {
            match keys.iter().position(|k| &**k == field) {
                Some(index) => index,
                None => {
                    keys.push(field.into());
                    keys.len() - 1
                }
            }
        };
        let mut compiled = Vec::with_capacity(rules.len());
        for rule in rules {
            let matchers = rule
                .matches
                .iter()
                .map(|(field, m)| {
                    let matcher = match m {
                        FieldMatch::Equals(text) => Matcher::Equals(text.as_str().into()),
                        FieldMatch::AnyOf(list) => {
                            Matcher::AnyOf(list.iter().map(|t| t.as_str().into()).collect())
                        }
                        FieldMatch::Range(range) => Matcher::Range(range.min, range.max),
                    };
                    (slot(field), matcher)
                })
                .collect();
            let value = rule.value.as_deref().map(&mut slot);
            let dimension_slots = rule.dimensions.values().map(|f| slot(f)).collect();
            let (period_ms, storage_resolution) = if rule.high_resolution {
                (1_000, HIGH_RESOLUTION)
            } else {
                (
                    period_secs.max(1).saturating_mul(1_000) as i64,
                    STANDARD_RESOLUTION,
                )
            };
            compiled.push(CompiledRule {
                metric: rule.metric.as_str().into(),
                unit: rule.unit,
                aggregation: rule.aggregation(),
                period_ms,
                storage_resolution,
                dimension_names: rule
                    .dimensions
                    .keys()
                    .map(|n| Arc::from(n.as_str()))
                    .collect(),
                matchers,
                value,
                dimension_slots,
            });
        }
        let common = rules.first().and_then(|first| {
            first
                .matches
                .keys()
                .find(|field| rules.iter().all(|r| r.matches.contains_key(*field)))
        });
        // A key written with JSON escapes (`"\u0065vent"`) defeats the prefilter; the server
        // never writes keys that way.
        let prefilter = common.map(|field| {
            memchr::memmem::Finder::new(format!("\"{field}\"").as_bytes()).into_owned()
        });
        Self {
            rules: compiled,
            keys,
            prefilter,
        }
    }

    /// The compiled rules.
    pub fn rules(&self) -> &[CompiledRule] {
        &self.rules
    }

    /// Reads the fields the rules need from `line`; `None` when it is not a JSON object or
    /// cannot match any rule.
    pub fn scan<'a>(&self, line: &'a str) -> Option<Vec<Option<Scalar<'a>>>> {
        if self.rules.is_empty() || !line.trim_start().starts_with('{') {
            return None;
        }
        if let Some(finder) = &self.prefilter {
            finder.find(line.as_bytes())?;
        }
        let mut slots = vec![None; self.keys.len()];
        let mut de = serde_json::Deserializer::from_str(line);
        FieldsSeed {
            keys: &self.keys,
            out: &mut slots,
        }
        .deserialize(&mut de)
        .ok()?;
        Some(slots)
    }

    /// Evaluates every rule against the scanned fields, calling `each` per match.
    pub fn evaluate<'a>(
        &self,
        fields: &'a [Option<Scalar<'a>>],
        mut each: impl FnMut(Observation<'a>),
    ) {
        for (index, rule) in self.rules.iter().enumerate() {
            let matched = rule.matchers.iter().all(|(slot, matcher)| {
                fields
                    .get(*slot)
                    .and_then(Option::as_ref)
                    .is_some_and(|s| matcher.accepts(s))
            });
            if !matched {
                continue;
            }
            let value = match rule.value {
                None => Ok(1.0),
                Some(slot) => match fields
                    .get(slot)
                    .and_then(Option::as_ref)
                    .map(Scalar::as_f64)
                {
                    Some(Some(v)) => check_value(v),
                    // The value field is missing or not a number: the rule does not apply.
                    _ => continue,
                },
            };
            let mut dimensions: [Cow<'a, str>; MAX_DIMENSIONS] =
                std::array::from_fn(|_| Cow::Borrowed(""));
            for (out, slot) in dimensions.iter_mut().zip(&rule.dimension_slots) {
                *out = match fields.get(*slot).and_then(Option::as_ref) {
                    Some(scalar) => scalar.dimension_value(),
                    None => Cow::Borrowed(MISSING_DIMENSION_VALUE),
                };
            }
            each(Observation {
                rule: index,
                value,
                dimensions,
            });
        }
    }
}

/// Deserializes a JSON object, keeping the values of `keys` and skipping everything else.
struct FieldsSeed<'k, 'o, 'a> {
    keys: &'k [Box<str>],
    out: &'o mut [Option<Scalar<'a>>],
}

impl<'de> DeserializeSeed<'de> for FieldsSeed<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FieldsSeed<'_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(StrSeed)? {
            match self.keys.iter().position(|k| **k == *key) {
                Some(index) => {
                    let value = map.next_value_seed(ScalarSeed)?;
                    if let Some(slot) = self.out.get_mut(index) {
                        *slot = Some(value);
                    }
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// A string, borrowed when it has no escapes.
struct StrSeed;

impl<'de> DeserializeSeed<'de> for StrSeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for StrSeed {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

/// Any JSON value as a [`Scalar`].
struct ScalarSeed;

impl<'de> DeserializeSeed<'de> for ScalarSeed {
    type Value = Scalar<'de>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ScalarSeed {
    type Value = Scalar<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar::Num(v as f64))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Num(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Num(v))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric_stage::config::default_rules;

    fn observe(
        extractor: &Extractor,
        line: &str,
    ) -> Vec<(String, Result<f64, RejectKind>, Vec<String>)> {
        let mut out = Vec::new();
        if let Some(fields) = extractor.scan(line) {
            extractor.evaluate(&fields, |obs| {
                let rule = &extractor.rules()[obs.rule];
                let dims = obs.dimensions[..rule.dimension_names.len()]
                    .iter()
                    .map(|d| d.to_string())
                    .collect();
                out.push((rule.metric.to_string(), obs.value, dims));
            });
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    #[test]
    fn catalog_rules_extract_the_contract_events() {
        let x = Extractor::new(&default_rules(), 60);
        let got = observe(
            &x,
            r#"{"timestamp":"2026-11-25T01:02:03.456Z","level":"info","event":"job.completed","provider":"openai","duration":1234,"tokens":87,"userId":"u1","jobId":"j1","requestId":"r1","error":{"name":"x"}}"#,
        );
        let names: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
        assert_eq!(
            names,
            vec!["JobsCompleted", "ProcessingLatencyMs", "TokensStreamed"]
        );
        assert_eq!(got[1].1, Ok(1234.0));
        assert_eq!(got[2].1, Ok(87.0));
        assert!(got.iter().all(|g| g.2 == vec!["openai".to_owned()]));

        let ok = observe(
            &x,
            r#"{"event":"http.request","endpoint":"/v1/chat","status":200,"duration":12.5}"#,
        );
        let names: Vec<&str> = ok.iter().map(|g| g.0.as_str()).collect();
        assert_eq!(names, vec!["RequestCount", "ResponseTimeMs"]);
        let err = observe(
            &x,
            r#"{"event":"http.request","endpoint":"/v1/chat","status":503,"duration":1}"#,
        );
        assert!(err.iter().any(|g| g.0 == "ErrorCount"));
        let edge = observe(
            &x,
            r#"{"event":"http.request","endpoint":"/v1/chat","status":"599","duration":1}"#,
        );
        assert!(
            edge.iter().any(|g| g.0 == "ErrorCount"),
            "status as text counts too"
        );
        let client = observe(
            &x,
            r#"{"event":"http.request","endpoint":"/v1/chat","status":499}"#,
        );
        assert_eq!(
            client.len(),
            1,
            "no duration, no ResponseTimeMs; 499 is not an error"
        );

        let provider = observe(
            &x,
            r#"{"event":"provider.response","provider":"bedrock","modelId":"claude","duration":800}"#,
        );
        // Dimensions come in name order (ModelId, Provider).
        assert_eq!(
            provider[0].2,
            vec!["claude".to_owned(), "bedrock".to_owned()]
        );
    }

    #[test]
    fn missing_dimensions_are_unknown_and_values_are_checked() {
        let x = Extractor::new(&default_rules(), 60);
        let got = observe(&x, r#"{"event":"job.created"}"#);
        assert_eq!(got[0].2, vec![MISSING_DIMENSION_VALUE.to_owned()]);
        let nan = observe(&x, r#"{"event":"db.query","duration":"NaN"}"#);
        assert_eq!(nan[0].1, Err(RejectKind::NotFinite));
        let inf = observe(&x, r#"{"event":"db.query","duration":"-inf"}"#);
        assert_eq!(inf[0].1, Err(RejectKind::NotFinite));
        let huge = observe(&x, r#"{"event":"db.query","duration":1e200}"#);
        assert_eq!(huge[0].1, Err(RejectKind::OutOfRange));
        let text = observe(&x, r#"{"event":"db.query","duration":"slow"}"#);
        assert!(text.is_empty(), "a non-numeric value is not an observation");
    }

    #[test]
    fn anything_that_is_not_a_matching_object_yields_nothing() {
        let x = Extractor::new(&default_rules(), 60);
        for line in [
            "",
            "plain text event job.created",
            "[1,2,3]",
            r#"{"event":"job.created""#,
            r#"{"event":{"nested":"job.created"}}"#,
            r#"{"level":"info","message":"no event field"}"#,
            "{\"event\":\"job.created\",\"bad\":\"\u{fffd}\"",
        ] {
            assert!(observe(&x, line).is_empty(), "{line}");
        }
        // Escaped strings are decoded; long dimension values are cut at 1,024 characters.
        let long = "p".repeat(2_000);
        let got = observe(
            &x,
            &format!(r#"{{"event":"job\u002ecreated","provider":"{long}"}}"#),
        );
        assert_eq!(got[0].2[0].chars().count(), MAX_DIMENSION_VALUE_CHARS);
    }
}
