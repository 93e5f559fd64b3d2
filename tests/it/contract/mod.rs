//! Port contract suites. Each check is a `pub async fn` over any implementation of one port, so
//! the local adapters (run in `local`) and the AWS ones run the very same checks.
//!
//! Every check takes a fresh, empty implementation and uses ids of its own.

pub mod aws;
pub mod blob_store;
pub mod job_queue;
pub mod job_store;
mod local;

use std::future::Future;
use std::time::Duration;

/// Stores like SQS report some state eventually; checks poll instead of sleeping.
pub async fn eventually<T, F: Future<Output = Option<T>>>(what: &str, mut check: impl FnMut() -> F) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One `#[tokio::test]` per check: `contract_tests!(suite_module, setup_expr, [check, ...])`.
/// `setup_expr` gives `(guard, implementation)`; the guard (a tempdir, a table) lives as long
/// as the check.
macro_rules! contract_tests {
    ($suite:ident, $setup:expr, [$($check:ident),* $(,)?]) => {
        $(
            #[tokio::test]
            async fn $check() {
                let (_guard, port) = $setup;
                $suite::$check(&port).await;
            }
        )*
    };
}
pub(crate) use contract_tests;

/// Every job store check, on the implementation `setup_expr` makes: one list for all stores.
macro_rules! job_store_contract {
    ($setup:expr) => {
        $crate::contract::contract_tests!(
            job_store,
            $setup,
            [
                create_then_get,
                unknown_id_is_none,
                expired_is_none,
                pending_running_completed,
                pending_to_failed,
                redelivered_job_may_start_again,
                finish_twice_keeps_the_first,
                mark_running_after_terminal_is_refused,
                transitions_on_unknown_are_not_found,
                concurrent_finishes_apply_once,
                listed_records_keep_their_listing,
                listing_is_newest_first_and_paged_over_items,
                expired_records_are_not_listed,
                listing_reads_no_further_than_its_reach,
                only_ended_records_are_deleted,
            ]
        );
    };
}
pub(crate) use job_store_contract;

/// Every blob store check, on the implementation `setup_expr` makes.
macro_rules! blob_store_contract {
    ($setup:expr) => {
        $crate::contract::contract_tests!(
            blob_store,
            $setup,
            [
                put_then_get,
                empty_blobs_are_blobs,
                put_overwrites,
                missing_is_none,
                reads_are_capped,
                delete_removes_and_tolerates_absence,
                urls_name_their_blob
            ]
        );
    };
}
pub(crate) use blob_store_contract;
