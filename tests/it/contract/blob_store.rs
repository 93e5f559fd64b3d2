//! The `BlobStore` contract: byte-exact round trips, overwrites, absence, capped reads, deletes,
//! and runner URLs.

use gavel_core::job::JobId;
use gavel_core::ports::{BlobError, BlobStore, keys};

/// A cap no test blob comes near.
const ANY: u64 = 1 << 30;

pub async fn put_then_get(blobs: &dyn BlobStore) {
    let key = keys::bundle(&JobId::new());
    let bytes: Vec<u8> = (0..=255).cycle().take(100_000).collect();
    blobs.put(&key, bytes.clone()).await.expect("put");
    assert_eq!(blobs.get(&key, ANY).await, Ok(Some(bytes)));
}

pub async fn empty_blobs_are_blobs(blobs: &dyn BlobStore) {
    let key = keys::judge_spec(&JobId::new());
    blobs.put(&key, Vec::new()).await.expect("put");
    assert_eq!(blobs.get(&key, ANY).await, Ok(Some(Vec::new())));
}

pub async fn put_overwrites(blobs: &dyn BlobStore) {
    let key = keys::report(&JobId::new());
    blobs.put(&key, b"first, and longer".to_vec()).await.expect("put");
    blobs.put(&key, b"second".to_vec()).await.expect("overwrite");
    assert_eq!(blobs.get(&key, ANY).await, Ok(Some(b"second".to_vec())));
}

pub async fn missing_is_none(blobs: &dyn BlobStore) {
    assert_eq!(blobs.get(&keys::report(&JobId::new()), ANY).await, Ok(None));
}

/// URLs are what the runner is given: absolute, one per key, and available before the blob is
/// written (the runner writes the report itself).
pub async fn urls_name_their_blob(blobs: &dyn BlobStore) {
    let job = JobId::new();
    let (bundle, report) = (keys::bundle(&job), keys::report(&job));
    blobs.put(&bundle, b"{}".to_vec()).await.expect("put");
    let read = blobs.read_url(&bundle).await.expect("read url");
    let write = blobs.write_url(&report).await.expect("write url for a blob not yet written");
    for url in [&read, &write] {
        assert!(["file:///", "http://", "https://"].iter().any(|scheme| url.starts_with(scheme)), "{url}");
    }
    assert_ne!(blobs.read_url(&keys::bundle(&JobId::new())).await.expect("read url"), read, "one URL per key");
    assert_eq!(blobs.get(&report, ANY).await, Ok(None), "asking for a URL writes nothing");
}

/// A reader's cap holds: a blob over it is refused without being read, one at it is read.
pub async fn reads_are_capped(blobs: &dyn BlobStore) {
    let key = keys::report(&JobId::new());
    blobs.put(&key, vec![7; 1000]).await.expect("put");
    assert_eq!(blobs.get(&key, 1000).await, Ok(Some(vec![7; 1000])));
    assert_eq!(blobs.get(&key, 999).await, Err(BlobError::TooLarge { key: key.clone(), limit: 999 }));
}

pub async fn delete_removes_and_tolerates_absence(blobs: &dyn BlobStore) {
    let key = keys::bundle(&JobId::new());
    blobs.put(&key, b"{}".to_vec()).await.expect("put");
    blobs.delete(&key).await.expect("delete");
    assert_eq!(blobs.get(&key, ANY).await, Ok(None));
    blobs.delete(&key).await.expect("deleting what is gone is fine");
}
