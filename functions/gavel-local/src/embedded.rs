//! Wires the local adapters over one data directory: `gavel.db` (jobs and queue), `blobs/`,
//! `docker/` (the Docker launcher's per-job mounts), and `lock`, which keeps a second server off
//! the same directory. The directory holds every job's source and hidden tests, so it is this
//! user's alone (0700, files 0600), and a server refuses one that is not.
//!
//! Opening also asks the launcher which isolation a job would get, started exactly as a job's
//! runner is, and refuses to go on when that does not meet the isolation policy.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use gavel_core::hooks::{JobEnded, NotifyingJobStore};
use gavel_core::isolation::{Isolation, IsolationPolicy};
use gavel_core::language::LanguageStatus;
use gavel_core::ports::{BlobStore, JobQueue, JobStore, TaskLauncher};
use gavel_core::signals::JobSignals;
use tracing::{info, warn};

use crate::LocalError;
use crate::blobs::{FsBlobStore, create_private_dirs};
use crate::db::Db;
use crate::docker::{DockerTaskLauncher, ImageNames};
use crate::launcher::{DEFAULT_RUNNER_DEADLINE, ProcessTaskLauncher};
use crate::queue::SqliteJobQueue;
use crate::store::SqliteJobStore;
use crate::worker::{WorkerConfig, WorkerDeps, WorkerPool, spawn_workers};

/// Where jobs run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LauncherConfig {
    /// The gavel-runner binary as a child process of the server.
    Process { runner: PathBuf },
    /// One container per job from the language's runner image.
    Docker { images: ImageNames },
}

/// What an embedded server needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalConfig {
    pub data_dir: PathBuf,
    pub launcher: LauncherConfig,
    /// The least isolation a job may run under.
    pub policy: IsolationPolicy,
    /// Jobs waiting or running before submissions are refused (429).
    pub queue_capacity: u64,
    /// Kills a runner that hangs; bundle limits are far below it.
    pub runner_deadline: Duration,
    pub workers: WorkerConfig,
    pub sweep_every: Duration,
}

impl LocalConfig {
    pub fn new(data_dir: impl Into<PathBuf>, launcher: LauncherConfig, policy: IsolationPolicy) -> LocalConfig {
        LocalConfig {
            data_dir: data_dir.into(),
            launcher,
            policy,
            queue_capacity: 1000,
            runner_deadline: DEFAULT_RUNNER_DEADLINE,
            workers: WorkerConfig::default(),
            sweep_every: Duration::from_secs(10 * 60),
        }
    }
}

/// The launcher in use, for what only one kind can answer (which languages the images offer).
#[derive(Clone)]
pub enum Launcher {
    Process(Arc<ProcessTaskLauncher>),
    Docker(Arc<DockerTaskLauncher>),
}

/// The local adapters, opened. The data directory stays locked while any of them is alive.
pub struct Embedded {
    pub store: Arc<SqliteJobStore>,
    pub queue: Arc<SqliteJobQueue>,
    pub blobs: Arc<FsBlobStore>,
    pub launcher: Launcher,
    /// Which languages jobs can use here, and the isolation they run under (which meets the
    /// policy): what `/languages` and `/health` say.
    pub languages: Vec<LanguageStatus>,
    pub isolation: Isolation,
    pub policy: IsolationPolicy,
    /// Poked by the workers whenever a job was handled; see [`WorkerDeps::job_handled`].
    pub job_handled: Arc<JobSignals>,
    workers: WorkerConfig,
    sweep_every: Duration,
}

impl Embedded {
    /// Locks the data directory (creating it if needed), opens the store, queue and blobs, checks
    /// the isolation jobs would get against the policy, and makes the jobs a crashed predecessor
    /// had leased runnable again at once (with the Docker launcher, after removing the
    /// containers it left).
    pub async fn open(config: LocalConfig) -> Result<Embedded, LocalError> {
        let dir = &config.data_dir;
        private_data_dir(dir)?;
        let lock = Arc::new(lock_data_dir(dir).await?);
        let db_path = dir.join("gavel.db");
        let db = Db::open(&db_path, Some(lock))?;
        let store = Arc::new(SqliteJobStore::with_db(db.clone(), &db_path)?);
        let queue = Arc::new(SqliteJobQueue::with_db(db, &db_path, config.queue_capacity)?);
        let blobs = Arc::new(FsBlobStore::new(dir.join("blobs"))?);
        let launcher = match config.launcher {
            LauncherConfig::Process { runner } => {
                info!(runner = %runner.display(), "jobs run in a runner process");
                let launcher = ProcessTaskLauncher::new(runner, config.policy).with_deadline(config.runner_deadline);
                Launcher::Process(Arc::new(launcher))
            }
            LauncherConfig::Docker { images } => {
                let docker = DockerTaskLauncher::connect(images, dir, config.runner_deadline, config.policy).await?;
                // Under the lock no other server runs containers for this directory.
                docker.reap_orphans().await?;
                Launcher::Docker(Arc::new(docker))
            }
        };
        let (languages, isolation) = enforce(&launcher, config.policy).await?;
        // Under the lock no other process holds a lease: every one is a dead server's.
        let recovered = queue.recover_leases(Utc::now()).await?;
        if recovered > 0 {
            info!(recovered, "jobs interrupted by the last shutdown are queued again");
        }
        info!(data_dir = %dir.display(), "embedded services open");
        Ok(Embedded {
            store,
            queue,
            blobs,
            launcher,
            languages,
            isolation,
            policy: config.policy,
            job_handled: Arc::default(),
            workers: config.workers,
            sweep_every: config.sweep_every,
        })
    }

    pub fn job_store(&self) -> Arc<dyn JobStore> {
        self.store.clone()
    }

    pub fn job_queue(&self) -> Arc<dyn JobQueue> {
        self.queue.clone()
    }

    pub fn blob_store(&self) -> Arc<dyn BlobStore> {
        self.blobs.clone()
    }

    pub fn task_launcher(&self) -> Arc<dyn TaskLauncher> {
        match &self.launcher {
            Launcher::Process(launcher) => launcher.clone(),
            Launcher::Docker(launcher) => launcher.clone(),
        }
    }

    /// Starts the workers and the sweeper; stop them with [`WorkerPool::shutdown`].
    pub fn start(&self) -> WorkerPool {
        self.start_workers(self.job_store())
    }

    /// [`Embedded::start`], with `hook` told of each job that ends.
    pub fn start_notifying(&self, hook: Arc<dyn JobEnded>) -> WorkerPool {
        self.start_workers(Arc::new(NotifyingJobStore::new(self.job_store(), hook)))
    }

    fn start_workers(&self, store: Arc<dyn JobStore>) -> WorkerPool {
        let deps = WorkerDeps {
            store,
            blobs: self.blob_store(),
            launcher: self.task_launcher(),
            queue: Arc::clone(&self.queue),
            job_handled: Arc::clone(&self.job_handled),
        };
        let mut pool = spawn_workers(self.workers.clone(), deps);
        pool.spawn_sweeper(Arc::clone(&self.store), Arc::clone(&self.blobs), self.sweep_every);
        pool
    }
}

/// The languages and the isolation jobs get from `launcher`; an error unless the isolation meets
/// `policy`. The process launcher runs jobs side by side, so without namespaces it also needs
/// Landlock to keep them apart; a Docker launcher without images runs nothing, so it starts
/// (and `/health` says why nothing is available).
async fn enforce(launcher: &Launcher, policy: IsolationPolicy) -> Result<(Vec<LanguageStatus>, Isolation), LocalError> {
    let (languages, isolation) = match launcher {
        Launcher::Process(process) => {
            let (languages, isolation) = tokio::join!(crate::probe_languages(), process.probe());
            let isolation = isolation.map_err(LocalError::Probe)?;
            policy.check_side_by_side(&isolation)?;
            (languages, isolation)
        }
        Launcher::Docker(docker) => {
            let (languages, isolation) = docker.probe().await;
            if languages.iter().any(|status| status.available) {
                policy.check(&isolation)?;
            }
            (languages, isolation)
        }
    };
    if policy == IsolationPolicy::Insecure {
        warn!(
            level = isolation.level.as_str(),
            "INSECURE: the isolation policy is `insecure`; programs may reach this server, its files and its \
             environment. Never run it for anyone but yourself"
        );
    }
    info!(policy = policy.as_str(), level = isolation.level.as_str(), "jobs run under this isolation");
    Ok((languages, isolation))
}

/// Creates the data directory 0700 if it is missing, and refuses one that another user owns or
/// that anyone else may read, write or enter.
fn private_data_dir(dir: &Path) -> Result<(), LocalError> {
    let io = |source| LocalError::Io { path: dir.to_owned(), source };
    create_private_dirs(dir).map_err(io)?;
    let meta = std::fs::metadata(dir).map_err(io)?;
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    if meta.uid() != uid || meta.mode() & 0o077 != 0 {
        return Err(LocalError::DataDirNotPrivate {
            path: dir.to_owned(),
            mode: meta.mode() & 0o7777,
            owner: meta.uid(),
            uid,
        });
    }
    Ok(())
}

/// A predecessor's lock can outlive it by a moment: a process being spawned holds a copy of every
/// descriptor, the lock's too, until its exec closes them. So a held lock is retried this long.
const LOCK_PATIENCE: Duration = Duration::from_secs(2);

/// An advisory lock, released by the OS when the process dies (so a crash never leaves it stale).
async fn lock_data_dir(dir: &Path) -> Result<File, LocalError> {
    let path = dir.join("lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|source| LocalError::Io { path: path.clone(), source })?;
    let deadline = tokio::time::Instant::now() + LOCK_PATIENCE;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(TryLockError::WouldBlock) => return Err(LocalError::Locked(dir.to_owned())),
            Err(TryLockError::Error(source)) => return Err(LocalError::Io { path, source }),
        }
    }
}

#[cfg(test)]
mod tests;
