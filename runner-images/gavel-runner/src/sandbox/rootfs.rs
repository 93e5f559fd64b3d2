//! The plan for the full mode's root: a tmpfs with `/usr` bound read-only, the usrmerge links,
//! a minimal generated `/etc`, a few device nodes, the work dir and the caller's extra read-only
//! paths. The host reads everything it copies now, so the zygote only replays [`Step`]s.

use std::ffi::CString;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use libc::c_ulong;

use super::cgroup::JobCgroup;
use super::filter::Confinement;
use super::zygote::{MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, Plan, Rlimit, Step, UNSHARE_FLAGS};
use super::{SandboxError, SandboxOptions, cstring, filter, is_root, path_cstring};

/// Top-level directories that are symlinks into `/usr` on usrmerged systems (copied as links)
/// or real directories elsewhere (bound read-only).
const TOP_LEVEL: &[&str] = &["bin", "sbin", "lib", "lib32", "lib64", "libx32"];

/// Host `/etc` entries the toolchains need: the dynamic loader's cache and config, time zone,
/// locale aliases, OS id, and Debian's Python site config. Nothing with secrets.
const ETC_COPIED: &[&str] = &[
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "locale.alias",
    "os-release",
    "python3",
    "python3.11",
    "python3.12",
    "python3.13",
];

/// Host paths that must never be exposed through `readonly_paths`.
const FORBIDDEN_PREFIXES: &[&str] = &["/proc", "/sys", "/dev", "/tmp", "/box", "/root", "/run"];
const FORBIDDEN_EXACT: &[&str] =
    &["/", "/etc", "/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-", "/etc/sudoers", "/etc/ssh"];

/// The alternatives links many `/usr/bin` commands point through: hundreds of symlinks on a
/// machine with many toolchains, bound read-only in one mount rather than copied link by link
/// (which was a third of a job's sandbox setup).
const ETC_BOUND: &[&str] = &["alternatives"];

const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom"];

fn passwd(uid: u32) -> String {
    format!(
        "root:x:0:0:root:/root:/usr/sbin/nologin\n\
         nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
         sandbox:x:{uid}:{uid}:sandbox:/tmp:/usr/sbin/nologin\n"
    )
}

fn group(gid: u32) -> String {
    format!("root:x:0:\nnogroup:x:65534:\nsandbox:x:{gid}:\n")
}

const NSSWITCH: &str = "passwd: files\ngroup: files\nshadow: files\nhosts: files\n\
                        networks: files\nprotocols: files\nservices: files\n";
const HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
                     127.0.1.1\tgavel\n";

struct Builder<'a> {
    root: &'a Path,
    steps: Vec<Step>,
}

impl Builder<'_> {
    fn at(&self, rel: impl AsRef<Path>) -> Result<CString, SandboxError> {
        let rel = rel.as_ref();
        path_cstring(&self.root.join(rel.strip_prefix("/").unwrap_or(rel)))
    }

    fn dir(&mut self, rel: impl AsRef<Path>) -> Result<(), SandboxError> {
        let path = self.at(rel)?;
        self.steps.push(Step::Dir { path, mode: 0o755 });
        Ok(())
    }

    fn file(&mut self, rel: impl AsRef<Path>, contents: Vec<u8>, mode: u32) -> Result<(), SandboxError> {
        let path = self.at(rel)?;
        self.steps.push(Step::File { path, contents, mode, mtime: None });
        Ok(())
    }

    fn symlink(&mut self, target: &Path, rel: impl AsRef<Path>) -> Result<(), SandboxError> {
        let path = self.at(rel)?;
        self.steps.push(Step::Symlink { target: path_cstring(target)?, path });
        Ok(())
    }

    fn mount(
        &mut self,
        source: &str,
        rel: impl AsRef<Path>,
        fstype: Option<&str>,
        flags: c_ulong,
        data: Option<String>,
    ) -> Result<(), SandboxError> {
        let target = self.at(rel)?;
        self.steps.push(Step::Mount {
            source: Some(cstring(source, "mount source")?),
            target,
            fstype: fstype.map(|f| cstring(f, "fs type")).transpose()?,
            flags,
            data: data.map(|d| cstring(d, "mount data")).transpose()?,
        });
        Ok(())
    }

    /// Binds a host path at the same place, read-only (and nosuid, nodev unless it is a device).
    fn bind_readonly(&mut self, host: &Path, recursive: bool, attrs: u64) -> Result<(), SandboxError> {
        let source =
            host.to_str().ok_or_else(|| SandboxError::InvalidOptions(format!("{} is not UTF-8", host.display())))?;
        self.mount(source, host, None, libc::MS_BIND | if recursive { libc::MS_REC } else { 0 }, None)?;
        let target = self.at(host)?;
        self.steps.push(Step::ReadOnly { target, recursive, attrs });
        Ok(())
    }

    /// Copies a host file, symlink or (small) directory tree into the new root's tmpfs.
    fn copy(&mut self, host: &Path, depth: u32) -> Result<(), SandboxError> {
        let Ok(meta) = fs::symlink_metadata(host) else {
            return Ok(());
        };
        let ft = meta.file_type();
        if ft.is_symlink() {
            if let Ok(target) = fs::read_link(host) {
                self.symlink(&target, host)?;
            }
        } else if ft.is_file() && meta.len() <= 4 << 20 {
            // Unreadable entries (e.g. when not root) are left out rather than failing the job.
            if let Ok(contents) = fs::read(host) {
                let path = self.at(host)?;
                let mode = meta.permissions().mode() & 0o755;
                self.steps.push(Step::File { path, contents, mode, mtime: Some((meta.mtime(), meta.mtime_nsec())) });
            }
        } else if ft.is_dir() && depth > 0 {
            self.dir(host)?;
            let Ok(entries) = fs::read_dir(host) else {
                return Ok(());
            };
            let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            names.sort();
            for p in names {
                self.copy(&p, depth - 1)?;
            }
        }
        Ok(())
    }
}

/// Checks a caller-supplied read-only path and returns its canonical host path.
pub(super) fn check_readonly(p: &Path) -> Result<PathBuf, SandboxError> {
    let bad = |why: &str| SandboxError::InvalidOptions(format!("readonly path {}: {why}", p.display()));
    if !p.is_absolute() {
        return Err(bad("must be absolute"));
    }
    let canon = fs::canonicalize(p).map_err(|e| bad(&e.to_string()))?;
    let under = |prefix: &str| canon.starts_with(prefix);
    if FORBIDDEN_EXACT.iter().any(|f| canon == Path::new(f)) || FORBIDDEN_PREFIXES.iter().any(|f| under(f)) {
        return Err(bad("not allowed in the sandbox"));
    }
    Ok(canon)
}

impl Plan {
    /// The plan for full isolation, assembling the root under `staging`; the program runs as
    /// `uid` (and gid), which is [`super::SANDBOX_UID`] inside a user namespace.
    pub(super) fn full(
        opts: &SandboxOptions,
        staging: &Path,
        cg: Option<&JobCgroup>,
        uid: u32,
    ) -> Result<Plan, SandboxError> {
        let root = is_root();
        let mut b = Builder { root: staging, steps: Vec::new() };
        let root_target = path_cstring(staging)?;
        b.steps.push(Step::Mount {
            source: Some(cstring("tmpfs", "")?),
            target: root_target.clone(),
            fstype: Some(cstring("tmpfs", "")?),
            flags: libc::MS_NOSUID | libc::MS_NODEV,
            data: Some(cstring("mode=0755,size=64m", "")?),
        });
        for d in ["usr", "proc", "dev", "etc", "box", "tmp"] {
            b.dir(d)?;
        }
        if !root {
            // In a user namespace the kernel mounts a fresh proc only where a fully visible one
            // already exists in the mount namespace. The host's is kept under each run's own
            // /proc, which covers it completely.
            b.mount("/proc", "proc", None, libc::MS_BIND | libc::MS_REC, None)?;
        }
        let mut bound = vec![PathBuf::from("/usr")];
        b.bind_readonly(Path::new("/usr"), true, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)?;
        for name in TOP_LEVEL {
            let host = Path::new("/").join(name);
            match fs::symlink_metadata(&host) {
                Ok(m) if m.file_type().is_symlink() => {
                    let target = fs::read_link(&host)
                        .map_err(|e| SandboxError::io(format!("readlink {}", host.display()), e))?;
                    b.symlink(&target, &host)?;
                }
                Ok(m) if m.is_dir() => {
                    b.dir(&host)?;
                    b.bind_readonly(&host, true, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)?;
                    bound.push(host);
                }
                _ => {}
            }
        }
        b.file("etc/passwd", passwd(uid).into_bytes(), 0o644)?;
        b.file("etc/group", group(uid).into_bytes(), 0o644)?;
        b.file("etc/nsswitch.conf", NSSWITCH.as_bytes().to_vec(), 0o644)?;
        b.file("etc/hosts", HOSTS.as_bytes().to_vec(), 0o644)?;
        b.file("etc/hostname", b"gavel\n".to_vec(), 0o644)?;
        for name in ETC_COPIED {
            b.copy(&Path::new("/etc").join(name), 2)?;
        }
        for name in ETC_BOUND {
            let host = Path::new("/etc").join(name);
            if host.is_dir() {
                b.dir(&host)?;
                b.bind_readonly(&host, false, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC)?;
            }
        }
        for dev in DEVICES {
            let host = Path::new("/dev").join(dev);
            b.file(&host, Vec::new(), 0o644)?;
            b.bind_readonly(&host, false, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC)?;
        }
        for (link, target) in [
            ("dev/fd", "/proc/self/fd"),
            ("dev/stdin", "/proc/self/fd/0"),
            ("dev/stdout", "/proc/self/fd/1"),
            ("dev/stderr", "/proc/self/fd/2"),
            // POSIX shared memory and semaphores land in the run's fresh /tmp.
            ("dev/shm", "/tmp"),
        ] {
            b.symlink(Path::new(target), link)?;
        }
        b.mount(
            "tmpfs",
            "box",
            Some("tmpfs"),
            libc::MS_NOSUID | libc::MS_NODEV,
            Some(format!("mode=0755,uid={uid},gid={uid},size={}", opts.memory_bytes)),
        )?;
        for (name, contents) in &opts.files {
            b.file(Path::new("box").join(name), contents.clone(), 0o644)?;
        }
        let mut seen = Vec::new();
        for p in &opts.readonly_paths {
            let canon = check_readonly(p)?;
            // Already visible through an earlier bind (e.g. anything under /usr), or repeated.
            if bound.iter().any(|b| canon.starts_with(b)) || seen.contains(&canon) {
                continue;
            }
            let mut ancestors: Vec<&Path> = canon.ancestors().skip(1).collect();
            ancestors.pop(); // "/"
            for a in ancestors.into_iter().rev() {
                b.dir(a)?;
            }
            if canon.is_dir() {
                b.dir(&canon)?;
            } else {
                b.file(&canon, Vec::new(), 0o644)?;
            }
            b.bind_readonly(&canon, true, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)?;
            seen.push(canon);
        }
        // SAFETY: getters that cannot fail.
        let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let user_maps = if root {
            None
        } else {
            Some((cstring(format!("{uid} {euid} 1\n"), "uid map")?, cstring(format!("{uid} {egid} 1\n"), "gid map")?))
        };
        Ok(Plan {
            cgroup_joins: join_files(cg)?,
            cgroup_dir: cg.and_then(JobCgroup::v2_dir_fd),
            user_maps,
            unshare: UNSHARE_FLAGS,
            steps: b.steps,
            new_root: Some(root_target),
            tmp_data: cstring(format!("mode=1777,size={}", opts.memory_bytes), "tmp data")?,
            box_dir: cstring(super::BOX_DIR, "box")?,
            creds: root.then_some((uid, uid)),
            filters: filters(Confinement { no_memory_cgroup: cg.is_none(), ..Confinement::default() })?,
            // In a user namespace (kernel >= 5.14) RLIMIT_NPROC counts that namespace's uid,
            // which the zygote and init share with the program.
            rlimits: rlimits(opts, cg.is_some(), Some(u64::from(opts.processes) + if root { 0 } else { 2 })),
        })
    }
}

pub(super) fn join_files(cg: Option<&JobCgroup>) -> Result<Vec<CString>, SandboxError> {
    cg.map(|c| c.join_files()).unwrap_or_default().iter().map(|p| path_cstring(p)).collect()
}

pub(super) fn filters(confinement: Confinement) -> Result<Vec<seccompiler::BpfProgram>, SandboxError> {
    if filter::available() { filter::build(confinement) } else { Ok(Vec::new()) }
}

/// Open files per process. Without a memory cgroup pipe buffers are memory the memory watch
/// cannot see (it counts unix sockets' only where the program's uid is its own), so there are
/// fewer of them (and the filter keeps each at its default size).
const NOFILE: u64 = 1024;
const NOFILE_WITHOUT_CGROUP: u64 = 256;
/// Signals queued to the program at once (each one is kernel memory).
const SIGPENDING: u64 = 1024;

/// The per-job rlimits (the per-run CPU limit is added by the program's fork). Memory is the
/// cgroup's to limit or, without one, the host's memory watch: not `RLIMIT_DATA` or `RLIMIT_AS`,
/// which would fail a large allocation before it could be the memory limit (and break the JVM
/// and V8, which reserve far more than they use). Without a cgroup, `nproc` is the RLIMIT_NPROC
/// to set, if the program's uid makes one meaningful. Limits no program needs are zero: locked
/// memory, real-time priority, a higher priority, POSIX message queues.
pub(super) fn rlimits(opts: &SandboxOptions, cgroup: bool, nproc: Option<u64>) -> Vec<Rlimit> {
    let fixed = |resource, v: u64| Rlimit { resource, soft: v, hard: v };
    let mut v = vec![
        fixed(libc::RLIMIT_CORE, 0),
        fixed(libc::RLIMIT_FSIZE, opts.memory_bytes),
        fixed(libc::RLIMIT_NOFILE, if cgroup { NOFILE } else { NOFILE_WITHOUT_CGROUP }),
        fixed(libc::RLIMIT_MEMLOCK, 0),
        fixed(libc::RLIMIT_RTPRIO, 0),
        fixed(libc::RLIMIT_NICE, 0),
        fixed(libc::RLIMIT_MSGQUEUE, 0),
        fixed(libc::RLIMIT_SIGPENDING, SIGPENDING),
        // A stack as large as the memory limit lets deep recursion run; its pages count like
        // any others.
        fixed(libc::RLIMIT_STACK, opts.memory_bytes),
    ];
    if let (false, Some(n)) = (cgroup, nproc) {
        v.push(fixed(libc::RLIMIT_NPROC, n));
    }
    v
}

#[cfg(test)]
mod unit {
    use super::super::SANDBOX_UID;
    use super::*;

    #[test]
    fn readonly_paths_are_checked() {
        for bad in ["etc/mono", "/etc/shadow", "/", "/etc", "/proc/self", "/nonexistent/x", "/tmp"] {
            assert!(check_readonly(Path::new(bad)).is_err(), "{bad}");
        }
        assert_eq!(check_readonly(Path::new("/etc/ld.so.conf.d")).ok(), Some(PathBuf::from("/etc/ld.so.conf.d")));
    }

    #[test]
    fn generated_etc_has_no_real_accounts() {
        let p = passwd(61234);
        assert_eq!(p.lines().count(), 3);
        assert!(p.contains(":61234:61234:"));
        assert!(!p.contains("/bin/bash"));
        assert_eq!(group(61234).lines().count(), 3);
    }

    #[test]
    fn plan_never_copies_shadow_or_whole_etc() {
        let dir = std::env::temp_dir();
        let plan = Plan::full(&SandboxOptions::default(), &dir, None, SANDBOX_UID).expect("plan");
        for step in &plan.steps {
            let d = step.describe();
            assert!(!d.contains("shadow"), "{d}");
            assert!(!d.ends_with("/etc/passwd-"), "{d}");
        }
        assert!(plan.steps.len() < 1000);
    }
}
