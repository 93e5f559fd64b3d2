//! The contract suites against the embedded adapters, on real SQLite files and directories.

use gavel_local::{FsBlobStore, SqliteJobQueue, SqliteJobStore};
use tempfile::TempDir;

use super::{blob_store, blob_store_contract, contract_tests, job_queue, job_store, job_store_contract};

fn tempdir() -> TempDir {
    tempfile::tempdir().expect("tempdir")
}

fn store() -> (TempDir, SqliteJobStore) {
    let dir = tempdir();
    let store = SqliteJobStore::open(&dir.path().join("gavel.db")).expect("open store");
    (dir, store)
}

fn queue(capacity: u64) -> (TempDir, SqliteJobQueue) {
    let dir = tempdir();
    let queue = SqliteJobQueue::open(&dir.path().join("gavel.db"), capacity).expect("open queue");
    (dir, queue)
}

fn blobs() -> (TempDir, FsBlobStore) {
    let dir = tempdir();
    let blobs = FsBlobStore::new(dir.path().join("blobs")).expect("open blobs");
    (dir, blobs)
}

mod sqlite_job_store {
    use super::*;

    job_store_contract!(store());
}

mod sqlite_job_queue {
    use super::*;

    contract_tests!(job_queue, queue(100), [enqueue_counts_in_depth]);

    #[tokio::test]
    async fn refuses_beyond_capacity() {
        let (_dir, queue) = queue(3);
        job_queue::refuses_beyond_capacity(&queue, 3).await;
    }
}

mod fs_blob_store {
    use super::*;

    blob_store_contract!(blobs());
}
