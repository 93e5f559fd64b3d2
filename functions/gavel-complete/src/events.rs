//! The events that name a job's end: a runner report written to S3, and an ECS task that
//! stopped. Read once here, both by the complete handler and by the consumer of failed
//! invocations, whose records carry such an event as their request payload.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::s3::S3Event;
use gavel_core::JobId;
use gavel_core::ports::keys;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

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

/// What an event says about jobs.
#[derive(Debug)]
pub(crate) enum JobEvent {
    /// Runner reports were written (an S3 event, usually of one record).
    Reports(Vec<JobId>),
    /// A runner task stopped.
    Stopped(JobId, TaskStateChange),
    /// Nothing about a job: another object, another task, another event.
    Other,
}

impl JobEvent {
    /// Reads an event; one this function does not handle is [`JobEvent::Other`] (and logged).
    pub(crate) fn read(event: serde_json::Value) -> JobEvent {
        if event.get("detail-type").is_some() {
            return match serde_json::from_value::<EventBridgeEvent<TaskStateChange>>(event) {
                Ok(event) => task_stopped(event.detail),
                Err(err) => unrecognised(err),
            };
        }
        let event = match serde_json::from_value::<S3Event>(event) {
            Ok(event) => event,
            Err(err) => return unrecognised(err),
        };
        let reports = event.records.into_iter().filter_map(|record| {
            let key = record.s3.object.key.unwrap_or_default();
            let job = keys::job_of_report(&key);
            if job.is_none() {
                warn!(key, "an object that is not a runner report");
            }
            job
        });
        JobEvent::Reports(reports.collect())
    }

    /// The jobs the event names.
    pub(crate) fn jobs(self) -> Vec<JobId> {
        match self {
            JobEvent::Reports(jobs) => jobs,
            JobEvent::Stopped(job, _) => vec![job],
            JobEvent::Other => Vec::new(),
        }
    }
}

fn task_stopped(detail: TaskStateChange) -> JobEvent {
    let job_id = detail.started_by.as_deref().and_then(|s| s.parse::<JobId>().ok());
    match job_id.filter(|_| detail.last_status == "STOPPED") {
        Some(job_id) => JobEvent::Stopped(job_id, detail),
        None => {
            info!(status = detail.last_status, "a task event that is not a runner's stop");
            JobEvent::Other
        }
    }
}

fn unrecognised(err: serde_json::Error) -> JobEvent {
    warn!(%err, "an event this function does not handle");
    JobEvent::Other
}

/// The task's own words: its stop reason and each container's.
pub(crate) fn stop_reason(detail: &TaskStateChange) -> String {
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
pub(crate) mod tests {
    use super::*;

    pub(crate) fn fixture(name: &str) -> serde_json::Value {
        let path = format!("{}/../../infra/events/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).expect("the fixture")).expect("JSON")
    }

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

    #[test]
    fn the_fixtures_name_their_job() {
        let job: JobId = "0b6f3a52-6c1e-4d7a-9f2b-3c8e5d1a7b40".parse().expect("id");
        for name in ["s3-report-written.json", "ecs-task-stopped.json"] {
            assert_eq!(JobEvent::read(fixture(name)).jobs(), std::slice::from_ref(&job), "{name}");
        }
    }

    #[test]
    fn other_objects_tasks_and_events_name_no_job() {
        let mut bundle = fixture("s3-report-written.json");
        bundle["Records"][0]["s3"]["object"]["key"] = "jobs/0b6f3a52-6c1e-4d7a-9f2b-3c8e5d1a7b40/bundle.json".into();
        assert!(JobEvent::read(bundle).jobs().is_empty());
        let mut running = fixture("ecs-task-stopped.json");
        running["detail"]["lastStatus"] = "RUNNING".into();
        assert!(JobEvent::read(running).jobs().is_empty());
        let mut foreign = fixture("ecs-task-stopped.json");
        foreign["detail"]["startedBy"] = "ecs-svc/123".into();
        assert!(JobEvent::read(foreign).jobs().is_empty());
        assert!(JobEvent::read(serde_json::json!({"hello": "world"})).jobs().is_empty());
    }
}
