//! The narrow ports the use cases need. Each binary holds only the ones it uses.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::job::{JobId, JobRecord, Outcome, Transition};

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
}

/// What goes on the queue: small, since the bundle itself is a blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMessage {
    pub job_id: JobId,
    pub language: String,
    pub bundle_key: String,
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

    #[test]
    fn report_keys_map_back_to_their_job() {
        let id = JobId::new();
        assert_eq!(keys::job_of_report(&keys::report(&id)), Some(id.clone()));
        assert_eq!(keys::job_of_report(&keys::bundle(&id)), None);
        assert_eq!(keys::job_of_report("jobs/../report.json"), None);
    }
}
