//! Per-job wake-ups for long polls: a poll waits for its own job, and a job that ends wakes only
//! the polls waiting for it. (One signal for every job woke every waiting poll at each job's end,
//! so N polls over N jobs re-read the store N² times.)

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use futures_channel::oneshot;

use crate::job::JobId;

/// Past this many jobs waited on, a new wait first drops the waits nobody holds any more (polls
/// that timed out on jobs still running).
const PRUNE_AT: usize = 1024;

#[derive(Default)]
pub struct JobSignals {
    waiting: Mutex<HashMap<JobId, Vec<oneshot::Sender<()>>>>,
}

impl JobSignals {
    /// Resolves once `job_id` is signalled after this call (or the signals are dropped). Take it
    /// before reading the job, so an end in between is not missed.
    pub fn wait(&self, job_id: &JobId) -> oneshot::Receiver<()> {
        let (signal, wait) = oneshot::channel();
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        if waiting.len() >= PRUNE_AT {
            waiting.retain(|_, signals| {
                signals.retain(|signal| !signal.is_canceled());
                !signals.is_empty()
            });
        }
        waiting.entry(job_id.clone()).or_default().push(signal);
        wait
    }

    /// Wakes whatever waits for `job_id`.
    pub fn signal(&self, job_id: &JobId) {
        let signals = self.waiting.lock().unwrap_or_else(PoisonError::into_inner).remove(job_id);
        for signal in signals.into_iter().flatten() {
            // A poll that stopped waiting dropped its end: nothing to tell.
            let _ = signal.send(());
        }
    }

    /// How many jobs are waited on (for tests).
    #[cfg(test)]
    fn waited_on(&self) -> usize {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> JobId {
        JobId::new()
    }

    #[test]
    fn a_signal_wakes_the_waits_of_its_job_only() {
        let signals = JobSignals::default();
        let (one, other) = (id(), id());
        let (mut first, mut second, mut unrelated) = (signals.wait(&one), signals.wait(&one), signals.wait(&other));
        signals.signal(&one);
        assert_eq!(first.try_recv(), Ok(Some(())));
        assert_eq!(second.try_recv(), Ok(Some(())));
        assert_eq!(unrelated.try_recv(), Ok(None), "another job's wait is not woken");
        // A wait taken after the signal waits for the next one.
        let mut later = signals.wait(&one);
        assert_eq!(later.try_recv(), Ok(None));
        signals.signal(&one);
        assert_eq!(later.try_recv(), Ok(Some(())));
    }

    #[test]
    fn abandoned_waits_are_pruned() {
        let signals = JobSignals::default();
        for _ in 0..PRUNE_AT {
            drop(signals.wait(&id()));
        }
        let kept = id();
        let _held = signals.wait(&kept);
        assert_eq!(signals.waited_on(), 1, "only the held wait is left");
        signals.signal(&kept);
        assert_eq!(signals.waited_on(), 0);
    }
}
