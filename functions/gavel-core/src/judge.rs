//! The judge: a runner report plus the expected outputs (kept on the trusted side) → verdicts.

use serde::{Deserialize, Serialize};

use crate::checker::Checker;
use crate::helper::{self, Check, HelperProgram, HelperRun};
use crate::job::{CompileResult, JobResult, Outcome, Summary, TestResult};
use crate::request::{Submission, TestCase};
use crate::runner::{Bundle, BundleTest, Encoding, JudgeData, LimitHit, Output, Report, StepReport};
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interactor: Option<HelperProgram>,
}

/// The most a runner's report for `bundle` can take: every output at the job's budget (and the
/// compile step at its own caps) stored at the worst rate (base64: 4/3, padded), plus each
/// step's numbers and the isolation notes, and for each of the job's `helpers` (a custom
/// checker, an interactor) its message on every test and its compile step's output.
pub fn report_limit(bundle: &Bundle, helpers: u64) -> u64 {
    const FIXED: u64 = 64 * 1024;
    const PER_STEP: u64 = 1024;
    let steps = bundle.tests.len() as u64 + 1;
    let raw = bundle.output_budget_bytes + 2 * bundle.compile_limits.output_kb * 1024;
    let compiles = helpers * 2 * bundle.compile_limits.output_kb * 1024;
    let messages = helpers * steps * (PER_STEP + (helper::MESSAGE_BYTES as u64).div_ceil(3) * 4);
    FIXED + steps * (PER_STEP + 2 * 4) + (raw + compiles).div_ceil(3) * 4 + messages
}

/// The most of the problem's own programs a job has: a custom checker and an interactor.
pub const MAX_HELPERS: u64 = 2;

/// How many of the problem's own programs (a custom checker, an interactor) a job has.
pub fn helpers(checker: &Checker, interactor: Option<&HelperProgram>) -> u64 {
    u64::from(matches!(checker, Checker::Custom(_))) + u64::from(interactor.is_some())
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
        interactive: submission.interactor.is_some(),
    };
    let helpers = helpers(&submission.checker, submission.interactor.as_ref());
    let spec = JudgeSpec {
        checker: submission.checker,
        tests: submission.tests,
        stop_on_first_failure: submission.stop_on_first_failure,
        report_limit_bytes: report_limit(&bundle, helpers),
        groups: submission.groups,
        interactor: submission.interactor,
    };
    (bundle, spec)
}

/// What the runner of a job with a custom checker or an interactor reads from its second
/// location; `None` for a job with neither.
pub fn judge_data(spec: &JudgeSpec, job_id: &crate::job::JobId) -> Option<JudgeData> {
    let checker = match &spec.checker {
        Checker::Custom(checker) => Some(checker.clone()),
        _ => None,
    };
    if checker.is_none() && spec.interactor.is_none() {
        return None;
    }
    Some(JudgeData {
        job_id: job_id.clone(),
        checker,
        interactor: spec.interactor.clone(),
        answers: spec
            .tests
            .iter()
            .map(|case| {
                case.expected_output.as_ref().map(|text| Output { text: text.clone(), encoding: case.encoding })
            })
            .collect(),
    })
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

    let problem = Problem {
        checker: &spec.checker,
        interactive: spec.interactor.is_some(),
        unchecked: did_not_compile("checker", report.checker_compile.as_ref())
            .unwrap_or_else(|| "the checker did not run on this test".to_owned()),
    };
    let interactor_broken = did_not_compile("interactor", report.interactor_compile.as_ref());
    let mut steps = report.tests.into_iter();
    let mut failed_before = false;
    let ran: Vec<(Judged, Option<StepReport>)> = spec
        .tests
        .iter()
        .map(|case| {
            let step = steps.next();
            let judged = match &step {
                _ if failed_before && spec.stop_on_first_failure => Judged::skipped(),
                _ if interactor_broken.is_some() => Judged::failed(interactor_broken.clone()),
                None => Judged::skipped(),
                Some(step) if step.skipped => Judged::skipped(),
                Some(step) => step_verdict(&problem, case, step),
            };
            failed_before |= !matches!(judged.verdict, Verdict::Accepted | Verdict::Skipped);
            (judged, step)
        })
        .collect();
    let mut verdicts: Vec<Verdict> = ran.iter().map(|(judged, _)| judged.verdict).collect();
    scoring::apply_skips(&spec.groups, &mut verdicts);
    // A test the groups skipped after all scores nothing, whatever it did.
    let scores: Vec<f64> = verdicts
        .iter()
        .zip(&ran)
        .map(|(verdict, (judged, _))| if *verdict == Verdict::Skipped { 0.0 } else { judged.score })
        .collect();
    let groups = scoring::group_results(&spec.groups, &scores, &points, &verdicts);
    let (score, max_score) = (scoring::total(&groups, &scores), scoring::max_total(&spec.groups, &points));
    let tests: Vec<TestResult> = spec
        .tests
        .iter()
        .zip(ran)
        .zip(verdicts.iter().zip(&scores))
        .map(|((case, (judged, step)), (&verdict, &score))| {
            let ran = step.filter(|_| verdict != Verdict::Skipped);
            let message = judged.message.filter(|_| verdict != Verdict::Skipped);
            test_result(case, Judged { verdict, score, message }, ran)
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

/// One test's verdict, its score and what a custom checker said of it.
struct Judged {
    verdict: Verdict,
    score: f64,
    message: Option<String>,
}

impl Judged {
    fn skipped() -> Judged {
        Judged { verdict: Verdict::Skipped, score: 0.0, message: None }
    }

    fn plain(verdict: Verdict, case: &TestCase) -> Judged {
        Judged { verdict, score: if verdict.is_accepted() { case.points } else { 0.0 }, message: None }
    }

    /// The problem's own program failed: never the contestant's fault.
    fn failed(why: Option<String>) -> Judged {
        Judged { verdict: Verdict::InternalError, score: 0.0, message: why }
    }
}

/// How a job's tests are judged beyond their outputs.
struct Problem<'a> {
    checker: &'a Checker,
    interactive: bool,
    /// Why a test the custom checker should have checked has no check.
    unchecked: String,
}

/// What the problem's `program` (checker, interactor) printed when it did not compile.
fn did_not_compile(program: &str, compile: Option<&StepReport>) -> Option<String> {
    let step = compile.filter(|step| !step.succeeded())?;
    let output = join_output(step).bytes().unwrap_or_default().into_owned();
    let shown = String::from_utf8_lossy(&output[..output.len().min(helper::MESSAGE_BYTES)]).into_owned();
    let status = match (step.limit, step.exit_code) {
        (Some(limit), _) => format!("stopped at its {limit:?} limit"),
        (None, Some(code)) => format!("exit code {code}"),
        (None, None) => format!("signal {}", step.signal.unwrap_or(0)),
    };
    Some(format!("the {program} did not compile ({status}): {}", shown.trim_end()))
}

/// One test's verdict. The program's own limits come first (an interactive solution that hangs
/// or floods is the solution's fault whatever the interactor said of it), then the interactor's
/// word (a solution that dies once the interactor has quit on it got its wrong answer), then the
/// program's exit, then the checker's word on the output.
fn step_verdict(problem: &Problem<'_>, case: &TestCase, step: &StepReport) -> Judged {
    let limited = match step.limit {
        Some(LimitHit::CpuTime | LimitHit::WallTime) => Some(Verdict::TimeLimitExceeded),
        Some(LimitHit::Memory) => Some(Verdict::MemoryLimitExceeded),
        Some(LimitHit::Output) => Some(Verdict::OutputLimitExceeded),
        None => None,
    };
    if let Some(verdict) = limited {
        return Judged::plain(verdict, case);
    }
    let mut said = None;
    if problem.interactive {
        let Some(run) = &step.interaction else {
            return Judged::failed(Some("the interactor did not run on this test".to_owned()));
        };
        let judged = helper_verdict("interactor", run, case);
        if judged.verdict != Verdict::Accepted {
            return judged;
        }
        said = judged.message;
    }
    if !step.succeeded() {
        return Judged { message: said, ..Judged::plain(Verdict::RuntimeError, case) };
    }
    let checker = problem.checker;
    if let Checker::Custom(_) = checker {
        return match &step.check {
            Some(run) => helper_verdict("checker", run, case),
            None => Judged::failed(Some(problem.unchecked.clone())),
        };
    }
    // Output that does not decode (a forged report) matches nothing.
    let verdict = match (case.expected_bytes(), step.stdout.bytes()) {
        (None, _) => Verdict::Accepted,
        (Some(expected), Some(actual)) if checker.accepts_bytes(&expected, &actual) => Verdict::Accepted,
        (Some(_), _) => Verdict::WrongAnswer,
    };
    Judged { message: said, ..Judged::plain(verdict, case) }
}

/// A custom checker's or an interactor's word: full points, none, some (`quitp`), or its own
/// failure.
fn helper_verdict(program: &str, run: &HelperRun, case: &TestCase) -> Judged {
    let said = run.message_text();
    let (verdict, score, message) = match helper::read(program, run, case.points) {
        Check::Accepted => (Verdict::Accepted, case.points, said),
        Check::Rejected => (Verdict::WrongAnswer, 0.0, said),
        Check::Points(score) if score >= case.points => (Verdict::Accepted, case.points, said),
        Check::Points(score) if score <= 0.0 => (Verdict::WrongAnswer, 0.0, said),
        Check::Points(score) => (Verdict::PartiallyAccepted, score, said),
        Check::Failed(why) if said.is_empty() => (Verdict::InternalError, 0.0, why),
        Check::Failed(why) => (Verdict::InternalError, 0.0, format!("{why}: {said}")),
    };
    Judged { verdict, score, message: Some(message) }
}

fn test_result(case: &TestCase, judged: Judged, step: Option<StepReport>) -> TestResult {
    let Judged { verdict, score, message } = judged;
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
        checker_message: if case.hidden { None } else { message },
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
mod tests;
