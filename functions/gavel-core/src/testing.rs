//! In-memory fakes of the storage and queue ports, for the unit tests of this crate and the ones above it
//! (the `testing` feature); never wired into a deployment. They keep the ports' contracts
//! (terminal states are final, only ended jobs are deleted) but ignore expiry.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::job::{JobId, JobRecord, JobStatus, Outcome, Removal, Transition};
use crate::ports::{
    BlobError, BlobStore, ItemWindow, JobMessage, JobQueue, JobStore, ListPage, PageBuilder, QueueError, Unavailable,
};

/// Job records in a map; `reads` counts the `get`s.
#[derive(Debug, Default)]
pub struct MemoryJobStore {
    pub jobs: Mutex<HashMap<JobId, JobRecord>>,
    pub reads: AtomicU64,
}

impl MemoryJobStore {
    fn jobs(&self) -> std::sync::MutexGuard<'_, HashMap<JobId, JobRecord>> {
        self.jobs.lock().expect("the fake's lock")
    }

    fn transition(&self, id: &JobId, apply: impl FnOnce(&mut JobRecord)) -> Transition {
        match self.jobs().get_mut(id) {
            None => Transition::NotFound,
            Some(job) if job.status.is_terminal() => Transition::AlreadyTerminal,
            Some(job) => {
                apply(job);
                Transition::Applied
            }
        }
    }
}

#[async_trait]
impl JobStore for MemoryJobStore {
    async fn create(&self, record: &JobRecord) -> Result<(), Unavailable> {
        self.jobs().insert(record.id.clone(), record.clone());
        Ok(())
    }

    async fn get(&self, id: &JobId, _: DateTime<Utc>) -> Result<Option<JobRecord>, Unavailable> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        Ok(self.jobs().get(id).cloned())
    }

    async fn mark_running(&self, id: &JobId, now: DateTime<Utc>) -> Result<Transition, Unavailable> {
        Ok(self.transition(id, |job| {
            job.status = JobStatus::Running;
            job.started_at = Some(now);
        }))
    }

    async fn finish(&self, id: &JobId, outcome: Outcome, now: DateTime<Utc>) -> Result<Transition, Unavailable> {
        Ok(self.transition(id, |job| outcome.apply(job, now)))
    }

    async fn delete_ended(&self, id: &JobId, _: DateTime<Utc>) -> Result<Removal, Unavailable> {
        let mut jobs = self.jobs();
        Ok(match jobs.get(id) {
            None => Removal::NotFound,
            Some(job) if !job.status.is_terminal() => Removal::NotEnded,
            Some(_) => {
                jobs.remove(id);
                Removal::Removed
            }
        })
    }

    async fn list(&self, tag: &str, window: ItemWindow, _: DateTime<Utc>) -> Result<ListPage, Unavailable> {
        let jobs = self.jobs();
        let mut listed: Vec<&JobRecord> =
            jobs.values().filter(|job| job.listing.as_ref().is_some_and(|listing| listing.tag == tag)).collect();
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

/// Blobs in a map, with `mem://` URLs; `reads` counts the `get`s.
#[derive(Debug, Default)]
pub struct MemoryBlobStore {
    pub blobs: Mutex<HashMap<String, Vec<u8>>>,
    pub reads: AtomicU64,
}

impl MemoryBlobStore {
    fn blobs(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<u8>>> {
        self.blobs.lock().expect("the fake's lock")
    }
}

#[async_trait]
impl BlobStore for MemoryBlobStore {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), Unavailable> {
        self.blobs().insert(key.to_owned(), bytes);
        Ok(())
    }

    async fn get(&self, key: &str, limit: u64) -> Result<Option<Vec<u8>>, BlobError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        match self.blobs().get(key) {
            Some(bytes) if bytes.len() as u64 > limit => Err(BlobError::TooLarge { key: key.to_owned(), limit }),
            found => Ok(found.cloned()),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), Unavailable> {
        self.blobs().remove(key);
        Ok(())
    }

    async fn read_url(&self, key: &str) -> Result<String, Unavailable> {
        Ok(format!("mem://{key}"))
    }

    async fn write_url(&self, key: &str) -> Result<String, Unavailable> {
        Ok(format!("mem://{key}"))
    }
}

/// A queue that always has room and keeps what it is given; its depth is what it holds.
#[derive(Debug, Default)]
pub struct MemoryJobQueue(pub Mutex<Vec<JobMessage>>);

#[async_trait]
impl JobQueue for MemoryJobQueue {
    async fn check_room(&self) -> Result<(), QueueError> {
        Ok(())
    }

    async fn enqueue(&self, message: &JobMessage) -> Result<(), QueueError> {
        self.0.lock().expect("lock").push(message.clone());
        Ok(())
    }

    async fn depth(&self) -> Result<u64, Unavailable> {
        Ok(self.0.lock().expect("lock").len() as u64)
    }
}
