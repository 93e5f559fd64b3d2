use super::*;
use crate::isolation::{Isolation, IsolationLevel};
use crate::job::JobId;

fn isolation() -> Isolation {
    Isolation::boundary(IsolationLevel::Full, vec![])
}

fn spec(checker: Checker, tests: Vec<TestCase>, stop_on_first_failure: bool) -> JudgeSpec {
    JudgeSpec {
        checker,
        tests,
        stop_on_first_failure,
        report_limit_bytes: 1 << 20,
        groups: Vec::new(),
        interactor: None,
    }
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
    Report {
        job_id: JobId::new(),
        isolation: isolation(),
        compile,
        tests,
        error: None,
        checker_compile: None,
        interactor_compile: None,
    }
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
        [Verdict::TimeLimitExceeded, Verdict::MemoryLimitExceeded, Verdict::OutputLimitExceeded, Verdict::RuntimeError]
    );
}

#[test]
fn compile_failure_is_a_compilation_error() {
    let spec = spec(Checker::Lines, vec![case("", Some("1"), false)], false);
    let compile = StepReport { exit_code: Some(1), stderr: Output::text("main.cpp:1: error"), ..StepReport::default() };
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
    let steps = vec![ran("0"), ran("1"), ran("x"), ran("3"), ran("x"), StepReport::skipped(), StepReport::skipped()];
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

fn custom() -> Checker {
    Checker::Custom(crate::helper::HelperProgram { language: "cpp".into(), code: "int main(){}".into(), files: vec![] })
}

fn checked(exit_code: i32, stderr: &str) -> StepReport {
    let check = HelperRun { exit_code: Some(exit_code), message: Output::text(stderr), ..HelperRun::default() };
    StepReport { check: Some(check), ..ran("whatever the checker reads") }
}

#[test]
fn a_custom_checker_judges_by_its_exit_code_and_says_why() {
    let worth = |points: f64, hidden: bool| TestCase { points, ..case("", Some("42"), hidden) };
    let tests = vec![worth(1.0, false), worth(1.0, false), worth(4.0, false), worth(1.0, false), worth(1.0, true)];
    let spec = spec(custom(), tests, false);
    let steps = vec![
        checked(0, "ok 1 number\n"),
        checked(1, "wrong answer expected 42, found 41\n"),
        checked(7, "points 3 three of four\n"),
        checked(3, "FAIL the answer file is broken\n"),
        checked(0, "ok hidden\n"),
    ];
    let result = completed(judge(&spec, report(None, steps)));
    let verdicts: Vec<_> = result.tests.iter().map(|t| t.verdict).collect();
    use Verdict::*;
    assert_eq!(verdicts, [Accepted, WrongAnswer, PartiallyAccepted, InternalError, Accepted]);
    let scores: Vec<_> = result.tests.iter().map(|t| t.score).collect();
    assert_eq!(scores, [1.0, 0.0, 3.0, 0.0, 1.0]);
    assert_eq!((result.score, result.max_score), (5.0, 8.0));
    let message = |t: usize| result.tests[t].checker_message.as_deref();
    assert_eq!(message(0), Some("ok 1 number"));
    assert_eq!(message(1), Some("wrong answer expected 42, found 41"));
    assert!(message(3).is_some_and(|m| m.contains("exit code 3") && m.contains("broken")), "{:?}", message(3));
    assert_eq!(message(4), None, "a hidden test shows nothing of the checker's");
    assert_eq!(result.verdict, WrongAnswer);
}

#[test]
fn a_custom_checker_sees_only_runs_that_ended_well() {
    let spec = spec(custom(), vec![case("", Some("1"), false), case("", Some("1"), false)], false);
    let crashed = StepReport { exit_code: Some(1), ..ran("") };
    let unchecked = ran("1");
    let result = completed(judge(&spec, report(None, vec![crashed, unchecked])));
    assert_eq!(result.tests[0].verdict, Verdict::RuntimeError);
    assert_eq!(result.tests[0].checker_message, None);
    assert_eq!(result.tests[1].verdict, Verdict::InternalError, "a run the checker missed is never accepted");
}

#[test]
fn a_checker_that_does_not_compile_is_an_internal_error_with_its_output() {
    let spec = spec(custom(), vec![case("", Some("1"), false)], false);
    let mut broken = report(None, vec![ran("1")]);
    broken.checker_compile = Some(StepReport {
        exit_code: Some(1),
        stderr: Output::text("checker.cpp:1: error: testlib.h: No such file"),
        ..StepReport::default()
    });
    let result = completed(judge(&spec, broken));
    assert_eq!(result.verdict, Verdict::InternalError);
    let message = result.tests[0].checker_message.as_deref().unwrap_or_default();
    assert!(message.starts_with("the checker did not compile (exit code 1)") && message.contains("testlib.h"));
}

#[test]
fn only_a_custom_checkers_jobs_carry_judge_data() {
    let job_id = JobId::new();
    let tests = vec![case("1", Some("2"), true), case("3", None, false)];
    let with = spec(custom(), tests.clone(), false);
    let carried = judge_data(&with, &job_id).expect("a custom checker's job has judge data");
    assert_eq!(carried.answers, vec![Some(Output::text("2")), None]);
    assert_eq!(carried.checker.map(Checker::Custom), Some(with.checker));
    assert_eq!(carried.interactor, None);
    assert_eq!(judge_data(&spec(Checker::Lines, tests, false), &job_id), None);
}

fn interactive(tests: Vec<TestCase>, checker: Checker) -> JudgeSpec {
    let interactor =
        crate::helper::HelperProgram { language: "cpp".into(), code: "int main(){}".into(), files: vec![] };
    JudgeSpec { interactor: Some(interactor), ..spec(checker, tests, false) }
}

/// A solution's step in an interactive problem: its exit, the interactor's, its output file.
fn exchanged(solution: StepReport, interactor_exit: i32, said: &str, output: &str) -> StepReport {
    let interaction =
        HelperRun { exit_code: Some(interactor_exit), message: Output::text(said), ..HelperRun::default() };
    StepReport { interaction: Some(interaction), stdout: Output::encode(output.as_bytes()), ..solution }
}

#[test]
fn an_interactive_test_is_judged_by_the_limits_then_the_interactor_then_the_exit_then_the_output() {
    let tests = vec![case("", Some("42\n"), false); 6];
    let spec = interactive(tests, Checker::Lines);
    let ok = ran("");
    let slow = StepReport { limit: Some(LimitHit::WallTime), exit_code: None, signal: Some(9), ..ran("") };
    let piped = StepReport { exit_code: None, signal: Some(13), ..ran("") };
    let steps = vec![
        exchanged(ok.clone(), 0, "ok guessed in 7 queries", "42\n"),
        exchanged(ok.clone(), 0, "ok", "41\n"),
        // It hung after the interactor gave up on it: its own limit decides.
        exchanged(slow, 1, "wrong answer too many queries", ""),
        // It died writing to an interactor that had quit: the interactor's verdict.
        exchanged(piped.clone(), 1, "wrong answer 50 is not the number", ""),
        exchanged(piped, 0, "ok", "42\n"),
        exchanged(ok, 3, "FAIL the secret is out of range", ""),
    ];
    let result = completed(judge(&spec, report(None, steps)));
    use Verdict::*;
    assert_eq!(
        result.tests.iter().map(|t| t.verdict).collect::<Vec<_>>(),
        [Accepted, WrongAnswer, TimeLimitExceeded, WrongAnswer, RuntimeError, InternalError]
    );
    let messages: Vec<_> = result.tests.iter().map(|t| t.checker_message.as_deref()).collect();
    assert_eq!(messages[0], Some("ok guessed in 7 queries"));
    assert_eq!(messages[3], Some("wrong answer 50 is not the number"));
    assert!(messages[5].is_some_and(|m| m.starts_with("the interactor failed (exit code 3)")), "{:?}", messages[5]);
    assert_eq!(result.tests[0].stdout, "42\n", "the output judged is the interactor's output file");
}

#[test]
fn an_interactor_that_does_not_compile_fails_every_test_as_an_internal_error() {
    let spec = interactive(vec![case("", None, false), case("", None, true)], Checker::Lines);
    let mut broken = report(None, vec![]);
    broken.interactor_compile =
        Some(StepReport { exit_code: Some(1), stderr: Output::text("error: x"), ..StepReport::default() });
    let result = completed(judge(&spec, broken));
    assert_eq!(result.tests.iter().map(|t| t.verdict).collect::<Vec<_>>(), [Verdict::InternalError; 2]);
    let message = result.tests[0].checker_message.as_deref().unwrap_or_default();
    assert!(message.starts_with("the interactor did not compile (exit code 1)"), "{message}");
    assert_eq!(result.tests[1].checker_message, None, "hidden");
}

#[test]
fn after_the_interactor_a_custom_checker_judges_its_output_file() {
    let spec = interactive(vec![case("", Some("7"), false)], custom());
    let check =
        HelperRun { exit_code: Some(1), message: Output::text("wrong answer path too long"), ..HelperRun::default() };
    let step = StepReport { check: Some(check), ..exchanged(ran(""), 0, "ok", "1 2 3") };
    let result = completed(judge(&spec, report(None, vec![step])));
    assert_eq!(result.tests[0].verdict, Verdict::WrongAnswer);
    assert_eq!(result.tests[0].checker_message.as_deref(), Some("wrong answer path too long"));
}
