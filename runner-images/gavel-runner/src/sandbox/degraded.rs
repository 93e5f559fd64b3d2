//! Degraded mode's work dirs: `/box` and `/tmp` are plain host directories under the sandbox's
//! scratch dir. Between runs no process of the job exists, so the host can walk `/box` without a
//! race; it still never follows a symlink there (`symlink_metadata`, `lchown`, no chmod on links).
//!
//! As root, the job's uid U (and gid G, the same number) is its own, and the dirs are private to
//! it: `box` is `root:G 0750` with files `root:G 0640` (readable by the program, by no other
//! job's uid), given to `U:G` only for a writable run (the compile step) and taken back after it;
//! each run's `tmp` is a fresh `U:G 0700`. The directories every uid may write (`/tmp`,
//! `/dev/shm`, …) are shared with the host or container: Landlock keeps the program out of them
//! where the kernel has it, and otherwise everything U left there is removed after each run.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::filter::Confinement;
use super::zygote::Plan;
use super::{BOX_DIR, SandboxError, SandboxOptions, cgroup::JobCgroup, is_root, path_cstring, rootfs};

pub(super) struct Dirs {
    box_dir: PathBuf,
    box_str: String,
    tmp_dir: PathBuf,
    tmp_str: String,
    /// Root can give `/box` to the program's uid and take it back; otherwise it stays writable.
    root: bool,
    /// The program's uid (and gid).
    uid: u32,
    /// Whether `/box` is currently writable by the program.
    box_writable: bool,
}

fn io(what: &str, p: &Path) -> impl FnOnce(std::io::Error) -> SandboxError {
    let context = format!("{what} {}", p.display());
    move |e| SandboxError::io(context, e)
}

fn utf8(p: &Path) -> Result<String, SandboxError> {
    p.to_str().map(str::to_string).ok_or_else(|| SandboxError::InvalidOptions(format!("{} is not UTF-8", p.display())))
}

impl Dirs {
    /// Creates `box` (with the job's files) and the place for `tmp` under `scratch`.
    pub(super) fn create(scratch: &Path, files: &[(String, Vec<u8>)], uid: u32) -> Result<Dirs, SandboxError> {
        let box_dir = scratch.join("box");
        let tmp_dir = scratch.join("tmp");
        let root = is_root();
        fs::DirBuilder::new().mode(0o750).create(&box_dir).map_err(io("mkdir", &box_dir))?;
        // Modes set after creation, so the runner's umask cannot narrow them.
        fs::set_permissions(&box_dir, fs::Permissions::from_mode(0o750)).map_err(io("chmod", &box_dir))?;
        for (name, contents) in files {
            let p = box_dir.join(name);
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o640)
                .open(&p)
                .and_then(|mut f| std::io::Write::write_all(&mut f, contents))
                .map_err(io("write", &p))?;
            fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).map_err(io("chmod", &p))?;
            if root {
                std::os::unix::fs::lchown(&p, Some(0), Some(uid)).map_err(io("chown", &p))?;
            }
        }
        if root {
            std::os::unix::fs::lchown(&box_dir, Some(0), Some(uid)).map_err(io("chown", &box_dir))?;
        }
        let mut dirs = Dirs {
            box_str: utf8(&box_dir)?,
            tmp_str: utf8(&tmp_dir)?,
            box_dir,
            tmp_dir,
            root,
            uid,
            box_writable: false,
        };
        dirs.set_box_writable(true)?;
        Ok(dirs)
    }

    pub(super) fn box_dir(&self) -> &Path {
        &self.box_dir
    }

    pub(super) fn tmp_str(&self) -> &str {
        &self.tmp_str
    }

    /// Where a run may write: its tmp dir, and `box` when the run may write it.
    pub(super) fn writable(&self, writable_box: bool) -> Vec<&Path> {
        let mut dirs = vec![self.tmp_dir.as_path()];
        if writable_box {
            dirs.push(&self.box_dir);
        }
        dirs
    }

    /// `/box` and `/box/...` arguments name the real work dir.
    pub(super) fn rewrite_arg(&self, arg: &str) -> String {
        if arg == BOX_DIR {
            self.box_str.clone()
        } else if let Some(rest) = arg.strip_prefix("/box/") {
            format!("{}/{rest}", self.box_str)
        } else {
            arg.to_string()
        }
    }

    /// A fresh, private `tmp`, and `/box` writable or not, before a run.
    pub(super) fn prepare_run(&mut self, writable_box: bool) -> Result<(), SandboxError> {
        self.take_back(&self.tmp_dir)?;
        match fs::remove_dir_all(&self.tmp_dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io("clear", &self.tmp_dir)(e));
            }
            _ => {}
        }
        fs::DirBuilder::new().mode(0o700).create(&self.tmp_dir).map_err(io("mkdir", &self.tmp_dir))?;
        if self.root {
            std::os::unix::fs::lchown(&self.tmp_dir, Some(self.uid), Some(self.uid))
                .map_err(io("chown", &self.tmp_dir))?;
        }
        self.set_box_writable(writable_box)
    }

    /// Makes everything under `box` and `tmp` root's again, so the whole scratch dir can be
    /// removed once no program of the job runs.
    pub(super) fn reclaim(&self) -> Result<(), SandboxError> {
        self.take_back(&self.box_dir)?;
        self.take_back(&self.tmp_dir)
    }

    /// The program's files under `path` become root's, if root gave them away (a missing `path`
    /// is fine). Root in a container holds no `CAP_DAC_OVERRIDE`: it can only list and delete
    /// what it owns.
    fn take_back(&self, path: &Path) -> Result<(), SandboxError> {
        if !self.root || fs::symlink_metadata(path).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound) {
            return Ok(());
        }
        lock_tree(path, self.uid, 0)
    }

    /// Removes everything the program's uid left in the directories every uid may write, so
    /// nothing crosses to the next run (the program's processes are all gone, and no other job
    /// has this uid, so nothing can race the walk). Used where Landlock cannot keep it out.
    pub(super) fn sweep_shared(&self) -> Result<(), SandboxError> {
        if !self.root {
            return Ok(());
        }
        for dir in SHARED_DIRS.iter().map(Path::new) {
            let Ok(meta) = fs::symlink_metadata(dir) else { continue };
            if !meta.is_dir() || meta.permissions().mode() & 0o002 == 0 {
                continue;
            }
            for entry in fs::read_dir(dir).map_err(io("list", dir))? {
                let path = entry.map_err(io("list", dir))?.path();
                if fs::symlink_metadata(&path).is_ok_and(|m| m.uid() == self.uid) {
                    lock_tree(&path, self.uid, 0)?;
                    let removed = if fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
                        fs::remove_dir_all(&path)
                    } else {
                        fs::remove_file(&path)
                    };
                    removed.map_err(io("remove", &path))?;
                }
            }
        }
        Ok(())
    }

    fn set_box_writable(&mut self, writable: bool) -> Result<(), SandboxError> {
        if !self.root || writable == self.box_writable {
            return Ok(());
        }
        if writable {
            std::os::unix::fs::lchown(&self.box_dir, Some(self.uid), Some(self.uid))
                .map_err(io("chown", &self.box_dir))?;
        } else {
            lock_tree(&self.box_dir, self.uid, self.uid)?;
        }
        self.box_writable = writable;
        Ok(())
    }
}

/// The directories every uid may write on a Debian host or runner image (those present).
const SHARED_DIRS: &[&str] = &["/tmp", "/var/tmp", "/dev/shm", "/dev/mqueue", "/run/lock"];

/// Takes back everything `uid` owns under `path`, without following symlinks: chown to root and
/// group `gid`, the group keeping what the owner could read and execute (not write), nothing for
/// others, no set-id bits; directories keep their owner's rwx, so root can walk and empty them
/// without `CAP_DAC_OVERRIDE`. With `gid` 0 nothing stays readable but by root. Chown comes
/// first: root then owns what it changes, so the chmod needs no `CAP_FOWNER` either.
fn lock_tree(path: &Path, uid: u32, gid: u32) -> Result<(), SandboxError> {
    lock_tree_below(path, uid, gid, 0)
}

fn lock_tree_below(path: &Path, uid: u32, gid: u32, depth: u32) -> Result<(), SandboxError> {
    let meta = fs::symlink_metadata(path).map_err(io("stat", path))?;
    if meta.uid() == uid {
        std::os::unix::fs::lchown(path, Some(0), Some(gid)).map_err(io("chown", path))?;
        if !meta.file_type().is_symlink() {
            let owner = meta.permissions().mode() & 0o700 | if meta.is_dir() { 0o700 } else { 0 };
            let group = if gid == 0 { 0 } else { (owner >> 3) & 0o050 };
            fs::set_permissions(path, fs::Permissions::from_mode(owner | group)).map_err(io("chmod", path))?;
        }
    }
    if meta.is_dir() && depth < 64 {
        for entry in fs::read_dir(path).map_err(io("list", path))? {
            let entry = entry.map_err(io("list", path))?;
            lock_tree_below(&entry.path(), uid, gid, depth + 1)?;
        }
    }
    Ok(())
}

/// RLIMIT_NPROC counts every task of the program's real uid. As root the program gets a uid of
/// its own; otherwise it shares the runner's, so the limit is what that uid runs now plus the
/// job's allowance (approximate: the runner's own thread count may change).
fn nproc_limit(opts: &SandboxOptions, root: bool) -> u64 {
    let allowance = u64::from(opts.processes);
    if root {
        return allowance;
    }
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    let tasks: u64 = fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.metadata().is_ok_and(|m| m.uid() == uid))
        .filter_map(|e| fs::read_dir(e.path().join("task")).ok())
        .map(|t| t.count() as u64)
        .sum();
    tasks + allowance
}

impl Plan {
    /// The plan without namespaces: the zygote only joins the cgroup (if any).
    pub(super) fn degraded(opts: &SandboxOptions, dirs: &Dirs, cg: Option<&JobCgroup>) -> Result<Plan, SandboxError> {
        let root = is_root();
        Ok(Plan {
            cgroup_joins: rootfs::join_files(cg)?,
            cgroup_dir: cg.and_then(JobCgroup::v2_dir_fd),
            user_maps: None,
            unshare: 0,
            steps: Vec::new(),
            new_root: None,
            tmp_data: Default::default(),
            box_dir: path_cstring(dirs.box_dir())?,
            creds: root.then_some((dirs.uid, dirs.uid)),
            filters: rootfs::filters(Confinement {
                no_network_namespace: true,
                no_ipc_namespace: true,
                no_memory_cgroup: cg.is_none(),
            })?,
            rlimits: rootfs::rlimits(opts, cg.is_some(), Some(nproc_limit(opts, root))),
        })
    }
}
