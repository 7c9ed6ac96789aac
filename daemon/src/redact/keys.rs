//! Redaction by key: normalizing key names across cases and separators and deciding which rule,
//! if any, owns the value of a key (`apiKey` = `api_key` = `API-KEY`; `maxTokens` is a counter).

use std::collections::HashSet;

use super::rules::{
    RuleId, API_KEY, AUTHORIZATION, AWS_SECRET_KEY, CARD, CLIENT_SECRET, COOKIE, EMAIL, PASSWORD,
    PHONE, PRIVATE_KEY, SECRET, SSN, TOKEN,
};

/// Lower-case ASCII stems: a key that some rule owns always contains one of these, whatever its
/// case or separators (used by the cheap line prefilter before any JSON is walked).
pub const KEY_STEMS: &[&str] = &[
    "pass", "pwd", "pw", "pin", "otp", "secret", "token", "jwt", "bearer", "key", "auth", "cookie",
    "mail", "phone", "mobile", "msisdn", "tel", "fax", "ssn", "social", "card", "cc", "pan", "cvv",
    "cvc", "security", "cred", "session", "sid", "pem",
];

/// Endings that make a key metadata about a secret rather than the secret itself
/// (`tokenCount`, `maxTokens`, `tokenType`, `passwordExpiresAt`, `emailVerified`, `secretArn`).
const BENIGN_SUFFIXES: &[&str] = &[
    "count",
    "counts",
    "tokens",
    "usage",
    "limit",
    "limits",
    "type",
    "types",
    "length",
    "len",
    "ttl",
    "expiry",
    "expires",
    "expiresat",
    "expiresin",
    "expiration",
    "expired",
    "createdat",
    "updatedat",
    "changedat",
    "rotatedat",
    "lastused",
    "lastchanged",
    "arn",
    "name",
    "names",
    "version",
    "enabled",
    "verified",
    "required",
    "policy",
    "strength",
    "provider",
    "present",
    "valid",
    "format",
    "status",
    "field",
    "fields",
    "hint",
    "rotation",
    "manager",
    "store",
    "path",
    "pattern",
    "regex",
    "ms",
];

/// Prefixes that turn `...tokens` back into secrets: `accessTokens`, `refreshTokens`.
const SECRET_TOKEN_LIST_PREFIXES: &[&str] = &[
    "access", "refresh", "id", "session", "bearer", "auth", "api", "csrf",
];

/// Counters that end in `token` but hold numbers: `maxToken`, `numToken`.
const COUNTER_TOKEN_PREFIXES: &[&str] = &[
    "max",
    "min",
    "num",
    "total",
    "prompt",
    "completion",
    "input",
    "output",
    "cached",
    "reasoning",
    "first",
    "last",
];

/// Tokens that page, resume or de-duplicate requests (`nextToken`, `pageToken`,
/// `continuationToken`, `clientToken`): opaque, but no credential.
const PAGINATION_TOKEN_PREFIXES: &[&str] = &[
    "next",
    "nextpage",
    "page",
    "continuation",
    "pagination",
    "sync",
    "cancellation",
    "idempotency",
    "client",
    "resume",
];

/// Endings of keys whose numbers count or measure (`total_tokens`, `byteCount`, `durationMs`):
/// a number there is never taken for a card.
const COUNTER_SUFFIXES: &[&str] = &[
    "tokens", "count", "total", "bytes", "size", "ms", "duration", "length", "seconds", "millis",
];

/// Whether `key` (any style) names a counter or a measure; no allocation (it runs on the
/// key of every card-sized JSON number).
pub fn is_counter_key(key: &str) -> bool {
    COUNTER_SUFFIXES.iter().any(|suffix| {
        let mut letters = key
            .bytes()
            .rev()
            .filter(|b| !matches!(b, b'_' | b'-' | b'.' | b' '))
            .map(|b| b.to_ascii_lowercase());
        suffix.bytes().rev().all(|s| letters.next() == Some(s))
    })
}

/// Writes the normalized form of `key` (ASCII lower-case, no `_`, `-`, `.`, space) into `out`.
pub fn normalize_into(key: &str, out: &mut String) {
    out.clear();
    for ch in key.chars() {
        match ch {
            '_' | '-' | '.' | ' ' => {}
            c => out.push(c.to_ascii_lowercase()),
        }
    }
}

/// The normalized form of `key`.
pub fn normalize(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    normalize_into(key, &mut out);
    out
}

/// Decides which rule owns the values of keys; built once from the config.
#[derive(Debug, Default)]
pub struct KeyClassifier {
    extra: HashSet<String>,
    allowed: HashSet<String>,
}

impl KeyClassifier {
    /// A classifier with extra secret keys and exempt keys (any spelling; normalized here).
    pub fn new(extra_keys: &[String], allow_keys: &[String]) -> Self {
        Self {
            extra: extra_keys.iter().map(|k| normalize(k)).collect(),
            allowed: allow_keys.iter().map(|k| normalize(k)).collect(),
        }
    }

    /// Whether any extra key is configured (the prefilter then cannot skip key checks).
    pub fn has_extra(&self) -> bool {
        !self.extra.is_empty()
    }

    /// The rule owning the value of `key`, given its normalized form `norm`.
    pub fn classify(&self, norm: &str) -> Option<RuleId> {
        if norm.is_empty() || self.allowed.contains(norm) {
            return None;
        }
        if self.extra.contains(norm) {
            return Some(SECRET);
        }
        classify_builtin(norm)
    }
}

fn exact(norm: &str, names: &[&str]) -> bool {
    names.contains(&norm)
}

fn ends_with_any(norm: &str, suffixes: &[&str]) -> bool {
    suffixes.iter().any(|s| norm.ends_with(s))
}

/// Built-in key rules, on a normalized key.
fn classify_builtin(norm: &str) -> Option<RuleId> {
    // Exact names first: short ones that would be too broad as substrings.
    if exact(
        norm,
        &["pwd", "pw", "pass", "pin", "otp", "passcode", "mfacode"],
    ) {
        return Some(PASSWORD);
    }
    if exact(norm, &["cc", "ccn", "pan", "cvv", "cvc", "cvv2", "card"]) {
        return Some(CARD);
    }
    if exact(norm, &["auth", "xauth"]) {
        return Some(AUTHORIZATION);
    }
    if exact(
        norm,
        &["jwt", "bearer", "sid", "sessid", "sessionid", "sessionkey"],
    ) {
        return Some(TOKEN);
    }
    if exact(norm, &["tel", "fax", "msisdn", "telephone"]) {
        return Some(PHONE);
    }
    if exact(norm, &["pem", "sshkey"]) {
        return Some(PRIVATE_KEY);
    }
    if exact(norm, &["mail"]) {
        return Some(EMAIL);
    }
    if ends_with_any(norm, BENIGN_SUFFIXES) {
        if let Some(stem) = norm.strip_suffix("tokens") {
            if SECRET_TOKEN_LIST_PREFIXES.iter().any(|p| stem.ends_with(p)) {
                return Some(TOKEN);
            }
        }
        return None;
    }
    if norm.contains("privatekey") || norm.ends_with("pem") {
        return Some(PRIVATE_KEY);
    }
    if norm.contains("clientsecret") {
        return Some(CLIENT_SECRET);
    }
    if norm.contains("secretaccesskey") || norm.contains("awssecret") {
        return Some(AWS_SECRET_KEY);
    }
    if norm.contains("password")
        || norm.contains("passwd")
        || norm.contains("passphrase")
        || norm.ends_with("pwd")
        || norm.ends_with("pin")
        || norm.ends_with("passcode")
    {
        return Some(PASSWORD);
    }
    if norm.contains("secret") || norm.contains("credential") || norm.ends_with("creds") {
        return Some(SECRET);
    }
    if norm.contains("apikey")
        || norm.contains("accesskey")
        || norm.contains("subscriptionkey")
        || norm.contains("signingkey")
        || norm.contains("encryptionkey")
        || norm.contains("masterkey")
        || norm.contains("licensekey")
        || norm.contains("sessionkey")
    {
        return Some(API_KEY);
    }
    if norm.contains("authorization") || norm.ends_with("authheader") {
        return Some(AUTHORIZATION);
    }
    if norm.contains("cookie") {
        return Some(COOKIE);
    }
    if norm.ends_with("token") || norm.ends_with("jwt") || norm.contains("tokenvalue") {
        let stem = norm.strip_suffix("token").unwrap_or(norm);
        if COUNTER_TOKEN_PREFIXES.contains(&stem) || PAGINATION_TOKEN_PREFIXES.contains(&stem) {
            return None;
        }
        return Some(TOKEN);
    }
    if norm.ends_with("sessionid") || norm.ends_with("sessid") {
        return Some(TOKEN);
    }
    if norm.contains("email") || norm.ends_with("mailaddress") {
        return Some(EMAIL);
    }
    if norm.contains("phone") || norm.contains("mobile") || norm.contains("msisdn") {
        return Some(PHONE);
    }
    if norm.ends_with("fax") || norm.ends_with("faxnumber") || norm.ends_with("telnumber") {
        return Some(PHONE);
    }
    if norm.ends_with("ssn") || norm.contains("socialsecurity") || norm.contains("nationalid") {
        return Some(SSN);
    }
    if norm.contains("cardnumber")
        || norm.contains("creditcard")
        || norm.contains("debitcard")
        || norm.contains("paymentcard")
        || norm.ends_with("cardno")
        || norm.ends_with("ccnumber")
        || norm.ends_with("cvv")
        || norm.ends_with("cvc")
        || norm.contains("securitycode")
    {
        return Some(CARD);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(key: &str) -> Option<&'static str> {
        KeyClassifier::default()
            .classify(&normalize(key))
            .map(|r| super::super::rules::BUILTIN_NAMES[r])
    }

    #[test]
    fn spellings_normalize_alike() {
        for key in [
            "apiKey",
            "api_key",
            "api-key",
            "API_KEY",
            "Api.Key",
            "x-api-key",
        ] {
            assert_eq!(rule(key), Some("api_key"), "{key}");
        }
    }

    #[test]
    fn secret_keys_are_found() {
        let cases = [
            ("password", "password"),
            ("userPassword", "password"),
            ("db_passwd", "password"),
            ("client_secret", "client_secret"),
            ("clientSecret", "client_secret"),
            ("aws_secret_access_key", "aws_secret_key"),
            ("AWS_SECRET_ACCESS_KEY", "aws_secret_key"),
            ("accessToken", "token"),
            ("refresh_token", "token"),
            ("id-token", "token"),
            ("sessionToken", "token"),
            ("bearerToken", "token"),
            ("x-amz-security-token", "token"),
            ("Authorization", "authorization"),
            ("proxy-authorization", "authorization"),
            ("Cookie", "cookie"),
            ("set-cookie", "cookie"),
            ("email", "email"),
            ("userEmail", "email"),
            ("e-mail", "email"),
            ("phoneNumber", "phone"),
            ("mobile", "phone"),
            ("ssn", "ssn"),
            ("social_security_number", "ssn"),
            ("cardNumber", "card"),
            ("credit_card", "card"),
            ("cvv", "card"),
            ("privateKey", "private_key"),
            ("ssh-private-key", "private_key"),
            ("secret", "secret"),
            ("credentials", "secret"),
            ("accessTokens", "token"),
        ];
        for (key, want) in cases {
            assert_eq!(rule(key), Some(want), "{key}");
        }
    }

    #[test]
    fn counters_and_metadata_survive() {
        for key in [
            "tokens",
            "maxTokens",
            "max_tokens",
            "tokenCount",
            "token_count",
            "promptTokens",
            "completion_tokens",
            "totalTokens",
            "tokensStreamed",
            "tokenType",
            "tokenUsage",
            "passwordExpiresAt",
            "emailVerified",
            "secretArn",
            "secretName",
            "requestId",
            "jobId",
            "userId",
            "modelId",
            "duration",
            "timestamp",
            "message",
            "provider",
            "keyId",
            "cacheKey",
            "partitionKey",
            "hotel",
            "capacity",
        ] {
            assert_eq!(rule(key), None, "{key}");
        }
    }

    #[test]
    fn counter_and_pagination_keys() {
        for key in ["total_tokens", "durationMs", "BYTE-COUNT", "size"] {
            assert!(is_counter_key(key), "{key}");
        }
        for key in ["userId", "cardNumber", "ms_x"] {
            assert!(!is_counter_key(key), "{key}");
        }
        for key in [
            "nextToken",
            "next_page_token",
            "continuationToken",
            "clientToken",
        ] {
            assert_eq!(rule(key), None, "{key}");
        }
        assert_eq!(rule("refreshToken"), Some("token"));
    }

    #[test]
    fn extra_and_allowed_keys_apply_in_any_spelling() {
        let c = KeyClassifier::new(&["X-Internal-Signature".into()], &["session_id".into()]);
        assert_eq!(c.classify(&normalize("xInternalSignature")), Some(SECRET));
        assert_eq!(c.classify(&normalize("sessionId")), None);
        assert_eq!(c.classify(&normalize("password")), Some(PASSWORD));
    }

    #[test]
    fn every_builtin_key_contains_a_stem() {
        let keys = [
            "apiKey",
            "clientSecret",
            "sessionId",
            "Authorization",
            "cookie",
            "ssn",
        ];
        for key in keys {
            let lower = key.to_ascii_lowercase();
            assert!(KEY_STEMS.iter().any(|s| lower.contains(s)), "{key}");
        }
    }
}
