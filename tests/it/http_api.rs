//! The HTTP API over the real embedded adapters (SQLite store and queue, file blobs). No workers
//! run, so submitted jobs stay pending unless a test drives them through the core use cases.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use chrono::Utc;
use gavel_core::isolation::{Isolation, IsolationLevel, IsolationPolicy};
use gavel_core::job::RETENTION;
use gavel_core::language::{self, LanguageStatus};
use gavel_core::ports::{BlobStore, JobStore, keys};
use gavel_core::runner::{Output, Report, StepReport};
use gavel_core::{JobId, JobRecord, ServerLimits, usecases};
use gavel_http::{AppState, REQUEST_ID};
use gavel_local::{FsBlobStore, SqliteJobQueue, SqliteJobStore};
use serde_json::{Value, json};
use tempfile::TempDir;
use tower::ServiceExt;

struct Api {
    router: Router,
    store: Arc<SqliteJobStore>,
    blobs: Arc<FsBlobStore>,
    _dir: TempDir,
}

fn isolation() -> Isolation {
    Isolation::boundary(IsolationLevel::Insecure, vec!["http_api tests: nothing runs".into()])
}

/// Every catalogue language is available but C#, so both answers can be seen.
fn languages() -> Vec<LanguageStatus> {
    language::catalogue()
        .iter()
        .map(|language| LanguageStatus {
            language,
            available: language.id != "csharp",
            version: (language.id != "csharp").then(|| format!("{} 1.0", language.id)),
        })
        .collect()
}

fn api_with(capacity: u64, max_wait: Duration) -> Api {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = Arc::new(SqliteJobStore::open(&dir.path().join("jobs.db")).expect("the job store opens"));
    let queue = Arc::new(SqliteJobQueue::open(&dir.path().join("queue.db"), capacity).expect("the queue opens"));
    let blobs = Arc::new(FsBlobStore::new(dir.path().join("blobs")).expect("the blob store opens"));
    let state = AppState {
        store: store.clone(),
        blobs: blobs.clone(),
        queue,
        limits: Arc::new(ServerLimits::default()),
        languages: languages().into(),
        isolation: isolation(),
        policy: IsolationPolicy::Insecure,
        version: "9.9.9-test".into(),
        // No signal: these tests hold the polling path (the end-to-end ones run the signalled one).
        job_finished: None,
        max_wait,
        judge0: Arc::default(),
        piston: Arc::default(),
    };
    Api { router: gavel_http::router(state), store, blobs, _dir: dir }
}

fn api_with_capacity(capacity: u64) -> Api {
    api_with(capacity, Duration::from_secs(gavel_http::MAX_WAIT_SECS))
}

fn api() -> Api {
    api_with_capacity(100)
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
    text: String,
}

impl Reply {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    /// The status and error code, and that the body has exactly the error shape.
    fn error(&self) -> (u16, &str) {
        let error = &self.body["error"];
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "no message: {}", self.text);
        assert_eq!(self.body.as_object().map(|o| o.len()), Some(1), "not the error shape: {}", self.text);
        (self.status.as_u16(), self.code())
    }
}

impl Api {
    async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.expect("the router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("the body is readable");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply { status, headers, body, text }
    }

    async fn get(&self, uri: &str) -> Reply {
        self.send(request(Method::GET, uri, None, Body::empty())).await
    }

    async fn post_raw(&self, content_type: Option<&str>, body: impl Into<Body>) -> Reply {
        self.send(request(Method::POST, "/execute", content_type, body.into())).await
    }

    async fn submit(&self, body: Value) -> Reply {
        self.post_raw(Some("application/json"), body.to_string()).await
    }

    /// Submits and expects a 202; returns the job id.
    async fn accepted(&self, body: Value) -> String {
        let reply = self.submit(body).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
        reply.body["job_id"].as_str().map(str::to_owned).expect("a job id")
    }
}

fn request(method: Method, uri: &str, content_type: Option<&str>, body: Body) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    builder.body(body).expect("a valid request")
}

fn hello() -> Value {
    json!({"language": "python", "code": "print(input())", "stdin": "hi\n"})
}

#[tokio::test]
async fn submit_answers_202_and_the_job_reads_pending() {
    let api = api();
    let reply = api.submit(hello()).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    let job_id = reply.body["job_id"].as_str().expect("a job id");
    assert!(job_id.parse::<JobId>().is_ok(), "{job_id}");
    assert_eq!(reply.body["status"], "pending");
    let result_url = format!("/result/{job_id}");
    assert_eq!(reply.body["result_url"], result_url);
    assert_eq!(reply.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()), Some(result_url.as_str()));

    let job = api.get(&result_url).await;
    assert_eq!(job.status, StatusCode::OK, "{}", job.text);
    assert_eq!(
        (&job.body["job_id"], &job.body["status"], &job.body["language"]),
        (&json!(job_id), &json!("pending"), &json!("python"))
    );
    assert!(job.body["started_at"].is_null() && job.body["finished_at"].is_null());
    let created: chrono::DateTime<Utc> = serde_json::from_value(job.body["created_at"].clone()).expect("a timestamp");
    let expires: chrono::DateTime<Utc> = serde_json::from_value(job.body["expires_at"].clone()).expect("a timestamp");
    assert_eq!(expires - created, RETENTION);
    assert!(job.body.get("verdict").is_none() && job.body.get("error").is_none());
}

#[tokio::test]
async fn unknown_malformed_and_expired_jobs_are_404() {
    let api = api();
    for id in [JobId::new().to_string(), "not-a-job".into(), JobId::new().to_string().to_uppercase()] {
        let reply = api.get(&format!("/result/{id}")).await;
        assert_eq!(reply.error(), (404, "job_not_found"), "{id}");
    }

    let old = Utc::now() - RETENTION - chrono::Duration::minutes(1);
    let expired = JobRecord::pending(JobId::new(), "python", old);
    api.store.create(&expired).await.expect("the store takes a record");
    let reply = api.get(&format!("/result/{}", expired.id)).await;
    assert_eq!(reply.error(), (404, "job_not_found"));
}

#[tokio::test]
async fn malformed_json_is_400() {
    let api = api();
    for body in ["{\"language\": \"python\",", "{'language': 'python'}", "", "{} {}"] {
        let reply = api.post_raw(Some("application/json"), body.to_owned()).await;
        assert_eq!(reply.error(), (400, "malformed_json"), "{body:?}");
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_by_content_type_is_415() {
    let api = api();
    for content_type in [None, Some("text/plain"), Some("application/x-www-form-urlencoded")] {
        let reply = api.post_raw(content_type, hello().to_string()).await;
        assert_eq!(reply.error(), (415, "unsupported_media_type"), "{content_type:?}");
    }
    let reply = api.post_raw(Some("application/json; charset=utf-8"), hello().to_string()).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
}

#[tokio::test]
async fn missing_or_mistyped_fields_are_422_naming_them() {
    let api = api();
    let cases = [
        (json!({"code": "print(1)"}), "language"),
        (json!({"language": "python"}), "code"),
        (json!({"language": "python", "code": 42}), "code"),
        (json!({"language": "python", "code": "x", "tests": [{"input": "1"}, {"input": ["2"]}]}), "tests[1].input"),
        (json!({"language": "python", "code": "x", "limits": {"time_ms": "fast"}}), "limits.time_ms"),
    ];
    for (body, field) in cases {
        let reply = api.submit(body.clone()).await;
        assert_eq!(reply.error(), (422, "invalid_request"), "{body}");
        assert_eq!(reply.body["error"]["field"], field, "{}", reply.text);
    }
    let reply = api.submit(json!({"language": "python", "code": "   "})).await;
    assert_eq!(reply.error(), (422, "invalid_field"));
    assert_eq!(reply.body["error"]["field"], "code");
}

#[tokio::test]
async fn unknown_languages_are_422_listing_the_ids() {
    let api = api();
    let reply = api.submit(json!({"language": "cobol", "code": "DISPLAY 'HI'."})).await;
    assert_eq!(reply.error(), (422, "unknown_language"));
    assert_eq!(reply.body["error"]["valid"], json!(language::ids()));
}

#[tokio::test]
async fn languages_without_a_toolchain_here_are_422() {
    let api = api();
    let reply = api.submit(json!({"language": "c#", "code": "class A { static void Main() {} }"})).await;
    assert_eq!(reply.error(), (422, "language_unavailable"));
    assert_eq!(reply.body["error"]["language"], "csharp");
    let available = reply.body["error"]["available"].as_array().map(Vec::len);
    assert_eq!(available, Some(language::catalogue().len() - 1));
}

#[tokio::test]
async fn oversized_code_is_413_naming_the_field_and_limit() {
    let api = api();
    let limit = ServerLimits::default().max_code_bytes;
    let reply = api.submit(json!({"language": "python", "code": "#".repeat(limit + 1)})).await;
    assert_eq!(reply.error(), (413, "too_large"));
    assert_eq!((&reply.body["error"]["field"], &reply.body["error"]["limit"]), (&json!("code"), &json!(limit)));
}

#[tokio::test]
async fn a_body_over_the_cap_is_413() {
    let api = api();
    let body = format!(r#"{{"language": "python", "code": "{}"}}"#, "#".repeat(gavel_http::DEFAULT_BODY_LIMIT));
    let reply = api.post_raw(Some("application/json"), body).await;
    assert_eq!(reply.error(), (413, "payload_too_large"));
}

#[tokio::test]
async fn out_of_range_limits_are_422_naming_the_limit() {
    let api = api();
    let reply = api.submit(json!({"language": "python", "code": "x", "limits": {"time_ms": 10_000_000}})).await;
    assert_eq!(reply.error(), (422, "invalid_field"));
    assert_eq!(reply.body["error"]["field"], "limits.time_ms");

    let reply = api.submit(json!({"language": "python", "code": "x", "limits": {"cpu": 1}})).await;
    assert_eq!(reply.error(), (422, "invalid_request"));
    assert!(reply.body["error"]["field"].as_str().is_some_and(|f| f.starts_with("limits")), "{}", reply.text);
}

#[tokio::test]
async fn invalid_checkers_are_422() {
    let api = api();
    let reply = api.submit(json!({"language": "python", "code": "x", "checker": {"mode": "fuzzy"}})).await;
    assert_eq!(reply.error(), (422, "invalid_request"));
    assert!(reply.body["error"]["field"].as_str().is_some_and(|f| f.starts_with("checker")), "{}", reply.text);

    let reply = api.submit(json!({"language": "python", "code": "x", "checker": {"mode": "float", "rel": -0.5}})).await;
    assert_eq!(reply.error(), (422, "invalid_field"));
    assert_eq!(reply.body["error"]["field"], "checker.rel");
}

const SECRET_INPUT: &str = "hidden-input-7f3a";
const SECRET_EXPECTED: &str = "hidden-expected-9c1e";
const SECRET_OUTPUT: &str = "hidden-output-2b8d";

fn with_hidden_test() -> Value {
    json!({
        "language": "python",
        "code": "print(sum(map(int, input().split())))",
        "tests": [
            {"name": "sample", "input": "1 2\n", "expected_output": "3\n"},
            {"name": "secret", "input": SECRET_INPUT, "expected_output": SECRET_EXPECTED, "hidden": true}
        ]
    })
}

fn assert_no_secret(text: &str) {
    for secret in [SECRET_INPUT, SECRET_EXPECTED, SECRET_OUTPUT] {
        assert!(!text.contains(secret), "{secret} echoed in {text}");
    }
}

/// The runner's side of a job, done by hand: mark it running, write a report, complete it.
async fn complete_with_outputs(api: &Api, job_id: &str, outputs: [&str; 2]) {
    let id: JobId = job_id.parse().expect("a job id");
    api.store.mark_running(&id, Utc::now()).await.expect("marked running");
    let step = |stdout: &str| StepReport {
        exit_code: Some(0),
        stdout: Output::encode(stdout.as_bytes()),
        ..StepReport::default()
    };
    let report = Report {
        job_id: id.clone(),
        isolation: isolation(),
        compile: None,
        tests: outputs.iter().map(|out| step(out)).collect(),
        error: None,
        checker_compile: None,
        interactor_compile: None,
    };
    let bytes = serde_json::to_vec(&report).expect("a report serializes");
    api.blobs.put(&keys::report(&id), bytes).await.expect("the report is stored");
    usecases::complete(&*api.store, &*api.blobs, &id, Utc::now()).await.expect("the job completes");
}

#[tokio::test]
async fn hidden_tests_are_never_echoed() {
    let api = api();
    let reply = api.submit(with_hidden_test()).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    assert_no_secret(&reply.text);
    let job_id = reply.body["job_id"].as_str().map(str::to_owned).expect("a job id");
    assert_no_secret(&api.get(&format!("/result/{job_id}")).await.text);

    complete_with_outputs(&api, &job_id, ["3\n", SECRET_OUTPUT]).await;
    let job = api.get(&format!("/result/{job_id}")).await;
    assert_eq!(job.status, StatusCode::OK, "{}", job.text);
    assert_no_secret(&job.text);
    assert_eq!((&job.body["status"], &job.body["verdict"]), (&json!("completed"), &json!("wrong_answer")));
    assert_eq!(job.body["summary"], json!({"passed": 1, "total": 2}));
    assert_eq!(job.body["isolation"]["level"], "insecure");
    let visible = &job.body["tests"][0];
    assert_eq!(
        (&visible["input"], &visible["expected_output"], &visible["stdout"]),
        (&json!("1 2\n"), &json!("3\n"), &json!("3\n"))
    );
    assert_eq!(job.body["tests"][1]["hidden"], true);

    // Refusals quote nothing of the tests either.
    let mut too_many = with_hidden_test();
    too_many["stdin"] = json!("also stdin");
    let refused = api.submit(too_many).await;
    assert_eq!(refused.error(), (422, "invalid_field"));
    assert_no_secret(&refused.text);
}

#[tokio::test]
async fn a_full_queue_is_429_with_retry_after() {
    let api = api_with_capacity(1);
    api.accepted(hello()).await;
    let reply = api.submit(hello()).await;
    assert_eq!(reply.error(), (429, "queue_full"));
    let retry_after = reply.headers.get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    assert!(retry_after.is_some_and(|secs| secs > 0), "{:?}", reply.headers);
    assert_eq!(api.get("/health").await.body["queue_depth"], 1);
}

#[tokio::test]
async fn wait_long_polls_until_the_deadline() {
    let api = api();
    let job_id = api.accepted(hello()).await;
    let started = Instant::now();
    let reply = api.get(&format!("/result/{job_id}?wait=1")).await;
    let elapsed = started.elapsed();
    assert_eq!((reply.status, &reply.body["status"]), (StatusCode::OK, &json!("pending")), "{}", reply.text);
    assert!(elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(3), "{elapsed:?}");
}

/// Behind API Gateway (29 s) the deployment holds a long poll for less than a client may ask.
#[tokio::test]
async fn wait_is_held_at_most_for_the_deployments_cap() {
    let api = api_with(100, Duration::from_secs(1));
    let job_id = api.accepted(hello()).await;
    let started = Instant::now();
    let reply = api.get(&format!("/result/{job_id}?wait=30")).await;
    let elapsed = started.elapsed();
    assert_eq!((reply.status, &reply.body["status"]), (StatusCode::OK, &json!("pending")), "{}", reply.text);
    assert!(elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(10), "{elapsed:?}");
}

#[tokio::test]
async fn wait_answers_as_soon_as_the_job_ends() {
    let api = Arc::new(api());
    let job_id = api.accepted(with_hidden_test()).await;
    let finisher = {
        let (api, job_id) = (api.clone(), job_id.clone());
        tokio::spawn(async move {
            // The trigger, not a wait for state: the job ends while the poll is under way.
            tokio::time::sleep(Duration::from_millis(300)).await;
            complete_with_outputs(&api, &job_id, ["3\n", "x"]).await;
        })
    };
    let started = Instant::now();
    let reply = api.get(&format!("/result/{job_id}?wait=20")).await;
    assert_eq!(reply.body["status"], "completed", "{}", reply.text);
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    finisher.await.expect("the finisher ran");
}

#[tokio::test]
async fn wait_out_of_range_is_422_naming_wait() {
    let api = api();
    let job_id = api.accepted(hello()).await;
    for wait in ["31", "-1", "soon", "1.5"] {
        let reply = api.get(&format!("/result/{job_id}?wait={wait}")).await;
        assert_eq!(reply.error(), (422, "invalid_field"), "{wait}");
        assert_eq!(reply.body["error"]["field"], "wait");
    }
    let reply = api.get(&format!("/result/{job_id}?wait=0")).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn health_reports_version_isolation_and_depth() {
    let api = api();
    let reply = api.get("/health").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        reply.body,
        json!({"status": "ok", "version": "9.9.9-test", "isolation": isolation(), "policy": "insecure", "queue_depth": 0})
    );
    api.accepted(hello()).await;
    assert_eq!(api.get("/health").await.body["queue_depth"], 1);
}

#[tokio::test]
async fn languages_list_the_deployments_toolchains() {
    let api = api();
    let reply = api.get("/languages").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let listed = reply.body.as_array().expect("a list");
    assert_eq!(listed.len(), language::catalogue().len());
    for (view, status) in listed.iter().zip(languages()) {
        let language = status.language;
        assert_eq!(view["id"], language.id);
        assert_eq!(view["aliases"], json!(language.aliases));
        assert_eq!(view["name"], language.display_name);
        assert_eq!(view["version"], json!(status.version));
        assert_eq!(view["available"], status.available);
        assert_eq!(view["compiled"], language.compile.is_some());
        assert_eq!(view["extensions"], json!(language.extensions));
    }
}

#[tokio::test]
async fn request_ids_are_echoed_or_made() {
    let api = api();
    let mut given = request(Method::GET, "/health", None, Body::empty());
    given.headers_mut().insert(REQUEST_ID, axum::http::HeaderValue::from_static("req-42"));
    let reply = api.send(given).await;
    assert_eq!(reply.headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()), Some("req-42"));
    let reply = api.submit(hello()).await;
    assert!(reply.headers.get(REQUEST_ID).is_some_and(|v| !v.is_empty()));
}

/// Every operation in the document is served with that method and no other; the routes the
/// router serves are all documented; and the documented example is accepted.
#[tokio::test]
async fn the_openapi_document_matches_the_router() {
    let api = api();
    let doc = api.get("/openapi.json").await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(doc.body["openapi"], "3.1.0");
    assert_eq!(doc.body["info"]["version"], "9.9.9-test");
    let documented: BTreeSet<(String, String)> = doc.body["paths"]
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(path, item)| {
            item.as_object().into_iter().flatten().map(move |(m, _)| (m.to_uppercase(), path.clone()))
        })
        .collect();

    let example =
        doc.body["paths"]["/execute"]["post"]["requestBody"]["content"]["application/json"]["example"].clone();
    let job_id = api.accepted(example).await;

    let methods = [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE];
    for path in documented.iter().map(|(_, path)| path) {
        let concrete = path.replace("{job_id}", &job_id);
        for method in &methods {
            let is_documented = documented.contains(&(method.to_string(), path.clone()));
            let body = if *method == Method::POST { hello().to_string() } else { String::new() };
            let reply = api.send(request(method.clone(), &concrete, Some("application/json"), body.into())).await;
            if is_documented {
                assert!(reply.status.is_success(), "{method} {path}: {}", reply.text);
            } else {
                assert_eq!(reply.error(), (405, "method_not_allowed"), "{method} {path}");
            }
        }
    }

    // What the router serves is documented: every path the routes answer is in the document,
    // and neighbours of documented paths are not served.
    let served = ["/execute", "/result/{job_id}", "/languages", "/health", "/openapi.json"];
    for path in served {
        assert!(documented.iter().any(|(_, p)| p == path), "{path} is served but not documented");
    }
    for path in ["/", "/result", "/result/", "/execute/1", "/jobs", "/openapi", "/health/x"] {
        let reply = api.get(path).await;
        assert_eq!(reply.error(), (404, "not_found"), "{path}");
    }
}

/// Whatever a client sends, the answer is never a 5xx and always JSON in the error shape.
#[tokio::test]
async fn no_bad_input_gets_a_5xx() {
    let api = api();
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"\"python\"".to_vec(),
        b"{\"language\": null, \"code\": null}".to_vec(),
        vec![0xff, 0xfe, 0x00, 0x7b],
        b"{\"language\": \"python\", \"code\": \"\\ud800\"}".to_vec(),
        b"{\"language\": \"python\", \"code\": \"x\\u0000y\"}".to_vec(),
        format!("{{\"x\": {}}}", "[".repeat(50_000)).into_bytes(),
        json!({"language": "python", "code": "x", "inputs": ["1"], "outputs": []}).to_string().into_bytes(),
        json!({"language": "python", "code": "x", "tests": [], "inputs": ["1"]}).to_string().into_bytes(),
        json!({"language": "python", "code": "x", "tests": [{"input": "1", "extra": true}]}).to_string().into_bytes(),
        json!({"language": "python", "code": "x", "limits": {"processes": 1u64 << 40}}).to_string().into_bytes(),
        json!({"language": "python", "code": "x", "limits": {"time_ms": -5}}).to_string().into_bytes(),
        json!({"language": "python", "code": "x", "checker": "lines"}).to_string().into_bytes(),
        json!({"language": "python", "code": "x", "tests": (0..500).map(|_| json!({})).collect::<Vec<_>>()})
            .to_string()
            .into_bytes(),
        json!({"language": "x".repeat(100_000), "code": "x"}).to_string().into_bytes(),
    ];
    for body in bodies {
        let reply = api.post_raw(Some("application/json"), body.clone()).await;
        let (status, _) = reply.error();
        assert!((400..500).contains(&status), "{status} for {:?}", String::from_utf8_lossy(&body));
        assert!(reply.text.len() < 4_096, "an error grew with the request: {} bytes", reply.text.len());
    }
    for uri in ["/result/%FF", "/result/..%2F..%2Fetc", "/result/x?wait=%FF", "/result/x?wait=1&wait=2", "/%00"] {
        let reply = api.get(uri).await;
        assert!(reply.status.is_client_error(), "{uri}: {}", reply.text);
        reply.error();
    }
}
