//! An interactive problem's tests: the interactor and the solution run at the same time, each in
//! its own sandbox, the solution's stdout piped straight to the interactor's stdin and back (no
//! copy through the runner), the interactor as `interactor input output answer`. The interactor's
//! output file is then what the test's output is judged as.

use gavel_core::helper::{self, HelperProgram, HelperRun};
use gavel_core::isolation::IsolationPolicy;
use gavel_core::limits::Limits;
use gavel_core::runner::{Bundle, LimitHit, Output, StepReport};

use crate::helpers::{self, Helper, answer, sealed};
use crate::job::step_report;
use crate::sandbox::{self, RunCommand, RunFds, Sandbox, SandboxError};

/// The interactor outlives a solution that hangs by this much, so the solution's own limit is
/// what stops a test that waits forever.
const GRACE_MS: u64 = 5_000;

/// A compiled interactor and the answers it is given.
pub(crate) struct Interactor<'a> {
    helper: Helper,
    answers: &'a [Option<Output>],
    /// The most its output file may hold: a stream's cap of the solution's.
    output_cap: u64,
}

/// Compiles the interactor in a sandbox of its own, its compile step in `compiled`; `None` when
/// it did not compile.
pub(crate) fn prepare<'a>(
    program: &HelperProgram,
    answers: &'a [Option<Output>],
    bundle: &Bundle,
    policy: IsolationPolicy,
    compiled: &mut Option<StepReport>,
) -> Result<Option<Interactor<'a>>, String> {
    let limits = limits(&bundle.limits);
    let output_cap = bundle.limits.output_kb * 1024;
    let prepared = helpers::prepare(program, "interactor", &limits, &bundle.compile_limits, policy, compiled)?;
    Ok(prepared.map(|helper| Interactor { helper, answers, output_cap }))
}

/// The interactor's own limits: a checker's, and longer than the solution's wall time.
fn limits(solution: &Limits) -> Limits {
    let own = helper::limits(solution);
    Limits { wall_time_ms: own.wall_time_ms.max(solution.wall_time_ms + GRACE_MS), ..own }
}

impl Interactor<'_> {
    /// Runs test `t` (its `input`) with the solution's `run` in `solution`: the solution's step,
    /// whose stdout is the interactor's output file, with the interactor's run beside it, and the
    /// bytes of output it takes of the job's budget.
    pub(crate) fn run_test(
        &mut self,
        solution: &mut Sandbox,
        run: &RunCommand,
        t: usize,
        input: &[u8],
    ) -> Result<Result<(StepReport, u64), SandboxError>, String> {
        let pipe = || std::io::pipe().map_err(|err| format!("a pipe: {err}"));
        let (to_interactor, from_solution) = pipe()?;
        let (to_solution, from_interactor) = pipe()?;
        let output = sandbox::scratch_file("output").map_err(|err| format!("an in-memory file: {err}"))?;
        let mut extra = sealed(&[("input", input)])?;
        extra.push(output.try_clone().map_err(|err| format!("an in-memory file: {err}"))?);
        extra.extend(sealed(&[("answer", &answer(self.answers, t)?)])?);
        let interactor_fds = RunFds { extra, stdio: Some((to_interactor.into(), from_interactor.into())) };
        let solution_fds = RunFds { extra: Vec::new(), stdio: Some((to_solution.into(), from_solution.into())) };
        let solution_run = RunCommand { stdin: Vec::new(), ..run.clone() };
        let helper = &mut self.helper;
        let (solved, interacted) = std::thread::scope(|scope| {
            let solving = scope.spawn(|| solution.run_with(&solution_run, solution_fds));
            let interacted = helper.sandbox.run_with(&helper.run, interactor_fds);
            (solving.join(), interacted)
        });
        let interacted = interacted.map_err(|err| helpers::failed(helper.what, err))?;
        let Ok(solved) = solved else {
            return Err("the solution's run panicked".to_owned());
        };
        let (written, over) =
            sandbox::read_capped(&output, self.output_cap).map_err(|err| format!("the interactor's output: {err}"))?;
        let mut interaction = helpers::helper_run(&interacted);
        if over {
            interaction = HelperRun { limit: Some(LimitHit::Output), ..interaction };
        }
        Ok(solved.map(|outcome| {
            let taken = (written.len() + outcome.stderr.len()) as u64;
            let step =
                StepReport { stdout: Output::encode(&written), interaction: Some(interaction), ..step_report(outcome) };
            (step, taken)
        }))
    }
}
