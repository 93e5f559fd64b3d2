//! `GET /submissions`: every live submission the Judge0 API made, newest first, paged as
//! Judge0's `will_paginate` pages them. Gavel's own jobs and Piston's are never listed.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use futures_util::future::try_join_all;
use gavel_core::ports::ItemWindow;
use serde::Serialize;

use super::auth::{Authn, Authz};
use super::error::Judge0Error;
use super::jobs::LISTING_TAG;
use super::request::ruby_to_i;
use super::submissions::{Loaded, Params};
use super::view::{self, NOT_UTF8_MANY};
use crate::Ctx;

/// Judge0's `Submission.per_page`.
const DEFAULT_PER_PAGE: i64 = 20;
/// Judge0 has no cap; Gavel reads every submission it lists, so a page lists at most this many.
/// The meta counts pages of the capped size, so a client following `next_page` sees them all.
const MAX_PER_PAGE: i64 = 100;
/// How far back the index reaches, in submissions, so that a listing is bounded work on every
/// store: `total_count` counts at most about this many (the newest), and pages end there.
const REACH: u64 = 10_000;

/// `will_paginate`'s numbers for one page.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub(super) struct Meta {
    current_page: i64,
    next_page: Option<i64>,
    prev_page: Option<i64>,
    total_pages: i64,
    total_count: u64,
}

impl Meta {
    /// A page past the end is empty, and still counts back to the one before it.
    pub(super) fn new(page: i64, per_page: i64, total_count: u64) -> Meta {
        let per_page = per_page.max(1).unsigned_abs();
        let total_pages = i64::try_from(total_count.div_ceil(per_page)).unwrap_or(i64::MAX).max(1);
        Meta {
            current_page: page,
            next_page: (page < total_pages).then(|| page + 1),
            prev_page: (page > 1).then(|| page - 1),
            total_pages,
            total_count,
        }
    }
}

#[derive(Serialize)]
struct Listed {
    submissions: Vec<view::Object>,
    meta: Meta,
}

/// `GET /submissions?page=&per_page=&base64_encoded=&fields=`.
pub(super) async fn index(
    _: Authn,
    _: Authz,
    State(ctx): State<Ctx>,
    RawQuery(query): RawQuery,
) -> Result<Response, Judge0Error> {
    let state = &ctx.state;
    let params = Params::new(query);
    let fields = params.fields()?;
    let base64 = params.flag("base64_encoded");
    let page = params.get("page").map_or(1, ruby_to_i);
    let per_page = params.get("per_page").map_or(DEFAULT_PER_PAGE, ruby_to_i);
    if page <= 0 {
        return Err(Judge0Error::bad_request(format!("invalid page: {page}")));
    }
    // Judge0 takes 0 and then fails dividing by it (a 500) once anything is listed.
    if per_page <= 0 {
        return Err(Judge0Error::bad_request(format!("invalid per_page: {per_page}")));
    }
    let per_page = per_page.min(MAX_PER_PAGE);
    let limit = per_page.unsigned_abs();
    let window = ItemWindow { offset: (page.unsigned_abs() - 1).saturating_mul(limit), limit, reach: REACH };
    let listed = state.store.list(LISTING_TAG, window, Utc::now()).await?;
    // A job that expired since it was listed reads as `None`, and is left out.
    let jobs = try_join_all(listed.records.iter().map(|record| Loaded::read(state, &record.id))).await?;
    let mut submissions = Vec::with_capacity(limit as usize);
    for (record, loaded) in listed.records.iter().zip(&jobs) {
        let Some(loaded) = loaded else { continue };
        let items = loaded.job.items.len();
        // Newest first: a job's later submissions were made after its earlier ones.
        for position in record.items.clone() {
            let Some(item) = items.checked_sub(position as usize + 1).filter(|&item| loaded.job.has(item)) else {
                continue;
            };
            let object =
                loaded.render(state, item, fields, base64).map_err(|_| Judge0Error::bad_request(NOT_UTF8_MANY))?;
            submissions.push(object);
        }
    }
    let meta = Meta::new(page, per_page, listed.total_items);
    Ok(Json(Listed { submissions, meta }).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_is_will_paginates() {
        let meta = |page, per_page, total| serde_json::to_value(Meta::new(page, per_page, total)).expect("json");
        let expected = serde_json::json!({
            "current_page": 2, "next_page": 3, "prev_page": 1, "total_pages": 3, "total_count": 41
        });
        assert_eq!(meta(2, 20, 41), expected);
        assert_eq!(
            meta(1, 20, 0),
            serde_json::json!({
                "current_page": 1, "next_page": null, "prev_page": null, "total_pages": 1, "total_count": 0
            })
        );
        assert_eq!(
            meta(3, 20, 40),
            serde_json::json!({
                "current_page": 3, "next_page": null, "prev_page": 2, "total_pages": 2, "total_count": 40
            }),
            "past the end"
        );
        assert_eq!(Meta::new(1, 5, 5).next_page, None);
    }
}
