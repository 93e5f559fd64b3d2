//! The host side of a run: pipes, the request, a poll loop that feeds stdin, reads capped
//! stdout/stderr (stderr only when stdio is connected elsewhere) and watches the cgroup's CPU
//! usage (or, without a cgroup, samples the run's memory), then the outcome.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant};

use super::cgroup::{Before, JobCgroup, Usage, oom_kills_in};
use super::channel::{gone, recv_msg, send_request};
use super::memwatch::{self, Tree};
use super::streams::{Arrivals, Capture, SigpipeBlocked, Stdin, pipe, set_nonblocking};
use super::wire::{Kind, MSG_WORDS};
use super::zygote::{cause, stage, stage_name};
use super::{LimitHit, RunCommand, RunFds, RunOutcome, SandboxError};
use gavel_core::runner::Stream;

/// How long past its wall limit a run may take before the sandbox is declared hung.
const HUNG_AFTER: Duration = Duration::from_secs(10);
/// After the reply, remaining output is drained for at most this long.
const DRAIN: Duration = Duration::from_secs(1);

/// Per-run cgroup bookkeeping.
struct Accounting<'a> {
    cgroup: &'a mut JobCgroup,
    before: Before,
}

/// What a run needs beside its command.
pub(super) struct Setup<'a> {
    pub ctrl: &'a OwnedFd,
    pub cgroup: Option<&'a mut JobCgroup>,
    /// Without a job cgroup: the file counting OOM kills in the cgroup we run in (see
    /// [`super::cgroup::ambient_oom_events`]).
    pub ambient_oom: Option<&'a Path>,
    /// Without a job cgroup: the zygote, whose run the memory watch samples, and the program's uid
    /// where its unix sockets are the runner's to see.
    pub watch: Option<(libc::pid_t, Option<u32>)>,
    /// The run's memory limit.
    pub memory_bytes: u64,
    /// The run's Landlock ruleset, sent with the request.
    pub landlock: Option<OwnedFd>,
    /// The caller's descriptors for the program, sent with the request.
    pub fds: RunFds,
}

/// Runs one request through the zygote.
pub(super) fn execute(setup: Setup<'_>, cmd: &RunCommand, request: &[u8]) -> Result<RunOutcome, SandboxError> {
    let Setup { ctrl, cgroup, ambient_oom, watch, memory_bytes, landlock, fds: RunFds { extra, stdio } } = setup;
    let fail = |what: &str| {
        let what = what.to_string();
        move |e| SandboxError::io(what, e)
    };
    // Connected stdio: the program's stdin and stdout are someone else's, and ours are `None`.
    let (stdin_r, stdin_w, stdout_r, stdout_w) = match stdio {
        Some((stdin_r, stdout_w)) => (stdin_r, None, None, stdout_w),
        None => {
            let (stdin_r, stdin_w) = pipe().map_err(fail("pipe"))?;
            let (stdout_r, stdout_w) = pipe().map_err(fail("pipe"))?;
            (stdin_r, Some(stdin_w), Some(stdout_r), stdout_w)
        }
    };
    let (stderr_r, stderr_w) = pipe().map_err(fail("pipe"))?;
    let (kill_r, kill_w) = pipe().map_err(fail("pipe"))?;
    for fd in [stdin_w.as_ref(), stdout_r.as_ref(), Some(&stderr_r)].into_iter().flatten() {
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
    // Merged: the program's fd 2 is its stdout pipe too, and the stderr pipe just ends.
    let stderr_to = if cmd.merge_stderr { &stdout_w } else { &stderr_w };
    let mut fds: Vec<RawFd> =
        vec![stdin_r.as_raw_fd(), stdout_w.as_raw_fd(), stderr_to.as_raw_fd(), kill_r.as_raw_fd()];
    fds.extend(extra.iter().map(AsRawFd::as_raw_fd));
    fds.extend(landlock.as_ref().map(AsRawFd::as_raw_fd));
    send_request(ctrl, request, &fds).map_err(|e| gone(&format!("sending the request: {e}")))?;
    // Only the zygote's copies may remain, so EOF and EPIPE mean the program's side closed.
    drop((stdin_r, stdout_w, stderr_w, kill_r, landlock, extra));

    let started = Instant::now();
    let hung_at = started + Duration::from_millis(cmd.wall_time_ms) + HUNG_AFTER;
    let cpu_limit_ns = cmd.cpu_time_ms.saturating_mul(1_000_000);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let mut kill_w = Some(kill_w);
    let mut host_cause: Option<LimitHit> = None;
    let mut out = Capture::new(stdout_r, cmd.output_bytes);
    let mut err = Capture::new(Some(stderr_r), cmd.output_bytes);
    // What both streams together may still take: what is left of the job's output budget.
    let mut room = cmd.combined_output_bytes;
    let mut arrivals = Arrivals::new(cmd.keep_order);
    let mut stdin = Stdin::new(stdin_w.filter(|_| !cmd.stdin.is_empty()), &cmd.stdin);
    let mut reply: Option<[i64; MSG_WORDS]> = None;
    let mut drain_until: Option<Instant> = None;
    let mut tree = watch.map(|(zygote, uid)| Tree::new(zygote, uid));
    let mut next_sample = started;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        if reply.is_some() && out.is_closed() && err.is_closed() {
            break;
        }
        let now = Instant::now();
        if drain_until.is_some_and(|d| now >= d) {
            break;
        }
        if reply.is_none() && now >= hung_at {
            return Err(SandboxError::Hung(HUNG_AFTER.as_millis() as u64));
        }
        let mut fds = [
            libc::pollfd { fd: if reply.is_none() { ctrl.as_raw_fd() } else { -1 }, events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: out.raw_fd(), events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: err.raw_fd(), events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: if reply.is_none() { stdin.raw_fd() } else { -1 }, events: libc::POLLOUT, revents: 0 },
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
        if let (Some(tree), None, None) = (&mut tree, &reply, &host_cause) {
            if now >= next_sample {
                let sampled = tree.sample();
                if sampled > memory_bytes {
                    host_cause = Some(LimitHit::Memory);
                    kill_w = None;
                    continue;
                }
                next_sample = now + memwatch::period(sampled, memory_bytes);
            }
            timeout = timeout.min(next_sample.saturating_duration_since(now));
        }
        let ms = timeout.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: fds is a live array.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(SandboxError::io("poll", e));
        }
        let over_out = fds[1].revents != 0 && arrivals.read(Stream::Stdout, &mut out, &mut buf, &mut room);
        let over_err = !over_out && fds[2].revents != 0 && arrivals.read(Stream::Stderr, &mut err, &mut buf, &mut room);
        if over_out || over_err {
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
                    stdin.close();
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
        Some(Kind::Done) => {
            let measured = Measured { usage, ambient_kills, watched_peak: tree.map(|t| t.peak), host_cause };
            Ok(outcome(&reply, measured, cmd, memory_bytes, (out, err, arrivals)))
        }
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

/// What the host measured of a run, beside init's reply.
struct Measured {
    usage: Option<Usage>,
    /// OOM kills in the cgroup we run in (no job cgroup).
    ambient_kills: u64,
    /// The memory watch's largest sample (no job cgroup).
    watched_peak: Option<u64>,
    host_cause: Option<LimitHit>,
}

fn outcome(
    reply: &[i64; MSG_WORDS],
    measured: Measured,
    cmd: &RunCommand,
    memory_bytes: u64,
    (out, err, arrivals): (Capture, Capture, Arrivals),
) -> RunOutcome {
    let Measured { usage, ambient_kills, watched_peak, host_cause } = measured;
    let status = reply[1] as i32;
    let init_cause = reply[2];
    let wall_ns = reply[3].max(0) as u64;
    let rusage_cpu_ns = (reply[4].max(0) as u64).saturating_mul(1000);
    let maxrss_kb = reply[5].max(0) as u64;
    let cpu_ns = usage.map_or(rusage_cpu_ns, |u| u.cpu_ns);
    // The watch may miss the last moments of a run; the largest process's own peak cannot.
    let peak = usage.and_then(|u| u.peak_bytes).or(watched_peak.map(|w| w.max(maxrss_kb * 1024)));
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
        rss_over: maxrss_kb.saturating_mul(1024) > memory_bytes,
        exit_code,
        signal,
    };
    let limit = facts.limit();
    // The program's own peak (its largest process's resident set), as contest judges report it:
    // the cgroup's peak also counts the page cache of what the run read, so it moves with the
    // limit. A run stopped at the memory limit shows at least what the limit saw.
    let memory_kb = match (limit, peak) {
        (Some(LimitHit::Memory), Some(peak)) => maxrss_kb.max(peak.div_ceil(1024)),
        _ => maxrss_kb,
    };
    RunOutcome {
        exit_code,
        signal,
        cpu_time_ms: cpu_ns.div_ceil(1_000_000),
        wall_time_ms: wall_ns.div_ceil(1_000_000),
        memory_kb,
        stdout_truncated: out.truncated(),
        stderr_truncated: err.truncated(),
        stdout: out.into_data(),
        stderr: err.into_data(),
        limit,
        order: arrivals.into_segments(),
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
    /// The largest process's resident set outgrew the limit.
    pub rss_over: bool,
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
        if (self.oom_kills > 0 && self.exit_code != Some(0)) || self.rss_over {
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
