//! Code that runs in the forked zygote, in each run's init and in the program before `execve`.
//!
//! The host may be multi-threaded when it forks the zygote, so nothing here allocates, locks or
//! logs: every path, file content, filter and buffer is prepared by the host beforehand ([`Plan`],
//! [`Buffers`]) and only raw syscalls are made. Failures travel back to the host as
//! `(stage, index, errno)` numbers; the host turns them into messages using its copy of the plan.

use std::ffi::CString;
use std::ptr;

use libc::{c_char, c_int, c_ulong};
use seccompiler::BpfProgram;

use super::wire::{self, Kind};

mod exec;
mod init;
mod root;
pub(in crate::sandbox) mod stage;
mod sys;

use self::init::init_main;
use self::root::setup;
pub(super) use self::root::{string_areas, zero};
pub(super) use self::stage::stage_name;
use self::sys::*;
pub(super) use self::sys::{MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, fork_into_cgroup};

/// The control socket's fd in the zygote and init.
pub(super) const CTRL_FD: c_int = 3;

/// One step of building the new root, executed by the zygote before `pivot_root`.
pub(super) enum Step {
    Dir {
        path: CString,
        mode: u32,
    },
    /// `mtime` (seconds, nanoseconds) is kept from a copied host file: a changed one would make
    /// caches keyed on it (Python's `.pyc` of `sitecustomize.py`) stale in every run.
    File {
        path: CString,
        contents: Vec<u8>,
        mode: u32,
        mtime: Option<(i64, i64)>,
    },
    Symlink {
        target: CString,
        path: CString,
    },
    Mount {
        source: Option<CString>,
        target: CString,
        fstype: Option<CString>,
        flags: c_ulong,
        data: Option<CString>,
    },
    ReadOnly {
        target: CString,
        recursive: bool,
        attrs: u64,
    },
}

impl Step {
    pub(super) fn describe(&self) -> String {
        let s = |c: &CString| c.to_string_lossy().into_owned();
        match self {
            Step::Dir { path, .. } => format!("mkdir {}", s(path)),
            Step::File { path, .. } => format!("write {}", s(path)),
            Step::Symlink { path, .. } => format!("symlink {}", s(path)),
            Step::Mount { source, target, .. } => {
                format!("mount {} on {}", source.as_ref().map_or_else(String::new, s), s(target))
            }
            Step::ReadOnly { target, .. } => format!("make {} read-only", s(target)),
        }
    }
}

/// `setrlimit` arguments.
#[derive(Clone, Copy)]
pub(super) struct Rlimit {
    pub resource: libc::__rlimit_resource_t,
    pub soft: u64,
    pub hard: u64,
}

/// Everything the zygote needs, prepared by the host before the fork.
pub(super) struct Plan {
    /// The files the zygote writes "0" to once, joining its cgroups (see `JobCgroup::join_files`),
    /// unless it was forked into its cgroup (`cgroup_dir`).
    pub cgroup_joins: Vec<CString>,
    /// v2: the job cgroup's directory, for forking the zygote straight into it.
    pub cgroup_dir: Option<std::os::fd::OwnedFd>,
    /// Contents for `/proc/self/uid_map` and `gid_map` when a user namespace is needed.
    pub user_maps: Option<(CString, CString)>,
    pub unshare: c_int,
    pub steps: Vec<Step>,
    /// Where the new root is assembled; `None` in degraded mode.
    pub new_root: Option<CString>,
    /// `mount(2)` data for each run's `/tmp`.
    pub tmp_data: CString,
    /// The program's cwd.
    pub box_dir: CString,
    /// `(uid, gid)` to switch to when running as root.
    pub creds: Option<(u32, u32)>,
    pub filters: Vec<BpfProgram>,
    pub rlimits: Vec<Rlimit>,
}

impl Plan {
    /// Per-run init gets fresh PID and mount namespaces (full mode).
    pub(super) fn per_run_namespaces(&self) -> bool {
        self.new_root.is_some()
    }

    pub(super) fn describe_stage(&self, stage: i64, index: i64) -> String {
        let name = stage_name(stage);
        match stage {
            stage::ROOT_STEP => {
                let step = usize::try_from(index).ok().and_then(|i| self.steps.get(i));
                match step {
                    Some(s) => format!("{name}: {}", s.describe()),
                    None => name.to_string(),
                }
            }
            stage::INIT_DIED => format!("{name} (wait status {index})"),
            _ => name.to_string(),
        }
    }
}

/// The namespaces the zygote unshares (a user namespace comes first, separately, when needed).
pub(super) const UNSHARE_FLAGS: c_int =
    libc::CLONE_NEWNS | libc::CLONE_NEWNET | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS | libc::CLONE_NEWCGROUP;

pub(super) const MAX_REQUEST: usize = 128 * 1024;
pub(super) const MAX_ARGS: usize = 4096;
pub(super) const MAX_ENV: usize = 1024;
const PATH_BUF: usize = 4096 + 256;

/// Memory the zygote works in, allocated by the host before the fork.
pub(super) struct Buffers {
    request: Vec<u8>,
    argv: Vec<*const c_char>,
    envp: Vec<*const c_char>,
    path: Vec<u8>,
}

impl Buffers {
    pub(super) fn new() -> Buffers {
        Buffers {
            request: vec![0; MAX_REQUEST + 1],
            argv: vec![ptr::null(); MAX_ARGS + 1],
            envp: vec![ptr::null(); MAX_ENV + 1],
            path: vec![0; PATH_BUF],
        }
    }
}

type Failure = (i64, i64, c_int);

/// Why init stopped the program.
pub(super) mod cause {
    pub const NONE: i64 = 0;
    pub const WALL: i64 = 1;
    pub const HOST: i64 = 2;
}

/// Entry point of the zygote (the child of the host's fork, `host` the forking process; `in_cgroup`
/// when forked into its cgroup). Never returns.
pub(super) fn zygote_main(plan: &Plan, ctrl: c_int, bufs: &mut Buffers, host: libc::pid_t, in_cgroup: bool) -> ! {
    // Dies with the runner, however it dies (a launcher's deadline kills the runner's process
    // group, which the zygote leaves); the run's init then sees its kill pipe close and ends
    // the program's tree. The check catches a runner that died before the prctl.
    // SAFETY: plain prctl and getppid.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        if libc::getppid() != host {
            exit(1);
        }
    }
    if ctrl != CTRL_FD {
        // SAFETY: duplicating our own descriptor.
        if unsafe { libc::dup3(ctrl, CTRL_FD, libc::O_CLOEXEC) } < 0 {
            send_failure(ctrl, (stage::FDS, 0, errno()));
            exit(1);
        }
    }
    match setup(plan, in_cgroup) {
        Ok(()) => {
            let mut m = [0i64; wire::MSG_WORDS];
            m[0] = Kind::Ready as i64;
            if !send(CTRL_FD, &m) {
                exit(1);
            }
        }
        Err(f) => {
            send_failure(CTRL_FD, f);
            exit(1);
        }
    }
    serve(plan, bufs)
}

/// The zygote's loop: one request → one init → one reply (sent by init, or by us if init died).
fn serve(plan: &Plan, bufs: &mut Buffers) -> ! {
    loop {
        let mut fds = [-1 as c_int; wire::MAX_REQUEST_FDS];
        let (n, got) = match recv_request(&mut bufs.request, &mut fds) {
            Ok((0, _)) => exit(0), // host closed the socket: the job is over
            Ok(received) => received,
            Err(libc::EINTR) => continue,
            Err(_) => exit(1),
        };
        let parsed = bufs.request.get(..n).and_then(|req| wire::parse_request(req, &mut bufs.argv, &mut bufs.envp));
        let fds_match = parsed.as_ref().is_some_and(|req| req.fds() == got);
        let (Some(req), true) = (parsed, fds_match) else {
            close_all(&fds);
            send_failure(CTRL_FD, (stage::REQUEST, 0, libc::EINVAL));
            continue;
        };
        let flags =
            if plan.per_run_namespaces() { libc::CLONE_NEWPID | libc::CLONE_NEWNS | libc::CLONE_NEWIPC } else { 0 };
        let pid = raw_fork(flags);
        if pid == 0 {
            init_main(plan, &req, &fds, &bufs.argv, &bufs.envp, &mut bufs.path);
        }
        let e = errno();
        close_all(&fds);
        if pid < 0 {
            send_failure(CTRL_FD, (stage::CLONE, 0, e));
            continue;
        }
        let status = wait_child(pid as libc::pid_t);
        if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
            send_failure(CTRL_FD, (stage::INIT_DIED, i64::from(status), libc::EIO));
        }
    }
}

/// The control buffer for a request's fds, in u64s (which keep it aligned for `cmsghdr`).
const CONTROL_WORDS: usize = 16;
// SAFETY: CMSG_SPACE only computes a size.
const _: () = assert!(unsafe { libc::CMSG_SPACE((wire::MAX_REQUEST_FDS * 4) as u32) } as usize <= CONTROL_WORDS * 8);

/// Receives one request and its descriptors. Returns the payload length and how many fds came.
fn recv_request(buf: &mut [u8], fds: &mut [c_int; wire::MAX_REQUEST_FDS]) -> Result<(usize, usize), c_int> {
    let mut control = [0u64; CONTROL_WORDS];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: msghdr is plain data; all pointers set below are to live buffers.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: msg describes live buffers.
    let n = unsafe { libc::recvmsg(CTRL_FD, &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(errno());
    }
    let mut got = 0;
    // SAFETY: walking the control messages the kernel wrote into `control`.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg).cast::<c_int>();
                let count = ((*cmsg).cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize)
                    / std::mem::size_of::<c_int>();
                for i in 0..count {
                    let fd = ptr::read_unaligned(data.add(i));
                    if let Some(slot) = fds.get_mut(got) {
                        *slot = fd;
                        got += 1;
                    } else {
                        libc::close(fd);
                    }
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    if msg.msg_flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC) != 0 || (n > 0 && got < wire::REQUEST_FDS) {
        close_all(fds);
        fds.fill(-1);
        // An empty payload would read as EOF; mark the request invalid instead.
        return Ok((if n == 0 { 0 } else { 1 }, 0));
    }
    Ok((n as usize, got))
}
