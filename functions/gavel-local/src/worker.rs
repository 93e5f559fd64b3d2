//! The embedded worker pool: lease a message, dispatch (which runs the runner to its end),
//! complete, acknowledge. Plus the sweeper that deletes expired jobs and their blobs.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, TimeDelta, Utc};
use gavel_core::job::{RETENTION, Transition};
use gavel_core::ports::{BlobStore, JobStore, TaskLauncher, Unavailable};
use gavel_core::signals::JobSignals;
use gavel_core::usecases::{self, CompleteError, DispatchError, Dispatched};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, info, warn};

use crate::blobs::FsBlobStore;
use crate::queue::{Lease, SqliteJobQueue};
use crate::store::SqliteJobStore;

/// Timer periods come from configuration; tokio refuses a zero one.
const MIN_PERIOD: Duration = Duration::from_millis(1);

/// How the workers lease, retry and give up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerConfig {
    /// How many jobs run at once.
    pub workers: usize,
    /// How long a message stays invisible without a heartbeat; after a crash it comes back then
    /// (or at the next start, which recovers leases at once).
    pub lease_for: Duration,
    /// How often a running job's lease is extended; well under `lease_for`.
    pub heartbeat: Duration,
    /// An idle worker is woken by each enqueue; this poll only catches retries and expired leases.
    pub poll: Duration,
    /// Deliveries after which a job is failed instead of run again.
    pub max_attempts: u32,
    /// First retry delay, doubled per delivery up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            workers: default_workers(),
            lease_for: Duration::from_secs(60),
            heartbeat: Duration::from_secs(20),
            poll: Duration::from_millis(250),
            max_attempts: 3,
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
        }
    }
}

/// One worker per core.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// What the workers use. The queue is the concrete one: leasing is not part of the port.
#[derive(Clone)]
pub struct WorkerDeps {
    pub store: Arc<dyn JobStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub launcher: Arc<dyn TaskLauncher>,
    pub queue: Arc<SqliteJobQueue>,
    /// Signalled for each job handled, so its long polls answer at once instead of at their next read.
    pub job_handled: Arc<JobSignals>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Run,
    /// Lease nothing more; let running jobs finish.
    Drain,
    /// Stop running jobs (their runners are killed) and give their messages back.
    Abort,
}

/// The running workers (and sweeper). Dropping it aborts them; [`WorkerPool::shutdown`] is the
/// graceful way.
pub struct WorkerPool {
    phase: watch::Sender<Phase>,
    tasks: JoinSet<()>,
}

/// Starts `config.workers` workers.
pub fn spawn_workers(config: WorkerConfig, deps: WorkerDeps) -> WorkerPool {
    let (phase, _) = watch::channel(Phase::Run);
    let mut tasks = JoinSet::new();
    let config = Arc::new(config);
    for worker in 0..config.workers {
        tasks.spawn(work(worker, Arc::clone(&config), deps.clone(), phase.subscribe()));
    }
    info!(workers = config.workers, "workers started");
    WorkerPool { phase, tasks }
}

impl WorkerPool {
    /// Deletes expired jobs and their blobs now and then every `every`.
    pub fn spawn_sweeper(&mut self, store: Arc<SqliteJobStore>, blobs: Arc<FsBlobStore>, every: Duration) {
        let mut phase = self.phase.subscribe();
        self.tasks.spawn(async move {
            // A zero period would panic; the first tick is immediate, so a start sweeps at once.
            let mut ticks = tokio::time::interval(every.max(MIN_PERIOD));
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => match sweep(&store, &blobs, Utc::now()).await {
                        Ok(swept) => debug!(swept, "swept expired jobs"),
                        Err(err) => warn!(%err, "sweep failed; retrying at the next one"),
                    },
                    () = reached(&mut phase, |phase| *phase != Phase::Run) => return,
                }
            }
        });
    }

    /// Stops leasing and waits up to `grace` for running jobs; then kills the runners still
    /// going and gives their messages back to the queue, to run at the next start.
    pub async fn shutdown(mut self, grace: Duration) {
        self.phase.send_replace(Phase::Drain);
        if tokio::time::timeout(grace, join_all(&mut self.tasks)).await.is_err() {
            warn!(?grace, "jobs still running after the grace period; stopping them");
            self.phase.send_replace(Phase::Abort);
            join_all(&mut self.tasks).await;
        }
        info!("workers stopped");
    }
}

async fn join_all(tasks: &mut JoinSet<()>) {
    while let Some(joined) = tasks.join_next().await {
        if let Err(err) = joined {
            warn!(%err, "a worker task ended abnormally");
        }
    }
}

/// One sweep: expired records, their blobs, and blob folders older than any live job.
pub async fn sweep(store: &SqliteJobStore, blobs: &FsBlobStore, now: DateTime<Utc>) -> Result<u64, Unavailable> {
    let expired = store.sweep_expired(now).await?;
    for id in &expired {
        // A failure leaves litter the age-based pass below removes later.
        if let Err(err) = blobs.delete_job(id).await {
            warn!(job_id = %id, %err, "cannot delete an expired job's blobs");
        }
    }
    // Catches blobs whose record was never written (a submit that failed half-way).
    let cutoff = SystemTime::from(now - RETENTION - TimeDelta::hours(1));
    let stale = blobs.delete_jobs_older_than(cutoff).await?;
    Ok(expired.len() as u64 + stale)
}

async fn work(worker: usize, config: Arc<WorkerConfig>, deps: WorkerDeps, mut phase: watch::Receiver<Phase>) {
    debug!(worker, "worker started");
    while running(&phase) {
        match deps.queue.lease(config.lease_for, Utc::now()).await {
            Ok(Some(lease)) => handle(&config, &deps, lease, &mut phase).await,
            Ok(None) => idle(&deps.queue, config.poll, &mut phase).await,
            Err(err) => {
                warn!(worker, %err, "cannot lease a job");
                idle(&deps.queue, config.poll, &mut phase).await;
            }
        }
    }
    debug!(worker, "worker stopped");
}

/// The pool dropping its sender counts as a stop.
fn running(phase: &watch::Receiver<Phase>) -> bool {
    *phase.borrow() == Phase::Run && phase.has_changed().is_ok()
}

/// Resolves once the phase is `wanted` (or the pool is gone).
async fn reached(phase: &mut watch::Receiver<Phase>, wanted: impl FnMut(&Phase) -> bool) {
    // The borrow guard must not live on in the caller's `select!`: it is not Send.
    drop(phase.wait_for(wanted).await);
}

async fn idle(queue: &SqliteJobQueue, poll: Duration, phase: &mut watch::Receiver<Phase>) {
    tokio::select! {
        () = queue.wakeup().notified() => {}
        () = tokio::time::sleep(poll) => {}
        _ = phase.changed() => {}
    }
}

/// What becomes of a message once its job was handled.
enum Disposition {
    Ack,
    Retry,
}

async fn handle(config: &WorkerConfig, deps: &WorkerDeps, lease: Lease, phase: &mut watch::Receiver<Phase>) {
    let job_id = lease.message.job_id.clone();
    debug!(job_id = %job_id, attempts = lease.attempts, "job leased");
    let work = process(config, deps, &lease);
    tokio::pin!(work);
    let period = config.heartbeat.max(MIN_PERIOD);
    let mut heartbeat = tokio::time::interval_at(Instant::now() + period, period);
    let disposition = loop {
        tokio::select! {
            disposition = &mut work => break Some(disposition),
            _ = heartbeat.tick() => match deps.queue.extend(&lease, config.lease_for, Utc::now()).await {
                Ok(true) => {}
                Ok(false) => warn!(job_id = %job_id, "lease lost while running; the job may run twice"),
                Err(err) => warn!(job_id = %job_id, %err, "cannot extend the lease"),
            },
            // Dropping `work` kills the runner.
            () = reached(phase, |phase| *phase == Phase::Abort) => break None,
        }
    };
    let now = Utc::now();
    let settled = match disposition {
        Some(Disposition::Ack) => deps.queue.ack(&lease).await,
        Some(Disposition::Retry) => deps.queue.retry_later(&lease, backoff(config, lease.attempts), now).await,
        None => deps.queue.release(&lease, now).await,
    };
    deps.job_handled.signal(&job_id);
    match settled {
        Ok(true) => {}
        Ok(false) => debug!(job_id = %job_id, "the lease was lost before it was settled"),
        Err(err) => warn!(job_id = %job_id, %err, "cannot settle the message; it comes back when its lease expires"),
    }
}

fn backoff(config: &WorkerConfig, attempts: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempts.saturating_sub(1));
    config.retry_base.saturating_mul(factor).min(config.retry_max)
}

async fn process(config: &WorkerConfig, deps: &WorkerDeps, lease: &Lease) -> Disposition {
    let (store, blobs) = (deps.store.as_ref(), deps.blobs.as_ref());
    let job_id = &lease.message.job_id;
    if lease.attempts > config.max_attempts {
        let reason = format!(
            "gave up after {} attempts to run the job (the worker running it crashed or its services failed)",
            config.max_attempts
        );
        return settle_failure(usecases::fail(store, job_id, &reason, Utc::now()).await);
    }
    match usecases::dispatch(store, blobs, deps.launcher.as_ref(), &lease.message, Utc::now()).await {
        Ok(Dispatched::Launched) => {}
        Ok(Dispatched::Skipped(_) | Dispatched::Failed(_)) => return Disposition::Ack,
        Err(DispatchError::Retry(reason)) => {
            info!(job_id = %job_id, reason, "launch deferred");
            return Disposition::Retry;
        }
        Err(DispatchError::Unavailable(err)) => {
            warn!(job_id = %job_id, %err, "dispatch failed; retrying later");
            return Disposition::Retry;
        }
    }
    match usecases::complete(store, blobs, job_id, Utc::now()).await {
        Ok(_) => Disposition::Ack,
        Err(CompleteError::NoReport(_)) => {
            settle_failure(usecases::fail(store, job_id, "the runner exited without a report", Utc::now()).await)
        }
        Err(CompleteError::Unavailable(err)) => {
            warn!(job_id = %job_id, %err, "completion failed; retrying later");
            Disposition::Retry
        }
    }
}

/// Failing is done once the store took it (or the job was already over, or gone).
fn settle_failure(failed: Result<Transition, Unavailable>) -> Disposition {
    match failed {
        Ok(_) => Disposition::Ack,
        Err(err) => {
            warn!(%err, "cannot record the job's failure; retrying later");
            Disposition::Retry
        }
    }
}
