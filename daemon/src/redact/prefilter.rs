//! The cheap first look at a line or string: one Aho-Corasick pass for literal triggers and one
//! byte-class pass for digit runs and long base64 runs. Rules whose trigger is absent never run,
//! and a line with no trigger at all is copied through without being parsed.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

use super::entropy::{self, is_token_end};
use super::keys::KEY_STEMS;

/// A set of trigger bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags(pub u32);

impl Flags {
    /// `@`: e-mail addresses.
    pub const AT: u32 = 1 << 0;
    /// `://` or `hooks.slack`: URL passwords and Slack webhooks.
    pub const URL: u32 = 1 << 1;
    /// `eyJ`: JWTs.
    pub const JWT: u32 = 1 << 2;
    /// `bearer`: bearer credentials.
    pub const BEARER: u32 = 1 << 3;
    /// `AKIA` / `ASIA`: AWS access key ids.
    pub const AWS_ID: u32 = 1 << 4;
    /// `sk-`: OpenAI-style keys.
    pub const SK: u32 = 1 << 5;
    /// `-----BEGIN`: PEM blocks.
    pub const PEM: u32 = 1 << 6;
    /// A key stem (`pass`, `token`, `key`, ...): key rules and `key=value` text.
    pub const KEY: u32 = 1 << 7;
    /// A backslash: JSON escapes may hide any of the above, so nothing can be skipped.
    pub const BACKSLASH: u32 = 1 << 8;
    /// A run of at least [`MIN_DIGITS`] digits with separators: phone, card, SSN.
    pub const DIGITS: u32 = 1 << 9;
    /// A dotted-digit or `::` shape: IP addresses (only when that rule is on).
    pub const IP: u32 = 1 << 10;
    /// A run of at least 40 base64 characters: AWS secret keys.
    pub const B64: u32 = 1 << 11;
    /// A vendor token prefix (`ghp_`, `github_pat_`, `glpat-`, `xoxb-`, `sk_live_`, `AIza`, ...).
    pub const VENDOR: u32 = 1 << 12;
    /// A token of at least [`entropy::MIN_LEN`] bytes holding both letter cases and a digit or
    /// symbol: the only lines the `high_entropy` rule looks at.
    pub const LONG_TOKEN: u32 = 1 << 13;
    /// `%40` or a backslash: percent- or `\u`-escaped text is decoded for matching.
    pub const ESCAPED: u32 = 1 << 14;
    /// A word that announces a phone number (`call`, `sms`, `tel`, `whatsapp`): numbers of
    /// fewer digits than [`MIN_DIGITS`] after it are checked too.
    pub const PHONE_WORD: u32 = 1 << 15;

    /// Whether any bit in `mask` is set.
    pub fn has(self, mask: u32) -> bool {
        self.0 & mask != 0
    }

    /// Whether no trigger was seen.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// Literal prefixes of the `vendor_token` rule (matched case-insensitively here; the rule's own
/// regex is exact). The regex in `patterns.rs` must start with one of these.
pub const VENDOR_PREFIXES: &[&str] = &[
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xox",
    "xapp-",
    "sk_",
    "rk_",
    "aiza",
    "npm_",
    "hf_",
    "sg.",
];

/// Fewest digits in a separated run that may be a phone, SSN or card number (SSN has 9).
pub const MIN_DIGITS: u32 = 9;

/// Length of an AWS secret access key.
pub const AWS_SECRET_LEN: u32 = 40;

const C_DIGIT: u8 = 1;
const C_SEP: u8 = 2;
const C_UPPER: u8 = 16;
const C_LOWER: u8 = 32;
const C_SYMBOL: u8 = 64;

const fn class_table() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut c = 0;
        if b.is_ascii_digit() {
            c |= C_DIGIT;
        }

        if b == b' ' || b == b'-' || b == b'.' || b == b'(' || b == b')' {
            c |= C_SEP;
        }
        if !is_token_end(b) {
            c |= if b.is_ascii_uppercase() {
                C_UPPER
            } else if b.is_ascii_lowercase() {
                C_LOWER
            } else if b.is_ascii_digit() {
                C_DIGIT
            } else {
                C_SYMBOL
            };
        }
        t[i] = c;
        i += 1;
    }
    t
}

static CLASS: [u8; 256] = class_table();

/// Masks of all ones or zero, so the byte loop spends a load, not a chain of tests, on each:
/// a set of token classes that is "mixed" (both letter cases and a digit or symbol), a byte
/// that belongs to a token, a digit byte, a separator byte.
struct Masks {
    mixed: [u32; 256],
    token: [u32; 256],
    digit: [u32; 256],
    sep: [u32; 256],
}

const fn mask_tables() -> Masks {
    let mut m = Masks {
        mixed: [0; 256],
        token: [0; 256],
        digit: [0; 256],
        sep: [0; 256],
    };
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        let cases = c & C_UPPER != 0 && c & C_LOWER != 0;
        if cases && c & (C_DIGIT | C_SYMBOL) != 0 {
            m.mixed[i] = u32::MAX;
        }
        if !is_token_end(c) {
            m.token[i] = u32::MAX;
        }
        let class = CLASS[i];
        if class & C_DIGIT != 0 {
            m.digit[i] = u32::MAX;
        }
        if class & C_SEP != 0 {
            m.sep[i] = u32::MAX;
        }
        i += 1;
    }
    m
}

static MASKS: Masks = mask_tables();

/// One literal trigger found in a line: where it starts and the bits it sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    /// Byte offset of the literal's first byte in the scanned text.
    pub start: usize,
    /// The trigger bits of that literal.
    pub bits: u32,
}

/// Where a line's triggers are, in order, so that the JSON walk can tell which of its strings
/// hold one without scanning each string again.
#[derive(Debug, Default)]
pub struct Marks {
    /// Every literal trigger.
    pub literals: Vec<Mark>,
    /// The first byte of each stretch where a digit run or a mixed token had reached its
    /// threshold ([`MIN_DIGITS`], [`entropy::MIN_LEN`]). A quote ends both, so a string whose
    /// own byte-class pass sets a bit holds one of these.
    pub shapes: Vec<usize>,
}

/// The literal triggers and the byte-class scan, built once.
#[derive(Debug)]
pub struct Prefilter {
    literals: AhoCorasick,
    stems: AhoCorasick,
    bits: Vec<u32>,
    ip: bool,
    /// No literal holds a `"`, so the literals found in a whole JSON line are exactly those
    /// a scan of each of its unescaped strings alone would find (see [`Prefilter::scan_marked`]).
    marks_exact: bool,
    /// No literal holds a `"`, a `,` or a `}`: none can match across the edge of a member
    /// added at the end of a JSON line (see `member.rs`).
    member_edge_safe: bool,
}

impl Prefilter {
    /// Builds the automaton; `extra_stems` are lower-case segments of configured extra keys.
    pub fn new(ip: bool, extra_stems: &[String]) -> Result<Self, aho_corasick::BuildError> {
        let mut pats: Vec<String> = Vec::new();
        let mut bits = Vec::new();
        // few enough literals in all (fixed, vendor prefixes, key stems) for the automaton's
        // packed SIMD prefilter, which takes at most 64 patterns: W1 slows by a tenth past it
        let fixed: [(&str, u32); 17] = [
            ("call", Flags::PHONE_WORD),
            ("sms", Flags::PHONE_WORD),
            ("whatsapp", Flags::PHONE_WORD),
            ("@", Flags::AT),
            ("%40", Flags::AT | Flags::ESCAPED),
            ("://", Flags::URL),
            ("hooks.slack", Flags::URL),
            ("discord", Flags::URL),
            ("eyj", Flags::JWT),
            // also a key stem: one pattern id is reported per literal, so it carries both
            ("bearer", Flags::BEARER | Flags::KEY),
            ("basic ", Flags::BEARER),
            ("digest ", Flags::BEARER),
            ("akia", Flags::AWS_ID),
            ("asia", Flags::AWS_ID),
            ("sk-", Flags::SK),
            ("-----begin", Flags::PEM),
            ("\\", Flags::BACKSLASH | Flags::ESCAPED),
        ];
        for (p, b) in fixed {
            pats.push(p.to_owned());
            bits.push(b);
        }
        for p in VENDOR_PREFIXES {
            pats.push((*p).to_owned());
            bits.push(Flags::VENDOR);
        }
        let stems: Vec<String> = KEY_STEMS
            .iter()
            .map(|s| (*s).to_owned())
            .chain(extra_stems.iter().cloned())
            .collect();
        for stem in &stems {
            pats.push(stem.clone());
            // phone keys are phone words too
            let phone = ["tel", "phone", "mobile", "fax"].contains(&stem.as_str());
            bits.push(Flags::KEY | if phone { Flags::PHONE_WORD } else { 0 });
        }
        let marks_exact = !pats.iter().any(|p| p.contains('"'));
        let member_edge_safe = !pats.iter().any(|p| p.contains(['"', ',', '}']));
        let literals = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&pats)?;
        let stems = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&stems)?;
        Ok(Self {
            literals,
            stems,
            bits,
            ip,
            marks_exact,
            member_edge_safe,
        })
    }

    /// All triggers present in `bytes`.
    pub fn scan(&self, bytes: &[u8]) -> Flags {
        self.scan_with::<false>(bytes, &mut Marks::default())
    }

    /// [`Prefilter::scan`], also recording where the triggers are in `marks`. Returns whether
    /// the literal marks can stand in for a scan of a string: no literal holds a `"`, so the
    /// automaton is back at its start state after each quote and no match spans one; the
    /// matches inside an unescaped JSON string are then the ones a scan of that string alone
    /// finds.
    pub fn scan_marked(&self, bytes: &[u8], marks: &mut Marks) -> (Flags, bool) {
        marks.literals.clear();
        marks.shapes.clear();
        (self.scan_with::<true>(bytes, marks), self.marks_exact)
    }

    /// Both passes; with `MARK`, where each trigger is goes into `marks`.
    fn scan_with<const MARK: bool>(&self, bytes: &[u8], marks: &mut Marks) -> Flags {
        let mut flags = 0u32;
        // non-overlapping is enough: only `key` and `eyJ` can overlap (`keyJ`), and a JWT glued
        // to a word is no match for its rule anyway
        for m in self.literals.find_iter(bytes) {
            let bits = self.bits.get(m.pattern().as_usize()).copied().unwrap_or(0);
            flags |= bits;
            if MARK {
                marks.literals.push(Mark {
                    start: m.start(),
                    bits,
                });
            }
        }
        Flags(flags | self.shape::<MARK>(bytes, &mut marks.shapes))
    }

    /// Whether a member with no trigger of its own, added at the end of a JSON line, leaves
    /// the line's triggers as they are: no literal spans the member's edge (`,"…` before it,
    /// `}` after it), and the byte-class runs end at a `,` or a `"`.
    pub fn member_edge_safe(&self) -> bool {
        self.member_edge_safe
    }

    /// The byte-class triggers of `bytes` alone (digit runs, long tokens, IP shapes): what
    /// [`Prefilter::scan`] adds to the literal triggers.
    pub fn shape_flags(&self, bytes: &[u8]) -> Flags {
        Flags(self.shape::<false>(bytes, &mut Vec::new()))
    }

    /// Whether a normalized key contains a key stem (no key rule can own it otherwise).
    pub fn key_may_match(&self, norm: &str) -> bool {
        self.stems.is_match(norm)
    }

    /// The byte-class pass; with `MARK`, the start of each stretch of bytes where a threshold
    /// is reached goes into `hits` (a rarely taken branch, so the plain scan stays branch-free).
    fn shape<const MARK: bool>(&self, bytes: &[u8], hits: &mut Vec<usize>) -> u32 {
        // branch-free run lengths: digits joined by at most two separators, and base64 runs
        let mut digits = 0u32;
        let mut seps = 0u32;
        let mut max_digits = 0u32;
        // the current token's length in bits 8.., its classes in bits 0..8; the longest mixed
        // token so far (it also stands in for the base64 run of an AWS secret key, which is
        // mixed, and whose exact run the AWS scanner checks itself)
        let m = &MASKS;
        let mut tok = 0u32;
        let mut max_mixed = 0u32;
        let long_token = (entropy::MIN_LEN as u32) << 8;
        let mut last_hit = usize::MAX - 1;
        for (i, &b) in bytes.iter().enumerate() {
            let c = CLASS[b as usize];
            // all-ones when the class bit is set, zero otherwise (no multiplies, no branches)
            let digit = m.digit[b as usize];
            let sep = m.sep[b as usize];
            seps = (seps + 1) & sep;
            let keep = digit | (sep & 0u32.wrapping_sub(u32::from(seps <= 2)));
            digits = (digits + (digit & 1)) & keep;
            max_digits = max_digits.max(digits);
            tok = ((tok + 256) | u32::from(c)) & m.token[b as usize];
            let mixed = tok & m.mixed[(tok & 0xff) as usize];
            max_mixed = max_mixed.max(mixed);
            if MARK && (digits >= MIN_DIGITS) | (mixed >= long_token) {
                if i != last_hit.wrapping_add(1) {
                    hits.push(i);
                }
                last_hit = i;
            }
        }
        let mut flags = 0u32;
        if max_digits >= MIN_DIGITS {
            flags |= Flags::DIGITS;
        }
        if max_mixed >> 8 >= AWS_SECRET_LEN {
            flags |= Flags::B64;
        }
        if max_mixed >> 8 >= entropy::MIN_LEN as u32 {
            flags |= Flags::LONG_TOKEN;
        }
        if self.ip && ip_shape(bytes) {
            flags |= Flags::IP;
        }
        flags
    }
}

/// A digit, a dot and a digit (IPv4) or two colons (IPv6).
fn ip_shape(bytes: &[u8]) -> bool {
    let dotted = bytes
        .windows(3)
        .any(|w| w[0].is_ascii_digit() && w[1] == b'.' && w[2].is_ascii_digit());
    dotted || memchr::memchr_iter(b':', bytes).nth(1).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(s: &str) -> Flags {
        Prefilter::new(false, &[]).unwrap().scan(s.as_bytes())
    }

    #[test]
    fn literal_triggers_are_case_insensitive() {
        assert!(scan("Authorization: BEARER abc").has(Flags::BEARER));
        assert!(scan("x AKIAABCD").has(Flags::AWS_ID));
        assert!(scan("\"API_KEY\":1").has(Flags::KEY));
        assert!(scan("a@b").has(Flags::AT));
        assert!(scan("a\\u0040b").has(Flags::BACKSLASH));
    }

    #[test]
    fn digit_runs_need_nine_digits() {
        assert!(scan("call (555) 123-4567").has(Flags::DIGITS));
        assert!(scan("4111 1111 1111 1111").has(Flags::DIGITS));
        assert!(!scan("2026-11-01T00:00:00.003Z").has(Flags::DIGITS));
        assert!(!scan("\"duration\":8123,\"userId\":\"4999\"").has(Flags::DIGITS));
    }

    #[test]
    fn plain_harmless_line_has_no_trigger() {
        let line = r#"{"timestamp":"2026-11-01T00:00:00.003Z","level":"info","message":"stream started","requestId":"req-1a2b3c4d","provider":"openai","modelId":"gpt-4o","duration":812}"#;
        assert!(scan(line).is_empty(), "{:?}", scan(line));
    }

    #[test]
    fn base64_run_of_forty_is_flagged() {
        assert!(scan("k=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY").has(Flags::B64));
        assert!(!scan("k=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLE").has(Flags::B64));
    }

    #[test]
    fn ip_flag_only_when_enabled() {
        let on = Prefilter::new(true, &[]).unwrap();
        assert!(on.scan(b"from 10.0.0.1").has(Flags::IP));
        assert!(!scan("from 10.0.0.1").has(Flags::IP));
    }
}
