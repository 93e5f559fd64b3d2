//! The judge: a runner report plus the expected outputs (kept on the trusted side) → verdicts.

use serde::{Deserialize, Serialize};

use crate::checker::Checker;
use crate::job::{CompileResult, JobResult, Outcome, Summary, TestResult};
use crate::request::{Submission, TestCase};
use crate::runner::{Bundle, BundleTest, Encoding, LimitHit, Output, Report, StepReport};
use crate::verdict::{self, Verdict};

/// What the trusted side keeps to judge a job: the tests with their expected outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeSpec {
    pub checker: Checker,
    pub tests: Vec<TestCase>,
    pub stop_on_first_failure: bool,
    /// The largest report the runner can write for this job ([`report_limit`]); a larger one is
    /// not read.
    pub report_limit_bytes: u64,
}

/// The most a runner's report for `bundle` can take: every output at the job's budget (and the
/// compile step at its own caps) stored at the worst rate (base64: 4/3, padded), plus each
/// step's numbers and the isolation notes.
pub fn report_limit(bundle: &Bundle) -> u64 {
    const FIXED: u64 = 64 * 1024;
    const PER_STEP: u64 = 1024;
    let steps = bundle.tests.len() as u64 + 1;
    let raw = bundle.output_budget_bytes + 2 * bundle.compile_limits.output_kb * 1024;
    FIXED + steps * (PER_STEP + 2 * 4) + raw.div_ceil(3) * 4
}

/// Splits a submission into what the runner may see and what only the judge sees.
pub fn split(
    submission: Submission,
    job_id: crate::job::JobId,
    compile_limits: crate::limits::Limits,
) -> (Bundle, JudgeSpec) {
    let bundle = Bundle {
        job_id,
        language: submission.language.id.to_owned(),
        source: submission.code,
        limits: submission.limits,
        compile_limits,
        tests: submission.tests.iter().map(|t| BundleTest { input: t.input.clone(), encoding: t.encoding }).collect(),
        stop_on_first_failure: submission.stop_on_first_failure,
        output_budget_bytes: submission.output_budget_bytes,
        args: submission.args,
        streams: submission.streams,
    };
    let spec = JudgeSpec {
        checker: submission.checker,
        tests: submission.tests,
        stop_on_first_failure: submission.stop_on_first_failure,
        report_limit_bytes: report_limit(&bundle),
    };
    (bundle, spec)
}

/// Judges a report. A report that carries a runner error fails the job.
pub fn judge(spec: &JudgeSpec, report: Report) -> Outcome {
    if let Some(error) = report.error {
        return Outcome::Failed(format!("runner error: {error}"));
    }
    let total = spec.tests.len();
    let compile = report.compile.as_ref().map(|step| {
        let output = join_output(step);
        CompileResult {
            output: output.text,
            output_encoding: output.encoding,
            exit_code: step.exit_code,
            time_ms: step.cpu_time_ms,
            wall_time_ms: step.wall_time_ms,
            memory_kb: step.memory_kb,
            signal: step.signal,
            limit: step.limit,
        }
    });
    if report.compile.as_ref().is_some_and(|step| !step.succeeded()) {
        return Outcome::Completed(Box::new(JobResult {
            verdict: Verdict::CompilationError,
            compile,
            tests: Vec::new(),
            summary: Summary { passed: 0, total },
            isolation: report.isolation,
        }));
    }

    let mut steps = report.tests.into_iter();
    let mut failed_before = false;
    let tests: Vec<TestResult> = spec
        .tests
        .iter()
        .map(|case| {
            let step = steps.next();
            let verdict = match &step {
                _ if failed_before && spec.stop_on_first_failure => Verdict::Skipped,
                None => Verdict::Skipped,
                Some(step) => step_verdict(spec.checker, case, step),
            };
            failed_before |= !matches!(verdict, Verdict::Accepted | Verdict::Skipped);
            test_result(case, verdict, step.filter(|_| verdict != Verdict::Skipped))
        })
        .collect();
    let passed = tests.iter().filter(|t| t.verdict.is_accepted()).count();
    Outcome::Completed(Box::new(JobResult {
        verdict: verdict::overall(tests.iter().map(|t| t.verdict)),
        compile,
        tests,
        summary: Summary { passed, total },
        isolation: report.isolation,
    }))
}

fn step_verdict(checker: Checker, case: &TestCase, step: &StepReport) -> Verdict {
    match step.limit {
        Some(LimitHit::CpuTime | LimitHit::WallTime) => Verdict::TimeLimitExceeded,
        Some(LimitHit::Memory) => Verdict::MemoryLimitExceeded,
        Some(LimitHit::Output) => Verdict::OutputLimitExceeded,
        None if !step.succeeded() => Verdict::RuntimeError,
        // Output that does not decode (a forged report) matches nothing.
        None => match (case.expected_bytes(), step.stdout.bytes()) {
            (None, _) => Verdict::Accepted,
            (Some(expected), Some(actual)) if checker.accepts_bytes(&expected, &actual) => Verdict::Accepted,
            (Some(_), _) => Verdict::WrongAnswer,
        },
    }
}

fn test_result(case: &TestCase, verdict: Verdict, step: Option<StepReport>) -> TestResult {
    let step = step.unwrap_or_default();
    // Hidden tests echo nothing that could leak the test data, output included.
    let (stdout, stderr, output_order) = if case.hidden {
        (Output::default(), Output::default(), Vec::new())
    } else {
        (step.stdout, step.stderr, step.order)
    };
    TestResult {
        name: case.name.clone(),
        verdict,
        time_ms: step.cpu_time_ms,
        wall_time_ms: step.wall_time_ms,
        memory_kb: step.memory_kb,
        exit_code: step.exit_code,
        signal: step.signal,
        stdout: stdout.text,
        stdout_encoding: stdout.encoding,
        stderr: stderr.text,
        stderr_encoding: stderr.encoding,
        truncated: step.stdout_truncated || step.stderr_truncated,
        limit: step.limit,
        hidden: case.hidden,
        input: (!case.hidden).then(|| case.input.clone()),
        expected_output: if case.hidden { None } else { case.expected_output.clone() },
        encoding: if case.hidden { Encoding::Utf8 } else { case.encoding },
        output_order,
    }
}

fn join_output(step: &StepReport) -> Output {
    match (step.stdout.is_empty(), step.stderr.is_empty()) {
        (_, true) => step.stdout.clone(),
        (true, false) => step.stderr.clone(),
        (false, false) => step.stdout.concat(&step.stderr),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isolation::{Isolation, IsolationLevel};
    use crate::job::JobId;

    fn isolation() -> Isolation {
        Isolation::boundary(IsolationLevel::Full, vec![])
    }

    fn spec(checker: Checker, tests: Vec<TestCase>, stop_on_first_failure: bool) -> JudgeSpec {
        JudgeSpec { checker, tests, stop_on_first_failure, report_limit_bytes: 1 << 20 }
    }

    fn case(input: &str, expected: Option<&str>, hidden: bool) -> TestCase {
        TestCase {
            name: None,
            input: input.into(),
            expected_output: expected.map(Into::into),
            hidden,
            encoding: Encoding::Utf8,
        }
    }

    fn ran(stdout: &str) -> StepReport {
        StepReport { exit_code: Some(0), stdout: Output::encode(stdout.as_bytes()), ..StepReport::default() }
    }

    fn report(compile: Option<StepReport>, tests: Vec<StepReport>) -> Report {
        Report { job_id: JobId::new(), isolation: isolation(), compile, tests, error: None }
    }

    fn completed(outcome: Outcome) -> JobResult {
        match outcome {
            Outcome::Completed(result) => *result,
            Outcome::Failed(error) => panic!("expected a completed job, got failure {error}"),
        }
    }

    #[test]
    fn judges_each_test_and_hides_hidden_ones() {
        let spec = spec(
            Checker::Lines,
            vec![case("1 2\n", Some("3\n"), false), case("5 7\n", Some("12\n"), true), case("0 0\n", Some("0"), false)],
            false,
        );
        let result = completed(judge(&spec, report(None, vec![ran("3\n"), ran("13\n"), ran("0\n")])));
        let verdicts: Vec<_> = result.tests.iter().map(|t| t.verdict).collect();
        assert_eq!(verdicts, [Verdict::Accepted, Verdict::WrongAnswer, Verdict::Accepted]);
        assert_eq!(result.verdict, Verdict::WrongAnswer);
        assert_eq!(result.summary, Summary { passed: 2, total: 3 });
        let hidden = &result.tests[1];
        assert!(hidden.input.is_none() && hidden.expected_output.is_none() && hidden.stdout.is_empty());
        assert_eq!(result.tests[0].expected_output.as_deref(), Some("3\n"));
    }

    #[test]
    fn binary_expected_outputs_are_judged_byte_for_byte_and_echoed_as_given() {
        let binary = |expected: &str| TestCase { encoding: Encoding::Base64, ..case("/w==", Some(expected), false) };
        // "//4K" is ff fe 0a; "//0K" is ff fd 0a.
        let spec = spec(Checker::Lines, vec![binary("//4K"), binary("//0K")], false);
        let out = StepReport { exit_code: Some(0), stdout: Output::encode(b"\xff\xfe\n"), ..StepReport::default() };
        let result = completed(judge(&spec, report(None, vec![out.clone(), out])));
        let verdicts: Vec<_> = result.tests.iter().map(|t| t.verdict).collect();
        assert_eq!(verdicts, [Verdict::Accepted, Verdict::WrongAnswer]);
        let first = &result.tests[0];
        assert_eq!((first.input.as_deref(), first.encoding), (Some("/w=="), Encoding::Base64));
    }

    #[test]
    fn limits_and_crashes_become_verdicts() {
        let spec = spec(Checker::Exact, (0..4).map(|_| case("", Some(""), false)).collect(), false);
        let steps = vec![
            StepReport { limit: Some(LimitHit::WallTime), ..ran("") },
            StepReport { limit: Some(LimitHit::Memory), signal: Some(9), exit_code: None, ..ran("") },
            StepReport { limit: Some(LimitHit::Output), ..ran("") },
            StepReport { signal: Some(11), exit_code: None, ..ran("") },
        ];
        let verdicts: Vec<_> = completed(judge(&spec, report(None, steps))).tests.iter().map(|t| t.verdict).collect();
        assert_eq!(
            verdicts,
            [
                Verdict::TimeLimitExceeded,
                Verdict::MemoryLimitExceeded,
                Verdict::OutputLimitExceeded,
                Verdict::RuntimeError
            ]
        );
    }

    #[test]
    fn compile_failure_is_a_compilation_error() {
        let spec = spec(Checker::Lines, vec![case("", Some("1"), false)], false);
        let compile =
            StepReport { exit_code: Some(1), stderr: Output::text("main.cpp:1: error"), ..StepReport::default() };
        let result = completed(judge(&spec, report(Some(compile), vec![])));
        assert_eq!(result.verdict, Verdict::CompilationError);
        assert_eq!(result.compile.map(|c| c.output), Some("main.cpp:1: error".to_owned()));
        assert_eq!(result.summary, Summary { passed: 0, total: 1 });
    }

    #[test]
    fn a_compile_stopped_by_a_limit_says_which() {
        let spec = spec(Checker::Lines, vec![case("", Some("1"), false)], false);
        let compile = StepReport {
            signal: Some(9),
            cpu_time_ms: 20_000,
            wall_time_ms: 20_100,
            memory_kb: 512,
            limit: Some(LimitHit::CpuTime),
            ..StepReport::default()
        };
        let result = completed(judge(&spec, report(Some(compile), vec![])));
        assert_eq!(result.verdict, Verdict::CompilationError);
        let compile = result.compile.expect("the compile step");
        assert_eq!((compile.limit, compile.signal, compile.exit_code), (Some(LimitHit::CpuTime), Some(9), None));
        assert_eq!((compile.time_ms, compile.wall_time_ms, compile.memory_kb), (20_000, 20_100, 512));
    }

    #[test]
    fn results_stored_before_the_compile_steps_details_still_read() {
        let old = serde_json::json!({"output": "", "output_encoding": "utf8", "exit_code": 0, "time_ms": 5});
        let compile: CompileResult = serde_json::from_value(old).expect("an older compile result reads");
        assert_eq!((compile.limit, compile.signal, compile.wall_time_ms), (None, None, 0));
    }

    #[test]
    fn stop_on_first_failure_skips_the_rest() {
        let spec = spec(
            Checker::Lines,
            vec![case("", Some("1"), false), case("", Some("2"), false), case("", Some("3"), false)],
            true,
        );
        let result = completed(judge(&spec, report(None, vec![ran("x"), ran("2")])));
        let verdicts: Vec<_> = result.tests.iter().map(|t| t.verdict).collect();
        assert_eq!(verdicts, [Verdict::WrongAnswer, Verdict::Skipped, Verdict::Skipped]);
        assert!(result.tests[1].stdout.is_empty());
    }

    #[test]
    fn plain_run_is_accepted_on_exit_zero() {
        let spec = spec(Checker::Lines, vec![case("hi", None, false)], false);
        let result = completed(judge(&spec, report(None, vec![ran("anything")])));
        assert_eq!(result.verdict, Verdict::Accepted);
        assert_eq!(result.tests[0].stdout, "anything");
    }

    #[test]
    fn runner_error_fails_the_job() {
        let spec = spec(Checker::Lines, vec![], false);
        let mut bad = report(None, vec![]);
        bad.error = Some("sandbox setup failed".into());
        assert!(matches!(judge(&spec, bad), Outcome::Failed(e) if e.contains("sandbox setup failed")));
    }
}
