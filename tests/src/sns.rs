//! A stand-in for SNS's signer and for Slack, for the relay's tests: a test certificate
//! authority, an RSA signing certificate issued by it (and an expired one), an HTTPS server
//! on loopback serving them (and recording SubscribeURL visits), an SNS message signer
//! (SignatureVersion 1 and 2, the canonical string written here independently of the relay),
//! a fake Slack webhook receiver, and the real `aistudio-sidecar relay` process.
//!
//! Why re-sign: the emulator's SNS (moto) signs its HTTP deliveries (SHA256withRSA) but with a
//! throw-away certificate that chains to nothing and a `SigningCertURL` on the real
//! `sns.<region>.amazonaws.com`, which tests cannot reach. The end-to-end test checks moto's
//! signature with the relay's own verifier, then re-signs the delivery with this test CA's
//! key, so that the relay under test still verifies every message in full. The relay has no
//! switch that skips verification.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rsa::pkcs8::EncodePrivateKey as _;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use crate::sidecar::{free_port, sidecar_binary};

/// DER DigestInfo prefixes for EMSA-PKCS1-v1_5 (RFC 8017 §9.2, note 1).
const SHA1_DIGEST_INFO: &[u8] = &[
    0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14,
];
const SHA256_DIGEST_INFO: &[u8] = &[
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// The test PKI: a CA, an RSA signing certificate for `localhost`, an expired one with the
/// same key, and a TLS certificate for the HTTPS server.
pub struct TestPki {
    /// The CA certificate, PEM (the relay's `trust_roots_file`).
    pub ca_pem: String,
    /// The valid signing certificate, PEM.
    pub leaf_pem: String,
    /// The expired signing certificate, PEM.
    pub expired_pem: String,
    /// A signing certificate issued by a CA the relay does not trust.
    pub foreign_pem: String,
    signer: rsa::RsaPrivateKey,
    tls_cert: Vec<u8>,
    tls_key: Vec<u8>,
}

fn ca(name: &str) -> anyhow::Result<(rcgen::Certificate, KeyPair)> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok((cert, key))
}

fn leaf_params(days_from: i64, days_to: i64) -> anyhow::Result<CertificateParams> {
    let now = time::OffsetDateTime::now_utc();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()])?;
    params
        .distinguished_name
        .push(DnType::CommonName, "sns.test.localhost");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = now + time::Duration::days(days_from);
    params.not_after = now + time::Duration::days(days_to);
    Ok(params)
}

impl TestPki {
    /// Generates everything (one RSA-2048 key, by the `rsa` crate: ring, which signs the
    /// certificates, cannot generate RSA keys).
    pub fn new() -> anyhow::Result<Self> {
        let (ca_cert, ca_key) = ca("AIStudio relay test CA")?;
        let signer = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
            .context("generating the RSA test key")?;
        let pkcs8 = signer.to_pkcs8_der().context("encoding the RSA test key")?;
        let rsa_key = KeyPair::from_pkcs8_der_and_sign_algo(
            &rustls_pki_types::PrivatePkcs8KeyDer::from(pkcs8.as_bytes()),
            &rcgen::PKCS_RSA_SHA256,
        )?;
        let leaf = leaf_params(-1, 30)?.signed_by(&rsa_key, &ca_cert, &ca_key)?;
        let expired = leaf_params(-30, -1)?.signed_by(&rsa_key, &ca_cert, &ca_key)?;
        let (other_ca, other_key) = ca("Somebody else's CA")?;
        let foreign = leaf_params(-1, 30)?.signed_by(&rsa_key, &other_ca, &other_key)?;
        let tls_key = KeyPair::generate()?;
        let tls = leaf_params(-1, 30)?.signed_by(&tls_key, &ca_cert, &ca_key)?;
        Ok(Self {
            ca_pem: ca_cert.pem(),
            leaf_pem: leaf.pem(),
            expired_pem: expired.pem(),
            foreign_pem: foreign.pem(),
            signer,
            tls_cert: tls.der().to_vec(),
            tls_key: tls_key.serialize_der(),
        })
    }

    /// Signs `envelope` in place with SignatureVersion `version` ("1" or "2").
    pub fn sign(&self, envelope: &mut Value, version: &str) -> anyhow::Result<()> {
        envelope["SignatureVersion"] = json!(version);
        let text = string_to_sign(envelope)?;
        let (alg, prefix) = match version {
            "1" => (&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, SHA1_DIGEST_INFO),
            "2" => (&ring::digest::SHA256, SHA256_DIGEST_INFO),
            other => bail!("unknown SignatureVersion {other}"),
        };
        let digest = ring::digest::digest(alg, text.as_bytes());
        let mut info = prefix.to_vec();
        info.extend_from_slice(digest.as_ref());
        let signature = self
            .signer
            .sign(rsa::Pkcs1v15Sign::new_unprefixed(), &info)
            .context("RSA signing failed")?;
        envelope["Signature"] = json!(base64::engine::general_purpose::STANDARD.encode(signature));
        Ok(())
    }

    /// Writes the CA to `dir/ca.pem` and returns the path.
    pub fn write_ca(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        let path = dir.join("ca.pem");
        std::fs::write(&path, &self.ca_pem)?;
        Ok(path)
    }
}

/// The canonical string, as AWS documents it, from the envelope's own fields.
fn string_to_sign(env: &Value) -> anyhow::Result<String> {
    let kind = env["Type"].as_str().context("no Type")?;
    let names: &[&str] = if kind == "Notification" {
        &[
            "Message",
            "MessageId",
            "Subject",
            "Timestamp",
            "TopicArn",
            "Type",
        ]
    } else {
        &[
            "Message",
            "MessageId",
            "SubscribeURL",
            "Timestamp",
            "Token",
            "TopicArn",
            "Type",
        ]
    };
    let mut out = String::new();
    for name in names {
        match env.get(*name).and_then(Value::as_str) {
            Some(value) => out.push_str(&format!("{name}\n{value}\n")),
            None if *name == "Subject" => {}
            None => bail!("the envelope has no {name}"),
        }
    }
    Ok(out)
}

/// An RFC 3339 timestamp with milliseconds, as SNS writes them, `offset_secs` from now.
pub fn timestamp(offset_secs: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(offset_secs);
    let t = t.replace_millisecond(t.millisecond()).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// An unsigned Notification envelope.
pub fn notification(topic: &str, id: &str, message: &str, cert_url: &str) -> Value {
    json!({
        "Type": "Notification",
        "MessageId": id,
        "TopicArn": topic,
        "Subject": "ALARM: test",
        "Message": message,
        "Timestamp": timestamp(0),
        "SignatureVersion": "2",
        "Signature": "",
        "SigningCertURL": cert_url,
        "UnsubscribeURL": "https://localhost/unsubscribe",
    })
}

/// An unsigned SubscriptionConfirmation or UnsubscribeConfirmation envelope.
pub fn confirmation(
    kind: &str,
    topic: &str,
    id: &str,
    subscribe_url: &str,
    cert_url: &str,
) -> Value {
    json!({
        "Type": kind,
        "MessageId": id,
        "Token": "2336412f37fb687f5d51e6e241d638b05824e9e2f6713b42abaeb8607743f5ba",
        "TopicArn": topic,
        "Message": format!("You have chosen to subscribe to the topic {topic}."),
        "SubscribeURL": subscribe_url,
        "Timestamp": timestamp(0),
        "SignatureVersion": "2",
        "Signature": "",
        "SigningCertURL": cert_url,
    })
}

/// An HTTPS server on loopback: `/leaf.pem`, `/expired.pem`, `/foreign.pem`, and any other
/// path answers 200 and is recorded (SubscribeURL visits).
pub struct CertServer {
    /// The port (on 127.0.0.1, certificate for `localhost`).
    pub port: u16,
    visits: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CertServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CertServer {
    /// Starts serving.
    pub async fn start(pki: &TestPki) -> anyhow::Result<Self> {
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![rustls_pki_types::CertificateDer::from(pki.tls_cert.clone())],
                rustls_pki_types::PrivateKeyDer::Pkcs8(pki.tls_key.clone().into()),
            )?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let visits = Arc::new(Mutex::new(Vec::new()));
        let files = Arc::new([
            ("/leaf.pem", pki.leaf_pem.clone()),
            ("/expired.pem", pki.expired_pem.clone()),
            ("/foreign.pem", pki.foreign_pem.clone()),
        ]);
        let seen = visits.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let files = files.clone();
                let seen = seen.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16_384 {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&head);
                    let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
                    let body = match files.iter().find(|(p, _)| *p == path) {
                        Some((_, pem)) => pem.clone(),
                        None => {
                            seen.lock().unwrap_or_else(|p| p.into_inner()).push(path);
                            "<ConfirmSubscriptionResponse/>".to_owned()
                        }
                    };
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(response.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        Ok(Self { port, visits, task })
    }

    /// `https://localhost:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    /// Paths visited other than the certificates.
    pub fn visits(&self) -> Vec<String> {
        self.visits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// One scripted Slack answer.
#[derive(Debug, Clone, Copy)]
pub enum SlackAnswer {
    /// 200 "ok".
    Ok,
    /// 429 with `Retry-After: N` seconds.
    RateLimited(u64),
    /// 500.
    Down,
    /// 500 after this many milliseconds (a Slack that is down and slow to say so).
    DownSlowly(u64),
}

struct SlackState {
    script: Mutex<VecDeque<SlackAnswer>>,
    otherwise: SlackAnswer,
    posts: Mutex<Vec<(Instant, SlackAnswer, Value)>>,
    count: watch::Sender<usize>,
}

/// A fake Slack incoming webhook on loopback: answers from a script, then `otherwise`;
/// records every POST body and when it came.
pub struct FakeSlack {
    /// The webhook URL to give the relay.
    pub url: String,
    state: Arc<SlackState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeSlack {
    /// Starts the receiver.
    pub async fn start(script: &[SlackAnswer], otherwise: SlackAnswer) -> anyhow::Result<Self> {
        let (count, _) = watch::channel(0);
        let state = Arc::new(SlackState {
            script: Mutex::new(script.iter().copied().collect()),
            otherwise,
            posts: Mutex::new(Vec::new()),
            count,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let shared = state.clone();
        let app = axum::Router::new().route(
            "/services/T000/B000/test-secret-token",
            axum::routing::post(move |body: axum::body::Bytes| {
                let state = shared.clone();
                async move {
                    let answer = state
                        .script
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .pop_front()
                        .unwrap_or(state.otherwise);
                    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let n = {
                        let mut posts = state.posts.lock().unwrap_or_else(|p| p.into_inner());
                        posts.push((Instant::now(), answer, value));
                        posts.len()
                    };
                    state.count.send_replace(n);
                    use axum::response::IntoResponse;
                    match answer {
                        SlackAnswer::Ok => (axum::http::StatusCode::OK, "ok").into_response(),
                        SlackAnswer::RateLimited(secs) => (
                            axum::http::StatusCode::TOO_MANY_REQUESTS,
                            [("retry-after", secs.to_string())],
                            "rate_limited",
                        )
                            .into_response(),
                        SlackAnswer::Down => {
                            (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "down").into_response()
                        }
                        SlackAnswer::DownSlowly(ms) => {
                            tokio::time::sleep(Duration::from_millis(ms)).await;
                            (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "down").into_response()
                        }
                    }
                }
            }),
        );
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            url: format!("http://127.0.0.1:{port}/services/T000/B000/test-secret-token"),
            state,
            task,
        })
    }

    /// Waits until at least `n` POSTs arrived (the event is the receiver's own counter).
    pub async fn wait_posts(&self, n: usize, limit: Duration) -> anyhow::Result<()> {
        let mut rx = self.state.count.subscribe();
        tokio::time::timeout(limit, rx.wait_for(|c| *c >= n))
            .await
            .with_context(|| {
                format!(
                    "Slack saw {} posts, not {n}, within {limit:?}",
                    self.posts().len()
                )
            })?
            .context("the receiver stopped")?;
        Ok(())
    }

    /// Every POST so far: when, what it was answered, the body.
    pub fn posts(&self) -> Vec<(Instant, SlackAnswer, Value)> {
        self.state
            .posts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The relay process (`aistudio-sidecar relay`).
pub struct Relay {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    stderr: PathBuf,
    http: reqwest::Client,
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Relay {
    /// Writes a config accepting `topics`, certificates from `localhost` trusting the test CA,
    /// plus `extra` TOML, and starts the relay with the webhook URL in its environment; waits
    /// for `/health`.
    pub async fn start(
        dir: &Path,
        pki: &TestPki,
        topics: &[&str],
        webhook_url: &str,
        extra_top: &str,
        extra_slack: &str,
    ) -> anyhow::Result<Self> {
        let port = free_port();
        let ca = pki.write_ca(dir)?;
        let topics: Vec<String> = topics.iter().map(|t| format!("\"{t}\"")).collect();
        let config = format!(
            "listen = \"127.0.0.1:{port}\"\ntopic_arns = [{}]\nshutdown_deadline_secs = 2\n{extra_top}\n[certificates]\nhost_pattern = \"^localhost$\"\ntrust_roots_file = \"{}\"\n[slack]\n{extra_slack}\n",
            topics.join(", "),
            ca.display()
        );
        let path = dir.join(format!("relay-{port}.toml"));
        std::fs::write(&path, config)?;
        let stderr = dir.join(format!("relay-{port}.stderr"));
        let child = Command::new(sidecar_binary())
            .args(["relay", "--config"])
            .arg(&path)
            .env("AISTUDIO_SLACK_WEBHOOK_URL", webhook_url)
            .env_remove("AISTUDIO_RELAY_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&stderr)?))
            .spawn()
            .context("cannot start the relay")?;
        let relay = Self {
            child,
            port,
            stderr,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
        };
        let start = Instant::now();
        loop {
            if let Ok(r) = relay.http.get(relay.url("/health")).send().await {
                if r.status().is_success() {
                    return Ok(relay);
                }
            }
            if start.elapsed() > Duration::from_secs(20) {
                bail!(
                    "the relay did not answer /health within 20 s: {}",
                    relay.stderr_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// POSTs a body as SNS does; returns the status.
    pub async fn post(&self, body: impl Into<reqwest::Body>) -> anyhow::Result<u16> {
        let r = self
            .http
            .post(self.url("/sns"))
            .header("content-type", "text/plain; charset=UTF-8")
            .header("x-amz-sns-message-type", "Notification")
            .body(body)
            .send()
            .await?;
        Ok(r.status().as_u16())
    }

    /// POSTs a JSON envelope.
    pub async fn post_json(&self, envelope: &Value) -> anyhow::Result<u16> {
        self.post(envelope.to_string()).await
    }

    /// A counter's value from `/metrics` (the full name, labels included).
    pub async fn counter(&self, name: &str) -> anyhow::Result<u64> {
        let text = self
            .http
            .get(self.url("/metrics"))
            .send()
            .await?
            .text()
            .await?;
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .with_context(|| format!("no {name} in /metrics:\n{text}"))
    }

    /// Waits until a counter reaches `value` (polling `/metrics`: the counter moving is the
    /// event awaited).
    pub async fn wait_counter(
        &self,
        name: &str,
        value: u64,
        limit: Duration,
    ) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            let now = self.counter(name).await?;
            if now >= value {
                return Ok(());
            }
            if start.elapsed() > limit {
                bail!("{name} is {now}, not {value}, after {limit:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `/health`'s status.
    pub async fn health(&self) -> anyhow::Result<u16> {
        Ok(self
            .http
            .get(self.url("/health"))
            .send()
            .await?
            .status()
            .as_u16())
    }

    /// What the relay logged.
    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}
