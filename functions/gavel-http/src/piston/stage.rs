//! A finished Gavel job as Piston's `POST /execute` answer: `{language, version, run, compile?}`,
//! each stage shaped as job.js builds it from isolate's report.

use gavel_core::JobRecord;
use gavel_core::job::{CompileResult, JobStatus, TestResult};
use gavel_core::runner::{Encoding, LimitHit, Output};
use gavel_core::verdict::Verdict;
use serde::Serialize;

use super::runtimes::Runtime;

/// isolate's status of a stage that did not end well.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) enum Status {
    /// Exited non-zero.
    RE,
    /// Killed by a signal (the memory limit's kill too).
    SG,
    /// Over the CPU or wall time limit.
    TO,
    /// Over the stdout cap.
    OL,
    /// Over the stderr cap.
    EL,
    /// The sandbox (here: the platform) failed.
    XX,
}

/// One stage. Strings are never null; times are ms and memory bytes, null where not measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Stage {
    pub stdout: String,
    pub stderr: String,
    /// Both streams in the order the program wrote them.
    pub output: String,
    pub code: Option<i32>,
    pub signal: Option<String>,
    pub message: Option<String>,
    pub status: Option<Status>,
    pub cpu_time: Option<u64>,
    pub wall_time: Option<u64>,
    pub memory: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Execution {
    /// The runtime's name, even when the request used an alias.
    pub language: &'static str,
    pub version: String,
    pub run: Stage,
    /// Only for compiled languages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compile: Option<Stage>,
}

/// Piston's answer for a terminal job. A job the platform could not finish is a stage with
/// status `XX` and Gavel's reason, answered with 200 like isolate's own `XX`: every client reads
/// a result, while a 500 (Piston's answer when its sandbox breaks) only raises in some of them.
pub(crate) fn execution(runtime: &Runtime, record: &JobRecord) -> Execution {
    let (run, compile) = match (&record.status, &record.result) {
        (JobStatus::Completed, Some(result)) => {
            let compile_failed = result.verdict == Verdict::CompilationError;
            let compile = result.compile.as_ref().map(compile_stage);
            let run = match (&compile, result.tests.first()) {
                // Piston's `run` is a copy of `compile` when the compile failed.
                (Some(compile), _) if compile_failed => compile.clone(),
                (_, Some(test)) => run_stage(test),
                (_, None) => platform_failure(&format!("Gavel job {} reported no run", record.id)),
            };
            (run, compile)
        }
        _ => {
            let reason = record.error.as_deref().unwrap_or("the job did not finish");
            (platform_failure(&format!("Gavel could not finish job {}: {reason}", record.id)), None)
        }
    };
    Execution { language: runtime.language, version: runtime.version.clone(), run, compile }
}

fn run_stage(test: &TestResult) -> Stage {
    let stdout = lossy(&test.stdout, test.stdout_encoding);
    let stderr = lossy(&test.stderr, test.stderr_encoding);
    let output = match test.interleaved() {
        Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        None => format!("{stdout}{stderr}"),
    };
    // Gavel caps each stream; the one that reached it is the longer.
    let (status, message, signal) = ending(test.limit, test.signal, test.exit_code, stderr.len() > stdout.len());
    Stage {
        stdout,
        stderr,
        output,
        code: test.exit_code,
        signal,
        message,
        status,
        cpu_time: Some(test.time_ms),
        wall_time: Some(test.wall_time_ms),
        memory: Some(test.memory_kb * 1024),
    }
}

/// How a step ended, as Piston says it: status, message and signal name. `stderr_longer` tells
/// which stream an output limit blames.
fn ending(
    limit: Option<LimitHit>,
    signal: Option<i32>,
    exit_code: Option<i32>,
    stderr_longer: bool,
) -> (Option<Status>, Option<String>, Option<String>) {
    let killed = Some("SIGKILL".to_owned());
    match (limit, signal, exit_code) {
        (Some(LimitHit::CpuTime), ..) => (Some(Status::TO), Some("Time limit exceeded".into()), killed),
        (Some(LimitHit::WallTime), ..) => (Some(Status::TO), Some("Time limit exceeded (wall clock)".into()), killed),
        (Some(LimitHit::Output), ..) if stderr_longer => {
            (Some(Status::EL), Some("stderr length exceeded".into()), killed)
        }
        (Some(LimitHit::Output), ..) => (Some(Status::OL), Some("stdout length exceeded".into()), killed),
        (Some(LimitHit::Memory), ..) => (Some(Status::SG), Some("Memory limit exceeded".into()), killed),
        (None, Some(signal), _) => {
            (Some(Status::SG), Some(format!("Caught fatal signal {signal}")), signal_name(signal))
        }
        (None, None, Some(0)) => (None, None, None),
        (None, None, Some(code)) => (Some(Status::RE), Some(format!("Exited with error status {code}")), None),
        (None, None, None) => (Some(Status::XX), Some("the program ended without an exit status".into()), None),
    }
}

/// Gavel keeps the compiler's output as one text, stdout and stderr joined; compilers write
/// their diagnostics to stderr, so that is where it goes (and to `output`).
fn compile_stage(compile: &CompileResult) -> Stage {
    let text = lossy(&compile.output, compile.output_encoding);
    let (status, message, signal) = ending(compile.limit, compile.signal, compile.exit_code, true);
    Stage {
        stdout: String::new(),
        stderr: text.clone(),
        output: text,
        code: compile.exit_code,
        signal,
        message,
        status,
        cpu_time: Some(compile.time_ms),
        wall_time: Some(compile.wall_time_ms),
        memory: Some(compile.memory_kb * 1024),
    }
}

fn platform_failure(message: &str) -> Stage {
    Stage {
        stdout: String::new(),
        stderr: String::new(),
        output: String::new(),
        code: None,
        signal: None,
        message: Some(message.to_owned()),
        status: Some(Status::XX),
        cpu_time: None,
        wall_time: None,
        memory: None,
    }
}

/// The bytes as text, invalid UTF-8 replaced by U+FFFD as Node's `Buffer#toString` does.
fn lossy(text: &str, encoding: Encoding) -> String {
    let output = Output { text: text.to_owned(), encoding };
    output.bytes().map(|bytes| String::from_utf8_lossy(&bytes).into_owned()).unwrap_or_default()
}

/// Linux's signal names as Piston lists them (globals.js); none for a number it does not.
fn signal_name(signal: i32) -> Option<String> {
    const CLASSIC: [&str; 31] = [
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    match signal {
        1..=31 => usize::try_from(signal - 1).ok().map(|i| CLASSIC[i].to_owned()),
        34 => Some("SIGRTMIN".into()),
        35..=49 => Some(format!("SIGRTMIN+{}", signal - 34)),
        50..=63 => Some(format!("SIGRTMAX-{}", 64 - signal)),
        64 => Some("SIGRTMAX".into()),
        _ => None,
    }
}

#[cfg(test)]
#[path = "stage_tests.rs"]
mod tests;
