//! Judge0's callbacks: when a job ends, each of its submissions that named a `callback_url` has
//! its default fields PUT there, always base64, as Judge0 does (`Content-Type: application/json`,
//! a 5 s timeout, 3 tries on network errors only, no signature). Unlike Judge0, Gavel never calls
//! loopback, link-local or private addresses unless the operator allows them
//! (`GAVEL_JUDGE0_CALLBACKS_ALLOW_PRIVATE`), so a submission cannot turn the service against its
//! own network, and it follows no redirects.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use gavel_core::JobId;
use gavel_core::hooks::JobEnded;
use gavel_core::ports::{BlobError, BlobStore, JobStore};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::{StatusCode, Url};
use tokio::task::JoinSet;
use tracing::{debug, warn};

use crate::outbound::{self, OutboundError};

use super::config::Judge0Config;
use super::fields::Fields;
use super::record;
use super::token;
use super::view;

/// Judge0's `CALLBACKS_MAX_TRIES` and `CALLBACKS_TIMEOUT` defaults.
pub const TRIES: u32 = 3;
pub const TIMEOUT: Duration = Duration::from_secs(5);
const BETWEEN_TRIES: Duration = Duration::from_secs(1);

/// Written beside a job's Judge0 data when one of its submissions has a callback, so that the
/// end of every other job costs one small read.
pub(super) fn marker(job_id: &JobId) -> String {
    format!("jobs/{job_id}/judge0-callbacks")
}

pub(super) async fn mark(blobs: &dyn BlobStore, job_id: &JobId) -> Result<(), gavel_core::ports::Unavailable> {
    blobs.put(&marker(job_id), Vec::new()).await
}

/// A callback URL Gavel will call: http or https, a host, no credentials, and (unless private
/// addresses are allowed) not an IP literal of a private network. Names are checked again when
/// they are resolved, at delivery.
pub(super) fn check_url(url: &str, allow_private: bool) -> Result<Url, &'static str> {
    let parsed = Url::parse(url.trim()).map_err(|_| "is not a valid URL")?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("must be an http or https URL");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry credentials");
    }
    let literal = match parsed.host() {
        None => return Err("must name a host"),
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(url::Host::Domain(_)) => None,
    };
    if !allow_private && literal.is_some_and(|ip| !is_public(ip)) {
        return Err("must not be a loopback, link-local or private address");
    }
    Ok(parsed)
}

/// Whether `ip` is on the public internet: not loopback, link-local (cloud metadata services),
/// private, shared (carrier NAT), unspecified, broadcast, documentation or multicast.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => {
            let shared = ip.octets()[0] == 100 && (ip.octets()[1] & 0xc0) == 64;
            !(ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast()
                || ip.is_documentation()
                || ip.is_multicast()
                || shared
                || ip.octets()[0] == 0)
        }
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => is_public(IpAddr::V4(v4)),
            None => {
                let first = ip.segments()[0];
                let unique_local = (first & 0xfe00) == 0xfc00;
                let link_local = (first & 0xffc0) == 0xfe80;
                !(ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() || unique_local || link_local)
            }
        },
    }
}

/// Resolves names as the system does, keeping only public addresses unless private ones are
/// allowed: the check and the connection use the same answer, so a name cannot change between.
struct CheckedResolver {
    allow_private: bool,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> =
                found.into_iter().filter(|addr| allow_private || is_public(addr.ip())).collect();
            if kept.is_empty() {
                return Err(format!("{} resolves to no public address", name.as_str()).into());
            }
            let addrs: Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

/// How a job's end waits for its callbacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// In the background: a worker goes on to its next job at once (`gavel serve`).
    Background,
    /// Started at once, side by side, and awaited by [`Judge0Callbacks::settle`]: a Lambda may be
    /// frozen as soon as it answers, and the jobs of one event must not wait for each other's.
    Settled,
}

/// The [`JobEnded`] hook that makes Judge0's callbacks.
#[derive(Clone)]
pub struct Judge0Callbacks {
    store: Arc<dyn JobStore>,
    blobs: Arc<dyn BlobStore>,
    client: reqwest::Client,
    allow_private: bool,
    delivery: Delivery,
    /// Deliveries not yet settled ([`Delivery::Settled`]).
    pending: Arc<Mutex<JoinSet<()>>>,
}

impl Judge0Callbacks {
    pub fn new(
        store: Arc<dyn JobStore>,
        blobs: Arc<dyn BlobStore>,
        config: &Judge0Config,
        delivery: Delivery,
    ) -> Result<Judge0Callbacks, OutboundError> {
        let allow_private = config.callbacks_allow_private;
        let client = outbound::client(|builder| {
            builder
                .timeout(TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .dns_resolver(Arc::new(CheckedResolver { allow_private }))
        })?;
        Ok(Judge0Callbacks { store, blobs, client, allow_private, delivery, pending: Arc::default() })
    }

    /// Waits for every delivery started so far: at most [`TRIES`] tries of [`TIMEOUT`] each.
    pub async fn settle(&self) {
        let mut pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        while pending.join_next().await.is_some() {}
    }

    async fn deliver(&self, job_id: &JobId) {
        match self.blobs.get(&marker(job_id), 0).await {
            Ok(Some(_)) => {}
            Ok(None) | Err(BlobError::TooLarge { .. }) => return,
            Err(BlobError::Unavailable(err)) => {
                warn!(job_id = %job_id, %err, "cannot tell whether the job has Judge0 callbacks; none are made");
                return;
            }
        }
        let (record, job) = match (self.store.get(job_id, Utc::now()).await, record::load(&*self.blobs, job_id).await) {
            (Ok(Some(record)), Ok(Some(job))) => (record, job),
            (record, job) => {
                warn!(job_id = %job_id, ?record, ?job, "the job's Judge0 data is gone; its callbacks are not made");
                return;
            }
        };
        let puts = job.items.iter().enumerate().filter_map(|(item, data)| {
            let url = data.callback_url.as_deref()?;
            let submission = view::Submission {
                token: token::token(job_id, item),
                record: &record,
                job: &job,
                item,
                language_name: None,
            };
            // With base64 every attribute renders.
            let body = serde_json::to_vec(&submission.render(Fields::default_set(), true).ok()?).ok()?;
            Some(self.put(url, body))
        });
        futures_util::future::join_all(puts).await;
    }

    /// One callback: tried again only when no answer came (as Judge0); any status is an answer.
    async fn put(&self, url: &str, body: Vec<u8>) {
        let url = match check_url(url, self.allow_private) {
            Ok(url) => url,
            Err(why) => {
                warn!(why, "a callback URL is refused");
                return;
            }
        };
        for attempt in 1..=TRIES {
            let sent = self
                .client
                .put(url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(answer) => {
                    let status: StatusCode = answer.status();
                    debug!(%status, attempt, "callback delivered");
                    return;
                }
                Err(err) if attempt < TRIES => {
                    debug!(%err, attempt, "callback not delivered; trying again");
                    tokio::time::sleep(BETWEEN_TRIES).await;
                }
                Err(err) => warn!(%err, tries = TRIES, "callback not delivered; giving up"),
            }
        }
    }
}

#[async_trait]
impl JobEnded for Judge0Callbacks {
    async fn ended(&self, job_id: &JobId) {
        let (callbacks, job_id) = (self.clone(), job_id.clone());
        let delivery = async move { callbacks.deliver(&job_id).await };
        match self.delivery {
            Delivery::Background => drop(tokio::spawn(delivery)),
            Delivery::Settled => {
                self.pending.lock().unwrap_or_else(PoisonError::into_inner).spawn(delivery);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn only_http_urls_to_public_hosts_without_credentials() {
        assert!(check_url("https://example.com/cb?x=1", false).is_ok());
        assert!(check_url("http://8.8.8.8:8080/", false).is_ok());
        assert_eq!(check_url("ftp://example.com/", false).err(), Some("must be an http or https URL"));
        assert_eq!(check_url("not a url", false).err(), Some("is not a valid URL"));
        assert_eq!(check_url("https://user:pw@example.com/", false).err(), Some("must not carry credentials"));
        for private in [
            "http://127.0.0.1/",
            "http://10.1.2.3/",
            "http://169.254.169.254/latest",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://100.64.0.1/",
            "http://[::ffff:192.168.0.1]/",
            "http://0.0.0.0/",
        ] {
            assert_eq!(
                check_url(private, false).err(),
                Some("must not be a loopback, link-local or private address"),
                "{private}"
            );
            assert!(check_url(private, true).is_ok(), "{private} is allowed when the operator allows it");
        }
    }

    #[tokio::test]
    async fn names_resolve_to_public_addresses_only() {
        let checked = CheckedResolver { allow_private: false };
        let err = checked.resolve(Name::from_str("localhost").expect("a name")).await.err().expect("refused");
        assert!(err.to_string().contains("no public address"), "{err}");
        let allowed = CheckedResolver { allow_private: true };
        let addrs: Vec<SocketAddr> =
            allowed.resolve(Name::from_str("localhost").expect("a name")).await.expect("resolved").collect();
        assert!(addrs.iter().all(|addr| addr.ip().is_loopback()) && !addrs.is_empty());
    }
}
