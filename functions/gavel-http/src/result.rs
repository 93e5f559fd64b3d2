//! `GET /result/{job_id}`, with an optional long poll (`?wait=N`).

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use gavel_core::job::{JobResult, JobStatus};
use gavel_core::ports::JobStore;
use gavel_core::signals::JobSignals;
use gavel_core::usecases::{self, GetError};
use gavel_core::{JobId, JobRecord};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::Ctx;
use crate::error::ApiError;

/// The longest long poll, in seconds (under API Gateway's own 29–30 s cap on Lambda).
pub const MAX_WAIT_SECS: u64 = 30;
const FIRST_POLL: Duration = Duration::from_millis(50);
const MAX_POLL: Duration = Duration::from_millis(250);

#[derive(Debug, Deserialize)]
pub(crate) struct ResultQuery {
    wait: Option<u64>,
}

pub(crate) async fn result(
    State(ctx): State<Ctx>,
    job_id: Result<Path<String>, PathRejection>,
    query: Result<Query<ResultQuery>, QueryRejection>,
) -> Result<Json<JobView>, ApiError> {
    // A path segment that does not even decode cannot name a job.
    let Path(job_id) = job_id.map_err(|_| ApiError::JobNotFound("no such job".into()))?;
    let wait = wait_of(query)?.min(ctx.state.max_wait);
    let record = wait_for(&*ctx.state.store, ctx.state.job_finished.as_deref(), &job_id, wait).await?;
    Ok(Json(JobView::from(record)))
}

fn wait_of(query: Result<Query<ResultQuery>, QueryRejection>) -> Result<Duration, ApiError> {
    let refuse = || ApiError::InvalidQuery {
        field: "wait",
        message: format!("wait must be a whole number of seconds from 0 to {MAX_WAIT_SECS}"),
    };
    match query.map_err(|_| refuse())?.0.wait {
        None => Ok(Duration::ZERO),
        Some(secs) if secs <= MAX_WAIT_SECS => Ok(Duration::from_secs(secs)),
        Some(_) => Err(refuse()),
    }
}

/// Re-reads the job until it is terminal or `wait` has passed: after each signal of this job,
/// and otherwise with a backoff between reads.
pub(crate) async fn wait_for(
    store: &dyn JobStore,
    finished: Option<&JobSignals>,
    job_id: &str,
    wait: Duration,
) -> Result<JobRecord, GetError> {
    let deadline = Instant::now() + wait;
    let mut pause = FIRST_POLL;
    let id = job_id.parse::<JobId>().ok();
    loop {
        // Waiting before the read, so a job finishing in between is not missed.
        let signal = finished.zip(id.as_ref()).map(|(signals, id)| signals.wait(id));
        let record = usecases::get(store, job_id, Utc::now()).await?;
        let now = Instant::now();
        if record.status.is_terminal() || now >= deadline {
            return Ok(record);
        }
        let signalled = async {
            match signal {
                Some(signal) => drop(signal.await),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = signalled => {}
            () = tokio::time::sleep(pause.min(deadline - now)) => pause = (pause * 2).min(MAX_POLL),
        }
    }
}

/// A job as clients see it: the record, with the result's fields at the top level.
#[derive(Debug, Serialize)]
pub(crate) struct JobView {
    job_id: JobId,
    status: JobStatus,
    language: String,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    expires_at: DateTime<Utc>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    result: Option<JobResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl From<JobRecord> for JobView {
    fn from(record: JobRecord) -> Self {
        JobView {
            job_id: record.id,
            status: record.status,
            language: record.language,
            created_at: record.created_at,
            started_at: record.started_at,
            finished_at: record.finished_at,
            expires_at: record.expires_at,
            result: record.result.map(hide_hidden).map(apart),
            error: record.error,
        }
    }
}

/// Gavel's API shows stdout and stderr apart; their arrival order is for the rivals' APIs.
fn apart(mut result: JobResult) -> JobResult {
    for test in &mut result.tests {
        test.output_order.clear();
    }
    result
}

/// The judge already keeps hidden tests' data out of results; this is the edge's own guarantee,
/// so a store holding something else still never echoes it.
fn hide_hidden(mut result: JobResult) -> JobResult {
    for test in result.tests.iter_mut().filter(|test| test.hidden) {
        test.input = None;
        test.expected_output = None;
        test.stdout.clear();
        test.stderr.clear();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use gavel_core::Verdict;
    use gavel_core::isolation::{Isolation, IsolationLevel};
    use gavel_core::job::{Summary, TestResult};
    use gavel_core::runner::{Encoding, Segment, Stream};
    use serde_json::json;

    fn query(raw: &str) -> Result<Query<ResultQuery>, QueryRejection> {
        let uri: axum::http::Uri = format!("/result/x?{raw}").parse().expect("uri");
        Query::try_from_uri(&uri)
    }

    #[test]
    fn wait_is_bounded_and_whole() {
        assert_eq!(wait_of(query("")), Ok(Duration::ZERO));
        assert_eq!(wait_of(query("wait=0")), Ok(Duration::ZERO));
        assert_eq!(wait_of(query("wait=30")), Ok(Duration::from_secs(30)));
        for bad in ["wait=31", "wait=-1", "wait=1.5", "wait=soon", "wait=99999999999999999999999"] {
            let err = wait_of(query(bad)).expect_err(bad);
            assert_eq!(err.body()["error"]["field"], "wait", "{bad}");
            assert_eq!(err.status(), 422);
        }
    }

    fn test_result(hidden: bool) -> TestResult {
        TestResult {
            name: None,
            verdict: Verdict::WrongAnswer,
            time_ms: 1,
            wall_time_ms: 2,
            memory_kb: 3,
            exit_code: Some(0),
            signal: None,
            stdout: "secret-out".into(),
            stdout_encoding: Encoding::Utf8,
            stderr: "secret-err".into(),
            stderr_encoding: Encoding::Utf8,
            truncated: false,
            limit: None,
            hidden,
            input: Some("secret-in".into()),
            expected_output: Some("secret-expected".into()),
            encoding: Encoding::Utf8,
            output_order: vec![Segment { stream: Stream::Stdout, len: 10 }],
            checker_message: None,
            score: 0.0,
            max_score: 1.0,
        }
    }

    fn completed_record() -> JobRecord {
        let now = Utc::now();
        let mut record = JobRecord::pending(JobId::new(), "python", now);
        record.status = JobStatus::Completed;
        record.started_at = Some(now);
        record.finished_at = Some(now);
        record.result = Some(JobResult {
            verdict: Verdict::WrongAnswer,
            compile: None,
            tests: vec![test_result(false), test_result(true)],
            summary: Summary { passed: 0, total: 2 },
            isolation: Isolation { uid_drop: true, ..Isolation::boundary(IsolationLevel::Container, vec![]) },
            score: 0.0,
            max_score: 0.0,
            groups: Vec::new(),
        });
        record
    }

    #[test]
    fn completed_jobs_flatten_their_result() {
        let view = serde_json::to_value(JobView::from(completed_record())).expect("serializes");
        for key in ["job_id", "status", "language", "created_at", "started_at", "finished_at", "expires_at"] {
            assert!(view.get(key).is_some(), "{key} missing: {view}");
        }
        assert_eq!(view["status"], "completed");
        assert_eq!(view["verdict"], "wrong_answer");
        assert_eq!(view["summary"], json!({"passed": 0, "total": 2}));
        assert_eq!(view["isolation"]["level"], "container");
        assert_eq!(view["tests"][0]["input"], "secret-in");
        assert!(view.get("result").is_none() && view.get("error").is_none());
        assert!(view["tests"][0].get("output_order").is_none(), "the streams' order is the compat APIs' own");
    }

    #[test]
    fn hidden_tests_echo_nothing() {
        let view = serde_json::to_value(JobView::from(completed_record())).expect("serializes");
        let hidden = &view["tests"][1];
        assert_eq!(hidden["hidden"], true);
        assert!(hidden.get("input").is_none() && hidden.get("expected_output").is_none());
        assert_eq!((&hidden["stdout"], &hidden["stderr"]), (&json!(""), &json!("")));
    }

    #[test]
    fn pending_and_failed_jobs_have_no_result_fields() {
        let pending = JobRecord::pending(JobId::new(), "c", Utc::now());
        let view = serde_json::to_value(JobView::from(pending.clone())).expect("serializes");
        assert_eq!(view["status"], "pending");
        assert!(view["started_at"].is_null() && view.get("verdict").is_none() && view.get("error").is_none());

        let failed = JobRecord { status: JobStatus::Failed, error: Some("not queued".into()), ..pending };
        let view = serde_json::to_value(JobView::from(failed)).expect("serializes");
        assert_eq!(view["error"], "not queued");
    }
}

#[cfg(test)]
mod wait_tests {
    use std::sync::Arc;

    use gavel_core::job::Outcome;
    use gavel_core::testing::MemoryJobStore;

    use super::*;

    /// On a paused clock, no time passes unless a sleep is what woke the poll: a poll woken by its
    /// job's signal answers at the very instant the job ended, one woken by another job's does not.
    #[tokio::test(start_paused = true)]
    async fn a_long_poll_wakes_on_its_own_jobs_signal() {
        let (store, signals) = (Arc::new(MemoryJobStore::default()), Arc::new(JobSignals::default()));
        let (job, other) = (JobId::new(), JobId::new());
        for id in [&job, &other] {
            store.create(&JobRecord::pending(id.clone(), "python", Utc::now())).await.expect("created");
        }
        let started = Instant::now();
        let poll = tokio::spawn({
            let (store, signals, job) = (Arc::clone(&store), Arc::clone(&signals), job.clone());
            async move { wait_for(&*store, Some(&signals), job.as_str(), Duration::from_secs(20)).await }
        });
        tokio::task::yield_now().await;
        // Another job's end wakes nothing: the poll is still waiting when this one's comes.
        signals.signal(&other);
        tokio::task::yield_now().await;
        assert!(!poll.is_finished());
        store.finish(&job, Outcome::Failed("done".into()), Utc::now()).await.expect("finished");
        signals.signal(&job);
        let record = poll.await.expect("the poll").expect("the record");
        assert_eq!(record.status, JobStatus::Failed);
        assert_eq!(started.elapsed(), Duration::ZERO, "woken by the signal, not by a backoff sleep");
    }
}
