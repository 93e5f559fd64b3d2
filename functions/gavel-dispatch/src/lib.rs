//! The dispatch handler: each SQS record is one job to start. One bad record never fails the
//! batch: records to retry are reported as batch item failures.
//!
//! A record on its last receive (its `ApproximateReceiveCount` has reached the queue's
//! `maxReceiveCount`) that still cannot start its job fails the job with the reason, instead of
//! going to the dead-letter queue with nobody told. Only what cannot be settled here goes there:
//! poison records (no job can be read from them) and jobs whose failure cannot be recorded (the
//! store is down); the complete function fails the latter from the dead-letter queue.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::Utc;
use gavel_aws::RedriveConfig;
use gavel_core::ports::{BlobStore, JobMessage, JobStore, TaskLauncher};
use gavel_core::usecases::{self, DispatchError, Dispatched};
use tracing::{info, warn};

/// The ports this function uses, matching its IAM policy.
#[derive(Clone)]
pub struct Ports {
    pub store: Arc<dyn JobStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub launcher: Arc<dyn TaskLauncher>,
}

/// The SQS attribute Lambda passes with each record: how often it has been received.
const RECEIVE_COUNT: &str = "ApproximateReceiveCount";

pub async fn handle(ports: &Ports, redrive: &RedriveConfig, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let last_receive = last_receive(&record, redrive.max_receives);
        let message_id = record.message_id.unwrap_or_default();
        let message = record.body.as_deref().map(serde_json::from_str::<JobMessage>);
        let retry = match message {
            Some(Ok(message)) => match dispatch(ports, &message).await {
                Ok(()) => false,
                Err(err) => match last_receive {
                    Some(receives) => !give_up(ports, &message, receives, &err).await,
                    None => {
                        warn!(job_id = %message.job_id, %err, "dispatch deferred");
                        true
                    }
                },
            },
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

/// The record's receive count when this is its last receive: SQS moves it to the dead-letter
/// queue rather than deliver it again. A count that is missing or unreadable is not the last
/// (the dead-letter queue's consumer is the safety net).
fn last_receive(record: &SqsMessage, max_receives: u32) -> Option<u32> {
    let receives: u32 = record.attributes.get(RECEIVE_COUNT)?.trim().parse().ok()?;
    (receives >= max_receives).then_some(receives)
}

/// Starts one job; an error when the record should come back.
async fn dispatch(ports: &Ports, message: &JobMessage) -> Result<(), DispatchError> {
    match usecases::dispatch(&*ports.store, &*ports.blobs, &*ports.launcher, message, Utc::now()).await? {
        Dispatched::Launched => info!(job_id = %message.job_id, "runner task started"),
        other => info!(job_id = %message.job_id, ?other, "nothing to start"),
    }
    Ok(())
}

/// Fails a job whose message is on its last receive; true once the failure is recorded (or the
/// job was over already), false when the record must go on to the dead-letter queue.
async fn give_up(ports: &Ports, message: &JobMessage, receives: u32, err: &DispatchError) -> bool {
    let reason = format!("gave up dispatching after {receives} receives: {err}");
    match usecases::fail(&*ports.store, &message.job_id, &reason, Utc::now()).await {
        Ok(transition) => {
            info!(job_id = %message.job_id, ?transition, "last receive: the job's failure is recorded");
            true
        }
        Err(store) => {
            warn!(job_id = %message.job_id, %store, "last receive: cannot record the failure; to the dead-letter queue");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(attributes: &[(&str, &str)]) -> SqsMessage {
        let mut record = SqsMessage::default();
        record.attributes = attributes.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
        record
    }

    #[test]
    fn the_last_receive_is_the_one_that_reaches_the_queues_maximum() {
        let count = |value| record(&[(RECEIVE_COUNT, value), ("SentTimestamp", "1795642209301")]);
        assert_eq!(last_receive(&count("1"), 3), None);
        assert_eq!(last_receive(&count("2"), 3), None);
        assert_eq!(last_receive(&count("3"), 3), Some(3));
        assert_eq!(last_receive(&count("5"), 3), Some(5), "the maximum lowered since it was received");
        assert_eq!(last_receive(&count("1"), 1), Some(1));
    }

    #[test]
    fn an_unknown_receive_count_is_never_the_last() {
        assert_eq!(last_receive(&record(&[]), 1), None);
        for garbage in ["", "many", "-1", "3.0"] {
            assert_eq!(last_receive(&record(&[(RECEIVE_COUNT, garbage)]), 1), None, "{garbage:?}");
        }
    }

    #[test]
    fn the_fixtures_records_are_first_receives() {
        let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/events/sqs-dispatch.json");
        let event: SqsEvent =
            serde_json::from_str(&std::fs::read_to_string(fixture).expect("the fixture")).expect("an SQS event");
        for record in &event.records {
            assert_eq!(record.attributes.get(RECEIVE_COUNT).map(String::as_str), Some("1"));
            assert_eq!(last_receive(record, 3), None);
        }
    }
}
