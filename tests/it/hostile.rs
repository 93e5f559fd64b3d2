//! Hostile programs are the normal case: each is contained, and the server still judges a benign
//! job correctly afterwards.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Server, fresh};

async fn still_serves(server: &Server) {
    let view = server.run("python", "print(int(input()) * 2)", "21\n").await;
    assert_eq!(view["verdict"], "accepted", "benign job after a hostile one: {view}");
    assert_eq!(view["tests"][0]["stdout"], "42\n");
}

fn first(view: &Value) -> &Value {
    &view["tests"][0]
}

/// Pids whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().chars().all(|c| c.is_ascii_digit()))
        .filter(|e| std::fs::read(e.path().join("cmdline")).is_ok_and(|c| String::from_utf8_lossy(&c).contains(marker)))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn fork_bomb_is_contained() {
    let (_dir, server) = fresh();
    let code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass";
    let view = server
        .judge(json!({"language": "python", "code": code, "limits": {"time_ms": 2000, "wall_time_ms": 3000, "processes": 32}}))
        .await;
    assert_ne!(view["verdict"], "accepted", "{view}");
    still_serves(&server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_bomb_is_contained() {
    let (_dir, server) = fresh();
    let code = "x = []\nwhile True:\n    x.append(bytearray(b'z' * (1 << 26)))";
    let view = server.judge(json!({"language": "python", "code": code, "limits": {"memory_mb": 64}})).await;
    assert_eq!(view["verdict"], "memory_limit_exceeded", "{view}");
    still_serves(&server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn output_flood_is_capped() {
    let (_dir, server) = fresh();
    let code = "import os\nwhile True:\n    os.write(1, b'x' * 65536)\n    os.write(2, b'e' * 65536)";
    let view = server.judge(json!({"language": "python", "code": code, "limits": {"output_kb": 16}})).await;
    assert_eq!(view["verdict"], "output_limit_exceeded", "{view}");
    assert!(first(&view)["stdout"].as_str().expect("stdout").len() <= 16 * 1024);
    assert!(first(&view)["stderr"].as_str().expect("stderr").len() <= 16 * 1024);
    still_serves(&server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cannot_reach_the_server_over_the_network() {
    let (_dir, server) = fresh();
    let port = server.base.rsplit(':').next().expect("port");
    let code = format!(
        "import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n    print('connected')\nexcept OSError as e:\n    print('blocked', type(e).__name__)"
    );
    let view = server.run("python", &code, "").await;
    let stdout = first(&view)["stdout"].as_str().expect("stdout");
    assert!(stdout.starts_with("blocked"), "the program reached the server: {view}");
    still_serves(&server).await;
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
async fn host_secrets_are_out_of_reach() {
    let dir = crate::harness::data_dir();
    let secret = format!("gavel-secret-{}", uuid::Uuid::new_v4().simple());
    let server = Server::start_with_env(dir.path(), &[("GAVEL_TEST_SECRET", secret.as_str())]);
    let code = r#"
import glob, os
def show(path):
    try:
        with open(path, 'rb') as f:
            print(path, 'READ', f.read()[:4000])
    except OSError as e:
        print(path, 'denied', type(e).__name__)
show('/etc/shadow')
for p in sorted(glob.glob('/proc/*/environ')):
    show(p)
print('env', dict(os.environ))
print('uid', os.getuid())
"#;
    let view = server.run("python", code, "").await;
    let stdout = first(&view)["stdout"].as_str().expect("stdout");
    assert!(stdout.contains("/etc/shadow denied"), "{stdout}");
    assert!(!stdout.contains(&secret), "the server's environment leaked: {stdout}");
    assert!(!stdout.contains("uid 0\n"), "the program ran as root: {stdout}");
    still_serves(&server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn vsock_sockets_are_refused() {
    let (_dir, server) = fresh();
    let code = "import socket\ntry:\n    socket.socket(40, socket.SOCK_STREAM)\n    print('vsock open')\nexcept OSError as e:\n    print('refused', e.errno)";
    let view = server.run("python", code, "").await;
    let stdout = first(&view)["stdout"].as_str().expect("stdout");
    assert!(stdout.starts_with("refused"), "{view}");
    still_serves(&server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn health_reports_full_isolation_as_root() {
    let (_dir, server) = fresh();
    let (status, health) = server.get("/health").await;
    assert_eq!(status, 200, "{health}");
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    assert_eq!(health["isolation"]["level"], if root { "full" } else { "degraded" }, "{health}");
    let view = server.run("python", "print('x')", "").await;
    assert_eq!(view["isolation"], health["isolation"], "the report says which isolation ran");
}

/// Where namespaces or cgroups cannot be had, the sandbox degrades and says so everywhere.
#[tokio::test(flavor = "multi_thread")]
async fn degraded_isolation_is_reported_and_still_enforces_limits() {
    let dir = crate::harness::data_dir();
    let server = Server::start_with_env(dir.path(), &[("GAVEL_SANDBOX_FORCE_DEGRADED", "1")]);
    let (_, health) = server.get("/health").await;
    assert_eq!(health["isolation"]["level"], "degraded", "{health}");
    assert!(!health["isolation"]["notes"].as_array().expect("notes").is_empty(), "degraded says why: {health}");

    let view = server.run("python", "print(input())", "still judged\n").await;
    assert_eq!(view["isolation"]["level"], "degraded", "{view}");
    assert_eq!(first(&view)["stdout"], "still judged\n");

    // The host's /proc is visible here, so the runner must have wiped where its report goes:
    // with that location a program could write its own report.
    let code = r#"
import glob
seen = []
for path in glob.glob('/proc/[0-9]*/cmdline') + glob.glob('/proc/[0-9]*/environ'):
    try:
        with open(path, 'rb') as f:
            if b'report.json' in f.read():
                seen.append(path)
    except OSError:
        pass
print('seen', seen)
"#;
    let view = server.run("python", code, "").await;
    assert_eq!(first(&view)["stdout"], "seen []\n", "{view}");

    let view = server
        .judge(json!({"language": "python", "code": "while True:\n    pass", "limits": {"time_ms": 500, "wall_time_ms": 3000}}))
        .await;
    assert_eq!(view["verdict"], "time_limit_exceeded", "{view}");
    let view = server
        .judge(json!({"language": "python", "code": "import time\ntime.sleep(30)", "limits": {"wall_time_ms": 1000}}))
        .await;
    assert_eq!(view["verdict"], "time_limit_exceeded", "{view}");
}
