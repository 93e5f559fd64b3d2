//! The dispatch handler: each SQS record is one job to start. One bad record never fails the
//! batch: records to retry are reported as batch item failures, and SQS moves a record that keeps
//! failing to the dead-letter queue.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::Utc;
use gavel_core::ports::{BlobStore, JobMessage, JobStore, TaskLauncher};
use gavel_core::usecases::{self, Dispatched};
use tracing::{info, warn};

/// The ports this function uses, matching its IAM policy.
#[derive(Clone)]
pub struct Ports {
    pub store: Arc<dyn JobStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub launcher: Arc<dyn TaskLauncher>,
}

pub async fn handle(ports: &Ports, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let message_id = record.message_id.unwrap_or_default();
        let message = record.body.as_deref().map(serde_json::from_str::<JobMessage>);
        let retry = match message {
            Some(Ok(message)) => dispatch(ports, &message).await,
            // Poison: no retry makes it readable; failing it sends it to the DLQ after its receives.
            other => {
                warn!(message_id, error = ?other.map(|m| m.err()), "unreadable job message");
                true
            }
        };
        if retry {
            response.add_failure(message_id);
        }
    }
    response
}

/// Starts one job; true when the record should come back.
async fn dispatch(ports: &Ports, message: &JobMessage) -> bool {
    let outcome = usecases::dispatch(&*ports.store, &*ports.blobs, &*ports.launcher, message, Utc::now()).await;
    match outcome {
        Ok(Dispatched::Launched) => {
            info!(job_id = %message.job_id, "runner task started");
            false
        }
        Ok(other) => {
            info!(job_id = %message.job_id, ?other, "nothing to start");
            false
        }
        Err(err) => {
            warn!(job_id = %message.job_id, %err, "dispatch deferred");
            true
        }
    }
}
