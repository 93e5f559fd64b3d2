//! What happens once a job has ended: a hook told of every job the store took to its terminal
//! state, whichever path ended it (judged, failed, given up on).

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::job::{JobId, JobRecord, Outcome, Removal, Transition};
use crate::ports::{ItemWindow, JobStore, ListPage, Unavailable};

/// Told once per job, after its end was stored. It cannot fail the job: it handles (and logs)
/// its own failures.
#[async_trait]
pub trait JobEnded: Send + Sync {
    async fn ended(&self, job_id: &JobId);
}

/// A job store that tells `hook` of every `finish` that applied. Wrapping the store keeps each
/// path that ends a job free of the hook, and none can forget it.
pub struct NotifyingJobStore {
    inner: Arc<dyn JobStore>,
    hook: Arc<dyn JobEnded>,
}

impl NotifyingJobStore {
    pub fn new(inner: Arc<dyn JobStore>, hook: Arc<dyn JobEnded>) -> NotifyingJobStore {
        NotifyingJobStore { inner, hook }
    }
}

#[async_trait]
impl JobStore for NotifyingJobStore {
    async fn create(&self, record: &JobRecord) -> Result<(), Unavailable> {
        self.inner.create(record).await
    }

    async fn get(&self, id: &JobId, now: DateTime<Utc>) -> Result<Option<JobRecord>, Unavailable> {
        self.inner.get(id, now).await
    }

    async fn mark_running(&self, id: &JobId, now: DateTime<Utc>) -> Result<Transition, Unavailable> {
        self.inner.mark_running(id, now).await
    }

    async fn finish(&self, id: &JobId, outcome: Outcome, now: DateTime<Utc>) -> Result<Transition, Unavailable> {
        let transition = self.inner.finish(id, outcome, now).await?;
        if transition == Transition::Applied {
            self.hook.ended(id).await;
        }
        Ok(transition)
    }

    async fn delete_ended(&self, id: &JobId, now: DateTime<Utc>) -> Result<Removal, Unavailable> {
        self.inner.delete_ended(id, now).await
    }

    async fn list(&self, tag: &str, window: ItemWindow, now: DateTime<Utc>) -> Result<ListPage, Unavailable> {
        self.inner.list(tag, window, now).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::testing::MemoryJobStore;

    #[derive(Default)]
    struct Told(Mutex<Vec<JobId>>);

    #[async_trait]
    impl JobEnded for Told {
        async fn ended(&self, job_id: &JobId) {
            self.0.lock().expect("lock").push(job_id.clone());
        }
    }

    #[tokio::test]
    async fn the_hook_hears_each_job_end_once_and_nothing_else() {
        let told = Arc::new(Told::default());
        let store = NotifyingJobStore::new(Arc::new(MemoryJobStore::default()), told.clone());
        let (now, id) = (Utc::now(), JobId::new());
        store.create(&JobRecord::pending(id.clone(), "python", now)).await.expect("create");
        store.mark_running(&id, now).await.expect("running");
        assert!(told.0.lock().expect("lock").is_empty());
        let failed = || Outcome::Failed("stopped".into());
        assert_eq!(store.finish(&id, failed(), now).await, Ok(Transition::Applied));
        assert_eq!(store.finish(&id, failed(), now).await, Ok(Transition::AlreadyTerminal));
        assert_eq!(store.finish(&JobId::new(), failed(), now).await, Ok(Transition::NotFound));
        assert_eq!(*told.0.lock().expect("lock"), [id]);
    }
}
