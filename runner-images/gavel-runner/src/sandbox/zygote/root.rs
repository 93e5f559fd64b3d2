//! The zygote's one-time setup (cgroup, user and other namespaces, the new root) and each run's
//! own mounts; plus wiping the strings inherited from the host.

use std::ptr;

use libc::{c_int, c_long, c_void};

use super::sys::*;
use super::{CTRL_FD, Failure, Plan, Step, stage};

pub(super) fn setup(plan: &Plan, in_cgroup: bool) -> Result<(), Failure> {
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
    for (i, join) in plan.cgroup_joins.iter().enumerate().filter(|_| !in_cgroup) {
        write_file(join, b"0").map_err(|e| (stage::CGROUP, i as i64, e))?;
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

/// The mounts each run gets in its own mount namespace.
pub(super) fn per_run_mounts(plan: &Plan, readonly_box: bool) -> Result<(), Failure> {
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

/// Overwrites the argv and environment strings inherited from the host: `/proc/<pid>/cmdline`
/// is world-readable, and the runner's command line may carry URLs or tokens.
fn scrub_host_strings() {
    for area in string_areas().into_iter().flatten() {
        zero(area);
    }
}

/// This process's argv and environment areas, `[start, end)` each, as the kernel reports them
/// (the memory `/proc/<pid>/cmdline` and `environ` show).
pub(in crate::sandbox) fn string_areas() -> Option<[(u64, u64); 2]> {
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
pub(in crate::sandbox) fn zero((start, end): (u64, u64)) {
    if start > 0 && end > start && end - start < (1 << 20) {
        // SAFETY: [start, end) is our own argv/environment area (writable stack memory), as
        // reported by the kernel; what was read from it has been copied by then.
        unsafe { ptr::write_bytes(start as *mut u8, 0, (end - start) as usize) };
    }
}
