//! Judge0 CE 1.13.1, as its clients see it (`compat.md` §1–2): a translation over Gavel's own
//! use cases, served under `/judge0/` and, on a listener of its own, at the root.
//!
//! A submission is a Gavel job (its token is the job id); a batch's submissions that differ only
//! in their input are one job, compiled once (`jobs.rs`, `token.rs`). What a submission echoes
//! back is kept beside the job (`record.rs`); its status is read from Gavel's result as isolate
//! would have reported the same run (`status.rs`).

use axum::Router;
use axum::routing::{get, post};

use crate::Ctx;

mod args;
mod auth;
mod base64;
mod callbacks;
mod config;
mod error;
mod fields;
mod index;
mod info;
mod jobs;
mod languages;
mod limits;
mod record;
mod request;
mod status;
mod submissions;
mod token;
mod view;

pub use callbacks::{Delivery, Judge0Callbacks};
pub use config::Judge0Config;

/// The Judge0 routes, relative to where they are mounted. Like Rails, an unknown route and a
/// known one with another method are both 404 in Judge0's shape.
pub(crate) fn routes() -> Router<Ctx> {
    Router::new()
        .route("/", get(info::home))
        .route("/submissions", post(submissions::create).get(index::index))
        .route("/submissions/batch", post(submissions::batch_create).get(submissions::batch_show))
        .route("/submissions/{token}", get(submissions::show).delete(submissions::destroy))
        .route("/languages", get(languages::index))
        .route("/languages/all", get(languages::all))
        .route("/languages/{id}", get(languages::show))
        .route("/statuses", get(info::statuses))
        .route("/system_info", get(info::system_info))
        .route("/config_info", get(info::config_info))
        .route("/isolate", get(info::isolate))
        .route("/about", get(info::about))
        .route("/version", get(info::version))
        .route("/license", get(info::license))
        .route("/statistics", get(info::statistics))
        .route("/workers", get(info::workers))
        .route("/authenticate", post(info::authenticate))
        .route("/authorize", post(info::authorize))
        .route("/openapi.json", get(info::openapi))
        .method_not_allowed_fallback(error::not_found)
        .fallback(error::not_found)
}

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;
