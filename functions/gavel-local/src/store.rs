//! Job records in SQLite. Transitions are single conditional UPDATEs, so a terminal state is never
//! overwritten however many deliveries race.

use std::path::Path;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gavel_core::job::{JobId, JobRecord, JobStatus, Listing, Outcome, Removal, Transition};
use gavel_core::ports::{ItemWindow, JobStore, ListPage, PageBuilder, Unavailable};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::LocalError;
use crate::db::{CachedStatements, Db, DbError, from_nanos, to_nanos};

const SERVICE: &str = "job store";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    id          TEXT PRIMARY KEY NOT NULL,
    language    TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER,
    expires_at  INTEGER NOT NULL,
    result      TEXT,
    error       TEXT,
    list_tag    TEXT,
    list_items  INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_expires_at ON jobs (expires_at);
";

/// Added after the first schema: a database made by it gets them here, since `CREATE TABLE IF
/// NOT EXISTS` leaves an existing table as it is.
const ADDED_COLUMNS: [(&str, &str); 2] = [("list_tag", "TEXT"), ("list_items", "INTEGER")];

/// Only listed jobs are in it, so it costs the others nothing.
const LISTING_INDEX: &str =
    "CREATE INDEX IF NOT EXISTS jobs_listing ON jobs (list_tag, created_at) WHERE list_tag IS NOT NULL;";

const COLUMNS: &str =
    "id, language, status, created_at, started_at, finished_at, expires_at, result, error, list_tag, list_items";

/// The embedded [`JobStore`]. Expired rows read as absent and are deleted by [`Self::sweep_expired`].
#[derive(Clone)]
pub struct SqliteJobStore {
    db: Db,
}

impl SqliteJobStore {
    /// Opens (creating if needed) the store in the SQLite file at `path`.
    pub fn open(path: &Path) -> Result<SqliteJobStore, LocalError> {
        SqliteJobStore::with_db(Db::open(path, None)?, path)
    }

    pub(crate) fn with_db(db: Db, path: &Path) -> Result<SqliteJobStore, LocalError> {
        let fail = |source| LocalError::Database { path: path.to_owned(), source };
        db.execute_batch(SCHEMA).map_err(fail)?;
        db.with_conn(add_missing_columns).map_err(fail)?;
        db.execute_batch(LISTING_INDEX).map_err(fail)?;
        Ok(SqliteJobStore { db })
    }

    /// Deletes every expired record and returns their ids, so the caller can remove their blobs.
    pub async fn sweep_expired(&self, now: DateTime<Utc>) -> Result<Vec<JobId>, Unavailable> {
        self.db
            .call(SERVICE, move |conn| {
                let mut statement = conn.prepare_cached("DELETE FROM jobs WHERE expires_at <= ?1 RETURNING id")?;
                let ids = statement.query_map([to_nanos(now)?], |row| row.get::<_, String>(0))?;
                ids.map(|id| id.map_err(DbError::from).and_then(|id| parse_id(&id))).collect()
            })
            .await
    }
}

#[async_trait]
impl JobStore for SqliteJobStore {
    async fn create(&self, record: &JobRecord) -> Result<(), Unavailable> {
        let record = record.clone();
        self.db
            .call(SERVICE, move |conn| {
                let result = record.result.as_ref().map(serde_json::to_string).transpose().map_err(corrupt)?;
                let (tag, items) = record.listing.map(|listing| (listing.tag, listing.items)).unzip();
                conn.execute_cached(
                    &format!("INSERT INTO jobs ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
                    params![
                        record.id.as_str(),
                        record.language,
                        record.status.as_str(),
                        to_nanos(record.created_at)?,
                        record.started_at.map(to_nanos).transpose()?,
                        record.finished_at.map(to_nanos).transpose()?,
                        to_nanos(record.expires_at)?,
                        result,
                        record.error,
                        tag,
                        items,
                    ],
                )?;
                Ok(())
            })
            .await
    }

    async fn get(&self, id: &JobId, now: DateTime<Utc>) -> Result<Option<JobRecord>, Unavailable> {
        let id = id.clone();
        self.db
            .call(SERVICE, move |conn| {
                let sql = format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1 AND expires_at > ?2");
                let row = conn.query_row_cached(&sql, params![id.as_str(), to_nanos(now)?], read_row).optional()?;
                row.map(RawRecord::into_record).transpose()
            })
            .await
    }

    async fn mark_running(&self, id: &JobId, now: DateTime<Utc>) -> Result<Transition, Unavailable> {
        let id = id.clone();
        self.db
            .call(SERVICE, move |conn| {
                let now = to_nanos(now)?;
                // A redelivered job runs again, so started_at tells when the latest run began.
                let changed = conn.execute_cached(
                    "UPDATE jobs SET status = 'running', started_at = ?2
                     WHERE id = ?1 AND status IN ('pending', 'running') AND expires_at > ?2",
                    params![id.as_str(), now],
                )?;
                transition(conn, &id, now, changed)
            })
            .await
    }

    async fn finish(&self, id: &JobId, outcome: Outcome, now: DateTime<Utc>) -> Result<Transition, Unavailable> {
        let id = id.clone();
        self.db
            .call(SERVICE, move |conn| {
                let now = to_nanos(now)?;
                let status = outcome.status().as_str();
                let (result, error) = match outcome {
                    Outcome::Completed(result) => (Some(serde_json::to_string(&result).map_err(corrupt)?), None),
                    Outcome::Failed(error) => (None, Some(error)),
                };
                let changed = conn.execute_cached(
                    "UPDATE jobs SET status = ?3, finished_at = ?2, started_at = COALESCE(started_at, ?2),
                         result = ?4, error = ?5
                     WHERE id = ?1 AND status IN ('pending', 'running') AND expires_at > ?2",
                    params![id.as_str(), now, status, result, error],
                )?;
                transition(conn, &id, now, changed)
            })
            .await
    }

    async fn delete_ended(&self, id: &JobId, now: DateTime<Utc>) -> Result<Removal, Unavailable> {
        let id = id.clone();
        self.db
            .call(SERVICE, move |conn| {
                let now = to_nanos(now)?;
                let deleted = conn.execute_cached(
                    "DELETE FROM jobs WHERE id = ?1 AND status IN ('completed', 'failed') AND expires_at > ?2",
                    params![id.as_str(), now],
                )?;
                Ok(match transition(conn, &id, now, deleted)? {
                    Transition::Applied => Removal::Removed,
                    // A live row the DELETE left was pending or running.
                    Transition::AlreadyTerminal => Removal::NotEnded,
                    Transition::NotFound => Removal::NotFound,
                })
            })
            .await
    }

    async fn list(&self, tag: &str, window: ItemWindow, now: DateTime<Utc>) -> Result<ListPage, Unavailable> {
        let tag = tag.to_owned();
        self.db
            .call(SERVICE, move |conn| {
                let mut statement = conn.prepare_cached(
                    "SELECT id, list_items FROM jobs WHERE list_tag = ?1 AND expires_at > ?2
                     ORDER BY created_at DESC, rowid DESC",
                )?;
                let mut rows = statement.query(params![tag, to_nanos(now)?])?;
                let mut page = PageBuilder::new(window);
                while !page.is_full() {
                    let Some(row) = rows.next()? else { break };
                    let id: String = row.get(0)?;
                    page.push(parse_id(&id)?, row.get(1)?);
                }
                Ok(page.finish())
            })
            .await
    }
}

fn add_missing_columns(conn: &Connection) -> rusqlite::Result<()> {
    let mut statement = conn.prepare_cached("SELECT name FROM pragma_table_info('jobs')")?;
    let present = statement.query_map([], |row| row.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
    for (name, kind) in ADDED_COLUMNS {
        if !present.iter().any(|column| column == name) {
            conn.execute_batch(&format!("ALTER TABLE jobs ADD COLUMN {name} {kind};"))?;
        }
    }
    Ok(())
}

/// Tells why a conditional UPDATE changed nothing. Statuses only move forward, so a row seen
/// terminal here was terminal when the UPDATE ran.
fn transition(conn: &Connection, id: &JobId, now: i64, changed: usize) -> Result<Transition, DbError> {
    if changed > 0 {
        return Ok(Transition::Applied);
    }
    let status: Option<String> = conn
        .query_row_cached(
            "SELECT status FROM jobs WHERE id = ?1 AND expires_at > ?2",
            params![id.as_str(), now],
            |row| row.get(0),
        )
        .optional()?;
    Ok(if status.is_some() { Transition::AlreadyTerminal } else { Transition::NotFound })
}

/// A row as stored, decoded off the SQLite row so decoding errors are ours, not rusqlite's.
struct RawRecord {
    id: String,
    language: String,
    status: String,
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    expires_at: i64,
    result: Option<String>,
    error: Option<String>,
    list_tag: Option<String>,
    list_items: Option<u32>,
}

fn read_row(row: &Row<'_>) -> rusqlite::Result<RawRecord> {
    Ok(RawRecord {
        id: row.get(0)?,
        language: row.get(1)?,
        status: row.get(2)?,
        created_at: row.get(3)?,
        started_at: row.get(4)?,
        finished_at: row.get(5)?,
        expires_at: row.get(6)?,
        result: row.get(7)?,
        error: row.get(8)?,
        list_tag: row.get(9)?,
        list_items: row.get(10)?,
    })
}

impl RawRecord {
    fn into_record(self) -> Result<JobRecord, DbError> {
        let status = JobStatus::parse(&self.status)
            .ok_or_else(|| DbError::Data(format!("corrupt row: unknown status {:?}", self.status)))?;
        Ok(JobRecord {
            id: parse_id(&self.id)?,
            language: self.language,
            status,
            created_at: from_nanos(self.created_at),
            started_at: self.started_at.map(from_nanos),
            finished_at: self.finished_at.map(from_nanos),
            expires_at: from_nanos(self.expires_at),
            result: self.result.map(|json| serde_json::from_str(&json)).transpose().map_err(corrupt)?,
            error: self.error,
            listing: self.list_tag.map(|tag| Listing { tag, items: self.list_items.unwrap_or(0) }),
        })
    }
}

fn parse_id(id: &str) -> Result<JobId, DbError> {
    id.parse().map_err(|_| DbError::Data(format!("corrupt row: bad job id {id:?}")))
}

fn corrupt(err: serde_json::Error) -> DbError {
    DbError::Data(format!("job result JSON: {err}"))
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use gavel_core::isolation::{Isolation, IsolationLevel};
    use gavel_core::job::{JobResult, RETENTION, Summary};
    use gavel_core::verdict::Verdict;

    use super::*;

    fn store() -> (tempfile::TempDir, SqliteJobStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteJobStore::open(&dir.path().join("gavel.db")).expect("open store");
        (dir, store)
    }

    fn result() -> JobResult {
        JobResult {
            verdict: Verdict::Accepted,
            compile: None,
            tests: Vec::new(),
            summary: Summary { passed: 0, total: 0 },
            isolation: Isolation::boundary(IsolationLevel::Container, vec!["test".into()]),
            score: 0.0,
            max_score: 0.0,
            groups: Vec::new(),
        }
    }

    #[tokio::test]
    async fn records_round_trip_exactly() {
        let (_dir, store) = store();
        let now = Utc::now();
        let record = JobRecord::pending(JobId::new(), "python", now);
        store.create(&record).await.expect("create");
        assert_eq!(store.get(&record.id, now).await.expect("get"), Some(record.clone()));
        assert!(store.create(&record).await.is_err(), "a second record with one id");
    }

    #[tokio::test]
    async fn transitions_are_conditional() {
        let (_dir, store) = store();
        let now = Utc::now();
        let record = JobRecord::pending(JobId::new(), "python", now);
        store.create(&record).await.expect("create");
        let id = &record.id;

        assert_eq!(store.mark_running(id, now).await, Ok(Transition::Applied));
        assert_eq!(store.mark_running(id, now).await, Ok(Transition::Applied), "redelivery restarts");
        let done = Outcome::Completed(Box::new(result()));
        assert_eq!(store.finish(id, done, now).await, Ok(Transition::Applied));
        assert_eq!(store.finish(id, Outcome::Failed("late".into()), now).await, Ok(Transition::AlreadyTerminal));
        assert_eq!(store.mark_running(id, now).await, Ok(Transition::AlreadyTerminal));

        let stored = store.get(id, now).await.expect("get").expect("present");
        assert_eq!(stored.status, JobStatus::Completed);
        assert_eq!(stored.result, Some(result()));
        assert_eq!(stored.error, None);
        assert_eq!((stored.started_at, stored.finished_at), (Some(now), Some(now)));

        let unknown = JobId::new();
        assert_eq!(store.mark_running(&unknown, now).await, Ok(Transition::NotFound));
        assert_eq!(store.finish(&unknown, Outcome::Failed("x".into()), now).await, Ok(Transition::NotFound));
    }

    #[tokio::test]
    async fn expired_records_are_gone_and_swept() {
        let (_dir, store) = store();
        let now = Utc::now();
        let old = JobRecord::pending(JobId::new(), "python", now - RETENTION - Duration::seconds(1));
        let fresh = JobRecord::pending(JobId::new(), "python", now);
        store.create(&old).await.expect("create");
        store.create(&fresh).await.expect("create");

        assert_eq!(store.get(&old.id, now).await, Ok(None));
        assert_eq!(store.mark_running(&old.id, now).await, Ok(Transition::NotFound));
        assert_eq!(store.finish(&old.id, Outcome::Failed("x".into()), now).await, Ok(Transition::NotFound));

        assert_eq!(store.sweep_expired(now).await, Ok(vec![old.id.clone()]));
        assert_eq!(store.sweep_expired(now).await, Ok(Vec::new()));
        assert!(store.get(&fresh.id, now).await.expect("get").is_some());
    }

    #[tokio::test]
    async fn a_database_of_the_first_schema_gains_the_listing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("gavel.db");
        let first_schema = SCHEMA.replace(",\n    list_tag    TEXT,\n    list_items  INTEGER", "");
        assert!(!first_schema.contains("list_"), "the first schema has no listing");
        let now = Utc::now();
        let old = JobRecord::pending(JobId::new(), "python", now);
        {
            let conn = Connection::open(&path).expect("open");
            conn.execute_batch(&first_schema).expect("first schema");
            conn.execute(
                "INSERT INTO jobs (id, language, status, created_at, expires_at) VALUES (?1, 'python', 'pending', ?2, ?3)",
                params![old.id.as_str(), to_nanos(now).expect("nanos"), to_nanos(old.expires_at).expect("nanos")],
            )
            .expect("a job of the first schema");
        }
        let store = SqliteJobStore::open(&path).expect("open store");
        assert_eq!(store.get(&old.id, now).await.expect("get"), Some(old.clone()));
        let listed = JobRecord { listing: Some(Listing { tag: "judge0".into(), items: 2 }), ..old.clone() };
        let listed = JobRecord { id: JobId::new(), ..listed };
        store.create(&listed).await.expect("create");
        let page = store.list("judge0", ItemWindow { offset: 0, limit: 5, reach: 5 }, now).await.expect("list");
        assert_eq!((page.total_items, page.records.len()), (2, 1));
        drop(store);
        SqliteJobStore::open(&path).expect("a second open finds the columns there");
    }
}
