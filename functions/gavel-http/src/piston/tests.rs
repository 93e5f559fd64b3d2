//! The Piston routes through the whole router, every backend down (`crate::tests::state`): what
//! is refused before a backend is reached proves it never got there. The same over real
//! adapters, with the real clients, is in `tests/it/piston.rs`.

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::tests::{request, send, state};
use crate::{piston_router, router, router_with_body_limit};

/// Makes a fresh router to send one request to.
type MakeRouter = fn() -> axum::Router;

/// Where the Piston routes live: the own listener's both prefixes, and the main router's.
fn mounts() -> [(MakeRouter, &'static str); 4] {
    [
        (|| piston_router(state()), "/api/v2"),
        (|| piston_router(state()), "/api/v2/piston"),
        (|| router(state()), "/api/v2"),
        (|| router(state()), "/api/v2/piston"),
    ]
}

fn get(uri: &str) -> axum::extract::Request {
    request(Method::GET, uri, None, Body::empty())
}

const VALID: &str = r#"{"language": "python", "version": "*", "files": [{"content": "print(1)"}]}"#;

#[tokio::test]
async fn the_own_listener_greets_as_piston() {
    let (status, _, body) = send(piston_router(state()), get("/")).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"message": "Piston v3.1.1"})));
    for (method, uri) in
        [(Method::GET, "/nope"), (Method::POST, "/"), (Method::GET, "/api"), (Method::GET, "/result/x")]
    {
        let (status, _, body) = send(piston_router(state()), request(method, uri, None, Body::empty())).await;
        assert_eq!((status, body), (StatusCode::NOT_FOUND, json!({"message": "Not Found"})), "{uri}");
    }
}

#[tokio::test]
async fn unknown_paths_and_methods_under_the_prefixes_are_pistons_404() {
    for (i, (router, prefix)) in mounts().into_iter().enumerate() {
        for (method, path) in [
            (Method::GET, ""),
            (Method::GET, "/"),
            (Method::GET, "/nope"),
            (Method::GET, "/nope/deeper"),
            (Method::POST, "/runtimes"),
            (Method::GET, "/execute/"),
            (Method::PUT, "/packages"),
        ] {
            // The prefix itself with a slash is no route of the nested router (axum's catch-all
            // needs a segment), so on the main router it is the main router's 404.
            if i >= 2 && path == "/" {
                continue;
            }
            let uri = format!("{prefix}{path}");
            let (status, _, body) = send(router(), request(method.clone(), &uri, None, Body::empty())).await;
            assert_eq!((status, body), (StatusCode::NOT_FOUND, json!({"message": "Not Found"})), "{method} {uri}");
        }
    }
    // Gavel's own routes keep Gavel's shape.
    let (status, _, body) = send(router(state()), get("/nope")).await;
    assert_eq!((status, &body["error"]["code"]), (StatusCode::NOT_FOUND, &json!("not_found")));
}

#[tokio::test]
async fn runtimes_and_packages_are_served_with_or_without_a_trailing_slash() {
    for (router, prefix) in mounts() {
        for path in ["/runtimes", "/runtimes/"] {
            let (status, _, body) = send(router(), get(&format!("{prefix}{path}"))).await;
            assert_eq!(status, StatusCode::OK, "{prefix}{path}");
            let languages: Vec<_> =
                body.as_array().into_iter().flatten().filter_map(|r| r["language"].as_str()).collect();
            // The test state has every language but C#, none probed.
            assert_eq!(
                languages,
                ["python", "javascript", "c++", "c", "java", "go", "rust", "typescript", "ruby", "bash"]
            );
            assert!(body.as_array().into_iter().flatten().all(|r| r["version"] == "0.0.0"), "{body}");
        }
        let (status, _, body) = send(router(), get(&format!("{prefix}/packages/"))).await;
        assert_eq!(
            (status, &body[2]),
            (StatusCode::OK, &json!({"language": "gcc", "language_version": "0.0.0", "installed": true}))
        );
    }
}

#[tokio::test]
async fn execute_takes_any_content_type_and_answers_in_pistons_shape() {
    let cases: [(Option<&str>, &str, u16, Value); 6] = [
        // piston-client's Content-Type: read as JSON, not refused with 415.
        (
            Some("text/plain;charset=UTF-8"),
            r#"{"language": "python"}"#,
            400,
            json!({"message": "version is required as a string"}),
        ),
        (None, r#"{"version": "*"}"#, 400, json!({"message": "language is required as a string"})),
        (
            Some("application/json"),
            r#"{"language": "csharp", "version": "*", "files": []}"#,
            400,
            json!({"message": "csharp-* runtime is unknown"}),
        ),
        (Some("application/x-www-form-urlencoded"), "language=python", 400, json!(null)),
        (Some("application/json"), "{\"language\": ", 400, json!(null)),
        (
            Some("application/json"),
            r#"{"language": "python", "version": "*", "files": [{"content": "x"}], "run_timeout": 99999}"#,
            400,
            json!({"message": "run_timeout cannot exceed the configured limit of 30000"}),
        ),
    ];
    for (router, prefix) in mounts() {
        for path in ["/execute", "/execute/"] {
            for (content_type, body, status, expected) in &cases {
                let uri = format!("{prefix}{path}");
                let (got, _, answer) = send(router(), request(Method::POST, &uri, *content_type, *body)).await;
                assert_eq!(got.as_u16(), *status, "{uri} {body}: {answer}");
                if expected.is_null() {
                    assert!(answer["stack"].as_str().is_some_and(|s| s.starts_with("SyntaxError")), "{answer}");
                } else {
                    assert_eq!(&answer, expected, "{uri} {body}");
                }
            }
        }
    }
}

#[tokio::test]
async fn a_valid_job_reaches_the_backend_and_its_failure_is_pistons_503() {
    for (router, prefix) in mounts() {
        let mut request = request(Method::POST, &format!("{prefix}/execute"), Some("text/plain"), VALID);
        // Piston clients send their API key raw; it is accepted and ignored.
        request.headers_mut().insert(header::AUTHORIZATION, header::HeaderValue::from_static("some-key"));
        let (status, headers, body) = send(router(), request).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(headers.contains_key(header::RETRY_AFTER));
        assert!(body["message"].as_str().is_some_and(|m| !m.contains("down")), "{body}");
        assert!(body.get("error").is_none(), "not Gavel's shape: {body}");
    }
}

#[tokio::test]
async fn bodies_over_the_cap_are_pistons_413() {
    let body =
        format!(r#"{{"language": "python", "version": "*", "files": [{{"content": "{}"}}]}}"#, "x".repeat(2_000));
    let router = router_with_body_limit(state(), 1_000);
    let (status, _, answer) = send(router, request(Method::POST, "/api/v2/execute", None, body)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(answer["message"].as_str().is_some_and(|m| m.contains("1000")), "{answer}");
}

#[tokio::test]
async fn packages_cannot_be_changed() {
    for method in [Method::POST, Method::DELETE] {
        let body = r#"{"language": "python", "version": "3.12.0"}"#;
        let request = request(method, "/api/v2/packages", Some("application/json"), body);
        let (status, _, answer) = send(piston_router(state()), request).await;
        assert_eq!(
            (status, answer),
            (StatusCode::NOT_FOUND, json!({"message": "Requested package python-3.12.0 does not exist"}))
        );
    }
    let request = request(Method::POST, "/api/v2/packages/", Some("application/json"), "{");
    let (status, _, answer) = send(piston_router(state()), request).await;
    assert_eq!((status, answer.get("stack").is_some()), (StatusCode::BAD_REQUEST, true));
}

#[tokio::test]
async fn the_openapi_document_and_connect_are_served_under_the_prefixes() {
    for (router, prefix) in mounts() {
        let (status, _, body) = send(router(), get(&format!("{prefix}/openapi.json"))).await;
        assert_eq!((status, &body["openapi"]), (StatusCode::OK, &json!("3.1.0")));
        let (status, _, body) = send(router(), get(&format!("{prefix}/connect"))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body["message"].as_str().is_some_and(|m| m.contains("WebSocket")), "{body}");
    }
}

#[test]
fn the_version_fallback_is_read_from_the_environment_words() {
    for on in ["1", "true", "TRUE", " yes ", "on"] {
        assert!(super::is_on(on), "{on}");
    }
    for off in ["", "0", "false", "no", "off", "maybe"] {
        assert!(!super::is_on(off), "{off}");
    }
}
