//! The HTTP client every outbound request of Gavel's binaries is built from (Judge0's callbacks,
//! `gavel run`): rustls over ring, the provider the AWS SDK's clients get too (gavel_aws), with
//! the system's roots, so a Lambda links one crypto stack.

use std::sync::Arc;

use tracing::debug;

#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// A reqwest client with Gavel's TLS configuration and whatever else `configure` sets.
pub fn client(
    configure: impl FnOnce(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
) -> Result<reqwest::Client, OutboundError> {
    #[allow(clippy::disallowed_methods)] // the one place a client is built
    let builder = reqwest::Client::builder().use_preconfigured_tls(tls_config()?);
    Ok(configure(builder).build()?)
}

fn tls_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    if !native.errors.is_empty() {
        debug!(errors = ?native.errors, "some of the system's root certificates could not be read");
    }
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    debug!(added, ignored, "root certificates for outbound TLS");
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_client_without_a_process_wide_crypto_provider() {
        assert!(rustls::crypto::CryptoProvider::get_default().is_none());
        client(|builder| builder).expect("the client builds");
        assert!(rustls::crypto::CryptoProvider::get_default().is_none());
    }
}
