//! Gavel's embedded adapters: the SQLite job store and durable queue, file blobs, the process
//! and Docker launchers, the worker pool that drives jobs through the core use cases, and the wiring of all
//! of them over one data directory.

mod blobs;
mod db;
mod docker;
mod embedded;
mod launcher;
mod probe;
mod queue;
mod store;
mod worker;

use std::path::PathBuf;

pub use blobs::{FsBlobStore, validate_key};
pub use docker::{
    BUILD_IMAGES, DEFAULT_IMAGE_PREFIX, DEFAULT_IMAGE_TAG, DockerTaskLauncher, ImageNames, JOB_LABEL, LANGUAGE_LABEL,
    SERVER_LABEL, TOOLCHAIN_LABEL,
};
pub use embedded::{Embedded, Launcher, LauncherConfig, LocalConfig};
pub use launcher::{DEFAULT_RUNNER_DEADLINE, ProcessTaskLauncher};
pub use probe::probe_languages;
pub use queue::{Lease, SqliteJobQueue};
pub use store::SqliteJobStore;
pub use worker::{WorkerConfig, WorkerDeps, WorkerPool, default_workers, spawn_workers, sweep};

/// Why the local services could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("cannot open the database {path}: {source}")]
    Database { path: PathBuf, source: rusqlite::Error },
    #[error("the database {path} cannot use write-ahead logging (journal mode {mode}); is it on a network filesystem?")]
    NoWal { path: PathBuf, mode: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("the data directory {0} is in use by another Gavel server")]
    Locked(PathBuf),
    #[error(
        "the data directory {path} (mode {mode:o}, owner uid {owner}) must be this user's alone: it holds every \
         job's source and hidden tests; fix it with chmod 700 {path}{chown}", path = path.display(),
        chown = if *owner == *uid { String::new() } else { format!(" and chown {uid} {}", path.display()) }
    )]
    DataDirNotPrivate { path: PathBuf, mode: u32, owner: u32, uid: u32 },
    #[error("cannot tell which isolation jobs would get: {0}")]
    Probe(String),
    #[error(transparent)]
    PolicyUnmet(#[from] gavel_core::isolation::PolicyUnmet),
    #[error("the Docker launcher: {0}")]
    Docker(String),
    #[error(transparent)]
    Unavailable(#[from] gavel_core::ports::Unavailable),
}
