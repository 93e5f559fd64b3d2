//! `gavel-complete`: configuration once at cold start, the adapters, the Lambda runtime.

use std::sync::Arc;

use gavel_aws::{BlobStoreConfig, DynamoJobStore, JobStoreConfig, RedriveConfig, S3BlobStore};
use gavel_complete::{Ports, respond};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    gavel_aws::logging::init();
    let (jobs, blobs, redrive) =
        (JobStoreConfig::from_env()?, BlobStoreConfig::from_env()?, RedriveConfig::from_env()?);
    let sdk = gavel_aws::sdk_config()?;
    let ports = Ports::new(
        Arc::new(DynamoJobStore::new(gavel_aws::dynamodb_client(&sdk), jobs.table)),
        Arc::new(S3BlobStore::new(gavel_aws::s3_client(&sdk), blobs.bucket, blobs.presign_expiry)),
        &gavel_http::Judge0Config::from_env(),
    )?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let ports = ports.clone();
        async move { respond(&ports, redrive.max_receives, event.payload).await.map_err(Error::from) }
    }))
    .await
}
