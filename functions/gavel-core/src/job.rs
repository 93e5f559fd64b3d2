//! The job lifecycle: `pending → running → completed | failed`. Terminal states are final.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::isolation::Isolation;
use crate::runner::{Encoding, LimitHit, Output, Segment, interleave};
use crate::scoring::GroupResult;
use crate::verdict::Verdict;

/// How long a job and its result are kept.
pub const RETENTION: Duration = Duration::hours(24);

/// A job id: a UUID in its hyphenated lowercase form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JobId(String);

impl JobId {
    pub fn new() -> JobId {
        JobId(uuid::Uuid::new_v4().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for JobId {
    fn default() -> Self {
        JobId::new()
    }
}

/// A string that is not a job id (so it cannot name a job: 404, and never a path or key injection).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a job id")]
pub struct NotAJobId;

impl TryFrom<String> for JobId {
    type Error = NotAJobId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl std::str::FromStr for JobId {
    type Err = NotAJobId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let uuid = uuid::Uuid::try_parse(s).map_err(|_| NotAJobId)?;
        // Only the canonical form, so one job has one id (and one store key).
        let canonical = uuid.to_string();
        if canonical == s { Ok(JobId(canonical)) } else { Err(NotAJobId) }
    }
}

impl From<JobId> for String {
    fn from(id: JobId) -> String {
        id.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Pending,
    Running,
    Completed,
    Failed,
}

impl JobStatus {
    pub fn is_terminal(self) -> bool {
        matches!(self, JobStatus::Completed | JobStatus::Failed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<JobStatus> {
        [JobStatus::Pending, JobStatus::Running, JobStatus::Completed, JobStatus::Failed]
            .into_iter()
            .find(|status| status.as_str() == s)
    }
}

/// A job as stored. `result` is set when completed, `error` when failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: JobId,
    pub language: String,
    pub status: JobStatus,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    pub result: Option<JobResult>,
    pub error: Option<String>,
    /// Set for a job an edge lists (the Judge0 index); `None` for every other job.
    pub listing: Option<Listing>,
}

/// Where a job is listed: the edge that made it (`tag`, e.g. `judge0`) and how many of that
/// edge's items (Judge0 submissions) the job holds, since listings page over items, not jobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    pub tag: String,
    pub items: u32,
}

impl JobRecord {
    pub fn pending(id: JobId, language: &str, now: DateTime<Utc>) -> JobRecord {
        JobRecord {
            id,
            language: language.to_owned(),
            status: JobStatus::Pending,
            created_at: now,
            started_at: None,
            finished_at: None,
            expires_at: now + RETENTION,
            result: None,
            error: None,
            listing: None,
        }
    }

    /// Expired records read as absent, even before a store deletes them.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }
}

/// How a job ends.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Completed(Box<JobResult>),
    Failed(String),
}

impl Outcome {
    pub fn status(&self) -> JobStatus {
        match self {
            Outcome::Completed(_) => JobStatus::Completed,
            Outcome::Failed(_) => JobStatus::Failed,
        }
    }

    /// Applies this outcome to a record that is not yet terminal.
    pub fn apply(self, record: &mut JobRecord, now: DateTime<Utc>) {
        record.status = self.status();
        record.finished_at = Some(now);
        record.started_at.get_or_insert(now);
        match self {
            Outcome::Completed(result) => record.result = Some(*result),
            Outcome::Failed(error) => record.error = Some(error),
        }
    }
}

/// What a conditional delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Removed,
    /// The job is pending or running; nothing was deleted.
    NotEnded,
    /// No such job (or it expired).
    NotFound,
}

/// What a conditional write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Applied,
    /// The job already ended; nothing was written.
    AlreadyTerminal,
    /// No such job (or it expired).
    NotFound,
}

/// The judged result of a completed job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    pub verdict: Verdict,
    pub compile: Option<CompileResult>,
    pub tests: Vec<TestResult>,
    pub summary: Summary,
    pub isolation: Isolation,
    /// Points scored: the groups' where the job has groups, else the tests'. Default: results
    /// stored before scoring.
    #[serde(default)]
    pub score: f64,
    #[serde(default)]
    pub max_score: f64,
    /// One per group of the request, in its order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupResult>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CompileResult {
    pub output: String,
    pub output_encoding: Encoding,
    pub exit_code: Option<i32>,
    /// CPU time.
    pub time_ms: u64,
    // Default: results stored before the compile step reported these.
    #[serde(default)]
    pub wall_time_ms: u64,
    #[serde(default)]
    pub memory_kb: u64,
    #[serde(default)]
    pub signal: Option<i32>,
    /// The server's compile limit that stopped the compiler, if one did.
    #[serde(default)]
    pub limit: Option<LimitHit>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestResult {
    pub name: Option<String>,
    pub verdict: Verdict,
    pub time_ms: u64,
    pub wall_time_ms: u64,
    pub memory_kb: u64,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stdout_encoding: Encoding,
    pub stderr: String,
    pub stderr_encoding: Encoding,
    pub truncated: bool,
    pub limit: Option<LimitHit>,
    /// The test's points if it passed, else 0 (a checker's partial points in between).
    #[serde(default)]
    pub score: f64,
    /// What the test is worth.
    #[serde(default)]
    pub max_score: f64,
    pub hidden: bool,
    /// Only for visible tests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// Only for visible tests that have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_output: Option<String>,
    /// How `input` and `expected_output` are written, as the request gave them; shown only
    /// when `base64`.
    #[serde(default, skip_serializing_if = "Encoding::is_utf8")]
    pub encoding: Encoding,
    /// The order stdout and stderr arrived in, for jobs that asked (the rivals' APIs); Gavel's
    /// own API shows the two streams apart.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output_order: Vec<Segment>,
    /// What a custom checker said of the output (its stderr, capped), for visible tests only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checker_message: Option<String>,
}

impl TestResult {
    /// The program's stdout and stderr bytes merged in the order it wrote them (stdout first
    /// where no order was recorded); `None` when a stored output does not decode.
    pub fn interleaved(&self) -> Option<Vec<u8>> {
        let stdout = Output { text: self.stdout.clone(), encoding: self.stdout_encoding };
        let stderr = Output { text: self.stderr.clone(), encoding: self.stderr_encoding };
        Some(interleave(&stdout.bytes()?, &stderr.bytes()?, &self.output_order))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub passed: usize,
    pub total: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_are_canonical_uuids() {
        let id = JobId::new();
        assert_eq!(id.as_str().parse::<JobId>(), Ok(id.clone()));
        assert_eq!(id.as_str().to_uppercase().parse::<JobId>(), Err(NotAJobId));
        assert_eq!("../../etc/passwd".parse::<JobId>(), Err(NotAJobId));
        assert_eq!("".parse::<JobId>(), Err(NotAJobId));
    }

    #[test]
    fn records_expire_after_retention() {
        let now = Utc::now();
        let record = JobRecord::pending(JobId::new(), "python", now);
        assert!(!record.is_expired(now + Duration::hours(23)));
        assert!(record.is_expired(now + RETENTION));
    }

    #[test]
    fn statuses_round_trip_and_know_terminality() {
        for status in [JobStatus::Pending, JobStatus::Running, JobStatus::Completed, JobStatus::Failed] {
            assert_eq!(JobStatus::parse(status.as_str()), Some(status));
        }
        assert!(JobStatus::Failed.is_terminal() && !JobStatus::Running.is_terminal());
    }
}
