//! The program's side of the fork: stdio and extra fds, rlimits, credentials, seccomp, then
//! `execve`.

use std::ffi::CStr;
use std::ptr;

use libc::{c_char, c_int};

use super::sys::*;
use super::wire::{self, Request};
use super::{Plan, Rlimit, stage};
use crate::sandbox::MAX_EXTRA_FDS;

/// In the program: the first of its extra fds.
const EXTRA_FD: c_int = 3;
/// In the program before execve: the pipe on which an exec failure is reported (close-on-exec).
const ERR_FD: c_int = EXTRA_FD + MAX_EXTRA_FDS as c_int;
/// In the program before execve: the run's Landlock ruleset, if it has one.
const LANDLOCK_FD: c_int = ERR_FD + 1;

/// The program's side of the fork: set up and execve, or report why not on `errw`.
pub(super) fn exec_program(
    plan: &Plan,
    req: &Request,
    fds: &[c_int; wire::MAX_REQUEST_FDS],
    errw: c_int,
    argv: &[*const c_char],
    envp: &[*const c_char],
    path_buf: &mut [u8],
) -> ! {
    place_fds(req, fds, errw);
    // SAFETY: plain syscalls.
    unsafe {
        // Own process group: in degraded mode init kills the group first.
        libc::setsid();
        // Undo what the runner and init set: ignored or blocked signals survive execve.
        reset_signals();
        // What the program creates is its own: where directories are shared (no mount
        // namespace), nothing it writes is readable by another job's uid unless it says so.
        libc::umask(0o077);
    }
    // The program is the OOM killer's first choice, before the runner, the zygote and init
    // (which as root in a container cannot lower their own scores): in a container's cgroup
    // the runner must live to report the memory limit.
    let _ = write_file(c"/proc/self/oom_score_adj", b"1000");
    let cpu_soft = req.cpu_ms.div_ceil(1000) + 1;
    let cpu = Rlimit { resource: libc::RLIMIT_CPU, soft: cpu_soft, hard: cpu_soft + 1 };
    for lim in plan.rlimits.iter().chain(std::iter::once(&cpu)) {
        let rl = libc::rlimit { rlim_cur: lim.soft, rlim_max: lim.hard };
        // SAFETY: rl is a valid rlimit.
        if unsafe { libc::setrlimit(lim.resource, &rl) } != 0 {
            fail(stage::RLIMIT, errno());
        }
    }
    if let Some((uid, gid)) = plan.creds {
        // Raw syscalls: glibc's wrappers would try to sync the ids across threads the host
        // had at fork time, which do not exist here.
        // SAFETY: credential syscalls with plain integer arguments.
        unsafe {
            if libc::syscall(libc::SYS_setgroups, 0usize, ptr::null::<libc::gid_t>()) != 0
                || libc::syscall(libc::SYS_setresgid, gid, gid, gid) != 0
                || libc::syscall(libc::SYS_setresuid, uid, uid, uid) != 0
            {
                fail(stage::CREDENTIALS, errno());
            }
        }
    }
    // As the program's uid: the work dir is its (or its group's) alone, and root in a container
    // has no CAP_DAC_OVERRIDE to enter it.
    // SAFETY: box_dir is NUL-terminated.
    if unsafe { libc::chdir(plan.box_dir.as_ptr()) } != 0 {
        fail(stage::CHDIR, errno());
    }
    // SAFETY: plain prctls. PDEATHSIG is reset by the credential change, so it comes after.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            fail(stage::SECCOMP, errno());
        }
        if req.landlock {
            if libc::syscall(libc::SYS_landlock_restrict_self, LANDLOCK_FD, 0u32) != 0 {
                fail(stage::LANDLOCK, errno());
            }
            libc::close(LANDLOCK_FD);
        }
    }
    for f in &plan.filters {
        if let Err(e) = seccompiler::apply_filter(f) {
            let code = match e {
                seccompiler::Error::Prctl(io) | seccompiler::Error::Seccomp(io) => {
                    io.raw_os_error().unwrap_or(libc::EINVAL)
                }
                _ => libc::EINVAL,
            };
            fail(stage::SECCOMP, code);
        }
    }
    let Some(&argv0) = argv.first() else { fail(stage::EXEC, libc::EINVAL) };
    // SAFETY: argv and envp are null-terminated arrays of pointers into the request buffer.
    let name = unsafe { CStr::from_ptr(argv0) }.to_bytes();
    if name.contains(&b'/') {
        // SAFETY: as above.
        unsafe { libc::execve(argv0, argv.as_ptr(), envp.as_ptr()) };
        fail(stage::EXEC, errno());
    }
    let mut seen_eacces = false;
    for dir in req.path.split(|&b| b == b':') {
        let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
        let total = dir.len() + 1 + name.len() + 1;
        let Some(dst) = path_buf.get_mut(..total) else {
            continue;
        };
        let (d, rest) = dst.split_at_mut(dir.len());
        d.copy_from_slice(dir);
        let (slash, rest) = rest.split_at_mut(1);
        slash[0] = b'/';
        let (n, nul) = rest.split_at_mut(name.len());
        n.copy_from_slice(name);
        nul[0] = 0;
        // SAFETY: path_buf now holds a NUL-terminated path.
        unsafe { libc::execve(path_buf.as_ptr().cast(), argv.as_ptr(), envp.as_ptr()) };
        match errno() {
            libc::EACCES => seen_eacces = true,
            libc::ENOENT | libc::ENOTDIR | libc::ELOOP | libc::ENAMETOOLONG => {}
            e => fail(stage::EXEC, e),
        }
    }
    fail(stage::EXEC, if seen_eacces { libc::EACCES } else { libc::ENOENT })
}

/// Puts stdio at 0-2, the extra fds at [`EXTRA_FD`]…, the error pipe at [`ERR_FD`] and the
/// ruleset at [`LANDLOCK_FD`], and closes every other fd. Received fds can sit on any of those
/// numbers, so each source first moves above them all, and only then are the targets filled.
fn place_fds(req: &Request, fds: &[c_int; wire::MAX_REQUEST_FDS], errw: c_int) {
    const ABOVE: c_int = LANDLOCK_FD + 1;
    let mut moved = [-1 as c_int; wire::MAX_REQUEST_FDS];
    // SAFETY: descriptor juggling on fds we own.
    unsafe {
        let err = libc::fcntl(errw, libc::F_DUPFD_CLOEXEC, ABOVE);
        if err < 0 {
            exit(127);
        }
        for (m, &fd) in moved.iter_mut().zip(fds).take(req.fds()) {
            *m = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, ABOVE);
            if *m < 0 {
                report(err, stage::DUP, errno());
            }
        }
        if libc::dup3(err, ERR_FD, libc::O_CLOEXEC) < 0 {
            report(err, stage::DUP, errno());
        }
        // dup2 clears close-on-exec: these are the program's.
        let extras = moved.iter().skip(wire::REQUEST_FDS).take(req.extra);
        let targets = (0..3).chain(EXTRA_FD..);
        for (&fd, target) in moved.iter().take(3).chain(extras).zip(targets) {
            if libc::dup2(fd, target) < 0 {
                fail(stage::DUP, errno());
            }
        }
        let ruleset = moved.get(req.landlock_index()).copied().unwrap_or(-1);
        if req.landlock && libc::dup3(ruleset, LANDLOCK_FD, libc::O_CLOEXEC) < 0 {
            fail(stage::DUP, errno());
        }
    }
    close_range(EXTRA_FD + req.extra as c_int, ERR_FD - 1);
    close_from(if req.landlock { ABOVE } else { ERR_FD + 1 });
}

/// Reports a failed program setup to init (through the close-on-exec pipe) and exits.
fn fail(stage: i64, e: c_int) -> ! {
    report(ERR_FD, stage, e)
}

/// [`fail`] through the error pipe at `fd`, for while it is not yet at [`ERR_FD`].
fn report(fd: c_int, stage: i64, e: c_int) -> ! {
    let msg = [stage as c_int, e];
    // SAFETY: writing 8 bytes from a local array to our error pipe.
    unsafe { libc::write(fd, msg.as_ptr().cast(), 8) };
    exit(127)
}
