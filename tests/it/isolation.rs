//! The isolation policy, enforced: the hostile suite in every mode `gavel serve` agrees to run in
//! beyond the full one (`hostile` runs that), and a refusal that names the fix wherever a policy
//! cannot be met.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::docker::{docker, images, require};
use crate::harness::{Api, Server, binary, data_dir, processes_with, root, serve_command};
use crate::hostile::{self, SECRET_VAR, Seen};

const FORCE_DEGRADED: (&str, &str) = ("GAVEL_SANDBOX_FORCE_DEGRADED", "1");
const NO_LANDLOCK: (&str, &str) = ("GAVEL_SANDBOX_NO_LANDLOCK", "1");
/// A user of no account here, outside the sandbox's own uids (61000 and up).
const USER: u32 = 59999;

fn require_root(what: &str) {
    assert!(root(), "{what} needs root (to start a server as another user, or Docker): run the tests as root");
}

/// Why `gavel serve` with `args` and `env` refused to start (a test failure if it started).
fn refusal(command: Command) -> String {
    match Server::spawn(command) {
        Ok(server) => panic!("gavel serve started at {} where it must refuse", server.base),
        Err(why) => why,
    }
}

/// Root without namespaces: the container level, as an unprivileged container gives it, forced.
#[tokio::test(flavor = "multi_thread")]
async fn the_hostile_suite_at_the_container_level() {
    require_root("the container level");
    let (_dir, server, seen) = hostile::with_secret(&["--isolation", "container"], &[FORCE_DEGRADED]);
    let (_, health) = server.get("/health").await;
    let isolation = &health["isolation"];
    assert_eq!((&isolation["level"], &health["policy"]), (&json!("container"), &json!("container")), "{health}");
    assert_eq!((&isolation["landlock"], &isolation["uid_drop"]), (&json!(true), &json!(true)), "{health}");
    // The host's /proc is visible here, so the runner must have wiped where its report goes.
    let code = "import glob\nseen = []\nfor path in glob.glob('/proc/[0-9]*/cmdline') + glob.glob('/proc/[0-9]*/environ'):\n    try:\n        if b'report.json' in open(path, 'rb').read():\n            seen.append(path)\n    except OSError:\n        pass\nprint('seen', seen)";
    let view = server.run("python", code, "").await;
    assert_eq!((&view["isolation"]["level"], &view["tests"][0]["stdout"]), (&json!("container"), &json!("seen []\n")));
    hostile::suite(&server, &seen).await;
}

#[test]
fn a_policy_the_host_cannot_meet_is_refused_with_the_fix() {
    require_root("starting servers without namespaces");
    let dir = data_dir();
    let why = refusal(serve_command(dir.path(), &[], &[FORCE_DEGRADED]));
    for fix in ["`full`", "namespaces", "--isolation container", "--launcher docker"] {
        assert!(why.contains(fix), "{fix} missing from: {why}");
    }
    let why = refusal(serve_command(dir.path(), &["--isolation", "container"], &[FORCE_DEGRADED, NO_LANDLOCK]));
    assert!(why.contains("Landlock") && why.contains("side by side"), "{why}");
    let why = refusal(serve_command(dir.path(), &["--isolation", "paranoid"], &[]));
    assert!(why.contains("full, container, insecure"), "{why}");
    // The insecure policy runs anything, and says so.
    let server = Server::start_with(dir.path(), &["--isolation", "insecure"], &[FORCE_DEGRADED, NO_LANDLOCK]);
    drop(server);
}

#[test]
fn a_data_directory_others_can_reach_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().expect("tempdir");
    let shared = parent.path().join("data");
    std::fs::create_dir(&shared).expect("mkdir");
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let why = refusal(serve_command(&shared, &[], &[]));
    assert!(why.contains("mode 755") && why.contains(&format!("chmod 700 {}", shared.display())), "{why}");
}

/// A cgroup delegated to [`USER`] (v1: memory, pids and cpuacct directories; v2: one directory
/// with both controllers), removed when dropped.
struct Delegated {
    dirs: Vec<PathBuf>,
}

impl Delegated {
    fn new() -> Delegated {
        let name = format!("gavel-test-{}", uuid::Uuid::new_v4().simple());
        let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        let dirs: Vec<PathBuf> = if v2 {
            std::fs::write("/sys/fs/cgroup/cgroup.subtree_control", "+memory +pids").expect("enable controllers");
            vec![Path::new("/sys/fs/cgroup").join(&name)]
        } else {
            ["memory", "pids", "cpuacct"].iter().map(|c| Path::new("/sys/fs/cgroup").join(c).join(&name)).collect()
        };
        for dir in &dirs {
            std::fs::create_dir(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
            for entry in
                std::iter::once(dir.clone()).chain(std::fs::read_dir(dir).expect("list").flatten().map(|e| e.path()))
            {
                std::os::unix::fs::lchown(&entry, Some(USER), Some(USER)).expect("chown to the user");
            }
        }
        Delegated { dirs }
    }

    /// Moves `pid` in (root does it: in v2 only the common ancestor's owner may).
    fn enter(&self, pid: u32) {
        for dir in &self.dirs {
            std::fs::write(dir.join("cgroup.procs"), pid.to_string()).expect("move into the delegated cgroup");
        }
    }
}

impl Drop for Delegated {
    fn drop(&mut self) {
        for dir in &self.dirs {
            // The runner's own leaf (v2) is left empty once the server is gone.
            let _ = std::fs::remove_dir(dir.join("gavel-runner"));
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// `gavel serve` as [`USER`], waiting on its stdin until it was moved into `cgroup`.
fn serve_as_user(data: &Path, cgroup: Option<&Delegated>, env: &[(&str, &str)]) -> Result<Server, String> {
    use std::os::unix::process::CommandExt;
    std::os::unix::fs::chown(data, Some(USER), Some(USER)).expect("the data dir is the user's");
    let serve = serve_command(data, &[], env);
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg("read go && exec \"$@\"")
        .arg("sh")
        .arg(serve.get_program())
        .args(serve.get_args())
        .envs(serve.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .uid(USER)
        .gid(USER)
        .stdin(Stdio::piped());
    Server::spawn_then(command, |child| {
        if let Some(cgroup) = cgroup {
            cgroup.enter(child.id());
        }
        child.stdin.take().expect("piped stdin").write_all(b"go\n").expect("let it start");
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hostile_suite_as_a_user_with_user_namespaces_and_a_delegated_cgroup() {
    require_root("starting a server as another user");
    let cgroup = Delegated::new();
    let dir = data_dir();
    let secret = format!("gavel-user-secret-{}", uuid::Uuid::new_v4().simple());
    let server =
        serve_as_user(dir.path(), Some(&cgroup), &[(SECRET_VAR, &secret)]).unwrap_or_else(|why| panic!("{why}"));
    let (_, health) = server.get("/health").await;
    let isolation = &health["isolation"];
    assert_eq!((&isolation["level"], &isolation["uid_drop"]), (&json!("full"), &json!(false)), "{health}");
    assert!(isolation["namespaces"].as_array().is_some_and(|ns| ns.contains(&json!("user"))), "{health}");
    let seen = Seen { data_dir: dir.path().display().to_string(), port: hostile::port_of(&server.base), secret };
    hostile::suite(&server, &seen).await;
}

#[test]
fn a_user_without_a_cgroup_or_namespaces_is_refused() {
    require_root("starting a server as another user");
    let dir = data_dir();
    let why = serve_as_user(dir.path(), None, &[]).err().expect("no cgroup is delegated to the user");
    assert!(why.contains("cgroup") && why.contains("Delegate=yes"), "{why}");
    let why = serve_as_user(dir.path(), None, &[FORCE_DEGRADED]).err().expect("no namespaces either");
    assert!(why.contains("namespaces") && why.contains("uid of the program's own"), "{why}");
}

/// `gavel serve` as root in a container of the offline base's Python runner image, as most
/// people deploy a judge: the engine's default seccomp profile and capabilities, no namespaces
/// for the runner, so the container is the boundary. The binaries are this build's.
struct ContainerServer {
    id: String,
    api: Api,
}

impl ContainerServer {
    fn start(policy: Option<&str>, secret: &str) -> Result<ContainerServer, String> {
        require(&["python"]);
        let mount = |name: &str| format!("{}:/usr/local/bin/{name}:ro", binary(name).display());
        let mut args = vec![
            "run".to_owned(),
            "--detach".to_owned(),
            "--user=0".to_owned(),
            "--publish=127.0.0.1::8080".to_owned(),
            format!("--env={SECRET_VAR}={secret}"),
            "--env=RUST_LOG=warn".to_owned(),
            format!("--volume={}", mount("gavel")),
            format!("--volume={}", mount("gavel-runner")),
            "--entrypoint=/usr/local/bin/gavel".to_owned(),
            images().for_language("python"),
            "serve".to_owned(),
            "--addr=0.0.0.0:8080".to_owned(),
            "--data-dir=/var/lib/gavel".to_owned(),
        ];
        args.extend(policy.map(|p| format!("--isolation={p}")));
        let (started, id) = docker(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(started, "docker run failed");
        let mut server = ContainerServer { id, api: Api::new(String::new()) };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, running) = docker(&["inspect", "--format", "{{.State.Running}}", &server.id]);
            let (_, port) = docker(&["port", &server.id, "8080/tcp"]);
            if running != "true" {
                let logs = Command::new("docker").args(["logs", &server.id]).output().expect("docker logs");
                return Err(String::from_utf8_lossy(&logs.stderr).into_owned());
            }
            if let Some(address) = port.lines().next().filter(|a| !a.is_empty()) {
                let base = format!("http://{address}");
                if std::net::TcpStream::connect(address).is_ok() && health_answers(&base) {
                    server.api = Api::new(base);
                    return Ok(server);
                }
            }
            assert!(Instant::now() < deadline, "the server in container {} did not answer", server.id);
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn health_answers(base: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import urllib.request; urllib.request.urlopen('{base}/health', timeout=2)")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Drop for ContainerServer {
    fn drop(&mut self) {
        if !self.id.is_empty() {
            docker(&["rm", "--force", "--volumes", &self.id]);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hostile_suite_with_the_process_launcher_in_a_container_as_root() {
    require_root("Docker");
    let secret = format!("gavel-container-secret-{}", uuid::Uuid::new_v4().simple());
    let why = tokio::task::spawn_blocking({
        let secret = secret.clone();
        move || ContainerServer::start(None, &secret).err().expect("full isolation is not to be had in a container")
    })
    .await
    .expect("join");
    assert!(why.contains("--isolation container"), "the refusal names the fix: {why}");
    let server = tokio::task::spawn_blocking({
        let secret = secret.clone();
        move || ContainerServer::start(Some("container"), &secret)
    })
    .await
    .expect("join")
    .unwrap_or_else(|why| panic!("gavel serve --isolation container refused in a container: {why}"));
    let (_, health) = server.api.get("/health").await;
    let isolation = &health["isolation"];
    assert_eq!((&isolation["level"], &isolation["landlock"]), (&json!("container"), &json!(true)), "{health}");
    let seen = Seen { data_dir: "/var/lib/gavel".into(), port: 8080, secret };
    hostile::suite(&server.api, &seen).await;
}

/// However the runner dies (a launcher's deadline kills it and its process group, which the
/// sandbox left), its job's processes die with it: the zygote, init, the program and whatever
/// the program started in a session of its own.
#[test]
fn a_killed_runner_takes_its_job_with_it() {
    require_root("the sandbox's uids");
    for env in [&[][..], &[FORCE_DEGRADED][..]] {
        let dir = tempfile::tempdir().expect("tempdir");
        let marker = format!("61.{}", uuid::Uuid::new_v4().as_u128() % 1_000_000_000);
        let code = format!(
            "import os, time\nif os.fork() == 0:\n    os.setsid()\n    os.execv('/bin/sleep', ['sleep', '{marker}'])\ntime.sleep(60)"
        );
        let limits = gavel_core::ServerLimits::default();
        let run_limits = limits
            .resolve(&gavel_core::limits::LimitsInput { wall_time_ms: Some(30_000), ..Default::default() })
            .expect("limits");
        let bundle = gavel_core::runner::Bundle {
            job_id: gavel_core::JobId::new(),
            language: "python".into(),
            source: code,
            limits: run_limits,
            compile_limits: limits.compile,
            tests: vec![gavel_core::runner::BundleTest::text("")],
            stop_on_first_failure: false,
            output_budget_bytes: 1 << 20,
            args: Vec::new(),
            streams: Default::default(),
            files: Vec::new(),
            compile_options: Vec::new(),
            groups: Vec::new(),
            interactive: false,
        };
        let bundle_path = dir.path().join("bundle.json");
        std::fs::write(&bundle_path, serde_json::to_vec(&bundle).expect("json")).expect("bundle");
        let mut runner = Command::new(binary("gavel-runner"))
            .args(["--bundle", &format!("file://{}", bundle_path.display())])
            .args(["--report", &format!("file://{}/report.json", dir.path().display())])
            .env("GAVEL_ISOLATION", "container")
            .envs(env.iter().copied())
            .spawn()
            .expect("start the runner");
        let deadline = Instant::now() + Duration::from_secs(30);
        while processes_with(&marker).is_empty() {
            assert!(Instant::now() < deadline, "the program never started");
            std::thread::sleep(Duration::from_millis(20));
        }
        // The zygote, the run's init, the program and its detached child.
        let job = descendants(runner.id());
        assert!(job.len() >= 4, "{env:?}: {job:?}");
        runner.kill().expect("kill -9 the runner");
        runner.wait().expect("reap");
        let deadline = Instant::now() + Duration::from_secs(5);
        while job.iter().any(|pid| alive(*pid)) {
            let left: Vec<_> = job.iter().filter(|pid| alive(**pid)).collect();
            assert!(Instant::now() < deadline, "{env:?}: the job outlived its runner: {left:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!dir.path().join("report.json").exists(), "a killed runner writes no report");
    }
}

/// Every process below `pid`.
fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut stack = vec![pid];
    while let Some(parent) = stack.pop() {
        let tasks = std::fs::read_dir(format!("/proc/{parent}/task")).into_iter().flatten().flatten();
        for task in tasks {
            let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                found.push(child);
                stack.push(child);
            }
        }
    }
    found
}

/// Whether `pid` is a live process (not gone, not a zombie).
fn alive(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X'))
}
