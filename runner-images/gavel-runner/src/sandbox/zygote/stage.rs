//! Where a setup failure happened, as a number the host turns into words ([`stage_name`]).

pub(in crate::sandbox) const FDS: i64 = 1;
pub(in crate::sandbox) const CGROUP: i64 = 2;
pub(in crate::sandbox) const USERNS: i64 = 3;
pub(in crate::sandbox) const UNSHARE: i64 = 4;
pub(in crate::sandbox) const HOSTNAME: i64 = 5;
pub(in crate::sandbox) const PRIVATE: i64 = 6;
pub(in crate::sandbox) const ROOT_STEP: i64 = 7;
pub(in crate::sandbox) const PIVOT: i64 = 8;
pub(in crate::sandbox) const ROOT_READONLY: i64 = 9;
pub(in crate::sandbox) const REQUEST: i64 = 10;
pub(in crate::sandbox) const CLONE: i64 = 11;
pub(in crate::sandbox) const INIT_DIED: i64 = 12;
pub(in crate::sandbox) const MOUNT_PROC: i64 = 13;
pub(in crate::sandbox) const MOUNT_TMP: i64 = 14;
pub(in crate::sandbox) const BOX_READONLY: i64 = 15;
pub(in crate::sandbox) const SIGNALS: i64 = 16;
pub(in crate::sandbox) const PIPE: i64 = 17;
pub(in crate::sandbox) const FORK: i64 = 18;
pub(in crate::sandbox) const DUP: i64 = 19;
pub(in crate::sandbox) const RLIMIT: i64 = 20;
pub(in crate::sandbox) const CHDIR: i64 = 21;
pub(in crate::sandbox) const CREDENTIALS: i64 = 22;
pub(in crate::sandbox) const SECCOMP: i64 = 23;
pub(in crate::sandbox) const EXEC: i64 = 24;
pub(in crate::sandbox) const SESSION: i64 = 25;
pub(in crate::sandbox) const LANDLOCK: i64 = 26;

pub(in crate::sandbox) fn stage_name(stage: i64) -> &'static str {
    match stage {
        FDS => "rearranging the zygote's fds",
        CGROUP => "joining the job cgroup",
        USERNS => "creating the user namespace",
        UNSHARE => "unsharing namespaces",
        HOSTNAME => "setting the hostname",
        PRIVATE => "making mounts private",
        ROOT_STEP => "building the root",
        PIVOT => "pivot_root",
        ROOT_READONLY => "making the root read-only",
        REQUEST => "decoding the run request",
        CLONE => "cloning the run's init",
        INIT_DIED => "the run's init died",
        MOUNT_PROC => "mounting /proc",
        MOUNT_TMP => "mounting /tmp",
        BOX_READONLY => "making /box read-only",
        SIGNALS => "setting up signals",
        PIPE => "creating a pipe",
        FORK => "forking the program",
        DUP => "setting up stdio",
        RLIMIT => "setting rlimits",
        CHDIR => "changing to the work dir",
        CREDENTIALS => "dropping privileges",
        SECCOMP => "installing the seccomp filter",
        EXEC => "execve",
        SESSION => "creating a session",
        LANDLOCK => "enforcing the Landlock ruleset",
        _ => "an unknown stage",
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn stage_names_cover_every_stage() {
        for s in 1..=26 {
            assert_ne!(stage_name(s), "an unknown stage", "stage {s}");
        }
    }
}
