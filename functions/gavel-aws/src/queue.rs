//! The job queue on SQS. A message is the small `JobMessage` JSON; the bundle itself is in S3
//! (SQS caps a message at 256 KiB).

use async_trait::async_trait;
use aws_sdk_sqs::types::QueueAttributeName;
use gavel_core::ports::{JobMessage, JobQueue, QueueError, Unavailable};
use tracing::debug;

use crate::describe;

const SERVICE: &str = "job queue";

/// The SQS [`JobQueue`]. With a capacity, `enqueue` refuses once that many jobs are waiting or
/// in flight. SQS counts are approximate (and lag on a busy queue), so the bound is soft: a
/// burst of concurrent submissions can overshoot it a little.
#[derive(Debug, Clone)]
pub struct SqsJobQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    capacity: Option<u64>,
}

impl SqsJobQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>, capacity: Option<u64>) -> SqsJobQueue {
        SqsJobQueue { client, queue_url: queue_url.into(), capacity }
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }
}

/// The attributes that make up the depth: visible, in flight, and delayed (a retry waiting).
const DEPTH_ATTRIBUTES: [QueueAttributeName; 3] = [
    QueueAttributeName::ApproximateNumberOfMessages,
    QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    QueueAttributeName::ApproximateNumberOfMessagesDelayed,
];

#[async_trait]
impl JobQueue for SqsJobQueue {
    async fn check_room(&self) -> Result<(), QueueError> {
        match self.capacity {
            Some(capacity) if self.depth().await? >= capacity => Err(QueueError::Full { capacity }),
            _ => Ok(()),
        }
    }

    async fn enqueue(&self, message: &JobMessage) -> Result<(), QueueError> {
        self.check_room().await?;
        let body = serde_json::to_string(message)
            .map_err(|err| Unavailable::new(SERVICE, format!("cannot encode the message: {err}")))?;
        let sent = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|err| Unavailable::new(SERVICE, format!("SendMessage: {}", describe(&err))))?;
        debug!(job_id = %message.job_id, message_id = sent.message_id(), "job queued");
        Ok(())
    }

    async fn depth(&self) -> Result<u64, Unavailable> {
        let answer = self
            .client
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .set_attribute_names(Some(DEPTH_ATTRIBUTES.to_vec()))
            .send()
            .await
            .map_err(|err| Unavailable::new(SERVICE, format!("GetQueueAttributes: {}", describe(&err))))?;
        let attributes = answer.attributes();
        let mut depth = 0u64;
        for name in &DEPTH_ATTRIBUTES {
            // An attribute the queue does not report counts as none.
            let Some(value) = attributes.and_then(|attributes| attributes.get(name)) else { continue };
            let count: u64 = value.parse().map_err(|_| {
                Unavailable::new(SERVICE, format!("GetQueueAttributes: {} is {value:?}, not a count", name.as_str()))
            })?;
            depth = depth.saturating_add(count);
        }
        Ok(depth)
    }
}
