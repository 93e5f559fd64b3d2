//! Which isolation this host gives a sandbox: detected once per process without running a
//! program, and described as the [`Isolation`] every report and `/health` carry.

use std::sync::OnceLock;

use super::*;

/// Cheap detection of the isolation a new [`Sandbox`] would get, for `GET /health`. It runs
/// nothing: the namespace check sets up one throwaway zygote per process (cached), exactly as
/// [`Sandbox::new`] would, so the two never disagree.
pub fn probe() -> Isolation {
    let (ns, cg) = if force_degraded_env() {
        let why = "forced by GAVEL_SANDBOX_FORCE_DEGRADED".to_string();
        (Err(why.clone()), Err(why))
    } else {
        (full_isolation_check(), cgroup::detect())
    };
    describe(ns.is_ok(), &ns, &cg, filter::available(), landlock_allowed(false))
}

/// Whether Landlock may be used: the kernel has it and nothing said not to.
pub(super) fn landlock_allowed(refused: bool) -> bool {
    !refused && std::env::var_os(NO_LANDLOCK_ENV).is_none_or(|v| v != "1") && landlock::abi().is_some()
}

/// Whether the host lets us build the full mode's namespaces and root (checked once per
/// process with a zygote that is stopped right away).
pub(super) fn full_isolation_check() -> Result<(), String> {
    static CACHE: OnceLock<Result<(), String>> = OnceLock::new();
    CACHE
        .get_or_init(|| {
            let unique = unique_name("probe-");
            let scratch = make_scratch(&unique, 0o700).map_err(|e| e.to_string())?;
            let result = Plan::full(&SandboxOptions::default(), &scratch, None, SANDBOX_UID)
                .and_then(|plan| spawn_zygote(&plan))
                .map(|(ctrl, pid)| stop_zygote(Some(ctrl), pid));
            let _ = std::fs::remove_dir(&scratch);
            result.map_err(|e| e.to_string())
        })
        .clone()
}

pub(super) fn force_degraded_env() -> bool {
    std::env::var_os(FORCE_DEGRADED_ENV).is_some_and(|v| v == "1")
}

/// Builds the [`Isolation`] report from what is (or would be) in force.
pub(super) fn describe(
    namespaces: bool,
    ns_result: &Result<(), String>,
    cgroup: &Result<&'static str, String>,
    seccomp: bool,
    landlock_allowed: bool,
) -> Isolation {
    let root = is_root();
    // With a mount namespace of its own the program has no shared directory to be kept out of.
    let landlock = !namespaces && landlock_allowed;
    let mut notes = Vec::new();
    let mut names = Vec::new();
    if namespaces {
        if !root {
            names.push("user".to_string());
            notes.push(
                "not root: the program runs as the runner's uid mapped to an unprivileged uid in a \
                 user namespace"
                    .to_string(),
            );
        }
        for n in ["pid", "mount", "network", "ipc", "uts", "cgroup"] {
            names.push(n.to_string());
        }
    } else {
        if let Err(e) = ns_result {
            notes.push(format!(
                "no namespaces ({e}): the program sees the runner's filesystem, processes and network (the \
                 host's, or its container's)"
            ));
        }
        notes.push("process tree killed through a session + child subreaper".to_string());
        if root {
            notes.push(
                "the program runs as a uid of its own, in a work dir and a fresh tmp dir per run that only \
                 it can read"
                    .to_string(),
            );
        } else {
            notes
                .push("not root: the program runs as the runner's own uid and can write /box in every run".to_string());
        }
        if landlock {
            let scoped = if landlock::scoped() { "; abstract unix sockets and signals are scoped to it" } else { "" };
            notes.push(format!("Landlock: the program can write only its own work and tmp dirs{scoped}"));
        } else if root {
            notes.push(
                "no Landlock: what the program leaves in /tmp, /var/tmp, /dev/shm, /dev/mqueue or /run/lock is \
                 removed after each run"
                    .to_string(),
            );
        }
        notes.push("seccomp: no sockets but AF_UNIX and no System V IPC (no network or IPC namespace)".to_string());
    }
    if let Err(e) = cgroup {
        let procs = if namespaces || root {
            "processes via RLIMIT_NPROC"
        } else {
            "processes via RLIMIT_NPROC on the runner's own uid (its current tasks plus the allowance)"
        };
        notes.push(format!(
            "no cgroup ({e}): memory held by the runner's watch over the resident memory of the run's processes \
             (no memfds, no growing socket or pipe buffers), {procs}, CPU via rusage of reaped processes"
        ));
    }
    if !seccomp {
        notes.push("seccomp unavailable".to_string());
    }
    let level = if namespaces && cgroup.is_ok() && seccomp {
        IsolationLevel::Full
    } else if root && seccomp {
        // Without root the program would share the runner's uid (or, in a user namespace
        // without a cgroup, the memory that no counter of ours sees).
        IsolationLevel::Container
    } else {
        IsolationLevel::Insecure
    };
    Isolation {
        level,
        namespaces: names,
        cgroup: cgroup.as_ref().ok().map(|v| v.to_string()),
        seccomp,
        uid_drop: root,
        pivot_root: namespaces,
        landlock,
        notes,
    }
}
