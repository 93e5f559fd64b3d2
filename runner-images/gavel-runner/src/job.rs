//! One job: compile once, run every test in the sandbox, report what happened.

use gavel_core::isolation::IsolationPolicy;
use gavel_core::language::{self, Language};
use gavel_core::limits::Limits;
use gavel_core::runner::{Bundle, JudgeData, Output, Report, StepReport};
use gavel_core::scoring::Progress;
use tracing::{debug, warn};

use crate::check;
use crate::sandbox::{self, RunCommand, RunOutcome, Sandbox, SandboxOptions};

/// Runs a bundle to a report, under at least the isolation `policy` demands: a sandbox weaker
/// than that runs nothing. A custom checker's job then reads its `judge_data` (the checker and
/// the expected outputs; only once every run of the solution has ended and its sandbox is gone)
/// and checks each test in a sandbox of the checker's own. Never fails: what went wrong on the
/// platform's side is in `Report::error`, what the program did is in the steps.
pub fn run(
    bundle: Bundle,
    policy: IsolationPolicy,
    judge_data: Option<&dyn Fn() -> Result<JudgeData, String>>,
) -> Report {
    let mut report = solve(&bundle, policy);
    if let (Some(judge_data), None) = (judge_data, &report.error) {
        check::check_tests(&bundle, policy, judge_data, &mut report);
    }
    report
}

/// The solution's compile step and tests, in a sandbox dropped (every process of it gone)
/// before this returns.
fn solve(bundle: &Bundle, policy: IsolationPolicy) -> Report {
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
    };
    if let Err(unmet) = policy.check(sandbox.isolation()) {
        warn!(job_id = %bundle.job_id, %unmet, "isolation policy not met; nothing runs");
        report.error = Some(format!("no program was run: {unmet}"));
        return report;
    }
    if let Err(err) = run_steps(&mut sandbox, lang, bundle, &mut report) {
        warn!(job_id = %bundle.job_id, %err, "sandbox run failed");
        report.error = Some(format!("sandbox failure: {err}"));
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
    }
}

fn run_steps(
    sandbox: &mut Sandbox,
    lang: &Language,
    bundle: &Bundle,
    report: &mut Report,
) -> Result<(), sandbox::SandboxError> {
    if let Some(step) = compile(sandbox, lang, &bundle.compile_options, &bundle.compile_limits)? {
        let compiled = step.succeeded();
        debug!(job_id = %bundle.job_id, compiled, "compile step done");
        report.compile = Some(step);
        if !compiled {
            return Ok(());
        }
    }
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
            return Err(sandbox::SandboxError::InvalidCommand("a test's base64 input does not decode".into()));
        };
        let argv: Vec<&str> = lang.run.iter().copied().chain(bundle.args.iter().map(String::as_str)).collect();
        let run = RunCommand {
            combined_output_bytes: budget,
            merge_stderr: bundle.streams.merge_stderr,
            keep_order: bundle.streams.keep_order,
            ..command(lang, &argv, stdin.into_owned(), &bundle.limits, false)
        };
        let step = match sandbox.run(&run) {
            Ok(outcome) => {
                budget = budget.saturating_sub((outcome.stdout.len() + outcome.stderr.len()) as u64);
                step_report(outcome)
            }
            // What the compiler made (or, with its options, failed to make) cannot start: the
            // program's failure, not the platform's.
            Err(err @ sandbox::SandboxError::Exec { .. }) if lang.compile.is_some() => not_started(&err),
            Err(err) => return Err(err),
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
    }
}
