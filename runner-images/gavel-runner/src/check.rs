//! A custom checker's part of a job: once the solution's sandbox is gone, read the judge data
//! (the checker and the expected outputs), compile the checker in a sandbox of its own and run it on every test the solution ran to its
//! end, as `checker /dev/fd/3 /dev/fd/4 /dev/fd/5` (input, output, answer: sealed in-memory
//! files, so the checker can change none of them and nothing of them is ever on a disk).

use gavel_core::helper::{self, HelperRun};
use gavel_core::isolation::IsolationPolicy;
use gavel_core::language;
use gavel_core::runner::{Bundle, JudgeData, Output, Report, StepReport};
use tracing::{debug, warn};

use crate::job::{command, compile, sandbox_options};
use crate::sandbox::{self, RunFds, RunOutcome, Sandbox, SandboxError};

/// Where the checker finds its three files.
const FILE_ARGS: [&str; 3] = ["/dev/fd/3", "/dev/fd/4", "/dev/fd/5"];

/// Checks every test of `report` that ran to its end; what stops the checking altogether (the
/// judge data cannot be read, the sandbox fails) is the report's error.
pub(crate) fn check_tests(
    bundle: &Bundle,
    policy: IsolationPolicy,
    judge_data: &dyn Fn() -> Result<JudgeData, String>,
    report: &mut Report,
) {
    let pending: Vec<usize> = (0..report.tests.len()).filter(|&t| needs_check(&report.tests[t])).collect();
    if pending.is_empty() {
        return;
    }
    if let Err(error) = check(bundle, policy, judge_data, report, &pending) {
        warn!(job_id = %bundle.job_id, %error, "checking failed");
        report.error = Some(error);
    }
}

/// A test whose output is the checker's to judge: it ran, and ended on its own within its limits.
fn needs_check(step: &StepReport) -> bool {
    !step.skipped && step.succeeded()
}

fn check(
    bundle: &Bundle,
    policy: IsolationPolicy,
    judge_data: &dyn Fn() -> Result<JudgeData, String>,
    report: &mut Report,
    pending: &[usize],
) -> Result<(), String> {
    let data = judge_data().map_err(|err| format!("reading the judge data: {err}"))?;
    if data.job_id != bundle.job_id || data.answers.len() != bundle.tests.len() {
        return Err(format!("the judge data is not for this job's {} tests", bundle.tests.len()));
    }
    let checker = &data.checker;
    let Some(lang) = language::find(&checker.language) else {
        return Err(format!("this runner does not know the checker's language {:?}", checker.language));
    };
    let mut files = vec![(lang.source_file.to_owned(), checker.code.clone().into_bytes())];
    for file in &checker.files {
        let bytes = file.bytes().ok_or_else(|| format!("the checker's file {:?} does not decode", file.name))?;
        files.push((file.name.clone(), bytes.into_owned()));
    }
    let limits = helper::limits(&bundle.limits);
    let mut sandbox = Sandbox::new(sandbox_options(lang, files, &[&limits, &bundle.compile_limits]))
        .map_err(|err| format!("the checker's sandbox: {err}"))?;
    policy.check(sandbox.isolation()).map_err(|unmet| format!("the checker was not run: {unmet}"))?;
    let failed = |err: SandboxError| format!("the checker's sandbox failed: {err}");
    if let Some(step) = compile(&mut sandbox, lang, &[], &bundle.compile_limits).map_err(failed)? {
        let compiled = step.succeeded();
        debug!(job_id = %bundle.job_id, compiled, "checker compile step done");
        report.checker_compile = Some(step);
        if !compiled {
            return Ok(());
        }
    }
    let argv: Vec<&str> = lang.run.iter().copied().chain(FILE_ARGS).collect();
    let run = command(lang, &argv, Vec::new(), &limits, false);
    for &t in pending {
        let files = files_of(bundle, &data, &report.tests[t], t)?;
        let outcome = match sandbox.run_with(&run, RunFds { extra: files, stdio: None }) {
            Ok(outcome) => outcome,
            Err(err @ SandboxError::Exec { .. }) => return Err(format!("the checker cannot start: {err}")),
            Err(err) => return Err(failed(err)),
        };
        report.tests[t].check = Some(helper_run(outcome));
    }
    Ok(())
}

/// Test `t`'s input, the solution's output and the expected answer (empty when the test has
/// none), each a sealed in-memory file.
fn files_of(
    bundle: &Bundle,
    data: &JudgeData,
    step: &StepReport,
    t: usize,
) -> Result<Vec<std::os::fd::OwnedFd>, String> {
    let input = bundle.tests[t].input_bytes().ok_or("a test's base64 input does not decode")?;
    let output = step.stdout.bytes().ok_or("a test's output does not decode")?;
    let answer = match &data.answers[t] {
        Some(answer) => answer.bytes().ok_or("an answer does not decode")?,
        None => Default::default(),
    };
    [("input", &*input), ("output", &*output), ("answer", &*answer)]
        .into_iter()
        .map(|(name, bytes)| sandbox::sealed_file(name, bytes).map_err(|err| format!("an in-memory file: {err}")))
        .collect()
}

fn helper_run(outcome: RunOutcome) -> HelperRun {
    let message = &outcome.stderr[..outcome.stderr.len().min(helper::MESSAGE_BYTES)];
    HelperRun {
        exit_code: outcome.exit_code,
        signal: outcome.signal,
        limit: outcome.limit,
        message: Output::encode(message),
        cpu_time_ms: outcome.cpu_time_ms,
        wall_time_ms: outcome.wall_time_ms,
    }
}
