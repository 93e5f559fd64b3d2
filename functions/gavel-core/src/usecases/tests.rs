//! The use cases over in-memory fakes of the ports.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::*;
use crate::isolation::{Isolation, IsolationLevel};
use crate::job::{JobStatus, Listing};
use crate::ports::{ItemWindow, ListPage, PageBuilder};
use crate::runner::{Output, StepReport};

#[derive(Default)]
pub(crate) struct Store(Mutex<HashMap<JobId, JobRecord>>);

#[async_trait]
impl JobStore for Store {
    async fn create(&self, record: &JobRecord) -> Result<(), Unavailable> {
        self.0.lock().expect("lock").insert(record.id.clone(), record.clone());
        Ok(())
    }
    async fn get(&self, id: &JobId, _: DateTime<Utc>) -> Result<Option<JobRecord>, Unavailable> {
        Ok(self.0.lock().expect("lock").get(id).cloned())
    }
    async fn mark_running(&self, id: &JobId, now: DateTime<Utc>) -> Result<Transition, Unavailable> {
        let mut jobs = self.0.lock().expect("lock");
        Ok(match jobs.get_mut(id) {
            None => Transition::NotFound,
            Some(job) if job.status.is_terminal() => Transition::AlreadyTerminal,
            Some(job) => {
                job.status = JobStatus::Running;
                job.started_at = Some(now);
                Transition::Applied
            }
        })
    }
    async fn finish(&self, id: &JobId, outcome: Outcome, now: DateTime<Utc>) -> Result<Transition, Unavailable> {
        let mut jobs = self.0.lock().expect("lock");
        Ok(match jobs.get_mut(id) {
            None => Transition::NotFound,
            Some(job) if job.status.is_terminal() => Transition::AlreadyTerminal,
            Some(job) => {
                outcome.apply(job, now);
                Transition::Applied
            }
        })
    }
    async fn list(&self, tag: &str, window: ItemWindow, now: DateTime<Utc>) -> Result<ListPage, Unavailable> {
        let jobs = self.0.lock().expect("lock");
        let mut listed: Vec<&JobRecord> = jobs
            .values()
            .filter(|job| !job.is_expired(now) && job.listing.as_ref().is_some_and(|listing| listing.tag == tag))
            .collect();
        listed.sort_by_key(|job| std::cmp::Reverse(job.created_at));
        let mut page = PageBuilder::new(window);
        for job in listed {
            if page.is_full() {
                break;
            }
            page.push(job.id.clone(), job.listing.as_ref().map_or(0, |listing| listing.items));
        }
        Ok(page.finish())
    }
}

#[derive(Default)]
struct Blobs(Mutex<HashMap<String, Vec<u8>>>);

#[async_trait]
impl BlobStore for Blobs {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), Unavailable> {
        self.0.lock().expect("lock").insert(key.to_owned(), bytes);
        Ok(())
    }
    async fn get(&self, key: &str, limit: u64) -> Result<Option<Vec<u8>>, BlobError> {
        match self.0.lock().expect("lock").get(key) {
            Some(bytes) if bytes.len() as u64 > limit => Err(BlobError::TooLarge { key: key.to_owned(), limit }),
            found => Ok(found.cloned()),
        }
    }
    async fn delete(&self, key: &str) -> Result<(), Unavailable> {
        self.0.lock().expect("lock").remove(key);
        Ok(())
    }
    async fn read_url(&self, key: &str) -> Result<String, Unavailable> {
        Ok(format!("mem://{key}"))
    }
    async fn write_url(&self, key: &str) -> Result<String, Unavailable> {
        Ok(format!("mem://{key}"))
    }
}

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
    let (store, blobs) = (Store::default(), Blobs::default());
    let full = Queue { room: false, enqueue: Ok(()) };
    let refused = submit(&store, &blobs, &full, &ServerLimits::default(), request(), Utc::now()).await;
    assert_eq!(refused, Err(SubmitError::Queue(QueueError::Full { capacity: 1 })));
    assert!(store.0.lock().expect("lock").is_empty() && blobs.0.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn a_job_that_cannot_be_queued_leaves_no_blobs_and_a_failed_record() {
    let (store, blobs) = (Store::default(), Blobs::default());
    let broken = Queue { room: true, enqueue: Err(QueueError::Unavailable(Unavailable::new("queue", "down"))) };
    let refused = submit(&store, &blobs, &broken, &ServerLimits::default(), request(), Utc::now()).await;
    assert!(matches!(refused, Err(SubmitError::Queue(QueueError::Unavailable(_)))), "{refused:?}");
    assert!(blobs.0.lock().expect("lock").is_empty(), "the bundle and judge spec are removed");
    let records: Vec<JobRecord> = store.0.lock().expect("lock").values().cloned().collect();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].status, JobStatus::Failed);
    assert!(records[0].error.as_deref().is_some_and(|e| e.starts_with("not queued")), "{records:?}");
}

async fn accepted(store: &Store, blobs: &Blobs) -> JobId {
    let accepted = submit(store, blobs, &OPEN, &ServerLimits::default(), request(), Utc::now()).await;
    accepted.expect("accepted").job_id
}

fn report(job_id: &JobId, outputs: &[&[u8]]) -> Vec<u8> {
    let tests = outputs
        .iter()
        .map(|out| StepReport { exit_code: Some(0), stdout: Output::encode(out), ..StepReport::default() })
        .collect();
    let isolation = Isolation::boundary(IsolationLevel::Full, Vec::new());
    serde_json::to_vec(&Report { job_id: job_id.clone(), isolation, compile: None, tests, error: None }).expect("json")
}

#[tokio::test]
async fn a_report_is_judged_once() {
    let (store, blobs) = (Store::default(), Blobs::default());
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
    let (store, blobs) = (Store::default(), Blobs::default());
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
    let (store, blobs) = (Store::default(), Blobs::default());
    let id = accepted(&store, &blobs).await;
    blobs.delete(&keys::judge_spec(&id)).await.expect("delete");
    blobs.put(&keys::report(&id), report(&id, &[b"1\n", b"2\n"])).await.expect("put");
    complete(&store, &blobs, &id, Utc::now()).await.expect("complete");
    let record = store.get(&id, Utc::now()).await.expect("get").expect("the record");
    assert_eq!((record.status, record.error.as_deref()), (JobStatus::Failed, Some("the job's test data is missing")));
}

#[tokio::test]
async fn a_job_can_be_submitted_under_an_id_and_a_listing_the_caller_chose() {
    let (store, blobs) = (Store::default(), Blobs::default());
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
