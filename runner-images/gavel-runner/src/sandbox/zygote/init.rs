//! Each run's init: forks the program, enforces the wall limit, kills and reaps what is left.

use std::ffi::CStr;
use std::ptr;

use libc::{c_char, c_int, c_long};

use super::exec::exec_program;
use super::root::per_run_mounts;
use super::sys::*;
use super::wire::{self, Kind, Request};
use super::{CTRL_FD, Failure, Plan, cause, stage};

/// A run's init: pid 1 of the run's PID namespace (full) or a session leader + subreaper
/// (degraded). Forks the program, enforces the wall limit, kills everything left, reports.
pub(super) fn init_main(
    plan: &Plan,
    req: &Request,
    fds: &[c_int; wire::MAX_REQUEST_FDS],
    argv: &[*const c_char],
    envp: &[*const c_char],
    path_buf: &mut [u8],
) -> ! {
    match init_run(plan, req, fds, argv, envp, path_buf) {
        Ok(msg) => {
            send(CTRL_FD, &msg);
        }
        Err(f) => {
            send_failure(CTRL_FD, f);
        }
    }
    exit(0)
}

fn init_run(
    plan: &Plan,
    req: &Request,
    fds: &[c_int; wire::MAX_REQUEST_FDS],
    argv: &[*const c_char],
    envp: &[*const c_char],
    path_buf: &mut [u8],
) -> Result<[i64; wire::MSG_WORDS], Failure> {
    let per_run_ns = plan.per_run_namespaces();
    // SAFETY: plain syscalls.
    unsafe {
        libc::prctl(libc::PR_SET_NAME, c"gavel-init".as_ptr(), 0, 0, 0);
    }
    if per_run_ns {
        per_run_mounts(plan, !req.writable_box)?;
    } else {
        // SAFETY: plain syscalls.
        unsafe {
            check(libc::setsid() as c_long, stage::SESSION, 0)?;
            // Orphans of the program are re-parented to us, so we can find and kill them.
            check(libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) as c_long, stage::SESSION, 1)?;
        }
    }
    // SIGCHLD arrives through a signalfd so one poll covers children, the kill pipe and time.
    // SAFETY: sigset operations on a local set.
    let sfd = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        check(libc::sigprocmask(libc::SIG_BLOCK, &set, ptr::null_mut()) as c_long, stage::SIGNALS, 0)?;
        check(libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) as c_long, stage::SIGNALS, 1)? as c_int
    };
    let mut errpipe = [0 as c_int; 2];
    // SAFETY: errpipe is a valid array of two ints.
    check(unsafe { libc::pipe2(errpipe.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } as c_long, stage::PIPE, 0)?;
    let start = monotonic_ns();
    let child = check(raw_fork(0), stage::FORK, 0)? as libc::pid_t;
    if child == 0 {
        exec_program(plan, req, fds, errpipe[1], argv, envp, path_buf);
    }
    // SAFETY: closing our copies of all but the kill pipe, so EOF and EPIPE reach the host (or the
    // run at the other end of a connected stdio) when the program is done.
    unsafe {
        libc::close(errpipe[1]);
        for (i, &fd) in fds.iter().enumerate() {
            if i != wire::KILL_INDEX && fd >= 0 {
                libc::close(fd);
            }
        }
    }
    let kill_fd = fds[wire::KILL_INDEX];
    let deadline = start.saturating_add(req.wall_ms.saturating_mul(1_000_000));
    let mut why = cause::NONE;
    let mut status: Option<c_int> = None;
    let mut end = start;
    while status.is_none() {
        let now = monotonic_ns();
        if now >= deadline && why == cause::NONE {
            why = cause::WALL;
            kill_rest(per_run_ns, child);
        }
        let timeout =
            if why == cause::NONE { ((deadline - now).div_ceil(1_000_000)).min(i32::MAX as u64) as c_int } else { -1 };
        let mut pfd = [
            libc::pollfd { fd: sfd, events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: if why == cause::NONE { kill_fd } else { -1 }, events: libc::POLLIN, revents: 0 },
        ];
        // SAFETY: pfd is a live array.
        let r = unsafe { libc::poll(pfd.as_mut_ptr(), 2, timeout) };
        if r < 0 && errno() != libc::EINTR {
            return Err((stage::SIGNALS, 2, errno()));
        }
        if pfd[1].revents != 0 {
            why = cause::HOST;
            kill_rest(per_run_ns, child);
        }
        if pfd[0].revents != 0 {
            let mut info = [0u8; 128];
            // SAFETY: draining the signalfd into a stack buffer.
            while unsafe { libc::read(sfd, info.as_mut_ptr().cast(), info.len()) } > 0 {}
        }
        loop {
            let mut st = 0;
            // SAFETY: st is a valid out pointer.
            let r = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG | libc::__WALL) };
            if r <= 0 {
                break;
            }
            if r == child {
                end = monotonic_ns();
                status = Some(st);
            }
        }
    }
    // The program is done: whatever it left behind dies now and is reaped.
    kill_and_reap_all(per_run_ns, child);
    let mut failed = [0 as c_int; 2];
    // SAFETY: reading at most 8 bytes into a local array.
    let n = unsafe { libc::read(errpipe[0], failed.as_mut_ptr().cast(), 8) };
    if n == 8 {
        let mut m = [0i64; wire::MSG_WORDS];
        m[0] = Kind::ExecFailed as i64;
        m[1] = i64::from(failed[0]);
        m[3] = i64::from(failed[1]);
        return Ok(m);
    }
    // SAFETY: rusage is plain data and a valid out pointer.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let tv_us = |tv: libc::timeval| tv.tv_sec * 1_000_000 + tv.tv_usec;
    let mut m = [0i64; wire::MSG_WORDS];
    m[0] = Kind::Done as i64;
    m[1] = i64::from(status.unwrap_or(0));
    m[2] = why;
    m[3] = end.saturating_sub(start) as i64;
    m[4] = tv_us(ru.ru_utime) + tv_us(ru.ru_stime);
    m[5] = ru.ru_maxrss;
    Ok(m)
}

/// Kills and reaps every remaining process of the run. Each pass reaps all children that are
/// already dead before killing again, so a tree of thousands (a fork bomb) costs linear time.
fn kill_and_reap_all(per_run_ns: bool, program: libc::pid_t) {
    loop {
        kill_rest(per_run_ns, program);
        let mut reaped = false;
        loop {
            let mut st = 0;
            // SAFETY: st is a valid out pointer.
            let r = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG | libc::__WALL) };
            if r > 0 {
                reaped = true;
            } else if r == 0 {
                break;
            } else if errno() != libc::EINTR {
                return; // ECHILD: nothing left
            }
        }
        if !reaped {
            // Only live children remain: wait for one to die (they are all being killed).
            let mut st = 0;
            // SAFETY: st is a valid out pointer.
            let r = unsafe { libc::waitpid(-1, &mut st, libc::__WALL) };
            if r < 0 && errno() == libc::ECHILD {
                return;
            }
        }
    }
}

/// Kills every process of the run except init itself.
fn kill_rest(per_run_ns: bool, program: libc::pid_t) {
    // SAFETY: signals only; in a PID namespace kill(-1) reaches exactly the run's processes.
    unsafe {
        if per_run_ns {
            libc::kill(-1, libc::SIGKILL);
            return;
        }
        libc::kill(-program, libc::SIGKILL);
    }
    for_each_child(|pid| {
        // SAFETY: pid is our child (or re-parented orphan): a process of this run.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    });
}

/// Calls `f` with each child pid of this (single-threaded) process.
fn for_each_child(mut f: impl FnMut(libc::pid_t)) {
    // SAFETY: reading a proc file into a stack buffer.
    let fd = unsafe { libc::open(c"/proc/thread-self/children".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd >= 0 {
        let mut buf = [0u8; 1024];
        let mut cur: Option<libc::pid_t> = None;
        loop {
            // SAFETY: buf is a live stack buffer.
            let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            let Some(chunk) = usize::try_from(n).ok().filter(|&n| n > 0).and_then(|n| buf.get(..n)) else {
                break;
            };
            for &b in chunk {
                if b.is_ascii_digit() {
                    cur = Some(cur.unwrap_or(0).wrapping_mul(10).wrapping_add(i32::from(b - b'0')));
                } else if let Some(pid) = cur.take() {
                    f(pid);
                }
            }
        }
        if let Some(pid) = cur {
            f(pid);
        }
        // SAFETY: fd is ours.
        unsafe { libc::close(fd) };
        return;
    }
    scan_proc_for_children(f);
}

/// Fallback without `/proc/<pid>/task/<tid>/children`: every process whose parent is us.
fn scan_proc_for_children(mut f: impl FnMut(libc::pid_t)) {
    // SAFETY: plain syscalls on our own descriptors and stack buffers.
    unsafe {
        let me = libc::getpid();
        let dir = libc::open(c"/proc".as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC);
        if dir < 0 {
            return;
        }
        let mut ents = [0u64; 512];
        loop {
            let n = libc::syscall(libc::SYS_getdents64, dir, ents.as_mut_ptr(), std::mem::size_of_val(&ents));
            if n <= 0 {
                break;
            }
            let base = ents.as_ptr().cast::<u8>();
            let mut off = 0usize;
            while off < n as usize {
                let d = base.add(off).cast::<libc::dirent64>();
                let reclen = ptr::read_unaligned(ptr::addr_of!((*d).d_reclen)) as usize;
                let name = CStr::from_ptr(ptr::addr_of!((*d).d_name).cast::<c_char>());
                if let Some(pid) = parse_pid(name.to_bytes())
                    && parent_of(dir, name) == Some(me)
                {
                    f(pid);
                }
                if reclen == 0 {
                    break;
                }
                off += reclen;
            }
        }
        libc::close(dir);
    }
}

fn parse_pid(s: &[u8]) -> Option<libc::pid_t> {
    parse_u64(s).and_then(|v| libc::pid_t::try_from(v).ok())
}

/// The parent pid from `/proc/<name>/stat`, opened relative to the `/proc` directory fd.
fn parent_of(proc_dir: c_int, name: &CStr) -> Option<libc::pid_t> {
    let mut path = [0u8; 64];
    let suffix = b"/stat\0";
    let bytes = name.to_bytes();
    let total = bytes.len() + suffix.len();
    path.get_mut(..bytes.len())?.copy_from_slice(bytes);
    path.get_mut(bytes.len()..total)?.copy_from_slice(suffix);
    let mut buf = [0u8; 512];
    // SAFETY: path is NUL-terminated; buf is a live stack buffer.
    let n = unsafe {
        let fd = libc::openat(proc_dir, path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return None;
        }
        let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        libc::close(fd);
        n
    };
    let text = buf.get(..usize::try_from(n).ok()?)?;
    let close = text.iter().rposition(|&b| b == b')')?;
    // ") S PPID ..."
    let rest = text.get(close + 2..)?;
    let mut parts = rest.split(|&b| b == b' ');
    parts.next()?;
    parse_pid(parts.next()?)
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn parse_pid_rejects_non_numbers() {
        assert_eq!(parse_pid(b"123"), Some(123));
        assert_eq!(parse_pid(b"self"), None);
        assert_eq!(parse_pid(b""), None);
        assert_eq!(parse_pid(b"99999999999999"), None);
    }
}
