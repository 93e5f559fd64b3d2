//! Piston v2, as its clients see it (`compat.md` §3–4): a translation over Gavel's own use
//! cases, served under `/api/v2/` and `/api/v2/piston/` and, on a listener of its own, at the root.
//!
//! Where Gavel answers differently from Piston, on purpose:
//! - A body is JSON whatever its Content-Type (piston-client sends `text/plain`): never a 415.
//! - `run_memory_limit`/`compile_memory_limit` of `-1` (what every client sends) is Gavel's
//!   default memory cap; caps are Gavel's, never under Piston's defaults (3 s run, 10 s compile),
//!   and values under Gavel's minimums are raised to them. The compile step keeps the server's
//!   own limits: the `compile_*` fields are checked, not applied.
//! - The first utf8 file (Piston's entry point) is the program, written where Gavel's language
//!   puts its source (`main.py`, `Main.java`); the other files go beside it under their names,
//!   which must be plain (no `/`, no leading `.`), else 400.
//! - A job the platform could not finish is a 200 whose `run.status` is `XX`, with the reason.
//! - A job still running when the request must end (`AppState::max_wait`) is a 504 naming the
//!   job, whose result Gavel's `GET /result/{id}` has later.
//! - `/connect` (the WebSocket) answers 404; `POST`/`DELETE /packages` find no package.

use axum::Router;
use axum::routing::{MethodRouter, any, get, post};

use crate::Ctx;

mod encoding;
mod error;
mod handlers;
mod request;
mod runtimes;
mod stage;
mod version;

/// The Piston release whose API this is (api/package.json), as `GET /` says.
const VERSION: &str = "3.1.1";

/// Every path of [`routes`], each also served with a trailing slash; the OpenAPI document
/// lists exactly these.
const PATHS: &[&str] = &["/runtimes", "/execute", "/packages", "/connect", "/openapi.json"];

/// What an operator sets for the Piston API (under `GAVEL_PISTON_*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PistonConfig {
    /// `GAVEL_PISTON_VERSION_FALLBACK`: a `version` no runtime satisfies runs on the newest
    /// runtime of that language instead of being refused (clients hard-code versions of the
    /// hosted Piston, such as `3.10.0`). Off by default, as in Piston.
    pub version_fallback: bool,
}

impl PistonConfig {
    pub fn from_env() -> PistonConfig {
        PistonConfig { version_fallback: std::env::var("GAVEL_PISTON_VERSION_FALLBACK").is_ok_and(|v| is_on(&v)) }
    }
}

fn is_on(value: &str) -> bool {
    matches!(value.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
}

/// The Piston routes under `/api/v2` (and `/api/v2/piston`), relative to where they are mounted.
/// Unknown paths and methods answer in Piston's shape here, not the outer router's.
fn routes() -> Router<Ctx> {
    let change_package = post(handlers::change_package).delete(handlers::change_package);
    let routes: [(&str, MethodRouter<Ctx>); 5] = [
        ("/runtimes", get(handlers::runtimes)),
        ("/execute", post(handlers::execute)),
        ("/packages", get(handlers::packages).merge(change_package)),
        ("/connect", any(handlers::connect)),
        ("/openapi.json", get(handlers::openapi)),
    ];
    debug_assert!(routes.iter().map(|(path, _)| *path).eq(PATHS.iter().copied()));
    routes
        .into_iter()
        // aiopyston posts to `/execute/`.
        .fold(Router::new(), |router, (path, method_router)| {
            router.route(path, method_router.clone()).route(&format!("{path}/"), method_router)
        })
        .method_not_allowed_fallback(handlers::not_found)
        .fallback(handlers::not_found)
}

/// `router` with Piston's routes under both prefixes. The bare prefixes with a trailing slash
/// (`/api/v2/`), which no nested route matches, are Piston's 404 too, not the outer router's.
pub(crate) fn mount(router: Router<Ctx>) -> Router<Ctx> {
    ["/api/v2", "/api/v2/piston"].into_iter().fold(router, |router, prefix| {
        router.nest(prefix, routes()).route(&format!("{prefix}/"), any(handlers::not_found))
    })
}

/// The routes of Piston's own listener beside `/api/v2`: `GET /` and the fallback.
pub(crate) fn root_routes() -> Router<Ctx> {
    Router::new()
        .route("/", get(handlers::root))
        .method_not_allowed_fallback(handlers::not_found)
        .fallback(handlers::not_found)
}

#[cfg(test)]
mod tests;
