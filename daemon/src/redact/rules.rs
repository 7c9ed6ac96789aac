//! The built-in rule catalogue: stable rule names (marker kinds and counter labels) and errors.

/// Identifies a rule: an index into the redactor's rule table (built-ins first, then custom).
pub type RuleId = usize;

/// E-mail addresses (pattern and keys such as `email`, `userEmail`).
pub const EMAIL: RuleId = 0;
/// Phone numbers (pattern and keys such as `phone`, `mobile`).
pub const PHONE: RuleId = 1;
/// Luhn-valid payment card numbers (pattern and keys such as `cardNumber`, `cvv`).
pub const CARD: RuleId = 2;
/// US social security numbers (pattern and keys such as `ssn`).
pub const SSN: RuleId = 3;
/// JSON web tokens.
pub const JWT: RuleId = 4;
/// `Bearer` credentials.
pub const BEARER: RuleId = 5;
/// AWS access key ids (`AKIA…`, `ASIA…`).
pub const AWS_ACCESS_KEY: RuleId = 6;
/// AWS secret access keys (pattern and keys such as `aws_secret_access_key`).
pub const AWS_SECRET_KEY: RuleId = 7;
/// OpenAI-style keys (`sk-…`, `sk-proj-…`).
pub const OPENAI_KEY: RuleId = 8;
/// Slack incoming webhook URLs.
pub const SLACK_WEBHOOK: RuleId = 9;
/// The password in `scheme://user:password@host`.
pub const URL_PASSWORD: RuleId = 10;
/// PEM private key blocks (pattern and keys such as `privateKey`).
pub const PRIVATE_KEY: RuleId = 11;
/// IPv4 and IPv6 addresses (off unless `ip_addresses = true`).
pub const IP_ADDRESS: RuleId = 12;
/// Keys such as `password`, `passwd`, `pin`, and `password=` in text.
pub const PASSWORD: RuleId = 13;
/// Keys such as `secret`, `credentials`, and any custom `extra_keys`.
pub const SECRET: RuleId = 14;
/// Keys such as `client_secret`.
pub const CLIENT_SECRET: RuleId = 15;
/// Keys such as `accessToken`, `refresh_token`, `id-token`, `sessionToken` (not counters).
pub const TOKEN: RuleId = 16;
/// Keys such as `apiKey`, `x-api-key`, `accessKeyId`.
pub const API_KEY: RuleId = 17;
/// Keys such as `authorization`, `proxy-authorization`, `auth`.
pub const AUTHORIZATION: RuleId = 18;
/// Keys such as `cookie`, `set-cookie`.
pub const COOKIE: RuleId = 19;
/// Vendor API tokens with a published prefix: GitHub, GitLab, Slack, Stripe, Google, npm,
/// Hugging Face, SendGrid.
pub const VENDOR_TOKEN: RuleId = 20;

/// International bank account numbers with a valid ISO 13616 mod-97 checksum.
pub const IBAN: RuleId = 21;
/// The token of a Discord webhook URL (`discord.com/api/webhooks/<id>/<token>`).
pub const DISCORD_WEBHOOK: RuleId = 22;
/// Random-looking tokens in free text that nothing names (mixed character classes, many class
/// changes, not one of the id shapes logs are full of): see `entropy.rs`.
pub const HIGH_ENTROPY: RuleId = 23;

/// Names of the built-in rules, indexed by [`RuleId`]; these are stable metric labels.
pub const BUILTIN_NAMES: [&str; 24] = [
    "email",
    "phone",
    "card",
    "ssn",
    "jwt",
    "bearer",
    "aws_access_key",
    "aws_secret_key",
    "openai_key",
    "slack_webhook",
    "url_password",
    "private_key",
    "ip_address",
    "password",
    "secret",
    "client_secret",
    "token",
    "api_key",
    "authorization",
    "cookie",
    "vendor_token",
    "iban",
    "discord_webhook",
    "high_entropy",
];

/// Which rule wins when two matches start at the same place: lower is stronger.
pub fn priority(rule: RuleId) -> u8 {
    match rule {
        PRIVATE_KEY => 0,
        SLACK_WEBHOOK | DISCORD_WEBHOOK => 1,
        URL_PASSWORD => 2,
        BEARER => 3,
        JWT => 4,
        OPENAI_KEY => 5,
        VENDOR_TOKEN => 5,
        AWS_ACCESS_KEY => 6,
        AWS_SECRET_KEY => 7,
        EMAIL => 8,
        CARD => 9,
        SSN => 10,
        PHONE => 11,
        IP_ADDRESS => 12,
        IBAN => 9,
        // the catch-all loses to every rule that knows what it found
        HIGH_ENTROPY => 15,
        r if r < BUILTIN_NAMES.len() => 5,
        _ => 20,
    }
}

/// Why a redaction config was refused; every message names the setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum RedactError {
    /// `modes` or `disable` names a rule that does not exist.
    #[error("redact.{setting} names unknown rule `{name}`; use one of: {known}")]
    UnknownRule {
        /// `modes` or `disable`.
        setting: &'static str,
        /// The name given.
        name: String,
        /// The names that exist.
        known: String,
    },
    /// A custom rule's regex does not compile.
    #[error("custom redaction rule `{name}` has an invalid regex: {message}; fix its `pattern`")]
    BadRegex {
        /// The rule name.
        name: String,
        /// What the regex parser said.
        message: String,
    },
    /// A custom rule's name is not a usable label.
    #[error(
        "custom redaction rule name `{name}` is invalid: use 1-48 characters of a-z, 0-9 and _ \
         that are not already a rule name"
    )]
    BadRuleName {
        /// The name given.
        name: String,
    },
    /// A rule uses `hash` mode but no key was given.
    #[error(
        "redaction rule `{rule}` uses hash mode but no hash key is set; set redact.hash_key \
         or the {env} environment variable"
    )]
    MissingHashKey {
        /// The first rule that needs the key.
        rule: String,
        /// The environment variable consulted.
        env: String,
    },
    /// `hash_chars` is out of range.
    #[error("redact.hash_chars is {value}; use a number from 8 to 64")]
    HashChars {
        /// The value given.
        value: usize,
    },
    /// `max_line_bytes` is too small to be useful.
    #[error("redact.max_line_bytes is {value}; use at least 1024")]
    MaxLineBytes {
        /// The value given.
        value: usize,
    },
    /// An allow-list or key entry is empty.
    #[error("redact.{setting} contains an empty entry; remove it")]
    EmptyEntry {
        /// The setting.
        setting: &'static str,
    },
}
