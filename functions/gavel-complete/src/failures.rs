//! The consumer of the two queues where a job's end could otherwise be lost: the jobs queue's
//! dead-letter queue (a job message dispatch gave up on) and `CompleteFailuresQueue` (Lambda's
//! record of an asynchronous invocation of this function that failed for good: a report-written
//! or task-stopped event that could not be handled). Each job they name is failed with the reason;
//! a job already over is left as it is (the store's transitions are conditional).
//!
//! One bad record never fails the batch (ReportBatchItemFailures): a record is retried only when
//! the store could not take the failure, and an unreadable one stays in its queue for a human
//! (both queues are alarmed).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::Utc;
use gavel_core::JobId;
use gavel_core::ports::JobMessage;
use gavel_core::usecases;
use serde::Deserialize;
use serde_json::Value;
use tracing::{info, warn};

use crate::Ports;
use crate::events::JobEvent;

/// A record of either queue.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Record {
    FailedInvocation(FailedInvocation),
    /// SQS moves a message to the dead-letter queue as it was: the `JobMessage` JSON.
    DeadLetter(JobMessage),
}

/// What Lambda writes to an on-failure destination for an asynchronous invocation (the fields
/// used here): the event as `requestPayload`, why it gave up in `requestContext`, and the
/// function's error in `responseContext` / `responsePayload`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FailedInvocation {
    request_context: InvocationContext,
    request_payload: Value,
    #[serde(default)]
    response_context: Option<ResponseContext>,
    /// The function's error, `{"errorType": …, "errorMessage": …}`; absent when the event was
    /// never handed to the function (it aged out of the asynchronous queue).
    #[serde(default)]
    response_payload: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InvocationContext {
    /// `RetriesExhausted` or `EventAgeExceeded`.
    #[serde(default)]
    condition: String,
    #[serde(default)]
    approximate_invoke_count: u32,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResponseContext {
    /// `Unhandled` (a crash, a timeout, out of memory) or `Handled`.
    #[serde(default)]
    function_error: Option<String>,
}

/// The largest part of a function error quoted in a job's failure.
const MAX_QUOTED_ERROR: usize = 1024;

impl FailedInvocation {
    /// Why the invocation failed, in the function's words where it had any.
    fn error(&self) -> String {
        let context = &self.request_context;
        let message = self
            .response_payload
            .as_ref()
            .and_then(|payload| payload.get("errorMessage").and_then(Value::as_str).or(payload.as_str()))
            .map(|message| message.chars().take(MAX_QUOTED_ERROR).collect::<String>())
            .or_else(|| self.response_context.as_ref()?.function_error.as_ref().map(|e| format!("{e} error")))
            .unwrap_or_else(|| "no error given".to_owned());
        format!("{message} ({}, {} attempts)", context.condition, context.approximate_invoke_count)
    }
}

impl Record {
    fn read(body: &str) -> Option<Record> {
        serde_json::from_str(body).ok()
    }

    /// The jobs the record names and the reason each is failed with.
    fn failures(self, max_receives: u32) -> (Vec<JobId>, String) {
        match self {
            Record::DeadLetter(message) => (
                vec![message.job_id],
                format!(
                    "gave up dispatching after {max_receives} receives: the job's message reached the dead-letter \
                     queue (dispatch failed, timed out or could not record the failure on every receive)"
                ),
            ),
            Record::FailedInvocation(invocation) => {
                let reason = format!("completing the job failed repeatedly: {}", invocation.error());
                (JobEvent::read(invocation.request_payload).jobs(), reason)
            }
        }
    }
}

/// Whether an event is an SQS batch (rather than an S3 or EventBridge event).
pub(crate) fn is_sqs(event: &Value) -> bool {
    event.pointer("/Records/0/eventSource").and_then(Value::as_str) == Some("aws:sqs")
}

/// Fails the job of each record; the records to retry are the batch item failures.
pub async fn handle_failures(ports: &Ports, max_receives: u32, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let message_id = record.message_id.unwrap_or_default();
        let Some(read) = record.body.as_deref().and_then(Record::read) else {
            warn!(message_id, queue = record.event_source_arn, "an unreadable record; it stays in its queue");
            response.add_failure(message_id);
            continue;
        };
        let (jobs, reason) = read.failures(max_receives);
        if jobs.is_empty() {
            info!(message_id, "a record that names no job");
        }
        let mut retry = false;
        for job_id in jobs {
            match usecases::fail(&*ports.store, &job_id, &reason, Utc::now()).await {
                Ok(transition) => info!(job_id = %job_id, ?transition, "a job given up on"),
                Err(err) => {
                    warn!(job_id = %job_id, %err, "cannot record the job's failure; the record comes back");
                    retry = true;
                }
            }
        }
        if retry {
            response.add_failure(message_id);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::events::tests::fixture;

    const JOB: &str = "0b6f3a52-6c1e-4d7a-9f2b-3c8e5d1a7b40";

    /// The body of the first record of a queue fixture.
    fn body(name: &str) -> String {
        fixture(name)["Records"][0]["body"].as_str().expect("a body").to_owned()
    }

    #[test]
    fn a_dead_letter_is_its_job_message() {
        let (jobs, reason) = Record::read(&body("sqs-dead-letter.json")).expect("readable").failures(3);
        assert_eq!(jobs, [JOB.parse::<JobId>().expect("id")]);
        assert!(reason.starts_with("gave up dispatching after 3 receives: "), "{reason}");
    }

    #[test]
    fn a_failed_invocation_names_the_job_of_its_event_and_quotes_the_error() {
        let (jobs, reason) = Record::read(&body("sqs-complete-failure.json")).expect("readable").failures(3);
        assert_eq!(jobs, [JOB.parse::<JobId>().expect("id")]);
        assert_eq!(
            reason,
            "completing the job failed repeatedly: RequestId: 9f3c2a4e-1b7d-4e8f-a6c5-2d1e0f9b8a7c Error: Runtime \
             exited with error: signal: killed (RetriesExhausted, 3 attempts)"
        );
    }

    #[test]
    fn a_failed_task_stopped_invocation_names_the_tasks_job() {
        let record = json!({
            "requestContext": {"condition": "EventAgeExceeded", "approximateInvokeCount": 0},
            "requestPayload": fixture("ecs-task-stopped.json"),
        });
        let (jobs, reason) = Record::read(&record.to_string()).expect("readable").failures(3);
        assert_eq!(jobs, [JOB.parse::<JobId>().expect("id")]);
        assert_eq!(reason, "completing the job failed repeatedly: no error given (EventAgeExceeded, 0 attempts)");
    }

    #[test]
    fn errors_come_from_the_payload_then_the_context() {
        let invocation = |extra: Value| {
            let mut record = json!({
                "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
                "requestPayload": {},
            });
            record.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
            serde_json::from_value::<FailedInvocation>(record).expect("a failed invocation")
        };
        let handled = invocation(json!({"responsePayload": {"errorType": "x", "errorMessage": "store down"}}));
        assert_eq!(handled.error(), "store down (RetriesExhausted, 3 attempts)");
        let unhandled = invocation(json!({"responseContext": {"statusCode": 200, "functionError": "Unhandled"}}));
        assert_eq!(unhandled.error(), "Unhandled error (RetriesExhausted, 3 attempts)");
        let long = invocation(json!({"responsePayload": {"errorMessage": "e".repeat(5000)}}));
        assert!(long.error().len() < MAX_QUOTED_ERROR + 40, "quoted errors are capped");
    }

    #[test]
    fn other_bodies_are_unreadable() {
        for body in ["", "not json", "{}", r#"{"job_id": 42}"#, r#"{"requestContext": {}}"#] {
            assert!(Record::read(body).is_none(), "{body:?}");
        }
    }

    #[test]
    fn sqs_batches_are_told_from_other_events() {
        assert!(is_sqs(&fixture("sqs-dead-letter.json")));
        assert!(is_sqs(&fixture("sqs-complete-failure.json")));
        assert!(!is_sqs(&fixture("s3-report-written.json")));
        assert!(!is_sqs(&fixture("ecs-task-stopped.json")));
        assert!(!is_sqs(&json!({"Records": []})));
    }
}
