//! One job: compile once, run every test in the sandbox (beside the interactor, in an interactive
//! problem), check the outputs (with a custom checker), report what happened.

use gavel_core::helper::HelperProgram;
use gavel_core::isolation::IsolationPolicy;
use gavel_core::language::{self, Language};
use gavel_core::limits::Limits;
use gavel_core::runner::{Bundle, JudgeData, Output, Report, StepReport};
use gavel_core::scoring::Progress;
use tracing::{debug, warn};

use crate::sandbox::{self, RunCommand, RunOutcome, Sandbox, SandboxOptions};
use crate::{check, interact};

/// Runs a bundle to a report, under at least the isolation `policy` demands: a sandbox weaker
/// than that runs nothing. A custom checker's job reads its `judge_data` (the checker and the
/// expected outputs) only once every run of the solution has ended and its sandbox is gone, and
/// checks each test in a sandbox of the checker's own; an interactive problem's is read before
/// the first test, whose interactor needs it. Never fails: what went wrong on the platform's side
/// is in `Report::error`, what the program did is in the steps.
pub fn run(
    bundle: Bundle,
    policy: IsolationPolicy,
    judge_data: Option<&dyn Fn() -> Result<JudgeData, String>>,
) -> Report {
    let read = |fetch: &dyn Fn() -> Result<JudgeData, String>| -> Result<JudgeData, String> {
        let data = fetch().map_err(|err| format!("reading the judge data: {err}"))?;
        if data.job_id != bundle.job_id || data.answers.len() != bundle.tests.len() {
            return Err(format!("the judge data is not for this job's {} tests", bundle.tests.len()));
        }
        Ok(data)
    };
    let early = match (bundle.interactive, judge_data) {
        (false, _) => None,
        (true, None) => return not_run(&bundle, "an interactive job without judge data".to_owned()),
        (true, Some(fetch)) => match read(fetch) {
            Ok(data) if data.interactor.is_some() => Some(data),
            Ok(_) => return not_run(&bundle, "an interactive job's judge data has no interactor".to_owned()),
            Err(error) => return not_run(&bundle, error),
        },
    };
    let interaction = early.as_ref().and_then(|data| Some((data.interactor.as_ref()?, data.answers.as_slice())));
    let mut report = solve(&bundle, policy, interaction);
    let pending = check::pending(&report);
    if report.error.is_some() || pending.is_empty() {
        return report;
    }
    let data = match (early, judge_data) {
        (Some(data), _) => data,
        (None, Some(fetch)) => match read(fetch) {
            Ok(data) => data,
            Err(error) => {
                report.error = Some(error);
                return report;
            }
        },
        (None, None) => return report,
    };
    if let Some(checker) = &data.checker {
        check::check_tests(checker, &data.answers, &bundle, policy, &mut report, &pending);
    }
    report
}

/// The solution's compile step and tests (each beside the interactor given, with its answers),
/// in a sandbox dropped (every process of it gone) before this returns.
fn solve(bundle: &Bundle, policy: IsolationPolicy, interaction: Option<(&HelperProgram, &[Option<Output>])>) -> Report {
    let Some(lang) = language::find(&bundle.language) else {
        return not_run(bundle, format!("this runner does not know the language {:?}", bundle.language));
    };
    let mut files = vec![(lang.source_file.to_owned(), bundle.source.clone().into_bytes())];
    for file in &bundle.files {
        let Some(bytes) = file.bytes() else {
            return not_run(bundle, format!("the file {:?} does not decode", file.name));
        };
        files.push((file.name.clone(), bytes.into_owned()));
    }
    let options = sandbox_options(lang, files, &[&bundle.limits, &bundle.compile_limits]);
    let mut sandbox = match Sandbox::new(options) {
        Ok(sandbox) => sandbox,
        Err(err) => {
            warn!(job_id = %bundle.job_id, %err, "sandbox setup failed");
            return not_run(bundle, format!("sandbox setup failed: {err}"));
        }
    };
    let mut report = Report {
        job_id: bundle.job_id.clone(),
        isolation: sandbox.isolation().clone(),
        compile: None,
        tests: Vec::new(),
        error: None,
        checker_compile: None,
        interactor_compile: None,
    };
    if let Err(unmet) = policy.check(sandbox.isolation()) {
        warn!(job_id = %bundle.job_id, %unmet, "isolation policy not met; nothing runs");
        report.error = Some(format!("no program was run: {unmet}"));
        return report;
    }
    if let Err(err) = run_steps(&mut sandbox, lang, bundle, policy, interaction, &mut report) {
        warn!(job_id = %bundle.job_id, %err, "sandbox run failed");
        report.error = Some(err);
    }
    report
}

/// A sandbox for `lang`'s programs with `files` in its work dir, roomy enough for every one of
/// `limits`.
pub(crate) fn sandbox_options(lang: &Language, files: Vec<(String, Vec<u8>)>, limits: &[&Limits]) -> SandboxOptions {
    SandboxOptions {
        files,
        readonly_paths: lang.toolchain_paths.iter().map(Into::into).collect(),
        memory_bytes: mib(limits.iter().map(|l| l.memory_mb).max().unwrap_or(0)),
        processes: limits.iter().map(|l| l.processes).max().unwrap_or(1),
        ..SandboxOptions::default()
    }
}

/// The report of a job that never got a sandbox: it says what this host's sandbox would be, a
/// probe run only on this path, not on every job's.
fn not_run(bundle: &Bundle, error: String) -> Report {
    Report {
        job_id: bundle.job_id.clone(),
        isolation: sandbox::probe(),
        compile: None,
        tests: Vec::new(),
        error: Some(error),
        checker_compile: None,
        interactor_compile: None,
    }
}

fn run_steps(
    sandbox: &mut Sandbox,
    lang: &Language,
    bundle: &Bundle,
    policy: IsolationPolicy,
    interaction: Option<(&HelperProgram, &[Option<Output>])>,
    report: &mut Report,
) -> Result<(), String> {
    let failure = |err: sandbox::SandboxError| format!("sandbox failure: {err}");
    if let Some(step) = compile(sandbox, lang, &bundle.compile_options, &bundle.compile_limits).map_err(failure)? {
        let compiled = step.succeeded();
        debug!(job_id = %bundle.job_id, compiled, "compile step done");
        report.compile = Some(step);
        if !compiled {
            return Ok(());
        }
    }
    let mut interactor = match interaction {
        None => None,
        Some((program, answers)) => {
            let prepared = interact::prepare(program, answers, bundle, policy, &mut report.interactor_compile)?;
            let Some(interactor) = prepared else { return Ok(()) };
            Some(interactor)
        }
    };
    // One budget for every test's output: a test past it is stopped at the output limit.
    let mut budget = bundle.output_budget_bytes;
    let mut progress = Progress::new(&bundle.groups, bundle.tests.len());
    for (t, test) in bundle.tests.iter().enumerate() {
        if progress.skips(t) {
            progress.record(t, false);
            report.tests.push(StepReport::skipped());
            continue;
        }
        let Some(stdin) = test.input_bytes() else {
            return Err("a test's base64 input does not decode".to_owned());
        };
        let argv: Vec<&str> = lang.run.iter().copied().chain(bundle.args.iter().map(String::as_str)).collect();
        let run = RunCommand {
            combined_output_bytes: budget,
            merge_stderr: bundle.streams.merge_stderr,
            keep_order: bundle.streams.keep_order,
            ..command(lang, &argv, stdin.into_owned(), &bundle.limits, false)
        };
        let ran = match &mut interactor {
            Some(interactor) => interactor.run_test(sandbox, &run, t, &run.stdin)?,
            None => sandbox.run(&run).map(|outcome| {
                let written = (outcome.stdout.len() + outcome.stderr.len()) as u64;
                (step_report(outcome), written)
            }),
        };
        let step = match ran {
            Ok((step, written)) => {
                budget = budget.saturating_sub(written);
                step
            }
            // What the compiler made (or, with its options, failed to make) cannot start: the
            // program's failure, not the platform's.
            Err(err @ sandbox::SandboxError::Exec { .. }) if lang.compile.is_some() => not_started(&err),
            Err(err) => return Err(failure(err)),
        };
        let failed = !step.succeeded();
        progress.record(t, !failed);
        report.tests.push(step);
        if failed && bundle.stop_on_first_failure {
            break;
        }
    }
    Ok(())
}

/// The compile step of `lang` (none for an interpreted language).
pub(crate) fn compile(
    sandbox: &mut Sandbox,
    lang: &Language,
    options: &[String],
    limits: &Limits,
) -> Result<Option<StepReport>, sandbox::SandboxError> {
    let Some(compile) = lang.compile_command(options) else {
        return Ok(None);
    };
    let compile: Vec<&str> = compile.iter().map(String::as_str).collect();
    Ok(Some(step_report(sandbox.run(&command(lang, &compile, Vec::new(), limits, true))?)))
}

pub(crate) fn command(
    lang: &Language,
    argv: &[&str],
    stdin: Vec<u8>,
    limits: &Limits,
    writable_box: bool,
) -> RunCommand {
    RunCommand {
        argv: argv.iter().map(|a| (*a).to_owned()).collect(),
        env: lang.env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        stdin,
        cpu_time_ms: limits.time_ms,
        wall_time_ms: limits.wall_time_ms,
        output_bytes: limits.output_kb * 1024,
        combined_output_bytes: u64::MAX,
        memory_bytes: Some(mib(limits.memory_mb)),
        processes: Some(limits.processes),
        writable_box,
        merge_stderr: false,
        keep_order: false,
    }
}

fn mib(mb: u64) -> u64 {
    mb * 1024 * 1024
}

/// A test whose program could not be executed: exit status 127, as a shell reports it, and why.
fn not_started(err: &sandbox::SandboxError) -> StepReport {
    StepReport { exit_code: Some(127), stderr: Output::text(err.to_string()), ..StepReport::default() }
}

pub(crate) fn step_report(outcome: RunOutcome) -> StepReport {
    StepReport {
        exit_code: outcome.exit_code,
        signal: outcome.signal,
        cpu_time_ms: outcome.cpu_time_ms,
        wall_time_ms: outcome.wall_time_ms,
        memory_kb: outcome.memory_kb,
        stdout: Output::encode(&outcome.stdout),
        stderr: Output::encode(&outcome.stderr),
        stdout_truncated: outcome.stdout_truncated,
        stderr_truncated: outcome.stderr_truncated,
        limit: outcome.limit,
        order: outcome.order,
        skipped: false,
        check: None,
        interaction: None,
    }
}
