//! CPU-bound work (parsing and judging a report of tens of MiB) on a thread of its own, so it
//! never stalls the async threads that serve requests. Runtime-agnostic: the core names no
//! executor.

/// Runs `work` on a new thread and waits for it without blocking. `None` if it panicked.
pub async fn offload<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (done, result) = futures_channel::oneshot::channel();
    let spawned = std::thread::Builder::new().name("gavel-judge".into()).spawn(move || {
        // The receiver only goes away if the caller stopped waiting.
        let _ = done.send(work());
    });
    if let Err(err) = spawned {
        tracing::warn!(%err, "no thread for judging; the job is retried");
        return None;
    }
    result.await.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_on_another_thread_and_panics_are_none() {
        let caller = std::thread::current().id();
        let worker = offload(|| std::thread::current().id()).await.expect("finished");
        assert_ne!(worker, caller);
        assert_eq!(offload(|| -> u8 { panic!("judging bug") }).await, None);
    }
}
