//! Gavel's HTTP API: one axum [`Router`], served by the API Lambda and by `gavel serve` alike.
//! It holds no state of its own beyond [`AppState`], so it can live in a short-lived process.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, Method, Uri};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use gavel_core::ServerLimits;
use gavel_core::isolation::{Isolation, IsolationPolicy};
use gavel_core::language::LanguageStatus;
use gavel_core::ports::{BlobStore, JobQueue, JobStore};
use gavel_core::signals::JobSignals;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

mod error;
mod execute;
mod info;
mod judge0;
mod openapi;
pub mod outbound;
mod piston;
mod result;

pub use error::{ApiError, CODES, RETRY_AFTER_SECS};
pub use info::{LanguageView, languages_view};
pub use judge0::{Delivery, Judge0Callbacks, Judge0Config};
pub use piston::PistonConfig;
pub use result::MAX_WAIT_SECS;

/// The largest request body [`router`] reads, in bytes.
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// The request id header: taken from the request when present, generated otherwise, echoed back.
pub const REQUEST_ID: &str = "x-request-id";

/// What the handlers use. Each binary wires its own adapters.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn JobStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub queue: Arc<dyn JobQueue>,
    pub limits: Arc<ServerLimits>,
    /// Probed at startup by the binary: which toolchains this deployment has.
    pub languages: Arc<[LanguageStatus]>,
    /// What `GET /health` reports: the isolation jobs run under here, and the policy that
    /// demanded at least that much.
    pub isolation: Isolation,
    pub policy: IsolationPolicy,
    pub version: String,
    /// Where the deployment can tell that a job may have finished (the embedded workers), long
    /// polls wake on its signal; elsewhere they re-read the store with a backoff.
    pub job_finished: Option<Arc<JobSignals>>,
    /// The longest a long poll holds a request here (at most [`MAX_WAIT_SECS`]): behind API
    /// Gateway, which ends requests after 29 s, less than that. A longer `?wait=` is accepted and
    /// answered with the job's state at this deadline.
    pub max_wait: Duration,
    /// The rivals' APIs on this router (`compat.md`): their operators' settings.
    pub judge0: Arc<Judge0Config>,
    pub piston: Arc<PistonConfig>,
}

/// The router's own state: the app's, plus the settings of this router.
#[derive(Clone)]
struct Ctx {
    state: AppState,
    body_limit: usize,
}

/// The API with the default body cap ([`DEFAULT_BODY_LIMIT`]).
pub fn router(state: AppState) -> Router {
    router_with_body_limit(state, DEFAULT_BODY_LIMIT)
}

/// The API, refusing request bodies over `body_limit` bytes with 413.
pub fn router_with_body_limit(state: AppState, body_limit: usize) -> Router {
    // Every route is in the OpenAPI document; tests/it/http_api.rs holds the two together.
    let routes = Router::new()
        .route("/execute", post(execute::execute))
        .route("/result/{job_id}", get(result::result))
        .route("/languages", get(info::languages))
        .route("/health", get(info::health))
        .route("/openapi.json", get(openapi::openapi))
        // Each rival's routes answer in its own error shape, fallbacks included.
        .nest("/judge0", judge0::routes());
    let routes = piston::mount(routes)
        // After the routes: it is set on those already registered.
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found);
    layered(routes, Ctx { state, body_limit })
}

/// Judge0's API alone, at the root, for a listener of its own (`http://host:2358`).
pub fn judge0_router(state: AppState) -> Router {
    layered(judge0::routes(), Ctx { state, body_limit: DEFAULT_BODY_LIMIT })
}

/// Piston's API alone, for a listener of its own (`http://host:2000/api/v2/...`).
pub fn piston_router(state: AppState) -> Router {
    let routes = piston::mount(piston::root_routes());
    layered(routes, Ctx { state, body_limit: DEFAULT_BODY_LIMIT })
}

/// `routes` with what every listener has: request ids, tracing, panics caught, the body cap.
fn layered(routes: Router<Ctx>, ctx: Ctx) -> Router {
    let request_id = HeaderName::from_static(REQUEST_ID);
    let layers = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
        .layer(TraceLayer::new_for_http().make_span_with(span).on_response(DefaultOnResponse::new().level(Level::INFO)))
        .layer(PropagateRequestIdLayer::new(request_id))
        .layer(CatchPanicLayer::custom(|_| ApiError::Internal.into_response()))
        .layer(DefaultBodyLimit::max(ctx.body_limit));
    routes.layer(layers).with_state(ctx)
}

/// The request's span: method, path (never the query or body) and request id.
fn span(request: &Request) -> tracing::Span {
    let request_id = request.headers().get(REQUEST_ID).and_then(|value| value.to_str().ok()).unwrap_or_default();
    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id)
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::RouteNotFound { method: method.to_string(), path: uri.path().to_owned() }
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed { method: method.to_string(), path: uri.path().to_owned() }
}

#[cfg(test)]
mod tests;
