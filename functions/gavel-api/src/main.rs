//! `gavel-api`: configuration once at cold start, the adapters, `lambda_http::run`.

use std::sync::Arc;

use gavel_api::{Ports, app};
use gavel_aws::{
    BlobStoreConfig, DynamoJobStore, JobStoreConfig, LimitsConfig, QueueConfig, S3BlobStore, SqsJobQueue,
    ToolchainsConfig,
};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    gavel_aws::logging::init();
    let (jobs, blobs, queue, limits, toolchains) = (
        JobStoreConfig::from_env()?,
        BlobStoreConfig::from_env()?,
        QueueConfig::from_env()?,
        LimitsConfig::from_env()?,
        ToolchainsConfig::from_env()?,
    );
    let sdk = gavel_aws::sdk_config()?;
    let ports = Ports {
        store: Arc::new(DynamoJobStore::new(gavel_aws::dynamodb_client(&sdk), jobs.table)),
        blobs: Arc::new(S3BlobStore::new(gavel_aws::s3_client(&sdk), blobs.bucket, blobs.presign_expiry)),
        queue: Arc::new(SqsJobQueue::new(gavel_aws::sqs_client(&sdk), queue.queue_url, queue.capacity)),
    };
    let judge0 = gavel_http::Judge0Config::from_env();
    lambda_http::run(app(ports, limits.server_limits(), toolchains.languages(), judge0)).await
}
