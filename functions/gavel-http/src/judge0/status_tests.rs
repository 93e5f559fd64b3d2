use chrono::Utc;
use gavel_core::job::CompileResult;
use gavel_core::{JobId, JobStatus};

use super::*;
use crate::judge0::fixtures;

fn run(verdict: Verdict) -> TestResult {
    fixtures::ran(verdict, b"out\n")
}

fn completed(tests: Vec<TestResult>, verdict: Verdict) -> JobRecord {
    let mut record = JobRecord::pending(JobId::new(), "python", Utc::now());
    record.status = JobStatus::Completed;
    record.finished_at = Some(Utc::now());
    record.result = Some(fixtures::result(tests, verdict));
    record
}

fn one(test: TestResult) -> Execution {
    let verdict = test.verdict;
    execution(&completed(vec![test], verdict), 0..1)
}

#[test]
fn accepted_and_wrong_answers_with_their_numbers() {
    let accepted = one(run(Verdict::Accepted));
    assert_eq!(accepted.status, Some(ACCEPTED));
    assert_eq!((accepted.time, accepted.wall_time, accepted.memory), (Some(0.021), Some(0.04), Some(3284)));
    assert_eq!((accepted.exit_code, accepted.exit_signal, accepted.message.as_deref()), (Some(0), None, None));
    assert_eq!(accepted.stdout.as_deref(), Some(&b"out\n"[..]));
    assert_eq!(accepted.stderr, None, "an empty output is null");
    assert!(accepted.finished_at.is_some());
    assert_eq!(one(run(Verdict::WrongAnswer)).status, Some(WRONG_ANSWER));
}

#[test]
fn limits_read_as_isolate_reports_them() {
    let tle = one(TestResult { limit: Some(LimitHit::CpuTime), signal: Some(9), ..run(Verdict::TimeLimitExceeded) });
    assert_eq!((tle.status, tle.message.as_deref()), (Some(TIME_LIMIT), Some("Time limit exceeded")));
    assert_eq!((tle.exit_code, tle.exit_signal), (Some(0), None));
    let wall = one(TestResult { limit: Some(LimitHit::WallTime), ..run(Verdict::TimeLimitExceeded) });
    assert_eq!(wall.message.as_deref(), Some("Time limit exceeded (wall clock)"));

    // No memory status in Judge0: an OOM kill through `bash run` is exit status 137.
    let oom = one(TestResult { limit: Some(LimitHit::Memory), signal: Some(9), ..run(Verdict::MemoryLimitExceeded) });
    assert_eq!((oom.status, oom.exit_code, oom.exit_signal), (Some(NZEC), Some(137), None));
    assert_eq!(oom.message.as_deref(), Some("Exited with error status 137"));

    let flood = one(TestResult { limit: Some(LimitHit::Output), ..run(Verdict::OutputLimitExceeded) });
    assert_eq!((flood.status, flood.exit_signal), (Some(SIGXFSZ), Some(25)));
    assert_eq!(flood.message.as_deref(), Some("Caught fatal signal 25"));
}

#[test]
fn runtime_errors_by_signal_and_exit_status() {
    let signalled = |signal| one(TestResult { signal: Some(signal), exit_code: None, ..run(Verdict::RuntimeError) });
    for (signal, expected) in [(11, SIGSEGV), (25, SIGXFSZ), (8, SIGFPE), (6, SIGABRT), (9, OTHER), (15, OTHER)] {
        let execution = signalled(signal);
        assert_eq!(execution.status, Some(expected), "signal {signal}");
        assert_eq!((execution.exit_code, execution.exit_signal), (Some(0), Some(signal)));
        assert_eq!(execution.message, Some(format!("Caught fatal signal {signal}")));
    }
    let exited = one(TestResult { exit_code: Some(3), ..run(Verdict::RuntimeError) });
    assert_eq!((exited.status, exited.exit_code, exited.exit_signal), (Some(NZEC), Some(3), None));
    assert_eq!(exited.message.as_deref(), Some("Exited with error status 3"));
}

#[test]
fn a_compilation_error_clears_the_run_attributes() {
    let mut record = completed(vec![], Verdict::CompilationError);
    if let Some(result) = record.result.as_mut() {
        result.compile = Some(CompileResult {
            output: "main.cpp:1: error".into(),
            output_encoding: Encoding::Utf8,
            exit_code: Some(1),
            time_ms: 300,
            ..CompileResult::default()
        });
    }
    let ce = execution(&record, 0..1);
    let mut stopped = record.clone();
    if let Some(compile) = stopped.result.as_mut().and_then(|result| result.compile.as_mut()) {
        compile.limit = Some(LimitHit::WallTime);
    }
    let timed_out = execution(&stopped, 0..1);
    assert_eq!(timed_out.status, Some(COMPILATION_ERROR));
    assert_eq!(timed_out.compile_output.as_deref(), Some(&b"Compilation time limit exceeded."[..]));
    assert_eq!(ce.status, Some(COMPILATION_ERROR));
    assert_eq!(ce.compile_output.as_deref(), Some(&b"main.cpp:1: error"[..]));
    assert_eq!((ce.time, ce.memory, ce.stdout, ce.exit_code, ce.message), (None, None, None, None, None));
}

#[test]
fn job_states_before_and_beyond_a_result() {
    let pending = JobRecord::pending(JobId::new(), "c", Utc::now());
    assert_eq!(execution(&pending, 0..1), Execution { status: Some(IN_QUEUE), ..Execution::default() });
    let running = JobRecord { status: JobStatus::Running, ..pending.clone() };
    assert_eq!(execution(&running, 0..1).status, Some(PROCESSING));
    let failed = JobRecord { status: JobStatus::Failed, error: Some("no runner".into()), ..pending };
    let failed = execution(&failed, 0..1);
    assert_eq!((failed.status, failed.message.as_deref()), (Some(INTERNAL_ERROR), Some("no runner")));
    let internal = one(run(Verdict::InternalError));
    assert_eq!(internal.status, Some(INTERNAL_ERROR));
}

#[test]
fn several_runs_stop_at_the_first_failure_and_average() {
    let fast = TestResult { time_ms: 10, memory_kb: 1000, ..run(Verdict::Accepted) };
    let slow = TestResult { time_ms: 21, memory_kb: 2001, wall_time_ms: 99, ..run(Verdict::Accepted) };
    let wrong = TestResult { time_ms: 30, memory_kb: 3000, ..run(Verdict::WrongAnswer) };
    let record = completed(vec![fast.clone(), slow.clone(), fast.clone()], Verdict::Accepted);
    let all = execution(&record, 0..3);
    assert_eq!((all.status, all.memory), (Some(ACCEPTED), Some(1333)), "the integer column truncates");
    assert_eq!(all.time, Some(41.0 / 3.0 / 1000.0));
    let record = completed(vec![fast, wrong, slow], Verdict::WrongAnswer);
    let stopped = execution(&record, 0..3);
    assert_eq!((stopped.status, stopped.time, stopped.memory), (Some(WRONG_ANSWER), Some(0.02), Some(2000)));
}

#[test]
fn a_job_of_several_submissions_is_read_by_range() {
    let record = completed(vec![run(Verdict::Accepted), run(Verdict::WrongAnswer)], Verdict::WrongAnswer);
    assert_eq!(execution(&record, 0..1).status, Some(ACCEPTED));
    assert_eq!(execution(&record, 1..2).status, Some(WRONG_ANSWER));
    let missing = execution(&record, 2..3);
    assert_eq!(missing.status, Some(INTERNAL_ERROR));
}

#[test]
fn the_fourteen_statuses() {
    let ids: Vec<u8> = ALL.iter().map(|s| s.id).collect();
    assert_eq!(ids, (1..=14).collect::<Vec<u8>>());
    assert_eq!(ALL[4].description, "Time Limit Exceeded");
    assert_eq!(ALL[10].description, "Runtime Error (NZEC)");
}
