//! The Docker launcher's settings, decided without a daemon.

use gavel_core::job::JobId;

use super::settings::{CAPABILITIES, MIN_TMPFS, PIDS_MARGIN, RUNNER_MEMORY};
use super::*;

fn limits(memory_mb: u64, processes: u32) -> Limits {
    Limits { time_ms: 1000, wall_time_ms: 2000, memory_mb, output_kb: 1024, processes }
}

fn root() -> Containers {
    Containers {
        server: "/srv/gavel-data".into(),
        policy: IsolationPolicy::Container,
        sandbox_env: vec!["GAVEL_SANDBOX_NO_LANDLOCK=1".into()],
        user: "0:0".into(),
    }
}

#[test]
fn images_are_named_by_prefix_language_and_tag() {
    assert_eq!(ImageNames::default().for_language("python"), "gavel-python:latest");
    let names = ImageNames { prefix: "team/gavel-".into(), tag: "v2".into() };
    assert_eq!(names.for_language("cpp"), "team/gavel-cpp:v2");
}

#[test]
fn resources_follow_the_limits_and_the_compile_step_only_where_there_is_one() {
    let interpreted = Resources::for_job(&limits(128, 32), None, 2, u64::MAX, 1000);
    assert_eq!(interpreted.tmpfs_bytes, 128 << 20);
    assert_eq!(interpreted.pids, 32 + PIDS_MARGIN);
    let runner = RUNNER_MEMORY + 2000 + 2 * 2 * 2 * (1024 << 10);
    assert_eq!(interpreted.memory_bytes, i64::try_from((256 << 20) + runner).expect("fits"));

    let compiled = Resources::for_job(&limits(128, 32), Some(&limits(1024, 64)), 2, u64::MAX, 1000);
    assert_eq!(compiled.tmpfs_bytes, 1024 << 20);
    assert_eq!(compiled.pids, 64 + PIDS_MARGIN);
    assert!(compiled.memory_bytes > 2048 << 20, "{compiled:?}");

    let tiny = Resources::for_job(&limits(16, 1), None, 1, u64::MAX, 10);
    let budgeted = Resources::for_job(&limits(128, 32), None, 100, 1 << 20, 1000);
    assert_eq!(budgeted.memory_bytes, i64::try_from((256 << 20) + RUNNER_MEMORY + 2000 + 2 * (1 << 20)).expect("fits"));
    assert_eq!(tiny.tmpfs_bytes, MIN_TMPFS);
}

#[test]
fn a_root_container_is_locked_down_but_for_the_uid_drop() {
    let resources = Resources { memory_bytes: 300 << 20, tmpfs_bytes: 100 << 20, pids: 40 };
    let body = root().body("gavel-python:latest", vec!["probe".into()], &resources, Vec::new(), "job-1");
    let host = body.host_config.expect("host config");
    assert_eq!(body.user.as_deref(), Some("0:0"));
    assert_eq!(body.env, Some(vec!["GAVEL_ISOLATION=container".to_owned(), "GAVEL_SANDBOX_NO_LANDLOCK=1".to_owned()]));
    assert_eq!(host.network_mode.as_deref(), Some("none"));
    assert_eq!((host.memory, host.memory_swap), (Some(300 << 20), Some(300 << 20)), "no swap");
    assert_eq!((host.pids_limit, host.nano_cpus), (Some(40), Some(1_000_000_000)));
    assert_eq!(host.readonly_rootfs, Some(true));
    let tmp = host.tmpfs.expect("tmpfs")["/tmp"].clone();
    assert!(tmp.contains(",exec,") && tmp.ends_with(&format!("size={}", 100 << 20)), "{tmp}");
    assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
    assert_eq!(host.cap_add, Some(CAPABILITIES.map(str::to_owned).to_vec()));
    assert_eq!(host.security_opt, Some(vec!["no-new-privileges".to_owned()]));
    assert_eq!(host.auto_remove, Some(false));
    let labels = body.labels.expect("labels");
    assert_eq!((labels[JOB_LABEL].as_str(), labels[SERVER_LABEL].as_str()), ("job-1", "/srv/gavel-data"));
}

#[test]
fn a_container_of_a_user_server_runs_as_that_user_without_capabilities() {
    let user = Containers { user: "1000:1000".into(), ..root() };
    let resources = Resources { memory_bytes: 1 << 30, tmpfs_bytes: 1 << 29, pids: 72 };
    let body = user.body("gavel-c:latest", Vec::new(), &resources, Vec::new(), "job-2");
    assert_eq!(body.user.as_deref(), Some("1000:1000"));
    assert_eq!(body.host_config.and_then(|h| h.cap_add), Some(Vec::new()));
    let notes =
        user.isolation(Isolation { seccomp: true, ..Isolation::boundary(IsolationLevel::Insecure, Vec::new()) });
    assert!(notes.notes[0].contains("uid:gid 1000:1000 without capabilities"), "{notes:?}");
}

#[test]
fn reports_say_what_the_container_adds_and_unreadable_ones_pass_as_they_are() {
    let report = Report {
        job_id: JobId::new(),
        isolation: root().isolation(Isolation {
            seccomp: true,
            uid_drop: true,
            ..Isolation::boundary(IsolationLevel::Container, vec!["runner note".into()])
        }),
        compile: None,
        tests: Vec::new(),
        error: None,
        checker_compile: None,
        interactor_compile: None,
    };
    let mut plain = report.clone();
    plain.isolation.notes.truncate(1);
    let annotated: Report =
        serde_json::from_slice(&root().annotate_report(serde_json::to_vec(&plain).expect("json"))).expect("report");
    assert_eq!(annotated, report);
    assert!(annotated.isolation.notes[1].contains("no network") && annotated.isolation.notes[1].contains("KILL"));
    assert_eq!(root().annotate_report(b"garbage".to_vec()), b"garbage");
}

#[test]
fn unavailable_daemons_are_retried_refusals_are_not() {
    let busy = DockerError::DockerResponseServerError { status_code: 503, message: "busy".into() };
    assert!(matches!(launch_error("x", busy), LaunchError::Retryable(_)));
    assert!(matches!(launch_error("x", DockerError::RequestTimeoutError), LaunchError::Retryable(_)));
    let refused = DockerError::DockerResponseServerError { status_code: 400, message: "bad tmpfs".into() };
    assert!(matches!(launch_error("x", refused), LaunchError::Fatal(m) if m.contains("bad tmpfs")));
}

#[test]
fn only_file_locations_can_be_mounted() {
    assert_eq!(
        local_path("file:///data/blobs/jobs/1/bundle.json"),
        Ok(PathBuf::from("/data/blobs/jobs/1/bundle.json"))
    );
    assert!(matches!(local_path("http://127.0.0.1:9000/bundle.json"), Err(LaunchError::Fatal(_))));
}
