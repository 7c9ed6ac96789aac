//! `[sources.fluent]`: where the forward source listens and how large a frame may be.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Default largest frame: Fluentd's default chunk limit is 8 MiB (`chunk_limit_size`) and
/// Fluent Bit's forward output sends chunks of about 2 MB, so 16 MiB takes either with a 2×
/// margin while keeping one connection's memory bounded.
pub const DEFAULT_MAX_FRAME_BYTES: u64 = 16 * 1024 * 1024;
/// Allowed `max_frame_bytes`: a Docker driver line is up to 16 KiB, so 64 KiB is the least
/// that takes one with its metadata; above 256 MiB one connection could hold most of a task's
/// memory.
pub const MAX_FRAME_BYTES_RANGE: std::ops::RangeInclusive<u64> = 64 * 1024..=256 * 1024 * 1024;
/// Default permissions of the socket file: the task's containers run as the same user or
/// group; nobody else needs to write logs into it.
pub const DEFAULT_SOCKET_MODE: u32 = 0o660;
/// Default most connections served at once (the others wait in the kernel's backlog).
pub const DEFAULT_MAX_CONNECTIONS: u64 = 1024;
/// Allowed `max_connections`.
pub const MAX_CONNECTIONS_RANGE: std::ops::RangeInclusive<u64> = 1..=16_384;

/// `[sources.fluent]`: a Fluent forward (v1) listener, what FireLens sends a container's
/// stdout to.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FluentSourceConfig {
    /// Unix socket to listen on (FireLens: `/var/run/fluent.sock`); a stale socket file left
    /// by a killed run is replaced, anything else at the path is an error.
    #[serde(default)]
    pub socket_path: Option<PathBuf>,
    /// Permissions of the socket file (TOML octal, e.g. `0o660`).
    #[serde(default = "default_socket_mode")]
    pub socket_mode: u32,
    /// TCP address to listen on (`127.0.0.1:24224`); must be loopback.
    #[serde(default)]
    pub address: Option<SocketAddr>,
    /// Largest frame in bytes (one forward message; a compressed chunk once decompressed); a
    /// larger one closes its connection with a log line, losing nothing already acked.
    #[serde(default = "default_max_frame_bytes")]
    pub max_frame_bytes: u64,
    /// Most connections served at once.
    #[serde(default = "default_max_connections")]
    pub max_connections: u64,
    /// Name of the environment variable holding the forward protocol's shared key (ECS fills
    /// it from a Secrets Manager secret); when set, every client must complete the
    /// shared-key handshake (HELO/PING/PONG) before it may send events.
    #[serde(default)]
    pub shared_key_env: Option<String>,
    /// The hostname this source names in the handshake's PONG.
    #[serde(default = "default_self_hostname")]
    pub self_hostname: String,
    /// Users who must authenticate in the handshake (the specification's user
    /// authentication); needs `shared_key_env`. Empty: the shared key alone.
    #[serde(default)]
    pub users: Vec<FluentUserConfig>,
}

/// `[[sources.fluent.users]]`: one user of the handshake's user authentication.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FluentUserConfig {
    /// The username the client sends in its PING.
    pub username: String,
    /// Name of the environment variable holding the user's password (an ECS `secrets`
    /// entry); the password itself is never in the config.
    pub password_env: String,
}

fn default_socket_mode() -> u32 {
    DEFAULT_SOCKET_MODE
}
fn default_max_frame_bytes() -> u64 {
    DEFAULT_MAX_FRAME_BYTES
}
fn default_max_connections() -> u64 {
    DEFAULT_MAX_CONNECTIONS
}
fn default_self_hostname() -> String {
    "aistudio-sidecar".to_owned()
}

impl FluentSourceConfig {
    /// Every problem of this section, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.socket_path.is_none() && self.address.is_none() {
            problems.push(
                "sources.fluent: neither socket_path nor address is set; give at least one".into(),
            );
        }
        if self.shared_key_env.as_deref().is_some_and(str::is_empty) {
            problems.push("sources.fluent.shared_key_env: empty; name the environment variable that holds the shared key".into());
        }
        if !self.users.is_empty() && self.shared_key_env.is_none() {
            problems.push("sources.fluent.users: user authentication is part of the shared-key handshake; set shared_key_env too".into());
        }
        for (index, user) in self.users.iter().enumerate() {
            let at = format!("sources.fluent.users[{index}]");
            if user.username.is_empty() {
                problems.push(format!("{at}.username: empty; name the user"));
            }
            if self.users[..index]
                .iter()
                .any(|u| u.username == user.username)
            {
                problems.push(format!(
                    "{at}.username: `{}` is configured twice; each user once",
                    user.username
                ));
            }
            if user.password_env.is_empty() {
                problems.push(format!(
                    "{at}.password_env: empty; name the environment variable that holds the password"
                ));
            }
        }
        if self.socket_mode > 0o777 {
            problems.push(format!(
                "sources.fluent.socket_mode: {:#o} is not a permission mode; allowed 0o000..=0o777",
                self.socket_mode
            ));
        }
        if let Some(address) = self.address {
            if !address.ip().is_loopback() && self.shared_key_env.is_none() {
                problems.push(format!(
                    "sources.fluent.address: {address} is not a loopback address; listen on 127.0.0.1 (tasks in awsvpc mode share it), or set shared_key_env so clients must prove the shared key"
                ));
            }
        }
        for (key, value, range) in [
            (
                "max_frame_bytes",
                self.max_frame_bytes,
                &MAX_FRAME_BYTES_RANGE,
            ),
            (
                "max_connections",
                self.max_connections,
                &MAX_CONNECTIONS_RANGE,
            ),
        ] {
            if !range.contains(&value) {
                problems.push(format!(
                    "sources.fluent.{key}: {value} is out of range; allowed {}..={}",
                    range.start(),
                    range.end()
                ));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<FluentSourceConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_octal_modes_parse() {
        let config =
            parse("socket_path = \"/var/run/fluent.sock\"\nsocket_mode = 0o600\n").unwrap();
        assert_eq!(config.socket_mode, 0o600);
        assert_eq!(config.max_frame_bytes, DEFAULT_MAX_FRAME_BYTES);
        assert!(config.problems().is_empty());
    }

    #[test]
    fn bad_values_are_named_with_their_key() {
        assert!(parse("sokcet_path = \"/x\"")
            .unwrap_err()
            .contains("sokcet_path"));
        let config = parse(
            "address = \"0.0.0.0:24224\"\nsocket_mode = 0o1777\nmax_frame_bytes = 10\nmax_connections = 0\n",
        )
        .unwrap();
        let problems = config.problems().join("\n");
        for key in [
            "sources.fluent.address: 0.0.0.0:24224 is not a loopback",
            "sources.fluent.socket_mode: 0o1777",
            "sources.fluent.max_frame_bytes: 10 is out of range",
            "sources.fluent.max_connections: 0 is out of range",
        ] {
            assert!(problems.contains(key), "{key} in {problems}");
        }
        let none = parse("").unwrap().problems().join("\n");
        assert!(none.contains("neither socket_path nor address"), "{none}");
    }

    #[test]
    fn users_need_the_shared_key_names_and_password_variables() {
        let config = parse(
            "address = \"127.0.0.1:24224\"\nusers = [{ username = \"a\", password_env = \"\" }, { username = \"a\", password_env = \"P\" }, { username = \"\", password_env = \"Q\" }]\n",
        )
        .unwrap();
        let problems = config.problems().join("\n");
        for key in [
            "sources.fluent.users: user authentication is part of the shared-key handshake; set shared_key_env too",
            "sources.fluent.users[0].password_env: empty",
            "sources.fluent.users[1].username: `a` is configured twice",
            "sources.fluent.users[2].username: empty",
        ] {
            assert!(problems.contains(key), "{key} in {problems}");
        }
        assert!(parse(
            "address = \"127.0.0.1:1\"\nusers = [{ username = \"a\", password = \"x\" }]"
        )
        .unwrap_err()
        .contains("password"));
    }
}
