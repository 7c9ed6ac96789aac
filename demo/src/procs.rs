//! Child processes (server, sidecar): spawn with stderr to a file, wait until healthy, stop
//! with SIGTERM like ECS does.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::process::{Child, Command};

/// Why a child process could not be run.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    /// The binary could not be started.
    #[error("could not start {name} ({program}): {source}")]
    Spawn {
        /// Which process.
        name: String,
        /// Its path.
        program: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// It exited while we waited for it to become ready.
    #[error("{name} exited before it was ready ({status}); see {stderr}")]
    ExitedEarly {
        /// Which process.
        name: String,
        /// How it exited.
        status: ExitStatus,
        /// Its stderr file.
        stderr: String,
    },
    /// It did not answer its health endpoint in time.
    #[error("{name} did not answer {url} within {secs} s; see {stderr}")]
    NotReady {
        /// Which process.
        name: String,
        /// The health URL.
        url: String,
        /// The limit.
        secs: u64,
        /// Its stderr file.
        stderr: String,
    },
    /// Waiting for or signalling it failed.
    #[error("{name}: {source}")]
    Io {
        /// Which process.
        name: String,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// A running child.
pub struct Proc {
    name: String,
    child: Child,
    stderr: PathBuf,
}

impl Proc {
    /// Starts `program args` with `env` added (and `remove` taken out of the inherited
    /// environment), stdout discarded and stderr written to `stderr`.
    pub fn spawn(
        name: &str,
        program: &Path,
        args: &[&str],
        env: &[(&str, String)],
        remove: &[&str],
        stderr: &Path,
    ) -> Result<Self, ProcError> {
        let spawn_err = |source| ProcError::Spawn {
            name: name.to_owned(),
            program: program.to_path_buf(),
            source,
        };
        let err_file = std::fs::File::create(stderr).map_err(spawn_err)?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(err_file))
            .kill_on_drop(true);
        for var in remove {
            cmd.env_remove(var);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().map_err(spawn_err)?;
        Ok(Self {
            name: name.to_owned(),
            child,
            stderr: stderr.to_path_buf(),
        })
    }

    /// Polls `url` until it answers 2xx; fails at once if the process exits.
    pub async fn wait_ready(
        &mut self,
        client: &reqwest::Client,
        url: &str,
        limit: Duration,
    ) -> Result<(), ProcError> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().map_err(|source| self.io(source))? {
                return Err(ProcError::ExitedEarly {
                    name: self.name.clone(),
                    status,
                    stderr: self.stderr.display().to_string(),
                });
            }
            let ok = client
                .get(url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ProcError::NotReady {
                    name: self.name.clone(),
                    url: url.to_owned(),
                    secs: limit.as_secs(),
                    stderr: self.stderr.display().to_string(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, then waits up to `limit` for the exit (SIGKILL after that).
    pub async fn terminate(&mut self, limit: Duration) -> Result<ExitStatus, ProcError> {
        if let Some(pid) = self.child.id() {
            let status = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await
                .map_err(|source| self.io(source))?;
            if !status.success() {
                return Err(self.io(std::io::Error::other("kill -TERM failed")));
            }
        }
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => status.map_err(|source| self.io(source)),
            Err(_) => {
                self.child.kill().await.map_err(|source| self.io(source))?;
                self.child.wait().await.map_err(|source| self.io(source))
            }
        }
    }

    fn io(&self, source: std::io::Error) -> ProcError {
        ProcError::Io {
            name: self.name.clone(),
            source,
        }
    }
}

/// A free loopback port (bound, then released for the child to take).
pub fn free_port() -> std::io::Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()
        .map(|a| a.port())
}
