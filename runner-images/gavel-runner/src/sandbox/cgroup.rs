//! The job cgroup: memory limit, pids limit and CPU/memory accounting, on cgroup v1 (one
//! directory per controller hierarchy) or v2 (one directory), created under our own cgroup.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Which cgroup version (and where) a job cgroup lives.
pub(super) enum JobCgroup {
    V1 {
        memory: PathBuf,
        pids: PathBuf,
        cpuacct: PathBuf,
    },
    V2 {
        dir: PathBuf,
        /// `memory.peak`, opened per run; `Resettable` on kernels ≥ 6.12.
        peak: Option<Peak>,
    },
}

/// How a v2 run's peak is known.
pub(super) enum Peak {
    /// The fd we wrote "reset" to; reads give the peak since then.
    Resettable(File),
    /// An old kernel: the cgroup's lifetime peak before the run.
    Lifetime(u64),
}

/// Counters read before a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Before {
    pub cpu_ns: u64,
    pub oom_kills: u64,
}

/// What a run used, as far as the cgroup knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Usage {
    pub cpu_ns: u64,
    /// `None` when the kernel cannot tell this run's peak apart.
    pub peak_bytes: Option<u64>,
    pub oom_kills: u64,
}

/// One line of `/proc/self/cgroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Membership {
    pub hierarchy: u32,
    pub controllers: Vec<String>,
    pub path: String,
}

/// A cgroup filesystem from `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CgroupMount {
    /// The cgroup path the mount shows at its mount point (not "/" inside some containers).
    pub root: String,
    pub mount_point: PathBuf,
    pub v2: bool,
    /// v1 only: controllers from the super options.
    pub controllers: Vec<String>,
}

pub(super) fn parse_proc_cgroup(text: &str) -> Vec<Membership> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let hierarchy = parts.next()?.parse().ok()?;
            let controllers = parts.next()?.split(',').filter(|c| !c.is_empty()).map(str::to_string).collect();
            let path = parts.next()?.to_string();
            Some(Membership { hierarchy, controllers, path })
        })
        .collect()
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b.get(i + 1..i + 4).and_then(|d| {
            if b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)) {
                u8::from_str_radix(std::str::from_utf8(d).ok()?, 8).ok()
            } else {
                None
            }
        });
        match octal {
            Some(v) => {
                out.push(v);
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn parse_mountinfo(text: &str) -> Vec<CgroupMount> {
    text.lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            let pre: Vec<&str> = pre.split(' ').collect();
            let mut post = post.split(' ');
            let fstype = post.next()?;
            let _source = post.next()?;
            let super_opts = post.next().unwrap_or("");
            let root = unescape(pre.get(3)?);
            let mount_point = PathBuf::from(unescape(pre.get(4)?));
            match fstype {
                "cgroup2" => Some(CgroupMount { root, mount_point, v2: true, controllers: Vec::new() }),
                "cgroup" => Some(CgroupMount {
                    root,
                    mount_point,
                    v2: false,
                    controllers: super_opts.split(',').map(str::to_string).collect(),
                }),
                _ => None,
            }
        })
        .collect()
}

/// The directory of our own cgroup in a mount, if the mount shows it.
fn own_dir(mount: &CgroupMount, cgroup_path: &str) -> Option<PathBuf> {
    let rel = if mount.root == "/" { cgroup_path } else { cgroup_path.strip_prefix(mount.root.as_str())? };
    Some(mount.mount_point.join(rel.trim_start_matches('/')))
}

/// Our v1 directory for `controller`.
fn v1_dir(mounts: &[CgroupMount], members: &[Membership], controller: &str) -> Option<PathBuf> {
    let mount = mounts.iter().find(|m| !m.v2 && m.controllers.iter().any(|c| c == controller))?;
    let member = members.iter().find(|m| m.controllers.iter().any(|c| c == controller))?;
    own_dir(mount, &member.path)
}

/// Our v2 directory, if the v2 hierarchy has the memory and pids controllers.
fn v2_dir(mounts: &[CgroupMount], members: &[Membership]) -> Option<PathBuf> {
    let mount = mounts.iter().find(|m| m.v2)?;
    let member = members.iter().find(|m| m.hierarchy == 0 && m.controllers.is_empty())?;
    let dir = own_dir(mount, &member.path)?;
    let controllers = fs::read_to_string(dir.join("cgroup.controllers")).ok()?;
    let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
    (has("memory") && has("pids")).then_some(dir)
}

/// Where job cgroups would be created, from the current process's view.
enum Layout {
    V1 { memory: PathBuf, pids: PathBuf, cpuacct: PathBuf },
    V2(PathBuf),
}

fn layout() -> Result<Layout, String> {
    let read = |p: &str| fs::read_to_string(p).map_err(|e| format!("read {p}: {e}"));
    let mounts = parse_mountinfo(&read("/proc/self/mountinfo")?);
    let members = parse_proc_cgroup(&read("/proc/self/cgroup")?);
    if let Some(dir) = v2_dir(&mounts, &members) {
        return Ok(Layout::V2(dir));
    }
    let find = |c: &str| v1_dir(&mounts, &members, c).ok_or_else(|| format!("no cgroup v1 {c} controller"));
    match (find("memory"), find("pids"), find("cpuacct")) {
        (Ok(memory), Ok(pids), Ok(cpuacct)) => Ok(Layout::V1 { memory, pids, cpuacct }),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => Err(e),
    }
}

/// Whether a directory can take a new child cgroup (writable, not on a read-only mount).
fn writable(dir: &Path) -> Result<(), String> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: c is NUL-terminated.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK) } != 0 {
        return Err(format!("{} is not writable: {}", dir.display(), io::Error::last_os_error()));
    }
    Ok(())
}

/// The file with the `oom_kill` count of a memory cgroup (v1: its memory directory).
fn oom_events(dir: &Path, v2: bool) -> PathBuf {
    dir.join(if v2 { "memory.events" } else { "memory.oom_control" })
}

/// The file counting the OOM kills in the cgroup we run in, if it has one. Without a job cgroup
/// (a container's hierarchy is read-only), a kill by the engine's OOM killer still shows there.
pub(super) fn ambient_oom_events() -> Option<PathBuf> {
    let file = match layout().ok()? {
        Layout::V1 { memory, .. } => oom_events(&memory, false),
        Layout::V2(dir) => oom_events(&dir, true),
    };
    oom_kills_in(&file).map(|_| file)
}

pub(super) fn oom_kills_in(file: &Path) -> Option<u64> {
    parse_keyed(&fs::read_to_string(file).ok()?, "oom_kill")
}

/// Which version a job cgroup would use, without creating one.
pub(super) fn detect() -> Result<&'static str, String> {
    match layout()? {
        Layout::V1 { memory, pids, cpuacct } => {
            for d in [&memory, &pids, &cpuacct] {
                writable(d)?;
            }
            Ok("v1")
        }
        Layout::V2(dir) => writable(&dir).map(|()| "v2"),
    }
}

fn write(path: &Path, value: &str) -> io::Result<()> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .map_err(|e| io::Error::new(e.kind(), format!("write {}: {e}", path.display())))
}

fn read_u64(path: &Path) -> io::Result<u64> {
    let text = fs::read_to_string(path)?;
    text.trim().parse().map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("{}", path.display())))
}

/// `key value` lines (`memory.events`, `cpu.stat`, v1 `memory.oom_control`).
pub(super) fn parse_keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// v2: makes sure our cgroup delegates memory and pids to children. Processes in our own
/// cgroup forbid that ("no internal processes"), so the runner moves itself into a leaf first.
fn enable_v2_controllers(base: &Path) -> io::Result<()> {
    // Serialised: two sandboxes created at once would race moving the runner.
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let control = base.join("cgroup.subtree_control");
    let current = fs::read_to_string(&control)?;
    let enabled = |c: &str| current.split_whitespace().any(|x| x == c);
    if enabled("memory") && enabled("pids") {
        return Ok(());
    }
    match write(&control, "+memory +pids") {
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
            let leaf = base.join("gavel-runner");
            match fs::create_dir(&leaf) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                _ => {}
            }
            write(&leaf.join("cgroup.procs"), "0")?;
            write(&control, "+memory +pids")
        }
        other => other,
    }
}

impl JobCgroup {
    /// Creates the job cgroup `name` with the given limits.
    pub(super) fn create(name: &str, memory_bytes: u64, pids_max: u64) -> Result<JobCgroup, String> {
        let made = match layout()? {
            Layout::V1 { memory, pids, cpuacct } => {
                let cg =
                    JobCgroup::V1 { memory: memory.join(name), pids: pids.join(name), cpuacct: cpuacct.join(name) };
                cg.setup(memory_bytes, pids_max).map(|()| cg)
            }
            Layout::V2(base) => {
                let cg = JobCgroup::V2 { dir: base.join(name), peak: None };
                enable_v2_controllers(&base).and_then(|()| cg.setup(memory_bytes, pids_max)).map(|()| cg)
            }
        };
        made.map_err(|e| e.to_string())
    }

    /// Creates the directories and sets the limits. On failure the caller drops `self`, which
    /// removes whatever was created.
    fn setup(&self, memory_bytes: u64, pids_max: u64) -> io::Result<()> {
        let mkdir =
            |d: &Path| fs::create_dir(d).map_err(|e| io::Error::new(e.kind(), format!("mkdir {}: {e}", d.display())));
        match self {
            JobCgroup::V1 { memory, pids, cpuacct } => {
                for d in [memory, pids, cpuacct] {
                    mkdir(d)?;
                }
            }
            JobCgroup::V2 { dir, .. } => {
                mkdir(dir)?;
                // No memory.oom.group: a zygote that could not exempt itself (-1000 needs root)
                // would die with the program; init kills the rest of the tree anyway, as on v1.
                let swap = dir.join("memory.swap.max");
                if swap.exists() {
                    write(&swap, "0")?;
                }
            }
        }
        self.set_limits(memory_bytes, pids_max)
    }

    /// Sets the limits of the next run (a few small writes, cheaper than tracking changes).
    /// With swap accounting, swap must not extend the memory limit.
    pub(super) fn set_limits(&self, memory_bytes: u64, pids_max: u64) -> io::Result<()> {
        match self {
            JobCgroup::V1 { memory, pids, .. } => {
                // memsw must stay ≥ the memory limit: raise it first, lower it last.
                let memsw = memory.join("memory.memsw.limit_in_bytes");
                let limit = memory.join("memory.limit_in_bytes");
                let value = memory_bytes.to_string();
                let memsw_first = memsw.exists() && read_u64(&limit)? < memory_bytes;
                if memsw_first {
                    write(&memsw, &value)?;
                }
                write(&limit, &value)?;
                if memsw.exists() && !memsw_first {
                    write(&memsw, &value)?;
                }
                write(&pids.join("pids.max"), &pids_max.to_string())
            }
            JobCgroup::V2 { dir, .. } => {
                write(&dir.join("memory.max"), &memory_bytes.to_string())?;
                write(&dir.join("pids.max"), &pids_max.to_string())
            }
        }
    }

    pub(super) fn version(&self) -> &'static str {
        match self {
            JobCgroup::V1 { .. } => "v1",
            JobCgroup::V2 { .. } => "v2",
        }
    }

    /// The files the zygote writes "0" to, joining the job's cgroups. On v1 `tasks`, which moves
    /// just the writing thread and so skips the threadgroup lock `cgroup.procs` takes, and the
    /// RCU grace period taking it waits for (6-14 ms a job here, with both cores idle): the
    /// zygote is a fresh fork, single-threaded, so its one thread is the whole process. v2 moves
    /// only whole processes between domains (`cgroup.threads` is for threaded subtrees).
    pub(super) fn join_files(&self) -> Vec<PathBuf> {
        let file = match self {
            JobCgroup::V1 { .. } => "tasks",
            JobCgroup::V2 { .. } => "cgroup.procs",
        };
        self.dirs().iter().map(|d| d.join(file)).collect()
    }

    /// v2: the job cgroup's directory, open for `fork_into_cgroup` (joining instead when it
    /// cannot be opened).
    pub(super) fn v2_dir_fd(&self) -> Option<OwnedFd> {
        match self {
            JobCgroup::V1 { .. } => None,
            JobCgroup::V2 { dir, .. } => fs::File::open(dir).ok().map(OwnedFd::from),
        }
    }

    fn dirs(&self) -> Vec<&PathBuf> {
        match self {
            JobCgroup::V1 { memory, pids, cpuacct } => vec![memory, pids, cpuacct],
            JobCgroup::V2 { dir, .. } => vec![dir],
        }
    }

    /// The current CPU usage of the whole job, in ns.
    pub(super) fn cpu_ns(&self) -> io::Result<u64> {
        match self {
            JobCgroup::V1 { cpuacct, .. } => read_u64(&cpuacct.join("cpuacct.usage")),
            JobCgroup::V2 { dir, .. } => {
                let text = fs::read_to_string(dir.join("cpu.stat"))?;
                parse_keyed(&text, "usage_usec")
                    .map(|us| us.saturating_mul(1000))
                    .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "cpu.stat"))
            }
        }
    }

    fn oom_kills(&self) -> io::Result<u64> {
        let file = match self {
            JobCgroup::V1 { memory, .. } => oom_events(memory, false),
            JobCgroup::V2 { dir, .. } => oom_events(dir, true),
        };
        let text = fs::read_to_string(&file)?;
        // Kernels before 4.13 (v1) lack the field; then only the SIGKILL + peak rule applies.
        Ok(parse_keyed(&text, "oom_kill").unwrap_or(0))
    }

    /// Resets the per-run peak and reads the counters a run's usage is a delta of.
    pub(super) fn begin_run(&mut self) -> io::Result<Before> {
        match self {
            JobCgroup::V1 { memory, .. } => {
                write(&memory.join("memory.max_usage_in_bytes"), "0")?;
            }
            JobCgroup::V2 { dir, peak } => {
                let path = dir.join("memory.peak");
                let resettable = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&path)
                    .and_then(|mut f| f.write_all(b"reset").map(|()| f));
                *peak = Some(match resettable {
                    Ok(f) => Peak::Resettable(f),
                    Err(_) => Peak::Lifetime(read_u64(&path).unwrap_or(u64::MAX)),
                });
            }
        }
        Ok(Before { cpu_ns: self.cpu_ns()?, oom_kills: self.oom_kills()? })
    }

    /// What the run since [`JobCgroup::begin_run`] used.
    pub(super) fn end_run(&mut self, before: Before) -> io::Result<Usage> {
        let peak_bytes = match self {
            JobCgroup::V1 { memory, .. } => Some(read_u64(&memory.join("memory.max_usage_in_bytes"))?),
            JobCgroup::V2 { dir, peak } => match peak.take() {
                Some(Peak::Resettable(mut f)) => {
                    let mut s = String::new();
                    f.seek(SeekFrom::Start(0))?;
                    f.read_to_string(&mut s)?;
                    s.trim().parse().ok()
                }
                // The lifetime peak rose during the run: that rise is this run's peak.
                Some(Peak::Lifetime(old)) => {
                    let now = read_u64(&dir.join("memory.peak"))?;
                    (now > old).then_some(now)
                }
                None => None,
            },
        };
        Ok(Usage {
            cpu_ns: self.cpu_ns()?.saturating_sub(before.cpu_ns),
            peak_bytes,
            oom_kills: self.oom_kills()?.saturating_sub(before.oom_kills),
        })
    }

    fn remove_dirs(&self) {
        for d in self.dirs() {
            // A killed task leaves its cgroup asynchronously; retry briefly on EBUSY.
            for attempt in 0..200 {
                match fs::remove_dir(d) {
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 199 => {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    // Nothing was made on a read-only hierarchy (a container's).
                    Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::EROFS) => break,
                    Err(e) => {
                        tracing::warn!(dir = %d.display(), error = %e, "cannot remove cgroup");
                        break;
                    }
                    Ok(()) => break,
                }
            }
        }
    }
}

/// Dropping a job cgroup kills anything still in it and removes it.
impl Drop for JobCgroup {
    fn drop(&mut self) {
        match self {
            JobCgroup::V2 { dir, .. } if dir.join("cgroup.kill").exists() => {
                let _ = write(&dir.join("cgroup.kill"), "1");
            }
            _ => {
                for d in self.dirs() {
                    let procs = fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
                    for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                        // SAFETY: a signal to a process of this job's cgroup.
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                }
            }
        }
        self.remove_dirs();
    }
}

#[cfg(test)]
mod unit {
    use std::os::fd::AsRawFd;

    use super::*;

    const MOUNTINFO_HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const CGROUP_HYBRID: &str = "\
8:pids:/
4:memory:/process_api/abc
2:cpuacct:/
1:cpu:/
0::/
";

    /// A child forked into a v2 cgroup starts there (the zygote's fork on v2). Any cgroup2 mount
    /// will do, with or without controllers: a hybrid host (this project's) has one too.
    #[test]
    fn fork_into_cgroup_starts_the_child_in_the_cgroup() {
        crate::sandbox::tests::require_root("creating a cgroup");
        let read = |p: &str| fs::read_to_string(p).expect(p);
        let mounts = parse_mountinfo(&read("/proc/self/mountinfo"));
        let members = parse_proc_cgroup(&read("/proc/self/cgroup"));
        let mount = mounts.iter().find(|m| m.v2).expect("a cgroup2 mount (the unified hierarchy)");
        let member = members.iter().find(|m| m.hierarchy == 0).expect("a cgroup2 membership");
        let dir =
            own_dir(mount, &member.path).expect("our v2 cgroup").join(format!("gavel-fork-{}", std::process::id()));
        fs::create_dir(&dir).expect("mkdir");
        let target = JobCgroup::V2 { dir: dir.clone(), peak: None };
        let fd = target.v2_dir_fd().expect("the cgroup dir, open");
        let (hold_r, hold_w) = crate::sandbox::streams::pipe().expect("pipe");
        let pid = crate::sandbox::zygote::fork_into_cgroup(fd.as_raw_fd()).expect("clone3 into the cgroup");
        if pid == 0 {
            let mut byte = 0u8;
            // SAFETY: the child only waits for the pipe to close and exits.
            unsafe {
                libc::close(hold_w.as_raw_fd());
                libc::read(hold_r.as_raw_fd(), (&raw mut byte).cast(), 1);
                libc::_exit(0)
            }
        }
        let procs = read(&dir.join("cgroup.procs").to_string_lossy());
        drop(hold_w);
        crate::sandbox::process::reap(pid);
        assert_eq!(procs.trim(), pid.to_string());
        drop(target);
        assert!(!dir.exists());
    }

    #[test]
    fn v1_directories_follow_our_own_cgroups() {
        let mounts = parse_mountinfo(MOUNTINFO_HYBRID);
        let members = parse_proc_cgroup(CGROUP_HYBRID);
        assert_eq!(v1_dir(&mounts, &members, "memory"), Some(PathBuf::from("/sys/fs/cgroup/memory/process_api/abc")));
        assert_eq!(v1_dir(&mounts, &members, "cpuacct"), Some(PathBuf::from("/sys/fs/cgroup/cpuacct/")));
        assert_eq!(v1_dir(&mounts, &members, "blkio"), None);
    }

    #[test]
    fn combined_controllers_and_container_roots() {
        let mounts = parse_mountinfo(
            "40 31 0:40 /docker/x /sys/fs/cgroup/cpu,cpuacct ro,nosuid - cgroup cgroup rw,cpu,cpuacct\n\
             41 31 0:41 / /sys/fs/cgroup/with\\040space rw - cgroup cgroup rw,pids\n",
        );
        let members = parse_proc_cgroup("3:cpu,cpuacct:/docker/x/job\n2:pids:/a\n");
        assert_eq!(v1_dir(&mounts, &members, "cpuacct"), Some(PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/job")));
        assert_eq!(v1_dir(&mounts, &members, "pids"), Some(PathBuf::from("/sys/fs/cgroup/with space/a")));
    }

    #[test]
    fn v2_membership_and_mount_are_found() {
        let mounts = parse_mountinfo(
            "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n",
        );
        let members = parse_proc_cgroup("0::/system.slice/gavel.service\n");
        assert!(mounts[0].v2);
        assert_eq!(members[0].hierarchy, 0);
        assert!(members[0].controllers.is_empty());
        assert_eq!(
            own_dir(&mounts[0], &members[0].path),
            Some(PathBuf::from("/sys/fs/cgroup/system.slice/gavel.service"))
        );
    }

    #[test]
    fn counters_parse_on_both_versions() {
        let oom_control = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        assert_eq!(parse_keyed(oom_control, "oom_kill"), Some(3));
        let events = "low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 1\n";
        assert_eq!(parse_keyed(events, "oom_kill"), Some(1));
        assert_eq!(parse_keyed(events, "oom"), Some(2));
        let cpu_stat = "usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\n";
        assert_eq!(parse_keyed(cpu_stat, "usage_usec"), Some(123_456));
        assert_eq!(parse_keyed("under_oom 0\n", "oom_kill"), None);
    }

    #[test]
    fn unescape_handles_octal_and_plain_backslashes() {
        assert_eq!(unescape("a\\040b"), "a b");
        assert_eq!(unescape("a\\b"), "a\\b");
        assert_eq!(unescape("tail\\04"), "tail\\04");
    }
}
