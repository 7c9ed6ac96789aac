//! The replacement modes: `mask` (`[REDACTED:kind]`), `hash` (keyed HMAC-SHA256, short hex) and
//! `partial` (last 4 digits of a card or phone, last 4 characters of a long secret).

use std::fmt::Write as _;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::config::Mode;

type HmacSha256 = Hmac<Sha256>;

/// Prefix of every marker the redactor writes.
pub const MARKER_PREFIX: &str = "[REDACTED:";

/// Renders replacements for every rule according to its mode.
#[derive(Clone)]
pub struct Replacer {
    names: Vec<String>,
    modes: Vec<Mode>,
    mac: Option<HmacSha256>,
    hash_chars: usize,
}

impl std::fmt::Debug for Replacer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replacer")
            .field("names", &self.names)
            .field("modes", &self.modes)
            .field("hash_key", &self.mac.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}

impl Replacer {
    /// A replacer; `key` is required when any mode is `hash` (checked by the caller).
    pub fn new(
        names: Vec<String>,
        modes: Vec<Mode>,
        key: Option<&[u8]>,
        hash_chars: usize,
    ) -> Self {
        let mac = key.and_then(|k| HmacSha256::new_from_slice(k).ok());
        Self {
            names,
            modes,
            mac,
            hash_chars: hash_chars.clamp(8, 64),
        }
    }

    /// The rule's stable name.
    pub fn name(&self, rule: usize) -> &str {
        self.names.get(rule).map_or("unknown", String::as_str)
    }

    /// Appends the replacement of `value`, matched by `rule`, to `out`.
    pub fn render(&self, rule: usize, value: &str, out: &mut String) {
        out.push_str(MARKER_PREFIX);
        out.push_str(self.name(rule));
        match self.modes.get(rule).copied().unwrap_or_default() {
            Mode::Mask => {}
            Mode::Hash => {
                if let Some(mac) = &self.mac {
                    let mut mac = mac.clone();
                    mac.update(value.as_bytes());
                    let digest = mac.finalize().into_bytes();
                    out.push(':');
                    let mut written = 0;
                    for byte in digest.iter() {
                        if written >= self.hash_chars {
                            break;
                        }
                        let _ = write!(out, "{byte:02x}");
                        written += 2;
                    }
                    if written > self.hash_chars {
                        out.truncate(out.len() - (written - self.hash_chars));
                    }
                }
            }
            Mode::Partial => push_partial(value, out),
        }
        out.push(']');
    }

    /// The replacement as an owned string.
    pub fn rendered(&self, rule: usize, value: &str) -> String {
        let mut out = String::with_capacity(32);
        self.render(rule, value, &mut out);
        out
    }
}

/// Last 4 digits when the value holds at least 8 (cards, phones), else the last 4 characters
/// of a value of at least 16 characters (keys, tokens); shorter values show nothing.
fn push_partial(value: &str, out: &mut String) {
    let digits: Vec<char> = value.chars().filter(char::is_ascii_digit).collect();
    if digits.len() >= 8 {
        out.push_str(":****");
        out.extend(&digits[digits.len() - 4..]);
        return;
    }
    let chars: Vec<char> = value.chars().filter(|c| !c.is_whitespace()).collect();
    if chars.len() >= 16 {
        out.push_str(":****");
        // the marker must not carry characters that need escaping or end it
        out.extend(chars[chars.len() - 4..].iter().map(|&c| match c {
            '"' | '\\' | ']' | '\u{0}'..='\u{1f}' => '*',
            c => c,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replacer(mode: Mode, key: Option<&[u8]>) -> Replacer {
        Replacer::new(vec!["card".into()], vec![mode], key, 12)
    }

    #[test]
    fn mask_names_the_kind() {
        assert_eq!(
            replacer(Mode::Mask, None).rendered(0, "4111"),
            "[REDACTED:card]"
        );
    }

    #[test]
    fn hash_is_keyed_stable_and_short() {
        let a = replacer(Mode::Hash, Some(b"k1"));
        let b = replacer(Mode::Hash, Some(b"k2"));
        let x = a.rendered(0, "alice@example.com");
        assert_eq!(x, a.rendered(0, "alice@example.com"));
        assert_ne!(x, a.rendered(0, "bob@example.com"));
        assert_ne!(
            x,
            b.rendered(0, "alice@example.com"),
            "the key changes the hash"
        );
        let hex = x
            .trim_start_matches("[REDACTED:card:")
            .trim_end_matches(']');
        assert_eq!(hex.len(), 12);
        assert!(hex.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn partial_keeps_last_four_digits() {
        let r = replacer(Mode::Partial, None);
        assert_eq!(
            r.rendered(0, "4111 1111 1111 1234"),
            "[REDACTED:card:****1234]"
        );
        assert_eq!(
            r.rendered(0, "sk-abcdefghijklmnop\"wxy"),
            "[REDACTED:card:****\"wxy]".replace('"', "*")
        );
        assert_eq!(r.rendered(0, "short"), "[REDACTED:card]");
    }
}
