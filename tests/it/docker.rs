//! The Docker launcher end to end: `gavel serve --launcher docker` runs every job in a fresh
//! container of its language's runner image (built by infra/scripts/build-images.sh), contains
//! hostile programs, and leaves no container behind, not even after a crash. Without a daemon or
//! the images these tests fail, saying what to start or build.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use gavel_core::isolation::IsolationPolicy;
use gavel_core::job::JobId;
use gavel_core::limits::{LimitsInput, ServerLimits};
use gavel_core::ports::{LaunchError, RunnerTask, TaskLauncher};
use gavel_core::runner::{Bundle, BundleTest};
use gavel_local::{DockerTaskLauncher, ImageNames};
use serde_json::{Value, json};

use crate::harness::{Server, data_dir, root};
use crate::hostile;
use crate::languages::{self, ALL, Programs, single};

/// The images the server uses: `GAVEL_IMAGE_PREFIX` and `GAVEL_IMAGE_TAG` reach it as they
/// reach these tests (and build-images.sh).
pub fn images() -> ImageNames {
    let var = |name, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    ImageNames {
        prefix: var("GAVEL_IMAGE_PREFIX", gavel_local::DEFAULT_IMAGE_PREFIX),
        tag: var("GAVEL_IMAGE_TAG", gavel_local::DEFAULT_IMAGE_TAG),
    }
}

/// `docker ARGS`: its success and stdout.
pub fn docker(args: &[&str]) -> (bool, String) {
    let output = Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("cannot run the docker CLI ({err}): apt-get install docker.io"));
    (output.status.success(), String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Fails (never skips) unless the daemon answers and the images of `languages` are present.
pub fn require(languages: &[&str]) {
    let (running, _) = docker(&["info", "--format", "{{.ServerVersion}}"]);
    assert!(running, "the Docker daemon is unreachable: start it (`setsid dockerd >/tmp/dockerd.log 2>&1 &`)");
    let names = images();
    let missing: Vec<&str> = languages
        .iter()
        .copied()
        .filter(|id| !docker(&["image", "inspect", "--format", "{{.Id}}", &names.for_language(id)]).0)
        .collect();
    assert!(
        missing.is_empty(),
        "runner images missing: {}; build them with `{} {}`",
        missing.iter().map(|id| names.for_language(id)).collect::<Vec<_>>().join(", "),
        gavel_local::BUILD_IMAGES,
        missing.join(" ")
    );
}

fn start(dir: &Path) -> Server {
    Server::start_with(dir, &["--launcher", "docker"], &[])
}

/// The label value of a data directory's containers.
fn server_label(dir: &Path) -> String {
    let dir = std::fs::canonicalize(dir).expect("canonical data dir");
    format!("{}={}", gavel_local::SERVER_LABEL, dir.display())
}

/// Ids of the containers with `label` (`key=value`), running or not.
fn containers_with(label: &str) -> Vec<String> {
    let (listed, ids) = docker(&["ps", "--all", "--quiet", "--no-trunc", "--filter", &format!("label={label}")]);
    assert!(listed, "docker ps failed");
    ids.lines().map(str::to_owned).collect()
}

/// Fails unless the server of `dir` has no container left (removal may trail the result).
async fn none_left(dir: &Path) {
    let label = server_label(dir);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = containers_with(&label);
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "containers left behind: {left:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A data dir whose containers are force-removed at the end, however the test ends (the
/// assertions check that nothing was left before this runs).
struct DataDir {
    dir: tempfile::TempDir,
}

impl DataDir {
    fn new() -> DataDir {
        DataDir { dir: crate::harness::data_dir() }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        for id in containers_with(&server_label(self.path())) {
            docker(&["rm", "--force", "--volumes", &id]);
        }
    }
}

/// Hello world, accepted and wrong answers, a compile error, a time limit and the memory limit
/// (held by the runner's watch: no cgroup of its own in a container), each in a container.
async fn in_containers(p: &Programs) {
    require(&[p.language]);
    let dir = DataDir::new();
    let server = start(dir.path());
    languages::hello(&server, p).await;
    languages::judged(&server, p).await;
    languages::compile_error(&server, p).await;
    languages::time_limit(&server, p).await;
    languages::memory_limit(&server, p).await;
    none_left(dir.path()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn python() {
    in_containers(&languages::PYTHON).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn javascript() {
    in_containers(&languages::JAVASCRIPT).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cpp() {
    in_containers(&languages::CPP).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn c() {
    in_containers(&languages::C).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn csharp() {
    in_containers(&languages::CSHARP).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn java() {
    in_containers(&languages::JAVA).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn go() {
    in_containers(&languages::GO).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rust() {
    in_containers(&languages::RUST).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn typescript() {
    in_containers(&languages::TYPESCRIPT).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ruby() {
    in_containers(&languages::RUBY).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bash() {
    in_containers(&languages::BASH).await;
}

/// `/languages` lists what the images offer, `/health` the isolation a job's container gets, and
/// a job's report says the same.
#[tokio::test(flavor = "multi_thread")]
async fn languages_and_health_come_from_the_images() {
    let ids: Vec<&str> = ALL.iter().map(|p| p.language).collect();
    require(&ids);
    let dir = DataDir::new();
    let server = start(dir.path());
    let (_, listed) = server.get("/languages").await;
    for lang in listed.as_array().expect("a list") {
        let id = lang["id"].as_str().expect("id");
        let (_, label) = docker(&[
            "image",
            "inspect",
            "--format",
            &format!("{{{{ index .Config.Labels \"{}\" }}}}", gavel_local::TOOLCHAIN_LABEL),
            &images().for_language(id),
        ]);
        assert_eq!(lang["available"], true, "{lang}");
        assert_eq!(lang["version"], label.as_str(), "the version is the image's toolchain label: {lang}");
    }
    let (_, health) = server.get("/health").await;
    let isolation = &health["isolation"];
    assert_eq!(isolation["level"], if root() { "container" } else { "insecure" }, "{health}");
    assert_eq!((&isolation["uid_drop"], &isolation["landlock"]), (&json!(root()), &json!(true)), "{health}");
    let notes = isolation["notes"].to_string();
    assert!(notes.contains("Docker container") && notes.contains("no network"), "{health}");
    let view = server.run("python", "print('x')", "").await;
    assert_eq!(view["isolation"]["level"], isolation["level"], "{view}");
    assert_eq!(view["isolation"]["uid_drop"], isolation["uid_drop"], "{view}");
    assert_eq!(
        view["isolation"]["notes"].as_array().and_then(|n| n.last()),
        isolation["notes"].as_array().and_then(|n| n.last())
    );
    none_left(dir.path()).await;
}

/// Without its image a language is unavailable (422 at submission), and /health says why.
#[tokio::test(flavor = "multi_thread")]
async fn without_images_nothing_is_available_and_health_says_why() {
    require(&[]);
    let dir = DataDir::new();
    let server =
        Server::start_with(dir.path(), &["--launcher", "docker", "--image-prefix", "gavel-no-such-image-"], &[]);
    let (_, listed) = server.get("/languages").await;
    assert!(listed.as_array().expect("a list").iter().all(|lang| lang["available"] == false), "{listed}");
    let (status, answer) = server.post_json("/execute", &json!({"language": "python", "code": "print(1)"})).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (422, Some("language_unavailable")), "{answer}");
    let (_, health) = server.get("/health").await;
    assert!(health["isolation"]["notes"].to_string().contains(gavel_local::BUILD_IMAGES), "{health}");
}

fn first(view: &Value) -> &str {
    single(view)["stdout"].as_str().expect("stdout")
}

/// The hostile suite in the Docker launcher's containers, with Landlock and without it (as on a
/// kernel that lacks it, like Fargate's), plus what only a job's container has: its network, the
/// bundle and report mounts, the engine's own memory limit. No container is left.
#[tokio::test(flavor = "multi_thread")]
async fn the_hostile_suite_in_job_containers() {
    require(&["python"]);
    for env in [&[][..], &[("GAVEL_SANDBOX_NO_LANDLOCK", "1")][..]] {
        let (dir, server, seen) = hostile::with_secret(&["--launcher", "docker"], env);
        let (_, health) = server.get("/health").await;
        assert_eq!(health["isolation"]["landlock"], json!(env.is_empty()), "{health}");
        assert_eq!(health["policy"], "container", "{health}");
        hostile::suite(&server, &seen).await;
        in_the_job_container(&server).await;
        none_left(dir.path()).await;
    }
}

/// The custom checkers of `crate::checkers` in job containers: a C++ checker in the Python
/// image and a Python one in the C++ image (every image carries both), with the same results.
#[tokio::test(flavor = "multi_thread")]
async fn custom_checkers_in_job_containers() {
    require(&["python", "cpp"]);
    let dir = data_dir();
    let server = start(dir.path());
    server.judge_all(crate::checkers::CHECKED).await;
    none_left(dir.path()).await;
}

/// The interactive problems of `crate::interactors` in job containers: the interactor in a
/// sandbox of its own beside the solution's, inside the job's one container.
#[tokio::test(flavor = "multi_thread")]
async fn interactive_problems_in_job_containers() {
    require(&["python", "cpp"]);
    let dir = data_dir();
    let server = start(dir.path());
    server.judge_all(crate::interactors::INTERACTIVE).await;
    none_left(dir.path()).await;
}

async fn in_the_job_container(server: &Server) {
    let judge = |code: &str, limits: Value| server.judge(json!({"language": "python", "code": code, "limits": limits}));
    // Shared memory is not the program's own: the watch counts it, the engine's limit backs it.
    let shared_bomb = "import mmap\nchunk = b'z' * (1 << 20)\nkeep = []\nwhile True:\n\
                       \x20   m = mmap.mmap(-1, 1 << 24)\n    for i in range(0, 1 << 24, 1 << 20):\n\
                       \x20       m[i:i + (1 << 20)] = chunk\n    keep.append(m)";
    let view = judge(shared_bomb, json!({"memory_mb": 64, "time_ms": 10000, "wall_time_ms": 20000})).await;
    assert_eq!(view["verdict"], "memory_limit_exceeded", "{}", languages::brief(&view));

    // The container has no network but loopback, and the program no socket but AF_UNIX.
    let network = "import socket\nfor family in (socket.AF_INET, socket.AF_NETLINK, socket.AF_PACKET):\n\
                   \x20   try:\n        socket.socket(family, socket.SOCK_RAW if family != socket.AF_INET else socket.SOCK_STREAM)\n\
                   \x20       print('opened', family)\n    except OSError as e:\n        print('refused', e.errno)";
    let view = server.run("python", network, "").await;
    assert_eq!(first(&view), "refused 1\nrefused 1\nrefused 1\n", "{view}");

    // The runner's neighbourhood: the bundle holds every test's input, /job/out is where the
    // report goes, /proc/1 is the runner.
    let neighbour = r#"
import os
for path in ['/job/bundle.json', '/proc/1/environ', '/proc/1/mem', '/job/out/report.json']:
    try:
        with open(path, 'rb') as f:
            print(path, 'READ', len(f.read(100)))
    except OSError as e:
        print(path, 'denied', e.errno)
print('uid', os.getuid())
"#;
    let view = server.run("python", neighbour, "").await;
    let out = first(&view);
    assert!(!out.contains("READ") && !out.contains("uid 0\n"), "{view}");
    assert_eq!(view["verdict"], "accepted", "{view}");
}

/// A server killed mid-job leaves its container; the next server on the data dir removes it
/// before anything else, and runs the job again.
#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_server_reaps_what_a_killed_one_left() {
    require(&["python"]);
    let dir = DataDir::new();
    let server = start(dir.path());
    let code = "import time\ntime.sleep(60)";
    let id = server.submit(json!({"language": "python", "code": code, "limits": {"wall_time_ms": 4000}})).await;
    let job_label = format!("{}={id}", gavel_local::JOB_LABEL);
    let deadline = Instant::now() + Duration::from_secs(60);
    let orphan = loop {
        if let Some(container) = containers_with(&job_label).pop() {
            break container;
        }
        assert!(Instant::now() < deadline, "the job's container never appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    server.kill9();
    assert!(containers_with(&job_label).contains(&orphan), "the container vanished with its server");

    let server = start(dir.path());
    assert!(!containers_with(&job_label).contains(&orphan), "the orphan {orphan} survived the restart");
    let view = server.wait(&id, Duration::from_secs(120)).await;
    assert_eq!(view["verdict"], "time_limit_exceeded", "the job ran again: {view}");
    none_left(dir.path()).await;
}

/// The launcher itself: a missing image fails the job naming the command that builds it, and a
/// runner past its deadline is killed with its container.
#[tokio::test(flavor = "multi_thread")]
async fn the_launcher_fails_clearly_and_cleans_up() {
    require(&["python"]);
    let dir = DataDir::new();
    let limits = ServerLimits::default();
    let bundle = Bundle {
        job_id: JobId::new(),
        language: "python".into(),
        source: "import time\ntime.sleep(60)".into(),
        limits: limits.resolve(&LimitsInput { wall_time_ms: Some(30_000), ..LimitsInput::default() }).expect("limits"),
        compile_limits: limits.compile,
        tests: vec![BundleTest::text("")],
        stop_on_first_failure: false,
        output_budget_bytes: limits.resolve_output_budget(&LimitsInput::default()).expect("budget"),
        args: Vec::new(),
        streams: Default::default(),
        files: Vec::new(),
        compile_options: Vec::new(),
        groups: Vec::new(),
        interactive: false,
    };
    let bundle_path = dir.path().join("bundle.json");
    std::fs::write(&bundle_path, serde_json::to_vec(&bundle).expect("json")).expect("write the bundle");
    let task = |language: &str| RunnerTask {
        job_id: bundle.job_id.clone(),
        language: language.to_owned(),
        bundle_url: format!("file://{}", bundle_path.display()),
        report_url: format!("file://{}", report_path(dir.path()).display()),
        judge_data_url: None,
    };

    let missing = ImageNames { prefix: "gavel-no-such-image-".into(), ..images() };
    let launcher =
        DockerTaskLauncher::connect(missing, dir.path(), Duration::from_secs(60), IsolationPolicy::Container)
            .await
            .expect("connect");
    launcher.reap_orphans().await.expect("reap");
    let err = launcher.launch(&task("python")).await.expect_err("no image");
    let LaunchError::Fatal(message) = err else { panic!("a missing image is fatal: {err}") };
    assert!(message.contains("gavel-no-such-image-python") && message.contains(gavel_local::BUILD_IMAGES), "{message}");

    let launcher =
        DockerTaskLauncher::connect(images(), dir.path(), Duration::from_secs(2), IsolationPolicy::Container)
            .await
            .expect("connect");
    let started = Instant::now();
    let err = launcher.launch(&task("python")).await.expect_err("deadline");
    assert!(matches!(err, LaunchError::Fatal(ref m) if m.contains("did not finish")), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
    assert!(!report_path(dir.path()).exists(), "a killed runner has no report");
    none_left(dir.path()).await;
    let runs = std::fs::read_dir(dir.path().join("docker")).expect("the containers' directories").count();
    assert_eq!(runs, 0, "the job's bind-mount directory is left");
}

fn report_path(dir: &Path) -> PathBuf {
    dir.join("report.json")
}
