//! What the Judge0 API keeps of a job beside Gavel's own record: the attributes a submission
//! echoes back, one blob per job at `jobs/{job_id}/judge0.json`, inside the job's folder so the
//! job's expiry removes it with the rest.

use gavel_core::JobId;
use gavel_core::offload::offload;
use gavel_core::ports::{BlobError, BlobStore, Unavailable};
use gavel_core::runner::Output;
use gavel_core::usecases::MAX_JUDGE_SPEC_BYTES;
use serde::{Deserialize, Serialize};
use tracing::warn;

use super::limits::Values;

/// What every submission of one job shares: Gavel compiles it once and runs it per submission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Shared {
    pub language_id: u32,
    pub source_code: Output,
    pub command_line_arguments: Option<String>,
    pub values: Values,
    pub enable_per_process_and_thread_time_limit: bool,
    pub enable_per_process_and_thread_memory_limit: bool,
    pub redirect_stderr_to_stdout: bool,
}

/// What is a submission's own within its job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct Item {
    pub stdin: Option<Output>,
    pub expected_output: Option<Output>,
    /// Checked when submitted ([`super::callbacks::check_url`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// Deleted (`DELETE /submissions/{token}`) while other submissions of its job were not.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

/// One job's submissions: item `i`'s runs are the job's tests `i * runs .. (i + 1) * runs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct StoredJob {
    pub shared: Shared,
    pub items: Vec<Item>,
}

impl StoredJob {
    /// Whether the job holds submission `item`, and it was not deleted.
    pub(super) fn has(&self, item: usize) -> bool {
        self.items.get(item).is_some_and(|item| !item.deleted)
    }

    pub(super) fn runs(&self, item: usize) -> std::ops::Range<usize> {
        let runs = usize::try_from(self.shared.values.number_of_runs).unwrap_or(1);
        item * runs..(item + 1) * runs
    }
}

const OFFLOAD_BYTES: usize = 1 << 20;

pub(super) fn key(job_id: &JobId) -> String {
    format!("jobs/{job_id}/judge0.json")
}

pub(super) async fn save(blobs: &dyn BlobStore, job_id: &JobId, job: &StoredJob) -> Result<(), Unavailable> {
    // Serializing plain data of our own cannot fail.
    blobs.put(&key(job_id), serde_json::to_vec(job).unwrap_or_default()).await
}

/// Removes the blob of a job that was refused after it was written.
pub(super) async fn remove(blobs: &dyn BlobStore, job_id: &JobId) {
    if let Err(err) = blobs.delete(&key(job_id)).await {
        warn!(job_id = %job_id, %err, "cannot remove the judge0 data of a job that was not queued");
    }
}

/// The job's Judge0 data; `None` for a job the Judge0 API did not make (or whose data is gone).
pub(super) async fn load(blobs: &dyn BlobStore, job_id: &JobId) -> Result<Option<StoredJob>, Unavailable> {
    let bytes = match blobs.get(&key(job_id), MAX_JUDGE_SPEC_BYTES).await {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Ok(None),
        Err(BlobError::TooLarge { .. }) => {
            warn!(job_id = %job_id, "the judge0 data of a job is larger than any it writes");
            return Ok(None);
        }
        Err(BlobError::Unavailable(err)) => return Err(err),
    };
    let bytes_len = bytes.len();
    let parse = move || serde_json::from_slice::<StoredJob>(&bytes).map_err(|err| err.to_string());
    // Big inputs are parsed off the async threads; the usual few KiB are not worth a thread.
    let parsed = if bytes_len > OFFLOAD_BYTES { offload(parse).await } else { Some(parse()) };
    match parsed {
        Some(Ok(job)) => Ok(Some(job)),
        Some(Err(err)) => {
            warn!(job_id = %job_id, %err, "unreadable judge0 data");
            Ok(None)
        }
        None => Err(Unavailable::new("judge0 data", "parsing failed")),
    }
}
