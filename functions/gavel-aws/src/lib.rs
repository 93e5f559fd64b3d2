//! Gavel's AWS adapters: [`DynamoJobStore`], [`SqsJobQueue`], [`S3BlobStore`] and
//! [`EcsTaskLauncher`], each implementing one `gavel_core::ports` trait, plus the typed
//! configuration the Lambda binaries read once at cold start ([`AwsConfig`] and one config per
//! port).
//!
//! Build the SDK configuration with [`sdk_config`] and the clients with [`dynamodb_client`],
//! [`sqs_client`], [`s3_client`] and [`ecs_client`]: they honour `AWS_ENDPOINT_URL` (LocalStack,
//! moto), treat an empty one as unset, and use path-style S3 addressing against an emulator.
//! Do not build clients with `aws_sdk_*::Client::new(&sdk)`: each service reads
//! `AWS_ENDPOINT_URL` again itself, and an empty one makes it panic ("URL was unset").

mod blobs;
mod config;
mod launcher;
pub mod logging;
mod queue;
mod store;

pub use blobs::S3BlobStore;
pub use config::{
    AwsConfig, BlobStoreConfig, ConfigError, DEFAULT_PRESIGN_SECONDS, DEFAULT_RUNNER_CONTAINER, EcsLaunchConfig,
    JobStoreConfig, LimitsConfig, MAX_PRESIGN_SECONDS, QueueConfig, RedriveConfig, ToolchainsConfig, vars,
};
pub use launcher::{EcsTaskLauncher, MAX_OVERRIDES_CHARS};
pub use queue::SqsJobQueue;
pub use store::{DynamoJobStore, RESULT_BUDGET_BYTES, create_table};

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::{SharedCredentialsProvider, SharedHttpClient};
use aws_smithy_http_client::tls;

/// The environment variable the SDK reads for a custom endpoint (LocalStack, moto).
const ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
const REGION: &str = "AWS_REGION";
const DEFAULT_REGION: &str = "AWS_DEFAULT_REGION";

/// The shared SDK configuration, from the environment alone, as Lambda gives it: the region
/// (`AWS_REGION`, else `AWS_DEFAULT_REGION`), the credentials (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) and the endpoint from `AWS_ENDPOINT_URL` when it
/// is set and not empty. Not the SDK's default chain: its profile files, IMDS, container and STS
/// providers have nothing to find in a function and were about 0.5 MB of each one's bootstrap.
///
/// An empty `AWS_ENDPOINT_URL` (a template default, `sam local` with an unset parameter) would
/// otherwise reach the service clients as the endpoint `""` and break every call; it counts as
/// unset here, and the client constructors of this crate never pass it on.
pub fn sdk_config() -> Result<SdkConfig, ConfigError> {
    let region = non_empty_env(REGION).or_else(|| non_empty_env(DEFAULT_REGION)).ok_or(ConfigError::Missing(REGION))?;
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(EnvironmentVariableCredentialsProvider::new()))
        .http_client(http_client());
    builder.set_endpoint_url(non_empty_env(ENDPOINT_URL));
    Ok(builder.build())
}

/// The SDK's HTTP client: rustls over ring (see the workspace manifest: one crypto stack).
pub fn http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .build_https()
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|value| value.trim().to_owned()).filter(|value| !value.is_empty())
}

/// The endpoint every client of this crate uses: the shared config's, never a service-specific
/// one read again from the environment (which may be set but empty).
fn endpoint(sdk: &SdkConfig) -> Option<String> {
    sdk.endpoint_url().map(str::trim).filter(|url| !url.is_empty()).map(str::to_owned)
}

/// A DynamoDB client for [`DynamoJobStore`] and [`create_table`].
pub fn dynamodb_client(sdk: &SdkConfig) -> aws_sdk_dynamodb::Client {
    let mut builder = aws_sdk_dynamodb::config::Builder::from(sdk);
    builder.set_endpoint_url(endpoint(sdk));
    aws_sdk_dynamodb::Client::from_conf(builder.build())
}

/// An SQS client for [`SqsJobQueue`].
pub fn sqs_client(sdk: &SdkConfig) -> aws_sdk_sqs::Client {
    let mut builder = aws_sdk_sqs::config::Builder::from(sdk);
    builder.set_endpoint_url(endpoint(sdk));
    aws_sdk_sqs::Client::from_conf(builder.build())
}

/// An S3 client for [`S3BlobStore`]. Against a custom endpoint it uses path-style addressing
/// (`http://host/bucket/key`): emulators do not serve `bucket.host` names.
pub fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    let endpoint = endpoint(sdk);
    let mut builder = aws_sdk_s3::config::Builder::from(sdk).force_path_style(endpoint.is_some());
    builder.set_endpoint_url(endpoint);
    aws_sdk_s3::Client::from_conf(builder.build())
}

/// An ECS client for [`EcsTaskLauncher`].
pub fn ecs_client(sdk: &SdkConfig) -> aws_sdk_ecs::Client {
    let mut builder = aws_sdk_ecs::config::Builder::from(sdk);
    builder.set_endpoint_url(endpoint(sdk));
    aws_sdk_ecs::Client::from_conf(builder.build())
}

/// An SDK error in one line: the service's code and message, or the transport failure with its
/// causes (the `Display` of `SdkError` alone says only "service error", and its `Debug` holds
/// the whole raw response).
fn describe<E, R>(err: &aws_sdk_sqs::error::SdkError<E, R>) -> String
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match err {
        aws_sdk_sqs::error::SdkError::ServiceError(context) => {
            let service = context.err();
            format!("{}: {}", service.code().unwrap_or("unknown error"), service.message().unwrap_or("no message"))
        }
        other => chain(other),
    }
}

/// Any other error with its causes.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    aws_sdk_sqs::error::DisplayErrorContext(err).to_string()
}

#[cfg(test)]
mod tests {
    use aws_config::Region;
    use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};
    use gavel_core::ports::BlobStore;

    use super::*;

    fn sdk(endpoint: Option<&str>) -> SdkConfig {
        let mut builder = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "test", "test", None, None, "tests",
            )));
        builder.set_endpoint_url(endpoint.map(str::to_owned));
        builder.build()
    }

    #[test]
    fn clients_take_the_shared_endpoint_and_ignore_an_empty_one() {
        assert_eq!(endpoint(&sdk(Some("http://127.0.0.1:5055"))).as_deref(), Some("http://127.0.0.1:5055"));
        assert_eq!(endpoint(&sdk(Some(""))), None);
        assert_eq!(endpoint(&sdk(Some("  "))), None);
        assert_eq!(endpoint(&sdk(None)), None);
    }

    #[tokio::test]
    async fn s3_uses_path_style_only_against_a_custom_endpoint() {
        let key = "jobs/x/bundle.json";
        let emulated = S3BlobStore::new(s3_client(&sdk(Some("http://127.0.0.1:5055"))), "gavel-blobs", DEFAULT_EXPIRY);
        let url = emulated.read_url(key).await.expect("presign");
        assert!(url.starts_with("http://127.0.0.1:5055/gavel-blobs/jobs/x/bundle.json?"), "{url}");

        let aws = S3BlobStore::new(s3_client(&sdk(Some(""))), "gavel-blobs", DEFAULT_EXPIRY);
        let url = aws.read_url(key).await.expect("presign");
        assert!(url.starts_with("https://gavel-blobs.s3.us-east-1.amazonaws.com/jobs/x/bundle.json?"), "{url}");
    }

    const DEFAULT_EXPIRY: std::time::Duration = std::time::Duration::from_secs(DEFAULT_PRESIGN_SECONDS);
}
