//! The complete handler. Two events reach it: a runner report written to S3 (judge it against the
//! expected outputs, which never left the trusted side) and an ECS task that stopped (if it left no
//! report, the job failed: say why). Both are idempotent, since a terminal job is never rewritten.

use std::sync::Arc;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::s3::S3Event;
use chrono::Utc;
use gavel_core::JobId;
use gavel_core::job::Transition;
use gavel_core::ports::{BlobStore, JobStore, Unavailable, keys};
use gavel_core::usecases::{self, CompleteError};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

/// The ports this function uses, matching its IAM policy.
#[derive(Clone)]
pub struct Ports {
    pub store: Arc<dyn JobStore>,
    pub blobs: Arc<dyn BlobStore>,
}

/// What happened to each job the event named.
pub type Handled = Vec<(JobId, Transition)>;

/// The `detail` of an EventBridge "ECS Task State Change" event (the fields used here).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStateChange {
    #[serde(default)]
    pub last_status: String,
    /// The dispatch step starts each task with the job id here.
    #[serde(default)]
    pub started_by: Option<String>,
    #[serde(default)]
    pub stopped_reason: Option<String>,
    #[serde(default)]
    pub stop_code: Option<String>,
    #[serde(default)]
    pub containers: Vec<ContainerState>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerState {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub exit_code: Option<i64>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// Handles one event. Only a failing backing service is an error (Lambda then retries the
/// invocation); an event this function cannot read is logged and dropped, since a retry would
/// not make it readable.
pub async fn handle(ports: &Ports, event: serde_json::Value) -> Result<Handled, Unavailable> {
    if event.get("detail-type").is_some() {
        return match serde_json::from_value::<EventBridgeEvent<TaskStateChange>>(event) {
            Ok(event) => task_stopped(ports, event).await,
            Err(err) => unrecognised(err),
        };
    }
    let event = match serde_json::from_value::<S3Event>(event) {
        Ok(event) => event,
        Err(err) => return unrecognised(err),
    };
    let mut handled = Vec::new();
    for record in event.records {
        let key = record.s3.object.key.unwrap_or_default();
        let Some(job_id) = keys::job_of_report(&key) else {
            warn!(key, "an object that is not a runner report");
            continue;
        };
        let missing = || "the runner finished but its report is missing".to_owned();
        handled.push((job_id.clone(), complete(ports, &job_id, missing).await?));
    }
    Ok(handled)
}

fn unrecognised(err: serde_json::Error) -> Result<Handled, Unavailable> {
    warn!(%err, "an event this function does not handle");
    Ok(Vec::new())
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

async fn task_stopped(ports: &Ports, event: EventBridgeEvent<TaskStateChange>) -> Result<Handled, Unavailable> {
    let detail = event.detail;
    let job_id = detail.started_by.as_deref().and_then(|s| s.parse::<JobId>().ok());
    let Some(job_id) = job_id.filter(|_| detail.last_status == "STOPPED") else {
        info!(status = detail.last_status, "a task event that is not a runner's stop");
        return Ok(Vec::new());
    };
    // With a report the runner finished: the report's own event judges it, and so may this one.
    let transition = complete(ports, &job_id, || stop_reason(&detail)).await?;
    Ok(vec![(job_id, transition)])
}

/// The task's own words: its stop reason and each container's.
fn stop_reason(detail: &TaskStateChange) -> String {
    let mut reason = format!(
        "the runner task stopped without a report: {}",
        detail.stopped_reason.as_deref().or(detail.stop_code.as_deref()).unwrap_or("no reason given")
    );
    for container in &detail.containers {
        if container.reason.is_some() || container.exit_code.is_some() {
            reason.push_str(&format!(
                "; container {}: {}{}",
                container.name,
                container.reason.as_deref().unwrap_or("exited"),
                container.exit_code.map(|code| format!(" (exit code {code})")).unwrap_or_default()
            ));
        }
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_reasons_quote_the_task_and_its_containers() {
        let detail: TaskStateChange = serde_json::from_value(serde_json::json!({
            "lastStatus": "STOPPED",
            "stoppedReason": "OutOfMemoryError: Container killed due to memory usage",
            "containers": [{"name": "runner", "exitCode": 137, "reason": "OutOfMemoryError"}],
        }))
        .expect("detail");
        assert_eq!(
            stop_reason(&detail),
            "the runner task stopped without a report: OutOfMemoryError: Container killed due to memory usage; \
             container runner: OutOfMemoryError (exit code 137)"
        );
    }

    #[test]
    fn a_stop_without_words_still_reads() {
        assert_eq!(
            stop_reason(&TaskStateChange::default()),
            "the runner task stopped without a report: no reason given"
        );
    }
}
