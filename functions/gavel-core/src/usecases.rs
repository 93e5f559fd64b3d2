//! The use cases: submit, dispatch, complete (or fail), get, delete. At-least-once everywhere: each is
//! safe to repeat, because transitions are conditional and terminal states are final.

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use crate::job::{JobId, JobRecord, Listing, Outcome, Removal, Transition};
use crate::judge::{self, JudgeSpec};
use crate::limits::ServerLimits;
use crate::offload::offload;
use crate::ports::{
    BlobError, BlobStore, JobMessage, JobQueue, JobStore, LaunchError, QueueError, RunnerTask, TaskLauncher,
    Unavailable, keys,
};
use crate::request::{self, ExecuteRequest, RequestError};
use crate::runner::Report;

#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    pub job_id: JobId,
    pub record: JobRecord,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Invalid(#[from] RequestError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// Validates, checks the queue has room, stores the bundle and the judge spec, records the job as
/// pending and queues it. The record exists before the answer, so an id we hand out is never a
/// 404 within 24 h; a submission refused on the way leaves no blobs behind.
pub async fn submit(
    store: &dyn JobStore,
    blobs: &dyn BlobStore,
    queue: &dyn JobQueue,
    server: &ServerLimits,
    request: ExecuteRequest,
    now: DateTime<Utc>,
) -> Result<Accepted, SubmitError> {
    let job = NewJob { id: JobId::new(), listing: None };
    submit_with_id(store, blobs, queue, server, request, job, now).await
}

/// What an edge chooses for a job it submits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// Must be fresh: a random UUID, as [`JobId::new`] makes.
    pub id: JobId,
    pub listing: Option<Listing>,
}

/// [`submit`] under an id the caller chose, for an edge that must know the id before the job
/// exists (the Judge0 API derives its tokens from it and stores its own data under it), and
/// listed as the edge says.
pub async fn submit_with_id(
    store: &dyn JobStore,
    blobs: &dyn BlobStore,
    queue: &dyn JobQueue,
    server: &ServerLimits,
    request: ExecuteRequest,
    job: NewJob,
    now: DateTime<Utc>,
) -> Result<Accepted, SubmitError> {
    let NewJob { id: job_id, listing } = job;
    let submission = request::validate(request, server)?;
    // Before anything is written: a full queue answers 429 with nothing to clean up.
    queue.check_room().await?;
    let language = submission.language.id;
    let tests = submission.tests.len();
    let (bundle, spec) = judge::split(submission, job_id.clone(), server.compile);
    let judge_data = judge::judge_data(&spec, &job_id);
    let record = JobRecord { listing, ..JobRecord::pending(job_id.clone(), language, now) };
    let written = async {
        blobs.put(&keys::bundle(&job_id), to_json(&bundle)).await?;
        blobs.put(&keys::judge_spec(&job_id), to_json(&spec)).await?;
        if let Some(judge_data) = &judge_data {
            blobs.put(&keys::judge_data(&job_id), to_json(judge_data)).await?;
        }
        store.create(&record).await
    };
    if let Err(err) = written.await {
        remove_inputs(blobs, &job_id).await;
        return Err(err.into());
    }
    let message = JobMessage {
        job_id: job_id.clone(),
        language: language.to_owned(),
        bundle_key: keys::bundle(&job_id),
        judge_data_key: judge_data.is_some().then(|| keys::judge_data(&job_id)),
    };
    if let Err(err) = queue.enqueue(&message).await {
        // The client is told to retry; the record must not stay pending forever.
        let failed = store.finish(&job_id, Outcome::Failed(format!("not queued: {err}")), now).await;
        remove_inputs(blobs, &job_id).await;
        failed?;
        return Err(err.into());
    }
    info!(job_id = %job_id, language, tests, "job accepted");
    Ok(Accepted { job_id, record })
}

/// Removes what a submission stored for a job that will never run.
async fn remove_inputs(blobs: &dyn BlobStore, job_id: &JobId) {
    for key in [keys::bundle(job_id), keys::judge_spec(job_id), keys::judge_data(job_id)] {
        if let Err(err) = blobs.delete(&key).await {
            warn!(job_id = %job_id, key, %err, "cannot remove a blob of a job that was not queued");
        }
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Serializing our own plain data types cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dispatched {
    Launched,
    /// The job already ended, expired or never existed: the message is dropped.
    Skipped(Transition),
    /// The launcher refused for good; the job was marked failed.
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DispatchError {
    /// Leave the message on the queue for another try.
    #[error("retry later: {0}")]
    Retry(String),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// Marks the job running and starts the runner for it.
pub async fn dispatch(
    store: &dyn JobStore,
    blobs: &dyn BlobStore,
    launcher: &dyn TaskLauncher,
    message: &JobMessage,
    now: DateTime<Utc>,
) -> Result<Dispatched, DispatchError> {
    let job_id = &message.job_id;
    match store.mark_running(job_id, now).await? {
        Transition::Applied => {}
        skipped => {
            info!(job_id = %job_id, ?skipped, "dispatch skipped");
            return Ok(Dispatched::Skipped(skipped));
        }
    }
    let task = RunnerTask {
        job_id: job_id.clone(),
        language: message.language.clone(),
        bundle_url: blobs.read_url(&message.bundle_key).await?,
        report_url: blobs.write_url(&keys::report(job_id)).await?,
        judge_data_url: match &message.judge_data_key {
            Some(key) => Some(blobs.read_url(key).await?),
            None => None,
        },
    };
    match launcher.launch(&task).await {
        Ok(()) => Ok(Dispatched::Launched),
        Err(LaunchError::Retryable(reason)) => Err(DispatchError::Retry(reason)),
        Err(LaunchError::Fatal(reason)) => {
            warn!(job_id = %job_id, %reason, "launch failed");
            store.finish(job_id, Outcome::Failed(reason.clone()), now).await?;
            Ok(Dispatched::Failed(reason))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompleteError {
    #[error("no report for job {0} yet")]
    NoReport(JobId),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// The largest judge spec read: the tests' inputs and expected outputs, which came in a request
/// body of a few MiB, JSON-escaped.
pub const MAX_JUDGE_SPEC_BYTES: u64 = 256 * 1024 * 1024;

/// Judges the job's report against the expected outputs and stores the result, once. The report
/// is read only up to what the job's outputs can take ([`judge::report_limit`]), and parsed and
/// judged off the caller's async threads.
pub async fn complete(
    store: &dyn JobStore,
    blobs: &dyn BlobStore,
    job_id: &JobId,
    now: DateTime<Utc>,
) -> Result<Transition, CompleteError> {
    let outcome = match read_spec(blobs, job_id).await? {
        Err(failure) => failure,
        Ok(spec) => match blobs.get(&keys::report(job_id), spec.report_limit_bytes).await {
            Ok(None) => return Err(CompleteError::NoReport(job_id.clone())),
            Ok(Some(bytes)) => {
                let job = job_id.clone();
                offload(move || judge_report(&spec, &job, &bytes))
                    .await
                    .unwrap_or_else(|| Outcome::Failed("judging the report failed (a bug in Gavel)".into()))
            }
            Err(BlobError::TooLarge { limit, .. }) => Outcome::Failed(format!(
                "the runner's report is larger than {limit} bytes, the most this job's outputs can take; it was not read"
            )),
            Err(BlobError::Unavailable(err)) => return Err(err.into()),
        },
    };
    let transition = store.finish(job_id, outcome, now).await?;
    info!(job_id = %job_id, ?transition, "job completed");
    Ok(transition)
}

/// The job's judge spec, or the outcome of a job whose spec cannot be had.
async fn read_spec(blobs: &dyn BlobStore, job_id: &JobId) -> Result<Result<JudgeSpec, Outcome>, Unavailable> {
    let missing = || Outcome::Failed("the job's test data is missing".into());
    let bytes = match blobs.get(&keys::judge_spec(job_id), MAX_JUDGE_SPEC_BYTES).await {
        Ok(Some(bytes)) => bytes,
        Ok(None) | Err(BlobError::TooLarge { .. }) => return Ok(Err(missing())),
        Err(BlobError::Unavailable(err)) => return Err(err),
    };
    Ok(offload(move || serde_json::from_slice::<JudgeSpec>(&bytes).ok()).await.flatten().ok_or_else(missing))
}

fn judge_report(spec: &JudgeSpec, job_id: &JobId, bytes: &[u8]) -> Outcome {
    match serde_json::from_slice::<Report>(bytes) {
        Err(err) => Outcome::Failed(format!("unreadable runner report: {err}")),
        Ok(report) if report.job_id != *job_id => Outcome::Failed("the runner report belongs to another job".into()),
        Ok(report) => judge::judge(spec, report),
    }
}

/// Ends a job the platform could not finish (no report, a stopped task). A no-op once terminal.
pub async fn fail(
    store: &dyn JobStore,
    job_id: &JobId,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Transition, Unavailable> {
    warn!(job_id = %job_id, reason, "job failed");
    store.finish(job_id, Outcome::Failed(reason.to_owned()), now).await
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GetError {
    #[error("no job {0}, or it has expired")]
    NotFound(String),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// Reads a job. Unknown, malformed and expired ids are all not found.
pub async fn get(store: &dyn JobStore, job_id: &str, now: DateTime<Utc>) -> Result<JobRecord, GetError> {
    let not_found = || GetError::NotFound(job_id.chars().take(64).collect());
    let id: JobId = job_id.parse().map_err(|_| not_found())?;
    match store.get(&id, now).await? {
        Some(record) if !record.is_expired(now) => Ok(record),
        _ => Err(not_found()),
    }
}

/// Deletes an ended job: its record, then its blobs (the core's and the caller's `extra` keys).
/// Once the record is gone the job reads as not found everywhere; a blob that cannot be deleted
/// is left to the job folder's expiry.
pub async fn delete(
    store: &dyn JobStore,
    blobs: &dyn BlobStore,
    job_id: &JobId,
    extra: &[String],
    now: DateTime<Utc>,
) -> Result<Removal, Unavailable> {
    let removal = store.delete_ended(job_id, now).await?;
    if removal == Removal::Removed {
        for key in keys::all(job_id).iter().chain(extra) {
            if let Err(err) = blobs.delete(key).await {
                warn!(job_id = %job_id, key, %err, "cannot delete a blob of a deleted job; it expires with its folder");
            }
        }
        info!(job_id = %job_id, "job deleted");
    }
    Ok(removal)
}

#[cfg(test)]
mod tests;
