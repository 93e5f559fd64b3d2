//! The `JobQueue` contract (the producer side every deployment shares).

use gavel_core::job::JobId;
use gavel_core::ports::{JobMessage, JobQueue, QueueError, keys};

use super::eventually;

fn message() -> JobMessage {
    let job_id = JobId::new();
    JobMessage { bundle_key: keys::bundle(&job_id), job_id, language: "python".into(), judge_data_key: None }
}

async fn depth_reaches(queue: &dyn JobQueue, expected: u64) {
    eventually(&format!("depth {expected}"), || async { (queue.depth().await == Ok(expected)).then_some(()) }).await;
}

pub async fn enqueue_counts_in_depth(queue: &dyn JobQueue) {
    depth_reaches(queue, 0).await;
    assert_eq!(queue.check_room().await, Ok(()), "an empty queue has room");
    queue.enqueue(&message()).await.expect("enqueue");
    queue.enqueue(&message()).await.expect("enqueue");
    depth_reaches(queue, 2).await;
}

/// For bounded queues: `capacity` messages fit, the next is refused and changes nothing.
pub async fn refuses_beyond_capacity(queue: &dyn JobQueue, capacity: u64) {
    for _ in 0..capacity {
        queue.enqueue(&message()).await.expect("enqueue within capacity");
    }
    assert_eq!(queue.enqueue(&message()).await, Err(QueueError::Full { capacity }));
    depth_reaches(queue, capacity).await;
    assert_eq!(queue.check_room().await, Err(QueueError::Full { capacity }), "a full queue says so before any write");
}
