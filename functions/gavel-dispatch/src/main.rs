//! `gavel-dispatch`: configuration once at cold start, the adapters, the Lambda runtime.

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use gavel_aws::{
    BlobStoreConfig, DynamoJobStore, EcsLaunchConfig, EcsTaskLauncher, JobStoreConfig, RedriveConfig, S3BlobStore,
};
use gavel_dispatch::{Ports, handle};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    gavel_aws::logging::init();
    let (jobs, blobs, launch, redrive) = (
        JobStoreConfig::from_env()?,
        BlobStoreConfig::from_env()?,
        EcsLaunchConfig::from_env()?,
        RedriveConfig::from_env()?,
    );
    let sdk = gavel_aws::sdk_config()?;
    let ports = Ports {
        store: Arc::new(DynamoJobStore::new(gavel_aws::dynamodb_client(&sdk), jobs.table)),
        blobs: Arc::new(S3BlobStore::new(gavel_aws::s3_client(&sdk), blobs.bucket, blobs.presign_expiry)),
        launcher: Arc::new(EcsTaskLauncher::new(gavel_aws::ecs_client(&sdk), launch)),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let ports = ports.clone();
        async move { Ok::<_, Error>(handle(&ports, &redrive, event.payload).await) }
    }))
    .await
}
