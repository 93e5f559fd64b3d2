//! Gavel's Judge0 CE 1.13.1 API (`compat.md` §1–2), through `gavel serve --judge0-addr`: driven
//! by the real Judge0 Python SDK (`tests/clients/judge0/sdk_suite.py`, as a user writes it), and
//! by plain HTTP for what the SDK does not show (exact error bodies, base64 wrapping, `fields`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::harness::{Server, data_dir, http_client};
use crate::languages::programs_json;

mod delete;
mod index;

/// The Judge0 ids of each Gavel language (`compat.md` §1.7).
const IDS: &[(&str, &[u32])] = &[
    ("python", &[71]),
    ("javascript", &[63]),
    ("cpp", &[52, 53, 54]),
    ("c", &[48, 49, 50]),
    ("csharp", &[51]),
    ("java", &[62]),
    ("go", &[60]),
    ("rust", &[73]),
    ("typescript", &[74]),
    ("ruby", &[72]),
    ("bash", &[46]),
];

/// The 35 attributes of `fields=*`, in the serializer's order.
const ALL_FIELDS: [&str; 35] = [
    "source_code",
    "language_id",
    "stdin",
    "expected_output",
    "stdout",
    "status_id",
    "created_at",
    "finished_at",
    "time",
    "memory",
    "stderr",
    "token",
    "number_of_runs",
    "cpu_time_limit",
    "cpu_extra_time",
    "wall_time_limit",
    "memory_limit",
    "stack_limit",
    "max_processes_and_or_threads",
    "enable_per_process_and_thread_time_limit",
    "enable_per_process_and_thread_memory_limit",
    "max_file_size",
    "compile_output",
    "exit_code",
    "exit_signal",
    "message",
    "wall_time",
    "compiler_options",
    "command_line_arguments",
    "redirect_stderr_to_stdout",
    "callback_url",
    "additional_files",
    "enable_network",
    "status",
    "language",
];

/// The venv python with `judge0==0.0.8`, from `infra/scripts/compat-clients.sh`.
fn compat_python() -> PathBuf {
    match std::env::var_os("GAVEL_TEST_COMPAT_PYTHON") {
        Some(python) if !python.is_empty() => PathBuf::from(python),
        _ => panic!(
            "GAVEL_TEST_COMPAT_PYTHON is not set: the Judge0 tests drive the real judge0 SDK. \
             Run `eval \"$(infra/scripts/compat-clients.sh)\"` in the repository first."
        ),
    }
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/judge0").join(name)
}

/// Runs a client script to its end; it must succeed.
async fn run_script(name: &str, args: Vec<String>, stdin: String, env: Vec<(&'static str, String)>) -> String {
    let python = compat_python();
    let path = script(name);
    let output = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = Command::new(&python)
            .arg(&path)
            .args(&args)
            .envs(env)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", python.display()));
        if let Some(mut input) = child.stdin.take() {
            input.write_all(stdin.as_bytes()).expect("the script reads its programs");
        }
        child.wait_with_output().expect("the script ends")
    })
    .await
    .expect("the script's thread");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{name} failed ({}):\n{stdout}\n{stderr}", output.status);
    stdout
}

/// The Judge0 ids this server runs, from Gavel's own `GET /languages`.
async fn available_ids(server: &Server) -> Vec<u32> {
    let (_, languages) = server.get("/languages").await;
    let available = languages.as_array().expect("languages").iter().filter(|l| l["available"] == true);
    let mut ids: Vec<u32> = available
        .flat_map(|l| IDS.iter().find(|(id, _)| l["id"] == *id).map_or(&[][..], |(_, ids)| *ids).iter().copied())
        .collect();
    ids.sort_unstable();
    ids
}

fn ids_arg(ids: &[u32]) -> String {
    ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

/// A `gavel serve` with a Judge0 listener, started with `env`, and a client of that listener.
/// Bound in this order, the server stops before its data dir goes.
fn serve(env: &[(&str, &str)]) -> (tempfile::TempDir, Server, Wire) {
    let dir = data_dir();
    let server = Server::start_with(dir.path(), &["--judge0-addr", "127.0.0.1:0"], env);
    let wire = Wire::new(server.listener("judge0"));
    (dir, server, wire)
}

/// A plain HTTP client for one Judge0 base URL.
struct Wire {
    base: String,
    client: reqwest::Client,
}

/// An answer: status, raw body, and the body as JSON when it is JSON.
struct Answer {
    status: u16,
    text: String,
    json: Value,
}

impl Wire {
    fn new(base: &str) -> Wire {
        Wire { base: base.to_owned(), client: http_client() }
    }

    /// `method path` with a JSON `body`, as the Judge0 user `user` (`X-Auth-User`) when given.
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>, user: Option<&str>) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(user) = user {
            request = request.header("X-Auth-User", user);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer { status, text, json }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(reqwest::Method::GET, path, None, None).await
    }

    async fn post(&self, path: &str, body: &Value) -> Answer {
        self.send(reqwest::Method::POST, path, Some(body), None).await
    }

    /// Creates a submission and returns its token.
    async fn create(&self, query: &str, body: &Value) -> String {
        let answer = self.post(&format!("/submissions?{query}"), body).await;
        assert_eq!(answer.status, 201, "create answered {}", answer.text);
        answer.json["token"].as_str().expect("a token").to_owned()
    }

    /// Polls a submission until it is neither queued nor processing, then reads it with `query`.
    async fn finished(&self, token: &str, query: &str) -> Answer {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let answer = self.get(&format!("/submissions/{token}?fields=status_id")).await;
            assert_eq!(answer.status, 200, "{token}: {}", answer.text);
            if !matches!(answer.json["status_id"].as_u64(), Some(1 | 2)) {
                return self.get(&format!("/submissions/{token}?{query}")).await;
            }
            assert!(Instant::now() < deadline, "{token} did not finish: {}", answer.text);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn run(&self, body: &Value, query: &str) -> Answer {
        let token = self.create("base64_encoded=true", body).await;
        self.finished(&token, query).await
    }
}

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

fn python(code: &str) -> Value {
    json!({"language_id": 71, "source_code": b64(code.as_bytes())})
}

/// The SDK suite against the Judge0 API at `base`, for the languages of `ids` (every outcome and
/// language; `quick`: fewer cases, for a second listener).
pub async fn sdk_suite_passes(base: &str, ids: &[u32], quick: bool) {
    let mut args = vec![base.to_owned(), ids_arg(ids)];
    args.extend(quick.then(|| "--quick".to_owned()));
    let out = run_script("sdk_suite.py", args, programs_json().to_string(), vec![]).await;
    eprintln!("{out}");
}

/// Every Judge0 id of every Gavel language.
pub fn every_id() -> Vec<u32> {
    let mut ids: Vec<u32> = IDS.iter().flat_map(|(_, ids)| ids.iter().copied()).collect();
    ids.sort_unstable();
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn the_judge0_sdk_runs_against_both_listeners() {
    compat_python();
    let dir = data_dir();
    let server = Server::start_with(dir.path(), &["--judge0-addr", "127.0.0.1:0"], &[]);
    let ids = available_ids(&server).await;
    sdk_suite_passes(server.listener("judge0"), &ids, false).await;
    sdk_suite_passes(&format!("{}/judge0", server.base), &ids, true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_have_judge0s_exact_bodies() {
    let (_dir, _server, wire) = serve(&[]);

    let blank = wire.post("/submissions", &json!({})).await;
    assert_eq!(blank.status, 422);
    assert_eq!(
        blank.text,
        r#"{"source_code":["can't be blank"],"language_id":["can't be blank","language with id  doesn't exist"]}"#
    );
    let body = json!({
        "source_code": "x", "language_id": "150000", "cpu_time_limit": "16", "memory_limit": "lots",
        "wall_time_limit": 0, "max_processes_and_or_threads": 0, "number_of_runs": 21,
    });
    let ranges = wire.post("/submissions", &body).await;
    assert_eq!(ranges.status, 422);
    assert_eq!(
        ranges.text,
        concat!(
            r#"{"number_of_runs":["must be less than or equal to 20"],"#,
            r#""cpu_time_limit":["must be less than or equal to 15.0"],"#,
            r#""wall_time_limit":["must be greater than or equal to 1"],"memory_limit":["is not a number"],"#,
            r#""max_processes_and_or_threads":["must be greater than 0"],"#,
            r#""language_id":["language with id 150000 doesn't exist"]}"#
        )
    );
    let refused = [
        (
            json!({"source_code": "x", "language_id": 68}),
            "language_id",
            "language with id 68 is archived and cannot be used anymore",
        ),
        (
            json!({"source_code": "x", "language_id": 71, "compiler_options": "-O2"}),
            "compiler_options",
            "setting compiler options is not allowed",
        ),
        (
            // Judge0 would call it; Gavel calls no address of its own network unless allowed.
            json!({"source_code": "x", "language_id": 71, "callback_url": "http://127.0.0.1:9/cb"}),
            "callback_url",
            "must not be a loopback, link-local or private address",
        ),
        (
            json!({"source_code": "x", "language_id": 71, "enable_network": true}),
            "enable_network",
            "enabling network is not allowed",
        ),
        (
            json!({"source_code": "x", "language_id": 71, "additional_files": "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="}),
            "additional_files",
            "setting additional files is not allowed",
        ),
    ];
    for (body, field, message) in refused {
        let answer = wire.post("/submissions", &body).await;
        assert_eq!((answer.status, &answer.json), (422, &json!({ field: [message] })), "{body}");
    }
    // Stdin may be any bytes; the source must be text.
    let source = wire
        .post("/submissions?base64_encoded=true", &json!({"source_code": "/w==", "language_id": 71, "stdin": "/w=="}))
        .await;
    assert_eq!(
        (source.status, &source.json),
        (422, &json!({"source_code": ["is not valid UTF-8: Gavel takes source code as text"]}))
    );

    let not_found = r#"{"status":404,"error":"Not Found"}"#;
    for (method, path) in [
        (reqwest::Method::GET, format!("/submissions/{}", uuid::Uuid::new_v4())),
        (reqwest::Method::GET, "/submissions/not-a-token".to_owned()),
        (reqwest::Method::GET, "/nope".to_owned()),
        (reqwest::Method::POST, "/languages".to_owned()),
        (reqwest::Method::GET, "/languages/9999".to_owned()),
    ] {
        let answer = wire.send(method.clone(), &path, None, None).await;
        assert_eq!((answer.status, answer.text.as_str()), (404, not_found), "{method} {path}");
    }
    let fields = wire.get(&format!("/submissions/{}?fields=token,foo,bar", uuid::Uuid::new_v4())).await;
    assert_eq!((fields.status, fields.text.as_str()), (400, r#"{"error":"invalid fields: [foo, bar]"}"#));
    let batch = wire.post("/submissions/batch", &json!({"submissions": []})).await;
    assert_eq!(
        (batch.status, &batch.json),
        (400, &json!({"error": "there should be at least one submission in a batch"}))
    );
    let deleted =
        wire.send(reqwest::Method::DELETE, &format!("/submissions/{}", uuid::Uuid::new_v4()), None, None).await;
    assert_eq!((deleted.status, deleted.text.as_str()), (403, ""), "no authorization token configured");
    let malformed = wire.client.post(format!("{}/submissions", wire.base)).body("{nope").send().await.expect("answer");
    assert_eq!(malformed.status().as_u16(), 400);

    let (about, version) = (wire.get("/about").await, wire.get("/version").await);
    assert_eq!((about.json["version"].as_str(), version.text.as_str()), (Some("1.13.1"), "1.13.1"));
    let config = wire.get("/config_info").await;
    assert_eq!(config.json.as_object().map(|c| c.len()), Some(39), "{}", config.text);
    assert_eq!(wire.get("/statuses").await.json.as_array().map(Vec::len), Some(14));
    assert_eq!(wire.get("/languages/all").await.json.as_array().map(Vec::len), Some(89));
    assert_eq!(wire.get("/openapi.json").await.json["openapi"], "3.1.0");
}

#[tokio::test(flavor = "multi_thread")]
async fn submissions_on_the_wire() {
    let (dir, server, wire) = serve(&[]);

    // fields=*: all 35 keys, in the serializer's order, timestamps with milliseconds and Z.
    let body = json!({"language_id": 71, "source_code": b64(b"print('a' * 100)"), "cpu_extra_time": "1.5"});
    let all = wire.run(&body, "base64_encoded=true&fields=*").await;
    assert_eq!(all.status, 200, "{}", all.text);
    let keys: Vec<&str> = all.json.as_object().expect("an object").keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 35, "{}", all.text);
    let positions: Vec<usize> = ALL_FIELDS
        .iter()
        .map(|key| all.text.find(&format!("\"{key}\":")).unwrap_or_else(|| panic!("{key} missing: {}", all.text)))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "not in the serializer's order: {}", all.text);
    for key in ["created_at", "finished_at"] {
        let at = all.json[key].as_str().expect("a timestamp");
        assert!(at.len() == 24 && at.ends_with('Z') && &at[19..20] == ".", "{key}: {at}");
    }
    assert_eq!((&all.json["cpu_time_limit"], &all.json["cpu_extra_time"]), (&json!("5.0"), &json!("1.5")));
    assert_eq!((&all.json["memory_limit"], &all.json["max_file_size"]), (&json!(128_000), &json!(1024)));
    assert!(
        all.text.contains(r#""status":{"id":3,"description":"Accepted"},"language":{"id":71,"name":"Python ("#),
        "{}",
        all.text
    );
    assert!(all.json["time"].as_str().is_some_and(|t| t.parse::<f64>().is_ok()), "time is a decimal string");
    // RFC 2045: 60-character lines, each ending in a newline.
    let stdout = all.json["stdout"].as_str().expect("stdout");
    let mut wrapped = String::new();
    for line in b64(format!("{}\n", "a".repeat(100)).as_bytes()).as_bytes().chunks(60) {
        wrapped.push_str(std::str::from_utf8(line).expect("ascii"));
        wrapped.push('\n');
    }
    assert_eq!(stdout, wrapped);
    assert_eq!(all.json["stderr"], Value::Null, "an empty output is null");

    // The token is Gavel's job id; what the Judge0 API keeps lives in the job's folder.
    let token = all.json["token"].as_str().expect("token");
    let (status, view) = server.get(&format!("/result/{token}")).await;
    assert_eq!((status, &view["status"]), (200, &json!("completed")));
    assert!(dir.path().join(format!("blobs/jobs/{token}/judge0.json")).is_file());

    // wait=true answers with the finished submission.
    let waited = wire
        .post("/submissions?wait=true&fields=status,stdout", &json!({"language_id": 71, "source_code": "print(6 * 7)"}))
        .await;
    assert_eq!(
        (waited.status, &waited.json),
        (201, &json!({"stdout": "42\n", "status": {"id": 3, "description": "Accepted"}}))
    );

    // Output that is not UTF-8: 400 without base64, but the token still comes with wait=true.
    let binary = python("import sys\nsys.stdout.buffer.write(b'\\xff\\xfe\\n')");
    let token = wire.create("base64_encoded=true", &binary).await;
    let encoded = wire.finished(&token, "base64_encoded=true").await;
    assert_eq!(encoded.json["stdout"], "//4K\n");
    let plain = wire.get(&format!("/submissions/{token}")).await;
    let one =
        "some attributes for this submission cannot be converted to UTF-8, use base64_encoded=true query parameter";
    assert_eq!((plain.status, &plain.json), (400, &json!({"error": one})));
    let many = wire.get(&format!("/submissions/batch?tokens={token}")).await;
    assert_eq!(many.status, 400);
    assert!(many.json["error"].as_str().is_some_and(|e| e.contains("for one or more submissions")), "{}", many.text);
    let plain_source = json!({"language_id": 71, "source_code": "import sys\nsys.stdout.buffer.write(b'\\xff\\n')"});
    let waited = wire.post("/submissions?wait=true", &plain_source).await;
    assert_eq!(waited.status, 201);
    assert!(waited.text.starts_with(&format!("{{\"error\":\"{one}\",\"token\":\"")), "{}", waited.text);

    // An expected output that is not UTF-8 is compared as bytes.
    let mut body = binary.clone();
    body["expected_output"] = json!("//4K");
    assert_eq!(wire.run(&body, "fields=status_id").await.json["status_id"], 3);
    body["expected_output"] = json!("//0K");
    assert_eq!(wire.run(&body, "fields=status_id").await.json["status_id"], 4);

    // command_line_arguments split as bash splits them; stderr merged on request.
    let mut args = python("import sys\nprint(sys.argv[1:], flush=True)\nprint('to stderr', file=sys.stderr)");
    args["command_line_arguments"] = json!(r"a 'b c' d\ e");
    args["redirect_stderr_to_stdout"] = json!(true);
    let ran = wire.run(&args, "fields=stdout,stderr,command_line_arguments").await;
    assert_eq!(ran.json["stdout"], "['a', 'b c', 'd e']\nto stderr\n", "{}", ran.text);
    assert_eq!((&ran.json["stderr"], &ran.json["command_line_arguments"]), (&Value::Null, &json!(r"a 'b c' d\ e")));

    // number_of_runs: one job of three tests, time averaged over them.
    let mut runs = python("print(1)");
    runs["number_of_runs"] = json!(3);
    let token = wire.create("base64_encoded=true", &runs).await;
    let ran = wire.finished(&token, "fields=status_id,number_of_runs,time").await;
    assert_eq!((&ran.json["status_id"], &ran.json["number_of_runs"]), (&json!(3), &json!(3)));
    let (_, view) = server.get(&format!("/result/{token}")).await;
    assert_eq!(view["tests"].as_array().map(Vec::len), Some(3), "{view}");
}

#[tokio::test(flavor = "multi_thread")]
async fn alike_submissions_of_a_batch_are_one_job_compiled_once() {
    let (_dir, server, wire) = serve(&[]);
    let sum = programs_json()["cpp"]["sum"].as_str().expect("a C++ program").to_owned();
    let item = |stdin: &str, expected: &str| json!({"language_id": 54, "source_code": sum, "stdin": stdin, "expected_output": expected});
    let batch = json!({"submissions": [item("1 2", "3"), {"language_id": 54}, item("2 2", "5"), item("20 22", "42")]});
    let created = wire.post("/submissions/batch", &batch).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let answers = created.json.as_array().expect("an array");
    assert_eq!(answers[1], json!({"source_code": ["can't be blank"]}));
    let tokens: Vec<&str> = [0, 2, 3].iter().map(|&i| answers[i]["token"].as_str().expect("a token")).collect();
    // One job: the first token is its id, the others name its later items.
    let (status, view) = server.get(&format!("/result/{}?wait=30", tokens[0])).await;
    assert_eq!(status, 200);
    let view =
        if view["status"] == "completed" { view } else { server.wait(tokens[0], Duration::from_secs(120)).await };
    assert_eq!(view["tests"].as_array().map(Vec::len), Some(3), "one test per submission: {view}");
    assert_eq!(view["compile"]["exit_code"], 0, "compiled once, for all three");
    let (status, _) = server.get(&format!("/result/{}", tokens[1])).await;
    assert_eq!(status, 404, "a later item's token is no job of its own");

    let read = wire
        .get(&format!(
            "/submissions/batch?tokens={},{},{}&fields=status_id,stdout,token",
            tokens[0], tokens[1], tokens[2]
        ))
        .await;
    let statuses: Vec<&Value> =
        read.json["submissions"].as_array().expect("submissions").iter().map(|s| &s["status_id"]).collect();
    assert_eq!(statuses, [&json!(3), &json!(4), &json!(3)], "{}", read.text);
    assert_eq!(read.json["submissions"][2]["stdout"], "42\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn authentication_and_authorization_from_the_environment() {
    let (_dir, server, wire) =
        serve(&[("GAVEL_JUDGE0_AUTHN_TOKEN", "s3cret other"), ("GAVEL_JUDGE0_AUTHZ_TOKEN", "boss")]);
    let denied = wire.get("/languages").await;
    assert_eq!((denied.status, denied.text.as_str()), (401, ""));
    assert_eq!(wire.get("/languages?X-Auth-Token=other").await.status, 200);
    let with = |token: &str| wire.client.get(format!("{}/submissions", wire.base)).header("X-Auth-Token", token);
    let forbidden = with("s3cret").send().await.expect("answer");
    assert_eq!(forbidden.status().as_u16(), 403);
    let listed = with("s3cret").header("X-Auth-User", "boss").send().await.expect("answer");
    assert_eq!(listed.status().as_u16(), 200, "the index lists, for an authorized caller");
    let authorized = wire.client.post(format!("{}/authorize?X-Auth-Token=s3cret&X-Auth-User=boss", wire.base));
    assert_eq!(authorized.send().await.expect("answer").status().as_u16(), 200);

    let ids = available_ids(&server).await;
    let headers = json!({"X-Auth-Token": "s3cret"}).to_string();
    let base = server.listener("judge0").to_owned();
    let programs = programs_json().to_string();
    let out = run_script(
        "sdk_suite.py",
        vec![base, ids_arg(&ids), "--quick".into()],
        programs,
        vec![("JUDGE0_HEADERS", headers)],
    )
    .await;
    eprintln!("{out}");
}
