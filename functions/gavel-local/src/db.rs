//! One SQLite connection shared by the job store and the queue, used off the async runtime.

use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use gavel_core::ports::Unavailable;
use rusqlite::{Connection, Params, Row};

use crate::LocalError;

/// Creates the database file readable and writable by this user alone, or makes an existing one
/// so. SQLite gives its `-wal` and `-shm` files the same mode.
fn make_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).mode(0o600).open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
}

/// How long a statement waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// More than the store and the queue have statements, so none is ever parsed twice.
const STATEMENT_CACHE: usize = 64;

/// `execute` and `query_row` over statements prepared once per connection: parsing each
/// statement again on every call was a third of the database's CPU per job.
pub(crate) trait CachedStatements {
    fn execute_cached<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
    fn query_row_cached<T, P: Params>(
        &self,
        sql: &str,
        params: P,
        f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T>;
}

impl CachedStatements for Connection {
    fn execute_cached<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn query_row_cached<T, P: Params>(
        &self,
        sql: &str,
        params: P,
        f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}

/// Why a database call failed; always `Unavailable` at the port.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DbError {
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
    /// A row we cannot read, or a value we cannot store.
    #[error("{0}")]
    Data(String),
}

/// A cheap handle to one connection. One connection (behind a mutex) rather than several: the
/// statements are short, and in-process writers then never wait in SQLite's sleeping busy handler,
/// which would add milliseconds of latency to every job.
#[derive(Clone)]
pub(crate) struct Db {
    conn: Arc<Mutex<Connection>>,
    /// Held as long as anything can write, when the database lives in a locked data directory.
    _lock: Option<Arc<File>>,
}

impl Db {
    /// Opens the database; `lock`, if any, is kept until the last handle is dropped.
    pub(crate) fn open(path: &Path, lock: Option<Arc<File>>) -> Result<Db, LocalError> {
        let fail = |source| LocalError::Database { path: path.to_owned(), source };
        make_private(path).map_err(|source| LocalError::Io { path: path.to_owned(), source })?;
        let conn = Connection::open(path).map_err(fail)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(fail)?;
        // WAL: readers never block the writer. synchronous=NORMAL keeps every committed
        // transaction across a crash of the process (kill -9); only a power loss can drop the
        // last few commits, never corrupt the file.
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0)).map_err(fail)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(LocalError::NoWal { path: path.to_owned(), mode });
        }
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(fail)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(Db { conn: Arc::new(Mutex::new(conn)), _lock: lock })
    }

    /// Runs schema setup synchronously, at open time.
    pub(crate) fn execute_batch(&self, sql: &str) -> Result<(), rusqlite::Error> {
        self.with_conn(|conn| conn.execute_batch(sql))
    }

    /// Runs schema setup that must look before it changes, synchronously, at open time.
    pub(crate) fn with_conn<R>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<R>) -> rusqlite::Result<R> {
        f(&self.conn.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Runs `f` on a blocking thread so the async runtime never waits on SQLite.
    pub(crate) async fn call<R, F>(&self, service: &'static str, f: F) -> Result<R, Unavailable>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R, DbError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        let joined = tokio::task::spawn_blocking(move || {
            // A panic while holding the lock leaves SQLite itself consistent (an open
            // transaction rolls back when its guard drops), so the connection stays usable.
            let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut conn)
        })
        .await;
        match joined {
            Ok(result) => result.map_err(|err| Unavailable::new(service, err)),
            Err(err) => Err(Unavailable::new(service, format!("database task failed: {err}"))),
        }
    }
}

/// Timestamps are stored as nanoseconds since the epoch: exact round trips, and plain integer
/// comparisons in `WHERE` clauses.
pub(crate) fn to_nanos(at: DateTime<Utc>) -> Result<i64, DbError> {
    at.timestamp_nanos_opt().ok_or_else(|| DbError::Data(format!("timestamp {at} is out of range")))
}

pub(crate) fn from_nanos(nanos: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(nanos)
}

/// `at + span`, saturating instead of overflowing.
pub(crate) fn nanos_after(at: i64, span: Duration) -> i64 {
    at.saturating_add(i64::try_from(span.as_nanos()).unwrap_or(i64::MAX))
}
