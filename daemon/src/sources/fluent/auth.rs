//! The forward protocol's shared-key handshake: the server greets with HELO (a fresh nonce),
//! the client answers PING with `sha512_hex(salt + client_hostname + nonce + shared_key)`, the
//! server checks it and answers PONG with its own digest, so each side proves it knows the key
//! without sending it. The key comes from a secret (an environment variable ECS fills from
//! Secrets Manager) and is never logged.

use std::io::Read;

use rmpv::ValueRef;
use sha2::{Digest, Sha512};

/// Bytes of the HELO nonce, read from the kernel's random source.
const NONCE_BYTES: usize = 16;

/// The shared key; its `Debug` never shows it.
#[derive(Clone)]
pub struct SharedKey {
    key: String,
    hostname: String,
}

impl std::fmt::Debug for SharedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedKey(redacted)")
    }
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
}

impl SharedKey {
    /// A key and the hostname this side names in PONG.
    pub fn new(key: String, hostname: String) -> Self {
        Self { key, hostname }
    }

    /// A fresh nonce and the HELO message carrying it (no user authentication: empty `auth`).
    pub fn helo() -> std::io::Result<(Vec<u8>, Vec<u8>)> {
        let mut nonce = vec![0u8; NONCE_BYTES];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut nonce)?;
        let mut out = Vec::new();
        // Writing into a Vec cannot fail.
        let _ = rmp::encode::write_array_len(&mut out, 2);
        let _ = rmp::encode::write_str(&mut out, "HELO");
        let _ = rmp::encode::write_map_len(&mut out, 3);
        let _ = rmp::encode::write_str(&mut out, "nonce");
        let _ = rmp::encode::write_bin(&mut out, &nonce);
        let _ = rmp::encode::write_str(&mut out, "auth");
        let _ = rmp::encode::write_bin(&mut out, b"");
        let _ = rmp::encode::write_str(&mut out, "keepalive");
        let _ = rmp::encode::write_bool(&mut out, true);
        Ok((nonce, out))
    }

    /// Checks a PING (`["PING", hostname, salt, digest, username, password_digest]`) against
    /// `nonce`; on success returns the PONG to send.
    pub fn check_ping(&self, ping: &ValueRef<'_>, nonce: &[u8]) -> Result<Vec<u8>, AuthError> {
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
        let mut hasher = Sha512::new();
        hasher.update(salt);
        hasher.update(hostname);
        hasher.update(nonce);
        hasher.update(self.key.as_bytes());
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// Compares without an early exit, so timing does not tell how much of a forged digest matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmpv::Value;

    fn ping(key: &str, nonce: &[u8]) -> Value {
        let mut hasher = Sha512::new();
        hasher.update(b"salty");
        hasher.update(b"client-host");
        hasher.update(nonce);
        hasher.update(key.as_bytes());
        let digest: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Value::Array(vec![
            Value::from("PING"),
            Value::from("client-host"),
            Value::from("salty"),
            Value::from(digest),
            Value::from(""),
            Value::from(""),
        ])
    }

    #[test]
    fn the_right_key_gets_a_pong_with_the_servers_digest_and_a_wrong_one_is_refused() {
        let key = SharedKey::new("s3cret".into(), "sidecar".into());
        let (nonce, helo) = SharedKey::helo().unwrap();
        let helo = rmpv::decode::read_value(&mut &helo[..]).unwrap();
        assert_eq!(helo[0].as_str(), Some("HELO"));
        assert_eq!(helo[1]["nonce"].as_slice(), Some(&nonce[..]));
        let pong = key
            .check_ping(&ping("s3cret", &nonce).as_ref(), &nonce)
            .unwrap();
        let pong = rmpv::decode::read_value(&mut &pong[..]).unwrap();
        assert_eq!(pong[1].as_bool(), Some(true));
        assert_eq!(
            pong[4].as_str(),
            Some(key.digest(b"salty", b"sidecar", &nonce).as_str())
        );
        assert_eq!(
            key.check_ping(&ping("guess", &nonce).as_ref(), &nonce),
            Err(AuthError::Mismatch)
        );
        // A PING made for another nonce (a replay) fails too.
        assert_eq!(
            key.check_ping(&ping("s3cret", b"old nonce").as_ref(), &nonce),
            Err(AuthError::Mismatch)
        );
        let not_ping = Value::Array(vec![Value::from("tag"), Value::from(1)]);
        assert_eq!(
            key.check_ping(&not_ping.as_ref(), &nonce),
            Err(AuthError::NotPing)
        );
        assert!(!format!("{key:?}").contains("s3cret"));
    }
}
