//! The API function: `gavel_http::router` over the AWS adapters.

use std::sync::Arc;
use std::time::Duration;

use gavel_core::ServerLimits;
use gavel_core::isolation::{Isolation, IsolationLevel, IsolationPolicy};
use gavel_core::language::LanguageStatus;
use gavel_core::ports::{BlobStore, JobQueue, JobStore};
use gavel_http::{AppState, Judge0Config};
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;
use tower::util::MapRequest;

/// The ports this function uses, matching its IAM policy.
pub struct Ports {
    pub store: Arc<dyn JobStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub queue: Arc<dyn JobQueue>,
}

/// The service the function runs: the router, behind the stage fix below.
pub type App = MapRequest<axum::Router, fn(lambda_http::Request) -> lambda_http::Request>;

/// The router `gavel serve` serves, over the cloud's adapters, with the server's `limits` (the
/// job output budget the complete function's memory can hold: `gavel_aws::LimitsConfig`) and
/// the `languages` of the stack's runner images (`gavel_aws::ToolchainsConfig`), and the Judge0
/// API's settings.
pub fn app(ports: Ports, limits: ServerLimits, languages: Vec<LanguageStatus>, judge0: Judge0Config) -> App {
    let router = gavel_http::router(AppState {
        store: ports.store,
        blobs: ports.blobs,
        queue: ports.queue,
        limits: Arc::new(limits),
        languages: languages.into(),
        isolation: fargate_isolation(),
        // Each task definition runs its runner under this policy (GAVEL_ISOLATION).
        policy: IsolationPolicy::Container,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        // Nothing tells this process that a job ended: long polls re-read the table.
        job_finished: None,
        // API Gateway ends a request after 29 s.
        max_wait: Duration::from_secs(25),
        judge0: Arc::new(judge0),
        piston: Arc::new(gavel_http::PistonConfig::from_env()),
    });
    MapRequest::new(router, without_stage)
}

/// lambda_http puts a REST API's stage in front of the path (`/v1/execute`); our routes are
/// the same on every stage and behind custom domains, so the stage comes off again.
fn without_stage(mut request: lambda_http::Request) -> lambda_http::Request {
    let stage = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(context)) => context.stage.clone(),
        _ => None,
    };
    let Some(stage) = stage else { return request };
    let prefix = format!("/{stage}");
    let uri = request.uri();
    let Some(path) = uri.path().strip_prefix(&prefix).filter(|rest| rest.starts_with('/')) else { return request };
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = path_and_query.parse().ok();
    if let Ok(uri) = axum::http::Uri::from_parts(parts) {
        *request.uri_mut() = uri;
    }
    request
}

/// On AWS the boundary is the task: each job gets its own Fargate microVM. Inside it the runner
/// refuses to run a program without the `container` level (a uid of its own, private files, a
/// fresh tmp dir per test, seccomp), and each report says what ran.
pub fn fargate_isolation() -> Isolation {
    Isolation::boundary(
        IsolationLevel::Container,
        vec![
            "one Fargate task (a microVM) per job, with no task role: the program holds no AWS credentials".into(),
            "egress limited by the network stack; each job's report gives the sandbox level inside its task".into(),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The API Gateway REST event the stack's functions are invoked with, stage `v1`.
    fn event(path: &str, query: &str) -> lambda_http::Request {
        let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/events/api-get-result.json");
        let mut event: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fixture).expect("the fixture")).expect("JSON");
        event["path"] = path.into();
        event["queryStringParameters"] = serde_json::json!({"wait": query});
        event["multiValueQueryStringParameters"] = serde_json::json!({"wait": [query]});
        lambda_http::request::from_str(&event.to_string()).expect("a Lambda request")
    }

    #[test]
    fn the_stage_comes_off_the_path_and_the_query_stays() {
        let request = event("/result/abc", "5");
        assert_eq!(request.uri().path(), "/v1/result/abc", "lambda_http puts the stage in front");
        let request = without_stage(request);
        assert_eq!(request.uri().path(), "/result/abc");
        assert_eq!(request.uri().query(), Some("wait=5"));
    }

    #[test]
    fn requests_without_a_rest_stage_are_left_alone() {
        let request = lambda_http::Request::new(lambda_http::Body::Empty);
        let (mut parts, body) = request.into_parts();
        parts.uri = "/v1/health".parse().expect("a URI");
        let request = without_stage(lambda_http::Request::from_parts(parts, body));
        assert_eq!(request.uri().path(), "/v1/health");
    }
}
