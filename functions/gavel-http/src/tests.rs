//! Router-level tests that need no real store: every backing service here is down, so anything
//! that reaches one answers 503, and anything refused before that proves it never got there.
//! The same behaviour over real adapters is in `tests/it/http_api.rs`.

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{StatusCode, header};
use chrono::{DateTime, Utc};
use gavel_core::isolation::IsolationLevel;
use gavel_core::job::{Outcome, Removal, Transition};
use gavel_core::language;
use gavel_core::ports::{BlobError, ItemWindow, JobMessage, ListPage, QueueError, Unavailable};
use gavel_core::{JobId, JobRecord};
use serde_json::Value;
use tower::ServiceExt;

use super::*;

/// Every port, down.
struct Down;

fn down() -> Unavailable {
    Unavailable::new("test backend", "down")
}

#[async_trait]
impl JobStore for Down {
    async fn create(&self, _: &JobRecord) -> Result<(), Unavailable> {
        Err(down())
    }
    async fn get(&self, _: &JobId, _: DateTime<Utc>) -> Result<Option<JobRecord>, Unavailable> {
        Err(down())
    }
    async fn mark_running(&self, _: &JobId, _: DateTime<Utc>) -> Result<Transition, Unavailable> {
        Err(down())
    }
    async fn finish(&self, _: &JobId, _: Outcome, _: DateTime<Utc>) -> Result<Transition, Unavailable> {
        Err(down())
    }
    async fn delete_ended(&self, _: &JobId, _: DateTime<Utc>) -> Result<Removal, Unavailable> {
        Err(down())
    }
    async fn list(&self, _: &str, _: ItemWindow, _: DateTime<Utc>) -> Result<ListPage, Unavailable> {
        Err(down())
    }
}

#[async_trait]
impl BlobStore for Down {
    async fn put(&self, _: &str, _: Vec<u8>) -> Result<(), Unavailable> {
        Err(down())
    }
    async fn get(&self, _: &str, _: u64) -> Result<Option<Vec<u8>>, BlobError> {
        Err(down().into())
    }
    async fn delete(&self, _: &str) -> Result<(), Unavailable> {
        Err(down())
    }
    async fn read_url(&self, _: &str) -> Result<String, Unavailable> {
        Err(down())
    }
    async fn write_url(&self, _: &str) -> Result<String, Unavailable> {
        Err(down())
    }
}

/// A queue with a bug: it panics.
struct Panics;

#[async_trait]
impl JobQueue for Panics {
    async fn check_room(&self) -> Result<(), QueueError> {
        Ok(())
    }
    async fn enqueue(&self, _: &JobMessage) -> Result<(), QueueError> {
        Err(QueueError::Unavailable(down()))
    }
    async fn depth(&self) -> Result<u64, Unavailable> {
        panic!("a bug in an adapter")
    }
}

#[async_trait]
impl JobQueue for Down {
    async fn check_room(&self) -> Result<(), QueueError> {
        Err(QueueError::Unavailable(down()))
    }
    async fn enqueue(&self, _: &JobMessage) -> Result<(), QueueError> {
        Err(QueueError::Unavailable(down()))
    }
    async fn depth(&self) -> Result<u64, Unavailable> {
        Err(down())
    }
}

pub(crate) fn state() -> AppState {
    let languages: Vec<LanguageStatus> = language::catalogue()
        .iter()
        .map(|language| LanguageStatus { language, available: language.id != "csharp", version: None })
        .collect();
    AppState {
        store: Arc::new(Down),
        blobs: Arc::new(Down),
        queue: Arc::new(Down),
        limits: Arc::new(ServerLimits::default()),
        languages: languages.into(),
        isolation: Isolation::boundary(IsolationLevel::Insecure, vec!["test".into()]),
        policy: IsolationPolicy::Insecure,
        version: "0.0.0-test".into(),
        job_finished: None,
        max_wait: Duration::from_secs(crate::MAX_WAIT_SECS),
        judge0: Arc::default(),
        piston: Arc::default(),
    }
}

pub(crate) async fn send(router: Router, request: Request) -> (StatusCode, axum::http::HeaderMap, Value) {
    let response = router.oneshot(request).await.expect("the router is infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("a body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, body)
}

pub(crate) fn request(method: Method, uri: &str, content_type: Option<&str>, body: impl Into<Body>) -> Request {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    builder.body(body.into()).expect("a valid request")
}

fn post_json(body: &str) -> Request {
    request(Method::POST, "/execute", Some("application/json"), body.to_owned())
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn unknown_routes_are_404_in_the_error_shape() {
    let (status, _, body) = send(router(state()), request(Method::GET, "/nope", None, Body::empty())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(code(&body), "not_found");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("/nope")));
}

#[tokio::test]
async fn wrong_methods_are_405_with_allow() {
    let (status, headers, body) = send(router(state()), request(Method::GET, "/execute", None, Body::empty())).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(code(&body), "method_not_allowed");
    assert_eq!(headers.get(header::ALLOW).and_then(|v| v.to_str().ok()), Some("POST"));
}

#[tokio::test]
async fn request_ids_are_generated_or_echoed() {
    let (_, headers, _) = send(router(state()), request(Method::GET, "/nope", None, Body::empty())).await;
    let generated = headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert_eq!(generated.len(), 36, "a uuid: {generated:?}");

    let mut given = request(Method::GET, "/languages", None, Body::empty());
    given.headers_mut().insert(REQUEST_ID, axum::http::HeaderValue::from_static("abc-123"));
    let (_, headers, _) = send(router(state()), given).await;
    assert_eq!(headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()), Some("abc-123"));
}

#[tokio::test]
async fn bad_bodies_are_refused_before_any_backend_is_touched() {
    let valid = r#"{"language": "python", "code": "print(1)"}"#;
    let cases = [
        (request(Method::POST, "/execute", None, valid), 415, "unsupported_media_type"),
        (request(Method::POST, "/execute", Some("text/plain"), valid), 415, "unsupported_media_type"),
        (post_json("{\"language\": "), 400, "malformed_json"),
        (post_json(""), 400, "malformed_json"),
        (post_json(r#"{"language": "python"}"#), 422, "invalid_request"),
        (post_json(r#"{"language": "cobol", "code": "x"}"#), 422, "unknown_language"),
        (post_json(r#"{"language": "c#", "code": "x"}"#), 422, "language_unavailable"),
        (post_json(r#"{"language": "c", "code": "x", "limits": {"time_ms": 1}}"#), 422, "invalid_field"),
        (post_json(r#"{"language": "c", "code": "x", "checker": {"mode": "float", "abs": -1}}"#), 422, "invalid_field"),
    ];
    for (request, status, expected) in cases {
        let (got, _, body) = send(router(state()), request).await;
        assert_eq!((got.as_u16(), code(&body)), (status, expected), "{body}");
    }
}

#[tokio::test]
async fn bodies_over_the_cap_are_413() {
    let body = format!(r#"{{"language": "c", "code": "{}"}}"#, "x".repeat(2_000));
    let (status, _, body) = send(router_with_body_limit(state(), 1_000), post_json(&body)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(code(&body), "payload_too_large");
    assert_eq!(body["error"]["limit"], 1_000);
}

#[tokio::test]
async fn backends_down_are_503_with_retry_after() {
    for request in [
        post_json(r#"{"language": "python", "code": "print(1)"}"#),
        request(Method::GET, "/health", None, Body::empty()),
        request(Method::GET, &format!("/result/{}", JobId::new()), None, Body::empty()),
    ] {
        let (status, headers, body) = send(router(state()), request).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(code(&body), "service_unavailable");
        assert!(headers.contains_key(header::RETRY_AFTER));
        assert!(!body.to_string().contains("down\""), "backend detail leaked: {body}");
    }
}

#[tokio::test]
async fn malformed_job_ids_are_404_without_a_store_read() {
    for id in ["nope", "..%2F..%2Fetc%2Fpasswd", "%FF%FE"] {
        let (status, _, body) =
            send(router(state()), request(Method::GET, &format!("/result/{id}"), None, Body::empty())).await;
        assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "job_not_found"), "{id}");
    }
}

#[tokio::test]
async fn a_panic_is_a_500_in_the_error_shape() {
    let state = AppState { queue: Arc::new(Panics), ..state() };
    let (status, headers, body) = send(router(state), request(Method::GET, "/health", None, Body::empty())).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(code(&body), "internal_error");
    assert!(headers.contains_key(REQUEST_ID));
}

#[tokio::test]
async fn languages_are_served_from_the_state() {
    let (status, _, body) = send(router(state()), request(Method::GET, "/languages", None, Body::empty())).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<_> = body.as_array().into_iter().flatten().filter_map(|l| l["id"].as_str()).collect();
    assert_eq!(ids, language::ids());
}
