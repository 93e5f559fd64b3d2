//! The program's uid. As root, every live sandbox leases a uid of its own from a range, so
//! concurrent jobs never share one: per-uid limits (RLIMIT_NPROC, pending signals, inotify
//! instances) cannot be exhausted by a neighbour, and without a PID namespace one job cannot
//! signal another's processes. A lease is an `flock` on a per-uid file, held until the sandbox is
//! dropped (and released by the kernel if the runner dies). The lock files stay: at most one
//! empty file per uid in the range, and deleting a locked file would race with a new lease.
//! There is no fallback to a shared uid: with every uid in use, a sandbox waits for one, and
//! fails if none comes free.

use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::{SANDBOX_UID, is_root};

/// Leased uids are `SANDBOX_UID + 1 ..= SANDBOX_UID + RANGE` (below `nobody`, 65534).
const RANGE: u32 = 4000;

/// A uid (also used as the gid) for one sandbox's programs.
pub(super) struct Lease {
    pub uid: u32,
    _lock: Option<File>,
}

impl Lease {
    /// The fixed id inside a user namespace (not root): each sandbox has a namespace of its own.
    fn in_user_namespace() -> Lease {
        Lease { uid: SANDBOX_UID, _lock: None }
    }
}

/// How often a sandbox that found every uid in use tries again.
const RETRY: Duration = Duration::from_millis(20);

fn lock_dir() -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join("gavel-uids");
    match fs::DirBuilder::new().mode(0o700).create(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            return Err(format!("mkdir {}: {e}", dir.display()));
        }
        _ => {}
    }
    // Someone else's directory (or a symlink) there would let them hold or fake our leases.
    let meta = fs::symlink_metadata(&dir).map_err(|e| format!("stat {}: {e}", dir.display()))?;
    if !meta.is_dir() || meta.uid() != 0 || meta.mode() & 0o077 != 0 {
        return Err(format!("{} is not a private directory of root", dir.display()));
    }
    Ok(dir)
}

/// Leases a free uid (root), waiting up to `wait` for one; not root, the fixed one that the
/// user namespace maps.
pub(super) fn lease_within(wait: Duration) -> Result<Lease, String> {
    if !is_root() {
        return Ok(Lease::in_user_namespace());
    }
    let dir = lock_dir()?;
    lease_waiting(&dir, SANDBOX_UID + 1, RANGE, wait)
}

/// A uid of `first .. first + range` whose lock in `dir` is free, waiting up to `wait` for one.
fn lease_waiting(dir: &Path, first: u32, range: u32, wait: Duration) -> Result<Lease, String> {
    let deadline = Instant::now() + wait;
    loop {
        match lease(dir, first, range) {
            Err(Busy::AllInUse(_)) if Instant::now() < deadline => std::thread::sleep(RETRY),
            Err(busy) => return Err(busy.to_string()),
            Ok(lease) => return Ok(lease),
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum Busy {
    #[error("all {0} sandbox uids are in use")]
    AllInUse(u32),
    #[error("{0}")]
    Broken(String),
}

fn lease(dir: &Path, first: u32, range: u32) -> Result<Lease, Busy> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // Start where other runners are unlikely to be probing. Random, not from the pid: every
    // runner in its own container is pid 1 and has its own lock dir, so the locks cannot keep
    // concurrent jobs apart there, and a shared uid would share RLIMIT_NPROC.
    let start = random_u32().wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed));
    for i in 0..range {
        let uid = first + start.wrapping_add(i) % range;
        let path = dir.join(uid.to_string());
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| Busy::Broken(format!("open {}: {e}", path.display())))?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(Lease { uid, _lock: Some(file) });
        }
    }
    Err(Busy::AllInUse(range))
}

fn random_u32() -> u32 {
    let mut bytes = [0u8; 4];
    // SAFETY: getrandom writes at most `bytes.len()` bytes into the live buffer.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), libc::GRND_NONBLOCK) };
    if n == bytes.len() as isize { u32::from_ne_bytes(bytes) } else { std::process::id().wrapping_mul(37) }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn with_every_uid_in_use_a_lease_waits_then_fails_and_never_shares() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = lease_waiting(dir.path(), 62000, 2, Duration::ZERO).expect("a free uid");
        let second = lease_waiting(dir.path(), 62000, 2, Duration::ZERO).expect("the other one");
        assert_ne!(first.uid, second.uid);
        let started = Instant::now();
        let none = lease_waiting(dir.path(), 62000, 2, Duration::from_millis(200)).err().expect("none is free");
        assert!(none.contains("all 2 sandbox uids are in use") && started.elapsed() >= Duration::from_millis(200));
        let freed = second.uid;
        let waiting = std::thread::spawn({
            let dir = dir.path().to_owned();
            move || lease_waiting(&dir, 62000, 2, Duration::from_secs(10)).map(|lease| lease.uid)
        });
        std::thread::sleep(Duration::from_millis(50));
        drop(second);
        assert_eq!(waiting.join().expect("join"), Ok(freed), "the freed uid goes to the one waiting");
    }

    #[test]
    fn live_leases_are_distinct() {
        super::super::tests::require_root("leasing uids");
        let leases: Vec<Lease> = (0..20).map(|_| lease_within(Duration::ZERO).expect("lease")).collect();
        let mut uids: Vec<u32> = leases.iter().map(|l| l.uid).collect();
        uids.sort_unstable();
        uids.dedup();
        assert_eq!(uids.len(), leases.len());
        assert!(uids.iter().all(|&u| u > SANDBOX_UID && u <= SANDBOX_UID + RANGE));
    }
}
