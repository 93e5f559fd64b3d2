//! `gavel-complete`: configuration once at cold start, the adapters, the Lambda runtime.

use std::sync::Arc;

use gavel_aws::{BlobStoreConfig, DynamoJobStore, JobStoreConfig, S3BlobStore};
use gavel_complete::{Ports, handle};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let (jobs, blobs) = (JobStoreConfig::from_env()?, BlobStoreConfig::from_env()?);
    let sdk = gavel_aws::sdk_config().await;
    let ports = Ports {
        store: Arc::new(DynamoJobStore::new(gavel_aws::dynamodb_client(&sdk), jobs.table)),
        blobs: Arc::new(S3BlobStore::new(gavel_aws::s3_client(&sdk), blobs.bucket, blobs.presign_expiry)),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let ports = ports.clone();
        async move { handle(&ports, event.payload).await.map(|handled| handled.len()).map_err(Error::from) }
    }))
    .await
}
