//! Raw syscall helpers for code that must not allocate: the zygote, init and the program's
//! last steps before `execve`.

use std::ffi::{CStr, CString};
use std::ptr;

use libc::{c_char, c_int, c_long, c_ulong};

use super::Failure;
use super::wire::{self, Kind};

const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub(in crate::sandbox) const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub(in crate::sandbox) const MOUNT_ATTR_NODEV: u64 = 0x4;
pub(in crate::sandbox) const MOUNT_ATTR_NOEXEC: u64 = 0x8;

pub(in crate::sandbox) fn errno() -> c_int {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

pub(super) fn check(r: c_long, stage: i64, index: i64) -> Result<c_long, Failure> {
    if r < 0 { Err((stage, index, errno())) } else { Ok(r) }
}

pub(super) fn send(fd: c_int, msg: &[i64; wire::MSG_WORDS]) -> bool {
    let bytes = wire::encode_msg(msg);
    // SAFETY: bytes is a live buffer of the given length.
    let n = unsafe { libc::send(fd, bytes.as_ptr().cast(), bytes.len(), libc::MSG_NOSIGNAL) };
    n == bytes.len() as isize
}

pub(super) fn send_failure(fd: c_int, (stage, index, e): Failure) -> bool {
    let mut m = [0i64; wire::MSG_WORDS];
    m[0] = Kind::Setup as i64;
    m[1] = stage;
    m[2] = index;
    m[3] = i64::from(e);
    send(fd, &m)
}

pub(super) fn exit(code: c_int) -> ! {
    // SAFETY: _exit never returns and is async-signal-safe.
    unsafe { libc::_exit(code) }
}

/// `clone3`'s arguments (`struct clone_args`, up to `cgroup`: kernel 5.7).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `fork` into the cgroup v2 directory open at `dir`, with no migration afterwards: the child's
/// pid, 0 in the child, or the errno (clone3 refused by an older kernel or a seccomp profile).
pub(in crate::sandbox) fn fork_into_cgroup(dir: c_int) -> Result<libc::pid_t, c_int> {
    let args = CloneArgs {
        flags: CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: dir as u64,
        ..CloneArgs::default()
    };
    // SAFETY: with no stack the child continues on a copy of ours, like fork(2); args is live.
    let r = unsafe { libc::syscall(libc::SYS_clone3, &args as *const CloneArgs, std::mem::size_of::<CloneArgs>()) };
    if r < 0 { Err(errno()) } else { Ok(r as libc::pid_t) }
}

/// `fork` as a raw `clone`: no atfork handlers, and namespace flags are possible.
pub(super) fn raw_fork(flags: c_int) -> c_long {
    // SAFETY: with a null stack the child continues on a copy of ours, like fork(2).
    unsafe { libc::syscall(libc::SYS_clone, (flags | libc::SIGCHLD) as c_ulong, 0usize, 0usize, 0usize, 0usize) }
}

/// Default dispositions and an empty mask. The zygote inherits the runner thread's: an ignored
/// SIGCHLD would make children vanish without a wait status.
pub(super) fn reset_signals() {
    // SAFETY: signal(2) and sigprocmask(2) on a local set.
    unsafe {
        for sig in 1..=libc::SIGRTMAX() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, ptr::null_mut());
    }
}

pub(super) fn close_from(first: c_int) {
    close_range(first, c_int::MAX);
}

/// Closes the descriptors `first..=last`.
pub(super) fn close_range(first: c_int, last: c_int) {
    if first > last {
        return;
    }
    // SAFETY: close_range only closes descriptors.
    let r = unsafe { libc::syscall(libc::SYS_close_range, first as u32, last as u32, 0u32) };
    if r != 0 {
        // Kernels before 5.9: close one by one up to the fd limit.
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: lim is a valid out pointer.
        let max = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
            lim.rlim_cur.min(1 << 20) as c_int
        } else {
            65536
        };
        for fd in first..max.min(last.saturating_add(1)) {
            // SAFETY: closing a descriptor number.
            unsafe { libc::close(fd) };
        }
    }
}

pub(super) fn write_all(fd: c_int, mut data: &[u8]) -> Result<(), c_int> {
    while !data.is_empty() {
        // SAFETY: data is a live slice.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n < 0 {
            let e = errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        data = data.get(n as usize..).unwrap_or(&[]);
    }
    Ok(())
}

pub(super) fn write_file(path: &CStr, data: &[u8]) -> Result<(), c_int> {
    // SAFETY: path is NUL-terminated.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(errno());
    }
    let r = write_all(fd, data);
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
    r
}

pub(super) fn opt_ptr(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(ptr::null(), |c| c.as_ptr())
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Makes a mount read-only (plus `attrs`), keeping the flags a user namespace may have locked.
pub(super) fn make_readonly(target: &CStr, recursive: bool, attrs: u64) -> Result<(), c_int> {
    let attr = MountAttr { attr_set: MOUNT_ATTR_RDONLY | attrs, attr_clr: 0, propagation: 0, userns_fd: 0 };
    let flags = libc::AT_SYMLINK_NOFOLLOW | if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: attr is a valid mount_attr of the size passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            target.as_ptr(),
            flags as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r == 0 {
        return Ok(());
    }
    if errno() != libc::ENOSYS {
        return Err(errno());
    }
    // Before Linux 5.12: a bind remount, which must repeat the flags already set (glibc's
    // statvfs copies them from the kernel's statfs, which reports them since Linux 2.6.36).
    // SAFETY: st is plain data and a valid out pointer; target is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::statvfs(target.as_ptr(), &mut st) } != 0 {
        return Err(errno());
    }
    let current = st.f_flag;
    let mut ms = libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY;
    for (st_flag, ms_flag) in [
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
    ] {
        if current & st_flag != 0 {
            ms |= ms_flag;
        }
    }
    for (attr, ms_flag) in
        [(MOUNT_ATTR_NOSUID, libc::MS_NOSUID), (MOUNT_ATTR_NODEV, libc::MS_NODEV), (MOUNT_ATTR_NOEXEC, libc::MS_NOEXEC)]
    {
        if attrs & attr != 0 {
            ms |= ms_flag;
        }
    }
    // SAFETY: all pointers are NUL-terminated or null.
    let r = unsafe { libc::mount(ptr::null(), target.as_ptr(), ptr::null(), ms, ptr::null()) };
    if r == 0 { Ok(()) } else { Err(errno()) }
}

pub(super) fn wait_child(pid: libc::pid_t) -> c_int {
    let mut status = 0;
    loop {
        // SAFETY: status is a valid out pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        if r == pid {
            return status;
        }
        if r < 0 && errno() != libc::EINTR {
            return 0x7f00; // "exited 127": the child is gone in a way we cannot tell
        }
    }
}

pub(super) fn close_all(fds: &[c_int]) {
    for &fd in fds {
        if fd >= 0 {
            // SAFETY: closing a descriptor we received.
            unsafe { libc::close(fd) };
        }
    }
}

pub(super) fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64).saturating_mul(1_000_000_000) + ts.tv_nsec as u64
}

pub(super) fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}
