//! The zygote's life on the host side: its scratch dir, its fork and readiness, and its end;
//! and the runner's own strings, wiped where a program could read them.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::Duration;

use super::*;

/// Zeroes this process's command line and the values of `secret_vars` in its environment, as
/// `/proc/<pid>/cmdline` and `environ` show them. The runner calls it once it has read its
/// locations: in the degraded mode the program sees the host's `/proc`, and a presigned report
/// URL would let it forge its own report.
pub fn scrub_process_strings(secret_vars: &[&str]) {
    let Some([args, env]) = zygote::string_areas() else { return };
    zygote::zero(args);
    let (start, end) = env;
    let Some(len) = end.checked_sub(start).filter(|len| start > 0 && *len < (1 << 20)) else { return };
    // SAFETY: [start, end) is our own environment area as the kernel reports it; the strings
    // there are NUL-separated `NAME=value` entries, read before this and never after.
    let area = unsafe { std::slice::from_raw_parts_mut(start as *mut u8, len as usize) };
    for entry in area.split_mut(|&b| b == 0) {
        let secret = secret_vars
            .iter()
            .any(|name| entry.strip_prefix(name.as_bytes()).is_some_and(|rest| rest.first() == Some(&b'=')));
        if secret {
            entry.fill(0);
        }
    }
}

/// Lets a zygote finish (it reaps the last run's init, then sees EOF on its socket and exits),
/// so no process of the job outlives the sandbox; kills it if it does not exit promptly.
pub(super) fn stop_zygote(ctrl: Option<OwnedFd>, pid: libc::pid_t) {
    drop(ctrl);
    if pid <= 0 {
        return;
    }
    // SAFETY: pidfd_open on our unreaped child; the fd is owned right away.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if pidfd >= 0 {
        // SAFETY: a fresh fd nothing else owns.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as i32) };
        let _ = channel::poll_readable(pidfd.as_raw_fd(), Duration::from_secs(2));
    }
    // SAFETY: our unreaped child, so the pid cannot have been reused.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    reap(pid);
}

/// Waits for (reaps) one of our children.
pub(super) fn reap(pid: libc::pid_t) {
    let mut status = 0;
    // SAFETY: plain waitpid on our own child.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0
        && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
    {}
}

/// Creates a fresh private directory under the system temp dir.
pub(super) fn make_scratch(unique: &str, mode: u32) -> Result<PathBuf, SandboxError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let path = std::env::temp_dir().join(unique);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&path)
        .map_err(|e| SandboxError::io(format!("create {}", path.display()), e))?;
    // The mode is set after creation so the umask cannot narrow it.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| SandboxError::io(format!("chmod {}", path.display()), e))?;
    Ok(path)
}

/// Forks the zygote and waits until it reports ready (or why it could not be).
pub(super) fn spawn_zygote(plan: &Plan) -> Result<(OwnedFd, libc::pid_t), SandboxError> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints.
    let r = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) };
    if r != 0 {
        return Err(SandboxError::io("socketpair", std::io::Error::last_os_error()));
    }
    // SAFETY: socketpair returned two fresh fds that nothing else owns.
    let (host, child) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let mut buffers = zygote::Buffers::new();
    // SAFETY: getpid cannot fail.
    let runner = unsafe { libc::getpid() };
    // On v2 the zygote is forked into its job cgroup: joining it after (v1 can only join) waits
    // out an RCU grace period, 6-14 ms a job. Where clone3 is refused, it joins.
    let forked_in = plan.cgroup_dir.as_ref().and_then(|dir| zygote::fork_into_cgroup(dir.as_raw_fd()).ok());
    // SAFETY: the child runs only async-signal-safe code and allocates nothing (see zygote.rs), so
    // it needs none of what libc's fork resets (its locks, its list of threads), as init and the
    // program do not (raw clones of the zygote).
    let pid = forked_in.unwrap_or_else(|| unsafe { libc::fork() });
    if pid < 0 {
        return Err(SandboxError::io("fork", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        zygote::zygote_main(plan, child.as_raw_fd(), &mut buffers, runner, forked_in.is_some());
    }
    drop(child);
    let ready = channel::wait_ready(&host, Duration::from_secs(30));
    match ready {
        Ok(()) => Ok((host, pid)),
        Err(e) => {
            // SAFETY: our unreaped child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            reap(pid);
            Err(match e {
                channel::ReadyError::Setup { stage, index, errno } => SandboxError::Setup {
                    step: plan.describe_stage(stage, index),
                    source: std::io::Error::from_raw_os_error(errno),
                },
                channel::ReadyError::Other(e) => e,
            })
        }
    }
}
