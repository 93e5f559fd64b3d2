//! Judge0's `callback_url`, from the receiving side: a PUT of the default fields, base64, when
//! each submission's job ends, on `gavel serve` and through the cloud pipeline; and the URLs a
//! server refuses to call.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::harness::{Server, http_client};

/// One request the receiver got.
#[derive(Debug)]
pub struct Received {
    method: Method,
    path: String,
    content_type: Option<String>,
    body: Value,
}

/// An HTTP server on loopback that records every request made to it.
pub struct Receiver {
    pub url: String,
    got: mpsc::UnboundedReceiver<Received>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        async fn record(
            State(sent): State<mpsc::UnboundedSender<Received>>,
            method: Method,
            uri: Uri,
            headers: HeaderMap,
            body: Bytes,
        ) -> &'static str {
            let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
            let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let _ = sent.send(Received { method, path: uri.path().to_owned(), content_type, body });
            "ok"
        }
        let (sent, got) = mpsc::unbounded_channel();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let app = axum::Router::new().fallback(record).with_state(sent);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, got }
    }

    /// The next `n` requests, by path.
    pub async fn next(&mut self, n: usize) -> HashMap<String, Received> {
        let mut got = HashMap::new();
        while got.len() < n {
            let received = tokio::time::timeout(Duration::from_secs(120), self.got.recv()).await;
            let received = received.expect("a callback within 120 s").expect("the receiver runs");
            got.insert(received.path.clone(), received);
        }
        got
    }
}

fn b64(text: &str) -> String {
    STANDARD.encode(text)
}

fn decoded(value: &Value) -> String {
    let text = value.as_str().expect("a base64 string").replace('\n', "");
    String::from_utf8(STANDARD.decode(text).expect("base64")).expect("UTF-8")
}

async fn create(client: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let answer = client.post(url).json(&body).send().await.expect("the server answers");
    (answer.status().as_u16(), answer.json().await.unwrap_or(Value::Null))
}

/// A submission and a batch with callbacks on two of three items: each callback is Judge0's PUT
/// of the eight default fields, base64, for its own submission.
pub async fn callbacks_arrive(judge0: &str) {
    let mut receiver = Receiver::start().await;
    let client = http_client();
    let echo = |stdin: &str, callback: Option<String>| {
        json!({"language_id": 71, "source_code": b64("print(input())"), "stdin": b64(stdin),
            "expected_output": b64(stdin), "callback_url": callback})
    };
    let (status, one) = create(
        &client,
        format!("{judge0}/submissions?base64_encoded=true"),
        echo("one", Some(format!("{}/one", receiver.url))),
    )
    .await;
    assert_eq!(status, 201, "{one}");
    let batch = json!({"submissions": [
        echo("two", Some(format!("{}/two?x=1", receiver.url))), echo("none", None), echo("three", Some(format!("{}/three", receiver.url)))]});
    let (status, tokens) = create(&client, format!("{judge0}/submissions/batch?base64_encoded=true"), batch).await;
    assert_eq!(status, 201, "{tokens}");
    let got = receiver.next(3).await;
    let expected = [
        ("/one", &one["token"], "one"),
        ("/two", &tokens[0]["token"], "two"),
        ("/three", &tokens[2]["token"], "three"),
    ];
    for (path, token, stdout) in expected {
        let callback = &got[path];
        assert_eq!((&callback.method, callback.content_type.as_deref()), (&Method::PUT, Some("application/json")));
        let keys: BTreeSet<&str> = callback.body.as_object().expect("an object").keys().map(String::as_str).collect();
        let default = ["stdout", "time", "memory", "stderr", "token", "compile_output", "message", "status"];
        assert_eq!(keys, BTreeSet::from(default), "{}", callback.body);
        assert_eq!(&callback.body["token"], token, "{path}");
        assert_eq!(decoded(&callback.body["stdout"]), format!("{stdout}\n"));
        assert_eq!(callback.body["status"], json!({"id": 3, "description": "Accepted"}));
    }
    // The submission without a callback made none.
    assert!(tokio::time::timeout(Duration::from_secs(2), receiver.got.recv()).await.is_err(), "an extra callback");
}

#[tokio::test(flavor = "multi_thread")]
async fn callbacks_reach_their_urls_from_gavel_serve() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start_with(
        &dir.path().join("data"),
        &["--judge0-addr", "127.0.0.1:0"],
        &[("GAVEL_JUDGE0_CALLBACKS_ALLOW_PRIVATE", "true")],
    );
    callbacks_arrive(server.listener("judge0")).await;
}

/// By default a server calls no loopback, link-local or private address, and no URL that is not
/// http(s) or that carries credentials: the submission is refused on its `callback_url`.
#[tokio::test(flavor = "multi_thread")]
async fn callbacks_to_the_servers_own_network_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start_with(&dir.path().join("data"), &["--judge0-addr", "127.0.0.1:0"], &[]);
    let client = http_client();
    let refusals = [
        ("http://127.0.0.1:8080/cb", "must not be a loopback, link-local or private address"),
        ("http://169.254.169.254/latest/meta-data", "must not be a loopback, link-local or private address"),
        ("http://[::1]/cb", "must not be a loopback, link-local or private address"),
        ("gopher://example.com/", "must be an http or https URL"),
        ("https://user:secret@example.com/", "must not carry credentials"),
    ];
    for (url, why) in refusals {
        let body = json!({"language_id": 71, "source_code": "print(1)", "callback_url": url});
        let (status, answer) = create(&client, format!("{}/submissions", server.listener("judge0")), body).await;
        assert_eq!((status, answer), (422, json!({"callback_url": [why]})), "{url}");
    }
    let (_, config) = {
        let answer = client.get(format!("{}/config_info", server.listener("judge0"))).send().await.expect("answers");
        (answer.status(), answer.json::<Value>().await.expect("json"))
    };
    assert_eq!((&config["enable_callbacks"], &config["callbacks_max_tries"]), (&json!(true), &json!(3)));
}
