//! What one run is asked to do, what it gets beside its command, and what it did.

use std::os::fd::OwnedFd;

use gavel_core::runner::{LimitHit, Segment};

/// One program run.
#[derive(Debug, Clone)]
pub struct RunCommand {
    /// `argv[0]` is resolved through `PATH` inside the sandbox.
    pub argv: Vec<String>,
    /// Added to (and overriding) the default environment; see the module docs.
    pub env: Vec<(String, String)>,
    pub stdin: Vec<u8>,
    pub cpu_time_ms: u64,
    pub wall_time_ms: u64,
    /// Cap for stdout and for stderr each; beyond it the program is killed.
    pub output_bytes: u64,
    /// Cap for stdout and stderr together (what is left of a job's output budget); beyond it
    /// the program is killed.
    pub combined_output_bytes: u64,
    /// Whether the program may write `/box` (the compile step) or not (test runs).
    pub writable_box: bool,
    /// This run's memory limit, at most the sandbox's (a compile step may need more than the
    /// tests); `None` keeps the sandbox's. Enforced by the cgroup; without one by the memory watch.
    pub memory_bytes: Option<u64>,
    /// This run's process limit, at most the sandbox's; `None` keeps the sandbox's.
    pub processes: Option<u32>,
    /// Stderr goes into the stdout pipe (isolate's `--stderr-to-stdout`).
    pub merge_stderr: bool,
    /// Record the order stdout and stderr arrive in ([`RunOutcome::order`]).
    pub keep_order: bool,
}

impl Default for RunCommand {
    fn default() -> Self {
        RunCommand {
            argv: Vec::new(),
            env: Vec::new(),
            stdin: Vec::new(),
            cpu_time_ms: 2_000,
            wall_time_ms: 5_000,
            output_bytes: 1 << 20,
            combined_output_bytes: u64::MAX,
            writable_box: false,
            memory_bytes: None,
            processes: None,
            merge_stderr: false,
            keep_order: false,
        }
    }
}

/// How many descriptors a run may get beside its stdio ([`RunFds::extra`]).
pub const MAX_EXTRA_FDS: usize = 3;

/// Descriptors a run gets beside the ones the sandbox makes for it. The sandbox closes its copies
/// once the zygote has them, so a caller that reads a file afterwards keeps a clone of its own
/// (`try_clone`: the same open file, see [`super::read_capped`]).
#[derive(Debug, Default)]
pub struct RunFds {
    /// At 3, 4, … in the program, in order (at most [`MAX_EXTRA_FDS`]): a program reaches them
    /// as `/dev/fd/3`, … ([`super::sealed_file`], [`super::scratch_file`]).
    pub extra: Vec<OwnedFd>,
    /// The program's stdin and stdout (a read end and a write end, blocking) instead of the
    /// host's pipes: another run's, for an interactive problem. Then nothing is fed
    /// ([`RunCommand::stdin`] must be empty), stdout is not captured ([`RunOutcome::stdout`] is
    /// empty) and stderr cannot be merged into it; stderr is captured and every limit holds.
    pub stdio: Option<(OwnedFd, OwnedFd)>,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    /// CPU of the whole process tree: the cgroup's usage delta; `RUSAGE_CHILDREN` without one.
    pub cpu_time_ms: u64,
    /// From the program's start to its exit, measured by init.
    pub wall_time_ms: u64,
    /// Peak memory of the program: its largest process's peak resident set, whatever the limit
    /// (page cache is not the program's). A run stopped at the memory limit shows at least the
    /// peak the limit saw (a cgroup's counts kernel memory such as socket buffers too).
    pub memory_kb: u64,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    pub limit: Option<LimitHit>,
    /// Runs of bytes in arrival order, when [`RunCommand::keep_order`] asked.
    pub order: Vec<Segment>,
}
