//! Every problem of a config file in one run, each at its line and column: unknown keys and
//! values of the wrong type, found by deserializing the spanned document and pruning each
//! offending entry before trying again, and the semantic checks, located by the key they name.

use std::ops::Range;

use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// Most deserialization problems collected from one file: each costs one more pass over the
/// document, and a file this wrong is not a sidecar config with typos.
const MAX_PROBLEMS: usize = 100;

/// A place in the file; line and column count from 1, the column in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

/// One problem: `key: what is wrong; what to do`, and where it is when the file has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where, when the value (or its closest section) is in the file.
    pub at: Option<Position>,
    /// `key: what is wrong; what to do`.
    pub text: String,
}

impl Problem {
    /// `file:line:column: text`, or `file: text` when the file does not hold the value.
    pub fn located(&self, file: &str) -> String {
        // One line per problem, even when a parser's message draws a caret under its input.
        let text = if self.text.contains('\n') {
            self.text
                .lines()
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            self.text.clone()
        };
        match self.at {
            Some(at) => format!("{file}:{}:{}: {text}", at.line, at.column),
            None => format!("{file}: {text}"),
        }
    }
}

/// What [`SourceDoc::deserialize_all`] found.
pub struct Deserialized<T> {
    /// The value without the offending entries; `None` when an error had no entry to prune.
    pub value: Option<T>,
    /// Every problem, with its position.
    pub problems: Vec<Problem>,
    /// Maps paths in `value` back to the file's, when array elements were pruned.
    renumbering: Renumbering,
}

impl<T> Deserialized<T> {
    /// A semantic check's message about `value`, with the key renumbered as in the file.
    pub fn original_text(&self, text: &str) -> String {
        self.renumbering.original_text(text)
    }
}

/// The config text parsed with the span of every key and value.
pub struct SourceDoc<'a> {
    text: &'a str,
    root: Spanned<DeTable<'a>>,
}

impl<'a> SourceDoc<'a> {
    /// Parses TOML; a syntax error is the one problem returned (nothing after it is reliable).
    pub fn parse(text: &'a str) -> Result<Self, Problem> {
        match DeTable::parse(text) {
            Ok(root) => Ok(Self { text, root }),
            Err(err) => Err(Problem {
                at: err.span().map(|span| position(text, span.start)),
                text: format!(
                    "TOML syntax error: {}; fix the syntax there",
                    err.message().trim_end()
                ),
            }),
        }
    }

    /// Deserializes the document, collecting every error: the entry an error points at is
    /// removed and deserialization tried again, so one run finds every unknown key and bad
    /// value. The value is the config without the offending entries (their defaults instead),
    /// `None` only if an error could not be pinned to an entry.
    pub fn deserialize_all<T: DeserializeOwned>(&self) -> Deserialized<T> {
        let mut doc = self.root.clone();
        let mut found = Vec::new();
        let mut pruned: Vec<String> = Vec::new();
        let mut renumbering = Renumbering::default();
        while found.len() < MAX_PROBLEMS {
            let err = match T::deserialize(toml::de::Deserializer::from(doc.clone())) {
                Ok(value) => {
                    return Deserialized {
                        value: Some(value),
                        problems: found,
                        renumbering,
                    }
                }
                Err(err) => err,
            };
            let message = err.message().trim_end().to_owned();
            let removed = err
                .span()
                .and_then(|span| prune_table(doc.get_mut(), &span, "").map(|path| (span, path)));
            let Some((span, path)) = removed else {
                found.push(Problem {
                    at: err.span().map(|span| position(self.text, span.start)),
                    text: format!("{message}; fix or remove it"),
                });
                return Deserialized {
                    value: None,
                    problems: found,
                    renumbering,
                };
            };
            let current = path;
            let path = renumbering.original(&current);
            renumbering.removed(&current);
            // A required key whose bad value was pruned is then missing: said once.
            let missing_after_prune = missing_field(&message)
                .is_some_and(|key| pruned.contains(&format!("{path}.{key}")));
            if !missing_after_prune {
                found.push(Problem {
                    at: Some(position(self.text, span.start)),
                    text: describe(&path, &message),
                });
            }
            pruned.push(path);
        }
        found.push(Problem {
            at: None,
            text: format!("more than {MAX_PROBLEMS} problems; fix these first"),
        });
        Deserialized {
            value: None,
            problems: found,
            renumbering,
        }
    }

    /// Where the value at `key` (`sources.file[0].include`) is, or else its closest enclosing
    /// entry that the file has; `None` when the file has none of it.
    pub fn locate(&self, key: &str) -> Option<Position> {
        let mut table = Some(self.root.get_ref());
        let mut best: Option<usize> = None;
        for segment in key.split('.') {
            let (name, indices) = split_indices(segment);
            let Some((key_span, mut value)) = table
                .and_then(|t| t.get_key_value(name))
                .map(|(k, v)| (k.span(), v))
            else {
                break;
            };
            best = Some(key_span.start);
            let mut complete = true;
            for index in indices {
                match value.get_ref() {
                    DeValue::Array(items) if index < items.len() => {
                        value = &items[index];
                        best = Some(value.span().start);
                    }
                    _ => {
                        complete = false;
                        break;
                    }
                }
            }
            if !complete {
                break;
            }
            table = match value.get_ref() {
                DeValue::Table(inner) => Some(inner),
                _ => {
                    // A leaf: point at the value itself.
                    best = Some(value.span().start);
                    None
                }
            };
        }
        best.map(|offset| position(self.text, offset))
    }
}

/// The key a semantic check's message starts with (`sources.file[0].include: …`,
/// `metrics.namespace \`x\` …`).
pub fn leading_key(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || "_-.[]".contains(c)))
        .unwrap_or(text.len());
    &text[..end]
}

/// `file[0]` → (`file`, [0]).
fn split_indices(segment: &str) -> (&str, Vec<usize>) {
    let name_end = segment.find('[').unwrap_or(segment.len());
    let indices = segment[name_end..]
        .split(['[', ']'])
        .filter_map(|n| n.parse().ok())
        .collect();
    (&segment[..name_end], indices)
}

fn position(text: &str, offset: usize) -> Position {
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Position {
        line: before.matches('\n').count() + 1,
        column: before[line_start..].chars().count() + 1,
    }
}

fn covers(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Removes the innermost entry whose key or value covers `span`; returns its key path.
fn prune_table(table: &mut DeTable<'_>, span: &Range<usize>, prefix: &str) -> Option<String> {
    let names: Vec<String> = table.keys().map(|k| k.get_ref().to_string()).collect();
    for name in names {
        let path = join(prefix, &name);
        let Some((on_key, on_value)) = table
            .get_key_value(name.as_str())
            .map(|(k, v)| (covers(&k.span(), span), covers(&v.span(), span)))
        else {
            continue;
        };
        // An error at the key (an unknown one) is about the whole entry.
        if on_key {
            table.remove(name.as_str());
            return Some(path);
        }
        if let Some(value) = table.get_mut(name.as_str()) {
            if let Some(deeper) = prune_value(value, span, &path) {
                return Some(deeper);
            }
        }
        if on_value {
            table.remove(name.as_str());
            return Some(path);
        }
    }
    None
}

fn prune_value(
    value: &mut Spanned<DeValue<'_>>,
    span: &Range<usize>,
    path: &str,
) -> Option<String> {
    match value.get_mut() {
        DeValue::Table(table) => prune_table(table, span, path),
        DeValue::Array(items) => {
            for index in 0..items.len() {
                let item_path = format!("{path}[{index}]");
                let Some(item) = items.get_mut(index) else {
                    break;
                };
                if let Some(deeper) = prune_value(item, span, &item_path) {
                    return Some(deeper);
                }
                if covers(&items[index].span(), span) {
                    let kept = std::mem::replace(items, toml::de::DeArray::new());
                    *items = kept
                        .into_iter()
                        .enumerate()
                        .filter_map(|(i, item)| (i != index).then_some(item))
                        .collect();
                    return Some(item_path);
                }
            }
            None
        }
        _ => None,
    }
}

/// Array elements removed so far, each as `(array path, index)` in the document as it was
/// then: later elements moved down one, and [`Renumbering::original`] moves them back.
#[derive(Debug, Default)]
struct Renumbering(Vec<(String, usize)>);

impl Renumbering {
    /// Records the removal of `path` when it is an array element (`a.b[3]`).
    fn removed(&mut self, path: &str) {
        if let Some((array, index)) = path
            .strip_suffix(']')
            .and_then(|p| p.rsplit_once('['))
            .and_then(|(array, n)| Some((array.to_owned(), n.parse().ok()?)))
        {
            self.0.push((array, index));
        }
    }

    /// `path` in the pruned document → the same entry's path in the file.
    fn original(&self, path: &str) -> String {
        let mut path = path.to_owned();
        for (array, removed) in self.0.iter().rev() {
            let Some(rest) = path
                .strip_prefix(array.as_str())
                .and_then(|r| r.strip_prefix('['))
            else {
                continue;
            };
            let Some((n, tail)) = rest.split_once(']') else {
                continue;
            };
            if let Ok(n) = n.parse::<usize>() {
                if n >= *removed {
                    path = format!("{array}[{}]{tail}", n + 1);
                }
            }
        }
        path
    }

    /// A semantic check's message about the pruned config, with its leading key renumbered.
    pub fn original_text(&self, text: &str) -> String {
        let key = leading_key(text);
        format!("{}{}", self.original(key), &text[key.len()..])
    }
}

/// `missing field \`include\`` → `include`.
fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
}

/// The names in backticks after `expected` in a serde message.
fn expected_names(message: &str) -> Vec<&str> {
    message
        .split_once("expected")
        .map(|(_, rest)| rest.split('`').skip(1).step_by(2).collect())
        .unwrap_or_default()
}

/// A serde message as `key: what is wrong; what to do`.
fn describe(path: &str, message: &str) -> String {
    if message.starts_with("unknown field") {
        let known = expected_names(message);
        let key = path.rsplit('.').next().unwrap_or(path);
        if known.is_empty() {
            return format!("{path}: unknown key; this section takes no keys, remove it");
        }
        let list = known
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ");
        return match closest(key, &known) {
            Some(best) => format!(
                "{path}: unknown key; rename it to `{best}` or remove it (keys here: {list})"
            ),
            None => format!("{path}: unknown key; remove it (keys here: {list})"),
        };
    }
    if let Some(key) = missing_field(message) {
        return format!("{path}: missing key `{key}`; add it");
    }
    if message.starts_with("unknown variant") {
        let allowed = expected_names(message)
            .iter()
            .map(|k| format!("\"{k}\""))
            .collect::<Vec<_>>()
            .join(" or ");
        let given = message.split('`').nth(1).unwrap_or_default();
        return format!("{path}: \"{given}\" is not allowed; use {allowed}");
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
            let want = human_type(expected);
            return format!("{path}: {prefix}{found}, expected {want}; write {want}");
        }
    }
    format!("{path}: {message}; fix or remove it")
}

/// Serde's Rust type names in words a config author uses.
fn human_type(expected: &str) -> String {
    let expected = expected.trim();
    let words = match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number, 0 or more, without quotes",
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number without quotes",
        "f32" | "f64" => "a number without quotes",
        "a boolean" => "true or false, without quotes",
        "a string" => "a string in quotes",
        "a sequence" => "an array, [ ... ]",
        "a map" => "a table",
        other if other.starts_with("struct ") => "a table",
        other if other.starts_with("a sequence") => "an array, [ ... ]",
        other => other,
    };
    words.to_owned()
}

/// The known key nearest to a misspelled one (at most a third of its letters off).
fn closest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, k)| *d <= (k.chars().count() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(current + 1);
            prev = current;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters_from_one() {
        let text = "a = 1\nb = \"é\"\nc = 2\n";
        assert_eq!(position(text, 0), Position { line: 1, column: 1 });
        let c = text.find('c').unwrap();
        assert_eq!(position(text, c), Position { line: 3, column: 1 });
        let two = text.find('2').unwrap();
        assert_eq!(position(text, two), Position { line: 3, column: 5 });
    }

    #[test]
    fn keys_are_located_at_their_value_or_closest_section() {
        let text = "environment = \"qa\"\n[[sources.file]]\ninclude = []\n[buffer]\n";
        let doc = SourceDoc::parse(text).unwrap();
        assert_eq!(
            doc.locate("environment"),
            Some(Position {
                line: 1,
                column: 15
            })
        );
        assert_eq!(
            doc.locate("sources.file[0].include"),
            Some(Position {
                line: 3,
                column: 11
            })
        );
        assert_eq!(doc.locate("buffer.max_disk_bytes").map(|p| p.line), Some(4));
        assert_eq!(doc.locate("api.address"), None);
    }

    #[test]
    fn a_misspelt_key_gets_its_nearest_name() {
        assert_eq!(
            closest("max_memory_byts", &["max_memory_bytes", "dir"]),
            Some("max_memory_bytes")
        );
        assert_eq!(closest("colour", &["path", "max_bytes"]), None);
        assert_eq!(
            leading_key("metrics.namespace `x` must"),
            "metrics.namespace"
        );
        assert_eq!(
            leading_key("sources.file[0].include: empty"),
            "sources.file[0].include"
        );
    }
}
