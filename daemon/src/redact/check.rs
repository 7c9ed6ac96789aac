//! Every problem of a `[redact]` section at once, each with the setting it is about, so that
//! `validate` lists them all rather than the first one `Redactor::new` stops at.

use super::config::{Mode, RedactConfig};
use super::rules::{RedactError, BUILTIN_NAMES, IP_ADDRESS};

/// Allowed `hash_chars`: 8 hex characters (32 bits) still correlate values; 64 is the whole
/// HMAC-SHA256.
pub const HASH_CHARS_RANGE: std::ops::RangeInclusive<usize> = 8..=64;

/// Smallest `max_line_bytes`: below 1 KiB ordinary log lines would be replaced whole.
pub const MIN_MAX_LINE_BYTES: usize = 1024;

/// One problem of the `[redact]` section.
#[derive(Debug)]
pub struct RedactProblem {
    /// The setting's path in the config file, e.g. `redact.custom[1].pattern`.
    pub key: String,
    /// What is wrong and what to do.
    pub error: RedactError,
}

/// Every problem of `config`, in the order of its settings; empty when it is valid. `lookup`
/// reads the environment variable that may hold the hash key.
pub fn problems(
    config: &RedactConfig,
    lookup: impl Fn(&str) -> Option<String>,
) -> Vec<RedactProblem> {
    let mut found = Vec::new();
    let mut push = |key: String, error: RedactError| found.push(RedactProblem { key, error });
    if !HASH_CHARS_RANGE.contains(&config.hash_chars) {
        push(
            "redact.hash_chars".into(),
            RedactError::HashChars {
                value: config.hash_chars,
            },
        );
    }
    if config.max_line_bytes < MIN_MAX_LINE_BYTES {
        push(
            "redact.max_line_bytes".into(),
            RedactError::MaxLineBytes {
                value: config.max_line_bytes,
            },
        );
    }
    for (setting, list) in [
        ("allow", &config.allow),
        ("extra_keys", &config.extra_keys),
        ("allow_keys", &config.allow_keys),
    ] {
        for (index, _) in list.iter().enumerate().filter(|(_, v)| v.trim().is_empty()) {
            push(
                format!("redact.{setting}[{index}]"),
                RedactError::EmptyEntry { setting },
            );
        }
    }
    let mut names: Vec<&str> = BUILTIN_NAMES.to_vec();
    for (index, rule) in config.custom.iter().enumerate() {
        if !super::valid_rule_name(&rule.name) || names.contains(&rule.name.as_str()) {
            push(
                format!("redact.custom[{index}].name"),
                RedactError::BadRuleName {
                    name: rule.name.clone(),
                },
            );
        } else {
            names.push(&rule.name);
        }
        if let Err(err) = regex::Regex::new(&rule.pattern) {
            push(
                format!("redact.custom[{index}].pattern"),
                RedactError::BadRegex {
                    name: rule.name.clone(),
                    message: err.to_string(),
                },
            );
        }
    }
    for name in config.modes.keys() {
        if !names.contains(&name.as_str()) {
            push(
                format!("redact.modes.{name}"),
                RedactError::UnknownRule {
                    setting: "modes",
                    name: name.clone(),
                    known: names.join(", "),
                },
            );
        }
    }
    for (index, name) in config.disable.iter().enumerate() {
        if !BUILTIN_NAMES.contains(&name.as_str()) {
            push(
                format!("redact.disable[{index}]"),
                RedactError::UnknownRule {
                    setting: "disable",
                    name: name.clone(),
                    known: BUILTIN_NAMES.join(", "),
                },
            );
        }
    }
    let has_key = config
        .hash_key
        .as_ref()
        .is_some_and(|k| !k.expose().is_empty())
        || lookup(&config.hash_key_env).is_some_and(|k| !k.is_empty());
    if !has_key {
        if let Some(rule) = first_hashing_rule(config) {
            push(
                "redact.hash_key".into(),
                RedactError::MissingHashKey {
                    rule,
                    env: config.hash_key_env.clone(),
                },
            );
        }
    }
    found
}

/// The first rule that is on and uses `hash` mode: built-ins in catalogue order, then custom.
fn first_hashing_rule(config: &RedactConfig) -> Option<String> {
    let mode_of = |name: &str, own: Mode| config.modes.get(name).copied().unwrap_or(own);
    let builtin = BUILTIN_NAMES.iter().enumerate().find(|(id, name)| {
        let on = if *id == IP_ADDRESS {
            config.ip_addresses
        } else {
            !config.disable.iter().any(|d| d == *name)
        };
        on && mode_of(name, config.default_mode) == Mode::Hash
    });
    if let Some((_, name)) = builtin {
        return Some((*name).to_owned());
    }
    config
        .custom
        .iter()
        .find(|rule| mode_of(&rule.name, rule.mode) == Mode::Hash)
        .map(|rule| rule.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_of_the_section_is_listed_with_its_setting() {
        let config: RedactConfig = toml::from_str(
            r#"
            hash_chars = 3
            max_line_bytes = 10
            allow = ["", "ok", " "]
            disable = ["phone", "no_such_rule"]
            modes = { emial = "mask", email = "hash" }
            [[custom]]
            name = "Bad Name"
            pattern = "("
            "#,
        )
        .unwrap();
        let keys: Vec<String> = problems(&config, |_| None)
            .into_iter()
            .map(|p| p.key)
            .collect();
        assert_eq!(
            keys,
            [
                "redact.hash_chars",
                "redact.max_line_bytes",
                "redact.allow[0]",
                "redact.allow[2]",
                "redact.custom[0].name",
                "redact.custom[0].pattern",
                "redact.modes.emial",
                "redact.disable[1]",
                "redact.hash_key",
            ]
        );
    }

    #[test]
    fn a_valid_section_has_no_problem_and_the_env_key_counts() {
        let config: RedactConfig = toml::from_str("default_mode = \"hash\"").unwrap();
        assert_eq!(problems(&config, |_| None).len(), 1);
        assert!(problems(&config, |_| Some("k".into())).is_empty());
        assert!(problems(&RedactConfig::default(), |_| None).is_empty());
    }
}
