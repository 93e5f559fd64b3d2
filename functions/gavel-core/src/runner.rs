//! The runner contract: the bundle the runner reads and the report it writes.
//! The bundle never holds expected outputs; those stay on the trusted side.

use serde::{Deserialize, Serialize};

use crate::isolation::Isolation;
use crate::job::JobId;
use crate::limits::Limits;

mod output;

pub use self::output::{Encoding, Output};

/// The largest bundle anyone reads: a request body of a few MiB, JSON-escaped once more.
pub const MAX_BUNDLE_BYTES: u64 = 256 * 1024 * 1024;

/// Everything the runner needs to run one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    pub job_id: JobId,
    /// A catalogue id (never an alias).
    pub language: String,
    pub source: String,
    pub limits: Limits,
    pub compile_limits: Limits,
    /// A plain run is one test whose input is the request's stdin.
    pub tests: Vec<BundleTest>,
    /// Stop after the first test that fails on its own (non-zero exit, signal, a limit).
    pub stop_on_first_failure: bool,
    /// The job's whole output budget: stdout and stderr of every test, in bytes. A test that
    /// writes past what is left of it is stopped at the output limit.
    pub output_budget_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleTest {
    pub input: String,
}

/// What the runner measured. Written once, at the end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub job_id: JobId,
    pub isolation: Isolation,
    /// Present for compiled languages.
    pub compile: Option<StepReport>,
    /// One per test actually run, in bundle order; fewer when stopped early or compile failed.
    pub tests: Vec<StepReport>,
    /// Set when the runner itself could not finish (never for the program's own failures).
    pub error: Option<String>,
}

/// One sandboxed step: the compile, or one test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct StepReport {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub cpu_time_ms: u64,
    pub wall_time_ms: u64,
    pub memory_kb: u64,
    pub stdout: Output,
    pub stderr: Output,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    /// The limit that stopped the step, if one did.
    pub limit: Option<LimitHit>,
}

impl StepReport {
    /// Exited 0 on its own, within every limit.
    pub fn succeeded(&self) -> bool {
        self.limit.is_none() && self.signal.is_none() && self.exit_code == Some(0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitHit {
    CpuTime,
    WallTime,
    Memory,
    Output,
}
