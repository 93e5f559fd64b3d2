//! A custom checker's part of a job: once the solution's sandbox is gone, compile the checker in
//! a sandbox of its own and run it on every test the solution ran to its end, as `checker
//! /dev/fd/3 /dev/fd/4 /dev/fd/5` (input, output, answer: sealed in-memory files, so the checker
//! can change none of them).

use std::os::fd::OwnedFd;

use gavel_core::helper::{self, HelperProgram};
use gavel_core::isolation::IsolationPolicy;
use gavel_core::runner::{Bundle, Output, Report, StepReport};
use tracing::{debug, warn};

use crate::helpers::{self, Prepared};
use crate::sandbox::{self, RunFds};

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
    let mut checker = match helpers::prepare(checker, "checker", &limits, &bundle.compile_limits, policy)? {
        Prepared::Ready(checker, compiled) => {
            report.checker_compile = compiled;
            *checker
        }
        Prepared::DidNotCompile(step) => {
            debug!(job_id = %bundle.job_id, "the checker did not compile");
            report.checker_compile = Some(step);
            return Ok(());
        }
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

/// Test `t`'s expected answer; empty when it has none.
pub(crate) fn answer(answers: &[Option<Output>], t: usize) -> Result<Vec<u8>, String> {
    match answers.get(t) {
        Some(Some(answer)) => Ok(answer.bytes().ok_or("an answer does not decode")?.into_owned()),
        Some(None) => Ok(Vec::new()),
        None => Err(format!("no answer for test {t}")),
    }
}

/// Each named file, sealed in memory.
pub(crate) fn sealed(files: &[(&str, &[u8])]) -> Result<Vec<OwnedFd>, String> {
    files
        .iter()
        .map(|(name, bytes)| sandbox::sealed_file(name, bytes).map_err(|err| format!("an in-memory file: {err}")))
        .collect()
}
