//! The use cases over in-memory fakes of the ports.

use async_trait::async_trait;
use chrono::Utc;

use super::*;
use crate::isolation::{Isolation, IsolationLevel};
use crate::job::{JobStatus, Listing};
use crate::ports::ItemWindow;
use crate::runner::{Output, StepReport};
use crate::testing::{MemoryBlobStore, MemoryJobQueue, MemoryJobStore};

/// A queue with room or without, whose enqueue may fail.
struct Queue {
    room: bool,
    enqueue: Result<(), QueueError>,
}

#[async_trait]
impl JobQueue for Queue {
    async fn check_room(&self) -> Result<(), QueueError> {
        if self.room { Ok(()) } else { Err(QueueError::Full { capacity: 1 }) }
    }
    async fn enqueue(&self, _: &JobMessage) -> Result<(), QueueError> {
        self.enqueue.clone()
    }
    async fn depth(&self) -> Result<u64, Unavailable> {
        Ok(0)
    }
}

fn request() -> ExecuteRequest {
    serde_json::from_value(serde_json::json!({
        "language": "python", "code": "print(input())",
        "tests": [{"input": "1\n", "expected_output": "1\n"}, {"input": "2\n", "expected_output": "2\n", "hidden": true}],
    }))
    .expect("a request")
}

const OPEN: Queue = Queue { room: true, enqueue: Ok(()) };

#[tokio::test]
async fn a_full_queue_refuses_before_anything_is_written() {
    let (store, blobs) = (MemoryJobStore::default(), MemoryBlobStore::default());
    let full = Queue { room: false, enqueue: Ok(()) };
    let refused = submit(&store, &blobs, &full, &ServerLimits::default(), request(), Utc::now()).await;
    assert_eq!(refused, Err(SubmitError::Queue(QueueError::Full { capacity: 1 })));
    assert!(store.jobs.lock().expect("lock").is_empty() && blobs.blobs.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn a_job_that_cannot_be_queued_leaves_no_blobs_and_a_failed_record() {
    let (store, blobs) = (MemoryJobStore::default(), MemoryBlobStore::default());
    let broken = Queue { room: true, enqueue: Err(QueueError::Unavailable(Unavailable::new("queue", "down"))) };
    let refused = submit(&store, &blobs, &broken, &ServerLimits::default(), request(), Utc::now()).await;
    assert!(matches!(refused, Err(SubmitError::Queue(QueueError::Unavailable(_)))), "{refused:?}");
    assert!(blobs.blobs.lock().expect("lock").is_empty(), "the bundle and judge spec are removed");
    let records: Vec<JobRecord> = store.jobs.lock().expect("lock").values().cloned().collect();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].status, JobStatus::Failed);
    assert!(records[0].error.as_deref().is_some_and(|e| e.starts_with("not queued")), "{records:?}");
}

async fn accepted(store: &MemoryJobStore, blobs: &MemoryBlobStore) -> JobId {
    let accepted = submit(store, blobs, &OPEN, &ServerLimits::default(), request(), Utc::now()).await;
    accepted.expect("accepted").job_id
}

fn report(job_id: &JobId, outputs: &[&[u8]]) -> Vec<u8> {
    let tests = outputs
        .iter()
        .map(|out| StepReport { exit_code: Some(0), stdout: Output::encode(out), ..StepReport::default() })
        .collect();
    let isolation = Isolation::boundary(IsolationLevel::Full, Vec::new());
    serde_json::to_vec(&Report {
        job_id: job_id.clone(),
        isolation,
        compile: None,
        tests,
        error: None,
        checker_compile: None,
        interactor_compile: None,
    })
    .expect("json")
}

#[tokio::test]
async fn a_report_is_judged_once() {
    let (store, blobs) = (MemoryJobStore::default(), MemoryBlobStore::default());
    let id = accepted(&store, &blobs).await;
    blobs.put(&keys::report(&id), report(&id, &[b"1\n", b"\xff\n"])).await.expect("put");
    assert_eq!(complete(&store, &blobs, &id, Utc::now()).await, Ok(Transition::Applied));
    let result = store.get(&id, Utc::now()).await.expect("get").and_then(|r| r.result).expect("a result");
    let verdicts: Vec<_> = result.tests.iter().map(|t| t.verdict).collect();
    assert_eq!(verdicts, [crate::Verdict::Accepted, crate::Verdict::WrongAnswer], "output that is not UTF-8 is wrong");
    assert_eq!(complete(&store, &blobs, &id, Utc::now()).await, Ok(Transition::AlreadyTerminal));
}

#[tokio::test]
async fn a_report_larger_than_the_jobs_outputs_can_make_fails_the_job_unread() {
    let (store, blobs) = (MemoryJobStore::default(), MemoryBlobStore::default());
    let id = accepted(&store, &blobs).await;
    let spec: JudgeSpec = serde_json::from_slice(
        &blobs.get(&keys::judge_spec(&id), MAX_JUDGE_SPEC_BYTES).await.expect("get").expect("a spec"),
    )
    .expect("json");
    let huge = vec![b'x'; usize::try_from(spec.report_limit_bytes).expect("fits") + 1];
    blobs.put(&keys::report(&id), huge).await.expect("put");
    assert_eq!(complete(&store, &blobs, &id, Utc::now()).await, Ok(Transition::Applied));
    let record = store.get(&id, Utc::now()).await.expect("get").expect("the record");
    assert_eq!(record.status, JobStatus::Failed);
    assert!(record.error.as_deref().is_some_and(|e| e.contains("larger than")), "{record:?}");
}

#[tokio::test]
async fn a_report_without_test_data_fails_the_job() {
    let (store, blobs) = (MemoryJobStore::default(), MemoryBlobStore::default());
    let id = accepted(&store, &blobs).await;
    blobs.delete(&keys::judge_spec(&id)).await.expect("delete");
    blobs.put(&keys::report(&id), report(&id, &[b"1\n", b"2\n"])).await.expect("put");
    complete(&store, &blobs, &id, Utc::now()).await.expect("complete");
    let record = store.get(&id, Utc::now()).await.expect("get").expect("the record");
    assert_eq!((record.status, record.error.as_deref()), (JobStatus::Failed, Some("the job's test data is missing")));
}

#[tokio::test]
async fn only_an_ended_job_is_deleted_and_then_its_blobs_go_with_it() {
    let (store, blobs) = (MemoryJobStore::default(), MemoryBlobStore::default());
    let id = accepted(&store, &blobs).await;
    let extra = [format!("jobs/{id}/caller.json")];
    blobs.put(&extra[0], b"{}".to_vec()).await.expect("put");
    assert_eq!(delete(&store, &blobs, &id, &extra, Utc::now()).await, Ok(Removal::NotEnded));
    assert!(store.get(&id, Utc::now()).await.expect("get").is_some(), "a pending job stays");
    blobs.put(&keys::report(&id), report(&id, &[b"1\n", b"2\n"])).await.expect("put");
    complete(&store, &blobs, &id, Utc::now()).await.expect("complete");
    assert_eq!(delete(&store, &blobs, &id, &extra, Utc::now()).await, Ok(Removal::Removed));
    assert_eq!(store.get(&id, Utc::now()).await, Ok(None));
    assert!(blobs.blobs.lock().expect("lock").keys().all(|key| !key.contains(id.as_str())), "every blob of the job");
    assert_eq!(delete(&store, &blobs, &id, &extra, Utc::now()).await, Ok(Removal::NotFound));
}

#[tokio::test]
async fn a_job_can_be_submitted_under_an_id_and_a_listing_the_caller_chose() {
    let (store, blobs) = (MemoryJobStore::default(), MemoryBlobStore::default());
    let chosen = JobId::new();
    let listing = Listing { tag: "judge0".into(), items: 3 };
    let job = NewJob { id: chosen.clone(), listing: Some(listing.clone()) };
    let accepted = submit_with_id(&store, &blobs, &OPEN, &ServerLimits::default(), request(), job, Utc::now())
        .await
        .expect("accepted");
    assert_eq!((&accepted.job_id, &accepted.record.id), (&chosen, &chosen));
    let record = store.get(&chosen, Utc::now()).await.expect("get").expect("the record is under the chosen id");
    assert_eq!(record.listing, Some(listing));
    let listed = store.list("judge0", ItemWindow { offset: 0, limit: 10, reach: 10 }, Utc::now()).await.expect("list");
    assert_eq!(listed.total_items, 3);
    let bundle =
        blobs.get(&keys::bundle(&chosen), crate::runner::MAX_BUNDLE_BYTES).await.expect("get").expect("the bundle");
    let bundle: crate::runner::Bundle = serde_json::from_slice(&bundle).expect("json");
    assert_eq!(bundle.job_id, chosen);
}

/// A launcher that keeps the tasks it is asked to start.
#[derive(Default)]
struct Launches(std::sync::Mutex<Vec<RunnerTask>>);

#[async_trait]
impl TaskLauncher for Launches {
    async fn launch(&self, task: &RunnerTask) -> Result<(), LaunchError> {
        self.0.lock().expect("lock").push(task.clone());
        Ok(())
    }
}

#[tokio::test]
async fn only_a_custom_checkers_runner_is_given_judge_data_and_the_bundle_never_is() {
    let (store, blobs, queue, launches) =
        (MemoryJobStore::default(), MemoryBlobStore::default(), MemoryJobQueue::default(), Launches::default());
    let server = ServerLimits::default();
    let plain = submit(&store, &blobs, &queue, &server, request(), Utc::now()).await.expect("accepted").job_id;
    let checked = ExecuteRequest {
        checker: serde_json::from_value(serde_json::json!({"mode": "custom", "language": "python", "code": "pass"}))
            .expect("a checker"),
        ..request()
    };
    let custom = submit(&store, &blobs, &queue, &server, checked, Utc::now()).await.expect("accepted").job_id;
    assert!(blobs.blobs.lock().expect("lock").get(&keys::judge_data(&plain)).is_none());
    let stored = blobs.blobs.lock().expect("lock").get(&keys::judge_data(&custom)).cloned().expect("judge data");
    let data: crate::runner::JudgeData = serde_json::from_slice(&stored).expect("judge data");
    assert_eq!(data.answers, vec![Some(Output::text("1\n")), Some(Output::text("2\n"))]);
    let checker = data.checker.expect("the checker");
    assert_eq!((checker.language.as_str(), checker.code.as_str(), data.interactor), ("python", "pass", None));
    let bundle = String::from_utf8_lossy(&blobs.blobs.lock().expect("lock")[&keys::bundle(&custom)]).into_owned();
    assert!(!bundle.contains("\"pass\"") && !bundle.contains("expected"), "the bundle holds neither: {bundle}");

    let messages = queue.0.lock().expect("lock").clone();
    for message in &messages {
        dispatch(&store, &blobs, &launches, message, Utc::now()).await.expect("dispatched");
    }
    let tasks = launches.0.lock().expect("lock").clone();
    assert_eq!(tasks[0].judge_data_url, None);
    assert_eq!(tasks[1].judge_data_url, Some(blobs.read_url(&keys::judge_data(&custom)).await.expect("a url")));
}
