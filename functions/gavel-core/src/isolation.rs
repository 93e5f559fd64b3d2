//! Isolation: what the sandbox set up for a job (the level in force, reported with every result
//! and by `GET /health`) and the policy a deployment demands of it. A runner checks the policy
//! before it runs any program, and `gavel serve` before it starts: a host that cannot meet it is
//! refused with what is missing and how to get it, never silently run weaker.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Which isolation the sandbox set up. Never silently weaker: it says what ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Isolation {
    pub level: IsolationLevel,
    pub namespaces: Vec<String>,
    /// "v1" or "v2"; absent when no cgroup could be made.
    pub cgroup: Option<String>,
    pub seccomp: bool,
    /// The program runs as a uid of its own, not the runner's.
    pub uid_drop: bool,
    pub pivot_root: bool,
    /// Landlock confines the program's writes to its own directories.
    #[serde(default)]
    pub landlock: bool,
    pub notes: Vec<String>,
}

impl Isolation {
    /// Isolation that claims no sandbox mechanism (no namespace, cgroup, seccomp, uid drop,
    /// pivot_root or Landlock): only a boundary outside the runner, or nothing known about one.
    pub fn boundary(level: IsolationLevel, notes: Vec<String>) -> Isolation {
        Isolation {
            level,
            namespaces: Vec::new(),
            cgroup: None,
            seccomp: false,
            uid_drop: false,
            pivot_root: false,
            landlock: false,
            notes,
        }
    }
}

/// How strong the isolation in force is, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IsolationLevel {
    /// The program may share the runner's uid: nothing stands between it and the runner.
    Insecure,
    /// No namespaces or job cgroup of the runner's own: the container or task around the runner is
    /// the boundary. Inside it the program still gets a uid of its own (the runner is root),
    /// private files, a fresh tmp dir per test, a memory limit the runner holds, and seccomp.
    Container,
    /// Namespaces, a private root, a cgroup, seccomp and a uid of its own.
    Full,
}

impl IsolationLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            IsolationLevel::Insecure => "insecure",
            IsolationLevel::Container => "container",
            IsolationLevel::Full => "full",
        }
    }
}

/// The minimum isolation a deployment runs programs under (`--isolation`, `GAVEL_ISOLATION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IsolationPolicy {
    /// The runner's own sandbox is the boundary: the default of the process launcher.
    Full,
    /// One container or task per job is the boundary: the Docker launcher and Fargate.
    Container,
    /// Explicit opt-in for a developer's own machine: programs may reach the runner.
    Insecure,
}

impl IsolationPolicy {
    /// The environment variable that carries the policy to the runner (and to `gavel serve`).
    pub const ENV: &'static str = "GAVEL_ISOLATION";

    pub const ALL: [IsolationPolicy; 3] =
        [IsolationPolicy::Full, IsolationPolicy::Container, IsolationPolicy::Insecure];

    pub fn as_str(self) -> &'static str {
        match self {
            IsolationPolicy::Full => "full",
            IsolationPolicy::Container => "container",
            IsolationPolicy::Insecure => "insecure",
        }
    }

    pub fn parse(s: &str) -> Option<IsolationPolicy> {
        IsolationPolicy::ALL.into_iter().find(|policy| policy.as_str() == s)
    }

    /// The weakest level this policy accepts.
    pub fn minimum(self) -> IsolationLevel {
        match self {
            IsolationPolicy::Full => IsolationLevel::Full,
            IsolationPolicy::Container => IsolationLevel::Container,
            IsolationPolicy::Insecure => IsolationLevel::Insecure,
        }
    }

    /// Whether `isolation` meets this policy; if not, what is missing and how to get it.
    pub fn check(self, isolation: &Isolation) -> Result<(), PolicyUnmet> {
        if isolation.level >= self.minimum() {
            return Ok(());
        }
        let user_namespace = isolation.namespaces.iter().any(|ns| ns == "user");
        let mut missing = Vec::new();
        if self == IsolationPolicy::Full {
            if isolation.namespaces.is_empty() {
                missing.push(
                    "namespaces: run as root, or allow unprivileged user namespaces \
                     (sysctl kernel.unprivileged_userns_clone=1, and on Ubuntu \
                     kernel.apparmor_restrict_unprivileged_userns=0)"
                        .to_owned(),
                );
            }
            if isolation.cgroup.is_none() {
                missing.push(
                    "a cgroup for memory and processes: run as root, or delegate a cgroup to this user \
                     (cgroup v2: systemd-run --user --scope -p Delegate=yes gavel serve …; cgroup v1: memory, \
                     pids and cpuacct directories this user owns, with the server started inside them)"
                        .to_owned(),
                );
            }
        }
        let uid_missing = match self {
            IsolationPolicy::Full => !isolation.uid_drop && !user_namespace,
            _ => !isolation.uid_drop,
        };
        if uid_missing {
            missing.push(
                "a uid of the program's own: run the runner as root (in a container: with the capabilities \
                 SETUID, SETGID, CHOWN and KILL); without root, only the full level (user namespaces and a \
                 delegated cgroup) keeps the program from the runner's uid and memory"
                    .to_owned(),
            );
        }
        if !isolation.seccomp {
            missing.push("seccomp filters: a kernel built with CONFIG_SECCOMP_FILTER".to_owned());
        }
        Err(PolicyUnmet { policy: self, level: isolation.level, missing })
    }

    /// [`IsolationPolicy::check`] for a launcher that runs jobs side by side under one boundary
    /// (the process launcher): at the `container` level, without namespaces of their own, only
    /// Landlock keeps concurrent jobs out of the directories they share (`/tmp`, `/dev/shm`).
    pub fn check_side_by_side(self, isolation: &Isolation) -> Result<(), PolicyUnmet> {
        self.check(isolation)?;
        let shares_directories = isolation.level == IsolationLevel::Container && isolation.namespaces.is_empty();
        if self != IsolationPolicy::Insecure && shares_directories && !isolation.landlock {
            return Err(PolicyUnmet {
                policy: self,
                level: isolation.level,
                missing: vec![
                    "Landlock, to keep jobs that run side by side in one container out of the directories they \
                     share: Linux 5.13 or later with landlock among its LSMs (and a seccomp profile that allows \
                     it); or run each job in a container of its own: --launcher docker"
                        .to_owned(),
                ],
            });
        }
        Ok(())
    }
}

impl fmt::Display for IsolationPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A host that cannot give the isolation a policy demands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyUnmet {
    pub policy: IsolationPolicy,
    pub level: IsolationLevel,
    /// Each missing mechanism, with how to get it.
    pub missing: Vec<String>,
}

impl fmt::Display for PolicyUnmet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the isolation policy `{}` needs at least `{}` isolation, and this host gives `{}`",
            self.policy,
            self.policy.minimum().as_str(),
            self.level.as_str()
        )?;
        for missing in &self.missing {
            write!(f, "; missing {missing}")?;
        }
        if self.policy == IsolationPolicy::Full {
            write!(
                f,
                "; or, where a container or VM around the server is the boundary, --isolation container; or run \
                 each job in a container of its own: --launcher docker (whose policy is `container`)"
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn isolation(level: IsolationLevel) -> Isolation {
        Isolation { seccomp: true, uid_drop: true, ..Isolation::boundary(level, Vec::new()) }
    }

    #[test]
    fn levels_are_ordered_and_policies_round_trip() {
        assert!(
            IsolationLevel::Insecure < IsolationLevel::Container && IsolationLevel::Container < IsolationLevel::Full
        );
        for policy in IsolationPolicy::ALL {
            assert_eq!(IsolationPolicy::parse(policy.as_str()), Some(policy));
            assert_eq!(serde_json::to_value(policy).expect("json"), policy.as_str());
        }
        assert_eq!(IsolationPolicy::parse("degraded"), None);
    }

    #[test]
    fn each_policy_accepts_its_level_and_above() {
        for (policy, accepted) in [
            (IsolationPolicy::Full, [false, false, true]),
            (IsolationPolicy::Container, [false, true, true]),
            (IsolationPolicy::Insecure, [true, true, true]),
        ] {
            let got = [IsolationLevel::Insecure, IsolationLevel::Container, IsolationLevel::Full]
                .map(|level| policy.check(&isolation(level)).is_ok());
            assert_eq!(got, accepted, "{policy}");
        }
    }

    #[test]
    fn jobs_side_by_side_without_namespaces_need_landlock() {
        let container = isolation(IsolationLevel::Container);
        assert_eq!(IsolationPolicy::Container.check(&container), Ok(()));
        let unmet = IsolationPolicy::Container.check_side_by_side(&container).expect_err("no Landlock");
        assert!(unmet.to_string().contains("Landlock"), "{unmet}");
        let landlocked = Isolation { landlock: true, ..container.clone() };
        assert_eq!(IsolationPolicy::Container.check_side_by_side(&landlocked), Ok(()));
        let namespaced = Isolation { namespaces: vec!["user".into(), "mount".into()], ..container.clone() };
        assert_eq!(IsolationPolicy::Container.check_side_by_side(&namespaced), Ok(()));
        assert_eq!(IsolationPolicy::Insecure.check_side_by_side(&container), Ok(()));
    }

    #[test]
    fn an_unmet_policy_names_what_is_missing_and_the_fix() {
        let bare = Isolation::boundary(IsolationLevel::Insecure, Vec::new());
        let unmet = IsolationPolicy::Full.check(&bare).expect_err("nothing is there");
        let text = unmet.to_string();
        for fix in ["run as root", "user namespaces", "Delegate=yes", "CONFIG_SECCOMP_FILTER", "--launcher docker"] {
            assert!(text.contains(fix), "{fix} missing from: {text}");
        }
        let container = IsolationPolicy::Container.check(&bare).expect_err("no uid drop");
        assert!(!container.to_string().contains("Delegate=yes"), "a container needs no cgroup: {container}");
        assert!(container.to_string().contains("SETUID"), "{container}");
    }
}
