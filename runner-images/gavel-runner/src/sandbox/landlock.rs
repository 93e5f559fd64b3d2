//! Landlock, for the sandbox without a mount namespace: the program may write only its own work
//! dir (when the run may) and its own tmp dir, plus the harmless devices; `/tmp`, `/dev/shm` and
//! every other directory the host or container shares stay unwritable to it, whatever their mode.
//! Reads are left to the file modes (the job's files are its uid's alone). Where the kernel has
//! scopes (Landlock ABI 6), abstract unix sockets and signals outside the sandbox are out of
//! reach too. The host builds one ruleset per run; the program enforces it on itself just before
//! `execve`, after `no_new_privs`.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::OnceLock;

use super::SandboxError;

const CREATE_RULESET_VERSION: u32 = 1;
const RULE_PATH_BENEATH: u32 = 1;

const FS_EXECUTE: u64 = 1 << 0;
const FS_WRITE_FILE: u64 = 1 << 1;
const FS_READ_FILE: u64 = 1 << 2;
const FS_READ_DIR: u64 = 1 << 3;
const FS_REMOVE_DIR: u64 = 1 << 4;
const FS_REMOVE_FILE: u64 = 1 << 5;
const FS_MAKE_CHAR: u64 = 1 << 6;
const FS_MAKE_DIR: u64 = 1 << 7;
const FS_MAKE_REG: u64 = 1 << 8;
const FS_MAKE_SOCK: u64 = 1 << 9;
const FS_MAKE_FIFO: u64 = 1 << 10;
const FS_MAKE_BLOCK: u64 = 1 << 11;
const FS_MAKE_SYM: u64 = 1 << 12;
/// ABI 2: linking or renaming across directories.
const FS_REFER: u64 = 1 << 13;
/// ABI 3.
const FS_TRUNCATE: u64 = 1 << 14;
/// ABI 6.
const SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0;
const SCOPE_SIGNAL: u64 = 1 << 1;

/// Every way to change the filesystem (reading and executing are left alone).
const WRITES: u64 = FS_WRITE_FILE
    | FS_REMOVE_DIR
    | FS_REMOVE_FILE
    | FS_MAKE_CHAR
    | FS_MAKE_DIR
    | FS_MAKE_REG
    | FS_MAKE_SOCK
    | FS_MAKE_FIFO
    | FS_MAKE_BLOCK
    | FS_MAKE_SYM
    | FS_REFER
    | FS_TRUNCATE;
/// What a rule on a file (rather than a directory) may grant.
const FILE_RIGHTS: u64 = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE;
const _: () = assert!(FS_READ_DIR & WRITES == 0);

/// Devices every program may write (and truncate, as shells do with `> /dev/null`).
const DEVICES: &[&str] = &["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"];

#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

/// The Landlock ABI version this kernel speaks, if it has Landlock at all (and lets us use it:
/// a container's seccomp profile may refuse the calls).
pub(super) fn abi() -> Option<u32> {
    static ABI: OnceLock<Option<u32>> = OnceLock::new();
    *ABI.get_or_init(|| {
        // SAFETY: the version query reads no attribute.
        let v = unsafe {
            libc::syscall(libc::SYS_landlock_create_ruleset, std::ptr::null::<RulesetAttr>(), 0, CREATE_RULESET_VERSION)
        };
        u32::try_from(v).ok().filter(|&v| v >= 1)
    })
}

/// The rights of ABI `abi` among `rights`.
fn supported(rights: u64, abi: u32) -> u64 {
    let mut known = WRITES | FILE_RIGHTS;
    if abi < 2 {
        known &= !FS_REFER;
    }
    if abi < 3 {
        known &= !FS_TRUNCATE;
    }
    rights & known
}

fn scopes(abi: u32) -> u64 {
    if abi >= 6 { SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL } else { 0 }
}

/// Whether this kernel scopes abstract unix sockets and signals.
pub(super) fn scoped() -> bool {
    abi().is_some_and(|abi| scopes(abi) != 0)
}

fn fail(what: &str) -> SandboxError {
    SandboxError::io(format!("landlock: {what}"), std::io::Error::last_os_error())
}

/// A ruleset letting the program write only beneath `writable` (and the [`DEVICES`]); `None`
/// without Landlock.
pub(super) fn ruleset(writable: &[&Path]) -> Result<Option<OwnedFd>, SandboxError> {
    let Some(abi) = abi() else { return Ok(None) };
    let handled = supported(WRITES, abi);
    let attr = RulesetAttr { handled_access_fs: handled, handled_access_net: 0, scoped: scopes(abi) };
    // SAFETY: attr is a live ruleset attribute of the size passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            &attr as *const RulesetAttr,
            std::mem::size_of::<RulesetAttr>(),
            0u32,
        )
    };
    let fd = i32::try_from(fd).ok().filter(|&fd| fd >= 0).ok_or_else(|| fail("creating a ruleset"))?;
    // SAFETY: a fresh descriptor the kernel just gave us.
    let ruleset = unsafe { OwnedFd::from_raw_fd(fd) };
    for dir in writable {
        allow(&ruleset, dir, handled)?;
    }
    for device in DEVICES.iter().map(Path::new).filter(|d| d.exists()) {
        allow(&ruleset, device, handled & FILE_RIGHTS)?;
    }
    Ok(Some(ruleset))
}

fn allow(ruleset: &OwnedFd, path: &Path, rights: u64) -> Result<(), SandboxError> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| SandboxError::InvalidOptions(format!("{} contains a NUL byte", path.display())))?;
    // SAFETY: an O_PATH open of a NUL-terminated path; the descriptor is owned right away.
    let raw = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC | libc::O_NOFOLLOW) };
    if raw < 0 {
        return Err(fail(&format!("opening {}", path.display())));
    }
    // SAFETY: as above.
    let parent = unsafe { OwnedFd::from_raw_fd(raw) };
    let rule = PathBeneathAttr { allowed_access: rights, parent_fd: parent.as_raw_fd() };
    // SAFETY: rule is a live path-beneath attribute; both descriptors are ours.
    let r = unsafe {
        libc::syscall(
            libc::SYS_landlock_add_rule,
            ruleset.as_raw_fd(),
            RULE_PATH_BENEATH,
            &rule as *const PathBeneathAttr,
            0u32,
        )
    };
    if r != 0 {
        return Err(fail(&format!("allowing writes beneath {}", path.display())));
    }
    Ok(())
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn rights_follow_the_abi() {
        assert_eq!(supported(WRITES, 1) & (FS_REFER | FS_TRUNCATE), 0);
        assert_eq!(supported(WRITES, 3), WRITES);
        assert_eq!(supported(WRITES, 7) & FILE_RIGHTS, FS_WRITE_FILE | FS_TRUNCATE);
        assert_eq!(scopes(5), 0);
        assert_eq!(scopes(6), SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL);
    }
}
