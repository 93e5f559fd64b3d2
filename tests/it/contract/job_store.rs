//! The `JobStore` contract: conditional transitions, final terminal states, expiry on read, the
//! listing of tagged records, and deletes of ended ones.

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use gavel_core::isolation::{Isolation, IsolationLevel};
use gavel_core::job::{
    JobId, JobRecord, JobResult, JobStatus, Listing, Outcome, RETENTION, Removal, Summary, Transition,
};
use gavel_core::ports::{ItemWindow, JobStore, ListPage, ListedRecord};
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
        score: 0.0,
        max_score: 0.0,
        groups: Vec::new(),
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

async fn listed(store: &dyn JobStore, tag: &str, items: u32, created: DateTime<Utc>) -> JobRecord {
    let listing = Some(Listing { tag: tag.into(), items });
    let record = JobRecord { listing, ..JobRecord::pending(JobId::new(), "python", created) };
    store.create(&record).await.expect("create");
    record
}

async fn list(store: &dyn JobStore, offset: u64, limit: u64, now: DateTime<Utc>) -> ListPage {
    store.list("judge0", ItemWindow { offset, limit, reach: 100 }, now).await.expect("list")
}

fn part(record: &JobRecord, items: std::ops::Range<u32>) -> ListedRecord {
    ListedRecord { id: record.id.clone(), items }
}

pub async fn listed_records_keep_their_listing(store: &dyn JobStore) {
    let now = now();
    let record = listed(store, "judge0", 4, now).await;
    assert_eq!(store.get(&record.id, now).await, Ok(Some(record.clone())));
    assert_eq!(record.listing, Some(Listing { tag: "judge0".into(), items: 4 }));
}

/// Newest first, windows counted in items (a record may be cut), the total of every item; a
/// finished record stays listed, and untagged ones or other tags' never are.
pub async fn listing_is_newest_first_and_paged_over_items(store: &dyn JobStore) {
    let start = now() - TimeDelta::seconds(10);
    let at = |ms| start + TimeDelta::milliseconds(ms);
    let oldest = listed(store, "judge0", 3, at(0)).await;
    let middle = listed(store, "judge0", 1, at(1)).await;
    let newest = listed(store, "judge0", 2, at(2)).await;
    pending(store, at(3)).await;
    listed(store, "other", 5, at(4)).await;
    let outcome = Outcome::Completed(Box::new(result(Verdict::Accepted)));
    assert_eq!(store.finish(&middle.id, outcome, at(5)).await, Ok(Transition::Applied));
    let now = now();

    let all = list(store, 0, 20, now).await;
    assert_eq!(all.records, vec![part(&newest, 0..2), part(&middle, 0..1), part(&oldest, 0..3)]);
    assert_eq!(all.total_items, 6);
    let cut = list(store, 1, 3, now).await;
    assert_eq!(
        cut,
        ListPage { records: vec![part(&newest, 1..2), part(&middle, 0..1), part(&oldest, 0..1)], total_items: 6 }
    );
    assert_eq!(list(store, 4, 2, now).await.records, vec![part(&oldest, 1..3)]);
    assert_eq!(list(store, 6, 20, now).await, ListPage { records: Vec::new(), total_items: 6 }, "past the end");
    let nothing = store.list("piston", ItemWindow { offset: 0, limit: 20, reach: 100 }, now).await.expect("list");
    assert_eq!(nothing, ListPage::default());
}

pub async fn expired_records_are_not_listed(store: &dyn JobStore) {
    let now = now();
    let old = listed(store, "judge0", 2, now - RETENTION - TimeDelta::seconds(1)).await;
    let fresh = listed(store, "judge0", 1, now).await;
    assert_eq!(list(store, 0, 20, now).await, ListPage { records: vec![part(&fresh, 0..1)], total_items: 1 });
    let before = list(store, 0, 20, now - TimeDelta::seconds(2)).await;
    let both = ListPage { records: vec![part(&fresh, 0..1), part(&old, 0..2)], total_items: 3 };
    assert_eq!(before, both, "two seconds earlier the old one had not expired");
}

/// The newest records are read until their items reach `reach`, the one that reaches it whole.
pub async fn listing_reads_no_further_than_its_reach(store: &dyn JobStore) {
    let start = now() - TimeDelta::seconds(10);
    let at = |ms| start + TimeDelta::milliseconds(ms);
    let oldest = listed(store, "judge0", 2, at(0)).await;
    let middle = listed(store, "judge0", 2, at(1)).await;
    let newest = listed(store, "judge0", 1, at(2)).await;
    let now = now();
    let window = |offset, reach| ItemWindow { offset, limit: 10, reach };

    let reached = store.list("judge0", window(0, 2), now).await.expect("list");
    assert_eq!(reached, ListPage { records: vec![part(&newest, 0..1), part(&middle, 0..2)], total_items: 3 });
    let beyond = store.list("judge0", window(3, 3), now).await.expect("list");
    assert_eq!(beyond, ListPage { records: Vec::new(), total_items: 3 }, "the oldest is past the reach");
    let all = store.list("judge0", window(3, 5), now).await.expect("list");
    assert_eq!(all, ListPage { records: vec![part(&oldest, 0..2)], total_items: 5 });
}

/// Only an ended job is deleted; pending and running ones, expired and unknown ones are left
/// alone, and a deleted one is gone from reads, transitions and the listing.
pub async fn only_ended_records_are_deleted(store: &dyn JobStore) {
    let now = now();
    let record = listed(store, "judge0", 2, now).await;
    assert_eq!(store.delete_ended(&record.id, now).await, Ok(Removal::NotEnded), "pending");
    assert_eq!(store.mark_running(&record.id, now).await, Ok(Transition::Applied));
    assert_eq!(store.delete_ended(&record.id, now).await, Ok(Removal::NotEnded), "running");
    assert_eq!(read(store, &record.id, now).await.status, JobStatus::Running);
    let outcome = Outcome::Completed(Box::new(result(Verdict::Accepted)));
    assert_eq!(store.finish(&record.id, outcome, now).await, Ok(Transition::Applied));
    assert_eq!(store.delete_ended(&record.id, now).await, Ok(Removal::Removed));
    assert_eq!(store.get(&record.id, now).await, Ok(None));
    assert_eq!(store.delete_ended(&record.id, now).await, Ok(Removal::NotFound), "only once");
    assert_eq!(store.finish(&record.id, Outcome::Failed("late".into()), now).await, Ok(Transition::NotFound));
    assert_eq!(list(store, 0, 20, now).await, ListPage::default(), "nor listed");

    let failed = pending(store, now).await;
    assert_eq!(store.finish(&failed.id, Outcome::Failed("no runner".into()), now).await, Ok(Transition::Applied));
    assert_eq!(store.delete_ended(&failed.id, now).await, Ok(Removal::Removed));
    let old = pending(store, now - RETENTION - TimeDelta::seconds(1)).await;
    assert_eq!(store.finish(&old.id, Outcome::Failed("x".into()), now - RETENTION).await, Ok(Transition::Applied));
    assert_eq!(store.delete_ended(&old.id, now).await, Ok(Removal::NotFound), "expired");
    assert_eq!(store.delete_ended(&JobId::new(), now).await, Ok(Removal::NotFound));
}
