//! The runner contract: the bundle the runner reads and the report it writes.
//! The bundle never holds expected outputs; those stay on the trusted side, except for a job with
//! a custom checker, whose runner reads them with the checker ([`JudgeData`]) from a second
//! location only once every run of the solution has ended.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::helper::{HelperProgram, HelperRun};
use crate::isolation::Isolation;
use crate::job::JobId;
use crate::limits::Limits;
use crate::program::SourceFile;
use crate::scoring::Group;

mod output;

pub use self::output::{Encoding, Output};

/// The largest bundle anyone reads: a request body of a few MiB, JSON-escaped once more.
pub const MAX_BUNDLE_BYTES: u64 = 256 * 1024 * 1024;

/// Everything the runner needs to run one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    pub job_id: JobId,
    /// A catalogue id (never an alias).
    pub language: String,
    pub source: String,
    pub limits: Limits,
    pub compile_limits: Limits,
    /// A plain run is one test whose input is the request's stdin.
    pub tests: Vec<BundleTest>,
    /// Stop after the first test that fails on its own (non-zero exit, signal, a limit).
    pub stop_on_first_failure: bool,
    /// The job's whole output budget: stdout and stderr of every test, in bytes. A test that
    /// writes past what is left of it is stopped at the output limit.
    pub output_budget_bytes: u64,
    /// Given to every test run after the run command (the program's argv).
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub streams: Streams,
    /// Placed in the work dir beside the source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<SourceFile>,
    /// Given to the compiler just before the source file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compile_options: Vec<String>,
    /// The tests' groups, so the runner need not run a test the groups skip whatever it does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Group>,
    /// An interactive problem: every test runs beside the judge data's interactor, which the
    /// runner therefore reads before the first test.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interactive: bool,
}

/// What the runner of a job with a custom checker or an interactor reads from its second
/// location: the problem's programs, and the expected outputs, one per test in bundle order
/// (`None` for a test without one: its answer file is empty). Read once every run of the
/// solution has ended, but for an interactive problem's, which is read before the first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JudgeData {
    pub job_id: JobId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checker: Option<HelperProgram>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interactor: Option<HelperProgram>,
    pub answers: Vec<Option<Output>>,
}

/// How a test run's stdout and stderr are captured, beyond the default of two separate streams.
/// The rivals' APIs need these (Judge0's `redirect_stderr_to_stdout`, Piston's `output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Streams {
    /// The program's stderr is its stdout pipe too, so it is judged as stdout (isolate's
    /// `--stderr-to-stdout`).
    #[serde(default)]
    pub merge_stderr: bool,
    /// Record the order in which stdout and stderr arrived ([`StepReport::order`]).
    #[serde(default)]
    pub keep_order: bool,
}

/// A run of bytes the program wrote to one stream, in arrival order among both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub stream: Stream,
    pub len: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// The most segments a step records: beyond it the rest of each stream follows, stdout first.
pub const MAX_SEGMENTS: usize = 4096;

/// `stdout` and `stderr` merged in the order `order` gives; whatever `order` does not cover
/// (none recorded, or past [`MAX_SEGMENTS`]) follows, stdout first.
pub fn interleave(stdout: &[u8], stderr: &[u8], order: &[Segment]) -> Vec<u8> {
    let mut merged = Vec::with_capacity(stdout.len() + stderr.len());
    let (mut out, mut err) = (stdout, stderr);
    for segment in order {
        let from = match segment.stream {
            Stream::Stdout => &mut out,
            Stream::Stderr => &mut err,
        };
        let (taken, rest) = from.split_at(usize::try_from(segment.len).unwrap_or(usize::MAX).min(from.len()));
        merged.extend_from_slice(taken);
        *from = rest;
    }
    merged.extend_from_slice(out);
    merged.extend_from_slice(err);
    merged
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleTest {
    pub input: String,
    /// How `input` holds the bytes of the program's stdin.
    #[serde(default, skip_serializing_if = "Encoding::is_utf8")]
    pub encoding: Encoding,
}

impl BundleTest {
    /// Plain text input.
    pub fn text(input: impl Into<String>) -> BundleTest {
        BundleTest { input: input.into(), encoding: Encoding::Utf8 }
    }

    /// The bytes of stdin; `None` for base64 that does not decode (a forged bundle).
    pub fn input_bytes(&self) -> Option<Cow<'_, [u8]>> {
        self.encoding.decode(&self.input)
    }
}

/// What the runner measured. Written once, at the end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub job_id: JobId,
    pub isolation: Isolation,
    /// Present for compiled languages.
    pub compile: Option<StepReport>,
    /// One per test, in bundle order, a test the groups skip included (as [`StepReport::skipped`]);
    /// fewer when stopped early or compile failed.
    pub tests: Vec<StepReport>,
    /// Set when the runner itself could not finish (never for the program's own failures).
    pub error: Option<String>,
    /// The custom checker's compile step, when it has one and a test needed checking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checker_compile: Option<StepReport>,
    /// The interactor's compile step, in an interactive problem whose solution compiled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interactor_compile: Option<StepReport>,
}

/// One sandboxed step: the compile, or one test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct StepReport {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub cpu_time_ms: u64,
    pub wall_time_ms: u64,
    pub memory_kb: u64,
    pub stdout: Output,
    pub stderr: Output,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    /// The limit that stopped the step, if one did.
    pub limit: Option<LimitHit>,
    /// The order stdout and stderr arrived in, when the bundle asked ([`Streams::keep_order`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub order: Vec<Segment>,
    /// Not run: its group's rules skip it whatever it would do.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skipped: bool,
    /// The custom checker's run on this test's output, when the job has one and the test ran to
    /// its end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<HelperRun>,
    /// The interactor's run beside the program's, in an interactive problem; `stdout` is then
    /// the interactor's output file, what is judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interaction: Option<HelperRun>,
}

impl StepReport {
    /// The place of a test the runner did not run.
    pub fn skipped() -> StepReport {
        StepReport { skipped: true, ..StepReport::default() }
    }

    /// Exited 0 on its own, within every limit.
    pub fn succeeded(&self) -> bool {
        self.limit.is_none() && self.signal.is_none() && self.exit_code == Some(0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitHit {
    CpuTime,
    WallTime,
    Memory,
    Output,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(stream: Stream, len: u64) -> Segment {
        Segment { stream, len }
    }

    #[test]
    fn interleave_follows_the_order_then_appends_the_rest() {
        let order = [segment(Stream::Stdout, 1), segment(Stream::Stderr, 2), segment(Stream::Stdout, 1)];
        assert_eq!(interleave(b"abcd", b"XYZ", &order), b"aXYbcdZ");
        assert_eq!(interleave(b"out", b"err", &[]), b"outerr");
    }

    #[test]
    fn an_order_longer_than_the_streams_is_harmless() {
        // A result cut to fit its store keeps its order: the cut streams simply run out.
        let order = [segment(Stream::Stderr, 100), segment(Stream::Stdout, u64::MAX)];
        assert_eq!(interleave(b"o", b"e", &order), b"eo");
    }

    #[test]
    fn bundles_without_the_new_fields_still_read() {
        let old = serde_json::json!({
            "job_id": crate::JobId::new(), "language": "python", "source": "print(1)",
            "limits": {"time_ms": 1, "wall_time_ms": 1, "memory_mb": 1, "output_kb": 1, "processes": 1},
            "compile_limits": {"time_ms": 1, "wall_time_ms": 1, "memory_mb": 1, "output_kb": 1, "processes": 1},
            "tests": [], "stop_on_first_failure": false, "output_budget_bytes": 1,
        });
        let bundle: Bundle = serde_json::from_value(old).expect("an older bundle reads");
        assert_eq!((bundle.args, bundle.streams), (Vec::new(), Streams::default()));
        assert!(bundle.files.is_empty() && bundle.compile_options.is_empty() && bundle.groups.is_empty());
    }
}
