//! The `[redact]` section of the sidecar config: rule modes, custom rules, allow-lists, hash key.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// Environment variable read for the HMAC key when `hash_key` is not set in the file.
pub const DEFAULT_HASH_KEY_ENV: &str = "AISTUDIO_REDACT_HASH_KEY";

/// Hex characters of the HMAC kept in a `hash` marker unless configured otherwise.
pub const DEFAULT_HASH_CHARS: usize = 12;

/// Longest line redacted as a whole: 1 MiB, the CloudWatch Logs event limit since April 2025
/// (one definition, shared with the sources' line cut). Longer lines are replaced by a marker
/// instead of being shipped half-checked.
pub use aistudio_core::limits::DEFAULT_MAX_LINE_BYTES;

/// How a rule replaces what it matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// `[REDACTED:email]`: the rule name and nothing of the value.
    #[default]
    Mask,
    /// `[REDACTED:email:3f2a9c1b7d4e]`: a keyed HMAC-SHA256, so equal values correlate.
    Hash,
    /// `[REDACTED:card:****1111]`: keeps the last 4 digits (or characters of a long secret).
    Partial,
}

/// What replaces a JSON number that a rule masks (a card number stored as a number, a number
/// under a sensitive key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NumericMarker {
    /// The rule's marker as a JSON string (`"[REDACTED:card]"`): the output names the rule, but
    /// the field changes type from number to string.
    #[default]
    String,
    /// The number `0`: the field stays a number for consumers with a schema; the
    /// `redaction` counters still say which rule fired.
    Zero,
}

/// A rule written in the config file: a regex and how to replace its matches.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CustomRule {
    /// Stable rule name used in markers and counter labels: 1–48 chars of `a-z`, `0-9`, `_`.
    pub name: String,
    /// Regex (Rust `regex` syntax) matched against every string value and plain line.
    pub pattern: String,
    /// How matches are replaced (default `mask`).
    #[serde(default)]
    pub mode: Mode,
}

/// A string that never shows itself in `Debug` output and is never serialized back.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; callers must not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(SecretString)
    }
}

/// Settings of the redaction stage (`[redact]` in the config file).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedactConfig {
    /// Redact at all; `false` passes every line through untouched (local debugging only).
    pub enabled: bool,
    /// Also redact IPv4 and IPv6 addresses (rule `ip_address`); off by default because
    /// operators usually need client and task addresses.
    pub ip_addresses: bool,
    /// Mode of every rule not named in `modes`.
    pub default_mode: Mode,
    /// Mode per rule name, e.g. `email = "hash"`, `card = "partial"`; unknown names are an error.
    pub modes: BTreeMap<String, Mode>,
    /// Built-in rules to turn off, by name (e.g. `["phone"]`); unknown names are an error.
    pub disable: Vec<String>,
    /// Extra JSON keys (any case or separator style) whose whole value is replaced as `secret`.
    pub extra_keys: Vec<String>,
    /// Keys never redacted by name (e.g. `"tokenizer"`); their values still go through patterns.
    pub allow_keys: Vec<String>,
    /// Values never redacted, compared exactly (e.g. a public support mailbox).
    pub allow: Vec<String>,
    /// Custom rules: name, regex, mode.
    pub custom: Vec<CustomRule>,
    /// HMAC key for `hash` mode. Prefer the environment variable named by `hash_key_env`;
    /// this value is never logged and never serialized back.
    #[serde(skip_serializing)]
    pub hash_key: Option<SecretString>,
    /// Environment variable holding the HMAC key when `hash_key` is unset.
    pub hash_key_env: String,
    /// Hex characters of the HMAC kept in a `hash` marker (8–64).
    pub hash_chars: usize,
    /// Longest line redacted; a longer line is replaced whole by `[REDACTED:oversized_line]`.
    pub max_line_bytes: usize,
    /// What replaces a masked JSON number: `"string"` (the marker, default) or `"zero"`.
    pub numeric_marker: NumericMarker,
}

impl Default for RedactConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            ip_addresses: false,
            default_mode: Mode::Mask,
            modes: BTreeMap::new(),
            disable: Vec::new(),
            extra_keys: Vec::new(),
            allow_keys: Vec::new(),
            allow: Vec::new(),
            custom: Vec::new(),
            hash_key: None,
            hash_key_env: DEFAULT_HASH_KEY_ENV.to_owned(),
            hash_chars: DEFAULT_HASH_CHARS,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            numeric_marker: NumericMarker::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_section() {
        let config: RedactConfig = toml::from_str(
            r#"
            ip_addresses = true
            modes = { email = "hash", card = "partial" }
            disable = ["phone"]
            allow = ["support@example.com"]
            hash_key = "k"
            [[custom]]
            name = "employee_id"
            pattern = "EMP-[0-9]{6}"
            "#,
        )
        .unwrap();
        assert!(config.ip_addresses);
        assert_eq!(config.modes.get("card"), Some(&Mode::Partial));
        assert_eq!(config.custom[0].mode, Mode::Mask);
        assert_eq!(
            config.hash_key.as_ref().map(SecretString::expose),
            Some("k")
        );
        assert!(config.enabled, "unset fields keep their defaults");
    }

    #[test]
    fn unknown_field_is_rejected() {
        let err = toml::from_str::<RedactConfig>("ip_adresses = true").unwrap_err();
        assert!(err.to_string().contains("ip_adresses"), "{err}");
    }

    #[test]
    fn hash_key_is_neither_debugged_nor_serialized() {
        let config = RedactConfig {
            hash_key: Some(SecretString::new("hunter2-key")),
            ..RedactConfig::default()
        };
        assert!(!format!("{config:?}").contains("hunter2-key"));
        let text = toml::to_string(&config).unwrap();
        assert!(!text.contains("hunter2-key"), "{text}");
    }
}
