//! The process sandbox: one [`Sandbox`] per job, created once, then many runs.
//!
//! Shape (full isolation): `Sandbox::new` creates the job cgroup(s) and forks a *zygote* that
//! joins them once (a cgroup-v1 migration costs 8–16 ms, so it must not happen per run), unshares
//! mount, network, IPC, UTS and cgroup namespaces (plus a user namespace when not root), builds a
//! read-only root on a tmpfs and pivots into it. Per run the zygote clones an *init* into fresh PID
//! and mount namespaces; init mounts `/proc` and a fresh `/tmp`, makes `/box` read-only unless the
//! run may write it, forks the program (rlimits, uid drop, no_new_privs, seccomp, execve) and reaps
//! it. When init exits the kernel kills whatever the program left behind. The host talks to the
//! zygote over a `SOCK_SEQPACKET` socketpair and passes the run's pipe ends with `SCM_RIGHTS`; the
//! host never opens anything inside `/box`.
//!
//! A run may get more descriptors ([`RunFds`], [`Sandbox::run_with`]): files at 3, 4, 5 (a
//! checker's `/dev/fd/3`…, in-memory files from [`sealed_file`] and [`scratch_file`]), and stdin
//! and stdout connected to another run's (an interactor and the solution, in two sandboxes).
//!
//! The program's environment is exactly `PATH=/usr/local/bin:/usr/bin:/bin`, `HOME=/tmp`,
//! `LANG=C.UTF-8` plus [`RunCommand::env`] (which overrides those). `HOME` is `/tmp` because it is
//! writable and fresh in every run, so tools that write caches there never touch `/box`.
//!
//! As root, each sandbox's programs run as a uid leased for the sandbox's lifetime (never shared
//! with a concurrent job); without root, a user namespace maps the runner's uid to
//! [`SANDBOX_UID`]. The memory limit covers everything the job charges to its cgroup: the
//! programs, their tmpfs files in `/box` and `/tmp`, page cache they pull in, and the zygote's
//! few pages; `processes` does not count the zygote and init.
//!
//! Degraded mode (no namespaces: unprivileged containers, Fargate; or forced with
//! [`SandboxOptions::force_degraded`] / `GAVEL_SANDBOX_FORCE_DEGRADED=1`): the same zygote and init,
//! but init is a session leader and child subreaper that kills every descendant when the program
//! ends; `/box` and `/tmp` are host directories (`argv` elements `/box` and `/box/...` are rewritten
//! to the real work dir); without a cgroup, memory is held by the host's memory watch
//! (`memwatch`) and processes by `RLIMIT_NPROC`, and an OOM kill in the cgroup the runner was
//! started in (a container's, whose limit the engine enforces) still counts as the memory limit;
//! as root the program gets a uid and work dirs of its own, Landlock (or a sweep of the shared
//! directories after each run) keeps what it writes from the next run, and without root the
//! runner makes itself non-dumpable, as the program then shares its uid. [`Isolation`] says
//! exactly what is in force.

mod cgroup;
mod channel;
mod command;
mod degraded;
mod describe;
mod filter;
mod landlock;
mod memfile;
mod memwatch;
mod process;
mod rootfs;
mod run;
mod sockmem;
mod streams;
mod uid;
mod wire;
mod zygote;

#[cfg(test)]
mod tests;

use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use gavel_core::isolation::{Isolation, IsolationLevel};
pub use gavel_core::runner::LimitHit;

pub use self::command::{MAX_EXTRA_FDS, RunCommand, RunFds, RunOutcome};
pub use self::describe::probe;
use self::describe::{describe, force_degraded_env, landlock_allowed};
pub use self::memfile::{read_capped, scratch_file, sealed_file};
pub use self::process::scrub_process_strings;
use self::process::{make_scratch, reap, spawn_zygote, stop_zygote};

use self::cgroup::JobCgroup;
use self::zygote::Plan;

/// The program's uid (and gid) inside a user namespace (when the runner is not root). As root,
/// each sandbox leases its own from `SANDBOX_UID + 1 ..= SANDBOX_UID + 4000` ([`Sandbox::uid`]).
/// A dedicated range rather than `nobody`, which host daemons use.
pub const SANDBOX_UID: u32 = 61000;
/// The work directory inside the sandbox (the program's cwd).
pub const BOX_DIR: &str = "/box";
/// `PATH` inside the sandbox.
pub const SANDBOX_PATH: &str = gavel_core::language::TOOLCHAIN_PATH;
/// Setting this environment variable to `1` forces the degraded path (as does
/// [`SandboxOptions::force_degraded`]).
pub const FORCE_DEGRADED_ENV: &str = "GAVEL_SANDBOX_FORCE_DEGRADED";
/// Setting this environment variable to `1` keeps Landlock out of the sandbox (as does
/// [`SandboxOptions::no_landlock`]): the path of a kernel without it, for tests and debugging.
pub const NO_LANDLOCK_ENV: &str = "GAVEL_SANDBOX_NO_LANDLOCK";

/// Per-job settings.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Files placed in the work dir before anything runs; plain names only.
    pub files: Vec<(String, Vec<u8>)>,
    /// Extra host paths the toolchain needs, bind-mounted read-only at the same place.
    pub readonly_paths: Vec<PathBuf>,
    /// Memory limit for every run of this job (cgroup; `RLIMIT_DATA` without one).
    pub memory_bytes: u64,
    /// Processes and threads the program may have at once (the sandbox's own zygote and init
    /// come on top).
    pub processes: u32,
    /// Skip namespaces and cgroups even where the host allows them (tests, debugging).
    pub force_degraded: bool,
    /// Skip Landlock even where the kernel has it (tests, debugging).
    pub no_landlock: bool,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            files: Vec::new(),
            readonly_paths: Vec::new(),
            memory_bytes: 256 << 20,
            processes: 64,
            force_degraded: false,
            no_landlock: false,
        }
    }
}

#[derive(thiserror::Error, Debug)]
pub enum SandboxError {
    #[error("invalid sandbox options: {0}")]
    InvalidOptions(String),
    #[error("invalid command: {0}")]
    InvalidCommand(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("seccomp filter: {0}")]
    Seccomp(String),
    #[error("sandbox setup failed at {step}: {source}")]
    Setup {
        step: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot execute {program} ({step}): {source}")]
    Exec {
        program: String,
        step: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("the sandbox's zygote is gone: {0}")]
    ZygoteGone(String),
    #[error("the run did not end within {0} ms of its wall limit; sandbox torn down")]
    Hung(u64),
    #[error("no uid of its own for the program: {0}")]
    NoUid(String),
}

impl SandboxError {
    fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        SandboxError::Io { context: context.into(), source }
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A job's sandbox. Dropping it kills the zygote, removes the cgroups and deletes temp dirs.
pub struct Sandbox {
    isolation: Isolation,
    /// The control socket; `None` once the sandbox is being torn down.
    ctrl: Option<OwnedFd>,
    zygote: libc::pid_t,
    cgroup: Option<JobCgroup>,
    /// Without a job cgroup: where the OOM kills of the cgroup we run in are counted.
    ambient_oom: Option<PathBuf>,
    memory_bytes: u64,
    processes: u32,
    /// Host temp dir: the empty mount point of the new root (full) or box + tmp (degraded).
    scratch: PathBuf,
    degraded: Option<degraded::Dirs>,
    broken: Option<String>,
    /// Declared last: released only after the zygote and everything else are gone.
    uid: uid::Lease,
}

/// The cgroup's pids limit for `processes`: the zygote and init live in it too.
fn pids_max(processes: u32) -> u64 {
    u64::from(processes) + 2
}

/// A name for a sandbox's scratch dir and job cgroup that no other sandbox has had: a runner
/// killed outright leaves both behind, and pids come round again (every 32,768 processes here),
/// so the pid and a count alone once failed a later job with "File exists".
fn unique_name(tag: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut random = [0u8; 8];
    // SAFETY: getrandom writes at most 8 bytes into a live 8-byte buffer.
    let filled = unsafe { libc::getrandom(random.as_mut_ptr().cast(), random.len(), 0) } == 8;
    let random = if filled {
        u64::from_ne_bytes(random)
    } else {
        // Unique enough beside the pid and count: the clock in nanoseconds.
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
    };
    format!("gavel-{}-{tag}{}-{random:016x}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// How long a new sandbox waits for a uid of its own when every one is in use.
const UID_WAIT: Duration = Duration::from_secs(30);

/// Why the full mode could not be set up, handing back what the degraded mode can reuse.
type FullFailure = (SandboxError, Result<JobCgroup, String>, uid::Lease);

impl Sandbox {
    /// Creates the sandbox with the strongest isolation the host allows.
    pub fn new(opts: SandboxOptions) -> Result<Sandbox, SandboxError> {
        validate_options(&opts)?;
        let started = Instant::now();
        let force = opts.force_degraded || force_degraded_env();
        let unique = unique_name("");
        let lease = uid::lease_within(UID_WAIT).map_err(SandboxError::NoUid)?;
        let sandbox = if force {
            let reason = if opts.force_degraded {
                "forced by SandboxOptions::force_degraded"
            } else {
                "forced by GAVEL_SANDBOX_FORCE_DEGRADED"
            };
            Self::degraded(&opts, &unique, Err(reason.to_string()), Err(reason.to_string()), lease)?
        } else {
            let cg = JobCgroup::create(&unique, opts.memory_bytes, pids_max(opts.processes));
            // Tried at once rather than after a probe zygote (which doubled a job's setup): where
            // the host refuses a namespace or a mount the zygote says which step failed, and the
            // degraded mode starts with that as its reason, in the isolation every result shows.
            match Self::full(&opts, &unique, cg, lease).map_err(|b| *b) {
                Ok(s) => s,
                Err((SandboxError::Setup { step, source }, cg, lease)) => {
                    tracing::debug!(%step, error = %source, "full isolation refused; degrading");
                    Self::degraded(&opts, &unique, Err(format!("{step}: {source}")), cg, lease)?
                }
                Err((e, _, _)) => return Err(e),
            }
        };
        tracing::debug!(
            isolation = ?sandbox.isolation,
            setup_ms = started.elapsed().as_secs_f64() * 1e3,
            "sandbox ready"
        );
        Ok(sandbox)
    }

    /// The isolation in force for this sandbox.
    pub fn isolation(&self) -> &Isolation {
        &self.isolation
    }

    /// The uid (and gid) the programs run as; inside the user namespace when not root.
    pub fn uid(&self) -> u32 {
        self.uid.uid
    }

    /// Runs one program to completion (or to a limit) and reports what it did.
    pub fn run(&mut self, cmd: &RunCommand) -> Result<RunOutcome, SandboxError> {
        self.run_with(cmd, RunFds::default())
    }

    /// [`Sandbox::run`] with descriptors of the caller's: extra files at 3, 4, … and stdio
    /// connected elsewhere (see [`RunFds`]). The sandbox's copies are closed as soon as the
    /// zygote has them.
    pub fn run_with(&mut self, cmd: &RunCommand, fds: RunFds) -> Result<RunOutcome, SandboxError> {
        if let Some(why) = &self.broken {
            return Err(SandboxError::ZygoteGone(why.clone()));
        }
        let mut argv = cmd.argv.clone();
        let mut env = default_env(self.degraded.as_ref());
        if let Some(dirs) = &mut self.degraded {
            dirs.prepare_run(cmd.writable_box)?;
            for a in &mut argv {
                *a = dirs.rewrite_arg(a);
            }
        }
        for (k, v) in &cmd.env {
            env.retain(|(dk, _)| dk != k);
            env.push((k.clone(), v.clone()));
        }
        let memory_bytes = cmd.memory_bytes.unwrap_or(self.memory_bytes).min(self.memory_bytes);
        let landlock = match (&self.degraded, self.isolation.landlock) {
            (Some(dirs), true) => landlock::ruleset(&dirs.writable(cmd.writable_box))?,
            _ => None,
        };
        let request = wire::encode_request(cmd, &argv, &env, &fds, landlock.is_some())?;
        let Some(ctrl) = &self.ctrl else {
            return Err(SandboxError::ZygoteGone("torn down".to_string()));
        };
        let processes = cmd.processes.unwrap_or(self.processes).min(self.processes);
        if let Some(cgroup) = &self.cgroup {
            cgroup
                .set_limits(memory_bytes, pids_max(processes))
                .map_err(|e| SandboxError::io("setting the run's cgroup limits", e))?;
        }
        // Without a job cgroup, the host is what holds the memory limit; without a network
        // namespace, the program's sockets (of its own uid) are in plain sight too.
        let socket_owner = (self.degraded.is_some() && self.isolation.uid_drop).then_some(self.uid.uid);
        let watch = self.cgroup.is_none().then_some((self.zygote, socket_owner));
        let setup = run::Setup {
            ctrl,
            cgroup: self.cgroup.as_mut(),
            ambient_oom: self.ambient_oom.as_deref(),
            watch,
            memory_bytes,
            landlock,
            fds,
        };
        let result = run::execute(setup, cmd, &request);
        if let Err(e @ (SandboxError::Hung(_) | SandboxError::ZygoteGone(_))) = &result {
            self.broken = Some(e.to_string());
            self.kill_zygote();
        }
        if let (Some(dirs), false) = (&self.degraded, self.isolation.landlock) {
            // Every process of the run is gone: whatever it left where all uids write goes too.
            dirs.sweep_shared()?;
        }
        result
    }

    /// The sandbox around a started zygote; `namespaces` says why the full mode is not in force.
    fn assemble(
        opts: &SandboxOptions,
        namespaces: Result<(), String>,
        cg: Result<JobCgroup, String>,
        (ctrl, zygote): (OwnedFd, libc::pid_t),
        scratch: PathBuf,
        degraded: Option<degraded::Dirs>,
        uid: uid::Lease,
    ) -> Sandbox {
        let cg_note = cg.as_ref().map(|c| c.version()).map_err(|e| e.clone());
        Sandbox {
            isolation: describe(
                degraded.is_none(),
                &namespaces,
                &cg_note,
                filter::available(),
                landlock_allowed(opts.no_landlock),
            ),
            ctrl: Some(ctrl),
            zygote,
            ambient_oom: cg.is_err().then(cgroup::ambient_oom_events).flatten(),
            cgroup: cg.ok(),
            memory_bytes: opts.memory_bytes,
            processes: opts.processes,
            scratch,
            degraded,
            broken: None,
            uid,
        }
    }

    fn full(
        opts: &SandboxOptions,
        unique: &str,
        cg: Result<JobCgroup, String>,
        uid: uid::Lease,
    ) -> Result<Sandbox, Box<FullFailure>> {
        let scratch = match make_scratch(unique, 0o700) {
            Ok(p) => p,
            Err(e) => return Err(Box::new((e, cg, uid))),
        };
        let built = Plan::full(opts, &scratch, cg.as_ref().ok(), uid.uid).and_then(|plan| spawn_zygote(&plan));
        let (ctrl, pid) = match built {
            Ok(v) => v,
            Err(e) => {
                let _ = std::fs::remove_dir(&scratch);
                return Err(Box::new((e, cg, uid)));
            }
        };
        Ok(Sandbox::assemble(opts, Ok(()), cg, (ctrl, pid), scratch, None, uid))
    }

    fn degraded(
        opts: &SandboxOptions,
        unique: &str,
        why: Result<(), String>,
        cg: Result<JobCgroup, String>,
        uid: uid::Lease,
    ) -> Result<Sandbox, SandboxError> {
        if !is_root() {
            // The program will run as our uid and see our /proc entry: not dumpable, our memory
            // and environment (the bundle, the report's location) are out of its reach.
            // SAFETY: plain prctl.
            unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
        }
        let scratch = make_scratch(unique, 0o711)?;
        let built = degraded::Dirs::create(&scratch, &opts.files, uid.uid).and_then(|dirs| {
            let plan = Plan::degraded(opts, &dirs, cg.as_ref().ok())?;
            let (ctrl, pid) = spawn_zygote(&plan)?;
            Ok((dirs, ctrl, pid))
        });
        let (dirs, ctrl, pid) = match built {
            Ok(v) => v,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&scratch);
                return Err(e);
            }
        };
        Ok(Sandbox::assemble(opts, why, cg, (ctrl, pid), scratch, Some(dirs), uid))
    }

    fn kill_zygote(&mut self) {
        if self.zygote > 0 {
            // SAFETY: the zygote is our unreaped child, so its pid cannot have been reused.
            unsafe { libc::kill(self.zygote, libc::SIGKILL) };
            reap(self.zygote);
            self.zygote = 0;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        stop_zygote(self.ctrl.take(), self.zygote);
        self.zygote = 0;
        // After the zygote: a cgroup can only be removed once its processes are gone.
        drop(self.cgroup.take());
        let removed = if let Some(dirs) = &self.degraded {
            if let Err(e) = dirs.reclaim() {
                tracing::warn!(error = %e, "cannot take the sandbox's files back");
            }
            std::fs::remove_dir_all(&self.scratch)
        } else {
            std::fs::remove_dir(&self.scratch)
        };
        if let Err(e) = removed {
            tracing::warn!(path = %self.scratch.display(), error = %e, "cannot remove sandbox dir");
        }
    }
}

fn default_env(degraded: Option<&degraded::Dirs>) -> Vec<(String, String)> {
    let home = degraded.map_or_else(|| "/tmp".to_string(), |d| d.tmp_str().to_string());
    let mut env = vec![
        ("PATH".to_string(), SANDBOX_PATH.to_string()),
        ("HOME".to_string(), home.clone()),
        ("LANG".to_string(), "C.UTF-8".to_string()),
    ];
    if degraded.is_some() {
        env.push(("TMPDIR".to_string(), home));
    }
    env
}

fn validate_options(opts: &SandboxOptions) -> Result<(), SandboxError> {
    for (name, _) in &opts.files {
        if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
            return Err(SandboxError::InvalidOptions(format!("file name {name:?} must be a plain name")));
        }
    }
    if opts.memory_bytes < 4 << 20 {
        return Err(SandboxError::InvalidOptions("memory_bytes must be at least 4 MiB".to_string()));
    }
    if opts.processes == 0 {
        return Err(SandboxError::InvalidOptions("processes must be at least 1".to_string()));
    }
    for p in &opts.readonly_paths {
        rootfs::check_readonly(p)?;
    }
    Ok(())
}

fn cstring(s: impl Into<Vec<u8>>, what: &str) -> Result<CString, SandboxError> {
    CString::new(s).map_err(|_| SandboxError::InvalidOptions(format!("{what} contains a NUL byte")))
}

fn path_cstring(p: &Path) -> Result<CString, SandboxError> {
    use std::os::unix::ffi::OsStrExt;
    cstring(p.as_os_str().as_bytes(), &p.display().to_string())
}
