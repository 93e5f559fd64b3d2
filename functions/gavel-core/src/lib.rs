//! Gavel's domain. No I/O and no runtime here: adapters implement the port traits in [`ports`]
//! and the binaries call the use cases in [`usecases`].

pub mod checker;
pub mod helper;
pub mod hooks;
pub mod isolation;
pub mod job;
pub mod judge;
pub mod language;
pub mod limits;
pub mod offload;
pub mod ports;
pub mod program;
pub mod request;
pub mod runner;
pub mod scoring;
pub mod signals;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod usecases;
pub mod verdict;

pub use checker::Checker;
pub use isolation::{Isolation, IsolationLevel, IsolationPolicy};
pub use job::{JobId, JobRecord, JobStatus};
pub use language::Language;
pub use limits::{Limits, ServerLimits};
pub use verdict::Verdict;
