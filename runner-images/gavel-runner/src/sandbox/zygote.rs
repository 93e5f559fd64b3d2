//! Code that runs in the forked zygote, in each run's init and in the program before `execve`.
//!
//! The host may be multi-threaded when it forks the zygote, so nothing here allocates, locks or
//! logs: every path, file content, filter and buffer is prepared by the host beforehand ([`Plan`],
//! [`Buffers`]) and only raw syscalls are made. Failures travel back to the host as
//! `(stage, index, errno)` numbers; the host turns them into messages using its copy of the plan.

use std::ffi::{CStr, CString};
use std::ptr;

use libc::{c_char, c_int, c_long, c_ulong, c_void};
use seccompiler::BpfProgram;

use super::wire::{self, Kind, Request};

/// The control socket's fd in the zygote and init.
pub(super) const CTRL_FD: c_int = 3;
/// In the program before execve: the pipe on which an exec failure is reported (close-on-exec).
const ERR_FD: c_int = 3;

const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub(super) const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub(super) const MOUNT_ATTR_NODEV: u64 = 0x4;
pub(super) const MOUNT_ATTR_NOEXEC: u64 = 0x8;

/// Where a failure happened; the host names them with [`stage_name`].
pub(super) mod stage {
    pub const FDS: i64 = 1;
    pub const CGROUP: i64 = 2;
    pub const USERNS: i64 = 3;
    pub const UNSHARE: i64 = 4;
    pub const HOSTNAME: i64 = 5;
    pub const PRIVATE: i64 = 6;
    pub const ROOT_STEP: i64 = 7;
    pub const PIVOT: i64 = 8;
    pub const ROOT_READONLY: i64 = 9;
    pub const REQUEST: i64 = 10;
    pub const CLONE: i64 = 11;
    pub const INIT_DIED: i64 = 12;
    pub const MOUNT_PROC: i64 = 13;
    pub const MOUNT_TMP: i64 = 14;
    pub const BOX_READONLY: i64 = 15;
    pub const SIGNALS: i64 = 16;
    pub const PIPE: i64 = 17;
    pub const FORK: i64 = 18;
    pub const DUP: i64 = 19;
    pub const RLIMIT: i64 = 20;
    pub const CHDIR: i64 = 21;
    pub const CREDENTIALS: i64 = 22;
    pub const SECCOMP: i64 = 23;
    pub const EXEC: i64 = 24;
    pub const SESSION: i64 = 25;
}

pub(super) fn stage_name(stage: i64) -> &'static str {
    match stage {
        stage::FDS => "rearranging the zygote's fds",
        stage::CGROUP => "joining the job cgroup",
        stage::USERNS => "creating the user namespace",
        stage::UNSHARE => "unsharing namespaces",
        stage::HOSTNAME => "setting the hostname",
        stage::PRIVATE => "making mounts private",
        stage::ROOT_STEP => "building the root",
        stage::PIVOT => "pivot_root",
        stage::ROOT_READONLY => "making the root read-only",
        stage::REQUEST => "decoding the run request",
        stage::CLONE => "cloning the run's init",
        stage::INIT_DIED => "the run's init died",
        stage::MOUNT_PROC => "mounting /proc",
        stage::MOUNT_TMP => "mounting /tmp",
        stage::BOX_READONLY => "making /box read-only",
        stage::SIGNALS => "setting up signals",
        stage::PIPE => "creating a pipe",
        stage::FORK => "forking the program",
        stage::DUP => "setting up stdio",
        stage::RLIMIT => "setting rlimits",
        stage::CHDIR => "changing to the work dir",
        stage::CREDENTIALS => "dropping privileges",
        stage::SECCOMP => "installing the seccomp filter",
        stage::EXEC => "execve",
        stage::SESSION => "creating a session",
        _ => "an unknown stage",
    }
}

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
    /// `cgroup.procs` files the zygote writes "0" to (joins) once.
    pub cgroup_procs: Vec<CString>,
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

pub(super) fn errno() -> c_int {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

fn check(r: c_long, stage: i64, index: i64) -> Result<c_long, Failure> {
    if r < 0 { Err((stage, index, errno())) } else { Ok(r) }
}

fn send(fd: c_int, msg: &[i64; wire::MSG_WORDS]) -> bool {
    let bytes = wire::encode_msg(msg);
    // SAFETY: bytes is a live buffer of the given length.
    let n = unsafe { libc::send(fd, bytes.as_ptr().cast(), bytes.len(), libc::MSG_NOSIGNAL) };
    n == bytes.len() as isize
}

fn send_failure(fd: c_int, (stage, index, e): Failure) -> bool {
    let mut m = [0i64; wire::MSG_WORDS];
    m[0] = Kind::Setup as i64;
    m[1] = stage;
    m[2] = index;
    m[3] = i64::from(e);
    send(fd, &m)
}

fn exit(code: c_int) -> ! {
    // SAFETY: _exit never returns and is async-signal-safe.
    unsafe { libc::_exit(code) }
}

/// `fork` as a raw `clone`: no atfork handlers, and namespace flags are possible.
fn raw_fork(flags: c_int) -> c_long {
    // SAFETY: with a null stack the child continues on a copy of ours, like fork(2).
    unsafe { libc::syscall(libc::SYS_clone, (flags | libc::SIGCHLD) as c_ulong, 0usize, 0usize, 0usize, 0usize) }
}

/// Default dispositions and an empty mask. The zygote inherits the runner thread's: an ignored
/// SIGCHLD would make children vanish without a wait status.
fn reset_signals() {
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

fn close_from(first: c_int) {
    // SAFETY: close_range only closes descriptors.
    let r = unsafe { libc::syscall(libc::SYS_close_range, first as u32, u32::MAX, 0u32) };
    if r != 0 {
        // Kernels before 5.9: close one by one up to the fd limit.
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: lim is a valid out pointer.
        let max = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
            lim.rlim_cur.min(1 << 20) as c_int
        } else {
            65536
        };
        for fd in first..max {
            // SAFETY: closing a descriptor number.
            unsafe { libc::close(fd) };
        }
    }
}

fn write_all(fd: c_int, mut data: &[u8]) -> Result<(), c_int> {
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

fn write_file(path: &CStr, data: &[u8]) -> Result<(), c_int> {
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

fn opt_ptr(s: &Option<CString>) -> *const c_char {
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
fn make_readonly(target: &CStr, recursive: bool, attrs: u64) -> Result<(), c_int> {
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

fn run_step(step: &Step) -> Result<(), c_int> {
    // SAFETY (all arms): every pointer comes from a live CString or slice.
    let r = unsafe {
        match step {
            Step::Dir { path, mode } => {
                let r = libc::mkdir(path.as_ptr(), *mode);
                if r != 0 && errno() == libc::EEXIST { 0 } else { r }
            }
            Step::File { path, contents, mode, mtime } => {
                let fd = libc::open(
                    path.as_ptr(),
                    libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                    *mode,
                );
                if fd < 0 {
                    return Err(errno());
                }
                let mut r = write_all(fd, contents);
                if let (Ok(()), Some((sec, nsec))) = (r, mtime) {
                    let t = libc::timespec { tv_sec: *sec, tv_nsec: *nsec };
                    if libc::futimens(fd, [t, t].as_ptr()) != 0 {
                        r = Err(errno());
                    }
                }
                libc::close(fd);
                return r;
            }
            Step::Symlink { target, path } => libc::symlink(target.as_ptr(), path.as_ptr()),
            Step::Mount { source, target, fstype, flags, data } => {
                libc::mount(opt_ptr(source), target.as_ptr(), opt_ptr(fstype), *flags, opt_ptr(data).cast::<c_void>())
            }
            Step::ReadOnly { target, recursive, attrs } => return make_readonly(target, *recursive, *attrs),
        }
    };
    if r == 0 { Ok(()) } else { Err(errno()) }
}

/// Overwrites the argv and environment strings inherited from the host: `/proc/<pid>/cmdline`
/// is world-readable, and the runner's command line may carry URLs or tokens.
fn scrub_host_strings() {
    for area in string_areas().into_iter().flatten() {
        zero(area);
    }
}

/// This process's argv and environment areas, `[start, end)` each, as the kernel reports them
/// (the memory `/proc/<pid>/cmdline` and `environ` show).
pub(super) fn string_areas() -> Option<[(u64, u64); 2]> {
    let mut buf = [0u8; 2048];
    // SAFETY: reading our own stat file into a stack buffer.
    let fd = unsafe { libc::open(c"/proc/self/stat".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    // SAFETY: as above; fd is ours.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
    let text = usize::try_from(n).ok().and_then(|n| buf.get(..n))?;
    // Fields after the command name (which may contain spaces) start at field 3; we need
    // 48-51: arg_start, arg_end, env_start, env_end.
    let close = text.iter().rposition(|&b| b == b')')?;
    let mut fields = [0u64; 4];
    let rest = text.get(close + 1..).unwrap_or(&[]).trim_ascii();
    for (i, tok) in rest.split(|&b| b == b' ').enumerate() {
        if let Some(slot) = (i + 3).checked_sub(48).and_then(|j| fields.get_mut(j)) {
            *slot = parse_u64(tok).unwrap_or(0);
        }
    }
    Some([(fields[0], fields[1]), (fields[2], fields[3])])
}

/// Zeroes one area from [`string_areas`].
pub(super) fn zero((start, end): (u64, u64)) {
    if start > 0 && end > start && end - start < (1 << 20) {
        // SAFETY: [start, end) is our own argv/environment area (writable stack memory), as
        // reported by the kernel; what was read from it has been copied by then.
        unsafe { ptr::write_bytes(start as *mut u8, 0, (end - start) as usize) };
    }
}

/// Entry point of the zygote (the child of the host's fork). Never returns.
pub(super) fn zygote_main(plan: &Plan, ctrl: c_int, bufs: &mut Buffers) -> ! {
    if ctrl != CTRL_FD {
        // SAFETY: duplicating our own descriptor.
        if unsafe { libc::dup3(ctrl, CTRL_FD, libc::O_CLOEXEC) } < 0 {
            send_failure(ctrl, (stage::FDS, 0, errno()));
            exit(1);
        }
    }
    match setup(plan) {
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

fn setup(plan: &Plan) -> Result<(), Failure> {
    close_from(CTRL_FD + 1);
    reset_signals();
    // SAFETY: plain syscalls on constant arguments or our own descriptors.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        check(null as c_long, stage::FDS, 1)?;
        for fd in 0..3 {
            if fd != null {
                check(libc::dup2(null, fd) as c_long, stage::FDS, 2)?;
            }
        }
        if null > 2 {
            libc::close(null);
        }
        // Out of the host's session: terminal signals aimed at the runner must not reach us.
        libc::setsid();
        libc::prctl(libc::PR_SET_NAME, c"gavel-zygote".as_ptr(), 0, 0, 0);
        libc::umask(0);
    }
    scrub_host_strings();
    for (i, procs) in plan.cgroup_procs.iter().enumerate() {
        write_file(procs, b"0").map_err(|e| (stage::CGROUP, i as i64, e))?;
    }
    // Best effort: the OOM killer should pick the program, never us or init.
    let _ = write_file(c"/proc/self/oom_score_adj", b"-1000");
    if let Some((uid_map, gid_map)) = &plan.user_maps {
        // A host that made itself non-dumpable (a degraded sandbox earlier in the same process)
        // passed that on to us, and a non-dumpable process's /proc/self files belong to root:
        // dumpable until the maps are written, as a fresh process would be.
        // SAFETY: plain prctl.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) };
        // SAFETY: plain syscall.
        check(unsafe { libc::unshare(libc::CLONE_NEWUSER) } as c_long, stage::USERNS, 0)?;
        write_file(c"/proc/self/setgroups", b"deny").map_err(|e| (stage::USERNS, 1, e))?;
        write_file(c"/proc/self/uid_map", uid_map.as_bytes()).map_err(|e| (stage::USERNS, 2, e))?;
        write_file(c"/proc/self/gid_map", gid_map.as_bytes()).map_err(|e| (stage::USERNS, 3, e))?;
    }
    // Not dumpable: the program cannot read or ptrace our memory (a copy of the host's). Only
    // now: a non-dumpable process's /proc/self files belong to root, so an unprivileged zygote
    // could not have written its uid_map.
    // SAFETY: plain prctl.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    if plan.unshare != 0 {
        // SAFETY: plain syscall.
        check(unsafe { libc::unshare(plan.unshare) } as c_long, stage::UNSHARE, 0)?;
    }
    if plan.unshare & libc::CLONE_NEWUTS != 0 {
        let name = b"gavel";
        // SAFETY: name is a live buffer of the given length.
        check(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) } as c_long, stage::HOSTNAME, 0)?;
    }
    let Some(new_root) = &plan.new_root else {
        return Ok(());
    };
    // SAFETY: constant arguments.
    check(
        unsafe { libc::mount(ptr::null(), c"/".as_ptr(), ptr::null(), libc::MS_REC | libc::MS_PRIVATE, ptr::null()) }
            as c_long,
        stage::PRIVATE,
        0,
    )?;
    for (i, step) in plan.steps.iter().enumerate() {
        run_step(step).map_err(|e| (stage::ROOT_STEP, i as i64, e))?;
    }
    // SAFETY: pivot_root(".", ".") stacks the old root under the new one; detaching it leaves
    // only the new root visible.
    unsafe {
        check(libc::chdir(new_root.as_ptr()) as c_long, stage::PIVOT, 0)?;
        check(libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()), stage::PIVOT, 1)?;
        check(libc::umount2(c".".as_ptr(), libc::MNT_DETACH) as c_long, stage::PIVOT, 2)?;
        check(libc::chdir(c"/".as_ptr()) as c_long, stage::PIVOT, 3)?;
    }
    make_readonly(c"/", false, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV).map_err(|e| (stage::ROOT_READONLY, 0, e))?;
    // A dry run of the per-run mounts, so a host that refuses them (e.g. a container masking
    // parts of /proc) is detected now and the sandbox degrades instead of failing every run.
    let pid = check(raw_fork(libc::CLONE_NEWPID | libc::CLONE_NEWNS), stage::CLONE, 0)?;
    if pid == 0 {
        match per_run_mounts(plan, false) {
            Ok(()) => exit(0),
            Err(f) => {
                send_failure(CTRL_FD, f);
                exit(1)
            }
        }
    }
    let status = wait_child(pid as libc::pid_t);
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        // The child already reported what failed.
        exit(1);
    }
    Ok(())
}

fn wait_child(pid: libc::pid_t) -> c_int {
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

/// The zygote's loop: one request → one init → one reply (sent by init, or by us if init died).
fn serve(plan: &Plan, bufs: &mut Buffers) -> ! {
    loop {
        let mut fds = [-1 as c_int; wire::REQUEST_FDS];
        let n = recv_request(&mut bufs.request, &mut fds);
        let n = match n {
            Ok(0) => exit(0), // host closed the socket: the job is over
            Ok(n) => n,
            Err(libc::EINTR) => continue,
            Err(_) => exit(1),
        };
        let parsed = bufs.request.get(..n).and_then(|req| wire::parse_request(req, &mut bufs.argv, &mut bufs.envp));
        let (Some(req), true) = (parsed, fds.iter().all(|&fd| fd >= 0)) else {
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

fn close_all(fds: &[c_int]) {
    for &fd in fds {
        if fd >= 0 {
            // SAFETY: closing a descriptor we received.
            unsafe { libc::close(fd) };
        }
    }
}

/// Receives one request and its descriptors. Returns the payload length.
fn recv_request(buf: &mut [u8], fds: &mut [c_int; wire::REQUEST_FDS]) -> Result<usize, c_int> {
    // u64 storage keeps the control buffer aligned for cmsghdr.
    let mut control = [0u64; 16];
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
    if msg.msg_flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC) != 0 || (n > 0 && got != fds.len()) {
        close_all(fds);
        fds.fill(-1);
        // An empty payload would read as EOF; mark the request invalid instead.
        return Ok(if n == 0 { 0 } else { 1 });
    }
    Ok(n as usize)
}

/// The mounts each run gets in its own mount namespace.
fn per_run_mounts(plan: &Plan, readonly_box: bool) -> Result<(), Failure> {
    // SAFETY: constant or plan-owned NUL-terminated arguments.
    unsafe {
        check(
            libc::mount(
                c"proc".as_ptr(),
                c"/proc".as_ptr(),
                c"proc".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                ptr::null(),
            ) as c_long,
            stage::MOUNT_PROC,
            0,
        )?;
        check(
            libc::mount(
                c"tmpfs".as_ptr(),
                c"/tmp".as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                plan.tmp_data.as_ptr().cast(),
            ) as c_long,
            stage::MOUNT_TMP,
            0,
        )?;
    }
    if readonly_box {
        make_readonly(&plan.box_dir, false, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)
            .map_err(|e| (stage::BOX_READONLY, 0, e))?;
    }
    Ok(())
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64).saturating_mul(1_000_000_000) + ts.tv_nsec as u64
}

/// Why init stopped the program.
pub(super) mod cause {
    pub const NONE: i64 = 0;
    pub const WALL: i64 = 1;
    pub const HOST: i64 = 2;
}

/// A run's init: pid 1 of the run's PID namespace (full) or a session leader + subreaper
/// (degraded). Forks the program, enforces the wall limit, kills everything left, reports.
fn init_main(
    plan: &Plan,
    req: &Request,
    fds: &[c_int; wire::REQUEST_FDS],
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
    fds: &[c_int; wire::REQUEST_FDS],
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
    // SAFETY: closing our copies, so EOF and EPIPE reach the host when the program is done.
    unsafe {
        libc::close(errpipe[1]);
        for &fd in fds.iter().take(3) {
            libc::close(fd);
        }
    }
    let kill_fd = fds[3];
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

fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
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

/// The program's side of the fork: set up and execve, or report why not on `errw`.
fn exec_program(
    plan: &Plan,
    req: &Request,
    fds: &[c_int; wire::REQUEST_FDS],
    errw: c_int,
    argv: &[*const c_char],
    envp: &[*const c_char],
    path_buf: &mut [u8],
) -> ! {
    // SAFETY: descriptor juggling on fds we own; errw and fds are all >= 4 (0-3 are taken in
    // the zygote), so no dup2 clobbers a source still needed.
    unsafe {
        if libc::dup3(errw, ERR_FD, libc::O_CLOEXEC) < 0 {
            exit(127);
        }
        for (target, &fd) in fds.iter().take(3).enumerate() {
            if libc::dup2(fd, target as c_int) < 0 {
                fail(stage::DUP, errno());
            }
        }
        close_from(ERR_FD + 1);
        // Own process group: in degraded mode init kills the group first.
        libc::setsid();
        // Undo what the runner and init set: ignored or blocked signals survive execve.
        reset_signals();
        libc::umask(0o022);
    }
    // The zygote lowered its OOM score; the program must be the OOM killer's choice.
    let _ = write_file(c"/proc/self/oom_score_adj", b"0");
    let cpu_soft = req.cpu_ms.div_ceil(1000) + 1;
    let cpu = Rlimit { resource: libc::RLIMIT_CPU, soft: cpu_soft, hard: cpu_soft + 1 };
    for lim in plan.rlimits.iter().chain(std::iter::once(&cpu)) {
        // Without a cgroup RLIMIT_DATA bounds memory: this run's limit, not the job's largest
        // (a compile step's).
        let cap = if lim.resource == libc::RLIMIT_DATA { req.memory_bytes } else { u64::MAX };
        let rl = libc::rlimit { rlim_cur: lim.soft.min(cap), rlim_max: lim.hard.min(cap) };
        // SAFETY: rl is a valid rlimit.
        if unsafe { libc::setrlimit(lim.resource, &rl) } != 0 {
            fail(stage::RLIMIT, errno());
        }
    }
    // SAFETY: box_dir is NUL-terminated.
    if unsafe { libc::chdir(plan.box_dir.as_ptr()) } != 0 {
        fail(stage::CHDIR, errno());
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
    // SAFETY: plain prctls. PDEATHSIG is reset by the credential change, so it comes after.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            fail(stage::SECCOMP, errno());
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

/// Reports a failed program setup to init (through the close-on-exec pipe) and exits.
fn fail(stage: i64, e: c_int) -> ! {
    let msg = [stage as c_int, e];
    // SAFETY: writing 8 bytes from a local array to our error pipe.
    unsafe { libc::write(ERR_FD, msg.as_ptr().cast(), 8) };
    exit(127)
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

    #[test]
    fn stage_names_cover_every_stage() {
        for s in 1..=25 {
            assert_ne!(stage_name(s), "an unknown stage", "stage {s}");
        }
    }
}
