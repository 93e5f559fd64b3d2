//! Blobs in one S3 bucket. The runner gets presigned URLs, so its task holds no AWS credentials.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use gavel_core::ports::{BlobError, BlobStore, Unavailable};

use crate::{chain, describe};

const SERVICE: &str = "blob store";

/// The S3 [`BlobStore`]: `put`/`get` with the caller's credentials, and presigned GET (bundle)
/// and PUT (report) URLs for the runner, valid for `presign_expiry`.
///
/// A presigned URL is good for the expiry or as long as the credentials that signed it, whichever
/// ends first: signed with a Lambda's temporary role credentials it can die with that session.
#[derive(Debug, Clone)]
pub struct S3BlobStore {
    client: aws_sdk_s3::Client,
    bucket: String,
    presign_expiry: Duration,
}

impl S3BlobStore {
    /// `client` should come from [`crate::s3_client`] (path-style against an emulator).
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>, presign_expiry: Duration) -> S3BlobStore {
        S3BlobStore { client, bucket: bucket.into(), presign_expiry }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Whether the blob exists (HeadObject), without reading it.
    pub async fn exists(&self, key: &str) -> Result<bool, Unavailable> {
        match self.client.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(_) => Ok(true),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(false),
            Err(err) => Err(Unavailable::new(SERVICE, format!("HeadObject {key}: {}", describe(&err)))),
        }
    }

    fn presigning(&self) -> Result<PresigningConfig, Unavailable> {
        PresigningConfig::expires_in(self.presign_expiry)
            .map_err(|err| Unavailable::new(SERVICE, format!("presigned URL expiry: {}", chain(&err))))
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), Unavailable> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|err| Unavailable::new(SERVICE, format!("PutObject {key}: {}", describe(&err))))?;
        Ok(())
    }

    async fn get(&self, key: &str, limit: u64) -> Result<Option<Vec<u8>>, BlobError> {
        let mut object = match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(object) => object,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Ok(None),
            Err(err) => {
                return Err(Unavailable::new(SERVICE, format!("GetObject {key}: {}", describe(&err))).into());
            }
        };
        let too_large = || BlobError::TooLarge { key: key.to_owned(), limit };
        if object.content_length().is_some_and(|length| u64::try_from(length).unwrap_or(u64::MAX) > limit) {
            return Err(too_large());
        }
        // The length is the object's own word; the bytes are counted as they come, too.
        let mut bytes = Vec::new();
        while let Some(chunk) = object
            .body
            .try_next()
            .await
            .map_err(|err| Unavailable::new(SERVICE, format!("GetObject {key}: reading the body: {err}")))?
        {
            if bytes.len() as u64 + chunk.len() as u64 > limit {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Some(bytes))
    }

    async fn delete(&self, key: &str) -> Result<(), Unavailable> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|err| Unavailable::new(SERVICE, format!("DeleteObject {key}: {}", describe(&err))))?;
        Ok(())
    }

    async fn read_url(&self, key: &str) -> Result<String, Unavailable> {
        let presigned = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(self.presigning()?)
            .await
            .map_err(|err| Unavailable::new(SERVICE, format!("presigning GetObject {key}: {}", describe(&err))))?;
        Ok(presigned.uri().to_owned())
    }

    async fn write_url(&self, key: &str) -> Result<String, Unavailable> {
        let presigned = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(self.presigning()?)
            .await
            .map_err(|err| Unavailable::new(SERVICE, format!("presigning PutObject {key}: {}", describe(&err))))?;
        Ok(presigned.uri().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

    use super::*;

    fn store(expiry: Duration) -> S3BlobStore {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .credentials_provider(Credentials::new("AKIDEXAMPLE", "secret", None, None, "tests"))
            .build();
        S3BlobStore::new(aws_sdk_s3::Client::from_conf(config), "gavel-blobs", expiry)
    }

    /// The query parameters of a URL, undecoded.
    fn query(url: &str) -> Vec<(String, String)> {
        let (_, query) = url.split_once('?').expect("a query");
        query
            .split('&')
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                (name.to_owned(), value.to_owned())
            })
            .collect()
    }

    fn param(url: &str, name: &str) -> Option<String> {
        query(url).into_iter().find(|(n, _)| n == name).map(|(_, value)| value)
    }

    #[tokio::test]
    async fn presigned_urls_carry_the_configured_expiry() {
        let blobs = store(Duration::from_secs(900));
        let read = blobs.read_url("jobs/a/bundle.json").await.expect("read url");
        let write = blobs.write_url("jobs/a/report.json").await.expect("write url");
        for url in [&read, &write] {
            assert_eq!(param(url, "X-Amz-Expires").as_deref(), Some("900"), "{url}");
            assert_eq!(param(url, "X-Amz-Algorithm").as_deref(), Some("AWS4-HMAC-SHA256"), "{url}");
            assert!(param(url, "X-Amz-Signature").is_some_and(|s| s.len() == 64), "{url}");
        }
        assert!(read.starts_with("https://gavel-blobs.s3.eu-west-1.amazonaws.com/jobs/a/bundle.json?"), "{read}");
        assert!(write.starts_with("https://gavel-blobs.s3.eu-west-1.amazonaws.com/jobs/a/report.json?"), "{write}");

        let default = store(Duration::from_secs(crate::DEFAULT_PRESIGN_SECONDS));
        let url = default.write_url("jobs/a/report.json").await.expect("write url");
        assert_eq!(param(&url, "X-Amz-Expires").as_deref(), Some("3600"));
    }

    /// The runner PUTs the report with a plain HTTP client: the URL must not demand a checksum
    /// or headers it cannot know in advance.
    #[tokio::test]
    async fn presigned_puts_sign_only_the_host() {
        let url = store(Duration::from_secs(60)).write_url("jobs/a/report.json").await.expect("write url");
        assert_eq!(param(&url, "X-Amz-SignedHeaders").as_deref(), Some("host"), "{url}");
        let names: Vec<String> = query(&url).into_iter().map(|(name, _)| name.to_ascii_lowercase()).collect();
        assert!(!names.iter().any(|name| name.contains("checksum")), "{url}");
    }

    #[tokio::test]
    async fn expiries_beyond_a_week_are_refused() {
        let blobs = store(Duration::from_secs(crate::MAX_PRESIGN_SECONDS + 1));
        let err = blobs.read_url("jobs/a/bundle.json").await.expect_err("too long");
        assert_eq!(err.service, SERVICE);
    }
}
