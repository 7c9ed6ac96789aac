//! Deterministic generator of a labelled redaction corpus: realistic log lines (JSON, nested
//! JSON, escaped strings, plain text, logfmt, access logs) in several locales, each with the
//! secrets that must disappear and the harmless values that must survive byte for byte.

#![allow(dead_code)]

use serde_json::{json, Map, Value};

/// A small, seedable PRNG (SplitMix64): the corpus is the same on every machine and run.
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    /// One element of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    /// `n` characters drawn from `alphabet`.
    pub fn string(&mut self, alphabet: &str, n: usize) -> String {
        let chars: Vec<char> = alphabet.chars().collect();
        (0..n).map(|_| *self.pick(&chars)).collect()
    }

    /// `n` decimal digits.
    pub fn digits(&mut self, n: usize) -> String {
        self.string("0123456789", n)
    }
}

const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const ALNUM: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const HEX: &str = "0123456789abcdef";
const B64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64URL: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// What kind of thing a labelled value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Email,
    Phone,
    Card,
    Ssn,
    Jwt,
    Bearer,
    AwsAccessKey,
    AwsSecretKey,
    OpenAiKey,
    SlackWebhook,
    UrlPassword,
    PrivateKey,
    VendorToken,
    KeyedSecret,
    Harmless,
}

/// One labelled line.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The raw line.
    pub line: String,
    /// Values that must not appear in the output, with their kind.
    pub secrets: Vec<(Kind, String)>,
    /// Values that must appear unchanged in the output.
    pub harmless: Vec<String>,
    /// Whether the line is JSON.
    pub json: bool,
}

struct Locale {
    first: &'static [&'static str],
    last: &'static [&'static str],
    domains: &'static [&'static str],
}

const LOCALES: &[Locale] = &[
    Locale {
        first: &[
            "alice", "bob", "carol", "dan", "erin", "frank", "grace", "heidi",
        ],
        last: &["smith", "johnson", "williams", "brown", "jones", "miller"],
        domains: &[
            "example.com",
            "mail.example.org",
            "corp.example.net",
            "gmail.com",
        ],
    },
    Locale {
        first: &["jürgen", "anna", "lukas", "sophie", "maximilian", "lea"],
        last: &["müller", "schmidt", "schneider", "fischer", "weber"],
        domains: &["beispiel.de", "firma.example.de", "web.de", "t-online.de"],
    },
    Locale {
        first: &["élodie", "louis", "chloé", "hugo", "inès", "jules"],
        last: &["martin", "bernard", "dubois", "thomas", "robert"],
        domains: &["exemple.fr", "orange.fr", "entreprise.example.fr"],
    },
    Locale {
        first: &["josé", "maría", "lucía", "javier", "pablo", "sofía"],
        last: &["garcía", "fernández", "lópez", "martínez", "sánchez"],
        domains: &["ejemplo.es", "correo.example.mx", "empresa.com.ar"],
    },
    Locale {
        first: &["haruto", "yui", "sota", "hina", "ren", "aoi"],
        last: &["sato", "suzuki", "takahashi", "tanaka", "watanabe"],
        domains: &["example.co.jp", "mail.example.ne.jp"],
    },
    Locale {
        first: &["joão", "ana", "pedro", "beatriz", "gabriel", "larissa"],
        last: &["silva", "santos", "oliveira", "souza", "pereira"],
        domains: &["exemplo.com.br", "uol.com.br", "empresa.example.br"],
    },
    Locale {
        first: &["oliver", "amelia", "harry", "isla", "george", "ava"],
        last: &["taylor", "davies", "evans", "wilson", "thomas"],
        domains: &["example.co.uk", "btinternet.com", "company.example.uk"],
    },
];

/// Generates secrets of each kind in many formats.
pub struct Gen {
    pub rng: Rng,
}

impl Gen {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: Rng::new(seed),
        }
    }

    fn locale(&mut self) -> &'static Locale {
        self.rng.pick(LOCALES)
    }

    pub fn email(&mut self) -> String {
        let l = self.locale();
        let f = *self.rng.pick(l.first);
        let s = *self.rng.pick(l.last);
        let d = *self.rng.pick(l.domains);
        let n = self.rng.range(1, 999);
        let local = match self.rng.below(7) {
            0 => format!("{f}.{s}"),
            1 => format!("{f}{n}"),
            2 => format!("{f}_{s}+{}", self.rng.pick(&["news", "work", "test", "x"])),
            3 => format!("{}{s}", &f[..f.char_indices().nth(1).map_or(1, |(i, _)| i)]),
            4 => format!("{f}-{s}{n}"),
            5 => format!("{}.{}", f.to_uppercase(), s.to_uppercase()),
            _ => format!("{f}.{n}"),
        };
        let domain = if self.rng.chance(0.1) {
            d.to_uppercase()
        } else {
            d.to_owned()
        };
        format!("{local}@{domain}")
    }

    pub fn phone(&mut self) -> String {
        let a = self.rng.range(201, 989);
        let e = self.rng.range(200, 999);
        let x = self.rng.digits(4);
        match self.rng.below(20) {
            0 => format!("({a}) {e}-{x}"),
            1 => format!("{a}-{e}-{x}"),
            2 => format!("{a}.{e}.{x}"),
            3 => format!("+1 {a} {e} {x}"),
            4 => format!("1-{a}-{e}-{x}"),
            5 => format!("+1{a}{e}{x}"),
            6 => format!("+1 ({a}) {e}-{x}"),
            7 => format!("+1-{a}-{e}-{x}"),
            8 => format!("+44 20 {} {}", self.rng.digits(4), self.rng.digits(4)),
            9 => format!("020 {} {}", self.rng.digits(4), self.rng.digits(4)),
            10 => format!("07{} {}", self.rng.digits(3), self.rng.digits(6)),
            11 => format!("+49 30 {}", self.rng.digits(6)),
            12 => format!("+49 151 {}", self.rng.digits(8)),
            13 => format!(
                "+33 {} {} {} {} {}",
                self.rng.range(1, 9),
                self.rng.digits(2),
                self.rng.digits(2),
                self.rng.digits(2),
                self.rng.digits(2)
            ),
            14 => format!(
                "0{} {} {} {} {}",
                self.rng.range(1, 9),
                self.rng.digits(2),
                self.rng.digits(2),
                self.rng.digits(2),
                self.rng.digits(2)
            ),
            15 => format!("+91 9{} {}", self.rng.digits(4), self.rng.digits(5)),
            16 => format!("+81 3-{}-{}", self.rng.digits(4), self.rng.digits(4)),
            17 => format!("+61 2 {} {}", self.rng.digits(4), self.rng.digits(4)),
            18 => format!("+55 11 9{}-{}", self.rng.digits(4), self.rng.digits(4)),
            _ => format!("+{}{}", self.rng.range(20, 98), self.rng.digits(9)),
        }
    }

    /// A Luhn-valid card number of a real network shape, in one of several layouts.
    pub fn card(&mut self) -> String {
        let (prefix, len): (String, usize) = match self.rng.below(7) {
            0 => ("4".into(), 16),
            1 => (format!("5{}", self.rng.range(1, 5)), 16),
            2 => (format!("3{}", self.rng.pick(&["4", "7"])), 15),
            3 => ("6011".into(), 16),
            4 => (format!("35{}", self.rng.range(28, 89)), 16),
            5 => (format!("2{}", self.rng.range(221, 720)), 16),
            _ => ("4".into(), 13),
        };
        let mut digits: Vec<u8> = prefix.bytes().map(|b| b - b'0').collect();
        while digits.len() < len - 1 {
            digits.push(self.rng.below(10) as u8);
        }
        let mut sum = 0u32;
        for (i, d) in digits.iter().rev().enumerate() {
            let mut v = u32::from(*d);
            if i % 2 == 0 {
                v *= 2;
                if v > 9 {
                    v -= 9;
                }
            }
            sum += v;
        }
        digits.push(((10 - sum % 10) % 10) as u8);
        let s: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
        let sep = *self.rng.pick(&["", " ", "-"]);
        if sep.is_empty() || len == 13 {
            return s;
        }
        if len == 15 {
            return format!("{}{sep}{}{sep}{}", &s[..4], &s[4..10], &s[10..]);
        }
        format!(
            "{}{sep}{}{sep}{}{sep}{}",
            &s[..4],
            &s[4..8],
            &s[8..12],
            &s[12..]
        )
    }

    pub fn ssn(&mut self) -> String {
        let area = loop {
            let a = self.rng.range(1, 899);
            if a != 666 {
                break a;
            }
        };
        format!(
            "{area:03}-{:02}-{:04}",
            self.rng.range(1, 99),
            self.rng.range(1, 9999)
        )
    }

    pub fn jwt(&mut self) -> String {
        let n = self.rng.range(10, 60) as usize;
        let payload = self.rng.string(B64URL, n);
        let sig = self.rng.string(B64URL, 43);
        let header = *self.rng.pick(&[
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
            "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ",
            "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9",
        ]);
        format!("{header}.eyJ{payload}.{sig}")
    }

    pub fn opaque_token(&mut self) -> String {
        let n = self.rng.range(20, 64) as usize;
        match self.rng.below(3) {
            0 => self.rng.string(HEX, n),
            1 => self.rng.string(ALNUM, n),
            _ => format!(
                "{}.{}",
                self.rng.string(B64URL, n),
                self.rng.string(B64URL, 12)
            ),
        }
    }

    pub fn aws_access_key(&mut self) -> String {
        let p = *self.rng.pick(&["AKIA", "ASIA"]);
        format!(
            "{p}{}",
            self.rng.string("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
        )
    }

    pub fn aws_secret_key(&mut self) -> String {
        loop {
            let s = self.rng.string(B64, 40);
            if !s.starts_with('/') {
                return s;
            }
        }
    }

    pub fn openai_key(&mut self) -> String {
        match self.rng.below(3) {
            0 => format!("sk-{}", self.rng.string(ALNUM, 48)),
            1 => format!("sk-proj-{}", self.rng.string(&format!("{ALNUM}_-"), 100)),
            _ => format!("sk-{}", self.rng.string(&format!("{LOWER}0123456789"), 40)),
        }
    }

    pub fn slack_webhook(&mut self) -> String {
        let t = self.rng.string("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 8);
        let b = self.rng.string("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 10);
        let x = self.rng.string(ALNUM, 24);
        format!("https://hooks.slack.com/services/T{t}/B{b}/{x}")
    }

    /// Returns (the URL, the password inside it).
    pub fn url_with_password(&mut self) -> (String, String) {
        let scheme = *self.rng.pick(&[
            "postgres",
            "postgresql",
            "mysql",
            "redis",
            "amqp",
            "https",
            "mongodb+srv",
        ]);
        let user = *self
            .rng
            .pick(&["app", "admin", "svc_stream", "reader", "root"]);
        let n = self.rng.range(8, 24) as usize;
        let pass = self.rng.string(&format!("{ALNUM}!$*"), n);
        let host = *self.rng.pick(&[
            "db.internal",
            "cache.prod.local",
            "mq.example.net",
            "10.0.3.7",
        ]);
        (format!("{scheme}://{user}:{pass}@{host}:5432/app"), pass)
    }

    /// GitHub, GitLab, Slack, Stripe, Google, npm, Hugging Face or SendGrid token shapes.
    pub fn vendor_token(&mut self) -> String {
        let r = &mut self.rng;
        match r.below(8) {
            0 => format!(
                "{}_{}",
                r.pick(&["ghp", "gho", "ghu", "ghs", "ghr"]),
                r.string(ALNUM, 36)
            ),
            1 => format!(
                "github_pat_11{}_{}",
                r.string(ALNUM, 20),
                r.string(ALNUM, 59)
            ),
            2 => format!("glpat-{}", r.string(&format!("{ALNUM}_-"), 20)),
            3 => format!(
                "xoxb-{}-{}-{}",
                r.string("0123456789", 12),
                r.string("0123456789", 13),
                r.string(ALNUM, 24)
            ),
            4 => format!(
                "{}_{}",
                r.pick(&["sk_live", "rk_live", "sk_test"]),
                r.string(ALNUM, 24)
            ),
            5 => format!("AIza{}", r.string(&format!("{ALNUM}_-"), 35)),
            6 => format!("npm_{}", r.string(ALNUM, 36)),
            _ => format!("SG.{}.{}", r.string(ALNUM, 22), r.string(ALNUM, 43)),
        }
    }

    pub fn private_key(&mut self) -> String {
        let kind = *self
            .rng
            .pick(&["RSA ", "EC ", "OPENSSH ", "", "ENCRYPTED "]);
        let body: Vec<String> = (0..3).map(|_| self.rng.string(B64, 64)).collect();
        format!(
            "-----BEGIN {kind}PRIVATE KEY-----\n{}\n-----END {kind}PRIVATE KEY-----",
            body.join("\n")
        )
    }

    pub fn password(&mut self) -> String {
        match self.rng.below(4) {
            0 => format!(
                "{}{}!",
                self.rng.pick(&["Summer", "Winter", "hunter", "Passw0rd"]),
                self.rng.digits(3)
            ),
            1 => "correct horse battery staple".to_owned(),
            2 => self.rng.string(&format!("{ALNUM}#%&"), 14),
            _ => format!("{}-{}", self.rng.string(LOWER, 6), self.rng.digits(4)),
        }
    }
}

/// Generates harmless values an operator needs.
impl Gen {
    pub fn request_id(&mut self) -> String {
        match self.rng.below(3) {
            0 => format!("req-{}", self.rng.string(HEX, 8)),
            1 => self.uuid(),
            _ => format!("req_{}", self.rng.string(ALNUM, 20)),
        }
    }

    pub fn uuid(&mut self) -> String {
        format!(
            "{}-{}-4{}-a{}-{}",
            self.rng.string(HEX, 8),
            self.rng.string(HEX, 4),
            self.rng.string(HEX, 3),
            self.rng.string(HEX, 3),
            self.rng.string(HEX, 12)
        )
    }

    pub fn trace_id(&mut self) -> String {
        match self.rng.below(2) {
            0 => format!("1-{}-{}", self.rng.string(HEX, 8), self.rng.string(HEX, 24)),
            _ => format!(
                "00-{}-{}-01",
                self.rng.string(HEX, 32),
                self.rng.string(HEX, 16)
            ),
        }
    }

    pub fn arn(&mut self) -> String {
        let acct = self.rng.digits(12);
        let region = *self.rng.pick(&["us-east-1", "eu-west-1", "ap-northeast-1"]);
        match self.rng.below(4) {
            0 => format!("arn:aws:iam::{acct}:role/aistudio-task-role"),
            1 => format!("arn:aws:logs:{region}:{acct}:log-group:/ecs/aistudio-prod:*"),
            2 => format!(
                "arn:aws:ecs:{region}:{acct}:task/aistudio-prod/{}",
                self.rng.string(HEX, 32)
            ),
            _ => format!(
                "arn:aws:secretsmanager:{region}:{acct}:secret:aistudio/openai-{}",
                self.rng.string(ALNUM, 6)
            ),
        }
    }

    pub fn log_group(&mut self) -> String {
        self.rng
            .pick(&[
                "/ecs/aistudio-prod",
                "/ecs/aistudio-staging/sidecar",
                "/aws/lambda/AIStudioStreamingFunction",
                "/aws/ecs/containerinsights/aistudio-prod/performance",
            ])
            .to_string()
    }

    pub fn model_id(&mut self) -> String {
        self.rng
            .pick(&[
                "gpt-4o-2024-08-06",
                "gpt-4o-mini",
                "anthropic.claude-3-5-sonnet-20241022-v2:0",
                "gemini-1.5-pro-002",
                "meta.llama3-70b-instruct-v1:0",
                "o1-preview-2024-09-12",
                "text-embedding-3-large",
            ])
            .to_string()
    }

    pub fn version(&mut self) -> String {
        let (a, b, c) = (
            self.rng.range(0, 30),
            self.rng.range(0, 99),
            self.rng.range(0, 999),
        );
        match self.rng.below(4) {
            0 => format!("{a}.{b}.{c}"),
            1 => format!("v{a}.{b}.{c}-rc.{}", self.rng.range(1, 9)),
            2 => format!("2026.{b}.{c}"),
            _ => format!("{a}.{b}.{c}.{}", self.rng.range(0, 9999)),
        }
    }

    pub fn commit(&mut self) -> String {
        if self.rng.chance(0.7) {
            self.rng.string(HEX, 40)
        } else {
            self.rng.string(HEX, 7)
        }
    }

    pub fn timestamp(&mut self) -> String {
        let (mo, d, h, mi, s, ms) = (
            self.rng.range(1, 12),
            self.rng.range(1, 28),
            self.rng.range(0, 23),
            self.rng.range(0, 59),
            self.rng.range(0, 59),
            self.rng.range(0, 999),
        );
        match self.rng.below(5) {
            0 => format!("2026-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z"),
            1 => format!("2026-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02},{ms:03}"),
            2 => format!(
                "{}",
                1_761_955_200_000u64 + self.rng.range(0, 10_000_000_000)
            ),
            3 => format!("{d:02}/Nov/2026:{h:02}:{mi:02}:{s:02} +0000"),
            _ => format!("2026-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}+09:00"),
        }
    }

    pub fn duration(&mut self) -> String {
        let n = self.rng.range(1, 90_000);
        match self.rng.below(4) {
            0 => format!("{n}ms"),
            1 => format!("{}.{}s", n / 1000, n % 1000),
            2 => format!("{n} ms"),
            _ => format!("PT{}S", n / 1000),
        }
    }

    /// A 13–19 digit order number that fails the Luhn check.
    pub fn order_number(&mut self) -> String {
        loop {
            let n = self.rng.range(13, 19) as usize;
            let s = format!("{}{}", self.rng.range(1, 9), self.rng.digits(n - 1));
            if !daemon::redact::luhn_ok(s.as_bytes()) {
                return s;
            }
        }
    }

    pub fn host(&mut self) -> String {
        format!(
            "ip-10-0-{}-{}.ec2.internal",
            self.rng.range(0, 255),
            self.rng.range(0, 255)
        )
    }

    pub fn digest(&mut self) -> String {
        format!("sha256:{}", self.rng.string(HEX, 64))
    }
}

/// One secret to hide in a line: its kind, its text, how it appears as a JSON field.
struct Secret {
    kind: Kind,
    text: String,
    /// The value to check for absence (differs from `text` for a URL password).
    check: String,
    /// Field names that naturally hold it.
    keys: &'static [&'static str],
}

fn secret(g: &mut Gen) -> Secret {
    let s = |kind, text: String, keys| Secret {
        kind,
        check: text.clone(),
        text,
        keys,
    };
    match g.rng.below(14) {
        0 => s(
            Kind::Email,
            g.email(),
            &["email", "userEmail", "contact_email", "e-mail"],
        ),
        1 => s(
            Kind::Phone,
            g.phone(),
            &["phone", "phoneNumber", "mobile", "contact-phone"],
        ),
        2 => s(
            Kind::Card,
            g.card(),
            &["cardNumber", "card_number", "pan", "creditCard"],
        ),
        3 => s(
            Kind::Ssn,
            g.ssn(),
            &["ssn", "SSN", "social_security_number"],
        ),
        4 => s(
            Kind::Jwt,
            g.jwt(),
            &["idToken", "id_token", "jwt", "accessToken"],
        ),
        5 => {
            let t = g.opaque_token();
            Secret {
                kind: Kind::Bearer,
                text: format!("Bearer {t}"),
                check: t,
                keys: &["Authorization", "authorization", "auth"],
            }
        }
        6 => s(
            Kind::AwsAccessKey,
            g.aws_access_key(),
            &["aws_access_key_id", "accessKeyId", "AWS_ACCESS_KEY_ID"],
        ),
        7 => s(
            Kind::AwsSecretKey,
            g.aws_secret_key(),
            &[
                "aws_secret_access_key",
                "secretAccessKey",
                "AWS_SECRET_ACCESS_KEY",
            ],
        ),
        8 => s(
            Kind::OpenAiKey,
            g.openai_key(),
            &["apiKey", "api_key", "x-api-key", "OPENAI_API_KEY"],
        ),
        9 => s(
            Kind::SlackWebhook,
            g.slack_webhook(),
            &["webhookUrl", "slack_webhook", "url"],
        ),
        10 => {
            let (url, pass) = g.url_with_password();
            Secret {
                kind: Kind::UrlPassword,
                text: url,
                check: pass,
                keys: &["databaseUrl", "dsn", "redis_url"],
            }
        }
        11 => s(
            Kind::PrivateKey,
            g.private_key(),
            &["privateKey", "private_key", "ssh-private-key"],
        ),
        12 => s(
            Kind::VendorToken,
            g.vendor_token(),
            &["githubToken", "stripe_api_key", "NPM_TOKEN", "credentials"],
        ),
        _ => s(
            Kind::KeyedSecret,
            g.password(),
            &[
                "password",
                "client_secret",
                "refreshToken",
                "sessionToken",
                "db-password",
                "secret",
            ],
        ),
    }
}

/// A harmless value: its field name, its JSON value, and the text that must survive
/// (`None`: the value itself; numbers are checked as `"key":n`).
fn harmless(g: &mut Gen) -> (&'static str, Value, Option<String>) {
    let str_val = |k: &'static str, v: String| (k, Value::String(v), None);
    match g.rng.below(14) {
        0 => str_val("parentRequestId", g.request_id()),
        1 => str_val("traceId", g.trace_id()),
        2 => str_val("jobId", format!("job-{}", g.uuid())),
        3 => str_val("roleArn", g.arn()),
        4 => str_val("logGroup", g.log_group()),
        5 => str_val("fallbackModelId", g.model_id()),
        6 => str_val("version", g.version()),
        7 => str_val("commit", g.commit()),
        8 => str_val("ts", g.timestamp()),
        9 => str_val("elapsed", g.duration()),
        10 => str_val("orderNumber", g.order_number()),
        11 => {
            let n = g.rng.range(1, 128_000);
            let k = *g.rng.pick(&[
                "tokens",
                "maxTokens",
                "tokenCount",
                "promptTokens",
                "completion_tokens",
            ]);
            (k, json!(n), Some(n.to_string()))
        }
        12 => str_val("host", g.host()),
        _ => str_val("imageDigest", g.digest()),
    }
}

/// Inserts a harmless value under a key not yet used and records what must survive.
fn add_harmless(g: &mut Gen, m: &mut Map<String, Value>, h: &mut Vec<String>) {
    let (k, v, num) = harmless(g);
    let mut key = k.to_owned();
    let mut i = 2;
    while m.contains_key(&key) {
        key = format!("{k}{i}");
        i += 1;
    }
    h.push(match (&v, num) {
        (_, Some(n)) => format!("\"{key}\":{n}"),
        (Value::String(s), None) => s.clone(),
        (other, None) => other.to_string(),
    });
    m.insert(key, v);
}

fn base_record(g: &mut Gen, h: &mut Vec<String>) -> Map<String, Value> {
    let mut m = Map::new();
    let ts = format!(
        "2026-11-01T{:02}:{:02}:{:02}.{:03}Z",
        g.rng.range(0, 23),
        g.rng.range(0, 59),
        g.rng.range(0, 59),
        g.rng.range(0, 999)
    );
    let rid = g.request_id();
    let model = g.model_id();
    h.push(ts.clone());
    h.push(rid.clone());
    h.push(model.clone());
    m.insert("timestamp".into(), json!(ts));
    m.insert(
        "level".into(),
        json!(*g.rng.pick(&["info", "warn", "error", "debug"])),
    );
    m.insert("requestId".into(), json!(rid));
    m.insert(
        "provider".into(),
        json!(*g.rng.pick(&["openai", "bedrock", "google", "azure"])),
    );
    m.insert("modelId".into(), json!(model));
    let d = g.rng.range(5, 9000);
    m.insert("duration".into(), json!(d));
    h.push(format!("\"duration\":{d}"));
    m
}

fn message_with(g: &mut Gen, sec: &Secret) -> String {
    let t = &sec.text;
    let templates: &[&str] = match sec.kind {
        Kind::Email => &[
            "login from {}",
            "password reset sent to {}",
            "user <{}> not found",
            "invite {} accepted",
        ],
        Kind::Phone => &[
            "sms verification sent to {}",
            "call back {} requested",
            "phone={} updated",
        ],
        Kind::Card => &[
            "payment card {} declined",
            "charge failed for card {}: insufficient funds",
            "card: {}",
        ],
        Kind::Ssn => &["identity check for SSN {} failed", "kyc ssn={} mismatch"],
        Kind::Jwt => &["token {} expired", "invalid jwt: {}", "refresh with {}"],
        Kind::Bearer => &[
            "auth header {}",
            "upstream rejected Authorization: {}",
            "sent {} to provider",
        ],
        Kind::AwsAccessKey => &["using AWS key {} for s3", "InvalidAccessKeyId: {}"],
        Kind::AwsSecretKey => &["aws_secret_access_key={}", "loaded secret key {} from env"],
        Kind::OpenAiKey => &[
            "provider call with key {} failed",
            "Incorrect API key provided: {}.",
        ],
        Kind::SlackWebhook => &["posting alert to {}", "slack webhook {} returned 404"],
        Kind::UrlPassword => &["connecting to {}", "pool error for {}: timeout"],
        Kind::PrivateKey => &["loaded key {}", "tls config: {}"],
        Kind::VendorToken => &[
            "git clone with {} failed: 403",
            "stripe call rejected key {}",
            "npm publish using {}",
        ],
        _ => &[
            "login failed password={}",
            "client_secret: {}",
            "retry with token={}",
        ],
    };
    g.rng.pick(templates).replacen("{}", t, 1)
}

/// Builds one labelled sample of the requested layout.
fn sample(g: &mut Gen, layout: usize) -> Sample {
    let sec = secret(g);
    let mut harmless_vals = Vec::new();
    let mut secrets = vec![(sec.kind, sec.check.clone())];
    match layout {
        // flat JSON, secret in the message
        0 => {
            let mut m = base_record(g, &mut harmless_vals);
            m.insert("message".into(), json!(message_with(g, &sec)));
            add_harmless(g, &mut m, &mut harmless_vals);
            Sample {
                line: Value::Object(m).to_string(),
                secrets,
                harmless: harmless_vals,
                json: true,
            }
        }
        // flat JSON, secret under its natural key
        1 => {
            let mut m = base_record(g, &mut harmless_vals);
            m.insert("message".into(), json!("request completed"));
            let key = *g.rng.pick(sec.keys);
            m.insert(key.into(), json!(sec.text));
            add_harmless(g, &mut m, &mut harmless_vals);
            Sample {
                line: Value::Object(m).to_string(),
                secrets,
                harmless: harmless_vals,
                json: true,
            }
        }
        // nested JSON: headers, user, error with stack
        2 => {
            let mut m = base_record(g, &mut harmless_vals);
            let key = *g.rng.pick(sec.keys);
            let mut inner = Map::new();
            add_harmless(g, &mut inner, &mut harmless_vals);
            let route = *g
                .rng
                .pick(&["/v1/chat/completions", "/v1/jobs/{id}/stream", "/healthz"]);
            harmless_vals.push(format!("\"route\":\"{route}\""));
            m.insert(
                "http".into(),
                json!({"route": route, "status": 200, "request": {"headers": {key: sec.text, "user-agent": "aistudio-web/2.3.1"}, "meta": inner}}),
            );
            harmless_vals.push("aistudio-web/2.3.1".into());
            let extra = g.secret_pair();
            secrets.push((extra.0, extra.1.clone()));
            m.insert(
                "error".into(),
                json!({"name": "ProviderError", "message": extra.2, "stack": format!("Error: upstream\n    at callProvider (provider.ts:88:11)\n    at {}", extra.2)}),
            );
            Sample {
                line: Value::Object(m).to_string(),
                secrets,
                harmless: harmless_vals,
                json: true,
            }
        }
        // escaped strings: quotes, newlines, unicode escapes around the secret
        3 => {
            let mut m = base_record(g, &mut harmless_vals);
            let msg = format!(
                "upstream said \"{}\"\n\ttrace: {} é ☃",
                message_with(g, &sec),
                g.trace_id()
            );
            m.insert("message".into(), json!(msg));
            let mut line = Value::Object(m).to_string();
            if sec.kind == Kind::Email && g.rng.chance(0.5) {
                // some emitters escape non-ASCII or '@' as \u sequences
                line = line.replacen(&sec.text, &sec.text.replace('@', "\\u0040"), 1);
            }
            Sample {
                line,
                secrets,
                harmless: harmless_vals,
                json: true,
            }
        }
        // plain text line with a timestamp prefix
        4 => {
            let ts = g.timestamp();
            let rid = g.request_id();
            harmless_vals.push(ts.clone());
            harmless_vals.push(rid.clone());
            let flat = message_with(g, &sec).replace('\n', "\\n");
            let line = format!(
                "{ts} {} [{rid}] {}",
                g.rng.pick(&["INFO", "WARN", "ERROR"]),
                flat
            );
            Sample {
                line,
                secrets,
                harmless: harmless_vals,
                json: false,
            }
        }
        // logfmt
        5 => {
            let rid = g.request_id();
            let model = g.model_id();
            let dur = g.duration();
            harmless_vals.extend([rid.clone(), model.clone(), dur.clone()]);
            let key = *g.rng.pick(sec.keys);
            let value = if sec.text.contains([' ', '\n']) {
                format!("\"{}\"", sec.text.replace('\n', "\\n"))
            } else {
                sec.text.clone()
            };
            let line = format!("level=info msg=\"call done\" request_id={rid} model={model} {key}={value} elapsed={dur}");
            Sample {
                line,
                secrets,
                harmless: harmless_vals,
                json: false,
            }
        }
        // access log with a query string
        _ => {
            let ip = format!("10.0.{}.{}", g.rng.range(0, 255), g.rng.range(1, 254));
            let ts = format!(
                "{:02}/Nov/2026:{:02}:{:02}:{:02} +0000",
                g.rng.range(1, 28),
                g.rng.range(0, 23),
                g.rng.range(0, 59),
                g.rng.range(0, 59)
            );
            harmless_vals.push(ip.clone());
            harmless_vals.push(ts.clone());
            let (key, val) = match sec.kind {
                Kind::Email => ("email", sec.text.replace('@', "%40")),
                Kind::Bearer => ("access_token", sec.check.clone()),
                Kind::UrlPassword | Kind::PrivateKey | Kind::Card | Kind::Phone => {
                    ("token", g.opaque_token())
                }
                _ => ("api_key", sec.text.clone()),
            };
            secrets = vec![(sec.kind, val.clone())];
            let line = format!("{ip} - - [{ts}] \"GET /v1/models?{key}={val}&limit=20 HTTP/1.1\" 200 512 \"-\" \"curl/8.5.0\"");
            harmless_vals.push("curl/8.5.0".into());
            Sample {
                line,
                secrets,
                harmless: harmless_vals,
                json: false,
            }
        }
    }
}

impl Gen {
    /// A second secret written into free text: (kind, value to check, message).
    fn secret_pair(&mut self) -> (Kind, String, String) {
        let sec = secret(self);
        let msg = message_with(self, &sec);
        (sec.kind, sec.check, msg)
    }
}

/// Lines with no secret at all: everything must come out byte-identical.
fn clean_sample(g: &mut Gen) -> Sample {
    let mut h = Vec::new();
    let mut m = base_record(g, &mut h);
    m.insert(
        "message".into(),
        json!(*g.rng.pick(&[
            "stream started",
            "first token received",
            "job completed",
            "provider request",
            "db query"
        ])),
    );
    for _ in 0..3 {
        add_harmless(g, &mut m, &mut h);
    }
    Sample {
        line: Value::Object(m).to_string(),
        secrets: Vec::new(),
        harmless: h,
        json: true,
    }
}

/// The whole corpus: `n` samples from `seed`, layouts and kinds mixed.
pub fn corpus(seed: u64, n: usize) -> Vec<Sample> {
    let mut g = Gen::new(seed);
    (0..n)
        .map(|i| {
            if i % 5 == 4 {
                clean_sample(&mut g)
            } else {
                let layout = g.rng.below(7);
                sample(&mut g, layout)
            }
        })
        .collect()
}
