//! The Piston routes' handlers.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use chrono::Utc;
use gavel_core::usecases::{self, SubmitError};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::time::Instant;
use tracing::debug;

use super::error::PistonError;
use super::runtimes::{self, Runtime};
use super::stage::{self, Execution};
use super::{VERSION, request};
use crate::Ctx;
use crate::result::wait_for;

/// The OpenAPI document of these routes, as served here.
const OPENAPI: &str = include_str!("openapi.json");

/// `POST /execute`: Piston runs a job synchronously, so this submits it and waits for it, at
/// most as long as this deployment holds a request (under API Gateway's cap on AWS).
pub(crate) async fn execute(
    State(ctx): State<Ctx>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Execution>, PistonError> {
    let started = Instant::now();
    let body = read(&ctx, body)?;
    let body = request::parse_body(&body)?;
    let state = &ctx.state;
    let runtimes = runtimes::runtimes(&state.languages);
    let request::Job { runtime, request, places } =
        request::job(&body, &runtimes, &state.limits, state.piston.version_fallback)?;
    let accepted = usecases::submit(&*state.store, &*state.blobs, &*state.queue, &state.limits, request, Utc::now())
        .await
        .map_err(|err| match err {
            SubmitError::Invalid(err) => request::refused(err, &places),
            SubmitError::Queue(err) => err.into(),
            SubmitError::Unavailable(err) => err.into(),
        })?;
    let job_id = accepted.job_id.as_str();
    let wait = state.max_wait.saturating_sub(started.elapsed());
    let record = wait_for(&*state.store, state.job_finished.as_deref(), job_id, wait).await?;
    if !record.status.is_terminal() {
        debug!(job_id, "piston job outlived the request");
        return Err(PistonError::StillRunning { job_id: job_id.to_owned(), waited_secs: state.max_wait.as_secs() });
    }
    Ok(Json(stage::execution(runtime, &record)))
}

fn read(ctx: &Ctx, body: Result<Bytes, BytesRejection>) -> Result<Bytes, PistonError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            PistonError::BodyTooLarge { limit: ctx.body_limit }
        } else {
            PistonError::BadRequest(rejection.body_text())
        }
    })
}

pub(crate) async fn runtimes(State(ctx): State<Ctx>) -> Json<Vec<Runtime>> {
    Json(runtimes::runtimes(&ctx.state.languages))
}

#[derive(Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Package {
    language: &'static str,
    language_version: String,
    installed: bool,
}

/// `GET /packages`: what is installed is what runs here; one package may provide several
/// runtimes (gcc: c and c++).
pub(crate) async fn packages(State(ctx): State<Ctx>) -> Json<Vec<Package>> {
    Json(packages_of(&runtimes::runtimes(&ctx.state.languages)))
}

fn packages_of(runtimes: &[Runtime]) -> Vec<Package> {
    let mut packages: Vec<Package> = Vec::new();
    for runtime in runtimes {
        let package =
            Package { language: runtime.package(), language_version: runtime.version.clone(), installed: true };
        if !packages.contains(&package) {
            packages.push(package);
        }
    }
    packages
}

/// `POST`/`DELETE /packages`: installing and removing runtimes is the image's business here,
/// so no package can be found, as Piston says of one it does not know.
pub(crate) async fn change_package(
    State(ctx): State<Ctx>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(), PistonError> {
    let body = request::parse_body(&read(&ctx, body)?)?;
    let language = as_javascript_text(body.get("language"));
    let version = as_javascript_text(body.get("version"));
    Err(PistonError::NotFound(format!("Requested package {language}-{version} does not exist")))
}

/// How a JavaScript template literal shows a JSON value (`undefined` when absent).
fn as_javascript_text(value: Option<&Value>) -> String {
    match value {
        None => "undefined".into(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

/// `/connect`: Piston's interactive WebSocket, not served by Gavel yet.
pub(crate) async fn connect() -> PistonError {
    PistonError::NotFound("the /connect WebSocket is not available on this server (Gavel); use POST /execute".into())
}

pub(crate) async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// `GET /` of Piston's own listener.
pub(crate) async fn root() -> Json<Value> {
    Json(json!({ "message": format!("Piston v{VERSION}") }))
}

pub(crate) async fn not_found() -> PistonError {
    PistonError::route_not_found()
}

#[cfg(test)]
mod tests {
    use super::*;
    use gavel_core::language::{self, LanguageStatus};

    #[test]
    fn packages_list_each_provider_once() {
        let statuses: Vec<LanguageStatus> = language::catalogue()
            .iter()
            .filter(|language| ["c", "cpp", "python"].contains(&language.id))
            .map(|language| LanguageStatus { language, available: true, version: Some("x 12.2.0".into()) })
            .collect();
        let packages = serde_json::to_value(packages_of(&runtimes::runtimes(&statuses))).expect("serializes");
        assert_eq!(
            packages,
            json!([
                {"language": "python", "language_version": "12.2.0", "installed": true},
                {"language": "gcc", "language_version": "12.2.0", "installed": true},
            ])
        );
    }

    #[test]
    fn template_text_is_javascripts() {
        assert_eq!(as_javascript_text(None), "undefined");
        assert_eq!(as_javascript_text(Some(&json!(null))), "null");
        assert_eq!(as_javascript_text(Some(&json!("python"))), "python");
        assert_eq!(as_javascript_text(Some(&json!(3))), "3");
    }

    #[test]
    fn the_openapi_document_is_json_and_lists_every_route() {
        let document: Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
        assert_eq!(document["openapi"], "3.1.0");
        for path in super::super::PATHS {
            assert!(document["paths"].get(*path).is_some(), "{path} is not documented");
        }
        let documented = document["paths"].as_object().map(|paths| paths.len());
        assert_eq!(documented, Some(super::super::PATHS.len()), "a documented path is not served");
    }
}
