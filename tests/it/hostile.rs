//! Hostile programs are the normal case. [`suite`] is what every mode `gavel serve` agrees to run
//! in must hold against (run here in the full mode, and by `isolation` and `docker` in the
//! others): the same programs get the same verdicts, leak nothing, and a benign job is still
//! judged correctly afterwards. The tests below it are the full mode's own.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Api, Server, data_dir, fresh, processes_with};

/// The environment variable whose value no program may ever see.
pub const SECRET_VAR: &str = "GAVEL_TEST_SECRET";

/// Where a server keeps its jobs and which port it listens on, as its programs would see them
/// (a server in a container has its own paths and port).
pub struct Seen {
    pub data_dir: String,
    pub port: u16,
    /// The value of [`SECRET_VAR`] in the server's environment.
    pub secret: String,
}

fn marker(what: &str) -> String {
    format!("gavel-{what}-{}", uuid::Uuid::new_v4().simple())
}

fn first(view: &Value) -> &Value {
    &view["tests"][0]
}

fn stdout(test: &Value) -> &str {
    test["stdout"].as_str().unwrap_or_default()
}

pub async fn still_serves(api: &Api) {
    let view = api.run("python", "print(int(input()) * 2)", "21\n").await;
    assert_eq!(view["verdict"], "accepted", "benign job after a hostile one: {view}");
    assert_eq!(first(&view)["stdout"], "42\n");
}

/// A Python program that looks for `markers` in every file it can reach under `roots` and at
/// `paths` (globs), for a few seconds, and prints each marker it found (or `nothing`). The
/// markers are in hex, so its own source is not where it finds them.
fn scanner(markers: &[&str], roots: &[&str], paths: &[String]) -> String {
    let hex: Vec<String> = markers.iter().map(|m| m.bytes().map(|b| format!("{b:02x}")).collect()).collect();
    format!(
        r#"
import glob, os, sys, time
markers = [bytes.fromhex(m) for m in {hex:?}]
roots = {roots:?} + [os.path.dirname(os.getcwd()), os.path.dirname(os.environ.get('TMPDIR', '/tmp'))]
skip = ('/proc', '/sys', '/dev', '/usr')
paths = [p for pattern in {paths:?} for p in glob.glob(pattern)]
found = set()
def scan(path):
    try:
        with open(path, 'rb') as f:
            data = f.read(1 << 22)
    except OSError:
        return
    for m in markers:
        if m in data:
            found.add(m.decode())
            print('found', m.decode(), 'in', path, file=sys.stderr)
deadline = time.time() + 4
for p in paths:
    scan(p)
for root in roots:
    if root == '/' or root.startswith(skip):
        continue
    for top, dirs, files in os.walk(root):
        if time.time() > deadline:
            break
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(top, d))]
        for name in files:
            scan(os.path.join(top, name))
print('\n'.join(sorted(found)) or 'nothing')
"#
    )
}

/// Every hostile program, against a server whose programs see `seen`.
pub async fn suite(api: &Api, seen: &Seen) {
    another_jobs_files_its_own_hidden_data_and_the_servers_environment(api, seen).await;
    the_answers_are_out_of_reach_of_the_program_the_checker_and_the_interactor(api, seen).await;
    nothing_crosses_from_one_test_to_the_next(api).await;
    a_planted_report_is_not_believed(api, seen).await;
    resource_bombs_meet_their_limits(api).await;
    the_server_is_out_of_reach(api, seen).await;
    still_serves(api).await;
}

async fn another_jobs_files_its_own_hidden_data_and_the_servers_environment(api: &Api, seen: &Seen) {
    let (victim_in, victim_out) = (marker("victim-input"), marker("victim-expected"));
    let victim = api
        .judge(json!({"language": "python", "code": "print(input())",
            "tests": [{"input": format!("{victim_in}\n"), "expected_output": format!("{victim_out}\n"), "hidden": true}]}))
        .await;
    let victim_id = victim["job_id"].as_str().expect("job id");
    let (own_input, own_expected) = (marker("own-hidden-input"), marker("own-hidden-expected"));
    let blobs = format!("{}/blobs/jobs", seen.data_dir);
    let paths = [
        format!("{blobs}/{victim_id}/*"),
        format!("{blobs}/*/*"),
        format!("{}/gavel.db*", seen.data_dir),
        "/job/*".to_owned(),
        "/proc/[0-9]*/environ".to_owned(),
        "/proc/[0-9]*/cmdline".to_owned(),
    ];
    let markers = [victim_in.as_str(), &victim_out, &own_input, &own_expected, &seen.secret];
    let roots = [seen.data_dir.as_str(), "/tmp", "/var/tmp", "/dev/shm", "/run", "/job", "/var/lib", "/root"];
    let view = api
        .judge(json!({"language": "python", "code": scanner(&markers, &roots, &paths),
        "limits": {"time_ms": 8000, "wall_time_ms": 15000},
        "tests": [
            {"input": "", "expected_output": "nothing\n"},
            {"input": format!("{own_input}\n"), "expected_output": format!("{own_expected}\n"), "hidden": true},
        ]}))
        .await;
    let visible = &view["tests"][0];
    assert_eq!(stdout(visible), "nothing\n", "a program read what it must not: {}", visible["stderr"]);
    assert_eq!(view["tests"][1]["verdict"], "wrong_answer", "the program found its hidden expected output: {view}");
}

/// A custom checker's job and an interactive one: the runner holds the expected outputs, and
/// neither the program nor the checker or interactor (which sees its own test's answer, and no
/// other) can find any of them, nor the server's secret. The checker and the interactor are the
/// scanner too, and accept only what they found nothing beside.
async fn the_answers_are_out_of_reach_of_the_program_the_checker_and_the_interactor(api: &Api, seen: &Seen) {
    let answers = [marker("checker-answer-1"), marker("checker-answer-2")];
    let markers = [answers[0].as_str(), &answers[1], &seen.secret];
    let blobs = format!("{}/blobs/jobs", seen.data_dir);
    let paths = [
        format!("{blobs}/*/*"),
        "/job/*".to_owned(),
        "/proc/[0-9]*/environ".to_owned(),
        "/proc/[0-9]*/cmdline".to_owned(),
    ];
    let roots = [seen.data_dir.as_str(), "/tmp", "/var/tmp", "/dev/shm", "/run", "/job", "/var/lib", "/root"];
    let scan = scanner(&markers, &roots, &paths);
    // The checker reads its own answer as testlib's do, then looks for every other marker.
    let checker =
        format!("import sys\nown = open(sys.argv[3]).read().split()\n{scan}\nsys.exit(1 if found - set(own) else 0)\n");
    let view = api
        .judge(json!({"language": "python", "code": scan,
        "limits": {"time_ms": 8000, "wall_time_ms": 15000},
        "checker": {"mode": "custom", "language": "python", "code": checker},
        "tests": [
            {"input": "", "expected_output": format!("{}\n", answers[0])},
            {"input": "", "expected_output": format!("{}\n", answers[1]), "hidden": true},
        ]}))
        .await;
    let visible = &view["tests"][0];
    assert_eq!(stdout(visible), "nothing\n", "a program read what it must not: {}", visible["stderr"]);
    assert_eq!(visible["verdict"], "accepted", "the checker read what it must not: {view}");
    assert_eq!(view["tests"][1]["verdict"], "accepted", "the checker of a hidden test read what it must not: {view}");

    // An interactive problem's runner holds the answers during the runs: the interactor beside
    // the program finds only its own test's answer, and the program none.
    // Both report on stderr (their stdouts are each other's); the interactor's output file is its
    // own answer, so the test passes unless it found something.
    let quiet = "import sys\nsys.stdout = sys.stderr\n";
    let interactor = format!("{quiet}open(sys.argv[2], 'w').write(open(sys.argv[3]).read())\n{checker}");
    let view = api
        .judge(json!({"language": "python", "code": format!("{quiet}{scan}"),
        "limits": {"time_ms": 8000, "wall_time_ms": 15000},
        "interactor": {"language": "python", "code": interactor},
        "tests": [
            {"input": "", "expected_output": format!("{}\n", answers[0])},
            {"input": "", "expected_output": format!("{}\n", answers[1]), "hidden": true},
        ]}))
        .await;
    let visible = &view["tests"][0];
    let said = visible["stderr"].as_str().unwrap_or_default();
    assert_eq!(said, "nothing\n", "a program beside an interactor read what it must not: {said}");
    assert_eq!(visible["verdict"], "accepted", "the interactor read what it must not: {view}");
    assert_eq!(
        view["tests"][1]["verdict"], "accepted",
        "the interactor of a hidden test read what it must not: {view}"
    );
}

async fn nothing_crosses_from_one_test_to_the_next(api: &Api) {
    let secret = marker("hidden-stdin");
    let code = r#"
import os, sys
data = sys.stdin.read()
places = ['/tmp', '/var/tmp', '/dev/shm', '/run/lock', os.environ.get('TMPDIR', '/tmp'), os.environ.get('HOME', '/tmp'), '.']
for d in places:
    path = os.path.join(d, 'gavel-leak')
    if data:
        try:
            with open(path, 'w') as f:
                f.write(data)
            os.chmod(path, 0o666)
        except OSError:
            pass
    else:
        try:
            with open(path) as f:
                print(d, f.read().strip())
        except OSError:
            pass
print('done')
"#;
    let view = api
        .judge(json!({"language": "python", "code": code, "tests": [
            {"input": format!("{secret}\n"), "hidden": true},
            {"input": ""},
        ]}))
        .await;
    let second = &view["tests"][1];
    assert!(
        stdout(second).ends_with("done\n") && !stdout(second).contains(&secret),
        "the hidden input crossed: {view}"
    );
}

async fn a_planted_report_is_not_believed(api: &Api, seen: &Seen) {
    let code = format!(
        r#"
import glob, json, os
forged = json.dumps({{"forged": "FORGED"}})
dirs = glob.glob('{}/blobs/jobs/*') + ['/job/out', os.path.dirname(os.getcwd())]
planted = 0
for d in dirs:
    for name in ('report.json', 'report.json.partial'):
        try:
            with open(os.path.join(d, name), 'w') as f:
                f.write(forged)
            planted += 1
        except OSError:
            pass
    try:
        os.symlink('/dev/zero', os.path.join(d, 'report.json'))
        planted += 1
    except OSError:
        pass
print('planted', planted)
"#,
        seen.data_dir
    );
    let view = api.run("python", &code, "").await;
    assert_eq!(view["verdict"], "accepted", "{view}");
    assert_eq!(stdout(first(&view)), "planted 0\n", "the program could write where reports go: {view}");
}

async fn resource_bombs_meet_their_limits(api: &Api) {
    let memory = "x = []\nwhile True:\n    x.append(bytearray(b'z' * (1 << 26)))";
    let view = api.judge(json!({"language": "python", "code": memory, "limits": {"memory_mb": 64}})).await;
    assert_eq!(view["verdict"], "memory_limit_exceeded", "{view}");
    // Memory in the kernel: bytes written into unix sockets and never read, by four processes.
    let sockets = r#"
import os, socket, time
for _ in range(4):
    if os.fork() == 0:
        break
else:
    for _ in range(4):
        os.wait()
    raise SystemExit
keep = []
try:
    while True:
        a, b = socket.socketpair()
        a.setblocking(False)
        keep.append((a, b))
        try:
            while True:
                a.send(b'x' * 65536)
        except BlockingIOError:
            pass
except OSError:
    pass
time.sleep(20)
"#;
    let view = api
        .judge(json!({"language": "python", "code": sockets, "limits": {"memory_mb": 48, "wall_time_ms": 10000}}))
        .await;
    assert_eq!(view["verdict"], "memory_limit_exceeded", "{view}");
    let fork = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass";
    let view = api
        .judge(json!({"language": "python", "code": fork, "limits": {"time_ms": 2000, "wall_time_ms": 3000, "processes": 32}}))
        .await;
    assert_ne!(view["verdict"], "accepted", "{view}");
    let flood = "import os\nwhile True:\n    os.write(1, b'x' * 65536)\n    os.write(2, b'e' * 65536)";
    let view = api.judge(json!({"language": "python", "code": flood, "limits": {"output_kb": 16}})).await;
    assert_eq!(view["verdict"], "output_limit_exceeded", "{view}");
    assert!(
        stdout(first(&view)).len() <= 16 * 1024 && first(&view)["stderr"].as_str().map_or(0, str::len) <= 16 * 1024
    );
}

async fn the_server_is_out_of_reach(api: &Api, seen: &Seen) {
    let code = format!(
        "import socket\ntry:\n    socket.create_connection(('127.0.0.1', {}), timeout=2)\n    print('connected')\n\
         except OSError as e:\n    print('blocked', type(e).__name__)",
        seen.port
    );
    let view = api.run("python", &code, "").await;
    assert!(stdout(first(&view)).starts_with("blocked"), "the program reached the server: {view}");
}

/// The port of a server at `base` (`http://127.0.0.1:PORT`).
pub fn port_of(base: &str) -> u16 {
    base.rsplit(':').next().and_then(|port| port.parse().ok()).expect("a port in the server's address")
}

/// A server on a fresh data dir with [`SECRET_VAR`] in its environment, started with `args` and
/// `env`, and what its programs see of it.
pub fn with_secret(args: &[&str], env: &[(&str, &str)]) -> (tempfile::TempDir, Server, Seen) {
    let dir = data_dir();
    let secret = marker("server-secret");
    let mut env = env.to_vec();
    env.push((SECRET_VAR, &secret));
    let server = Server::start_with(dir.path(), args, &env);
    let seen = Seen { data_dir: dir.path().display().to_string(), port: port_of(&server.base), secret };
    (dir, server, seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hostile_suite_in_the_full_mode() {
    let (_dir, server, seen) = with_secret(&[], &[]);
    let (_, health) = server.get("/health").await;
    assert_eq!((&health["isolation"]["level"], &health["policy"]), (&json!("full"), &json!("full")), "{health}");
    suite(&server, &seen).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn orphaned_setsid_grandchild_is_killed() {
    let (_dir, server) = fresh();
    let marker = format!("gavel-orphan-{}", uuid::Uuid::new_v4().simple());
    let code = format!(
        "import os, sys\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        os.execv('/bin/sh', ['sh', '-c', 'sleep 600; echo {marker}'])\n    os._exit(0)\nprint('parent done')"
    );
    let view = server.run("python", &code, "").await;
    assert_eq!(view["verdict"], "accepted", "{view}");
    // The job is over, so its whole tree must already be gone; allow the kernel a moment to reap.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !processes_with(&marker).is_empty() {
        assert!(std::time::Instant::now() < deadline, "the orphan survived: {:?}", processes_with(&marker));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    still_serves(&server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn vsock_sockets_and_the_shadow_file_are_refused() {
    let (_dir, server) = fresh();
    let code = "import socket\ntry:\n    socket.socket(40, socket.SOCK_STREAM)\n    print('vsock open')\nexcept OSError as e:\n    print('refused', e.errno)\ntry:\n    open('/etc/shadow').read()\n    print('shadow read')\nexcept OSError:\n    print('no shadow')";
    let view = server.run("python", code, "").await;
    let out = stdout(first(&view));
    assert!(out.starts_with("refused") && out.ends_with("no shadow\n"), "{view}");
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_every_result_say_which_isolation_ran() {
    let (_dir, server) = fresh();
    let (status, health) = server.get("/health").await;
    assert_eq!(status, 200, "{health}");
    let view = server.run("python", "print('x')", "").await;
    assert_eq!(view["isolation"], health["isolation"], "the report says which isolation ran");
}
