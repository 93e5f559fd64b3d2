//! Blobs as files under one root. Keys are checked before they become paths, so no key can
//! name a file outside the root. Every folder is created 0700 and every file 0600: bundles and
//! judge specs hold hidden tests.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use async_trait::async_trait;
use gavel_core::job::JobId;
use gavel_core::ports::{BlobError, BlobStore, Unavailable};
use tracing::warn;

use crate::LocalError;

const SERVICE: &str = "blob store";

/// The folder holding every job's blobs (see `gavel_core::ports::keys`).
const JOBS: &str = "jobs";

/// The embedded [`BlobStore`]: `root/<key>`, written atomically; URLs are `file://` + absolute path.
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    /// Uses (creating if needed) the directory `root`.
    pub fn new(root: impl Into<PathBuf>) -> Result<FsBlobStore, LocalError> {
        let root = root.into();
        let io = |source| LocalError::Io { path: root.clone(), source };
        create_private_dirs(&root).map_err(io)?;
        // Canonical, so URLs are absolute and free of symlinks and `..`.
        let root = fs::canonicalize(&root).map_err(io)?;
        Ok(FsBlobStore { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Removes every blob whose key starts with the segments of `prefix` (a whole folder).
    pub async fn delete_prefix(&self, prefix: &str) -> Result<(), Unavailable> {
        let path = self.path(prefix)?;
        run_blocking(move || match fs::remove_dir_all(&path) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other.map_err(|err| unavailable(&path, err)),
        })
        .await
    }

    /// Removes a job's blobs: bundle, judge spec and report.
    pub async fn delete_job(&self, id: &JobId) -> Result<(), Unavailable> {
        self.delete_prefix(&format!("{JOBS}/{id}")).await
    }

    /// Removes the blob folders of jobs not touched since `cutoff`, returning how many. Catches
    /// what record sweeps cannot: blobs of a submission that failed before its record was written.
    pub async fn delete_jobs_older_than(&self, cutoff: SystemTime) -> Result<u64, Unavailable> {
        let jobs = self.root.join(JOBS);
        run_blocking(move || {
            let entries = match fs::read_dir(&jobs) {
                Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(0),
                other => other.map_err(|err| unavailable(&jobs, err))?,
            };
            let mut deleted = 0;
            for entry in entries {
                let entry = entry.map_err(|err| unavailable(&jobs, err))?;
                // symlink_metadata: a planted link is never followed (and never ours).
                let Ok(meta) = entry.path().symlink_metadata() else { continue };
                let stale = meta.modified().is_ok_and(|modified| modified < cutoff);
                if meta.is_dir() && stale {
                    match fs::remove_dir_all(entry.path()) {
                        Ok(()) => deleted += 1,
                        Err(err) => warn!(path = %entry.path().display(), %err, "cannot delete stale blobs"),
                    }
                }
            }
            Ok(deleted)
        })
        .await
    }

    fn path(&self, key: &str) -> Result<PathBuf, Unavailable> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }
}

/// Keys are relative paths of `[A-Za-z0-9._-]+` segments joined by `/`, none of them `.` or `..`.
pub fn validate_key(key: &str) -> Result<(), Unavailable> {
    let refuse = |why: &str| Err(Unavailable::new(SERVICE, format!("invalid blob key {key:?}: {why}")));
    if key.is_empty() {
        return refuse("empty");
    }
    for segment in key.split('/') {
        if segment.is_empty() {
            return refuse("empty segment (or an absolute path)");
        }
        if segment == "." || segment == ".." {
            return refuse("`.` and `..` segments are not allowed");
        }
        if !segment.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
            return refuse("only A-Z, a-z, 0-9, `.`, `_` and `-` are allowed in a segment");
        }
    }
    Ok(())
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), Unavailable> {
        let path = self.path(key)?;
        run_blocking(move || write_atomically(&path, &bytes).map_err(|err| unavailable(&path, err))).await
    }

    async fn get(&self, key: &str, limit: u64) -> Result<Option<Vec<u8>>, BlobError> {
        let path = self.path(key)?;
        let key = key.to_owned();
        run_blocking(move || match read_capped(&path, limit) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(err) if err.kind() == io::ErrorKind::FileTooLarge => Err(BlobError::TooLarge { key, limit }),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(unavailable(&path, err).into()),
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), Unavailable> {
        let path = self.path(key)?;
        run_blocking(move || match fs::remove_file(&path) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => Err(unavailable(&path, err)),
            _ => Ok(()),
        })
        .await
    }

    async fn read_url(&self, key: &str) -> Result<String, Unavailable> {
        Ok(file_url(&self.path(key)?))
    }

    /// The runner writes there itself, so the folder must exist.
    async fn write_url(&self, key: &str) -> Result<String, Unavailable> {
        let path = self.path(key)?;
        if let Some(parent) = path.parent() {
            let parent = parent.to_owned();
            run_blocking(move || create_private_dirs(&parent).map_err(|err| unavailable(&parent, err))).await?;
        }
        Ok(file_url(&path))
    }
}

/// The runner takes everything after `file://` as the path, verbatim.
fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// Creates `dir` and its missing parents, each 0700.
pub(crate) fn create_private_dirs(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Reads a regular file of at most `limit` bytes without following a symlink at its name (the
/// file may be where a program could have planted one). A larger file is `FileTooLarge`, and is
/// never read whole.
pub(crate) fn read_capped(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let file = OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{} is not a regular file", path.display())));
    }
    if meta.len() > limit {
        return Err(io::ErrorKind::FileTooLarge.into());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // It may still grow while we read: never past the limit.
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::ErrorKind::FileTooLarge.into());
    }
    Ok(bytes)
}

/// Readers see the old blob or the new one, never a torn one, even after the process is killed.
/// The file is 0600, made under a fresh name that no link can already hold. Not synced to disk:
/// blobs are as durable as the database's commits (`synchronous=NORMAL`: across a crash of the
/// process, not a power loss), and the fsyncs were a fifth of the server's CPU per job.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let parent = path.parent().ok_or_else(|| io::Error::other("a blob path has no parent"))?;
    create_private_dirs(parent)?;
    let tmp = parent.join(format!(".{}.tmp", uuid::Uuid::new_v4()));
    let written = (|| {
        let mut file =
            OpenOptions::new().write(true).create_new(true).mode(0o600).custom_flags(libc::O_NOFOLLOW).open(&tmp)?;
        file.write_all(bytes)?;
        fs::rename(&tmp, path)
    })();
    if written.is_err() {
        // Best effort: the write already failed, and a leftover temp file is only litter.
        let _ = fs::remove_file(&tmp);
    }
    written
}

async fn run_blocking<R: Send + 'static, E: From<Unavailable> + Send + 'static>(
    f: impl FnOnce() -> Result<R, E> + Send + 'static,
) -> Result<R, E> {
    tokio::task::spawn_blocking(f).await.map_err(|err| Unavailable::new(SERVICE, format!("file task failed: {err}")))?
}

fn unavailable(path: &Path, err: io::Error) -> Unavailable {
    Unavailable::new(SERVICE, format!("{}: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn blobs() -> (tempfile::TempDir, FsBlobStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = FsBlobStore::new(dir.path().join("blobs")).expect("blob store");
        (dir, blobs)
    }

    #[test]
    fn keys_are_validated() {
        for good in ["a", "jobs/1b4e28ba-2fa1-11d2-883f-0016d3cca427/report.json", "x/.hidden", "A_b-c.d"] {
            assert_eq!(validate_key(good), Ok(()), "{good}");
        }
        for bad in ["", "/etc/passwd", "a//b", "a/", "..", "a/../b", "./a", "a b", "a\\b", "é", "a/\0"] {
            let err = validate_key(bad).expect_err(bad);
            assert!(err.message.contains("invalid blob key"), "{err}");
        }
    }

    #[tokio::test]
    async fn bad_keys_touch_nothing() {
        let (_dir, blobs) = blobs();
        assert!(blobs.put("../escape", b"x".to_vec()).await.is_err());
        assert!(blobs.get("../../etc/passwd", 1 << 20).await.is_err());
        assert!(blobs.write_url("/tmp/x").await.is_err());
        assert!(blobs.delete_prefix("..").await.is_err());
        assert!(!blobs.root().parent().expect("parent").join("escape").exists());
    }

    #[tokio::test]
    async fn writes_are_atomic_and_leave_no_temp_files() {
        let (_dir, blobs) = blobs();
        blobs.put("jobs/a/report.json", b"first".to_vec()).await.expect("put");
        blobs.put("jobs/a/report.json", b"second".to_vec()).await.expect("overwrite");
        assert_eq!(blobs.get("jobs/a/report.json", 1 << 20).await, Ok(Some(b"second".to_vec())));
        let names: Vec<_> = fs::read_dir(blobs.root().join("jobs/a"))
            .expect("read dir")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["report.json"]);
    }

    #[tokio::test]
    async fn urls_are_absolute_file_paths_the_runner_can_use() {
        let (_dir, blobs) = blobs();
        let url = blobs.write_url("jobs/b/report.json").await.expect("write url");
        let path = url.strip_prefix("file://").expect("file url");
        assert!(Path::new(path).is_absolute());
        // The runner writes through the URL; the store reads the same blob.
        fs::write(path, b"report").expect("write through the url");
        assert_eq!(blobs.get("jobs/b/report.json", 1 << 20).await, Ok(Some(b"report".to_vec())));
        assert_eq!(blobs.read_url("jobs/b/report.json").await, Ok(url));
    }

    #[tokio::test]
    async fn job_blobs_are_deleted_by_job_and_by_age() {
        let (_dir, blobs) = blobs();
        let (gone, kept) = (JobId::new(), JobId::new());
        for id in [&gone, &kept] {
            blobs.put(&gavel_core::ports::keys::bundle(id), b"{}".to_vec()).await.expect("put");
        }
        blobs.delete_job(&gone).await.expect("delete");
        blobs.delete_job(&gone).await.expect("deleting twice is fine");
        assert_eq!(blobs.get(&gavel_core::ports::keys::bundle(&gone), 1 << 20).await, Ok(None));
        assert!(blobs.get(&gavel_core::ports::keys::bundle(&kept), 1 << 20).await.expect("get").is_some());

        let past = SystemTime::now() - Duration::from_secs(3600);
        assert_eq!(blobs.delete_jobs_older_than(past).await, Ok(0));
        let future = SystemTime::now() + Duration::from_secs(3600);
        assert_eq!(blobs.delete_jobs_older_than(future).await, Ok(1));
        assert_eq!(blobs.get(&gavel_core::ports::keys::bundle(&kept), 1 << 20).await, Ok(None));
    }
}
