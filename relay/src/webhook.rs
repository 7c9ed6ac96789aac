//! The Slack incoming-webhook URL: a secret, read from the environment or a file, that no log
//! line, `Debug` output or error message ever shows.

use std::net::IpAddr;
use std::path::PathBuf;

/// Where the webhook URL comes from.
#[derive(Debug, Clone)]
pub enum WebhookSource {
    /// An environment variable (its name).
    Env(String),
    /// A file, e.g. an ECS secret or a mounted Kubernetes secret.
    File(PathBuf),
}

impl WebhookSource {
    /// Reads and checks the URL. Errors name the source, never the value.
    pub fn load(&self) -> Result<WebhookUrl, String> {
        let (raw, origin) = match self {
            Self::Env(name) => (
                std::env::var(name).map_err(|_| {
                    format!("set the environment variable {name} to the Slack incoming-webhook URL")
                })?,
                format!("the environment variable {name}"),
            ),
            Self::File(path) => (
                std::fs::read_to_string(path).map_err(|e| {
                    format!(
                        "cannot read the webhook URL file {}: {}",
                        path.display(),
                        e.kind()
                    )
                })?,
                format!("the file {}", path.display()),
            ),
        };
        WebhookUrl::parse(raw.trim()).map_err(|why| format!("{origin}: {why}"))
    }
}

/// A checked webhook URL. Its `Debug` is redacted.
#[derive(Clone)]
pub struct WebhookUrl(reqwest::Url);

impl std::fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookUrl(<redacted>)")
    }
}

impl WebhookUrl {
    /// HTTPS anywhere, or plain HTTP to a loopback address (a local proxy or a test
    /// receiver). The error never quotes the URL.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let url = reqwest::Url::parse(raw).map_err(|_| "the value is not a URL")?;
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => return Err("the URL has no host"),
        };
        match url.scheme() {
            "https" => Ok(Self(url)),
            "http" if loopback => Ok(Self(url)),
            _ => Err("the URL must be https (plain http only to a loopback address)"),
        }
    }

    /// The URL, for the one place that posts to it.
    pub(crate) fn as_url(&self) -> &reqwest::Url {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_and_debug_never_show_the_secret() {
        let secret = "https://hooks.slack.com/services/T000/B000/SECRETSECRET";
        let url = WebhookUrl::parse(secret).unwrap();
        assert!(!format!("{url:?}").contains("SECRET"));
        let err =
            WebhookUrl::parse("http://hooks.slack.com/services/T0/B0/SECRETSECRET").unwrap_err();
        assert!(!err.contains("SECRET"));
        assert!(WebhookUrl::parse("http://127.0.0.1:9/x").is_ok());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hook");
        std::fs::write(&file, "ftp://SECRETSECRET\n").unwrap();
        let err = WebhookSource::File(file).load().unwrap_err();
        assert!(!err.contains("SECRET"), "{err}");
    }
}
