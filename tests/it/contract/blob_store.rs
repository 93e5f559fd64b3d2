//! The `BlobStore` contract: byte-exact round trips, overwrites, absence, and runner URLs.

use gavel_core::job::JobId;
use gavel_core::ports::{BlobStore, keys};

pub async fn put_then_get(blobs: &dyn BlobStore) {
    let key = keys::bundle(&JobId::new());
    let bytes: Vec<u8> = (0..=255).cycle().take(100_000).collect();
    blobs.put(&key, bytes.clone()).await.expect("put");
    assert_eq!(blobs.get(&key).await, Ok(Some(bytes)));
}

pub async fn empty_blobs_are_blobs(blobs: &dyn BlobStore) {
    let key = keys::judge_spec(&JobId::new());
    blobs.put(&key, Vec::new()).await.expect("put");
    assert_eq!(blobs.get(&key).await, Ok(Some(Vec::new())));
}

pub async fn put_overwrites(blobs: &dyn BlobStore) {
    let key = keys::report(&JobId::new());
    blobs.put(&key, b"first, and longer".to_vec()).await.expect("put");
    blobs.put(&key, b"second".to_vec()).await.expect("overwrite");
    assert_eq!(blobs.get(&key).await, Ok(Some(b"second".to_vec())));
}

pub async fn missing_is_none(blobs: &dyn BlobStore) {
    assert_eq!(blobs.get(&keys::report(&JobId::new())).await, Ok(None));
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
    assert_eq!(blobs.get(&report).await, Ok(None), "asking for a URL writes nothing");
}
