//! The judge: a runner report plus the expected outputs (kept on the trusted side) → verdicts.

use serde::{Deserialize, Serialize};

use crate::checker::Checker;
use crate::job::{CompileResult, JobResult, Outcome, Summary, TestResult};
use crate::request::{Submission, TestCase};
use crate::runner::{Bundle, BundleTest, Encoding, LimitHit, Output, Report, StepReport};
use crate::scoring::{self, Group};
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
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Group>,
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
        files: submission.files,
        compile_options: submission.compile_options,
        groups: submission.groups.clone(),
    };
    let spec = JudgeSpec {
        checker: submission.checker,
        tests: submission.tests,
        stop_on_first_failure: submission.stop_on_first_failure,
        report_limit_bytes: report_limit(&bundle),
        groups: submission.groups,
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
    let points: Vec<f64> = spec.tests.iter().map(|case| case.points).collect();
    if report.compile.as_ref().is_some_and(|step| !step.succeeded()) {
        return Outcome::Completed(Box::new(JobResult {
            verdict: Verdict::CompilationError,
            compile,
            tests: Vec::new(),
            summary: Summary { passed: 0, total },
            isolation: report.isolation,
            score: 0.0,
            max_score: scoring::max_total(&spec.groups, &points),
            groups: Vec::new(),
        }));
    }

    let mut steps = report.tests.into_iter();
    let mut failed_before = false;
    let ran: Vec<(Verdict, Option<StepReport>)> = spec
        .tests
        .iter()
        .map(|case| {
            let step = steps.next();
            let verdict = match &step {
                _ if failed_before && spec.stop_on_first_failure => Verdict::Skipped,
                None => Verdict::Skipped,
                Some(step) if step.skipped => Verdict::Skipped,
                Some(step) => step_verdict(spec.checker, case, step),
            };
            failed_before |= !matches!(verdict, Verdict::Accepted | Verdict::Skipped);
            (verdict, step)
        })
        .collect();
    let mut verdicts: Vec<Verdict> = ran.iter().map(|(verdict, _)| *verdict).collect();
    scoring::apply_skips(&spec.groups, &mut verdicts);
    let scores: Vec<f64> = verdicts
        .iter()
        .zip(&points)
        .map(|(verdict, points)| if verdict.is_accepted() { *points } else { 0.0 })
        .collect();
    let groups = scoring::group_results(&spec.groups, &scores, &points, &verdicts);
    let (score, max_score) = (scoring::total(&groups, &scores), scoring::max_total(&spec.groups, &points));
    let tests: Vec<TestResult> = spec
        .tests
        .iter()
        .zip(ran)
        .zip(verdicts.iter().zip(&scores))
        .map(|((case, (_, step)), (&verdict, &score))| {
            test_result(case, verdict, step.filter(|_| verdict != Verdict::Skipped), score)
        })
        .collect();
    let passed = tests.iter().filter(|t| t.verdict.is_accepted()).count();
    Outcome::Completed(Box::new(JobResult {
        verdict: verdict::overall(tests.iter().map(|t| t.verdict)),
        compile,
        tests,
        summary: Summary { passed, total },
        isolation: report.isolation,
        score,
        max_score,
        groups,
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

fn test_result(case: &TestCase, verdict: Verdict, step: Option<StepReport>, score: f64) -> TestResult {
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
        score,
        max_score: case.points,
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
        JudgeSpec { checker, tests, stop_on_first_failure, report_limit_bytes: 1 << 20, groups: Vec::new() }
    }

    fn case(input: &str, expected: Option<&str>, hidden: bool) -> TestCase {
        TestCase {
            name: None,
            input: input.into(),
            expected_output: expected.map(Into::into),
            hidden,
            encoding: Encoding::Utf8,
            points: 1.0,
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
    fn groups_skip_and_score_what_the_runner_ran() {
        use crate::scoring::{GroupInput, GroupScoring, resolve_groups};
        let group = |name: &str, points: f64, scoring: GroupScoring, depends_on: &[&str]| GroupInput {
            name: name.into(),
            points: Some(points),
            scoring,
            depends_on: depends_on.iter().map(|d| (*d).into()).collect(),
        };
        let inputs = vec![
            group("samples", 0.0, GroupScoring::AllOrNothing, &[]),
            group("small", 40.0, GroupScoring::Sum, &["samples"]),
            group("large", 60.0, GroupScoring::AllOrNothing, &["samples"]),
            group("huge", 10.0, GroupScoring::AllOrNothing, &["large"]),
        ];
        let names = ["samples", "small", "small", "large", "large", "large", "huge"];
        let tests: Vec<TestCase> = (0..names.len()).map(|i| case("", Some(&i.to_string()), false)).collect();
        let mut spec = spec(Checker::Lines, tests, false);
        let of: Vec<Option<String>> = names.iter().map(|n| Some((*n).to_owned())).collect();
        spec.groups = resolve_groups(inputs, &of, &[1.0; 7]).expect("valid groups");
        // Small: one of two right. Large: its second test wrong, its third never run by the
        // runner (skipped after a failure it saw), so huge is skipped too.
        let steps =
            vec![ran("0"), ran("1"), ran("x"), ran("3"), ran("x"), StepReport::skipped(), StepReport::skipped()];
        let result = completed(judge(&spec, report(None, steps)));
        let verdicts: Vec<_> = result.tests.iter().map(|t| t.verdict).collect();
        use Verdict::{Accepted as A, Skipped as S, WrongAnswer as W};
        assert_eq!(verdicts, [A, A, W, A, W, S, S]);
        let groups: Vec<_> = result.groups.iter().map(|g| (g.name.as_str(), g.score, g.max_score, g.verdict)).collect();
        assert_eq!(
            groups,
            [("samples", 0.0, 0.0, A), ("small", 20.0, 40.0, W), ("large", 0.0, 60.0, W), ("huge", 0.0, 10.0, S)]
        );
        assert_eq!((result.score, result.max_score), (20.0, 110.0));
        let scores: Vec<_> = result.tests.iter().map(|t| (t.score, t.max_score)).collect();
        assert_eq!(scores[..3], [(1.0, 1.0), (1.0, 1.0), (0.0, 1.0)]);
        assert!(result.tests[5].stdout.is_empty() && result.tests[5].time_ms == 0);
    }

    #[test]
    fn without_groups_the_score_is_the_passed_tests_points() {
        let worth = |points: f64, expected: &str| TestCase { points, ..case("", Some(expected), false) };
        let spec = spec(Checker::Lines, vec![worth(2.5, "1"), worth(0.5, "2"), worth(7.0, "3")], false);
        let result = completed(judge(&spec, report(None, vec![ran("1"), ran("2"), ran("x")])));
        assert_eq!((result.score, result.max_score), (3.0, 10.0));
        assert!(result.groups.is_empty());
        let compile = StepReport { exit_code: Some(1), ..StepReport::default() };
        let failed = completed(judge(&spec, report(Some(compile), vec![])));
        assert_eq!((failed.score, failed.max_score), (0.0, 10.0));
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
