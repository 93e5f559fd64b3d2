//! The problem's own programs, beside the contestant's: a custom checker (run after each test)
//! and an interactor (run beside the solution in each test), each compiled once per job and run
//! in a sandbox of its own as testlib defines the protocol (`checker input output answer`,
//! `interactor input output answer`, the verdict in the exit code, the message on stderr).

use serde::{Deserialize, Serialize};

use crate::language::{self, Language};
use crate::limits::{Limits, ServerLimits};
use crate::program::{self, SourceFile};
use crate::request::RequestError;
use crate::runner::{LimitHit, Output};

/// The languages every runner carries for the problem's programs, beside the solution's own:
/// they run in the solution's runner, and testlib's are C++.
pub const HELPER_LANGUAGES: [&str; 3] = ["c", "cpp", "python"];

/// The most of a checker's or an interactor's stderr kept as its message.
pub const MESSAGE_BYTES: usize = 4096;

/// testlib's exit codes (testlib.h: `OK_EXIT_CODE` … `UNEXPECTED_EOF_EXIT_CODE`).
mod exit {
    pub const OK: i32 = 0;
    pub const WRONG_ANSWER: i32 = 1;
    pub const PRESENTATION_ERROR: i32 = 2;
    pub const FAIL: i32 = 3;
    pub const POINTS: i32 = 7;
    pub const UNEXPECTED_EOF: i32 = 8;
}

/// A program of the problem's, as the request gives it and the runner gets it (`language` a
/// catalogue id once validated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HelperProgram {
    pub language: String,
    pub code: String,
    /// Beside the code in its work dir: testlib.h, headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<SourceFile>,
}

fn invalid(field: String, message: String) -> RequestError {
    RequestError::InvalidField { field, message }
}

impl HelperProgram {
    /// Checks the program as `field` (`checker`, `interactor`) of a request whose solution is in `solution`,
    /// and names its language by its catalogue id.
    pub fn validate(
        self,
        field: &str,
        solution: &Language,
        server: &ServerLimits,
    ) -> Result<HelperProgram, RequestError> {
        let at = |name: &str| format!("{field}.{name}");
        let lang = language::find(&self.language).ok_or_else(|| {
            invalid(at("language"), format!("{} {:?} is not a language Gavel runs", at("language"), self.language))
        })?;
        if lang.id != solution.id && !HELPER_LANGUAGES.contains(&lang.id) {
            return Err(invalid(
                at("language"),
                format!(
                    "{} must be the solution's language ({}) or one every runner carries ({}), got {}",
                    at("language"),
                    solution.id,
                    HELPER_LANGUAGES.join(", "),
                    lang.id
                ),
            ));
        }
        if self.code.trim().is_empty() {
            return Err(invalid(at("code"), format!("{} must not be empty", at("code"))));
        }
        if self.code.len() > server.max_code_bytes {
            let (limit, actual) = (server.max_code_bytes, self.code.len());
            return Err(RequestError::TooLarge { field: at("code"), limit, actual });
        }
        if self.code.contains('\0') {
            return Err(invalid(at("code"), format!("{} must not contain NUL bytes", at("code"))));
        }
        program::check_files(&at("files"), &self.files, lang, server.max_files_bytes)?;
        Ok(HelperProgram { language: lang.id.to_owned(), ..self })
    }
}

/// The limits a checker (or an interactor) runs under: its own, never fewer than the solution's.
pub fn limits(solution: &Limits) -> Limits {
    Limits {
        time_ms: solution.time_ms.max(5_000),
        wall_time_ms: solution.wall_time_ms.max(10_000),
        memory_mb: solution.memory_mb.max(256),
        output_kb: 64,
        processes: solution.processes.max(16),
    }
}

/// What the runner saw of a checker's or an interactor's run on one test.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HelperRun {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub limit: Option<LimitHit>,
    /// The start of its stderr (at most [`MESSAGE_BYTES`]).
    pub message: Output,
    pub cpu_time_ms: u64,
    pub wall_time_ms: u64,
}

impl HelperRun {
    /// The message as text (invalid bytes replaced), for people.
    pub fn message_text(&self) -> String {
        let bytes = self.message.bytes().unwrap_or_default();
        String::from_utf8_lossy(&bytes[..bytes.len().min(MESSAGE_BYTES)]).trim_end().to_owned()
    }
}

/// A checker's or an interactor's word on one test.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    Accepted,
    /// Wrong answer, presentation error or unexpected end of the output: the contestant's.
    Rejected,
    /// `quitp`: this many of the test's points.
    Points(f64),
    /// The program itself failed: never the contestant's fault.
    Failed(String),
}

/// Reads the run of `program` (the checker, the interactor) as testlib defines its exit codes,
/// for a test worth `points`.
pub fn read(program: &str, run: &HelperRun, points: f64) -> Check {
    if let Some(limit) = run.limit {
        let limit = match limit {
            LimitHit::CpuTime => "CPU time",
            LimitHit::WallTime => "wall time",
            LimitHit::Memory => "memory",
            LimitHit::Output => "output",
        };
        return Check::Failed(format!("the {program} was stopped at its {limit} limit"));
    }
    if let Some(signal) = run.signal {
        return Check::Failed(format!("the {program} was killed by signal {signal}"));
    }
    match run.exit_code {
        Some(exit::OK) => Check::Accepted,
        Some(exit::WRONG_ANSWER | exit::PRESENTATION_ERROR | exit::UNEXPECTED_EOF) => Check::Rejected,
        Some(exit::FAIL) => Check::Failed(format!("the {program} failed (exit code 3)")),
        Some(exit::POINTS) => match quitp_points(&run.message_text()) {
            Some(score) if (0.0..=points).contains(&score) => Check::Points(score),
            Some(score) => {
                Check::Failed(format!("the {program} gave {score} points to a test worth {points} (0 to {points})"))
            }
            None => Check::Failed(format!("the {program} exited with 7 (points) without a `points x` line on stderr")),
        },
        Some(code) => Check::Failed(format!("the {program} exited with {code}, which testlib does not define")),
        None => Check::Failed(format!("the {program} ended without an exit status")),
    }
}

/// The `x` of testlib's `points x message` line (what `quitp(x, message)` writes).
fn quitp_points(message: &str) -> Option<f64> {
    let line = message.lines().find_map(|line| line.strip_prefix("points "))?;
    line.split_whitespace().next()?.parse::<f64>().ok().filter(|x| x.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpp() -> &'static Language {
        language::find("cpp").expect("cpp is in the catalogue")
    }

    fn program(language: &str) -> HelperProgram {
        HelperProgram { language: language.into(), code: "int main() {}".into(), files: Vec::new() }
    }

    fn field_of(err: RequestError) -> String {
        match err {
            RequestError::InvalidField { field, .. } | RequestError::TooLarge { field, .. } => field,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn a_helper_is_in_a_carried_language_or_the_solutions() {
        let server = ServerLimits::default();
        let java = language::find("java").expect("java");
        assert_eq!(program("c++").validate("checker", java, &server).map(|p| p.language), Ok("cpp".into()));
        assert_eq!(program("py").validate("checker", cpp(), &server).map(|p| p.language), Ok("python".into()));
        assert_eq!(program("java").validate("checker", java, &server).map(|p| p.language), Ok("java".into()));
        let refused = program("java").validate("checker", cpp(), &server).expect_err("java is not carried");
        assert_eq!(field_of(refused), "checker.language");
        let unknown = program("cobol").validate("checker", cpp(), &server).expect_err("unknown");
        assert_eq!(field_of(unknown), "checker.language");
    }

    #[test]
    fn a_helper_needs_code_and_plain_files() {
        let server = ServerLimits::default();
        let empty = HelperProgram { code: " \n".into(), ..program("cpp") };
        assert_eq!(field_of(empty.validate("checker", cpp(), &server).expect_err("empty")), "checker.code");
        let bad_name = HelperProgram {
            files: vec![SourceFile {
                name: "../testlib.h".into(),
                content: String::new(),
                encoding: Default::default(),
            }],
            ..program("cpp")
        };
        let err = bad_name.validate("checker", cpp(), &server).expect_err("a path is no name");
        assert_eq!(field_of(err), "checker.files[0].name");
        let huge = HelperProgram { code: "x".repeat(server.max_code_bytes + 1), ..program("cpp") };
        assert_eq!(field_of(huge.validate("checker", cpp(), &server).expect_err("too large")), "checker.code");
    }

    fn run(exit_code: i32, stderr: &str) -> HelperRun {
        HelperRun { exit_code: Some(exit_code), message: Output::text(stderr), ..HelperRun::default() }
    }

    #[test]
    fn exit_codes_read_as_testlib_defines_them() {
        assert_eq!(read("checker", &run(0, "ok 1 number\n"), 1.0), Check::Accepted);
        for code in [1, 2, 8] {
            assert_eq!(read("checker", &run(code, "wrong answer expected 3, found 4\n"), 1.0), Check::Rejected);
        }
        assert!(matches!(read("checker", &run(3, "FAIL answer file broken\n"), 1.0), Check::Failed(_)));
        assert!(matches!(read("checker", &run(4, ""), 1.0), Check::Failed(m) if m.contains("exited with 4")));
        let crashed = HelperRun { signal: Some(11), ..HelperRun::default() };
        assert!(matches!(read("checker", &crashed, 1.0), Check::Failed(m) if m.contains("signal 11")));
        let slow = HelperRun { limit: Some(LimitHit::CpuTime), exit_code: Some(0), ..HelperRun::default() };
        assert!(matches!(read("checker", &slow, 1.0), Check::Failed(m) if m.contains("CPU time")));
    }

    #[test]
    fn quitp_points_are_read_from_stderr_within_the_tests_points() {
        // testlib's quitp(x, "msg") ends with `points x msg` on stderr and exit code 7.
        assert_eq!(read("checker", &run(7, "points 2.5 half of it\n"), 5.0), Check::Points(2.5));
        assert_eq!(read("checker", &run(7, "points 5\n"), 5.0), Check::Points(5.0));
        assert_eq!(read("checker", &run(7, "points 0 nothing\n"), 5.0), Check::Points(0.0));
        assert!(matches!(read("checker", &run(7, "points 6\n"), 5.0), Check::Failed(m) if m.contains("worth 5")));
        assert!(matches!(read("checker", &run(7, "points -1\n"), 5.0), Check::Failed(_)));
        assert!(matches!(read("checker", &run(7, "points many\n"), 5.0), Check::Failed(_)));
        assert!(matches!(read("checker", &run(7, "ok\n"), 5.0), Check::Failed(m) if m.contains("points x")));
    }

    #[test]
    fn the_message_is_capped_text() {
        let long = HelperRun { message: Output::encode(&[b'a'; MESSAGE_BYTES * 2]), ..HelperRun::default() };
        assert_eq!(long.message_text().len(), MESSAGE_BYTES);
        let binary = HelperRun { message: Output::encode(b"bad \xff byte\n"), ..HelperRun::default() };
        assert_eq!(binary.message_text(), "bad \u{fffd} byte");
    }
}
