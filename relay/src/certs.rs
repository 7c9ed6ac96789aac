//! Signing certificates: which URLs they may come from (HTTPS, a host matching the configured
//! pattern), fetching them over TLS with a timeout and a size cap, caching them, and checking
//! the chain to a trust anchor at the time of use (so a cached certificate that expires is
//! refused from then on).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use regex::Regex;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};

use crate::config::RelayConfig;

/// A certificate PEM is a few KiB; anything past this is not one.
pub const MAX_CERT_BYTES: usize = 64 * 1024;
/// Distinct signing certificates kept. SNS rotates its certificate rarely and uses one per
/// region, so a handful covers every topic; the cap stops a flood of distinct (valid-host)
/// URLs from growing memory.
pub const MAX_CACHED_CERTS: usize = 32;
/// A SubscribeURL answer is a small XML document; only its status matters.
const MAX_CONFIRM_BYTES: usize = 64 * 1024;

/// Why a certificate URL or certificate is refused.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// Not `https://`.
    #[error("the certificate URL is not https")]
    NotHttps,
    /// The host does not match the configured pattern.
    #[error("the certificate URL's host is not an SNS host")]
    WrongHost,
    /// Not a parsable URL, user info present, or not a `.pem` path.
    #[error("the certificate URL is malformed")]
    BadUrl,
    /// The fetch failed (network, status, size, timeout).
    #[error("cannot fetch the signing certificate: {0}")]
    Fetch(String),
    /// The PEM holds no certificate.
    #[error("the signing certificate URL served no certificate")]
    Empty,
    /// The chain does not verify (unknown issuer, expired, not yet valid, bad signature).
    #[error("the signing certificate does not chain to a trusted root: {0}")]
    Untrusted(String),
}

impl CertError {
    /// The `/metrics` reason label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotHttps => "cert_url_not_https",
            Self::WrongHost => "cert_url_host",
            Self::BadUrl => "cert_url_malformed",
            Self::Fetch(_) | Self::Empty => "cert_unavailable",
            Self::Untrusted(_) => "cert_untrusted",
        }
    }
}

/// Checks that `url` is https with a host matching `host` and no user info.
pub fn check_url(raw: &str, host: &Regex) -> Result<reqwest::Url, CertError> {
    let url = reqwest::Url::parse(raw).map_err(|_| CertError::BadUrl)?;
    if url.scheme() != "https" {
        return Err(CertError::NotHttps);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(CertError::BadUrl);
    }
    let Some(name) = url.host_str() else {
        return Err(CertError::BadUrl);
    };
    if !host.is_match(name) {
        return Err(CertError::WrongHost);
    }
    Ok(url)
}

/// Fetches, caches and checks signing certificates.
pub struct CertStore {
    client: reqwest::Client,
    host: Regex,
    anchors: Vec<TrustAnchor<'static>>,
    intermediates: Vec<CertificateDer<'static>>,
    cache: Mutex<HashMap<String, Arc<Vec<CertificateDer<'static>>>>>,
}

/// Reads every certificate of a PEM file.
fn read_pem_file(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read {}: {}", path.display(), e.kind()))?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{} is not a PEM certificate file: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no certificate", path.display()));
    }
    Ok(certs)
}

impl CertStore {
    /// Builds the store: trust anchors from the configured file or the Mozilla set, and an
    /// HTTPS-only client (no redirects) trusting the same anchors.
    pub fn new(config: &RelayConfig) -> Result<Self, String> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.cert_timeout)
            .timeout(config.cert_timeout);
        let anchors = match &config.trust_roots_file {
            Some(path) => {
                let roots = read_pem_file(path)?;
                builder = builder.tls_built_in_root_certs(false);
                let mut anchors = Vec::new();
                for der in &roots {
                    let anchor = webpki::anchor_from_trusted_cert(der)
                        .map_err(|e| format!("{}: not a usable root: {e}", path.display()))?;
                    anchors.push(anchor.to_owned());
                    let cert = reqwest::Certificate::from_der(der)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    builder = builder.add_root_certificate(cert);
                }
                anchors
            }
            None => webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let intermediates = match &config.intermediates_file {
            Some(path) => read_pem_file(path)?,
            None => Vec::new(),
        };
        let client = builder
            .build()
            .map_err(|e| format!("cannot build the HTTPS client: {e}"))?;
        Ok(Self {
            client,
            host: config.cert_host.clone(),
            anchors,
            intermediates,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The leaf certificate for `raw_url`, its chain checked now.
    pub async fn leaf(&self, raw_url: &str) -> Result<CertificateDer<'static>, CertError> {
        let url = check_url(raw_url, &self.host)?;
        if !url.path().ends_with(".pem") {
            return Err(CertError::BadUrl);
        }
        let cached = self.lock().get(url.as_str()).cloned();
        let chain = match cached {
            Some(chain) => chain,
            None => {
                let chain = Arc::new(self.fetch(url.clone()).await?);
                let mut cache = self.lock();
                if cache.len() >= MAX_CACHED_CERTS {
                    cache.clear();
                }
                cache.insert(url.as_str().to_owned(), chain.clone());
                chain
            }
        };
        self.check_chain(&chain, UnixTime::now())?;
        chain.first().cloned().ok_or(CertError::Empty)
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Vec<CertificateDer<'static>>>>> {
        // A panic elsewhere while holding the lock leaves a usable map: recover it.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn fetch(&self, url: reqwest::Url) -> Result<Vec<CertificateDer<'static>>, CertError> {
        let bytes = self
            .get_bounded(url, MAX_CERT_BYTES)
            .await
            .map_err(CertError::Fetch)?;
        let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<_, _>>()
            .map_err(|_| CertError::Fetch("the answer is not PEM".to_owned()))?;
        if certs.is_empty() {
            return Err(CertError::Empty);
        }
        Ok(certs)
    }

    /// Checks the leaf (first) against the anchors, with the PEM's other certificates and
    /// the configured intermediates as candidates for the path.
    fn check_chain(
        &self,
        chain: &[CertificateDer<'static>],
        now: UnixTime,
    ) -> Result<(), CertError> {
        let (leaf, rest) = chain.split_first().ok_or(CertError::Empty)?;
        let mut intermediates = rest.to_vec();
        intermediates.extend(self.intermediates.iter().cloned());
        let ee = webpki::EndEntityCert::try_from(leaf)
            .map_err(|e| CertError::Untrusted(e.to_string()))?;
        ee.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &self.anchors,
            &intermediates,
            now,
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .map(|_| ())
        .map_err(|e| CertError::Untrusted(e.to_string()))
    }

    /// GET over HTTPS with the store's client; at most `limit` bytes of a 2xx answer.
    /// Errors say what failed, never the URL's query (it may carry a token).
    pub async fn get_bounded(&self, url: reqwest::Url, limit: usize) -> Result<Vec<u8>, String> {
        let host = url.host_str().unwrap_or("").to_owned();
        let mut response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| format!("GET to {host} failed: {}", without_url(&e)))?;
        if !response.status().is_success() {
            return Err(format!("{host} answered {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("reading the answer of {host} failed: {}", without_url(&e)))?
        {
            if body.len() + chunk.len() > limit {
                return Err(format!("{host} answered more than {limit} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Visits a SubscribeURL (already verified as part of a signed message) to confirm.
    pub async fn confirm(&self, raw_url: &str) -> Result<(), String> {
        let url = check_url(raw_url, &self.host).map_err(|e| e.to_string())?;
        self.get_bounded(url, MAX_CONFIRM_BYTES).await.map(|_| ())
    }
}

/// A reqwest error's kind, without the URL it carries.
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_redirect() {
        "redirected"
    } else {
        "request error"
    };
    match std::error::Error::source(e) {
        Some(src) => format!("{kind}: {src}"),
        None => kind.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_urls_on_a_matching_host_pass() {
        let host = Regex::new(crate::config::DEFAULT_CERT_HOST_PATTERN).unwrap();
        assert!(check_url("https://sns.us-east-1.amazonaws.com/x.pem", &host).is_ok());
        assert!(matches!(
            check_url("http://sns.us-east-1.amazonaws.com/x.pem", &host),
            Err(CertError::NotHttps)
        ));
        assert!(matches!(
            check_url(
                "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
                &host
            ),
            Err(CertError::WrongHost)
        ));
        assert!(matches!(
            check_url(
                "https://evil.example/sns.us-east-1.amazonaws.com/x.pem",
                &host
            ),
            Err(CertError::WrongHost)
        ));
        assert!(matches!(
            check_url(
                "https://sns.us-east-1.amazonaws.com@evil.example/x.pem",
                &host
            ),
            Err(CertError::WrongHost) | Err(CertError::BadUrl)
        ));
    }
}
