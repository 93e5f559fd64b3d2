//! The embedded services over a stand-in runner: recovery, retries, leases, privacy, policy.

use std::future::Future;
use std::os::unix::fs::PermissionsExt;

use gavel_core::isolation::IsolationPolicy;
use gavel_core::job::{JobId, JobRecord, JobStatus};
use gavel_core::limits::ServerLimits;
use gavel_core::ports::{JobMessage, keys};
use gavel_core::request::{ExecuteRequest, TestCaseInput};
use gavel_core::usecases;
use gavel_core::verdict::Verdict;

use super::*;

const DEADLINE: Duration = Duration::from_secs(30);

/// The isolation the stand-in runner's probe reports.
const ISOLATION: &str = r#"{"level":"container","namespaces":[],"cgroup":null,"seccomp":true,"uid_drop":true,"pivot_root":false,"landlock":true,"notes":[]}"#;

/// A stand-in for gavel-runner: answers `probe` with [`ISOLATION`]; otherwise logs each start
/// to `runs`, optionally sleeps, then reports one test that printed "3". The job id comes
/// from the report path (jobs/<id>/report.json).
fn runner(dir: &Path, sleep_s: &str) -> PathBuf {
    let path = dir.join("runner.sh");
    let runs = dir.join("runs");
    let script = format!(
        r#"#!/bin/sh
if [ "$1" = probe ]; then echo '{ISOLATION}'; exit 0; fi
echo "$@" >> {runs}
sleep {sleep_s}
report="${{4#file://}}"
id=$(basename "$(dirname "$report")")
cat > "$report" <<JSON
{{"job_id":"$id","isolation":{ISOLATION},
"compile":null,"error":null,"tests":[{{"exit_code":0,"signal":null,"cpu_time_ms":1,"wall_time_ms":1,"memory_kb":1,
"stdout":{{"text":"3\n","encoding":"utf8"}},"stderr":{{"text":"","encoding":"utf8"}},"stdout_truncated":false,"stderr_truncated":false,"limit":null}}]}}
JSON
"#,
        runs = runs.display()
    );
    std::fs::write(&path, script).expect("write runner");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

fn runs(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("runs")).map(|runs| runs.lines().count()).unwrap_or(0)
}

fn config(dir: &Path, runner: PathBuf) -> LocalConfig {
    let mut config = LocalConfig::new(dir.join("data"), LauncherConfig::Process { runner }, IsolationPolicy::Container);
    config.workers.workers = 2;
    config
}

async fn submit(services: &Embedded) -> JobId {
    let request = ExecuteRequest {
        language: "python".into(),
        code: "print(3)".into(),
        tests: Some(vec![TestCaseInput {
            input: "1 2\n".into(),
            expected_output: Some("3\n".into()),
            ..TestCaseInput::default()
        }]),
        ..ExecuteRequest::default()
    };
    let (store, blobs, queue) = (services.job_store(), services.blob_store(), services.job_queue());
    let accepted = usecases::submit(&*store, &*blobs, &*queue, &ServerLimits::default(), request, Utc::now()).await;
    accepted.expect("submitted").job_id
}

/// Polls until `check` gives a value, or fails at the deadline.
async fn eventually<T, F: Future<Output = Option<T>>>(what: &str, mut check: impl FnMut() -> F) -> T {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn record(services: &Embedded, id: &JobId) -> JobRecord {
    services.store.get(id, Utc::now()).await.expect("get").expect("record")
}

async fn terminal(services: &Embedded, id: &JobId) -> JobRecord {
    eventually("a terminal job", || async { Some(record(services, id).await).filter(|r| r.status.is_terminal()) }).await
}

#[tokio::test]
async fn workers_run_submitted_jobs_to_completion() {
    let dir = tempfile::tempdir().expect("tempdir");
    let services = Embedded::open(config(dir.path(), runner(dir.path(), "0"))).await.expect("open");
    let pool = services.start();
    let ids = [submit(&services).await, submit(&services).await, submit(&services).await];
    for id in &ids {
        let done = terminal(&services, id).await;
        assert_eq!(done.status, JobStatus::Completed, "{done:?}");
        assert_eq!(done.result.map(|r| r.verdict), Some(Verdict::Accepted));
    }
    eventually("acks", || async { (services.queue.depth().await == Ok(0)).then_some(()) }).await;
    assert_eq!(runs(dir.path()), 3);
    pool.shutdown(DEADLINE).await;
}

#[tokio::test]
async fn a_runner_without_a_report_fails_the_job() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runner = dir.path().join("runner.sh");
    let script = format!("#!/bin/sh\nif [ \"$1\" = probe ]; then echo '{ISOLATION}'; exit 0; fi\nexit 2\n");
    std::fs::write(&runner, script).expect("write runner");
    std::fs::set_permissions(&runner, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let services = Embedded::open(config(dir.path(), runner)).await.expect("open");
    let pool = services.start();
    let done = terminal(&services, &submit(&services).await).await;
    assert_eq!((done.status, done.error.as_deref()), (JobStatus::Failed, Some("the runner exited without a report")));
    pool.shutdown(DEADLINE).await;
}

#[tokio::test]
async fn a_message_delivered_too_often_is_dead_lettered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let services = Embedded::open(config(dir.path(), runner(dir.path(), "0"))).await.expect("open");
    let id = JobId::new();
    services.store.create(&JobRecord::pending(id.clone(), "python", Utc::now())).await.expect("create");
    let message = JobMessage {
        job_id: id.clone(),
        language: "python".into(),
        bundle_key: keys::bundle(&id),
        judge_data_key: None,
    };
    services.queue.enqueue(&message).await.expect("enqueue");
    // Three deliveries whose consumers vanished (a zero lease is visible again at once).
    for _ in 0..3 {
        services.queue.lease(Duration::ZERO, Utc::now()).await.expect("lease").expect("a message");
    }
    let pool = services.start();
    let done = terminal(&services, &id).await;
    assert_eq!(done.status, JobStatus::Failed);
    assert!(done.error.as_deref().is_some_and(|e| e.starts_with("gave up after 3 attempts")), "{done:?}");
    eventually("the dead letter removed", || async { (services.queue.depth().await == Ok(0)).then_some(()) }).await;
    assert_eq!(runs(dir.path()), 0);
    pool.shutdown(DEADLINE).await;
}

#[tokio::test]
async fn heartbeats_keep_a_long_job_from_running_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = config(dir.path(), runner(dir.path(), "1"));
    config.workers.lease_for = Duration::from_millis(500);
    config.workers.heartbeat = Duration::from_millis(50);
    let services = Embedded::open(config).await.expect("open");
    let pool = services.start();
    let done = terminal(&services, &submit(&services).await).await;
    assert_eq!(done.status, JobStatus::Completed);
    pool.shutdown(DEADLINE).await;
    assert_eq!(runs(dir.path()), 1);
}

#[tokio::test]
async fn isolation_below_the_policy_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let full = LocalConfig { policy: IsolationPolicy::Full, ..config(dir.path(), runner(dir.path(), "0")) };
    let err = Embedded::open(full).await.err().expect("container isolation does not meet `full`");
    let text = err.to_string();
    assert!(text.contains("`full`") && text.contains("namespaces") && text.contains("cgroup"), "{text}");
    assert_eq!(runs(dir.path()), 0, "nothing ran");
    let insecure = LocalConfig { policy: IsolationPolicy::Insecure, ..config(dir.path(), runner(dir.path(), "0")) };
    let services = Embedded::open(insecure).await.expect("insecure takes anything");
    assert_eq!(services.isolation.level, gavel_core::isolation::IsolationLevel::Container);
}

#[tokio::test]
async fn a_data_directory_others_can_reach_is_refused_and_files_are_private() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), runner(dir.path(), "0"));
    let services = Embedded::open(config.clone()).await.expect("open");
    let mode = |path: &Path| std::fs::metadata(path).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&config.data_dir), 0o700);
    assert_eq!(mode(&config.data_dir.join("gavel.db")), 0o600);
    let id = submit(&services).await;
    assert_eq!(mode(&services.blobs.root().join("jobs").join(id.as_str())), 0o700);
    assert_eq!(mode(&services.blobs.root().join(gavel_core::ports::keys::bundle(&id))), 0o600);
    drop(services);
    std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o750)).expect("chmod");
    let err = Embedded::open(config.clone()).await.err().expect("group-readable");
    assert!(matches!(err, LocalError::DataDirNotPrivate { mode: 0o750, .. }), "{err}");
    assert!(err.to_string().contains("chmod 700"), "{err}");
}

#[tokio::test]
async fn one_data_directory_serves_one_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = Embedded::open(config(dir.path(), runner(dir.path(), "0"))).await.expect("open");
    let second = Embedded::open(config(dir.path(), runner(dir.path(), "0"))).await;
    assert!(matches!(second, Err(LocalError::Locked(_))), "a second server opened the data directory");
    // The lock lives as long as any adapter, not only the `Embedded` value.
    let store = first.job_store();
    drop(first);
    assert!(matches!(Embedded::open(config(dir.path(), runner(dir.path(), "0"))).await, Err(LocalError::Locked(_))));
    drop(store);
    Embedded::open(config(dir.path(), runner(dir.path(), "0"))).await.expect("reopen after release");
}

/// A server dies with one job leased and one waiting; the next one finishes both at once,
/// without waiting for the dead lease to expire.
#[tokio::test]
async fn jobs_of_a_crashed_server_finish_after_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), runner(dir.path(), "0"));
    let ids = {
        let services = Embedded::open(config.clone()).await.expect("open");
        let ids = [submit(&services).await, submit(&services).await];
        let lease = services.queue.lease(Duration::from_secs(3600), Utc::now()).await.expect("lease");
        let lease = lease.expect("a message");
        services.store.mark_running(&lease.message.job_id, Utc::now()).await.expect("running");
        ids
    };
    let services = Embedded::open(config).await.expect("reopen");
    let pool = services.start();
    for id in &ids {
        assert_eq!(terminal(&services, id).await.status, JobStatus::Completed);
    }
    pool.shutdown(DEADLINE).await;
}

#[tokio::test]
async fn shutdown_past_the_grace_period_gives_running_jobs_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let slow = config(dir.path(), runner(dir.path(), "600"));
    let id = {
        let services = Embedded::open(slow).await.expect("open");
        let pool = services.start();
        let id = submit(&services).await;
        eventually("the runner started", || async { (runs(dir.path()) == 1).then_some(()) }).await;
        pool.shutdown(Duration::from_millis(100)).await;
        assert_eq!(record(&services, &id).await.status, JobStatus::Running);
        assert_eq!(services.queue.depth().await, Ok(1), "the message is kept");
        id
    };
    let services = Embedded::open(config(dir.path(), runner(dir.path(), "0"))).await.expect("reopen");
    let pool = services.start();
    assert_eq!(terminal(&services, &id).await.status, JobStatus::Completed);
    pool.shutdown(DEADLINE).await;
}

#[tokio::test]
async fn sweeping_removes_expired_jobs_and_their_blobs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let services = Embedded::open(config(dir.path(), runner(dir.path(), "0"))).await.expect("open");
    let id = submit(&services).await;
    let later = Utc::now() + gavel_core::job::RETENTION;
    assert_eq!(crate::sweep(&services.store, &services.blobs, later).await, Ok(1));
    assert_eq!(services.store.get(&id, Utc::now()).await, Ok(None));
    assert!(!services.blobs.root().join("jobs").join(id.as_str()).exists());
}
