//! The forward protocol's shared-key handshake: the server greets with HELO (a fresh nonce),
//! the client answers PING with `sha512_hex(salt + client_hostname + nonce + shared_key)`, the
//! server checks it and answers PONG with its own digest, so each side proves it knows the key
//! without sending it. With users configured, HELO also carries a fresh `auth` salt and the
//! PING must name a user and carry `sha512_hex(auth_salt + username + password)`. The key and
//! the passwords come from secrets (environment variables ECS fills from Secrets Manager) and
//! are never logged; a refusal's reason names no secret and does not tell an unknown user
//! from a wrong password.

use std::io::Read;

use rmpv::ValueRef;
use sha2::{Digest, Sha512};

/// Bytes of the HELO nonce and of the user-authentication salt, from the kernel's random
/// source (Fluentd uses 16 as well).
const NONCE_BYTES: usize = 16;

/// The shared key and the users; its `Debug` never shows a secret.
#[derive(Clone)]
pub struct SharedKey {
    key: String,
    hostname: String,
    users: Vec<(String, String)>,
}

impl std::fmt::Debug for SharedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedKey(redacted, {} users)", self.users.len())
    }
}

/// What one connection's HELO asked: the nonce, and the salt when users must authenticate.
#[derive(Debug, Clone)]
pub struct Challenge {
    nonce: Vec<u8>,
    auth_salt: Option<Vec<u8>>,
}

/// Why a handshake failed; never holds the key, a digest, or the client's message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// The first message was not a PING.
    #[error("the client did not start with the shared-key handshake (PING)")]
    NotPing,
    /// The PING's digest does not match: a different key (or a forged message).
    #[error("shared key mismatch")]
    Mismatch,
    /// The user is not configured.
    #[error("username/password mismatch")]
    UnknownUser,
    /// The user's password digest does not match.
    #[error("username/password mismatch")]
    WrongPassword,
}

impl AuthError {
    /// For the log: which check failed (the client hears only [`AuthError`]'s text).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotPing => "not_ping",
            Self::Mismatch => "shared_key",
            Self::UnknownUser => "unknown_user",
            Self::WrongPassword => "wrong_password",
        }
    }
}

fn random_bytes() -> std::io::Result<Vec<u8>> {
    let mut bytes = vec![0u8; NONCE_BYTES];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes)
}

impl SharedKey {
    /// A key, the hostname this side names in PONG, and the `(username, password)` pairs
    /// (none: no user authentication).
    pub fn new(key: String, hostname: String, users: Vec<(String, String)>) -> Self {
        Self {
            key,
            hostname,
            users,
        }
    }

    /// A fresh challenge and the HELO message carrying it (`auth` empty without users).
    pub fn helo(&self) -> std::io::Result<(Challenge, Vec<u8>)> {
        let nonce = random_bytes()?;
        let auth_salt = if self.users.is_empty() {
            None
        } else {
            Some(random_bytes()?)
        };
        let mut out = Vec::new();
        // Writing into a Vec cannot fail.
        let _ = rmp::encode::write_array_len(&mut out, 2);
        let _ = rmp::encode::write_str(&mut out, "HELO");
        let _ = rmp::encode::write_map_len(&mut out, 3);
        let _ = rmp::encode::write_str(&mut out, "nonce");
        let _ = rmp::encode::write_bin(&mut out, &nonce);
        let _ = rmp::encode::write_str(&mut out, "auth");
        let _ = rmp::encode::write_bin(&mut out, auth_salt.as_deref().unwrap_or_default());
        let _ = rmp::encode::write_str(&mut out, "keepalive");
        let _ = rmp::encode::write_bool(&mut out, true);
        Ok((Challenge { nonce, auth_salt }, out))
    }

    /// Checks a PING (`["PING", hostname, salt, digest, username, password_digest]`) against
    /// the challenge; on success returns the PONG to send.
    pub fn check_ping(
        &self,
        ping: &ValueRef<'_>,
        challenge: &Challenge,
    ) -> Result<Vec<u8>, AuthError> {
        let nonce = &challenge.nonce[..];
        let ValueRef::Array(items) = ping else {
            return Err(AuthError::NotPing);
        };
        let bytes = |i: usize| -> Option<&[u8]> {
            match items.get(i)? {
                ValueRef::String(s) => Some(s.as_bytes()),
                ValueRef::Binary(b) => Some(b),
                _ => None,
            }
        };
        if bytes(0) != Some(&b"PING"[..]) {
            return Err(AuthError::NotPing);
        }
        let (Some(hostname), Some(salt), Some(digest)) = (bytes(1), bytes(2), bytes(3)) else {
            return Err(AuthError::NotPing);
        };
        let expected = self.digest(salt, hostname, nonce);
        if !constant_time_eq(expected.as_bytes(), digest) {
            return Err(AuthError::Mismatch);
        }
        if let Some(auth_salt) = &challenge.auth_salt {
            let username = bytes(4).unwrap_or_default();
            let password_digest = bytes(5).unwrap_or_default();
            let Some((name, password)) = self
                .users
                .iter()
                .find(|(name, _)| name.as_bytes() == username)
            else {
                return Err(AuthError::UnknownUser);
            };
            let expected = sha512_hex(&[auth_salt, name.as_bytes(), password.as_bytes()]);
            if !constant_time_eq(expected.as_bytes(), password_digest) {
                return Err(AuthError::WrongPassword);
            }
        }
        Ok(self.pong(salt, nonce))
    }

    /// The PONG refusing a client (it closes the connection after reading why).
    pub fn refusal(reason: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let _ = rmp::encode::write_array_len(&mut out, 5);
        let _ = rmp::encode::write_str(&mut out, "PONG");
        let _ = rmp::encode::write_bool(&mut out, false);
        let _ = rmp::encode::write_str(&mut out, reason);
        let _ = rmp::encode::write_str(&mut out, "");
        let _ = rmp::encode::write_str(&mut out, "");
        out
    }

    fn pong(&self, salt: &[u8], nonce: &[u8]) -> Vec<u8> {
        let digest = self.digest(salt, self.hostname.as_bytes(), nonce);
        let mut out = Vec::new();
        let _ = rmp::encode::write_array_len(&mut out, 5);
        let _ = rmp::encode::write_str(&mut out, "PONG");
        let _ = rmp::encode::write_bool(&mut out, true);
        let _ = rmp::encode::write_str(&mut out, "");
        let _ = rmp::encode::write_str(&mut out, &self.hostname);
        let _ = rmp::encode::write_str(&mut out, &digest);
        out
    }

    /// `sha512_hex(salt + hostname + nonce + shared_key)`, the specification's digest.
    fn digest(&self, salt: &[u8], hostname: &[u8], nonce: &[u8]) -> String {
        sha512_hex(&[salt, hostname, nonce, self.key.as_bytes()])
    }
}

/// The lowercase hex SHA-512 of the parts, concatenated.
fn sha512_hex(parts: &[&[u8]]) -> String {
    let mut hasher = Sha512::new();
    for part in parts {
        hasher.update(part);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Compares without an early exit, so timing does not tell how much of a forged digest matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmpv::Value;

    fn ping(key: &str, nonce: &[u8], user: Option<(&str, &str, &[u8])>) -> Value {
        let digest = sha512_hex(&[b"salty", b"client-host", nonce, key.as_bytes()]);
        let (username, password_digest) = match user {
            Some((name, password, auth_salt)) => (
                name.to_owned(),
                sha512_hex(&[auth_salt, name.as_bytes(), password.as_bytes()]),
            ),
            None => (String::new(), String::new()),
        };
        Value::Array(vec![
            Value::from("PING"),
            Value::from("client-host"),
            Value::from("salty"),
            Value::from(digest),
            Value::from(username),
            Value::from(password_digest),
        ])
    }

    fn challenge(key: &SharedKey) -> (Challenge, Value) {
        let (challenge, helo) = key.helo().unwrap();
        (challenge, rmpv::decode::read_value(&mut &helo[..]).unwrap())
    }

    #[test]
    fn the_right_key_gets_a_pong_with_the_servers_digest_and_a_wrong_one_is_refused() {
        let key = SharedKey::new("s3cret".into(), "sidecar".into(), Vec::new());
        let (challenge, helo) = challenge(&key);
        let nonce = challenge.nonce.clone();
        assert_eq!(helo[0].as_str(), Some("HELO"));
        assert_eq!(helo[1]["nonce"].as_slice(), Some(&nonce[..]));
        assert_eq!(
            helo[1]["auth"].as_slice(),
            Some(&b""[..]),
            "no users: no salt"
        );
        let pong = key
            .check_ping(&ping("s3cret", &nonce, None).as_ref(), &challenge)
            .unwrap();
        let pong = rmpv::decode::read_value(&mut &pong[..]).unwrap();
        assert_eq!(pong[1].as_bool(), Some(true));
        assert_eq!(
            pong[4].as_str(),
            Some(key.digest(b"salty", b"sidecar", &nonce).as_str())
        );
        assert_eq!(
            key.check_ping(&ping("guess", &nonce, None).as_ref(), &challenge),
            Err(AuthError::Mismatch)
        );
        // A PING made for another nonce (a replay) fails too.
        assert_eq!(
            key.check_ping(&ping("s3cret", b"old nonce", None).as_ref(), &challenge),
            Err(AuthError::Mismatch)
        );
        let not_ping = Value::Array(vec![Value::from("tag"), Value::from(1)]);
        assert_eq!(
            key.check_ping(&not_ping.as_ref(), &challenge),
            Err(AuthError::NotPing)
        );
        assert!(!format!("{key:?}").contains("s3cret"));
    }

    #[test]
    fn users_prove_their_password_against_a_fresh_salt() {
        let key = SharedKey::new(
            "s3cret".into(),
            "sidecar".into(),
            vec![
                ("fluent".into(), "pa55word".into()),
                ("ops".into(), "other".into()),
            ],
        );
        let (challenge, helo) = challenge(&key);
        let salt = helo[1]["auth"].as_slice().unwrap().to_vec();
        assert_eq!(salt.len(), NONCE_BYTES);
        let nonce = challenge.nonce.clone();
        let check = |user| key.check_ping(&ping("s3cret", &nonce, user).as_ref(), &challenge);
        assert!(check(Some(("fluent", "pa55word", &salt))).is_ok());
        assert!(check(Some(("ops", "other", &salt))).is_ok());
        assert_eq!(
            check(Some(("fluent", "guess", &salt))),
            Err(AuthError::WrongPassword)
        );
        assert_eq!(
            check(Some(("nobody", "pa55word", &salt))),
            Err(AuthError::UnknownUser)
        );
        assert_eq!(check(None), Err(AuthError::UnknownUser), "no user named");
        // A digest made with another salt (a replay from another connection) fails.
        assert_eq!(
            check(Some(("fluent", "pa55word", b"old salt"))),
            Err(AuthError::WrongPassword)
        );
        // Both failures read the same to the client, and nothing shows a secret.
        assert_eq!(
            AuthError::UnknownUser.to_string(),
            AuthError::WrongPassword.to_string()
        );
        let shown = format!("{key:?}");
        assert!(
            !shown.contains("pa55word") && !shown.contains("s3cret"),
            "{shown}"
        );
    }
}
