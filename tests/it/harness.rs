//! Starts the real `gavel serve` binary on a free loopback port and talks to it over HTTP.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A built binary of this workspace. The test command builds them before running the tests.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    // target/<profile>/deps/it-<hash> → target/<profile>/<name>
    let path = exe.parent().and_then(Path::parent).map(|dir| dir.join(name)).expect("target layout");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first (scripts/test-all does)",
        path.display()
    );
    path
}

/// `gavel serve` for `data_dir` on a free loopback port, as a command to adjust and start.
pub fn serve_command(data_dir: &Path, extra_args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(binary("gavel"));
    command
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(extra_args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn");
    command
}

/// A running server; killed when dropped.
pub struct Server {
    child: Child,
    api: Api,
    /// Every listener's base URL by API (`gavel`, `judge0`, `piston`), as the server printed them.
    listeners: BTreeMap<String, String>,
}

impl Deref for Server {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Server {
    pub fn start(data_dir: &Path) -> Server {
        Server::start_with(data_dir, &[], &[])
    }

    pub fn start_with(data_dir: &Path, extra_args: &[&str], env: &[(&str, &str)]) -> Server {
        Server::spawn(serve_command(data_dir, extra_args, env)).unwrap_or_else(|why| panic!("{why}"))
    }

    /// Starts `command` (a `gavel serve`), returning once it listens; if it exits first, what it
    /// printed on stderr (its reason).
    pub fn spawn(command: Command) -> Result<Server, String> {
        Server::spawn_then(command, |_| {})
    }

    /// [`Server::spawn`], calling `started` with the child before waiting for it to listen.
    pub fn spawn_then(mut command: Command, started: impl FnOnce(&mut Child)) -> Result<Server, String> {
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start gavel serve");
        started(&mut child);
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let mut lines = BufReader::new(stdout).lines();
        // The server prints `<api> listening on <url>` for each listener once it listens.
        let expected = 1 + command.get_args().filter(|arg| *arg == "--judge0-addr" || *arg == "--piston-addr").count();
        let mut listeners = BTreeMap::new();
        while listeners.len() < expected {
            match lines.next() {
                Some(Ok(line)) => {
                    let mut words = line.split_whitespace();
                    if let (Some(api), Some(url)) = (words.next(), words.find(|w| w.starts_with("http://"))) {
                        listeners.insert(api.to_owned(), url.trim_end_matches('/').to_owned());
                    }
                }
                _ => {
                    let mut why = String::new();
                    let _ = stderr.read_to_string(&mut why);
                    let _ = child.wait();
                    return Err(why);
                }
            }
        }
        let base = listeners.get("gavel").cloned().ok_or("gavel printed no `gavel listening on` line")?;
        // Keep draining both pipes so the server never blocks on a full one; its log shows.
        std::thread::spawn(move || lines.for_each(drop));
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut stderr, &mut std::io::stderr());
        });
        Ok(Server { child, api: Api::new(base), listeners })
    }

    /// The base URL of the listener of `api` (`judge0`, `piston`), started with its `--<api>-addr`.
    pub fn listener(&self, api: &str) -> &str {
        self.listeners.get(api).unwrap_or_else(|| panic!("the server has no {api} listener: {:?}", self.listeners))
    }

    /// SIGKILL, no chance to clean up: what a crash or an OOM kill looks like.
    pub fn kill9(mut self) {
        self.child.kill().expect("kill -9 the server");
        self.child.wait().expect("reap the server");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The HTTP API of a server, wherever it runs.
pub struct Api {
    pub base: String,
    client: reqwest::Client,
}

impl Api {
    pub fn new(base: String) -> Api {
        Api { base, client: http_client() }
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self.client.post(format!("{}{path}", self.base)).json(body).send().await.expect("POST");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON answer"))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.client.get(format!("{}{path}", self.base)).send().await.expect("GET");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON answer"))
    }

    /// Submits a job and returns its id.
    pub async fn submit(&self, body: Value) -> String {
        let (status, answer) = self.post_json("/execute", &body).await;
        assert_eq!(status, 202, "submit answered {answer}");
        answer["job_id"].as_str().expect("job id").to_owned()
    }

    /// Long-polls a job until it is terminal.
    pub async fn wait(&self, job_id: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let (status, view) = self.get(&format!("/result/{job_id}?wait=10")).await;
            assert_eq!(status, 200, "result answered {view}");
            if matches!(view["status"].as_str(), Some("completed" | "failed")) {
                return view;
            }
            assert!(Instant::now() < deadline, "job {job_id} did not finish in {timeout:?}: {view}");
        }
    }

    /// Submits, waits, and insists the platform finished the job.
    pub async fn judge(&self, body: Value) -> Value {
        let id = self.submit(body).await;
        let view = self.wait(&id, Duration::from_secs(120)).await;
        assert_eq!(view["status"], "completed", "job failed on the platform side: {view}");
        view
    }

    /// Judges each problem of a table in turn and checks its result.
    pub async fn judge_all(&self, problems: &[Judged]) {
        for problem in problems {
            let job_id = self.submit((problem.request)()).await;
            let view = self.wait(&job_id, Duration::from_secs(180)).await;
            assert_eq!(view["status"], "completed", "{}: {view}", problem.name);
            (problem.check)(&view);
        }
    }

    /// A plain run of `code`.
    pub async fn run(&self, language: &str, code: &str, stdin: &str) -> Value {
        self.judge(json!({"language": language, "code": code, "stdin": stdin})).await
    }
}

/// One problem of a table that several deployments judge: the request, and what its result must
/// show.
pub struct Judged {
    pub name: &'static str,
    pub request: fn() -> Value,
    pub check: fn(&Value),
}

/// A fresh directory that can be a data directory: private to this user, as a server demands.
/// A plain HTTP client for the tests, built as every client of Gavel's is (TLS over ring).
pub fn http_client() -> reqwest::Client {
    gavel_http::outbound::client(|builder| builder).expect("an HTTP client")
}

pub fn data_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new().permissions(std::fs::Permissions::from_mode(0o700)).tempdir().expect("tempdir")
}

/// A fresh data dir and a server on it.
pub fn fresh() -> (tempfile::TempDir, Server) {
    let dir = data_dir();
    let server = Server::start(dir.path());
    (dir, server)
}

/// Whether the tests run as root.
pub fn root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Pids whose command line contains `marker`.
pub fn processes_with(marker: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok().map(|pid| (pid, e.path())))
        .filter(|(_, path)| {
            std::fs::read(path.join("cmdline")).is_ok_and(|c| String::from_utf8_lossy(&c).contains(marker))
        })
        .map(|(pid, _)| pid)
        .collect()
}
