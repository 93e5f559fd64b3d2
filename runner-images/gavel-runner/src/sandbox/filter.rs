//! The seccomp deny-list the program gets just before `execve` (built by the host, installed by
//! the forked child). Denied calls fail with `EPERM`; `clone3` and x32 calls fail with `ENOSYS` so
//! libc falls back to `clone`, whose flags (unlike clone3's) a filter can inspect.
//!
//! Where the sandbox has no namespaces or job cgroup of its own ([`Confinement`]), the filter
//! also closes what they would have: sockets other than `AF_UNIX` (no network namespace), System V
//! IPC (no IPC namespace), and the ways to make the kernel hold memory no counter sees (growing
//! socket and pipe buffers, `memfd_create`) without a memory cgroup.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    TargetArch, sock_filter,
};

use super::SandboxError;

/// Syscalls refused outright: kernel attack surface (io_uring, bpf, perf, userfaultfd, keys),
/// escapes from the namespaces and mounts (mount family, unshare, setns, chroot), peeking at
/// other processes (ptrace family) and host administration. Most need privileges the program
/// lacks anyway; refusing them keeps the kernel code behind them out of reach.
const DENIED: &[libc::c_long] = &[
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_mount_setattr,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_pidfd_getfd,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_reboot,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_acct,
    libc::SYS_quotactl,
    libc::SYS_quotactl_fd,
    libc::SYS_syslog,
    libc::SYS_vhangup,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_adjtimex,
    libc::SYS_fanotify_init,
    libc::SYS_lookup_dcookie,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_iopl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_ioperm,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_modify_ldt,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_uselib,
];

/// `clone` flags that create namespaces (a user namespace would hand the program capabilities).
const NAMESPACE_FLAGS: &[libc::c_int] = &[
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWNS,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWCGROUP,
];

/// System V IPC, whose objects outlive the program and are shared by everything in one IPC
/// namespace.
const SYSV_IPC: &[libc::c_long] = &[
    libc::SYS_shmget,
    libc::SYS_shmat,
    libc::SYS_shmdt,
    libc::SYS_shmctl,
    libc::SYS_semget,
    libc::SYS_semop,
    libc::SYS_semtimedop,
    libc::SYS_semctl,
    libc::SYS_msgget,
    libc::SYS_msgsnd,
    libc::SYS_msgrcv,
    libc::SYS_msgctl,
];

/// `setsockopt(SOL_SOCKET, …)` options that grow a socket's buffers past the default.
const BUFFER_OPTIONS: &[libc::c_int] = &[libc::SO_SNDBUF, libc::SO_RCVBUF, libc::SO_SNDBUFFORCE, libc::SO_RCVBUFFORCE];

/// What the filter must make up for: the isolation the rest of the sandbox could not set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Confinement {
    /// No network namespace: only `AF_UNIX` sockets.
    pub no_network_namespace: bool,
    /// No IPC namespace: no System V IPC.
    pub no_ipc_namespace: bool,
    /// No memory cgroup: no growing socket or pipe buffers, no `memfd_create`.
    pub no_memory_cgroup: bool,
}

/// `personality` values that are harmless (the list Docker allows); others, such as
/// READ_IMPLIES_EXEC or ADDR_NO_RANDOMIZE, weaken the program's own hardening.
const PERSONALITIES: &[u64] = &[0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// Whether this kernel supports seccomp filters.
pub(super) fn available() -> bool {
    // SAFETY: PR_GET_SECCOMP only reads our state; it fails with EINVAL without seccomp.
    unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) >= 0 }
}

fn arch() -> Result<TargetArch, SandboxError> {
    TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| SandboxError::Seccomp(format!("unsupported architecture: {e}")))
}

fn audit_arch() -> u32 {
    match std::env::consts::ARCH {
        "aarch64" => 0xC000_00B7,
        "riscv64" => 0xC000_00F3,
        _ => 0xC000_003E,
    }
}

fn cond(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, SandboxError> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value).map_err(|e| SandboxError::Seccomp(e.to_string()))
}

fn rule(conditions: Vec<SeccompCondition>) -> Result<SeccompRule, SandboxError> {
    SeccompRule::new(conditions).map_err(|e| SandboxError::Seccomp(e.to_string()))
}

/// The deny-list filter (EPERM).
fn deny_filter(confinement: Confinement) -> Result<BpfProgram, SandboxError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = DENIED.iter().map(|&nr| (nr, Vec::new())).collect();
    if confinement.no_ipc_namespace {
        rules.extend(SYSV_IPC.iter().map(|&nr| (nr, Vec::new())));
    }
    if confinement.no_memory_cgroup {
        rules.insert(libc::SYS_memfd_create, Vec::new());
        let sol_socket = libc::SOL_SOCKET as u64;
        let grow = BUFFER_OPTIONS
            .iter()
            .map(|&option| {
                rule(vec![cond(1, SeccompCmpOp::Eq, sol_socket)?, cond(2, SeccompCmpOp::Eq, option as u64)?])
            })
            .collect::<Result<Vec<_>, _>>()?;
        rules.insert(libc::SYS_setsockopt, grow);
        rules.insert(libc::SYS_fcntl, vec![rule(vec![cond(1, SeccompCmpOp::Eq, libc::F_SETPIPE_SZ as u64)?])?]);
    }
    let clone_rules = NAMESPACE_FLAGS
        .iter()
        .map(|&f| rule(vec![cond(0, SeccompCmpOp::MaskedEq(f as u64), f as u64)?]))
        .collect::<Result<Vec<_>, _>>()?;
    rules.insert(libc::SYS_clone, clone_rules);
    // AF_VSOCK is not network-namespaced; on a VM it reaches the hypervisor. Without a network
    // namespace of its own the program may only talk to itself.
    let socket_rules = || -> Result<Vec<SeccompRule>, SandboxError> {
        Ok(if confinement.no_network_namespace {
            vec![rule(vec![cond(0, SeccompCmpOp::Ne, libc::AF_UNIX as u64)?])?]
        } else {
            vec![rule(vec![cond(0, SeccompCmpOp::Eq, libc::AF_VSOCK as u64)?])?]
        })
    };
    rules.insert(libc::SYS_socket, socket_rules()?);
    rules.insert(libc::SYS_socketpair, socket_rules()?);
    let odd_personality = PERSONALITIES.iter().map(|&p| cond(0, SeccompCmpOp::Ne, p)).collect::<Result<Vec<_>, _>>()?;
    rules.insert(libc::SYS_personality, vec![rule(odd_personality)?]);
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(libc::EPERM as u32), arch()?)
        .map_err(|e| SandboxError::Seccomp(e.to_string()))?;
    filter.try_into().map_err(|e: seccompiler::BackendError| SandboxError::Seccomp(e.to_string()))
}

/// `clone3` (whose flags live in memory a filter cannot read) and, on x86_64, every x32-ABI
/// call (numbers with bit 30 set, which the deny-list's exact numbers would not match) get
/// ENOSYS. Hand-written because seccompiler matches exact syscall numbers only.
fn enosys_filter() -> BpfProgram {
    const LD_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JEQ: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const JGE: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
    const RET: u16 = 0x06; // BPF_RET | BPF_K
    const X32_BIT: u32 = 0x4000_0000;
    let ins = |code, jt, jf, k| sock_filter { code, jt, jf, k };
    let enosys = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
    let x86 = cfg!(target_arch = "x86_64");
    let mut p = vec![
        ins(LD_ABS, 0, 0, 4), // seccomp_data.arch
        ins(JEQ, 1, 0, audit_arch()),
        // Another ABI: the deny-list filter kills the process on arch mismatch.
        ins(RET, 0, 0, libc::SECCOMP_RET_ALLOW),
        ins(LD_ABS, 0, 0, 0), // seccomp_data.nr
    ];
    if x86 {
        p.push(ins(JGE, 2, 0, X32_BIT));
    }
    p.push(ins(JEQ, 1, 0, libc::SYS_clone3 as u32));
    p.push(ins(RET, 0, 0, libc::SECCOMP_RET_ALLOW));
    p.push(ins(RET, 0, 0, enosys));
    p
}

/// Both filters, in installation order.
pub(super) fn build(confinement: Confinement) -> Result<Vec<BpfProgram>, SandboxError> {
    Ok(vec![enosys_filter(), deny_filter(confinement)?])
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn filters_compile() {
        let all = Confinement { no_network_namespace: true, no_ipc_namespace: true, no_memory_cgroup: true };
        for confinement in [Confinement::default(), all] {
            let filters = build(confinement).expect("filters build");
            assert_eq!(filters.len(), 2);
            assert!(filters.iter().all(|f| !f.is_empty() && f.len() < 4096));
        }
        assert!(build(all).expect("build")[1].len() > build(Confinement::default()).expect("build")[1].len());
    }

    #[test]
    fn enosys_filter_jumps_stay_in_bounds() {
        let f = enosys_filter();
        for (i, ins) in f.iter().enumerate() {
            if ins.code == 0x15 || ins.code == 0x35 {
                assert!(i + 1 + usize::from(ins.jt.max(ins.jf)) < f.len());
            }
        }
        assert_eq!(f.last().map(|i| i.code), Some(0x06));
    }
}
