//! The complete handler. Two events reach it asynchronously: a runner report written to S3 (judge
//! it against the expected outputs, which never left the trusted side) and an ECS task that
//! stopped (if it left no report, the job failed: say why). Both are idempotent, since a terminal
//! job is never rewritten.
//!
//! And two queues, so that no job stays `running`: the jobs queue's dead-letter queue and the
//! destination of this function's own failed invocations ([`handle_failures`]).

mod events;
mod failures;

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use chrono::Utc;
use gavel_core::JobId;
use gavel_core::hooks::NotifyingJobStore;
use gavel_core::job::Transition;
use gavel_core::ports::{BlobStore, JobStore, Unavailable};
use gavel_core::usecases::{self, CompleteError};
use gavel_http::outbound::OutboundError;
use gavel_http::{Delivery, Judge0Callbacks, Judge0Config};

pub use events::{ContainerState, TaskStateChange};
use events::{JobEvent, stop_reason};
pub use failures::handle_failures;

/// The ports this function uses, matching its IAM policy.
#[derive(Clone)]
pub struct Ports {
    pub store: Arc<dyn JobStore>,
    pub blobs: Arc<dyn BlobStore>,
    /// Told of each job the store ends; settled before the invocation answers.
    pub callbacks: Arc<Judge0Callbacks>,
}

impl Ports {
    /// The ports over `store` and `blobs`, where each job that ends makes its Judge0 callbacks
    /// before the invocation answers (a Lambda may be frozen as soon as it has).
    pub fn new(
        store: Arc<dyn JobStore>,
        blobs: Arc<dyn BlobStore>,
        judge0: &Judge0Config,
    ) -> Result<Ports, OutboundError> {
        let callbacks =
            Arc::new(Judge0Callbacks::new(Arc::clone(&store), Arc::clone(&blobs), judge0, Delivery::Settled)?);
        let store = Arc::new(NotifyingJobStore::new(store, callbacks.clone()));
        Ok(Ports { store, blobs, callbacks })
    }
}

/// What happened to each job the event named.
pub type Handled = Vec<(JobId, Transition)>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Lambda retries the invocation (and, for SQS, the whole batch).
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error("an SQS batch this function cannot read: {0}")]
    Batch(serde_json::Error),
}

/// Any event of this function: an SQS batch of one of its queues (answered with the batch item
/// failures), else a report-written or task-stopped event (answered with how many jobs it named).
pub async fn respond(ports: &Ports, max_receives: u32, event: serde_json::Value) -> Result<serde_json::Value, Error> {
    let answer = answer(ports, max_receives, event).await;
    ports.callbacks.settle().await;
    answer
}

async fn answer(ports: &Ports, max_receives: u32, event: serde_json::Value) -> Result<serde_json::Value, Error> {
    if failures::is_sqs(&event) {
        let batch: SqsEvent = serde_json::from_value(event).map_err(Error::Batch)?;
        let answer = handle_failures(ports, max_receives, batch).await;
        return serde_json::to_value(answer).map_err(Error::Batch);
    }
    Ok(handle(ports, event).await?.len().into())
}

/// Handles a report-written or task-stopped event. Only a failing backing service is an error
/// (Lambda then retries the invocation); an event this function cannot read is logged and
/// dropped, since a retry would not make it readable.
pub async fn handle(ports: &Ports, event: serde_json::Value) -> Result<Handled, Unavailable> {
    let mut handled = Vec::new();
    match JobEvent::read(event) {
        JobEvent::Reports(jobs) => {
            for job_id in jobs {
                let missing = || "the runner finished but its report is missing".to_owned();
                handled.push((job_id.clone(), complete(ports, &job_id, missing).await?));
            }
        }
        // With a report the runner finished: the report's own event judges it, and so may this one.
        JobEvent::Stopped(job_id, detail) => {
            let transition = complete(ports, &job_id, || stop_reason(&detail)).await?;
            handled.push((job_id, transition));
        }
        JobEvent::Other => {}
    }
    Ok(handled)
}

/// Judges the job's report; without one, the job failed for `why_missing`.
async fn complete(
    ports: &Ports,
    job_id: &JobId,
    why_missing: impl FnOnce() -> String,
) -> Result<Transition, Unavailable> {
    match usecases::complete(&*ports.store, &*ports.blobs, job_id, Utc::now()).await {
        Ok(transition) => Ok(transition),
        Err(CompleteError::NoReport(_)) => {
            // `fail` logs the reason.
            usecases::fail(&*ports.store, job_id, &why_missing(), Utc::now()).await
        }
        Err(CompleteError::Unavailable(err)) => Err(err),
    }
}
