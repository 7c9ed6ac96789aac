//! Pattern detectors run inside strings: regexes for shaped secrets and hand-written scanners for
//! Luhn-checked cards and AWS secret keys, each followed by boundary and validity checks.

use std::sync::OnceLock;

use regex::Regex;

pub use super::numbers::{is_card_number, luhn_ok};
use super::numbers::{scan_cards, scan_ibans};
use super::prefilter::{Flags, AWS_SECRET_LEN};
use super::rules::{
    RedactError, RuleId, AUTHORIZATION, AWS_ACCESS_KEY, AWS_SECRET_KEY, BEARER, BUILTIN_NAMES,
    CARD, DISCORD_WEBHOOK, EMAIL, IBAN, IP_ADDRESS, JWT, OPENAI_KEY, PHONE, PRIVATE_KEY,
    SLACK_WEBHOOK, SSN, URL_PASSWORD, VENDOR_TOKEN,
};
use super::userinfo::url_passwords;

/// One match: a byte range of the string and the rule that owns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
    /// Owning rule.
    pub rule: RuleId,
}

/// Addresses with a domain name or an IP literal (`user@[192.0.2.1]`, RFC 5321 4.1.3).
/// Label and top-level-domain lengths are not bounded here (RFC 1035 allows 63 per label):
/// a bounded repeat copies the Unicode letter class once per count: with `{0,61}` the copies
/// were 4.2 MB of the redactor's start-up heap, and lines with an `@` went to the bounded
/// backtracker, whose clearing of its visited set was 11 % of all instructions on W1.
/// An over-long label is still an address to mask.
const EMAIL_RE: &str = concat!(
    r"[\p{L}\p{N}._%+'-]+@(?:(?:[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?\.)+\p{L}{2,}",
    r"|\[(?:IPv6:)?[0-9A-Fa-f:.]{2,45}\])"
);
const PHONE_RE: &str = concat!(
    // international: +CC or 00CC, then 2-6 groups
    r"(?:\+|(?-u:\b)00)[1-9]\d{0,3}(?:[ .-]?\(\d{1,4}\))?(?:[ .-]?\d{1,5}){1,6}",
    // North American with an area code in parentheses
    r"|(?:(?-u:\b)1[ .-]?)?\(\d{3}\)[ .-]?\d{3}[ .-]?\d{4}(?-u:\b)",
    // North American with separators
    r"|(?:(?-u:\b)1[ .-])?(?-u:\b)\d{3}[ .-]\d{3}[ .-]\d{4}(?-u:\b)",
    // national trunk prefix: UK, DE, AU, ... (020 7946 0958, 07700 900123)
    r"|(?-u:\b)0\d{1,4}[ -]\d{3,4}[ -]?\d{3,4}(?-u:\b)",
    // FR-style pairs (01 42 68 53 00)
    r"|(?-u:\b)0\d(?:[ .]\d{2}){4}(?-u:\b)",
);
/// A number after a word that says it is a phone (`sms code sent to 0543513905`, `call
/// 84973620948 back`), in any layout, with an optional extension.
const PHONE_CONTEXT_RE: &str = concat!(
    r"(?i)(?-u:\b)(?:phone|telephone|tel|mobile|cell|call|sms|fax|whatsapp|dial|text)(?-u:\b)",
    r"[^0-9+\n]{0,24}?(\+?[0-9][0-9 ().-]{5,22}[0-9](?:[ ]?(?:x|ext\.?)[ ]?[0-9]{1,6})?)(?-u:\b)",
);
const SSN_RE: &str = r"(?-u:\b)\d{3}([- ])\d{2}([- ])\d{4}(?-u:\b)";
const JWT_RE: &str = r"(?-u:\b)eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}(?:\.[A-Za-z0-9_-]*)?";
const BEARER_RE: &str = r"(?i)(?-u:\b)bearer[ \t]+([A-Za-z0-9._~+/=-]{6,})";
const AWS_ID_RE: &str = r"(?-u:\b)(?:AKIA|ASIA)[A-Z0-9]{16}(?-u:\b)";
const OPENAI_RE: &str = r"(?-u:\b)sk-(?:proj-|svcacct-|admin-|ant-)?[A-Za-z0-9_-]{16,}";
/// Vendor tokens by their documented shapes: GitHub classic (`ghp_` etc. + 36) and fine-grained
/// (`github_pat_`), GitLab personal (`glpat-` + 20), Slack bot/user/app (`xoxb-`, `xapp-`),
/// Stripe secret and restricted keys (`sk_live_`, `rk_test_`), Google API keys (`AIza` + 35),
/// npm (`npm_` + 36), Hugging Face (`hf_` + 34), SendGrid (`SG.` + 22 `.` + 43).
const VENDOR_RE: &str = concat!(
    r"(?-u:\b)(?:",
    r"gh[pousr]_[A-Za-z0-9]{36,}",
    r"|github_pat_[A-Za-z0-9_]{22,}",
    r"|glpat-[A-Za-z0-9_-]{20,}",
    r"|xox[abeprs]-[A-Za-z0-9-]{10,}",
    r"|xapp-[0-9]-[A-Za-z0-9-]{10,}",
    r"|[rs]k_(?:live|test)_[A-Za-z0-9]{16,}",
    r"|AIza[0-9A-Za-z_-]{35}",
    r"|npm_[A-Za-z0-9]{36,}",
    r"|hf_[A-Za-z0-9]{30,}",
    r"|SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}",
    r")",
);
/// `Basic` credentials (checked to decode to `user:password`) and `Digest` parameter lists.
const AUTH_SCHEME_RE: &str = concat!(
    r#"(?i)(?-u:\b)(?:basic[ \t]+([A-Za-z0-9+/]{4,}={0,2})"#,
    r#"|digest[ \t]+((?:[a-z0-9_-]+=(?:"[^"]*"|[^\s,"]+)[, \t]*)+))"#,
);
const DISCORD_RE: &str = r"(?i)(?:https?://)?(?:(?:ptb|canary)\.)?discord(?:app)?\.com/api/webhooks/[0-9]+/[A-Za-z0-9_-]+";
const SLACK_RE: &str =
    r"(?i)(?:https?://)?hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]+";
const PEM_RE: &str = r"(?is)-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?:.*?-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|.*)";
const IP_RE: &str = concat!(
    r"(?-u:\b)(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?-u:\b)",
    r"|(?i:(?-u:\b)(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}(?-u:\b))",
    r"|(?i:(?:[0-9a-f]{1,4}:){1,6}(?::[0-9a-f]{1,4}){1,6}(?-u:\b))",
);

/// The built-in patterns, each compiled on its first use: a sidecar whose lines never hold a
/// rule's trigger (an idle one above all) keeps none of that rule's automata, which were most
/// of an idle sidecar's memory. `OnceLock::get` on the hot path is one atomic load.
#[derive(Debug)]
pub struct Patterns {
    email: LazyRegex,
    phone: LazyRegex,
    phone_context: LazyRegex,
    ssn: LazyRegex,
    jwt: LazyRegex,
    bearer: LazyRegex,
    aws_id: LazyRegex,
    openai: LazyRegex,
    slack: LazyRegex,
    discord: LazyRegex,
    auth_scheme: LazyRegex,
    vendor: LazyRegex,
    pem: LazyRegex,
    ip: LazyRegex,
}

/// A built-in regex, compiled the first time a line needs it.
#[derive(Debug)]
struct LazyRegex {
    pattern: &'static str,
    compiled: OnceLock<Option<Regex>>,
}

impl LazyRegex {
    fn new(pattern: &'static str) -> Self {
        Self {
            pattern,
            compiled: OnceLock::new(),
        }
    }

    /// The compiled regex. Every built-in compiles (the test
    /// `every_builtin_compiles_on_first_use_and_not_before` holds them to it;
    /// [`Patterns::new`] checks their syntax), so `None` never happens; it would only make the
    /// rule find nothing.
    fn get(&self) -> Option<&Regex> {
        self.compiled
            .get_or_init(|| Regex::new(self.pattern).ok())
            .as_ref()
    }
}

/// A built-in pattern whose syntax parses, ready to compile on first use.
fn check(rule: RuleId, re: &'static str) -> Result<LazyRegex, RedactError> {
    regex_syntax::Parser::new()
        .parse(re)
        .map_err(|e| RedactError::BadRegex {
            name: BUILTIN_NAMES
                .get(rule)
                .copied()
                .unwrap_or("builtin")
                .to_owned(),
            message: e.to_string(),
        })?;
    Ok(LazyRegex::new(re))
}

pub(super) fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Byte before `i`, if any.
pub(super) fn before(b: &[u8], i: usize) -> Option<u8> {
    i.checked_sub(1).and_then(|j| b.get(j).copied())
}

/// Whether a numeric match at `start..end` stands alone (not inside a longer number or word).
fn numeric_bounds(b: &[u8], start: usize, end: usize) -> bool {
    let left_ok = match before(b, start) {
        None => true,
        // `job-0094-4971-...`: a dash inside an identifier
        Some(b'-') => !before(b, start - 1).is_some_and(|p| p.is_ascii_alphanumeric()),
        // `+02:00 983844`: the end of a time
        Some(b':') => !before(b, start - 1).is_some_and(|p| p.is_ascii_digit()),
        Some(p) => !(is_word(p) || p == b'.' || p == b'/' || p == b'+'),
    };
    let right_ok = match b.get(end) {
        None => true,
        Some(&n) if is_word(n) => false,
        Some(&n) if n == b'.' || n == b'-' => {
            !b.get(end + 1).is_some_and(u8::is_ascii_alphanumeric)
        }
        Some(_) => true,
    };
    left_ok && right_ok
}

impl Patterns {
    /// The built-in patterns, their syntax checked (compiling waits for a line that needs one).
    pub fn new() -> Result<Self, RedactError> {
        Ok(Self {
            email: check(EMAIL, EMAIL_RE)?,
            phone: check(PHONE, PHONE_RE)?,
            phone_context: check(PHONE, PHONE_CONTEXT_RE)?,
            ssn: check(SSN, SSN_RE)?,
            jwt: check(JWT, JWT_RE)?,
            bearer: check(BEARER, BEARER_RE)?,
            aws_id: check(AWS_ACCESS_KEY, AWS_ID_RE)?,
            openai: check(OPENAI_KEY, OPENAI_RE)?,
            slack: check(SLACK_WEBHOOK, SLACK_RE)?,
            discord: check(DISCORD_WEBHOOK, DISCORD_RE)?,
            auth_scheme: check(AUTHORIZATION, AUTH_SCHEME_RE)?,
            vendor: check(VENDOR_TOKEN, VENDOR_RE)?,
            pem: check(PRIVATE_KEY, PEM_RE)?,
            ip: check(IP_ADDRESS, IP_RE)?,
        })
    }

    /// Appends every match of the enabled rules whose trigger is in `flags`.
    pub fn detect(&self, s: &str, flags: Flags, on: &[bool], out: &mut Vec<Found>) {
        let enabled = |rule: RuleId| on.get(rule).copied().unwrap_or(false);
        let b = s.as_bytes();
        let push_all = |re: &LazyRegex, rule: RuleId, out: &mut Vec<Found>| {
            for m in re.get().into_iter().flat_map(|re| re.find_iter(s)) {
                out.push(Found {
                    start: m.start(),
                    end: m.end(),
                    rule,
                });
            }
        };
        if flags.has(Flags::PEM) && enabled(PRIVATE_KEY) {
            push_all(&self.pem, PRIVATE_KEY, out);
        }
        if flags.has(Flags::URL) {
            if enabled(SLACK_WEBHOOK) {
                push_all(&self.slack, SLACK_WEBHOOK, out);
            }
            if enabled(DISCORD_WEBHOOK) {
                push_all(&self.discord, DISCORD_WEBHOOK, out);
            }
            if enabled(URL_PASSWORD) {
                url_passwords(b, out);
            }
        }
        if flags.has(Flags::BEARER) && enabled(AUTHORIZATION) {
            for c in self
                .auth_scheme
                .get()
                .into_iter()
                .flat_map(|re| re.captures_iter(s))
            {
                let basic = c.get(1).filter(|m| basic_credential(m.as_str().as_bytes()));
                if let Some(m) = basic.or_else(|| c.get(2)) {
                    out.push(Found {
                        start: m.start(),
                        end: m.end(),
                        rule: AUTHORIZATION,
                    });
                }
            }
        }
        if flags.has(Flags::BEARER) && enabled(BEARER) {
            for c in self
                .bearer
                .get()
                .into_iter()
                .flat_map(|re| re.captures_iter(s))
            {
                if let Some(m) = c.get(1) {
                    out.push(Found {
                        start: m.start(),
                        end: m.end(),
                        rule: BEARER,
                    });
                }
            }
        }
        if flags.has(Flags::JWT) && enabled(JWT) {
            push_all(&self.jwt, JWT, out);
        }
        if flags.has(Flags::SK) && enabled(OPENAI_KEY) {
            push_all(&self.openai, OPENAI_KEY, out);
        }
        if flags.has(Flags::VENDOR) && enabled(VENDOR_TOKEN) {
            push_all(&self.vendor, VENDOR_TOKEN, out);
        }
        if flags.has(Flags::AWS_ID) && enabled(AWS_ACCESS_KEY) {
            push_all(&self.aws_id, AWS_ACCESS_KEY, out);
        }
        if flags.has(Flags::B64) && enabled(AWS_SECRET_KEY) {
            scan_aws_secrets(b, out);
        }
        if flags.has(Flags::AT) && enabled(EMAIL) {
            push_all(&self.email, EMAIL, out);
        }
        if flags.has(Flags::DIGITS) {
            if enabled(CARD) {
                scan_cards(b, out);
            }
            if enabled(IBAN) {
                scan_ibans(b, out);
            }
            if enabled(SSN) {
                for m in self.ssn.get().into_iter().flat_map(|re| re.find_iter(s)) {
                    if ssn_valid(m.as_str().as_bytes()) && numeric_bounds(b, m.start(), m.end()) {
                        out.push(Found {
                            start: m.start(),
                            end: m.end(),
                            rule: SSN,
                        });
                    }
                }
            }
            if enabled(PHONE) {
                for m in self.phone.get().into_iter().flat_map(|re| re.find_iter(s)) {
                    if phone_valid(m.as_str().as_bytes())
                        && numeric_bounds(b, m.start(), m.end())
                        && !in_number_list(b, m.start(), m.end())
                    {
                        out.push(Found {
                            start: m.start(),
                            end: m.end(),
                            rule: PHONE,
                        });
                    }
                }
            }
        }
        if flags.has(Flags::PHONE_WORD) && enabled(PHONE) {
            for c in self
                .phone_context
                .get()
                .into_iter()
                .flat_map(|re| re.captures_iter(s))
            {
                let Some(m) = c.get(1) else { continue };
                let digits = digits_of(m.as_str().as_bytes());
                if (8..=18).contains(&digits) && numeric_bounds(b, m.start(), m.end()) {
                    out.push(Found {
                        start: m.start(),
                        end: m.end(),
                        rule: PHONE,
                    });
                }
            }
        }
        if flags.has(Flags::IP) && enabled(IP_ADDRESS) {
            for m in self.ip.get().into_iter().flat_map(|re| re.find_iter(s)) {
                if numeric_bounds(b, m.start(), m.end()) || m.as_str().contains(':') {
                    out.push(Found {
                        start: m.start(),
                        end: m.end(),
                        rule: IP_ADDRESS,
                    });
                }
            }
        }
    }
}

fn digits_of(text: &[u8]) -> usize {
    text.iter().filter(|b| b.is_ascii_digit()).count()
}

fn phone_valid(text: &[u8]) -> bool {
    let digits = digits_of(text);
    if !(8..=15).contains(&digits) {
        return false;
    }
    let plus = text.first() == Some(&b'+');
    let seps = text.iter().filter(|b| !b.is_ascii_digit()).count();
    // a bare run of digits is a phone number only with an explicit + country code
    plus || seps > 0
}

/// Words before a dotted or spaced number that make it a version or build, not a phone.
const VERSION_WORDS: &[&str] = &["build", "version", "ver", "v", "release", "rev", "revision"];

/// Whether a phone-shaped match is one number of a list (`buckets 256 512 1024 2048`) or a
/// version (`build 123.456.7890`).
fn in_number_list(b: &[u8], start: usize, end: usize) -> bool {
    // a neighbour that is itself a number of 3 or more digits (not a trunk prefix `8 (689)`)
    let number_word = |w: &[u8]| w.len() >= 3 && w.iter().all(u8::is_ascii_digit);
    let after = b.get(end + 1..).unwrap_or_default();
    let after = &after[..after.iter().position(|&c| c == b' ').unwrap_or(after.len())];
    let before = b[..start.saturating_sub(1)].rsplit(|&c| c == b' ').next();
    let spaced = |i: usize| b.get(i) == Some(&b' ');
    if (spaced(end) && number_word(after))
        || (start > 0 && spaced(start - 1) && before.is_some_and(number_word))
    {
        return true;
    }
    let head = &b[..start];
    let head = head.strip_suffix(b" ").unwrap_or(head);
    let w = head
        .iter()
        .rev()
        .take_while(|c| c.is_ascii_alphabetic())
        .count();
    let word = &head[head.len() - w..];
    VERSION_WORDS
        .iter()
        .any(|v| word.eq_ignore_ascii_case(v.as_bytes()))
}

/// Whether a `Basic` credential is base64 of `user:password` (so `basic authentication` stays).
fn basic_credential(b64: &[u8]) -> bool {
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut colon = false;
    for &c in b64 {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return false,
        };
        bits = (bits << 6) | u32::from(v);
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            colon |= (bits >> nbits) & 0xff == u32::from(b':');
        }
    }
    colon && b64.len() % 4 == 0
}

fn ssn_valid(text: &[u8]) -> bool {
    let d: Vec<u8> = text.iter().copied().filter(u8::is_ascii_digit).collect();
    if d.len() != 9 || text.get(3) != text.get(6) {
        return false;
    }
    let area = &d[0..3];
    area != b"000" && area != b"666" && area[0] != b'9' && &d[3..5] != b"00" && &d[5..9] != b"0000"
}

/// Finds 40-character base64 runs that look random (mixed case, digits, frequent class changes),
/// so that commit hashes, paths and words are left alone.
fn scan_aws_secrets(b: &[u8], out: &mut Vec<Found>) {
    let is_b64 = |c: u8| c.is_ascii_alphanumeric() || c == b'/' || c == b'+';
    let n = b.len();
    let mut i = 0;
    while i < n {
        if !is_b64(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < n && is_b64(b[i]) {
            i += 1;
        }
        let len = i - start;
        let len_ok = len == AWS_SECRET_LEN as usize;
        if len_ok && looks_random(&b[start..i]) && before(b, start) != Some(b'_') {
            out.push(Found {
                start,
                end: i,
                rule: AWS_SECRET_KEY,
            });
        }
    }
}

fn looks_random(run: &[u8]) -> bool {
    let class = |c: u8| match c {
        b'A'..=b'Z' => 0u8,
        b'a'..=b'z' => 1,
        b'0'..=b'9' => 2,
        _ => 3,
    };
    let mut counts = [0usize; 4];
    let mut transitions = 0;
    let mut prev = None;
    for &c in run {
        let k = class(c);
        counts[k as usize] += 1;
        if prev.is_some_and(|p| p != k) {
            transitions += 1;
        }
        prev = Some(k);
    }
    run.first() != Some(&b'/')
        && counts[0] >= 2
        && counts[1] >= 2
        && counts[2] >= 1
        && transitions >= 12
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_compiles_on_first_use_and_not_before() {
        let p = Patterns::new().unwrap();
        let all = [
            &p.email,
            &p.phone,
            &p.phone_context,
            &p.ssn,
            &p.jwt,
            &p.bearer,
            &p.aws_id,
            &p.openai,
            &p.slack,
            &p.discord,
            &p.auth_scheme,
            &p.vendor,
            &p.pem,
            &p.ip,
        ];
        assert!(all.iter().all(|re| re.compiled.get().is_none()));
        for re in all {
            assert!(re.get().is_some(), "{}", re.pattern);
        }
    }

    fn found(s: &str) -> Vec<(String, &'static str)> {
        let p = Patterns::new().unwrap();
        let mut out = Vec::new();
        let on = vec![true; BUILTIN_NAMES.len()];
        p.detect(s, Flags(u32::MAX), &on, &mut out);
        out.into_iter()
            .map(|f| (s[f.start..f.end].to_owned(), BUILTIN_NAMES[f.rule]))
            .collect()
    }

    #[test]
    fn emails_whole_with_unicode_and_long_labels_and_tlds() {
        let long_label = format!("alice@{}.example.com", "a".repeat(70));
        for addr in [
            "alice.smith@example.com",
            "jos\u{e9}@b\u{fc}cher.de",
            "ops@mail.\u{43f}\u{440}\u{438}\u{43c}\u{435}\u{440}.\u{440}\u{444}",
            long_label.as_str(),
            "x@example.averyveryverylongtopleveldomainname",
        ] {
            let line = format!("contact <{addr}> now");
            assert_eq!(found(&line), vec![(addr.to_owned(), "email")], "{addr}");
        }
        assert!(found("a@b and user@localhost and @handle").is_empty());
    }

    #[test]
    fn luhn_accepts_test_cards_and_rejects_neighbours() {
        assert!(is_card_number(b"4111 1111 1111 1111"));
        assert!(is_card_number(b"378282246310005"));
        assert!(!is_card_number(b"4111 1111 1111 1112"));
        assert!(
            !is_card_number(b"1234567890123452"),
            "first digit 1 is no card network"
        );
        assert!(luhn_ok(b"3000300130023003") && !is_card_number(b"3000300130023003"));
    }

    #[test]
    fn cards_in_text_with_separators() {
        let f = found("paid with 5555-5555-5555-4444 today, order 4111111111111112");
        assert_eq!(f, vec![("5555-5555-5555-4444".to_owned(), "card")]);
    }

    #[test]
    fn uuids_are_not_cards_even_when_their_digit_groups_pass_luhn() {
        assert!(
            is_card_number(b"24750788-9184-4498"),
            "the groups alone pass"
        );
        for id in [
            "24750788-9184-4498-a009-3fd46d6d479b",
            "41111111-1111-1111-1111-111111111111",
        ] {
            assert_eq!(found(&format!("request [{id}] done")), vec![], "{id}");
        }
        let f = found("card 4111 1111 1111 1111 on 24750788-9184-4498-a009-3fd46d6d479b");
        assert_eq!(f, vec![("4111 1111 1111 1111".to_owned(), "card")]);
    }

    #[test]
    fn vendor_tokens_by_shape() {
        let body = "Ab3dEf6hIj9lMn2pQr5tUv8xYz1bCd4fGh7j";
        let gh = format!("ghp_{body}");
        assert_eq!(
            found(&format!("token {gh} used")),
            vec![(gh, "vendor_token")]
        );
        assert_eq!(found("ghp_tooShort and npm_install"), vec![]);
    }

    #[test]
    fn card_inside_longer_run_of_groups() {
        let f = found("4111 1111 1111 1111 2027");
        assert!(
            f.contains(&("4111 1111 1111 1111".to_owned(), "card")),
            "{f:?}"
        );
    }

    #[test]
    fn phones_of_many_shapes() {
        for p in [
            "(415) 555-2671",
            "415-555-2671",
            "415.555.2671",
            "+1 415 555 2671",
            "1-415-555-2671",
            "+14155552671",
            "+44 20 7946 0958",
            "+49 30 901820",
            "+33 1 42 68 53 00",
            "020 7946 0958",
            "01 42 68 53 00",
            "+91 98765 43210",
        ] {
            let f = found(&format!("call {p} now"));
            assert!(f.iter().any(|(t, r)| t == p && *r == "phone"), "{p}: {f:?}");
        }
    }

    #[test]
    fn ids_and_times_are_not_phones() {
        for s in [
            "2026-11-01T00:00:00.003Z",
            "123e4567-e89b-12d3-a456-426614174000",
            "arn:aws:iam::123456789012:role/app",
            "order 4829301847",
            "v1.22.333",
            "1-5759e988-bd862e3fe1be46a994272793",
            "job-75984b19-0099-4568-ace6-2934012d61d1",
        ] {
            assert!(found(s).is_empty(), "{s}: {:?}", found(s));
        }
    }

    #[test]
    fn ssn_validity_rules() {
        assert_eq!(
            found("ssn 123-45-6789"),
            vec![("123-45-6789".to_owned(), "ssn")]
        );
        assert!(found("ssn 000-45-6789").is_empty());
        assert!(found("ssn 123-45-67890").is_empty());
    }

    #[test]
    fn aws_secret_vs_commit_hash() {
        let f = found("secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY here");
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(found("commit 3f786850e387550fdab836ed7e6dc881de23001b").is_empty());
        assert!(found("/aws/lambda/AIStudioStreamingFunctionProd1").is_empty());
    }

    #[test]
    fn url_password_only_the_password() {
        let f = found("postgres://app:s3cr3t@db.internal:5432/app");
        assert_eq!(
            f[0],
            ("s3cr3t".to_owned(), "url_password"),
            "it outranks the e-mail overlap"
        );
    }

    #[test]
    fn pem_without_end_runs_to_end() {
        let s = "key -----BEGIN RSA PRIVATE KEY-----\nMIIEabc";
        let f = found(s);
        assert_eq!(f[0].1, "private_key");
        assert!(f[0].0.ends_with("MIIEabc"));
    }
}
