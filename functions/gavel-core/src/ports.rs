//! The narrow ports the use cases need. Each binary holds only the ones it uses.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use std::ops::Range;

use crate::job::{JobId, JobRecord, Outcome, Removal, Transition};

/// A backing service failed; the caller may retry later (503 at the edge).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{service} unavailable: {message}")]
pub struct Unavailable {
    pub service: &'static str,
    pub message: String,
}

impl Unavailable {
    pub fn new(service: &'static str, message: impl ToString) -> Unavailable {
        Unavailable { service, message: message.to_string() }
    }
}

/// Job records with conditional transitions. Terminal states are never overwritten, and expired
/// records read as absent before they are deleted.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Writes a new record; a record with the same id must not exist.
    async fn create(&self, record: &JobRecord) -> Result<(), Unavailable>;
    async fn get(&self, id: &JobId, now: DateTime<Utc>) -> Result<Option<JobRecord>, Unavailable>;
    /// `pending | running → running`; a redelivered job may be started again.
    async fn mark_running(&self, id: &JobId, now: DateTime<Utc>) -> Result<Transition, Unavailable>;
    /// `pending | running → completed | failed`, once.
    async fn finish(&self, id: &JobId, outcome: Outcome, now: DateTime<Utc>) -> Result<Transition, Unavailable>;
    /// Deletes a live record that has ended (`completed | failed`); pending and running ones stay,
    /// so a job is never deleted under its runner.
    async fn delete_ended(&self, id: &JobId, now: DateTime<Utc>) -> Result<Removal, Unavailable>;
    /// The live records whose [`Listing`](crate::job::Listing) has `tag`, newest first (by
    /// `created_at`), read until their items reach `window.reach`, so a listing costs bounded
    /// work however many there are; cut to `window`, with the items of all those read.
    async fn list(&self, tag: &str, window: ItemWindow, now: DateTime<Utc>) -> Result<ListPage, Unavailable>;
}

/// A window of a listing counted in items: skip `offset` items, take at most `limit`, of the
/// newest records holding at least `reach` items (all of them if they hold fewer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemWindow {
    pub offset: u64,
    pub limit: u64,
    pub reach: u64,
}

/// A listed record's share of a window: which of its items fall in it, numbered in listing
/// order (0 is the first of its items listed), so a record may be cut at either end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedRecord {
    pub id: JobId,
    pub items: Range<u32>,
}

/// The records of one window, in listing order, and the items of every record read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    pub records: Vec<ListedRecord>,
    pub total_items: u64,
}

/// Cuts a listing to a window as its records arrive in listing order; every store pages alike.
#[derive(Debug, Clone)]
pub struct PageBuilder {
    window: ItemWindow,
    page: ListPage,
}

impl PageBuilder {
    pub fn new(window: ItemWindow) -> PageBuilder {
        PageBuilder { window, page: ListPage::default() }
    }

    /// Adds the next record of the listing, one of `items` items.
    pub fn push(&mut self, id: JobId, items: u32) {
        let start = self.page.total_items;
        let end = start + u64::from(items);
        let first = start.max(self.window.offset);
        let last = end.min(self.window.offset.saturating_add(self.window.limit));
        if first < last {
            // Both are within `0..=items`, so they fit in a u32.
            let (first, last) = ((first - start) as u32, (last - start) as u32);
            self.page.records.push(ListedRecord { id, items: first..last });
        }
        self.page.total_items = end;
    }

    /// Whether the records pushed reach the window's `reach`: a store reads no more.
    pub fn is_full(&self) -> bool {
        self.page.total_items >= self.window.reach
    }

    /// Records still to read at most: each holds one item or more.
    pub fn records_wanted(&self) -> u64 {
        self.window.reach.saturating_sub(self.page.total_items)
    }

    pub fn finish(self) -> ListPage {
        self.page
    }
}

/// What goes on the queue: small, since the bundle itself is a blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMessage {
    pub job_id: JobId,
    pub language: String,
    pub bundle_key: String,
    /// The judge data's blob, for a job whose runner checks its tests itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_data_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    #[error("the queue is full ({capacity} jobs waiting); retry later")]
    Full { capacity: u64 },
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Whether a job can be queued now. Asked before anything of a job is written, so a full
    /// queue refuses a submission that left no trace; `enqueue` still refuses when it filled
    /// up in between.
    async fn check_room(&self) -> Result<(), QueueError>;
    async fn enqueue(&self, message: &JobMessage) -> Result<(), QueueError>;
    /// Jobs waiting or in flight.
    async fn depth(&self) -> Result<u64, Unavailable>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobError {
    /// The blob is larger than the reader's cap, so it was not read.
    #[error("{key} is larger than {limit} bytes")]
    TooLarge { key: String, limit: u64 },
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// Bundles, judge specs and reports. URLs are what the runner is given: `file://` paths locally,
/// presigned URLs on AWS.
#[async_trait]
pub trait BlobStore: Send + Sync {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), Unavailable>;
    /// Reads a blob of at most `limit` bytes; a larger one is [`BlobError::TooLarge`], and is
    /// never held in memory whole.
    async fn get(&self, key: &str, limit: u64) -> Result<Option<Vec<u8>>, BlobError>;
    /// Removes a blob; one that is not there is fine.
    async fn delete(&self, key: &str) -> Result<(), Unavailable>;
    async fn read_url(&self, key: &str) -> Result<String, Unavailable>;
    async fn write_url(&self, key: &str) -> Result<String, Unavailable>;
}

/// Blob keys of one job.
pub mod keys {
    use crate::job::JobId;

    pub fn bundle(id: &JobId) -> String {
        format!("jobs/{id}/bundle.json")
    }

    pub fn judge_spec(id: &JobId) -> String {
        format!("jobs/{id}/judge.json")
    }

    pub fn report(id: &JobId) -> String {
        format!("jobs/{id}/report.json")
    }

    /// What a job's runner reads once the solution's runs are over: its checker and the
    /// expected outputs.
    pub fn judge_data(id: &JobId) -> String {
        format!("jobs/{id}/judge-data.json")
    }

    /// Every blob the core writes for a job.
    pub fn all(id: &JobId) -> [String; 4] {
        [bundle(id), judge_spec(id), report(id), judge_data(id)]
    }

    /// The job a report key belongs to, for report-written events.
    pub fn job_of_report(key: &str) -> Option<JobId> {
        key.strip_prefix("jobs/")?.strip_suffix("/report.json")?.parse().ok()
    }
}

/// What a launcher needs to start the runner for one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerTask {
    pub job_id: JobId,
    pub language: String,
    pub bundle_url: String,
    pub report_url: String,
    /// Where the runner reads the judge data (the checker and the expected outputs) once the
    /// solution's runs are over: a job with a custom checker only.
    pub judge_data_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LaunchError {
    /// Throttling, no capacity: the message goes back to the queue.
    #[error("launch should be retried: {0}")]
    Retryable(String),
    /// Will not work on retry: the job fails.
    #[error("launch failed: {0}")]
    Fatal(String),
}

/// Starts the runner. The embedded launcher returns when the runner has exited; a cloud
/// launcher returns once the task is started, and completion arrives as an event.
#[async_trait]
pub trait TaskLauncher: Send + Sync {
    async fn launch(&self, task: &RunnerTask) -> Result<(), LaunchError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(window: (u64, u64), records: &[(&JobId, u32)]) -> ListPage {
        let mut builder = PageBuilder::new(ItemWindow { offset: window.0, limit: window.1, reach: u64::MAX });
        for (id, items) in records {
            builder.push((*id).clone(), *items);
        }
        builder.finish()
    }

    #[test]
    fn a_listing_is_full_once_its_records_reach_the_reach() {
        let mut builder = PageBuilder::new(ItemWindow { offset: 0, limit: 10, reach: 3 });
        assert_eq!((builder.is_full(), builder.records_wanted()), (false, 3));
        builder.push(JobId::new(), 2);
        assert_eq!((builder.is_full(), builder.records_wanted()), (false, 1));
        builder.push(JobId::new(), 2);
        assert_eq!((builder.is_full(), builder.records_wanted()), (true, 0));
        assert_eq!(builder.finish().total_items, 4, "the record that reaches it counts whole");
    }

    #[test]
    fn a_window_cuts_records_at_either_end_and_counts_them_all() {
        let (a, b, c) = (JobId::new(), JobId::new(), JobId::new());
        let records = [(&a, 3), (&b, 1), (&c, 4)];
        let listed = |id: &JobId, items: Range<u32>| ListedRecord { id: id.clone(), items };

        let middle = page((2, 3), &records);
        assert_eq!(middle.records, vec![listed(&a, 2..3), listed(&b, 0..1), listed(&c, 0..1)]);
        assert_eq!(middle.total_items, 8);
        assert_eq!(page((0, 3), &records).records, vec![listed(&a, 0..3)]);
        assert_eq!(page((6, 10), &records).records, vec![listed(&c, 2..4)]);
        assert_eq!(page((8, 10), &records), ListPage { records: Vec::new(), total_items: 8 });
        assert_eq!(page((0, 0), &records).records, Vec::new());
        assert_eq!(page((u64::MAX, u64::MAX), &records).total_items, 8);
    }

    #[test]
    fn report_keys_map_back_to_their_job() {
        let id = JobId::new();
        assert_eq!(keys::job_of_report(&keys::report(&id)), Some(id.clone()));
        assert_eq!(keys::job_of_report(&keys::bundle(&id)), None);
        assert_eq!(keys::job_of_report("jobs/../report.json"), None);
    }
}
