//! Judged results for the module's tests: what a finished job holds.

use gavel_core::Verdict;
use gavel_core::isolation::{Isolation, IsolationLevel};
use gavel_core::job::{JobResult, Summary, TestResult};
use gavel_core::runner::{Encoding, Output};

/// A test that exited 0 after 21 ms of CPU (40 ms wall) and 3284 KiB, having written `stdout`.
pub(super) fn ran(verdict: Verdict, stdout: &[u8]) -> TestResult {
    let stdout = Output::encode(stdout);
    TestResult {
        name: None,
        verdict,
        time_ms: 21,
        wall_time_ms: 40,
        memory_kb: 3284,
        exit_code: Some(0),
        signal: None,
        stdout: stdout.text,
        stdout_encoding: stdout.encoding,
        stderr: String::new(),
        stderr_encoding: Encoding::Utf8,
        truncated: false,
        limit: None,
        hidden: false,
        input: None,
        expected_output: None,
        encoding: Encoding::Utf8,
        output_order: Vec::new(),
        checker_message: None,
        score: 0.0,
        max_score: 1.0,
    }
}

/// A job's result of `tests`, overall `verdict`.
pub(super) fn result(tests: Vec<TestResult>, verdict: Verdict) -> JobResult {
    let passed = tests.iter().filter(|test| test.verdict == Verdict::Accepted).count();
    let total = tests.len();
    JobResult {
        verdict,
        compile: None,
        tests,
        summary: Summary { passed, total },
        isolation: Isolation::boundary(IsolationLevel::Full, vec![]),
        score: 0.0,
        max_score: 0.0,
        groups: Vec::new(),
    }
}
