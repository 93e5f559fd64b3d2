//! Judge0 CE 1.13.1, as its clients see it (`compat.md` §1–2): a translation over Gavel's own
//! use cases, served under `/judge0/` and, on a listener of its own, at the root.

use axum::Router;

use crate::Ctx;

/// What an operator sets for the Judge0 API (Judge0's own knobs, under `GAVEL_JUDGE0_*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Judge0Config {}

impl Judge0Config {
    pub fn from_env() -> Judge0Config {
        Judge0Config {}
    }
}

/// The Judge0 routes, relative to where they are mounted.
pub(crate) fn routes() -> Router<Ctx> {
    Router::new()
}
