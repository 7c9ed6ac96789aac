//! Which paths a glob hit may be tailed from: regular files under the configured directories,
//! no symbolic links unless asked for (and then never out of those directories), and never
//! anything in `/proc`, `/sys` or `/dev`.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

/// Trees whose "files" are not logs. A `/proc` file reports a size of 0 and new contents on
/// every read, so a tailer takes each read for a truncation and re-reads it forever (2.7
/// million duplicate lines in 6 s from one `/proc/PID/status` link); device files block or
/// never end.
pub const PSEUDO_FS_ROOTS: &[&str] = &["/proc", "/sys", "/dev"];

/// Why a glob hit is not tailed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A symbolic link, and `follow_symlinks` is off.
    Symlink,
    /// Resolves outside every configured directory (through a link in the path).
    OutsideDirectories,
    /// Resolves into `/proc`, `/sys` or `/dev`.
    PseudoFilesystem,
    /// Not a regular file (a FIFO, a socket, a device).
    NotRegular,
}

impl Refusal {
    fn explain(self) -> &'static str {
        match self {
            Self::Symlink => {
                "is a symbolic link and follow_symlinks is off; not read (set follow_symlinks = true to follow links inside the configured directories)"
            }
            Self::OutsideDirectories => {
                "resolves outside the directories of the source's include globs; not read"
            }
            Self::PseudoFilesystem => "resolves into /proc, /sys or /dev; not read",
            Self::NotRegular => "is not a regular file; not read",
        }
    }
}

/// The directories a source's globs name, and whether links inside them are followed.
#[derive(Debug)]
pub struct PathPolicy {
    /// The part of each glob before its first wildcard, as a directory.
    directories: Vec<PathBuf>,
    follow_symlinks: bool,
    /// Refusals already logged, so each is reported once per path (and again if its reason
    /// changes).
    reported: HashMap<PathBuf, Refusal>,
}

impl PathPolicy {
    /// The policy for a source with these `include` globs.
    pub fn new(include: &[String], follow_symlinks: bool) -> Self {
        Self {
            directories: include.iter().map(|p| glob_directory(p)).collect(),
            follow_symlinks,
            reported: HashMap::new(),
        }
    }

    /// The metadata of `path` if it may be tailed; otherwise `None`, with one warning the
    /// first time this path is refused for this reason. A path that vanished or cannot be
    /// resolved (a dangling link) is `None` without a word: it is not there yet.
    pub fn admit(&mut self, path: &Path) -> Option<std::fs::Metadata> {
        match self.check(path) {
            Ok(meta) => {
                self.reported.remove(path);
                meta
            }
            Err(refusal) => {
                if self.reported.get(path) != Some(&refusal) {
                    tracing::warn!(path = %path.display(), "file source: {}", refusal.explain());
                    self.reported.insert(path.to_path_buf(), refusal);
                }
                None
            }
        }
    }

    fn check(&self, path: &Path) -> Result<Option<std::fs::Metadata>, Refusal> {
        let Ok(link) = std::fs::symlink_metadata(path) else {
            return Ok(None);
        };
        if link.file_type().is_symlink() && !self.follow_symlinks {
            return Err(Refusal::Symlink);
        }
        let Ok(resolved) = std::fs::canonicalize(path) else {
            return Ok(None);
        };
        if in_pseudo_filesystem(&resolved) {
            return Err(Refusal::PseudoFilesystem);
        }
        let inside = self
            .directories
            .iter()
            .any(|dir| std::fs::canonicalize(dir).is_ok_and(|dir| resolved.starts_with(dir)));
        if !inside {
            return Err(Refusal::OutsideDirectories);
        }
        let Ok(meta) = std::fs::metadata(&resolved) else {
            return Ok(None);
        };
        if !meta.is_file() {
            return Err(Refusal::NotRegular);
        }
        Ok(Some(meta))
    }
}

/// True for a path in `/proc`, `/sys` or `/dev`.
pub fn in_pseudo_filesystem(path: &Path) -> bool {
    PSEUDO_FS_ROOTS.iter().any(|root| path.starts_with(root))
}

/// The directory a glob reads from: its components before the first one with a wildcard
/// (`/var/log/app/*.log` → `/var/log/app`; `/var/log/**/a.log` → `/var/log`; a plain file
/// name → its directory).
pub fn glob_directory(pattern: &str) -> PathBuf {
    let path = Path::new(pattern);
    let mut dir = PathBuf::new();
    let mut components = path.components().peekable();
    while let Some(component) = components.next() {
        let is_last = components.peek().is_none();
        let text = component.as_os_str().to_string_lossy();
        if is_last || text.contains(['*', '?', '[']) {
            break;
        }
        dir.push(component);
    }
    if dir.as_os_str().is_empty() {
        dir.push(if path.is_absolute() {
            Component::RootDir.as_os_str()
        } else {
            Component::CurDir.as_os_str()
        });
    }
    dir
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_globs_directory_is_its_part_before_the_first_wildcard() {
        assert_eq!(
            glob_directory("/var/log/app/*.log"),
            Path::new("/var/log/app")
        );
        assert_eq!(glob_directory("/var/log/**/a.log"), Path::new("/var/log"));
        assert_eq!(glob_directory("/var/log/a.log"), Path::new("/var/log"));
        assert_eq!(glob_directory("/var/l?g/a.log"), Path::new("/var"));
        assert_eq!(glob_directory("a.log"), Path::new("."));
        assert_eq!(glob_directory("/*.log"), Path::new("/"));
    }

    #[test]
    fn links_are_refused_unless_followed_and_never_out_of_the_directory() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("in");
        std::fs::create_dir(&dir).expect("mkdir");
        let outside = tmp.path().join("private.txt");
        std::fs::write(&outside, "secret\n").expect("write");
        let inside = dir.join("real.log");
        std::fs::write(&inside, "line\n").expect("write");
        std::os::unix::fs::symlink(&outside, dir.join("out.log")).expect("link");
        std::os::unix::fs::symlink(&inside, dir.join("alias.log")).expect("link");
        std::os::unix::fs::symlink("/proc/self/status", dir.join("proc.log")).expect("link");
        let include = vec![format!("{}/*.log", dir.display())];

        let strict = PathPolicy::new(&include, false);
        assert!(strict.check(&inside).expect("admitted").is_some());
        for link in ["out.log", "alias.log", "proc.log"] {
            assert_eq!(
                strict.check(&dir.join(link)).err(),
                Some(Refusal::Symlink),
                "{link}"
            );
        }

        let follow = PathPolicy::new(&include, true);
        assert!(follow
            .check(&dir.join("alias.log"))
            .expect("a link inside is followed")
            .is_some());
        assert_eq!(
            follow.check(&dir.join("out.log")).err(),
            Some(Refusal::OutsideDirectories)
        );
        assert_eq!(
            follow.check(&dir.join("proc.log")).err(),
            Some(Refusal::PseudoFilesystem)
        );
        // A dangling link is not there yet, not an error.
        std::os::unix::fs::symlink(dir.join("missing"), dir.join("dangling.log")).expect("link");
        assert!(matches!(follow.check(&dir.join("dangling.log")), Ok(None)));
    }

    #[test]
    fn a_fifo_is_not_a_regular_file() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let fifo = tmp.path().join("pipe.log");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs");
        assert!(made.success());
        let policy = PathPolicy::new(&[format!("{}/*.log", tmp.path().display())], false);
        assert_eq!(policy.check(&fifo).err(), Some(Refusal::NotRegular));
    }
}
