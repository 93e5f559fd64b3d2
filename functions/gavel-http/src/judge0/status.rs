//! Judge0's statuses (`app/enumerations/status.rs`) and what a Gavel result is in their terms:
//! what `isolate_job.rb` would have recorded for the same run.

use std::ops::Range;

use chrono::{DateTime, Utc};
use gavel_core::job::{JobResult, JobStatus, TestResult};
use gavel_core::runner::{Encoding, LimitHit, Output};
use gavel_core::{JobRecord, Verdict};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Status {
    pub id: u8,
    pub description: &'static str,
}

const fn status(id: u8, description: &'static str) -> Status {
    Status { id, description }
}

pub(super) const IN_QUEUE: Status = status(1, "In Queue");
pub(super) const PROCESSING: Status = status(2, "Processing");
pub(super) const ACCEPTED: Status = status(3, "Accepted");
pub(super) const WRONG_ANSWER: Status = status(4, "Wrong Answer");
pub(super) const TIME_LIMIT: Status = status(5, "Time Limit Exceeded");
pub(super) const COMPILATION_ERROR: Status = status(6, "Compilation Error");
pub(super) const SIGSEGV: Status = status(7, "Runtime Error (SIGSEGV)");
pub(super) const SIGXFSZ: Status = status(8, "Runtime Error (SIGXFSZ)");
pub(super) const SIGFPE: Status = status(9, "Runtime Error (SIGFPE)");
pub(super) const SIGABRT: Status = status(10, "Runtime Error (SIGABRT)");
pub(super) const NZEC: Status = status(11, "Runtime Error (NZEC)");
pub(super) const OTHER: Status = status(12, "Runtime Error (Other)");
pub(super) const INTERNAL_ERROR: Status = status(13, "Internal Error");
pub(super) const EXEC_FORMAT_ERROR: Status = status(14, "Exec Format Error");

/// `GET /statuses`, in id order.
pub(super) const ALL: [Status; 14] = [
    IN_QUEUE,
    PROCESSING,
    ACCEPTED,
    WRONG_ANSWER,
    TIME_LIMIT,
    COMPILATION_ERROR,
    SIGSEGV,
    SIGXFSZ,
    SIGFPE,
    SIGABRT,
    NZEC,
    OTHER,
    INTERNAL_ERROR,
    EXEC_FORMAT_ERROR,
];

/// The exit status a shell reports for a program the kernel killed with SIGKILL, which is what
/// Judge0 shows for an out-of-memory kill: it runs programs through `bash run`.
const OOM_EXIT_STATUS: i32 = 137;
const SIGNAL_XFSZ: i32 = 25;

/// `Status.find_runtime_error_by_status_code`.
fn for_signal(signal: i32) -> Status {
    match signal {
        11 => SIGSEGV,
        25 => SIGXFSZ,
        8 => SIGFPE,
        6 => SIGABRT,
        _ => OTHER,
    }
}

/// One submission's execution attributes, as Judge0 would have stored them.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Execution {
    pub status: Option<Status>,
    /// Seconds: CPU time averaged over the runs, wall time of the last.
    pub time: Option<f64>,
    pub wall_time: Option<f64>,
    pub memory: Option<u64>,
    pub stdout: Option<Vec<u8>>,
    pub stderr: Option<Vec<u8>>,
    pub compile_output: Option<Vec<u8>>,
    pub exit_code: Option<i32>,
    pub exit_signal: Option<i32>,
    pub message: Option<String>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// The status of a job that has not ended, `None` once it has.
pub(super) fn unfinished(record: &JobRecord) -> Option<Status> {
    match record.status {
        JobStatus::Pending => Some(IN_QUEUE),
        JobStatus::Running => Some(PROCESSING),
        JobStatus::Completed | JobStatus::Failed => None,
    }
}

/// The submission whose runs are `runs` (tests of the job, in order) in `record`.
pub(super) fn execution(record: &JobRecord, runs: Range<usize>) -> Execution {
    let finished_at = record.finished_at;
    match (record.status, &record.result) {
        (JobStatus::Pending | JobStatus::Running, _) => {
            Execution { status: unfinished(record), ..Execution::default() }
        }
        (JobStatus::Failed, _) | (JobStatus::Completed, None) => Execution {
            status: Some(INTERNAL_ERROR),
            message: Some(record.error.clone().unwrap_or_else(|| "the job ended without a result".into())),
            finished_at,
            ..Execution::default()
        },
        (JobStatus::Completed, Some(result)) => Execution { finished_at, ..completed(result, runs) },
    }
}

fn completed(result: &JobResult, runs: Range<usize>) -> Execution {
    let compile_output = result.compile.as_ref().and_then(|compile| match compile.limit {
        // Judge0's words for a compiler it stopped at its time limit, instead of what it wrote.
        Some(LimitHit::CpuTime | LimitHit::WallTime) => Some(b"Compilation time limit exceeded.".to_vec()),
        _ => non_empty(&compile.output, compile.output_encoding),
    });
    if result.verdict == Verdict::CompilationError {
        // Judge0 clears every run attribute of a submission that did not compile.
        return Execution { status: Some(COMPILATION_ERROR), compile_output, ..Execution::default() };
    }
    let tests = result.tests.get(runs).unwrap_or_default();
    // Judge0 stops at the first run that is not accepted and reports that one.
    let mut ran: Vec<(&TestResult, Judged)> = Vec::new();
    for test in tests.iter().filter(|t| t.verdict != Verdict::Skipped) {
        let judged = judge(test);
        let accepted = judged.status == ACCEPTED;
        ran.push((test, judged));
        if !accepted {
            break;
        }
    }
    let Some((last, judged)) = ran.last() else {
        return Execution {
            status: Some(INTERNAL_ERROR),
            message: Some("the submission was not run".into()),
            compile_output,
            ..Execution::default()
        };
    };
    let count = ran.len() as u64;
    let cpu_ms: u64 = ran.iter().map(|(t, _)| t.time_ms).sum();
    Execution {
        status: Some(judged.status),
        time: Some(cpu_ms as f64 / count as f64 / 1000.0),
        wall_time: Some(last.wall_time_ms as f64 / 1000.0),
        // An integer column takes the average truncated.
        memory: Some(ran.iter().map(|(t, _)| t.memory_kb).sum::<u64>() / count),
        stdout: non_empty(&last.stdout, last.stdout_encoding),
        stderr: non_empty(&last.stderr, last.stderr_encoding),
        compile_output,
        exit_code: Some(judged.exit_code),
        exit_signal: judged.exit_signal,
        message: judged.message.clone(),
        finished_at: None,
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Judged {
    status: Status,
    exit_code: i32,
    exit_signal: Option<i32>,
    message: Option<String>,
}

/// One run as isolate would have seen it: a time-out, a signal, an exit status, or output to
/// compare.
fn judge(test: &TestResult) -> Judged {
    let ended =
        |status, exit_code, exit_signal, message: Option<String>| Judged { status, exit_code, exit_signal, message };
    let exited = |code: i32| ended(NZEC, code, None, Some(format!("Exited with error status {code}")));
    let signalled =
        |signal: i32| ended(for_signal(signal), 0, Some(signal), Some(format!("Caught fatal signal {signal}")));
    match test.verdict {
        Verdict::TimeLimitExceeded => {
            let wall = test.limit == Some(LimitHit::WallTime);
            let message = if wall { "Time limit exceeded (wall clock)" } else { "Time limit exceeded" };
            ended(TIME_LIMIT, 0, None, Some(message.into()))
        }
        Verdict::MemoryLimitExceeded => exited(OOM_EXIT_STATUS),
        // isolate's file-size limit is what stops a flood of output there.
        Verdict::OutputLimitExceeded => signalled(SIGNAL_XFSZ),
        Verdict::RuntimeError => match (test.signal, test.exit_code) {
            (Some(signal), _) => signalled(signal),
            (None, Some(code)) if code != 0 => exited(code),
            _ => ended(OTHER, test.exit_code.unwrap_or(0), None, None),
        },
        Verdict::Accepted => ended(ACCEPTED, test.exit_code.unwrap_or(0), None, None),
        // Judge0 has no checkers: a partial score (which its API cannot ask for) is not accepted.
        Verdict::WrongAnswer | Verdict::PartiallyAccepted => {
            ended(WRONG_ANSWER, test.exit_code.unwrap_or(0), None, None)
        }
        Verdict::CompilationError | Verdict::InternalError | Verdict::Skipped => {
            ended(INTERNAL_ERROR, 0, None, Some("internal error".into()))
        }
    }
}

/// Output bytes; `None` for none, as Judge0 stores an empty output.
fn non_empty(text: &str, encoding: Encoding) -> Option<Vec<u8>> {
    let output = Output { text: text.to_owned(), encoding };
    output.bytes().map(|bytes| bytes.into_owned()).filter(|bytes| !bytes.is_empty())
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
