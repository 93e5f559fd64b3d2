//! Judge0's numeric submission attributes: defaults and ranges (`config.rb`, the model's
//! numericality validations), narrowed to what Gavel's [`ServerLimits`] allow here, and what
//! they become as Gavel limits.

use gavel_core::ServerLimits;
use gavel_core::limits::LimitsInput;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A decimal column: `"5.0"` in a submission, `5.0` in `config_info`.
    Decimal,
    Integer,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Lower {
    AtLeast(f64),
    Above(f64),
}

/// One attribute's rule here.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Rule {
    pub name: &'static str,
    pub kind: Kind,
    pub default: f64,
    lower: Lower,
    pub max: f64,
    /// isolate reads 0 as "no limit of its own" here (`-t 0`, `-f 0`): Gavel's largest.
    zero_is_unlimited: bool,
}

impl Rule {
    /// The value's error message, Rails' wording, if it is out of range.
    pub(super) fn check(&self, value: f64) -> Result<(), String> {
        if self.zero_is_unlimited && value == 0.0 {
            return Ok(());
        }
        match self.lower {
            Lower::Above(min) if value <= min => return Err(format!("must be greater than {}", self.bound(min))),
            Lower::AtLeast(min) if value < min => {
                return Err(format!("must be greater than or equal to {}", self.bound(min)));
            }
            _ => {}
        }
        if value > self.max {
            // Judge0's maxima of decimal attributes are Ruby floats: "15.0".
            let max = if self.kind == Kind::Decimal { decimal(self.max) } else { self.bound(self.max) };
            return Err(format!("must be less than or equal to {max}"));
        }
        Ok(())
    }

    fn bound(&self, value: f64) -> String {
        if value.fract() == 0.0 { format!("{}", value as i64) } else { decimal(value) }
    }
}

/// A decimal as Rails writes a BigDecimal: `"5.0"`, `"0.021"`.
pub(super) fn decimal(value: f64) -> String {
    let text = format!("{value}");
    if text.contains('.') || !value.is_finite() { text } else { format!("{text}.0") }
}

/// Every numeric attribute's rule on this deployment.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Rules {
    pub number_of_runs: Rule,
    pub cpu_time_limit: Rule,
    pub cpu_extra_time: Rule,
    pub wall_time_limit: Rule,
    pub memory_limit: Rule,
    pub stack_limit: Rule,
    pub max_processes_and_or_threads: Rule,
    pub max_file_size: Rule,
    /// Gavel's largest output cap and CPU limit, for the attributes set to 0.
    output_kb_max: u64,
    time_ms_max: u64,
}

impl Rules {
    pub(super) fn new(server: &ServerLimits) -> Rules {
        let secs = |ms: u64| ms as f64 / 1000.0;
        let rule = |name, kind, default: f64, lower: Lower, max: f64, zero_is_unlimited| {
            let min = match lower {
                Lower::AtLeast(min) | Lower::Above(min) => min,
            };
            Rule { name, kind, default: default.clamp(min, max.max(min)), lower, max, zero_is_unlimited }
        };
        use Kind::{Decimal, Integer};
        use Lower::{Above, AtLeast};
        Rules {
            number_of_runs: rule("number_of_runs", Integer, 1.0, Above(0.0), 20f64.min(server.max_tests as f64), false),
            cpu_time_limit: rule(
                "cpu_time_limit",
                Decimal,
                5.0,
                AtLeast(secs(server.time_ms.min)),
                15f64.min(secs(server.time_ms.max)),
                true,
            ),
            cpu_extra_time: rule("cpu_extra_time", Decimal, 1.0, AtLeast(0.0), 5.0, false),
            wall_time_limit: rule(
                "wall_time_limit",
                Decimal,
                10.0,
                AtLeast(secs(server.wall_time_ms.min).max(1.0)),
                20f64.min(secs(server.wall_time_ms.max)),
                false,
            ),
            memory_limit: rule(
                "memory_limit",
                Integer,
                128_000.0,
                AtLeast((server.memory_mb.min as f64 * 1024.0).max(2048.0)),
                512_000f64.min(server.memory_mb.max as f64 * 1024.0),
                false,
            ),
            stack_limit: rule("stack_limit", Integer, 64_000.0, AtLeast(0.0), 128_000.0, false),
            max_processes_and_or_threads: rule(
                "max_processes_and_or_threads",
                Integer,
                60.0,
                Above((server.processes.min as f64 - 1.0).max(0.0)),
                120f64.min(server.processes.max as f64),
                false,
            ),
            max_file_size: rule(
                "max_file_size",
                Integer,
                1024.0,
                AtLeast(server.output_kb.min as f64),
                4096f64.min(server.output_kb.max as f64),
                true,
            ),
            output_kb_max: server.output_kb.max,
            time_ms_max: server.time_ms.max,
        }
    }

    /// The Gavel limits of a submission's attributes, for a job of `tests` runs in all.
    pub(super) fn gavel_limits(&self, values: &Values, tests: usize, server: &ServerLimits) -> LimitsInput {
        let output_kb = if values.max_file_size == 0 { self.output_kb_max } else { values.max_file_size };
        // Each run may fill both streams; the job's budget is what all its runs can write, so
        // grouping submissions into one job never cuts one short.
        let budget = (2 * output_kb).saturating_mul(tests as u64);
        LimitsInput {
            time_ms: Some(if values.cpu_time_limit == 0.0 {
                self.time_ms_max
            } else {
                (values.cpu_time_limit * 1000.0).round() as u64
            }),
            wall_time_ms: Some((values.wall_time_limit * 1000.0).round() as u64),
            memory_mb: Some(values.memory_limit.div_ceil(1024)),
            output_kb: Some(output_kb),
            processes: Some(u32::try_from(values.max_processes_and_or_threads).unwrap_or(u32::MAX)),
            job_output_kb: Some(budget.clamp(server.job_output_kb.min, server.job_output_kb.max)),
        }
    }

    /// How many runs of submissions with `values` one job may hold: Gavel's test cap, and what
    /// its output budget can give every run in full.
    pub(super) fn runs_per_job(&self, values: &Values, server: &ServerLimits) -> usize {
        let output_kb = if values.max_file_size == 0 { self.output_kb_max } else { values.max_file_size };
        let by_budget = server.job_output_kb.max / (2 * output_kb).max(1);
        server.max_tests.min(usize::try_from(by_budget).unwrap_or(usize::MAX)).max(1)
    }
}

/// The numeric attributes of one submission, defaults applied and checked.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct Values {
    pub number_of_runs: u64,
    pub cpu_time_limit: f64,
    pub cpu_extra_time: f64,
    pub wall_time_limit: f64,
    pub memory_limit: u64,
    pub stack_limit: u64,
    pub max_processes_and_or_threads: u64,
    pub max_file_size: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judge0s_defaults_and_messages_under_gavels_default_limits() {
        let rules = Rules::new(&ServerLimits::default());
        assert_eq!(rules.cpu_time_limit.default, 5.0);
        assert_eq!(rules.cpu_time_limit.check(15.5), Err("must be less than or equal to 15.0".into()));
        assert_eq!(rules.cpu_time_limit.check(0.0), Ok(()), "0: no CPU limit of its own");
        assert_eq!(rules.cpu_time_limit.check(0.01), Err("must be greater than or equal to 0.05".into()));
        assert_eq!(rules.wall_time_limit.check(0.5), Err("must be greater than or equal to 1".into()));
        assert_eq!(rules.wall_time_limit.check(20.5), Err("must be less than or equal to 20.0".into()));
        assert_eq!(rules.cpu_extra_time.check(6.0), Err("must be less than or equal to 5.0".into()));
        assert_eq!(rules.memory_limit.default, 128_000.0);
        assert_eq!(rules.memory_limit.check(600_000.0), Err("must be less than or equal to 512000".into()));
        // Gavel's smallest memory limit is 16 MiB, above Judge0's 2048 KB.
        assert_eq!(rules.memory_limit.check(4096.0), Err("must be greater than or equal to 16384".into()));
        assert_eq!(rules.max_processes_and_or_threads.check(0.0), Err("must be greater than 0".into()));
        assert_eq!(rules.max_processes_and_or_threads.check(121.0), Err("must be less than or equal to 120".into()));
        assert_eq!(rules.number_of_runs.check(0.0), Err("must be greater than 0".into()));
        assert_eq!(rules.number_of_runs.check(21.0), Err("must be less than or equal to 20".into()));
        assert_eq!(rules.stack_limit.check(128_001.0), Err("must be less than or equal to 128000".into()));
        assert_eq!(rules.max_file_size.check(4097.0), Err("must be less than or equal to 4096".into()));
        assert_eq!(rules.max_file_size.check(0.0), Ok(()));
    }

    #[test]
    fn gavels_smaller_maxima_cap_judge0s() {
        let mut server = ServerLimits::default();
        server.time_ms.max = 10_000;
        server.wall_time_ms.max = 8_000;
        server.memory_mb.max = 100;
        server.processes.max = 32;
        server.max_tests = 10;
        let rules = Rules::new(&server);
        assert_eq!(rules.cpu_time_limit.check(10.5), Err("must be less than or equal to 10.0".into()));
        // The default wall limit (10 s) is over the cap: it is the cap.
        assert_eq!((rules.wall_time_limit.max, rules.wall_time_limit.default), (8.0, 8.0));
        assert_eq!(rules.memory_limit.max, 102_400.0);
        assert_eq!(rules.memory_limit.default, 102_400.0);
        assert_eq!(rules.max_processes_and_or_threads.default, 32.0);
        assert_eq!(rules.number_of_runs.max, 10.0);
    }

    fn values() -> Values {
        Values {
            number_of_runs: 1,
            cpu_time_limit: 2.5,
            cpu_extra_time: 1.0,
            wall_time_limit: 10.0,
            memory_limit: 128_000,
            stack_limit: 64_000,
            max_processes_and_or_threads: 60,
            max_file_size: 1024,
        }
    }

    #[test]
    fn judge0_attributes_become_gavel_limits() {
        let server = ServerLimits::default();
        let rules = Rules::new(&server);
        let limits = rules.gavel_limits(&values(), 3, &server);
        assert_eq!(limits.time_ms, Some(2500));
        assert_eq!(limits.wall_time_ms, Some(10_000));
        assert_eq!(limits.memory_mb, Some(125), "128000 KB, rounded up to whole MiB");
        assert_eq!((limits.output_kb, limits.processes, limits.job_output_kb), (Some(1024), Some(60), Some(6 * 1024)));
        let unlimited = Values { cpu_time_limit: 0.0, max_file_size: 0, ..values() };
        let limits = rules.gavel_limits(&unlimited, 1, &server);
        assert_eq!((limits.time_ms, limits.output_kb), (Some(server.time_ms.max), Some(server.output_kb.max)));
        server.resolve(&limits).expect("Gavel takes what the rules let through");
        server.resolve_output_budget(&limits).expect("and the budget");
    }

    #[test]
    fn a_job_holds_no_more_runs_than_its_budget_gives_in_full() {
        let server = ServerLimits::default();
        let rules = Rules::new(&server);
        assert_eq!(rules.runs_per_job(&values(), &server), 32, "64 MiB / 2 MiB per run");
        assert_eq!(rules.runs_per_job(&Values { max_file_size: 1, ..values() }, &server), server.max_tests);
    }

    #[test]
    fn decimals_look_like_rails_bigdecimals() {
        assert_eq!(decimal(5.0), "5.0");
        assert_eq!(decimal(0.021), "0.021");
        assert_eq!(decimal(0.0), "0.0");
        assert_eq!(decimal(1.5), "1.5");
    }
}
