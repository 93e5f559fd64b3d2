//! The problem's own programs in the runner (a custom checker, an interactor): each in a sandbox
//! of its own (its own uid, files and limits, never the solution's), compiled once, then run as
//! `program /dev/fd/3 /dev/fd/4 /dev/fd/5` on in-memory files (input, output, answer), so nothing
//! of the judge data is ever on a disk.

use std::os::fd::OwnedFd;

use gavel_core::helper::{self, HelperProgram, HelperRun};
use gavel_core::isolation::IsolationPolicy;
use gavel_core::language;
use gavel_core::limits::Limits;
use gavel_core::runner::{Output, StepReport};

use crate::job::{command, compile, sandbox_options};
use crate::sandbox::{self, RunCommand, RunOutcome, Sandbox, SandboxError};

/// Where the program finds its three files.
const FILE_ARGS: [&str; 3] = ["/dev/fd/3", "/dev/fd/4", "/dev/fd/5"];

/// A compiled helper, ready to run.
pub(crate) struct Helper {
    pub(crate) sandbox: Sandbox,
    /// Its run command, with the three file arguments.
    pub(crate) run: RunCommand,
    /// `checker` or `interactor`, for messages.
    pub(crate) what: &'static str,
}

/// Sets up `program` (the job's `what`) under `limits`, compiled under `compile_limits`, in a
/// sandbox that meets `policy`, its compile step (if its language has one) in `compiled`. `None`
/// when it did not compile; an error is the platform's: it stops the job.
pub(crate) fn prepare(
    program: &HelperProgram,
    what: &'static str,
    limits: &Limits,
    compile_limits: &Limits,
    policy: IsolationPolicy,
    compiled: &mut Option<StepReport>,
) -> Result<Option<Helper>, String> {
    let Some(lang) = language::find(&program.language) else {
        return Err(format!("this runner does not know the {what}'s language {:?}", program.language));
    };
    let mut files = vec![(lang.source_file.to_owned(), program.code.clone().into_bytes())];
    for file in &program.files {
        let bytes = file.bytes().ok_or_else(|| format!("the {what}'s file {:?} does not decode", file.name))?;
        files.push((file.name.clone(), bytes.into_owned()));
    }
    let mut sandbox = Sandbox::new(sandbox_options(lang, files, &[limits, compile_limits]))
        .map_err(|err| format!("the {what}'s sandbox: {err}"))?;
    policy.check(sandbox.isolation()).map_err(|unmet| format!("the {what} was not run: {unmet}"))?;
    *compiled = compile(&mut sandbox, lang, &[], compile_limits).map_err(|err| failed(what, err))?;
    if compiled.as_ref().is_some_and(|step| !step.succeeded()) {
        return Ok(None);
    }
    let argv: Vec<&str> = lang.run.iter().copied().chain(FILE_ARGS).collect();
    let run = command(lang, &argv, Vec::new(), limits, false);
    Ok(Some(Helper { sandbox, run, what }))
}

/// A helper's sandbox failing is the platform's failure, and one that cannot start is the
/// problem's.
pub(crate) fn failed(what: &str, err: SandboxError) -> String {
    match err {
        SandboxError::Exec { .. } => format!("the {what} cannot start: {err}"),
        err => format!("the {what}'s sandbox failed: {err}"),
    }
}

/// What a helper's run says: its exit, its limit, the start of its stderr.
pub(crate) fn helper_run(outcome: &RunOutcome) -> HelperRun {
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
