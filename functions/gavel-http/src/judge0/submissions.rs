//! `/submissions`: create (one, or a batch), show (one, or a batch) and delete, with Judge0's
//! checks in the order its controller runs them. The index is `index.rs`.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, Path, Query, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use gavel_core::job::Removal;
use gavel_core::usecases::{self, GetError};
use gavel_core::{JobId, JobRecord};
use serde_json::{Value, json};

use super::auth::{Authn, Authz};
use super::callbacks;
use super::error::{FieldErrors, Judge0Error};
use super::fields::Fields;
use super::jobs;
use super::languages::Catalog;
use super::limits::Rules;
use super::record::{self, StoredJob};
use super::request::{self, Context};
use super::status::{self, Status};
use super::token;
use super::view::{self, NOT_UTF8_MANY, NOT_UTF8_ONE, NotUtf8};
use crate::{AppState, Ctx};

/// The query parameters; Rails keeps the last of a repeated one.
pub(super) struct Params(Vec<(String, String)>);

impl Params {
    pub(super) fn new(query: Option<String>) -> Params {
        let uri = format!("/?{}", query.unwrap_or_default());
        let pairs = uri.parse().ok().and_then(|uri| Query::<Vec<(String, String)>>::try_from_uri(&uri).ok());
        Params(pairs.map(|Query(pairs)| pairs).unwrap_or_default())
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().rev().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// Judge0's flags are on only for the literal `true`.
    pub(super) fn flag(&self, name: &str) -> bool {
        self.get(name) == Some("true")
    }

    pub(super) fn fields(&self) -> Result<Fields, Judge0Error> {
        Fields::parse(self.get("fields")).map_err(Judge0Error::bad_request)
    }
}

fn context<'a>(state: &'a AppState, rules: &'a Rules, base64: bool) -> Context<'a> {
    Context { catalog: Catalog(&state.languages), rules, server: &state.limits, config: &state.judge0, base64 }
}

fn maintenance(state: &AppState) -> Result<(), Judge0Error> {
    let config = &state.judge0;
    if config.maintenance_mode {
        return Err(Judge0Error::Message(StatusCode::SERVICE_UNAVAILABLE, config.maintenance_message.clone()));
    }
    Ok(())
}

/// Judge0's `check_queue_size`: refused while the queue holds its maximum.
async fn queue_has_room(state: &AppState, submissions: u64) -> Result<(), Judge0Error> {
    if state.queue.depth().await?.saturating_add(submissions) > state.judge0.max_queue_size {
        return Err(Judge0Error::queue_full());
    }
    Ok(())
}

/// The body as JSON, whatever its Content-Type; nothing at all is an empty object.
async fn body(request: Request, limit: usize) -> Result<Value, Judge0Error> {
    let bytes = Bytes::from_request(request, &()).await.map_err(|rejection| {
        let message = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            format!("the request body is larger than {limit} bytes")
        } else {
            "the request body could not be read".into()
        };
        Judge0Error::Message(rejection.status(), message)
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_slice(&bytes).map_err(|_| Judge0Error::BadRequest)
}

fn created(body: impl serde::Serialize) -> Response {
    (StatusCode::CREATED, Json(body)).into_response()
}

/// `POST /submissions`.
pub(super) async fn create(
    _: Authn,
    State(ctx): State<Ctx>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Result<Response, Judge0Error> {
    let state = &ctx.state;
    let params = Params::new(query);
    maintenance(state)?;
    let wait = params.flag("wait");
    if wait && !state.judge0.enable_wait_result {
        return Err(Judge0Error::bad_request("wait not allowed"));
    }
    queue_has_room(state, 1).await?;
    let fields = params.fields()?;
    let base64 = params.flag("base64_encoded");
    let body = body(request, ctx.body_limit).await?;
    let rules = Rules::new(&state.limits);
    let submission = request::validate(&body, &context(state, &rules, base64)).map_err(Judge0Error::Invalid)?;
    let group = jobs::Group::new(0, submission);
    let job_id = jobs::submit(state, &group, &rules).await?;
    let token = token::token(&job_id, 0);
    if !wait {
        return Ok(created(json!({ "token": token })));
    }
    let finished = state.job_finished.as_deref();
    let record = crate::result::wait_for(&*state.store, finished, job_id.as_str(), state.max_wait).await?;
    let loaded = Loaded { record, job: group.job };
    Ok(match loaded.render(state, 0, fields, base64) {
        Ok(object) => created(object),
        Err(NotUtf8) => created(view::Object::error_with_token(NOT_UTF8_ONE, &token)),
    })
}

/// `POST /submissions/batch`.
pub(super) async fn batch_create(
    _: Authn,
    State(ctx): State<Ctx>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Result<Response, Judge0Error> {
    let state = &ctx.state;
    let params = Params::new(query);
    batches_allowed(state)?;
    let body = body(request, ctx.body_limit).await?;
    let items = match body.get("submissions") {
        Some(Value::Array(items)) => items.as_slice(),
        _ => &[],
    };
    queue_has_room(state, items.len().max(1) as u64).await?;
    batch_size(state, items.len())?;
    let rules = Rules::new(&state.limits);
    let context = context(state, &rules, params.flag("base64_encoded"));
    let mut answers: Vec<Created> = Vec::with_capacity(items.len());
    let mut valid = Vec::new();
    for (index, item) in items.iter().enumerate() {
        match request::validate(item, &context) {
            Ok(submission) => {
                valid.push((index, submission));
                answers.push(Created::Token { token: String::new() });
            }
            Err(errors) => answers.push(Created::Invalid(errors)),
        }
    }
    let status = if valid.is_empty() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::CREATED };
    for group in jobs::group(valid, &rules, &state.limits) {
        let job_id = jobs::submit(state, &group, &rules).await?;
        for (item, &index) in group.members.iter().enumerate() {
            answers[index] = Created::Token { token: token::token(&job_id, item) };
        }
    }
    Ok((status, Json(answers)).into_response())
}

/// One submission of a batch as created: its token, or why it was refused.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Created {
    Token { token: String },
    Invalid(FieldErrors),
}

fn batches_allowed(state: &AppState) -> Result<(), Judge0Error> {
    if !state.judge0.enable_batched_submissions {
        return Err(Judge0Error::bad_request("batched submissions are not allowed"));
    }
    Ok(())
}

fn batch_size(state: &AppState, size: usize) -> Result<(), Judge0Error> {
    let max = state.judge0.max_submission_batch_size;
    if size > max {
        return Err(Judge0Error::bad_request(format!(
            "number of submissions in a batch should be less than or equal to {max}"
        )));
    }
    if size == 0 {
        return Err(Judge0Error::bad_request("there should be at least one submission in a batch"));
    }
    Ok(())
}

/// A job made by the Judge0 API, as read back.
pub(super) struct Loaded {
    record: JobRecord,
    pub(super) job: StoredJob,
}

impl Loaded {
    /// The job's record and Judge0 data, read together; `None` for an unknown or expired job,
    /// or one that is not the Judge0 API's.
    pub(super) async fn read(state: &AppState, job_id: &JobId) -> Result<Option<Loaded>, Judge0Error> {
        let (record, job) = tokio::join!(
            usecases::get(&*state.store, job_id.as_str(), Utc::now()),
            record::load(&*state.blobs, job_id)
        );
        let record = match record {
            Ok(record) => record,
            Err(GetError::NotFound(_)) => return Ok(None),
            Err(GetError::Unavailable(err)) => return Err(err.into()),
        };
        Ok(job?.map(|job| Loaded { record, job }))
    }

    pub(super) fn render(
        &self,
        state: &AppState,
        item: usize,
        fields: Fields,
        base64: bool,
    ) -> Result<view::Object, NotUtf8> {
        let submission = view::Submission {
            token: token::token(&self.record.id, item),
            record: &self.record,
            job: &self.job,
            item,
            language_name: Catalog(&state.languages).name(self.job.shared.language_id),
        };
        submission.render(fields, base64)
    }
}

/// `GET /submissions/{token}`.
pub(super) async fn show(
    _: Authn,
    State(ctx): State<Ctx>,
    token: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, Judge0Error> {
    let state = &ctx.state;
    let params = Params::new(query);
    let fields = params.fields()?;
    let base64 = params.flag("base64_encoded");
    let (job_id, item) = token.ok().and_then(|Path(token)| token::parse(&token)).ok_or(Judge0Error::NotFound)?;
    let loaded = Loaded::read(state, &job_id).await?.filter(|loaded| loaded.job.has(item));
    let loaded = loaded.ok_or(Judge0Error::NotFound)?;
    match loaded.render(state, item, fields, base64) {
        Ok(object) => Ok(Json(object).into_response()),
        Err(NotUtf8) => Err(Judge0Error::bad_request(NOT_UTF8_ONE)),
    }
}

/// `GET /submissions/batch?tokens=a,b,c` (or a `tokens` header).
pub(super) async fn batch_show(
    _: Authn,
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Judge0Error> {
    let state = &ctx.state;
    let params = Params::new(query);
    batches_allowed(state)?;
    let fields = params.fields()?;
    let base64 = params.flag("base64_encoded");
    let header = headers.get("tokens").map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    let tokens = header.or_else(|| params.get("tokens").map(str::to_owned)).unwrap_or_default();
    // Ruby's `strip.split(",")`: trailing empty tokens vanish.
    let mut tokens: Vec<&str> = tokens.trim().split(',').collect();
    while tokens.last().is_some_and(|token| token.is_empty()) {
        tokens.pop();
    }
    batch_size(state, tokens.len())?;
    let mut jobs: HashMap<JobId, Option<Loaded>> = HashMap::new();
    let mut submissions = Vec::with_capacity(tokens.len());
    for token in tokens {
        let Some((job_id, item)) = token::parse(token) else {
            submissions.push(None);
            continue;
        };
        if !jobs.contains_key(&job_id) {
            let loaded = Loaded::read(state, &job_id).await?;
            jobs.insert(job_id.clone(), loaded);
        }
        let loaded = jobs.get(&job_id).and_then(Option::as_ref).filter(|loaded| loaded.job.has(item));
        let Some(loaded) = loaded else {
            submissions.push(None);
            continue;
        };
        let object = loaded.render(state, item, fields, base64).map_err(|_| Judge0Error::bad_request(NOT_UTF8_MANY))?;
        submissions.push(Some(object));
    }
    Ok(Json(Shown { submissions }).into_response())
}

#[derive(serde::Serialize)]
struct Shown {
    submissions: Vec<Option<view::Object>>,
}

/// `DELETE /submissions/{token}`, with `ENABLE_SUBMISSION_DELETE` (off by default, as in Judge0):
/// deletes an ended submission and answers with it as it was, in base64 as Judge0 forces. A
/// submission is one item of a Gavel job: the job, its record and blobs, go with its last item;
/// until then the item is marked deleted and its own stdin, expected output and callback dropped.
pub(super) async fn destroy(
    _: Authn,
    _: Authz,
    State(ctx): State<Ctx>,
    token: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, Judge0Error> {
    let state = &ctx.state;
    maintenance(state)?;
    let fields = Params::new(query).fields()?;
    if !state.judge0.enable_submission_delete {
        return Err(Judge0Error::bad_request("delete not allowed"));
    }
    let (job_id, item) = token.ok().and_then(|Path(token)| token::parse(&token)).ok_or(Judge0Error::NotFound)?;
    let loaded = Loaded::read(state, &job_id).await?.filter(|loaded| loaded.job.has(item));
    let mut loaded = loaded.ok_or(Judge0Error::NotFound)?;
    let not_ended = |status: Status| {
        let (id, name) = (status.id, status.description);
        Judge0Error::bad_request(format!("submission cannot be deleted because its status is {id} ({name})"))
    };
    if let Some(status) = status::unfinished(&loaded.record) {
        return Err(not_ended(status));
    }
    // Base64 renders any bytes.
    let object = loaded.render(state, item, fields, true).map_err(|NotUtf8| Judge0Error::bad_request(NOT_UTF8_ONE))?;
    loaded.job.items[item] = record::Item { deleted: true, ..record::Item::default() };
    if (0..loaded.job.items.len()).any(|other| loaded.job.has(other)) {
        record::save(&*state.blobs, &job_id, &loaded.job).await?;
    } else {
        let own = [record::key(&job_id), callbacks::marker(&job_id)];
        match usecases::delete(&*state.store, &*state.blobs, &job_id, &own, Utc::now()).await? {
            Removal::Removed | Removal::NotFound => {}
            // It was ended when read, and ended jobs stay ended: only a store that lost the record could say this.
            Removal::NotEnded => return Err(not_ended(status::PROCESSING)),
        }
    }
    Ok(Json(object).into_response())
}
