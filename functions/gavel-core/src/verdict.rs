//! Verdicts, per test and overall.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Accepted,
    /// A custom checker gave some of the test's points, not all (testlib's `quitp`).
    PartiallyAccepted,
    WrongAnswer,
    TimeLimitExceeded,
    MemoryLimitExceeded,
    OutputLimitExceeded,
    RuntimeError,
    CompilationError,
    InternalError,
    /// Not run, or not judged: an earlier test failed with `stop_on_first_failure`, or the
    /// test's group skips it (a dependency did not pass, or all or nothing after a failure).
    Skipped,
}

impl Verdict {
    pub fn is_accepted(self) -> bool {
        self == Verdict::Accepted
    }

    /// The snake_case name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Accepted => "accepted",
            Verdict::PartiallyAccepted => "partially_accepted",
            Verdict::WrongAnswer => "wrong_answer",
            Verdict::TimeLimitExceeded => "time_limit_exceeded",
            Verdict::MemoryLimitExceeded => "memory_limit_exceeded",
            Verdict::OutputLimitExceeded => "output_limit_exceeded",
            Verdict::RuntimeError => "runtime_error",
            Verdict::CompilationError => "compilation_error",
            Verdict::InternalError => "internal_error",
            Verdict::Skipped => "skipped",
        }
    }
}

/// The overall verdict: the first test's that is neither accepted nor skipped, else accepted.
pub fn overall<I: IntoIterator<Item = Verdict>>(verdicts: I) -> Verdict {
    verdicts.into_iter().find(|v| !matches!(v, Verdict::Accepted | Verdict::Skipped)).unwrap_or(Verdict::Accepted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overall_is_the_first_failure() {
        use Verdict::*;
        assert_eq!(overall([Accepted, WrongAnswer, TimeLimitExceeded]), WrongAnswer);
        assert_eq!(overall([Accepted, Accepted]), Accepted);
        assert_eq!(overall([RuntimeError, Skipped]), RuntimeError);
        assert_eq!(overall([]), Accepted);
    }

    #[test]
    fn wire_names_match_serde() {
        for v in [Verdict::Accepted, Verdict::PartiallyAccepted, Verdict::TimeLimitExceeded, Verdict::Skipped] {
            assert_eq!(serde_json::to_value(v).ok(), Some(serde_json::Value::from(v.as_str())));
        }
    }
}
