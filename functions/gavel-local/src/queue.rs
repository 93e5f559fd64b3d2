//! A durable, bounded job queue in SQLite with leases: a message stays in the table until it is
//! acknowledged, so a crash between lease and ack redelivers it (at-least-once).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gavel_core::ports::{JobMessage, JobQueue, QueueError, Unavailable};
use rusqlite::{OptionalExtension, params};
use tokio::sync::Notify;
use tracing::error;

use crate::LocalError;
use crate::db::{CachedStatements, Db, DbError, nanos_after, to_nanos};

const SERVICE: &str = "job queue";

// `leased` tells a message held by a consumer from one waiting for a retry: both have
// `visible_at` in the future, but only leases die with the process that took them.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queue (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    message     TEXT NOT NULL,
    enqueued_at INTEGER NOT NULL,
    visible_at  INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    leased      INTEGER NOT NULL DEFAULT 0
);
";

/// The embedded [`JobQueue`], plus the consumer side the workers use.
pub struct SqliteJobQueue {
    db: Db,
    capacity: u64,
    /// Poked on every enqueue so an idle worker starts at once instead of at its next poll.
    wakeup: Arc<Notify>,
}

/// A message taken off the queue, invisible to other consumers until `visible_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub message: JobMessage,
    /// Deliveries so far, this one included.
    pub attempts: u32,
    seq: i64,
}

impl SqliteJobQueue {
    /// Opens (creating if needed) the queue in the SQLite file at `path`. `enqueue` refuses new
    /// messages while `capacity` are waiting or leased.
    pub fn open(path: &Path, capacity: u64) -> Result<SqliteJobQueue, LocalError> {
        SqliteJobQueue::with_db(Db::open(path, None)?, path, capacity)
    }

    pub(crate) fn with_db(db: Db, path: &Path, capacity: u64) -> Result<SqliteJobQueue, LocalError> {
        db.execute_batch(SCHEMA).map_err(|source| LocalError::Database { path: path.to_owned(), source })?;
        Ok(SqliteJobQueue { db, capacity, wakeup: Arc::new(Notify::new()) })
    }

    pub(crate) fn wakeup(&self) -> &Notify {
        &self.wakeup
    }

    /// Takes the oldest visible message for `lease_for`, counting one more delivery.
    pub async fn lease(&self, lease_for: Duration, now: DateTime<Utc>) -> Result<Option<Lease>, Unavailable> {
        self.db
            .call(SERVICE, move |conn| {
                let now = to_nanos(now)?;
                loop {
                    let taken = conn
                        .query_row_cached(
                            "UPDATE queue SET visible_at = ?2, attempts = attempts + 1, leased = 1
                             WHERE seq = (SELECT seq FROM queue WHERE visible_at <= ?1 ORDER BY seq LIMIT 1)
                             RETURNING seq, message, attempts",
                            params![now, nanos_after(now, lease_for)],
                            |row| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?, row.get::<_, u32>(2)?)),
                        )
                        .optional()?;
                    let Some((seq, json, attempts)) = taken else { return Ok(None) };
                    match serde_json::from_str(&json) {
                        Ok(message) => return Ok(Some(Lease { message, attempts, seq })),
                        Err(err) => {
                            // Nothing can ever process it; keeping it would block a slot forever.
                            error!(seq, %err, "dropping an unreadable queue message");
                            conn.execute_cached("DELETE FROM queue WHERE seq = ?1", [seq])?;
                        }
                    }
                }
            })
            .await
    }

    /// Keeps a lease for `lease_for` more from `now`. False when the lease was lost (it expired
    /// and the message went to another consumer, or it was acknowledged).
    pub async fn extend(&self, lease: &Lease, lease_for: Duration, now: DateTime<Utc>) -> Result<bool, Unavailable> {
        let (seq, attempts) = (lease.seq, lease.attempts);
        self.db
            .call(SERVICE, move |conn| {
                let until = nanos_after(to_nanos(now)?, lease_for);
                let changed = conn.execute_cached(
                    "UPDATE queue SET visible_at = ?3 WHERE seq = ?1 AND attempts = ?2 AND leased = 1",
                    params![seq, attempts, until],
                )?;
                Ok(changed > 0)
            })
            .await
    }

    /// Removes a processed message. False when the lease was lost first.
    pub async fn ack(&self, lease: &Lease) -> Result<bool, Unavailable> {
        let (seq, attempts) = (lease.seq, lease.attempts);
        self.db
            .call(SERVICE, move |conn| {
                let changed =
                    conn.execute_cached("DELETE FROM queue WHERE seq = ?1 AND attempts = ?2", params![seq, attempts])?;
                Ok(changed > 0)
            })
            .await
    }

    /// Gives a message back, to be delivered again after `delay` from `now`.
    pub async fn retry_later(&self, lease: &Lease, delay: Duration, now: DateTime<Utc>) -> Result<bool, Unavailable> {
        let (seq, attempts) = (lease.seq, lease.attempts);
        self.db
            .call(SERVICE, move |conn| {
                let at = nanos_after(to_nanos(now)?, delay);
                let changed = conn.execute_cached(
                    "UPDATE queue SET visible_at = ?3, leased = 0 WHERE seq = ?1 AND attempts = ?2",
                    params![seq, attempts, at],
                )?;
                Ok(changed > 0)
            })
            .await
    }

    /// Gives a message back at once without counting the delivery: the consumer stopped (a
    /// shutdown), the job did not fail.
    pub async fn release(&self, lease: &Lease, now: DateTime<Utc>) -> Result<bool, Unavailable> {
        let (seq, attempts) = (lease.seq, lease.attempts);
        let released = self
            .db
            .call(SERVICE, move |conn| {
                let changed = conn.execute_cached(
                    "UPDATE queue SET visible_at = ?3, leased = 0, attempts = attempts - 1
                     WHERE seq = ?1 AND attempts = ?2",
                    params![seq, attempts, to_nanos(now)?],
                )?;
                Ok(changed > 0)
            })
            .await?;
        self.wakeup.notify_one();
        Ok(released)
    }

    /// Makes every leased message visible now; returns how many. Only for a queue no live
    /// consumer uses: at start-up, under the data directory's exclusive lock, every lease belongs
    /// to a process that died, and waiting for them to expire would only delay its jobs.
    pub async fn recover_leases(&self, now: DateTime<Utc>) -> Result<u64, Unavailable> {
        let recovered = self
            .db
            .call(SERVICE, move |conn| {
                let changed = conn.execute_cached(
                    "UPDATE queue SET visible_at = ?1, leased = 0 WHERE leased = 1",
                    [to_nanos(now)?],
                )?;
                Ok(changed as u64)
            })
            .await?;
        self.wakeup.notify_one();
        Ok(recovered)
    }
}

#[async_trait]
impl JobQueue for SqliteJobQueue {
    async fn check_room(&self) -> Result<(), QueueError> {
        if self.depth().await? >= self.capacity {
            return Err(QueueError::Full { capacity: self.capacity });
        }
        Ok(())
    }

    async fn enqueue(&self, message: &JobMessage) -> Result<(), QueueError> {
        let json = serde_json::to_string(message)
            .map_err(|err| Unavailable::new(SERVICE, format!("cannot encode the message: {err}")))?;
        let capacity = self.capacity;
        let now = Utc::now();
        let queued = self
            .db
            .call(SERVICE, move |conn| {
                let now = to_nanos(now)?;
                // One statement checks room and inserts, so concurrent enqueues cannot overfill.
                let changed = conn.execute_cached(
                    "INSERT INTO queue (message, enqueued_at, visible_at)
                     SELECT ?1, ?2, ?2 WHERE (SELECT COUNT(*) FROM queue) < ?3",
                    params![json, now, i64::try_from(capacity).unwrap_or(i64::MAX)],
                )?;
                Ok(changed > 0)
            })
            .await?;
        if !queued {
            return Err(QueueError::Full { capacity });
        }
        self.wakeup.notify_one();
        Ok(())
    }

    async fn depth(&self) -> Result<u64, Unavailable> {
        self.db
            .call(SERVICE, |conn| {
                let count: i64 = conn.query_row_cached("SELECT COUNT(*) FROM queue", [], |row| row.get(0))?;
                u64::try_from(count).map_err(|_| DbError::Data(format!("negative queue count {count}")))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use gavel_core::job::JobId;

    use super::*;

    const LEASE: Duration = Duration::from_secs(60);

    fn message() -> JobMessage {
        let job_id = JobId::new();
        JobMessage {
            bundle_key: gavel_core::ports::keys::bundle(&job_id),
            job_id,
            language: "python".into(),
            judge_data_key: None,
        }
    }

    fn open(dir: &tempfile::TempDir, capacity: u64) -> SqliteJobQueue {
        SqliteJobQueue::open(&dir.path().join("gavel.db"), capacity).expect("open queue")
    }

    fn after(now: DateTime<Utc>, span: Duration) -> DateTime<Utc> {
        now + TimeDelta::from_std(span).expect("span") + TimeDelta::milliseconds(1)
    }

    #[tokio::test]
    async fn leases_hide_messages_in_fifo_order_until_acked_or_expired() {
        let dir = tempfile::tempdir().expect("tempdir");
        let queue = open(&dir, 10);
        let (first, second) = (message(), message());
        queue.enqueue(&first).await.expect("enqueue");
        queue.enqueue(&second).await.expect("enqueue");
        let now = Utc::now();

        let lease = queue.lease(LEASE, now).await.expect("lease").expect("a message");
        assert_eq!((&lease.message, lease.attempts), (&first, 1));
        let next = queue.lease(LEASE, now).await.expect("lease").expect("a message");
        assert_eq!(next.message, second);
        assert_eq!(queue.lease(LEASE, now).await, Ok(None), "both are leased");
        assert_eq!(queue.depth().await, Ok(2), "leased messages still count");

        assert_eq!(queue.ack(&next).await, Ok(true));
        assert_eq!(queue.depth().await, Ok(1));

        // Not acked: it comes back once the lease expires, one delivery later.
        let again = queue.lease(LEASE, after(now, LEASE)).await.expect("lease").expect("redelivered");
        assert_eq!((&again.message, again.attempts), (&first, 2));
        assert_eq!(queue.ack(&lease).await, Ok(false), "a lost lease cannot ack");
        assert_eq!(queue.extend(&lease, LEASE, now).await, Ok(false), "nor extend");
        assert_eq!(queue.ack(&again).await, Ok(true));
        assert_eq!(queue.depth().await, Ok(0));
    }

    #[tokio::test]
    async fn extend_retry_and_release_move_visibility() {
        let dir = tempfile::tempdir().expect("tempdir");
        let queue = open(&dir, 10);
        queue.enqueue(&message()).await.expect("enqueue");
        let now = Utc::now();
        let lease = queue.lease(LEASE, now).await.expect("lease").expect("a message");

        let later = after(now, LEASE);
        assert_eq!(queue.extend(&lease, LEASE, later).await, Ok(true));
        assert_eq!(queue.lease(LEASE, later).await, Ok(None), "extended past the first expiry");

        let delay = Duration::from_secs(5);
        assert_eq!(queue.retry_later(&lease, delay, now).await, Ok(true));
        assert_eq!(queue.lease(LEASE, now).await, Ok(None), "not before the delay");
        let retried = queue.lease(LEASE, after(now, delay)).await.expect("lease").expect("retried");
        assert_eq!(retried.attempts, 2);

        assert_eq!(queue.release(&retried, now).await, Ok(true));
        let released = queue.lease(LEASE, now).await.expect("lease").expect("released at once");
        assert_eq!(released.attempts, 2, "a release does not count as a delivery");
    }

    #[tokio::test]
    async fn capacity_counts_waiting_and_leased_messages() {
        let dir = tempfile::tempdir().expect("tempdir");
        let queue = open(&dir, 2);
        queue.enqueue(&message()).await.expect("enqueue");
        queue.enqueue(&message()).await.expect("enqueue");
        let lease = queue.lease(LEASE, Utc::now()).await.expect("lease").expect("a message");
        assert_eq!(queue.enqueue(&message()).await, Err(QueueError::Full { capacity: 2 }));
        queue.ack(&lease).await.expect("ack");
        assert_eq!(queue.enqueue(&message()).await, Ok(()));
        assert_eq!(queue.depth().await, Ok(2));
    }

    #[tokio::test]
    async fn unreadable_messages_are_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let queue = open(&dir, 10);
        queue
            .db
            .call(SERVICE, |conn| {
                conn.execute("INSERT INTO queue (message, enqueued_at, visible_at) VALUES ('not json', 0, 0)", [])?;
                Ok(())
            })
            .await
            .expect("insert");
        let good = message();
        queue.enqueue(&good).await.expect("enqueue");
        let lease = queue.lease(LEASE, Utc::now()).await.expect("lease").expect("a message");
        assert_eq!(lease.message, good);
        assert_eq!(queue.depth().await, Ok(1));
    }

    #[tokio::test]
    async fn enqueue_wakes_a_waiting_consumer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let queue = Arc::new(open(&dir, 10));
        let waiter = {
            let queue = Arc::clone(&queue);
            tokio::spawn(async move { queue.wakeup().notified().await })
        };
        queue.enqueue(&message()).await.expect("enqueue");
        tokio::time::timeout(Duration::from_secs(10), waiter).await.expect("woken").expect("join");
    }

    /// A restart: a new instance over the same file sees every message, including the one whose
    /// consumer died holding its lease.
    #[tokio::test]
    async fn messages_and_jobs_survive_a_restart() {
        use gavel_core::job::{JobRecord, JobStatus, Transition};
        use gavel_core::ports::JobStore;

        use crate::store::SqliteJobStore;

        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("gavel.db");
        let (leased, waiting) = (message(), message());
        let now = Utc::now();
        {
            let store = SqliteJobStore::open(&db).expect("store");
            let queue = SqliteJobQueue::open(&db, 10).expect("queue");
            for message in [&leased, &waiting] {
                store.create(&JobRecord::pending(message.job_id.clone(), "python", now)).await.expect("create");
                queue.enqueue(message).await.expect("enqueue");
            }
            let lease = queue.lease(LEASE, Utc::now()).await.expect("lease").expect("a message");
            assert_eq!(lease.message, leased);
            assert_eq!(store.mark_running(&leased.job_id, now).await, Ok(Transition::Applied));
            // Dropped without ack: the process died.
        }
        let store = SqliteJobStore::open(&db).expect("reopen store");
        let queue = SqliteJobQueue::open(&db, 10).expect("reopen queue");
        assert_eq!(queue.depth().await, Ok(2));
        let running = store.get(&leased.job_id, Utc::now()).await.expect("get").expect("kept");
        assert_eq!(running.status, JobStatus::Running);

        let restart = Utc::now();
        let next = queue.lease(LEASE, restart).await.expect("lease").expect("the waiting one");
        assert_eq!(next.message, waiting);
        assert_eq!(queue.lease(LEASE, restart).await, Ok(None), "still leased by the dead consumer");
        let redelivered = queue.lease(LEASE, after(restart, LEASE)).await.expect("lease").expect("redelivered");
        assert_eq!((&redelivered.message, redelivered.attempts), (&leased, 2));
    }

    #[tokio::test]
    async fn recovered_leases_are_visible_at_once_but_retries_wait() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("gavel.db");
        let queue = SqliteJobQueue::open(&db, 10).expect("queue");
        queue.enqueue(&message()).await.expect("enqueue");
        queue.enqueue(&message()).await.expect("enqueue");
        let now = Utc::now();
        let retry = queue.lease(LEASE, now).await.expect("lease").expect("a message");
        queue.retry_later(&retry, LEASE, now).await.expect("retry later");
        queue.lease(LEASE, now).await.expect("lease").expect("a message");
        drop(queue);
        let queue = SqliteJobQueue::open(&db, 10).expect("reopen");
        assert_eq!(queue.recover_leases(now).await, Ok(1));
        let lease = queue.lease(LEASE, now).await.expect("lease").expect("recovered");
        assert_eq!(lease.attempts, 2, "the delivery that died with its consumer counts");
        assert_eq!(queue.lease(LEASE, now).await, Ok(None), "the retry keeps its delay");
    }
}
