//! Just enough of the Prometheus text format to read the sidecar's counters.

use std::collections::BTreeMap;

/// Samples by metric name: label set (as written, e.g. `rule="email"`, or empty) → value.
#[derive(Debug, Default, Clone)]
pub struct Samples(pub BTreeMap<String, BTreeMap<String, f64>>);

impl Samples {
    /// Parses exposition text; comment and malformed lines are skipped.
    pub fn parse(text: &str) -> Self {
        let mut out: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            out.entry(name.to_owned())
                .or_default()
                .insert(labels.to_owned(), value);
        }
        Self(out)
    }

    /// Replaces every series of `name` by one unlabelled series of `value`.
    pub fn set(&mut self, name: &str, value: u64) {
        self.0.insert(
            name.to_owned(),
            BTreeMap::from([(String::new(), value as f64)]),
        );
    }

    /// The sum over every series of `name` (0 when absent).
    pub fn total(&self, name: &str) -> u64 {
        self.0
            .get(name)
            .map_or(0.0, |series| series.values().sum::<f64>())
            .max(0.0) as u64
    }

    /// `label`'s value → the series' value, for every series of `name`.
    pub fn by_label(&self, name: &str, label: &str) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        let prefix = format!("{label}=\"");
        for (labels, value) in self.0.get(name).into_iter().flatten() {
            let key = labels
                .split(',')
                .find_map(|kv| kv.trim().strip_prefix(&prefix))
                .map_or("-", |v| v.trim_end_matches('"'));
            *out.entry(key.to_owned()).or_insert(0) += value.max(0.0) as u64;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_counters_with_and_without_labels() {
        let s = Samples::parse(
            "# HELP x y\n# TYPE a counter\na 3\nb{rule=\"email\"} 2\nb{rule=\"phone\",x=\"1\"} 5\nbad line\nc{} NaNx\n",
        );
        assert_eq!(s.total("a"), 3);
        assert_eq!(s.total("b"), 7);
        assert_eq!(s.total("missing"), 0);
        let by = s.by_label("b", "rule");
        assert_eq!(by.get("email"), Some(&2));
        assert_eq!(by.get("phone"), Some(&5));
        assert!(!s.0.contains_key("c"));
        let mut s = s;
        s.set("b", 9);
        assert_eq!(s.total("b"), 9);
    }
}
