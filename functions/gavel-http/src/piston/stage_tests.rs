use base64::Engine;
use chrono::Utc;
use gavel_core::JobId;
use gavel_core::isolation::{Isolation, IsolationLevel};
use gavel_core::job::{JobResult, Summary};
use gavel_core::language::{self, LanguageStatus};
use gavel_core::runner::{Encoding, Segment, Stream};
use serde_json::json;

use super::*;
use crate::piston::runtimes;

fn runtime(gavel: &str) -> Runtime {
    let language = language::find(gavel).expect("in the catalogue");
    let status = LanguageStatus { language, available: true, version: Some("x 1.2.3".into()) };
    runtimes::runtimes(&[status]).remove(0)
}

fn test(exit_code: Option<i32>, signal: Option<i32>, limit: Option<LimitHit>) -> TestResult {
    TestResult {
        name: None,
        verdict: Verdict::Accepted,
        time_ms: 12,
        wall_time_ms: 34,
        memory_kb: 1_000,
        exit_code,
        signal,
        stdout: "out\n".into(),
        stdout_encoding: Encoding::Utf8,
        stderr: "err\n".into(),
        stderr_encoding: Encoding::Utf8,
        truncated: false,
        limit,
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

fn record(verdict: Verdict, compile: Option<CompileResult>, tests: Vec<TestResult>) -> JobRecord {
    let mut record = JobRecord::pending(JobId::new(), "cpp", Utc::now());
    record.status = JobStatus::Completed;
    record.result = Some(JobResult {
        verdict,
        compile,
        summary: Summary { passed: 0, total: tests.len() },
        tests,
        isolation: Isolation::boundary(IsolationLevel::Container, vec![]),
        score: 0.0,
        max_score: 0.0,
        groups: Vec::new(),
    });
    record
}

fn run_of(test: TestResult) -> Stage {
    execution(&runtime("python"), &record(Verdict::Accepted, None, vec![test])).run
}

#[test]
fn a_clean_exit_has_no_status() {
    let stage = run_of(test(Some(0), None, None));
    let json = serde_json::to_value(&stage).expect("serializes");
    assert_eq!(
        json,
        json!({"stdout": "out\n", "stderr": "err\n", "output": "out\nerr\n", "code": 0, "signal": null,
            "message": null, "status": null, "cpu_time": 12, "wall_time": 34, "memory": 1_024_000})
    );
}

#[test]
fn output_follows_the_order_the_streams_arrived_in() {
    let mut test = test(Some(0), None, None);
    test.output_order = [(Stream::Stdout, 2), (Stream::Stderr, 4), (Stream::Stdout, 2)]
        .map(|(stream, len)| Segment { stream, len })
        .to_vec();
    let stage = run_of(test);
    assert_eq!((stage.stdout.as_str(), stage.stderr.as_str(), stage.output.as_str()), ("out\n", "err\n", "ouerr\nt\n"));
}

#[test]
fn endings_map_to_isolates_statuses() {
    let cases = [
        (test(Some(3), None, None), Some(Status::RE), Some("Exited with error status 3"), None, Some(3)),
        (test(None, Some(11), None), Some(Status::SG), Some("Caught fatal signal 11"), Some("SIGSEGV"), None),
        (
            test(None, Some(9), Some(LimitHit::CpuTime)),
            Some(Status::TO),
            Some("Time limit exceeded"),
            Some("SIGKILL"),
            None,
        ),
        (
            test(None, Some(9), Some(LimitHit::WallTime)),
            Some(Status::TO),
            Some("Time limit exceeded (wall clock)"),
            Some("SIGKILL"),
            None,
        ),
        (
            test(None, Some(9), Some(LimitHit::Memory)),
            Some(Status::SG),
            Some("Memory limit exceeded"),
            Some("SIGKILL"),
            None,
        ),
        (
            test(None, Some(9), Some(LimitHit::Output)),
            Some(Status::OL),
            Some("stdout length exceeded"),
            Some("SIGKILL"),
            None,
        ),
        (test(None, None, None), Some(Status::XX), Some("the program ended without an exit status"), None, None),
    ];
    for (test, status, message, signal, code) in cases {
        let stage = run_of(test);
        assert_eq!(
            (stage.status, stage.message.as_deref(), stage.signal.as_deref(), stage.code),
            (status, message, signal, code)
        );
    }
    let mut flood = test(None, Some(9), Some(LimitHit::Output));
    flood.stderr = "e".repeat(100);
    let stage = run_of(flood);
    assert_eq!((stage.status, stage.message.as_deref()), (Some(Status::EL), Some("stderr length exceeded")));
}

#[test]
fn signals_have_pistons_names() {
    let names = [(1, "SIGHUP"), (6, "SIGABRT"), (9, "SIGKILL"), (31, "SIGSYS"), (34, "SIGRTMIN"), (35, "SIGRTMIN+1")];
    for (number, name) in names {
        assert_eq!(signal_name(number).as_deref(), Some(name));
    }
    let more = [(49, "SIGRTMIN+15"), (50, "SIGRTMAX-14"), (63, "SIGRTMAX-1"), (64, "SIGRTMAX")];
    for (number, name) in more {
        assert_eq!(signal_name(number).as_deref(), Some(name));
    }
    for unnamed in [0, 32, 33, 65, -1] {
        assert_eq!(signal_name(unnamed), None, "{unnamed}");
    }
}

#[test]
fn output_that_is_not_utf8_is_decoded_as_node_does() {
    let mut binary = test(Some(0), None, None);
    binary.stdout = base64::engine::general_purpose::STANDARD.encode(b"ok \xff\xfe end");
    binary.stdout_encoding = Encoding::Base64;
    let stage = run_of(binary);
    assert_eq!(stage.stdout, "ok \u{fffd}\u{fffd} end");
    assert!(stage.output.starts_with("ok \u{fffd}\u{fffd} end"), "{:?}", stage.output);
    // A forged report's base64 is no text at all, not an error.
    let mut forged = test(Some(0), None, None);
    forged.stdout = "%%%".into();
    forged.stdout_encoding = Encoding::Base64;
    assert_eq!(run_of(forged).stdout, "");
}

fn compile(output: &str, exit_code: Option<i32>) -> CompileResult {
    CompileResult {
        output: output.into(),
        output_encoding: Encoding::Utf8,
        exit_code,
        time_ms: 250,
        wall_time_ms: 300,
        memory_kb: 20_000,
        ..CompileResult::default()
    }
}

#[test]
fn a_compiled_run_has_both_stages() {
    let record = record(Verdict::Accepted, Some(compile("warning: x\n", Some(0))), vec![test(Some(0), None, None)]);
    let answer = serde_json::to_value(execution(&runtime("cpp"), &record)).expect("serializes");
    assert_eq!((&answer["language"], &answer["version"]), (&json!("c++"), &json!("1.2.3")));
    assert_eq!(
        answer["compile"],
        json!({"stdout": "", "stderr": "warning: x\n", "output": "warning: x\n", "code": 0, "signal": null,
            "message": null, "status": null, "cpu_time": 250, "wall_time": 300, "memory": 20_000 * 1024})
    );
    assert_eq!(answer["run"]["stdout"], "out\n");
}

#[test]
fn a_failed_compile_is_also_the_run() {
    let record = record(Verdict::CompilationError, Some(compile("main.cpp:1: error\n", Some(1))), vec![]);
    let answer = execution(&runtime("cpp"), &record);
    let stage = answer.compile.clone().expect("a compile stage");
    assert_eq!((stage.status, stage.code, stage.stderr.as_str()), (Some(Status::RE), Some(1), "main.cpp:1: error\n"));
    assert_eq!(answer.run, stage);

    // Stopped at the server's compile limits: said as Piston says a run's.
    let timed_out = CompileResult { signal: Some(9), limit: Some(LimitHit::WallTime), ..compile("", None) };
    let timed_out = record_with_compile(timed_out).run;
    assert_eq!((timed_out.status, timed_out.signal.as_deref()), (Some(Status::TO), Some("SIGKILL")));
    let crashed = record_with_compile(CompileResult { signal: Some(11), ..compile("", None) }).run;
    assert_eq!((crashed.status, crashed.signal.as_deref()), (Some(Status::SG), Some("SIGSEGV")));
}

fn record_with_compile(compile: CompileResult) -> Execution {
    execution(&runtime("rust"), &record(Verdict::CompilationError, Some(compile), vec![]))
}

#[test]
fn interpreted_languages_have_no_compile_stage() {
    let answer = serde_json::to_value(execution(
        &runtime("python"),
        &record(Verdict::Accepted, None, vec![test(Some(0), None, None)]),
    ))
    .expect("serializes");
    assert!(answer.get("compile").is_none(), "{answer}");
    assert_eq!(answer["language"], "python");
}

#[test]
fn a_job_the_platform_could_not_finish_is_xx_with_the_reason() {
    let mut failed = JobRecord::pending(JobId::new(), "python", Utc::now());
    failed.status = JobStatus::Failed;
    failed.error = Some("runner error: sandbox setup failed".into());
    let answer = execution(&runtime("python"), &failed);
    assert_eq!(answer.run.status, Some(Status::XX));
    let message = answer.run.message.unwrap_or_default();
    assert!(message.contains(failed.id.as_str()) && message.contains("sandbox setup failed"), "{message}");
    assert_eq!((answer.run.stdout.as_str(), answer.run.output.as_str(), answer.compile), ("", "", None));
}
