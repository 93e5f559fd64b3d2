//! Piston v2 (`compat.md` §3–4) as its users meet it: `gavel serve --piston-addr`, driven by the
//! real clients (npm piston-client, PyPI ultra-piston and aiopyston; installed by
//! `infra/scripts/compat-clients.sh`, which says where in the variables read here), and on the
//! wire, byte for byte where Piston's answers are fixed strings.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::harness::{Server, data_dir, http_client};
use crate::languages::programs_json;

const INSTALL: &str = "run `eval \"$(infra/scripts/compat-clients.sh)\"` first (it installs the pinned clients)";

/// A variable naming an installed client (and a file in it, if `inside` is not empty); these
/// tests fail, never skip, without it.
fn installed(variable: &str, inside: &str) -> PathBuf {
    let value = std::env::var_os(variable).unwrap_or_else(|| panic!("{variable} is not set: {INSTALL}"));
    let path = PathBuf::from(value);
    let expected = if inside.is_empty() { path.clone() } else { path.join(inside) };
    assert!(expected.exists(), "{variable}={}: {} is missing: {INSTALL}", path.display(), expected.display());
    path
}

/// The matrix programs as a file, for the client scripts.
pub struct Programs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Programs {
    pub fn write() -> Programs {
        let dir = tempfile::tempdir().expect("a scratch dir");
        let path = dir.path().join("programs.json");
        std::fs::write(&path, programs_json().to_string()).expect("write the programs");
        Programs { path, _dir: dir }
    }

    /// npm's piston-client, `piston({server})`: every language, and the verdicts.
    pub fn piston_client(&self, server: &str) {
        let node_dir = installed("GAVEL_TEST_COMPAT_NODE_DIR", "node_modules/piston-client/package.json");
        // As a module read from stdin, so `import "piston-client"` resolves from the clients' folder.
        let source = File::open(script("piston_client.mjs")).expect("the piston-client script");
        let mut node = Command::new("node");
        node.arg("--input-type=module")
            .current_dir(node_dir)
            .stdin(source)
            .env("PISTON_SERVER", server)
            .env("GAVEL_PROGRAMS", &self.path);
        passes(node, "the piston-client script");
    }

    /// PyPI's ultra-piston, `PistonClient(base_url=...)`.
    pub fn ultra_piston(&self, base_url: &str) {
        passes(self.python_client("ultra_piston_client.py", base_url), "the ultra-piston script");
    }

    /// PyPI's aiopyston, `PystonClient(base_url=...)`.
    pub fn aiopyston(&self, base_url: &str) {
        passes(self.python_client("aiopyston_client.py", base_url), "the aiopyston script");
    }

    fn python_client(&self, name: &str, base_url: &str) -> Command {
        let mut command = Command::new(installed("GAVEL_TEST_COMPAT_PYTHON", ""));
        command.arg(script(name)).env("PISTON_BASE_URL", base_url).env("GAVEL_PROGRAMS", &self.path);
        command
    }
}

/// A server with the Piston listener.
struct Piston {
    server: Server,
    _data: tempfile::TempDir,
}

impl Piston {
    fn start() -> Piston {
        let data = data_dir();
        let server = Server::start_with(data.path(), &["--piston-addr", "127.0.0.1:0"], &[]);
        Piston { server, _data: data }
    }

    /// The Piston listener's base URL (`http://127.0.0.1:PORT`).
    fn listener(&self) -> &str {
        self.server.listener("piston")
    }
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/piston").join(name)
}

/// Runs a client script to its end and insists it passed, showing what it printed if not.
fn passes(mut command: Command, what: &str) {
    let Output { status, stdout, stderr } = command.output().unwrap_or_else(|err| panic!("cannot start {what}: {err}"));
    let (stdout, stderr) = (String::from_utf8_lossy(&stdout), String::from_utf8_lossy(&stderr));
    assert!(status.success(), "{what} failed ({status}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
    assert!(stdout.contains("all checks passed"), "{what} did not finish its checks:\n{stdout}\n{stderr}");
}

#[test]
fn piston_client_runs_every_language() {
    let piston = Piston::start();
    Programs::write().piston_client(piston.listener());
}

#[test]
fn ultra_piston_on_the_own_listener() {
    let piston = Piston::start();
    Programs::write().ultra_piston(&format!("{}/api/v2/", piston.listener()));
}

#[test]
fn aiopyston_on_the_main_routers_prefix() {
    let piston = Piston::start();
    Programs::write().aiopyston(&format!("{}/api/v2/piston/", piston.server.base));
}

/// What answers on the wire: status, and the body as JSON.
async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    (status, serde_json::from_str(&text).unwrap_or_else(|err| panic!("not JSON ({err}): {text:?}")))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_wire_is_pistons() {
    let piston = Piston::start();
    let http = http_client();
    let own = piston.listener().to_owned();
    let main = piston.server.base.clone();
    let prefixes = [
        format!("{own}/api/v2"),
        format!("{own}/api/v2/piston"),
        format!("{main}/api/v2"),
        format!("{main}/api/v2/piston"),
    ];

    assert_eq!(send(http.get(format!("{own}/"))).await, (200, json!({"message": "Piston v3.1.1"})));
    for prefix in &prefixes {
        for path in ["/", "/nope", "/execute/extra"] {
            let answer = send(http.get(format!("{prefix}{path}"))).await;
            assert_eq!(answer, (404, json!({"message": "Not Found"})), "{prefix}{path}");
        }
        for path in ["/runtimes", "/runtimes/"] {
            let (status, runtimes) = send(http.get(format!("{prefix}{path}"))).await;
            assert_eq!(status, 200, "{prefix}{path}: {runtimes}");
            let python = runtimes.as_array().into_iter().flatten().find(|r| r["language"] == "python");
            let python = python.unwrap_or_else(|| panic!("no python in {runtimes}"));
            let version = python["version"].as_str().unwrap_or_default();
            let parts: Vec<_> = version.split('.').collect();
            assert!(parts.len() == 3 && parts.iter().all(|p| p.parse::<u64>().is_ok()), "probed x.y.z: {python}");
            assert_ne!(version, "0.0.0", "the local toolchain was probed: {python}");
        }
    }
    assert_eq!(send(http.get(format!("{main}/nope"))).await.1["error"]["code"], "not_found", "Gavel's own 404");

    // Piston's refusals, in its order. text/plain is what piston-client sends: never a 415.
    let post = |body: &str| {
        http.post(format!("{own}/api/v2/execute")).header("content-type", "text/plain").body(body.to_owned())
    };
    let refusals = [
        (json!({}), "language is required as a string"),
        (json!({"language": "python"}), "version is required as a string"),
        (json!({"language": "python", "version": "*"}), "files is required as an array"),
        (json!({"language": "python", "version": "*", "files": [{}]}), "files[0].content is required as a string"),
        (json!({"language": "python", "version": "1.0.0", "files": []}), "python-1.0.0 runtime is unknown"),
        (
            json!({"language": "python", "version": "*", "files": []}),
            "files must include at least one utf8 encoded file",
        ),
        (
            json!({"language": "python", "version": "*", "files": [{"content": "x"}], "run_memory_limit": "1"}),
            "If specified, run_memory_limit must be a number",
        ),
        (
            json!({"language": "python", "version": "*", "files": [{"content": "x"}], "run_timeout": 1e9}),
            "run_timeout cannot exceed the configured limit of 30000",
        ),
        (
            json!({"language": "python", "version": "*", "files": [{"content": "x"}], "run_cpu_time": -3}),
            "run_cpu_time must be non-negative",
        ),
    ];
    for (body, message) in refusals {
        assert_eq!(send(post(&body.to_string())).await, (400, json!({"message": message})), "{body}");
    }
    let (status, stack) = send(post("{\"language\": \"python\",")).await;
    assert!(status == 400 && stack["stack"].as_str().is_some_and(|s| s.starts_with("SyntaxError")), "{stack}");

    // A run through every prefix and both spellings of the path; an API key is ignored.
    let hello = json!({"language": "py", "version": "3.x", "files": [{"name": "main.py", "content": "print('hi')"}]});
    for prefix in &prefixes {
        for path in ["/execute", "/execute/"] {
            let request = http.post(format!("{prefix}{path}")).header("authorization", "some-key").json(&hello);
            let (status, answer) = send(request).await;
            assert_eq!(status, 200, "{prefix}{path}: {answer}");
            assert_eq!((&answer["language"], &answer["run"]["stdout"]), (&json!("python"), &json!("hi\n")), "{answer}");
            let mut keys: Vec<&str> =
                answer["run"].as_object().map(|run| run.keys().map(String::as_str).collect()).unwrap_or_default();
            keys.sort_unstable();
            let mut expected = [
                "stdout",
                "stderr",
                "output",
                "code",
                "signal",
                "message",
                "status",
                "cpu_time",
                "wall_time",
                "memory",
            ];
            expected.sort_unstable();
            assert_eq!(keys, expected, "{answer}");
            assert!(answer.get("compile").is_none(), "{answer}");
        }
    }

    // Several files: the first is the program, the others lie beside it, decoded as job.js does.
    let files = json!([
        {"name": "main.py", "content": "import util\nprint(util.GREETING, open('data.bin', 'rb').read().hex())"},
        {"name": "util.py", "content": "GREETING = 'hello'"},
        {"name": "data.bin", "content": "/wA=", "encoding": "base64"},
    ]);
    let program = json!({"language": "python", "version": "*", "files": files});
    let (status, answer) = send(http.post(format!("{own}/api/v2/execute")).json(&program)).await;
    assert_eq!((status, &answer["run"]["stdout"]), (200, &json!("hello ff00\n")), "{answer}");
    let escape =
        json!({"language": "python", "version": "*", "files": [{"content": "x"}, {"name": "../up.py", "content": ""}]});
    let (status, refused) = send(http.post(format!("{own}/api/v2/execute")).json(&escape)).await;
    let message = refused["message"].as_str().unwrap_or_default();
    assert!(status == 400 && message.starts_with("files[1].name: "), "{refused}");

    let (status, packages) = send(http.get(format!("{own}/api/v2/packages"))).await;
    assert!(
        status == 200 && packages.as_array().is_some_and(|p| p.iter().all(|p| p["installed"] == true)),
        "{packages}"
    );
    let change = http.delete(format!("{own}/api/v2/packages")).json(&json!({"language": "python", "version": "3.0.0"}));
    assert_eq!(send(change).await, (404, json!({"message": "Requested package python-3.0.0 does not exist"})));
    let (status, document) = send(http.get(format!("{main}/api/v2/openapi.json"))).await;
    assert_eq!((status, &document["openapi"]), (200, &json!("3.1.0")));
}
