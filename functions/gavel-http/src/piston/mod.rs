//! Piston v2, as its clients see it (`compat.md` §3–4): a translation over Gavel's own use
//! cases, served under `/api/v2/` and `/api/v2/piston/` and, on a listener of its own, at the root.

use axum::Router;

use crate::Ctx;

/// What an operator sets for the Piston API (under `GAVEL_PISTON_*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PistonConfig {}

impl PistonConfig {
    pub fn from_env() -> PistonConfig {
        PistonConfig {}
    }
}

/// The Piston routes under `/api/v2` (and `/api/v2/piston`), relative to where they are mounted.
pub(crate) fn routes() -> Router<Ctx> {
    Router::new()
}

/// The routes of Piston's own listener beside `/api/v2`: `GET /` and the fallback.
pub(crate) fn root_routes() -> Router<Ctx> {
    Router::new()
}
