//! The stack behind a loopback HTTP listener, as API Gateway and AWS would run it: each request
//! becomes the REST proxy event API Gateway sends the API function, and the rest of the
//! pipeline (SQS → dispatch → a task → its report → complete) runs in the background, with this
//! test playing Fargate. The rivals' real clients talk to it over HTTP, unchanged.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tower::ServiceExt;

use super::{Stack, fixture_json};

/// A running gateway; stopped when dropped.
pub struct Gateway {
    pub url: String,
    failures: Arc<Mutex<Vec<String>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Gateway {
    /// What went wrong in the background pipeline so far (a runner that failed, a completion
    /// that errored): a test asserts there was nothing.
    pub fn failures(&self) -> Vec<String> {
        self.failures.lock().map(|failures| failures.clone()).unwrap_or_default()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A new stack on the emulator, its API function served on a free loopback port, its pipeline
/// running.
pub async fn start() -> Gateway {
    let stack = Arc::new(Stack::new().await);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    let app = axum::Router::new().fallback(through_the_gateway).with_state(stack.clone());
    let http = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let failures = Arc::new(Mutex::new(Vec::new()));
    let pipeline = tokio::spawn(run_pipeline(stack, failures.clone()));
    Gateway { url, failures, tasks: vec![http, pipeline] }
}

/// One HTTP request through the API function, as a REST proxy event of stage `v1`.
async fn through_the_gateway(State(stack): State<Arc<Stack>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
        .collect();
    let event =
        rest_event(parts.method.as_str(), parts.uri.path(), parts.uri.query().unwrap_or_default(), &headers, &body);
    let request = lambda_http::request::from_str(&event.to_string()).expect("a Lambda HTTP request");
    let response = stack.api.clone().oneshot(request).await.expect("the router answers");
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(Body::new(body), usize::MAX).await.unwrap_or_default();
    Response::from_parts(parts, Body::from(bytes))
}

/// The REST proxy event API Gateway makes of a request, in the shape of the shipped fixture:
/// query parameters decoded (single and multi-valued), a body that is not UTF-8 in base64.
pub fn rest_event(method: &str, path: &str, query: &str, headers: &[(String, String)], body: &Bytes) -> Value {
    let mut event = fixture_json("api-get-result.json");
    event["httpMethod"] = json!(method);
    event["path"] = json!(path);
    event["requestContext"]["path"] = json!(format!("/v1{path}"));
    event["pathParameters"] = json!({"proxy": path.trim_start_matches('/')});
    let mut params: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        params.entry(percent_decoded(key)).or_default().push(percent_decoded(value));
    }
    let last: BTreeMap<&String, &String> = params.iter().filter_map(|(k, v)| Some((k, v.last()?))).collect();
    event["queryStringParameters"] = if params.is_empty() { Value::Null } else { json!(last) };
    event["multiValueQueryStringParameters"] = if params.is_empty() { Value::Null } else { json!(params) };
    let mut multi: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, value) in headers {
        multi.entry(name).or_default().push(value);
    }
    let single: BTreeMap<&str, &str> = multi.iter().filter_map(|(k, v)| Some((*k, *v.last()?))).collect();
    event["headers"] = json!(single);
    event["multiValueHeaders"] = json!(multi);
    let (body, encoded) = match std::str::from_utf8(body) {
        _ if body.is_empty() => (Value::Null, false),
        Ok(text) => (json!(text), false),
        Err(_) => (json!(BASE64.encode(body)), true),
    };
    event["body"] = body;
    event["isBase64Encoded"] = json!(encoded);
    event
}

/// `%XX` escapes decoded, as API Gateway decodes query strings.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                i += 3;
            }
            None => {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// SQS → dispatch → the task (the runner, with the task's environment) → complete, for as long
/// as the gateway runs, two tasks at a time.
async fn run_pipeline(stack: Arc<Stack>, failures: Arc<Mutex<Vec<String>>>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(2));
    loop {
        let (event, response) = stack.deliver().await;
        let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        for record in event.records.iter().filter(|r| !failed.contains(&r.message_id.as_deref().unwrap_or_default())) {
            let message: Value = serde_json::from_str(record.body.as_deref().unwrap_or_default()).unwrap_or_default();
            let Some(job_id) = message["job_id"].as_str().map(str::to_owned) else { continue };
            let (stack, failures) = (stack.clone(), failures.clone());
            let Ok(slot) = slots.clone().acquire_owned().await else { return };
            tokio::spawn(async move {
                if let Err(why) = stack.finish_task(&job_id).await {
                    failures.lock().expect("the failures lock").push(format!("{job_id}: {why}"));
                }
                drop(slot);
            });
        }
    }
}

#[test]
fn query_strings_are_decoded_as_api_gateway_decodes_them() {
    assert_eq!(percent_decoded("a%2Cb%2c%2A"), "a,b,*");
    assert_eq!(percent_decoded("100%"), "100%");
    assert_eq!(percent_decoded("%zz%4"), "%zz%4");
    let event = rest_event("GET", "/x", "tokens=a%2Cb&fields=*&tokens=c", &[], &Bytes::new());
    assert_eq!(event["queryStringParameters"], json!({"tokens": "c", "fields": "*"}));
    assert_eq!(event["multiValueQueryStringParameters"]["tokens"], json!(["a,b", "c"]));
}

/// Gavel's own API over HTTP through the gateway: a job submitted is dispatched, run, completed
/// in the background, and a long poll sees it end.
#[tokio::test(flavor = "multi_thread")]
async fn a_job_posted_over_http_completes_in_the_background() {
    let gateway = start().await;
    let api = crate::harness::Api::new(gateway.url.clone());
    let view = api.run("python", "import sys\nprint(sys.stdin.read()[::-1])", "olleh").await;
    assert_eq!(view["verdict"], "accepted", "{view}");
    assert_eq!(crate::languages::single(&view)["stdout"], "hello\n", "{view}");
    assert_eq!(gateway.failures(), Vec::<String>::new());
}

/// Piston's three clients, unchanged, against the API function on the emulator's pipeline.
#[tokio::test(flavor = "multi_thread")]
async fn pistons_clients_pass_through_the_cloud() {
    let gateway = start().await;
    let programs = crate::piston::Programs::write();
    let url = gateway.url.clone();
    tokio::task::spawn_blocking(move || {
        programs.piston_client(&url);
        programs.ultra_piston(&format!("{url}/api/v2/"));
        programs.aiopyston(&format!("{url}/api/v2/piston/"));
    })
    .await
    .expect("the clients ran");
    assert_eq!(gateway.failures(), Vec::<String>::new());
}

/// The Judge0 SDK, unchanged, against the API function on the emulator's pipeline: every
/// language (all its ids), every outcome, the batch path.
#[tokio::test(flavor = "multi_thread")]
async fn the_judge0_sdk_passes_through_the_cloud() {
    let gateway = start().await;
    crate::judge0::sdk_suite_passes(&format!("{}/judge0", gateway.url), &crate::judge0::every_id(), false).await;
    assert_eq!(gateway.failures(), Vec::<String>::new());
}

/// Judge0's callbacks through the cloud pipeline: the complete function makes them as it ends
/// each job.
#[tokio::test(flavor = "multi_thread")]
async fn judge0_callbacks_are_made_by_the_complete_function() {
    let gateway = start().await;
    crate::callbacks::callbacks_arrive(&format!("{}/judge0", gateway.url)).await;
    assert_eq!(gateway.failures(), Vec::<String>::new());
}
