//! The Judge0 routes over in-memory ports: what each answers, in Judge0's shapes, and how many
//! reads a submission costs. The real thing, driven by the real SDK, is `tests/it/judge0.rs`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use chrono::Utc;
use gavel_core::isolation::{Isolation, IsolationLevel, IsolationPolicy};
use gavel_core::job::{Outcome, TestResult};
use gavel_core::language::{self, LanguageStatus};
use gavel_core::ports::JobStore;
use gavel_core::testing::{MemoryBlobStore, MemoryJobQueue, MemoryJobStore};
use gavel_core::{JobId, ServerLimits, Verdict};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::{Judge0Config, fixtures};
use crate::{AppState, judge0_router, router};

struct Fixture {
    store: Arc<MemoryJobStore>,
    blobs: Arc<MemoryBlobStore>,
    queue: Arc<MemoryJobQueue>,
    state: AppState,
}

impl Fixture {
    fn new(config: Judge0Config) -> Fixture {
        let (store, blobs, queue) = (
            Arc::new(MemoryJobStore::default()),
            Arc::new(MemoryBlobStore::default()),
            Arc::new(MemoryJobQueue::default()),
        );
        let languages: Vec<LanguageStatus> = language::catalogue()
            .iter()
            .map(|language| LanguageStatus {
                language,
                available: language.id != "csharp",
                version: Some("Tool 1.2.3".into()),
            })
            .collect();
        let state = AppState {
            store: store.clone(),
            blobs: blobs.clone(),
            queue: queue.clone(),
            limits: Arc::new(ServerLimits::default()),
            languages: languages.into(),
            isolation: Isolation::boundary(IsolationLevel::Insecure, vec![]),
            policy: IsolationPolicy::Insecure,
            version: "0.0.0-test".into(),
            job_finished: None,
            max_wait: Duration::from_millis(20),
            judge0: Arc::new(config),
            piston: Arc::default(),
        };
        Fixture { store, blobs, queue, state }
    }

    async fn send(&self, method: Method, uri: &str, body: Option<Value>) -> (StatusCode, String, Value) {
        self.send_to(judge0_router(self.state.clone()), method, uri, body).await
    }

    async fn send_to(
        &self,
        app: axum::Router,
        method: Method,
        uri: &str,
        body: Option<Value>,
    ) -> (StatusCode, String, Value) {
        let body = body.map_or_else(Body::empty, |body| Body::from(body.to_string()));
        let request = Request::builder().method(method).uri(uri).body(body).expect("request");
        let response = app.oneshot(request).await.expect("infallible");
        let status = response.status();
        let content_type =
            response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body");
        let value =
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, content_type, value)
    }

    /// Completes `job` with one test result per `(verdict, stdout)`.
    async fn complete(&self, job: &str, runs: &[(Verdict, &[u8])]) {
        let tests =
            runs.iter().map(|(verdict, stdout)| TestResult { time_ms: 5, ..fixtures::ran(*verdict, stdout) }).collect();
        let result = fixtures::result(tests, Verdict::Accepted);
        let id: JobId = job.parse().expect("a job id");
        self.store.finish(&id, Outcome::Completed(Box::new(result)), Utc::now()).await.expect("finish");
    }
}

fn python(stdin: &str) -> Value {
    json!({"source_code": "print(input())", "language_id": 71, "stdin": stdin, "expected_output": stdin})
}

#[tokio::test]
async fn a_submission_is_one_job_under_its_token_and_reads_cost_one_blob_and_one_record() {
    let fx = Fixture::new(Judge0Config::default());
    let (status, _, body) = fx.send(Method::POST, "/submissions", Some(python("hi"))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = body["token"].as_str().expect("a token").to_owned();
    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "only the token: {body}");
    assert!(fx.store.jobs.lock().expect("lock").contains_key(&token.parse::<JobId>().expect("a job id")));
    assert!(fx.blobs.blobs.lock().expect("lock").contains_key(&format!("jobs/{token}/judge0.json")));

    let (before_blobs, before_records) = (fx.blobs.reads.load(Ordering::SeqCst), fx.store.reads.load(Ordering::SeqCst));
    let (status, _, body) = fx.send(Method::GET, &format!("/submissions/{token}?fields=*"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.as_object().map(|o| o.len()), Some(35));
    assert_eq!(body["status"], json!({"id": 1, "description": "In Queue"}));
    assert_eq!((body["stdin"].as_str(), body["language"]["name"].as_str()), (Some("hi"), Some("Python (1.2.3)")));
    assert_eq!(fx.blobs.reads.load(Ordering::SeqCst) - before_blobs, 1, "one blob read");
    assert_eq!(fx.store.reads.load(Ordering::SeqCst) - before_records, 1, "one record read");

    fx.complete(&token, &[(Verdict::Accepted, b"hi\n")]).await;
    let (_, _, body) = fx.send(Method::GET, &format!("/submissions/{token}?base64_encoded=true"), None).await;
    assert_eq!(body["status"]["id"], 3);
    assert_eq!(body["stdout"], "aGkK\n");
    assert_eq!(body["time"], "0.005");
}

#[tokio::test]
async fn a_batch_makes_one_job_of_alike_submissions_and_answers_in_order() {
    let fx = Fixture::new(Judge0Config::default());
    let batch = json!({"submissions": [python("1"), {"language_id": 71}, python("2"), {"source_code": "x", "language_id": 63}]});
    let (status, _, body) = fx.send(Method::POST, "/submissions/batch", Some(batch)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let answers = body.as_array().expect("an array");
    assert_eq!(answers[1], json!({"source_code": ["can't be blank"]}));
    let tokens: Vec<&str> = [0, 2, 3].iter().map(|&i| answers[i]["token"].as_str().expect("a token")).collect();
    assert_eq!(fx.queue.0.lock().expect("lock").len(), 2, "the two Python submissions are one job");
    assert_eq!(&tokens[0][..34], &tokens[1][..34], "one job, two items");
    assert_ne!(tokens[0], tokens[1]);

    fx.complete(tokens[0], &[(Verdict::Accepted, b"1\n"), (Verdict::WrongAnswer, b"3\n")]).await;
    let unknown = JobId::new();
    let uri = format!("/submissions/batch?tokens={},{unknown},{},nope&fields=status,stdout", tokens[1], tokens[0]);
    let (status, _, body) = fx.send(Method::GET, &uri, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let read = body["submissions"].as_array().expect("submissions");
    assert_eq!(read.len(), 4);
    assert_eq!((read[0]["status"]["id"].as_u64(), read[0]["stdout"].as_str()), (Some(4), Some("3\n")));
    assert_eq!((&read[1], &read[3]), (&Value::Null, &Value::Null));
    assert_eq!(read[2]["status"]["id"], 3);
    // A token past the job's items names nothing.
    let past = super::token::token(&tokens[0].parse().expect("id"), 5);
    let (status, _, _) = fx.send(Method::GET, &format!("/submissions/{past}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_batch_with_nothing_valid_is_422_and_sizes_are_bounded() {
    let fx = Fixture::new(Judge0Config { max_submission_batch_size: 2, ..Judge0Config::default() });
    let (status, _, body) = fx.send(Method::POST, "/submissions/batch", Some(json!({"submissions": [{}]}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body[0]["language_id"].is_array(), "{body}");
    let three = json!({"submissions": [python("1"), python("2"), python("3")]});
    let (status, _, body) = fx.send(Method::POST, "/submissions/batch", Some(three)).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!({"error": "number of submissions in a batch should be less than or equal to 2"})
        )
    );
    let (status, _, body) = fx.send(Method::POST, "/submissions/batch", Some(json!({"submissions": []}))).await;
    assert_eq!(
        (status, body),
        (StatusCode::BAD_REQUEST, json!({"error": "there should be at least one submission in a batch"}))
    );
    let (status, _, body) = fx.send(Method::GET, "/submissions/batch?tokens=", None).await;
    assert_eq!(
        (status, body),
        (StatusCode::BAD_REQUEST, json!({"error": "there should be at least one submission in a batch"}))
    );
}

#[tokio::test]
async fn refusals_come_in_judge0s_shapes() {
    let fx = Fixture::new(Judge0Config::default());
    let cases = [
        (Method::POST, "/submissions", Some(json!({})), 422),
        (Method::GET, "/submissions/nope", None, 404),
        (Method::GET, &format!("/submissions/{}", JobId::new()), None, 404),
        (Method::GET, "/submissions/x?fields=token,bogus", None, 400),
        (Method::GET, "/nope", None, 404),
        (Method::DELETE, "/languages", None, 404),
        (Method::GET, "/languages/150000", None, 404),
        (Method::GET, "/submissions", None, 403),
        (Method::DELETE, &format!("/submissions/{}", JobId::new()), None, 403),
        (Method::POST, "/authorize", None, 403),
        (Method::GET, "/statistics", None, 501),
    ];
    for (method, uri, body, status) in cases {
        let (got, _, answer) = fx.send(method.clone(), uri, body).await;
        assert_eq!(got.as_u16(), status, "{method} {uri}: {answer}");
        assert!(answer.get("code").is_none() && !answer["error"].is_object(), "Gavel's shape on {uri}: {answer}");
    }
    let (_, _, body) = fx.send(Method::GET, "/nope", None).await;
    assert_eq!(body, json!({"status": 404, "error": "Not Found"}));
    let (_, _, body) = fx.send(Method::GET, "/submissions/x?fields=token,bogus", None).await;
    assert_eq!(body, json!({"error": "invalid fields: [bogus]"}));
    let malformed =
        Request::builder().method(Method::POST).uri("/submissions").body(Body::from("{nope")).expect("request");
    let response = judge0_router(fx.state.clone()).oneshot(malformed).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let huge = json!({"source_code": "x".repeat(crate::DEFAULT_BODY_LIMIT), "language_id": 71});
    let (status, _, body) = fx.send(Method::POST, "/submissions", Some(huge)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body["error"].as_str().is_some_and(|e| e.contains("larger than")), "{body}");
    let deep = format!("{{\"submissions\": {}", "[".repeat(100_000));
    let request =
        Request::builder().method(Method::POST).uri("/submissions/batch").body(Body::from(deep)).expect("request");
    let response = judge0_router(fx.state.clone()).oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "deep nesting is bad JSON, never a crash");
}

#[tokio::test]
async fn the_main_routers_prefix_serves_the_same_and_keeps_judge0s_shapes() {
    let fx = Fixture::new(Judge0Config::default());
    let main = || router(fx.state.clone());
    let (status, _, body) = fx.send_to(main(), Method::GET, "/judge0/about", None).await;
    assert_eq!((status, &body["version"]), (StatusCode::OK, &json!("1.13.1")));
    for (method, uri) in [(Method::POST, "/judge0/languages"), (Method::GET, "/judge0/nope")] {
        let (status, _, body) = fx.send_to(main(), method, uri, None).await;
        assert_eq!((status, body), (StatusCode::NOT_FOUND, json!({"status": 404, "error": "Not Found"})), "{uri}");
    }
    let (status, _, body) = fx.send_to(main(), Method::POST, "/judge0/submissions", Some(python("x"))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn authentication_and_authorization_when_configured() {
    let config = Judge0Config {
        authn_tokens: vec!["secret".into()],
        authz_tokens: vec!["boss".into()],
        ..Judge0Config::default()
    };
    let fx = Fixture::new(config);
    let (status, _, body) = fx.send(Method::GET, "/languages", None).await;
    assert_eq!((status, body), (StatusCode::UNAUTHORIZED, json!("")), "401 with an empty body");
    let (status, _, _) = fx.send(Method::GET, "/languages?X-Auth-Token=secret", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = fx.send(Method::POST, "/authenticate?X-Auth-Token=secret", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = fx.send(Method::GET, "/submissions?X-Auth-Token=secret", None).await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, json!("")));
    let (status, _, body) = fx.send(Method::POST, "/submissions?X-Auth-Token=secret", Some(python("x"))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = &body["token"];
    let (status, _, body) =
        fx.send(Method::GET, "/submissions?X-Auth-Token=secret&X-Auth-User=boss&fields=token", None).await;
    let meta = json!({"current_page": 1, "next_page": null, "prev_page": null, "total_pages": 1, "total_count": 1});
    assert_eq!((status, body), (StatusCode::OK, json!({"submissions": [{"token": token}], "meta": meta})));
    let (status, _, body) =
        fx.send(Method::GET, "/submissions?X-Auth-Token=secret&X-Auth-User=boss&page=0", None).await;
    assert_eq!((status, body), (StatusCode::BAD_REQUEST, json!({"error": "invalid page: 0"})));
    let uri = format!("/submissions/{}?X-Auth-Token=secret&X-Auth-User=boss", JobId::new());
    let (status, _, body) = fx.send(Method::DELETE, &uri, None).await;
    assert_eq!((status, body), (StatusCode::BAD_REQUEST, json!({"error": "delete not allowed"})));
    // Judge0's home page needs no token.
    let (status, _, _) = fx.send(Method::GET, "/", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn waiting_queue_size_and_maintenance() {
    let fx = Fixture::new(Judge0Config { enable_wait_result: false, ..Judge0Config::default() });
    let (status, _, body) = fx.send(Method::POST, "/submissions?wait=true", Some(python("x"))).await;
    assert_eq!((status, body), (StatusCode::BAD_REQUEST, json!({"error": "wait not allowed"})));
    // Only the literal "true" waits.
    let (status, _, body) = fx.send(Method::POST, "/submissions?wait=1", Some(python("x"))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let fx = Fixture::new(Judge0Config::default());
    let (status, _, body) =
        fx.send(Method::POST, "/submissions?wait=true&fields=token,status", Some(python("x"))).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["status"]["id"], 1, "the longest wait here passed first: {body}");

    let fx = Fixture::new(Judge0Config { max_queue_size: 0, ..Judge0Config::default() });
    let (status, _, body) = fx.send(Method::POST, "/submissions", Some(python("x"))).await;
    assert_eq!((status, body), (StatusCode::SERVICE_UNAVAILABLE, json!({"error": "queue is full"})));

    let fx = Fixture::new(Judge0Config { maintenance_mode: true, ..Judge0Config::default() });
    let (status, _, body) = fx.send(Method::POST, "/submissions", Some(python("x"))).await;
    assert_eq!(
        (status, body),
        (StatusCode::SERVICE_UNAVAILABLE, json!({"error": "Judge0 is currently in maintenance."}))
    );
    let (status, _, _) = fx.send(Method::POST, "/submissions/batch", Some(json!({"submissions": [python("x")]}))).await;
    assert_eq!(status, StatusCode::CREATED, "Judge0 checks maintenance on single creates only");
}

#[tokio::test]
async fn output_that_is_not_utf8_needs_base64() {
    let fx = Fixture::new(Judge0Config::default());
    let (_, _, body) = fx.send(Method::POST, "/submissions", Some(python("x"))).await;
    let token = body["token"].as_str().expect("token").to_owned();
    fx.complete(&token, &[(Verdict::WrongAnswer, b"\xff\n")]).await;
    let (status, _, body) = fx.send(Method::GET, &format!("/submissions/{token}"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], super::view::NOT_UTF8_ONE);
    let (status, _, body) = fx.send(Method::GET, &format!("/submissions/batch?tokens={token}"), None).await;
    assert_eq!((status, &body["error"]), (StatusCode::BAD_REQUEST, &json!(super::view::NOT_UTF8_MANY)));
    let (status, _, body) = fx.send(Method::GET, &format!("/submissions/{token}?base64_encoded=true"), None).await;
    assert_eq!((status, &body["stdout"]), (StatusCode::OK, &json!("/wo=\n")));
}

/// With delete enabled (and authorization), an ended submission is deleted and answered as it
/// was in base64; a batch's job goes with its last submission, its others stay readable.
#[tokio::test]
async fn delete_takes_ended_submissions_and_a_job_with_its_last() {
    let fx = Fixture::new(Judge0Config {
        enable_submission_delete: true,
        authz_tokens: vec!["boss".into()],
        ..Judge0Config::default()
    });
    let batch = json!({"submissions": [python("1"), python("2")]});
    let (_, _, body) = fx.send(Method::POST, "/submissions/batch", Some(batch)).await;
    let tokens: Vec<String> = (0..2).map(|i| body[i]["token"].as_str().expect("a token").to_owned()).collect();
    let delete = |token: &str, fields: &str| format!("/submissions/{token}?X-Auth-User=boss&fields={fields}");
    let (status, _, body) = fx.send(Method::DELETE, &delete(&tokens[0], "status"), None).await;
    let refused = json!({"error": "submission cannot be deleted because its status is 1 (In Queue)"});
    assert_eq!((status, body), (StatusCode::BAD_REQUEST, refused));
    let (status, _, _) = fx.send(Method::DELETE, &format!("/submissions/{}", tokens[0]), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "authorization first");

    fx.complete(&tokens[0], &[(Verdict::Accepted, b"1\n"), (Verdict::Accepted, b"2\n")]).await;
    let (status, _, body) = fx.send(Method::DELETE, &delete(&tokens[0], "stdin,stdout,status_id"), None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"stdin": "MQ==\n", "stdout": "MQo=\n", "status_id": 3})));
    let job_id: JobId = tokens[0].parse().expect("a job id");
    let (status, _, _) = fx.send(Method::GET, &format!("/submissions/{}", tokens[0]), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "gone");
    let (status, _, body) = fx.send(Method::DELETE, &delete(&tokens[0], "token"), None).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, json!({"error": "Not Found", "status": 404})), "only once");
    let (_, _, body) =
        fx.send(Method::GET, &format!("/submissions/batch?tokens={},{}", tokens[0], tokens[1]), None).await;
    assert_eq!((&body["submissions"][0], &body["submissions"][1]["stdout"]), (&Value::Null, &json!("2\n")));
    let (_, _, index) = fx.send(Method::GET, "/submissions?X-Auth-User=boss&fields=token", None).await;
    assert_eq!(index["submissions"], json!([{"token": tokens[1]}]), "the index leaves it out");
    assert!(fx.store.jobs.lock().expect("lock").contains_key(&job_id), "the job stays for the other");

    let (status, _, body) = fx.send(Method::DELETE, &delete(&tokens[1], "token"), None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"token": tokens[1]})));
    assert!(!fx.store.jobs.lock().expect("lock").contains_key(&job_id), "the job went with its last");
    let left: Vec<String> =
        fx.blobs.blobs.lock().expect("lock").keys().filter(|k| k.contains(job_id.as_str())).cloned().collect();
    assert_eq!(left, Vec::<String>::new(), "and its blobs");
}

#[tokio::test]
async fn info_routes() {
    let fx = Fixture::new(Judge0Config::default());
    let (_, _, config) = fx.send(Method::GET, "/config_info", None).await;
    assert_eq!(config.as_object().map(|c| c.len()), Some(39), "{config}");
    assert_eq!((&config["cpu_time_limit"], &config["max_memory_limit"]), (&json!(5.0), &json!(512_000)));
    assert_eq!((&config["enable_callbacks"], &config["enable_compiler_options"]), (&json!(true), &json!(false)));
    let (_, content_type, version) = fx.send(Method::GET, "/version", None).await;
    assert_eq!((content_type.starts_with("text/plain"), version), (true, json!("1.13.1")));
    let (_, _, statuses) = fx.send(Method::GET, "/statuses", None).await;
    assert_eq!(statuses.as_array().map(Vec::len), Some(14));
    let (_, _, languages) = fx.send(Method::GET, "/languages", None).await;
    let ids: Vec<u64> = languages.as_array().into_iter().flatten().filter_map(|l| l["id"].as_u64()).collect();
    assert!(ids.contains(&71) && ids.contains(&52) && !ids.contains(&51), "C# is unavailable here: {ids:?}");
    let (_, _, all) = fx.send(Method::GET, "/languages/all", None).await;
    assert_eq!(all.as_array().map(Vec::len), Some(89));
    let (_, _, one) = fx.send(Method::GET, "/languages/54", None).await;
    assert_eq!((&one["source_file"], &one["is_archived"]), (&json!("main.cpp"), &json!(false)));
    let (status, _, workers) = fx.send(Method::GET, "/workers", None).await;
    assert_eq!((status, &workers[0]["queue"]), (StatusCode::OK, &json!("1.13.1")));
    let (status, _, doc) = fx.send(Method::GET, "/openapi.json", None).await;
    assert_eq!((status, &doc["openapi"]), (StatusCode::OK, &json!("3.1.0")));
}
