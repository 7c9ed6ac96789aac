//! Sizes the process's open-files limit and file-descriptor table before the runtime starts.
//!
//! Every open stream holds a socket, so 10,000 streams need 10,000 descriptors: the soft
//! `RLIMIT_NOFILE` (often 1,024) is raised to the hard limit, as Go's runtime and most
//! servers do. The kernel's descriptor table grows by doubling, and growing it in a process
//! that already has threads waits for an RCU grace period (`expand_fdtable` calls
//! `synchronize_rcu`): the thread calling `accept` stalls for ~10 ms at the 256th, 512th,
//! 1,024th … connection, which the load tool showed as the only requests over 5 ms. Growing
//! the table once here, while the process is still single-threaded, costs no grace period.

use std::io;

/// Descriptors the table is pre-sized for, at most: 8 bytes of kernel memory each (512 KiB
/// here), and more than the 10,000 concurrent streams the server is sized for.
pub const PRESIZE_MAX_FDS: u64 = 65_536;

/// What [`prepare`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdTable {
    /// The soft open-files limit now in force.
    pub soft_limit: u64,
    /// The descriptor table now has room for this many descriptors.
    pub presized_to: u64,
}

/// Raises the soft open-files limit to the hard one and grows the descriptor table to
/// `min(soft limit, PRESIZE_MAX_FDS)`. Call it before any thread is spawned.
pub fn prepare() -> io::Result<FdTable> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let current = getrlimit(Resource::Nofile);
    let mut soft = current.current;
    if current.current < current.maximum {
        let raised = Rlimit {
            current: current.maximum,
            maximum: current.maximum,
        };
        // Refused (e.g. by a seccomp profile): keep the soft limit we have.
        if setrlimit(Resource::Nofile, raised).is_ok() {
            soft = current.maximum;
        }
    }
    // `None` means unlimited.
    let soft_limit = soft.unwrap_or(u64::MAX);
    let target = soft_limit.min(PRESIZE_MAX_FDS);
    presize(target)?;
    Ok(FdTable {
        soft_limit,
        presized_to: target,
    })
}

/// Grows the table so descriptor `count - 1` fits: duplicates an open descriptor to that
/// number or above, then closes the copy (the kernel never shrinks the table).
fn presize(count: u64) -> io::Result<()> {
    let Some(highest) = count.checked_sub(1) else {
        return Ok(());
    };
    let highest = i32::try_from(highest).unwrap_or(i32::MAX);
    // Any open descriptor will do as the source; the server's own binary is always there.
    let source = std::fs::File::open("/proc/self/exe").or_else(|_| std::fs::File::open("/"))?;
    let dup = rustix::io::fcntl_dupfd_cloexec(&source, highest).map_err(io::Error::from)?;
    drop(dup);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presize_reaches_the_number_and_closes_its_probe() {
        use std::os::fd::AsRawFd;
        // No other test opens descriptors this high, so the slot is ours to look at.
        presize(3001).unwrap();
        assert!(
            !std::path::Path::new("/proc/self/fd/3000").exists(),
            "the probe descriptor was closed"
        );
        let size = std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .find_map(|l| {
                l.strip_prefix("FDSize:")
                    .map(|v| v.trim().parse::<u64>().unwrap())
            })
            .unwrap();
        assert!(size >= 3001, "FDSize {size}");
        let f = std::fs::File::open("/").unwrap();
        assert!(f.as_raw_fd() < 3000, "the lowest free descriptor is reused");
    }

    #[test]
    fn prepare_never_lowers_the_limit() {
        use rustix::process::{getrlimit, Resource};
        let before = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
        let table = prepare().unwrap();
        assert!(table.soft_limit >= before);
        assert_eq!(table.presized_to, table.soft_limit.min(PRESIZE_MAX_FDS));
    }
}
