//! The `JobStore` contract: conditional transitions, final terminal states, expiry on read.

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use gavel_core::isolation::{Isolation, IsolationLevel};
use gavel_core::job::{JobId, JobRecord, JobResult, JobStatus, Outcome, RETENTION, Summary, Transition};
use gavel_core::ports::JobStore;
use gavel_core::verdict::Verdict;

/// Milliseconds: the precision every store keeps exactly.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

fn result(verdict: Verdict) -> JobResult {
    JobResult {
        verdict,
        compile: None,
        tests: Vec::new(),
        summary: Summary { passed: 0, total: 0 },
        isolation: Isolation {
            namespaces: vec!["user".into()],
            ..Isolation::boundary(IsolationLevel::Container, vec!["contract".into()])
        },
    }
}

async fn pending(store: &dyn JobStore, now: DateTime<Utc>) -> JobRecord {
    let record = JobRecord::pending(JobId::new(), "python", now);
    store.create(&record).await.expect("create");
    record
}

async fn read(store: &dyn JobStore, id: &JobId, now: DateTime<Utc>) -> JobRecord {
    store.get(id, now).await.expect("get").expect("the record exists")
}

pub async fn create_then_get(store: &dyn JobStore) {
    let now = now();
    let record = pending(store, now).await;
    assert_eq!(store.get(&record.id, now).await, Ok(Some(record.clone())));
    assert_eq!(record.expires_at, now + RETENTION);
}

pub async fn unknown_id_is_none(store: &dyn JobStore) {
    assert_eq!(store.get(&JobId::new(), now()).await, Ok(None));
}

pub async fn expired_is_none(store: &dyn JobStore) {
    let now = now();
    let record = pending(store, now - RETENTION - TimeDelta::seconds(1)).await;
    assert_eq!(store.get(&record.id, now).await, Ok(None));
    assert_eq!(store.get(&record.id, now - TimeDelta::seconds(2)).await, Ok(Some(record.clone())), "not yet");
    assert_eq!(store.mark_running(&record.id, now).await, Ok(Transition::NotFound));
    assert_eq!(store.finish(&record.id, Outcome::Failed("late".into()), now).await, Ok(Transition::NotFound));
}

pub async fn pending_running_completed(store: &dyn JobStore) {
    let created = now();
    let record = pending(store, created).await;
    let started = created + TimeDelta::milliseconds(5);
    assert_eq!(store.mark_running(&record.id, started).await, Ok(Transition::Applied));
    let running = read(store, &record.id, started).await;
    assert_eq!((running.status, running.started_at, running.finished_at), (JobStatus::Running, Some(started), None));

    let finished = started + TimeDelta::milliseconds(5);
    let outcome = Outcome::Completed(Box::new(result(Verdict::Accepted)));
    assert_eq!(store.finish(&record.id, outcome, finished).await, Ok(Transition::Applied));
    let done = read(store, &record.id, finished).await;
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!((done.started_at, done.finished_at), (Some(started), Some(finished)));
    assert_eq!((done.result, done.error), (Some(result(Verdict::Accepted)), None));
    assert_eq!((done.created_at, done.expires_at), (record.created_at, record.expires_at));
}

pub async fn pending_to_failed(store: &dyn JobStore) {
    let now = now();
    let record = pending(store, now).await;
    assert_eq!(store.finish(&record.id, Outcome::Failed("no runner".into()), now).await, Ok(Transition::Applied));
    let failed = read(store, &record.id, now).await;
    assert_eq!((failed.status, failed.error.as_deref(), failed.result), (JobStatus::Failed, Some("no runner"), None));
    assert_eq!((failed.started_at, failed.finished_at), (Some(now), Some(now)));
}

pub async fn redelivered_job_may_start_again(store: &dyn JobStore) {
    let now = now();
    let record = pending(store, now).await;
    assert_eq!(store.mark_running(&record.id, now).await, Ok(Transition::Applied));
    assert_eq!(store.mark_running(&record.id, now).await, Ok(Transition::Applied));
    assert_eq!(read(store, &record.id, now).await.status, JobStatus::Running);
}

pub async fn finish_twice_keeps_the_first(store: &dyn JobStore) {
    let now = now();
    let record = pending(store, now).await;
    let first = Outcome::Completed(Box::new(result(Verdict::WrongAnswer)));
    assert_eq!(store.finish(&record.id, first, now).await, Ok(Transition::Applied));
    let second = Outcome::Completed(Box::new(result(Verdict::Accepted)));
    let later = now + TimeDelta::seconds(1);
    assert_eq!(store.finish(&record.id, second, later).await, Ok(Transition::AlreadyTerminal));
    assert_eq!(store.finish(&record.id, Outcome::Failed("late".into()), later).await, Ok(Transition::AlreadyTerminal));
    let done = read(store, &record.id, later).await;
    assert_eq!((done.status, done.finished_at), (JobStatus::Completed, Some(now)));
    assert_eq!((done.result, done.error), (Some(result(Verdict::WrongAnswer)), None));
}

pub async fn mark_running_after_terminal_is_refused(store: &dyn JobStore) {
    let now = now();
    let record = pending(store, now).await;
    assert_eq!(store.finish(&record.id, Outcome::Failed("stopped".into()), now).await, Ok(Transition::Applied));
    assert_eq!(store.mark_running(&record.id, now).await, Ok(Transition::AlreadyTerminal));
    assert_eq!(read(store, &record.id, now).await.status, JobStatus::Failed);
}

pub async fn transitions_on_unknown_are_not_found(store: &dyn JobStore) {
    let unknown = JobId::new();
    assert_eq!(store.finish(&unknown, Outcome::Failed("x".into()), now()).await, Ok(Transition::NotFound));
    assert_eq!(store.mark_running(&unknown, now()).await, Ok(Transition::NotFound));
    assert_eq!(store.get(&unknown, now()).await, Ok(None), "nothing was created");
}

/// Racing completions (duplicate deliveries): exactly one wins.
pub async fn concurrent_finishes_apply_once(store: &dyn JobStore) {
    let now = now();
    let record = pending(store, now).await;
    let (a, b) = tokio::join!(
        store.finish(&record.id, Outcome::Completed(Box::new(result(Verdict::Accepted))), now),
        store.finish(&record.id, Outcome::Failed("duplicate".into()), now),
    );
    let mut outcomes = [a.expect("finish"), b.expect("finish")];
    outcomes.sort_by_key(|t| *t != Transition::Applied);
    assert_eq!(outcomes, [Transition::Applied, Transition::AlreadyTerminal]);
}
