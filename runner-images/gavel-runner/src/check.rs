//! A custom checker's part of a job: once the solution's sandbox is gone, compile the checker in
//! a sandbox of its own and run it on every test the solution ran to its end, as `checker
//! /dev/fd/3 /dev/fd/4 /dev/fd/5` (input, output, answer: sealed in-memory files, so the checker
//! can change none of them).

use gavel_core::helper::{self, HelperProgram};
use gavel_core::isolation::IsolationPolicy;
use gavel_core::runner::{Bundle, Output, Report, StepReport};
use tracing::{debug, warn};

use crate::helpers::{self, answer, sealed};
use crate::sandbox::RunFds;

/// The tests whose output is the checker's to judge: each ran, ended on its own within its
/// limits and, in an interactive problem, the interactor accepted the exchange.
pub(crate) fn pending(report: &Report) -> Vec<usize> {
    let accepted =
        |step: &StepReport| step.interaction.as_ref().is_none_or(|run| run.exit_code == Some(0) && run.limit.is_none());
    (0..report.tests.len())
        .filter(|&t| !report.tests[t].skipped && report.tests[t].succeeded())
        .filter(|&t| accepted(&report.tests[t]))
        .collect()
}

/// Checks the `pending` tests of `report` against `answers` (one per test of the bundle); what
/// stops the checking altogether (the sandbox fails) is the report's error.
pub(crate) fn check_tests(
    checker: &HelperProgram,
    answers: &[Option<Output>],
    bundle: &Bundle,
    policy: IsolationPolicy,
    report: &mut Report,
    pending: &[usize],
) {
    if let Err(error) = check(checker, answers, bundle, policy, report, pending) {
        warn!(job_id = %bundle.job_id, %error, "checking failed");
        report.error = Some(error);
    }
}

fn check(
    checker: &HelperProgram,
    answers: &[Option<Output>],
    bundle: &Bundle,
    policy: IsolationPolicy,
    report: &mut Report,
    pending: &[usize],
) -> Result<(), String> {
    let limits = helper::limits(&bundle.limits);
    let prepared =
        helpers::prepare(checker, "checker", &limits, &bundle.compile_limits, policy, &mut report.checker_compile)?;
    let Some(mut checker) = prepared else {
        debug!(job_id = %bundle.job_id, "the checker did not compile");
        return Ok(());
    };
    for &t in pending {
        let input = bundle.tests[t].input_bytes().ok_or("a test's base64 input does not decode")?;
        let output = report.tests[t].stdout.bytes().ok_or("a test's output does not decode")?;
        let extra = sealed(&[("input", &input), ("output", &output), ("answer", &answer(answers, t)?)])?;
        let outcome = checker
            .sandbox
            .run_with(&checker.run, RunFds { extra, stdio: None })
            .map_err(|err| helpers::failed(checker.what, err))?;
        report.tests[t].check = Some(helpers::helper_run(&outcome));
    }
    Ok(())
}
