//! The host side of a run: pipes, the request, a poll loop that feeds stdin, reads capped
//! stdout/stderr and watches the cgroup's CPU usage, then the outcome.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant};

use super::cgroup::{Before, JobCgroup, Usage, oom_kills_in};
use super::wire::{self, Kind, MSG_WORDS, REQUEST_FDS};
use super::zygote::{cause, stage, stage_name};
use super::{LimitHit, RunCommand, RunOutcome, SandboxError};

/// How long past its wall limit a run may take before the sandbox is declared hung.
const HUNG_AFTER: Duration = Duration::from_secs(10);
/// After the reply, remaining output is drained for at most this long.
const DRAIN: Duration = Duration::from_secs(1);

pub(super) enum ReadyError {
    Setup { stage: i64, index: i64, errno: i32 },
    Other(SandboxError),
}

fn last_err() -> io::Error {
    io::Error::last_os_error()
}

fn gone(what: &str) -> SandboxError {
    SandboxError::ZygoteGone(what.to_string())
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(last_err());
    }
    // SAFETY: pipe2 returned two fresh fds that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(last_err());
        }
    }
    Ok(())
}

/// Receives one reply; `None` when the zygote closed the socket.
fn recv_msg(ctrl: &OwnedFd) -> io::Result<Option<[i64; MSG_WORDS]>> {
    let mut buf = [0u8; MSG_WORDS * 8];
    loop {
        // SAFETY: buf is a live buffer of the given length.
        let n = unsafe { libc::recv(ctrl.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            let e = last_err();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Ok(None);
        }
        return wire::decode_msg(buf.get(..n as usize).unwrap_or(&[]))
            .map(Some)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "malformed reply"));
    }
}

/// Waits until `fd` is readable (true) or the timeout passes (false).
pub(super) fn poll_readable(fd: RawFd, timeout: Duration) -> io::Result<bool> {
    let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    loop {
        // SAFETY: p is a live pollfd.
        let r = unsafe { libc::poll(&mut p, 1, ms) };
        if r >= 0 {
            return Ok(r > 0);
        }
        let e = last_err();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// Waits for the zygote's "ready" (or the reason it is not).
pub(super) fn wait_ready(ctrl: &OwnedFd, timeout: Duration) -> Result<(), ReadyError> {
    let other = |e: SandboxError| Err(ReadyError::Other(e));
    match poll_readable(ctrl.as_raw_fd(), timeout) {
        Ok(true) => {}
        Ok(false) => return other(gone("no answer during setup")),
        Err(e) => return other(SandboxError::io("poll", e)),
    }
    match recv_msg(ctrl) {
        Ok(Some(m)) => match Kind::from_word(m[0]) {
            Some(Kind::Ready) => Ok(()),
            Some(Kind::Setup) => Err(ReadyError::Setup { stage: m[1], index: m[2], errno: m[3] as i32 }),
            _ => other(gone("unexpected message during setup")),
        },
        Ok(None) => other(gone("exited during setup")),
        Err(e) => other(SandboxError::io("receive from zygote", e)),
    }
}

fn send_request(ctrl: &OwnedFd, payload: &[u8], fds: [RawFd; REQUEST_FDS]) -> io::Result<()> {
    let mut control = [0u64; 8];
    let fd_bytes = std::mem::size_of_val(&fds);
    let mut iov = libc::iovec { iov_base: payload.as_ptr().cast_mut().cast(), iov_len: payload.len() };
    // SAFETY: msghdr is plain data; every pointer set below is to a live buffer, and the control
    // buffer (64 bytes, u64-aligned) holds CMSG_SPACE(16).
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(fd_bytes as u32) as usize;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null() {
            return Err(io::Error::other("no room for SCM_RIGHTS"));
        }
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(fd_bytes as u32) as usize;
        std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(cmsg).cast::<RawFd>(), fds.len());
        loop {
            let n = libc::sendmsg(ctrl.as_raw_fd(), &msg, libc::MSG_NOSIGNAL);
            if n >= 0 {
                return Ok(());
            }
            let e = last_err();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(e);
            }
        }
    }
}

/// Blocks SIGPIPE in this thread while we write the program's stdin, and swallows one raised
/// meanwhile: a closed stdin must be an EPIPE for us, not the death of the runner.
struct SigpipeBlocked {
    old: libc::sigset_t,
}

impl SigpipeBlocked {
    fn new() -> SigpipeBlocked {
        // SAFETY: signal-set manipulation on local sets; pthread_sigmask affects this thread only.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGPIPE);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
            SigpipeBlocked { old }
        }
    }
}

impl Drop for SigpipeBlocked {
    fn drop(&mut self) {
        // SAFETY: as above; sigtimedwait with a zero timeout only consumes a pending SIGPIPE.
        unsafe {
            let mut pending: libc::sigset_t = std::mem::zeroed();
            libc::sigpending(&mut pending);
            if libc::sigismember(&pending, libc::SIGPIPE) == 1 && libc::sigismember(&self.old, libc::SIGPIPE) == 0 {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGPIPE);
                let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
                libc::sigtimedwait(&set, std::ptr::null_mut(), &zero);
            }
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut());
        }
    }
}

/// A capped output stream.
struct Capture {
    fd: Option<OwnedFd>,
    data: Vec<u8>,
    cap: usize,
    truncated: bool,
}

impl Capture {
    fn new(fd: OwnedFd, cap: u64) -> Capture {
        Capture { fd: Some(fd), data: Vec::new(), cap: usize::try_from(cap).unwrap_or(usize::MAX), truncated: false }
    }

    /// Reads what is available. Returns true when the cap was exceeded just now.
    fn read(&mut self, buf: &mut [u8]) -> bool {
        let Some(fd) = &self.fd else {
            return false;
        };
        loop {
            // SAFETY: buf is a live buffer.
            let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                let e = last_err().raw_os_error();
                if e == Some(libc::EINTR) {
                    continue;
                }
                if e != Some(libc::EAGAIN) {
                    self.fd = None;
                }
                return false;
            }
            if n == 0 {
                self.fd = None;
                return false;
            }
            let chunk = buf.get(..n as usize).unwrap_or(&[]);
            let room = self.cap.saturating_sub(self.data.len());
            if chunk.len() > room {
                self.data.extend_from_slice(chunk.get(..room).unwrap_or(&[]));
                self.truncated = true;
                // Stop reading: the program is being killed, and it must not make us buffer more.
                self.fd = None;
                return true;
            }
            self.data.extend_from_slice(chunk);
            return false;
        }
    }
}

struct Stdin<'a> {
    fd: Option<OwnedFd>,
    data: &'a [u8],
}

impl Stdin<'_> {
    fn write(&mut self) {
        let Some(fd) = &self.fd else {
            return;
        };
        // At most one pipe-buffer's worth per call; poll says when there is room again.
        let chunk = self.data.get(..self.data.len().min(1 << 16)).unwrap_or(&[]);
        // SAFETY: chunk is a live slice.
        let n = unsafe { libc::write(fd.as_raw_fd(), chunk.as_ptr().cast(), chunk.len()) };
        if n < 0 {
            let e = last_err().raw_os_error();
            // EPIPE: the program closed stdin or exited; the rest is simply not wanted.
            if e != Some(libc::EAGAIN) && e != Some(libc::EINTR) {
                self.fd = None;
            }
            return;
        }
        self.data = self.data.get(n as usize..).unwrap_or(&[]);
        if self.data.is_empty() {
            self.fd = None; // EOF for the program
        }
    }
}

/// Per-run cgroup bookkeeping.
struct Accounting<'a> {
    cgroup: &'a mut JobCgroup,
    before: Before,
}

/// Runs one request through the zygote.
/// Without a job cgroup, `ambient_oom` is the file counting OOM kills in the cgroup we run in
/// (see [`super::cgroup::ambient_oom_events`]).
pub(super) fn execute(
    ctrl: &OwnedFd,
    cgroup: Option<&mut JobCgroup>,
    ambient_oom: Option<&Path>,
    memory_bytes: u64,
    cmd: &RunCommand,
    request: &[u8],
) -> Result<RunOutcome, SandboxError> {
    let fail = |what: &str| {
        let what = what.to_string();
        move |e| SandboxError::io(what, e)
    };
    let (stdin_r, stdin_w) = pipe().map_err(fail("pipe"))?;
    let (stdout_r, stdout_w) = pipe().map_err(fail("pipe"))?;
    let (stderr_r, stderr_w) = pipe().map_err(fail("pipe"))?;
    let (kill_r, kill_w) = pipe().map_err(fail("pipe"))?;
    for fd in [&stdin_w, &stdout_r, &stderr_r] {
        set_nonblocking(fd).map_err(fail("fcntl"))?;
    }
    let acct = match cgroup {
        Some(cgroup) => {
            let before = cgroup.begin_run().map_err(fail("cgroup"))?;
            Some(Accounting { cgroup, before })
        }
        None => None,
    };
    let ambient_before = ambient_oom.and_then(oom_kills_in);
    let _sigpipe = SigpipeBlocked::new();
    send_request(ctrl, request, [stdin_r.as_raw_fd(), stdout_w.as_raw_fd(), stderr_w.as_raw_fd(), kill_r.as_raw_fd()])
        .map_err(|e| gone(&format!("sending the request: {e}")))?;
    // Only the zygote's copies may remain, so EOF and EPIPE mean the program's side closed.
    drop((stdin_r, stdout_w, stderr_w, kill_r));

    let started = Instant::now();
    let hung_at = started + Duration::from_millis(cmd.wall_time_ms) + HUNG_AFTER;
    let cpu_limit_ns = cmd.cpu_time_ms.saturating_mul(1_000_000);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let mut kill_w = Some(kill_w);
    let mut host_cause: Option<LimitHit> = None;
    let mut out = Capture::new(stdout_r, cmd.output_bytes);
    let mut err = Capture::new(stderr_r, cmd.output_bytes);
    let mut stdin = Stdin { fd: (!cmd.stdin.is_empty()).then_some(stdin_w), data: &cmd.stdin };
    let mut reply: Option<[i64; MSG_WORDS]> = None;
    let mut drain_until: Option<Instant> = None;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        if reply.is_some() && out.fd.is_none() && err.fd.is_none() {
            break;
        }
        let now = Instant::now();
        if drain_until.is_some_and(|d| now >= d) {
            break;
        }
        if reply.is_none() && now >= hung_at {
            return Err(SandboxError::Hung(HUNG_AFTER.as_millis() as u64));
        }
        let raw = |f: &Option<OwnedFd>| f.as_ref().map_or(-1, |f| f.as_raw_fd());
        let mut fds = [
            libc::pollfd { fd: if reply.is_none() { ctrl.as_raw_fd() } else { -1 }, events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: raw(&out.fd), events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: raw(&err.fd), events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: if reply.is_none() { raw(&stdin.fd) } else { -1 }, events: libc::POLLOUT, revents: 0 },
        ];
        let mut timeout = match drain_until {
            Some(d) => d - now,
            None => hung_at - now,
        };
        // CPU can be used at most `cpus` times faster than wall time: check again when the
        // limit could first have been reached.
        if let (Some(a), None, None) = (&acct, &reply, &host_cause) {
            let used = a.cgroup.cpu_ns().map_or(0, |n| n.saturating_sub(a.before.cpu_ns));
            if used >= cpu_limit_ns {
                host_cause = Some(LimitHit::CpuTime);
                kill_w = None;
                continue;
            }
            let wait = Duration::from_nanos((cpu_limit_ns - used) / cpus)
                .clamp(Duration::from_millis(2), Duration::from_millis(100));
            timeout = timeout.min(wait);
        }
        let ms = timeout.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: fds is a live array.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if r < 0 {
            let e = last_err();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(SandboxError::io("poll", e));
        }
        if fds[1].revents != 0 && out.read(&mut buf) || fds[2].revents != 0 && err.read(&mut buf) {
            host_cause.get_or_insert(LimitHit::Output);
            kill_w = None;
        }
        if fds[3].revents != 0 {
            stdin.write();
        }
        if fds[0].revents != 0 {
            match recv_msg(ctrl) {
                Ok(Some(m)) => {
                    reply = Some(m);
                    stdin.fd = None;
                    drain_until = Some(Instant::now() + DRAIN);
                }
                Ok(None) => return Err(gone("exited during a run")),
                Err(e) => return Err(SandboxError::io("receive from zygote", e)),
            }
        }
    }
    drop(kill_w);
    let Some(reply) = reply else {
        return Err(gone("no reply"));
    };
    let usage = match acct {
        Some(a) => Some(a.cgroup.end_run(a.before).map_err(fail("cgroup"))?),
        None => None,
    };
    let ambient_kills = match (ambient_oom.and_then(oom_kills_in), ambient_before) {
        (Some(after), Some(before)) => after.saturating_sub(before),
        _ => 0,
    };
    let program = cmd.argv.first().cloned().unwrap_or_default();
    match Kind::from_word(reply[0]) {
        Some(Kind::Done) => Ok(outcome(&reply, usage, ambient_kills, host_cause, cmd, memory_bytes, (out, err))),
        Some(Kind::ExecFailed) => Err(SandboxError::Exec {
            program,
            step: stage_name(reply[1]),
            source: io::Error::from_raw_os_error(reply[3] as i32),
        }),
        Some(Kind::Setup) => Err(SandboxError::Setup {
            step: if reply[1] == stage::INIT_DIED {
                format!("{} (wait status {})", stage_name(reply[1]), reply[2])
            } else {
                stage_name(reply[1]).to_string()
            },
            source: io::Error::from_raw_os_error(reply[3] as i32),
        }),
        _ => Err(gone("unexpected reply")),
    }
}

fn outcome(
    reply: &[i64; MSG_WORDS],
    usage: Option<Usage>,
    ambient_kills: u64,
    host_cause: Option<LimitHit>,
    cmd: &RunCommand,
    memory_bytes: u64,
    (out, err): (Capture, Capture),
) -> RunOutcome {
    let status = reply[1] as i32;
    let init_cause = reply[2];
    let wall_ns = reply[3].max(0) as u64;
    let rusage_cpu_ns = (reply[4].max(0) as u64).saturating_mul(1000);
    let maxrss_kb = reply[5].max(0) as u64;
    let cpu_ns = usage.map_or(rusage_cpu_ns, |u| u.cpu_ns);
    let peak = usage.and_then(|u| u.peak_bytes);
    let (exit_code, signal) = if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None)
    } else if libc::WIFSIGNALED(status) {
        (None, Some(libc::WTERMSIG(status)))
    } else {
        (None, None)
    };
    let facts = Facts {
        host_cause,
        wall_killed: init_cause == cause::WALL,
        cpu_over: cpu_ns >= cmd.cpu_time_ms.saturating_mul(1_000_000),
        oom_kills: usage.map_or(ambient_kills, |u| u.oom_kills),
        peak_at_limit: peak.is_some_and(|p| p.saturating_add(256 << 10) >= memory_bytes),
        exit_code,
        signal,
    };
    RunOutcome {
        exit_code,
        signal,
        cpu_time_ms: cpu_ns.div_ceil(1_000_000),
        wall_time_ms: wall_ns.div_ceil(1_000_000),
        memory_kb: peak.map_or(maxrss_kb, |p| p.div_ceil(1024)),
        stdout: out.data,
        stderr: err.data,
        stdout_truncated: out.truncated,
        stderr_truncated: err.truncated,
        limit: facts.limit(),
    }
}

/// What is known at the end of a run, for deciding which limit (if any) stopped it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Facts {
    pub host_cause: Option<LimitHit>,
    pub wall_killed: bool,
    pub cpu_over: bool,
    pub oom_kills: u64,
    pub peak_at_limit: bool,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
}

impl Facts {
    pub(super) fn limit(&self) -> Option<LimitHit> {
        // Whatever made us kill the run comes first; a wall-clock kill of a run that also spent
        // its CPU budget is a CPU limit (the more precise verdict).
        if let Some(c) = self.host_cause {
            return Some(c);
        }
        if self.wall_killed {
            return Some(if self.cpu_over { LimitHit::CpuTime } else { LimitHit::WallTime });
        }
        if self.oom_kills > 0 && self.exit_code != Some(0) {
            return Some(LimitHit::Memory);
        }
        if self.signal == Some(libc::SIGKILL) && self.peak_at_limit {
            return Some(LimitHit::Memory);
        }
        if self.cpu_over || self.signal == Some(libc::SIGXCPU) {
            return Some(LimitHit::CpuTime);
        }
        None
    }
}
