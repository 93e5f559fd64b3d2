//! Resource limits: what a request may ask for, what the server allows, and what a run gets.

use serde::{Deserialize, Serialize};

/// The limits one test run gets, after defaults and maxima were applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// CPU time of the whole process tree.
    pub time_ms: u64,
    pub wall_time_ms: u64,
    pub memory_mb: u64,
    /// Cap on stdout and on stderr, each.
    pub output_kb: u64,
    pub processes: u32,
}

/// Limits as a client sends them: every field optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsInput {
    pub time_ms: Option<u64>,
    pub wall_time_ms: Option<u64>,
    pub memory_mb: Option<u64>,
    pub output_kb: Option<u64>,
    pub processes: Option<u32>,
    /// The whole job's output budget: stdout and stderr of every test together.
    pub job_output_kb: Option<u64>,
}

/// An inclusive range with a default inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Bound {
    pub min: u64,
    pub default: u64,
    pub max: u64,
}

/// What this server allows. Defaults are what a request without `limits` gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerLimits {
    pub time_ms: Bound,
    pub wall_time_ms: Bound,
    pub memory_mb: Bound,
    pub output_kb: Bound,
    pub processes: Bound,
    /// The whole job's output budget (stdout and stderr of every test), what bounds a result.
    pub job_output_kb: Bound,
    /// Largest accepted source code, in bytes (413 beyond).
    pub max_code_bytes: usize,
    /// Largest total of a program's extra files (its `files`), in bytes (413 beyond): room for
    /// testlib.h and a few headers.
    pub max_files_bytes: usize,
    /// Largest stdin, test input or expected output, in bytes (413 beyond).
    pub max_io_bytes: usize,
    pub max_tests: usize,
    /// The compile step's own limits, not the client's.
    pub compile: Limits,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            time_ms: Bound { min: 50, default: 2_000, max: 15_000 },
            wall_time_ms: Bound { min: 100, default: 5_000, max: 30_000 },
            memory_mb: Bound { min: 16, default: 256, max: 2_048 },
            output_kb: Bound { min: 1, default: 1_024, max: 8_192 },
            processes: Bound { min: 1, default: 64, max: 256 },
            job_output_kb: Bound { min: 1, default: 16 * 1024, max: 64 * 1024 },
            max_code_bytes: 256 * 1024,
            max_files_bytes: 1024 * 1024,
            max_io_bytes: 4 * 1024 * 1024,
            max_tests: 100,
            compile: Limits { time_ms: 20_000, wall_time_ms: 30_000, memory_mb: 1_024, output_kb: 64, processes: 64 },
        }
    }
}

/// A limit outside the server's range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("limits.{field} must be between {min} and {max}, got {value}")]
pub struct LimitOutOfRange {
    pub field: &'static str,
    pub value: u64,
    pub min: u64,
    pub max: u64,
}

/// A limit's value: the default when absent, else checked against its range.
fn pick(field: &'static str, bound: Bound, value: Option<u64>) -> Result<u64, LimitOutOfRange> {
    match value {
        None => Ok(bound.default),
        Some(v) if (bound.min..=bound.max).contains(&v) => Ok(v),
        Some(v) => Err(LimitOutOfRange { field, value: v, min: bound.min, max: bound.max }),
    }
}

impl ServerLimits {
    /// The job's output budget in bytes, defaulted and checked like every other limit.
    pub fn resolve_output_budget(&self, input: &LimitsInput) -> Result<u64, LimitOutOfRange> {
        pick("job_output_kb", self.job_output_kb, input.job_output_kb).map(|kb| kb * 1024)
    }

    /// Applies defaults and checks every given per-run limit against its range.
    pub fn resolve(&self, input: &LimitsInput) -> Result<Limits, LimitOutOfRange> {
        let time_ms = pick("time_ms", self.time_ms, input.time_ms)?;
        // A CPU limit above the wall limit could never be reached; the default wall limit grows.
        let wall_default = Bound {
            default: self.wall_time_ms.default.max(time_ms * 2).min(self.wall_time_ms.max),
            ..self.wall_time_ms
        };
        let wall_time_ms = pick("wall_time_ms", wall_default, input.wall_time_ms)?;
        let memory_mb = pick("memory_mb", self.memory_mb, input.memory_mb)?;
        let output_kb = pick("output_kb", self.output_kb, input.output_kb)?;
        let processes = pick("processes", self.processes, input.processes.map(u64::from))?;
        Ok(Limits {
            time_ms,
            wall_time_ms,
            memory_mb,
            output_kb,
            // The bound's max is a u32, so this conversion never saturates in practice.
            processes: u32::try_from(processes).unwrap_or(u32::MAX),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn missing_limits_take_defaults() {
        let server = ServerLimits::default();
        let limits = server.resolve(&LimitsInput::default()).expect("defaults are valid");
        assert_eq!(limits.time_ms, 2_000);
        assert_eq!(limits.wall_time_ms, 5_000);
        assert_eq!(limits.memory_mb, 256);
    }

    #[test]
    fn default_wall_time_follows_a_large_cpu_limit() {
        let server = ServerLimits::default();
        let input = LimitsInput { time_ms: Some(10_000), ..Default::default() };
        assert_eq!(server.resolve(&input).map(|l| l.wall_time_ms), Ok(20_000));
    }

    #[test]
    fn out_of_range_names_the_field() {
        let server = ServerLimits::default();
        let input = LimitsInput { memory_mb: Some(1 << 20), ..Default::default() };
        let err = server.resolve(&input).expect_err("1 TiB is over the max");
        assert_eq!(err.field, "memory_mb");
        assert!(err.to_string().contains("limits.memory_mb"));
    }

    proptest! {
        #[test]
        fn in_range_values_are_kept_and_others_refused(time in 0u64..100_000, memory in 0u64..10_000) {
            let server = ServerLimits::default();
            let input = LimitsInput { time_ms: Some(time), memory_mb: Some(memory), ..Default::default() };
            let time_ok = (server.time_ms.min..=server.time_ms.max).contains(&time);
            let memory_ok = (server.memory_mb.min..=server.memory_mb.max).contains(&memory);
            match server.resolve(&input) {
                Ok(limits) => {
                    prop_assert!(time_ok && memory_ok);
                    prop_assert_eq!(limits.time_ms, time);
                    prop_assert_eq!(limits.memory_mb, memory);
                    prop_assert!(limits.wall_time_ms <= server.wall_time_ms.max);
                }
                Err(err) => {
                    prop_assert!(!(time_ok && memory_ok));
                    prop_assert_eq!(err.field, if time_ok { "memory_mb" } else { "time_ms" });
                }
            }
        }
    }
}
