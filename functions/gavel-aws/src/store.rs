//! Job records in DynamoDB, one item per job keyed by `job_id`. Transitions are conditional
//! UpdateItems, so a terminal state is never overwritten however many deliveries race; a delete
//! is a DeleteItem conditional on the job having ended.
//!
//! Attributes: `job_id` (S), `language` (S), `status` (S), `created_at`, `started_at`,
//! `finished_at` and `expires_at_ms` (N, epoch milliseconds), `expires_at` (N, epoch seconds,
//! rounded up: the table's TTL attribute), `result` (S, the `JobResult` JSON) or `error` (S);
//! and for a listed job `list_tag` (S) and `list_items` (N), which put it in the listing index
//! (`listing.rs`).
//!
//! DynamoDB caps an item at 400 KB. A result whose JSON is over [`RESULT_BUDGET_BYTES`] is stored
//! with its longest texts (outputs, echoed inputs and expected outputs, compile output) cut to
//! fit, and the tests cut are marked `truncated`; verdicts, times and the summary are always
//! kept. A result that cannot fit even so (its structure alone is too large) fails the job with
//! a message saying why, rather than leaving it running forever.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ReturnValuesOnConditionCheckFailure,
    ScalarAttributeType, TimeToLiveSpecification,
};
use chrono::{DateTime, Utc};
use gavel_core::job::{JobId, JobRecord, JobResult, JobStatus, Listing, Outcome, Removal, Transition};
use gavel_core::ports::{ItemWindow, JobStore, ListPage, Unavailable};
use gavel_core::runner::Encoding;
use tracing::warn;

use crate::{chain, describe};

const SERVICE: &str = "job store";

/// The largest `result` JSON stored as is; above it the texts are cut (see the module docs).
pub const RESULT_BUDGET_BYTES: usize = 350 * 1024;
/// The largest `error` message stored.
const ERROR_BUDGET_BYTES: usize = 16 * 1024;

mod attr {
    pub const JOB_ID: &str = "job_id";
    pub const LANGUAGE: &str = "language";
    pub const STATUS: &str = "status";
    pub const CREATED_AT: &str = "created_at";
    pub const STARTED_AT: &str = "started_at";
    pub const FINISHED_AT: &str = "finished_at";
    /// Epoch seconds, the TTL attribute.
    pub const EXPIRES_AT: &str = "expires_at";
    /// Epoch milliseconds, what reads and conditions use.
    pub const EXPIRES_AT_MS: &str = "expires_at_ms";
    pub const RESULT: &str = "result";
    pub const ERROR: &str = "error";
    pub const LIST_TAG: &str = "list_tag";
    pub const LIST_ITEMS: &str = "list_items";
}

mod listing;

/// A transition applies to a live, non-terminal record. `#s` is `status`, a reserved word.
const TRANSITION_CONDITION: &str = "attribute_exists(job_id) AND #s IN (:pending, :running) AND expires_at_ms > :now";

/// The DynamoDB [`JobStore`]. Expired items read as absent before TTL deletes them (which can
/// take days).
#[derive(Debug, Clone)]
pub struct DynamoJobStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoJobStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> DynamoJobStore {
        DynamoJobStore { client, table: table.into() }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    async fn transition(
        &self,
        id: &JobId,
        now: DateTime<Utc>,
        update: &str,
        names: &[(&str, &str)],
        values: Vec<(&str, AttributeValue)>,
        operation: &str,
    ) -> Result<Transition, Unavailable> {
        let now_ms = millis(now);
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(attr::JOB_ID, s(id.as_str()))
            .update_expression(update)
            .condition_expression(TRANSITION_CONDITION)
            .expression_attribute_names("#s", attr::STATUS)
            .expression_attribute_values(":pending", s(JobStatus::Pending.as_str()))
            .expression_attribute_values(":running", s(JobStatus::Running.as_str()))
            .expression_attribute_values(":now", n(now_ms))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (placeholder, name) in names {
            request = request.expression_attribute_names(*placeholder, *name);
        }
        for (placeholder, value) in values {
            request = request.expression_attribute_values(placeholder, value);
        }
        match request.send().await {
            Ok(_) => Ok(Transition::Applied),
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    // The item as it was: statuses only move forward, so a live one is terminal.
                    Ok(if is_live(failed.item(), now_ms) { Transition::AlreadyTerminal } else { Transition::NotFound })
                }
                _ => Err(Unavailable::new(SERVICE, format!("{operation} {id}: {}", describe(&err)))),
            },
        }
    }
}

#[async_trait]
impl JobStore for DynamoJobStore {
    async fn create(&self, record: &JobRecord) -> Result<(), Unavailable> {
        let item = to_item(record)?;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(job_id)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Err(Unavailable::new(SERVICE, format!("a job {} already exists", record.id)))
            }
            Err(err) => Err(Unavailable::new(SERVICE, format!("PutItem {}: {}", record.id, describe(&err)))),
        }
    }

    async fn get(&self, id: &JobId, now: DateTime<Utc>) -> Result<Option<JobRecord>, Unavailable> {
        let answer = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(attr::JOB_ID, s(id.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| Unavailable::new(SERVICE, format!("GetItem {id}: {}", describe(&err))))?;
        let Some(item) = answer.item() else { return Ok(None) };
        let record = from_item(item).map_err(|err| Unavailable::new(SERVICE, format!("job {id}: {err}")))?;
        Ok((!record.is_expired(now)).then_some(record))
    }

    async fn mark_running(&self, id: &JobId, now: DateTime<Utc>) -> Result<Transition, Unavailable> {
        // A redelivered job runs again, so started_at tells when the latest run began.
        let update = "SET #s = :running, started_at = :now";
        self.transition(id, now, update, &[], Vec::new(), "UpdateItem (running)").await
    }

    async fn finish(&self, id: &JobId, outcome: Outcome, now: DateTime<Utc>) -> Result<Transition, Unavailable> {
        let (status, name, text) = match outcome {
            Outcome::Completed(result) => match result_json(&result) {
                Ok(json) => (JobStatus::Completed, attr::RESULT, json),
                Err(too_large) => {
                    warn!(job_id = %id, %too_large, "a result too large to store fails its job");
                    (JobStatus::Failed, attr::ERROR, too_large)
                }
            },
            Outcome::Failed(error) => (JobStatus::Failed, attr::ERROR, truncate_error(error)),
        };
        // `result` and `error` are reserved words too.
        let update =
            "SET #s = :status, finished_at = :now, started_at = if_not_exists(started_at, :now), #o = :outcome";
        let values = vec![(":status", s(status.as_str())), (":outcome", s(&text))];
        self.transition(id, now, update, &[("#o", name)], values, "UpdateItem (finish)").await
    }

    async fn delete_ended(&self, id: &JobId, now: DateTime<Utc>) -> Result<Removal, Unavailable> {
        let now_ms = millis(now);
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(attr::JOB_ID, s(id.as_str()))
            .condition_expression("attribute_exists(job_id) AND #s IN (:completed, :failed) AND expires_at_ms > :now")
            .expression_attribute_names("#s", attr::STATUS)
            .expression_attribute_values(":completed", s(JobStatus::Completed.as_str()))
            .expression_attribute_values(":failed", s(JobStatus::Failed.as_str()))
            .expression_attribute_values(":now", n(now_ms))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(Removal::Removed),
            Err(err) => match err.as_service_error() {
                Some(DeleteItemError::ConditionalCheckFailedException(failed)) => {
                    // The item as it was: a live one the condition kept is pending or running.
                    Ok(if is_live(failed.item(), now_ms) { Removal::NotEnded } else { Removal::NotFound })
                }
                _ => Err(Unavailable::new(SERVICE, format!("DeleteItem {id}: {}", describe(&err)))),
            },
        }
    }

    async fn list(&self, tag: &str, window: ItemWindow, now: DateTime<Utc>) -> Result<ListPage, Unavailable> {
        listing::list(self, tag, window, now).await
    }
}

/// Creates the jobs table as the SAM template does (on-demand, `job_id` hash key, the listing
/// index, TTL on `expires_at`), waiting until it is active. For tests and local setups.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) -> Result<(), Unavailable> {
    let fail = |what: &str, err: &(dyn std::error::Error + 'static)| {
        Unavailable::new(SERVICE, format!("{what} {name}: {}", chain(err)))
    };
    let definition = AttributeDefinition::builder()
        .attribute_name(attr::JOB_ID)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|err| fail("CreateTable", &err))?;
    let key = KeySchemaElement::builder()
        .attribute_name(attr::JOB_ID)
        .key_type(KeyType::Hash)
        .build()
        .map_err(|err| fail("CreateTable", &err))?;
    let listed = listing::attribute_definitions().map_err(|err| fail("CreateTable", &err))?;
    let index = listing::index().map_err(|err| fail("CreateTable", &err))?;
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some([vec![definition], listed].concat()))
        .key_schema(key)
        .global_secondary_indexes(index)
        .send()
        .await
        .map_err(|err| Unavailable::new(SERVICE, format!("CreateTable {name}: {}", describe(&err))))?;
    client
        .wait_until_table_exists()
        .table_name(name)
        .wait(Duration::from_secs(120))
        .await
        .map_err(|err| fail("waiting for table", &err))?;
    let ttl = TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name(attr::EXPIRES_AT)
        .build()
        .map_err(|err| fail("UpdateTimeToLive", &err))?;
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(ttl)
        .send()
        .await
        .map_err(|err| Unavailable::new(SERVICE, format!("UpdateTimeToLive {name}: {}", describe(&err))))?;
    Ok(())
}

/// Whether an item a failed condition returned exists and has not expired.
fn is_live(item: Option<&HashMap<String, AttributeValue>>, now_ms: i64) -> bool {
    item.and_then(|item| number(item, attr::EXPIRES_AT_MS).ok()).is_some_and(|expires_at_ms| expires_at_ms > now_ms)
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn from_millis(ms: i64) -> Result<DateTime<Utc>, String> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| format!("timestamp {ms} out of range"))
}

fn to_item(record: &JobRecord) -> Result<HashMap<String, AttributeValue>, Unavailable> {
    let expires_ms = millis(record.expires_at);
    let mut item = HashMap::from([
        (attr::JOB_ID.to_owned(), s(record.id.as_str())),
        (attr::LANGUAGE.to_owned(), s(&record.language)),
        (attr::STATUS.to_owned(), s(record.status.as_str())),
        (attr::CREATED_AT.to_owned(), n(millis(record.created_at))),
        // Rounded up, so TTL never removes a record before it has expired.
        (attr::EXPIRES_AT.to_owned(), n(expires_ms.div_euclid(1000) + i64::from(expires_ms.rem_euclid(1000) > 0))),
        (attr::EXPIRES_AT_MS.to_owned(), n(expires_ms)),
    ]);
    for (name, at) in [(attr::STARTED_AT, record.started_at), (attr::FINISHED_AT, record.finished_at)] {
        if let Some(at) = at {
            item.insert(name.to_owned(), n(millis(at)));
        }
    }
    if let Some(result) = &record.result {
        let json = result_json(result).map_err(|err| Unavailable::new(SERVICE, err))?;
        item.insert(attr::RESULT.to_owned(), s(&json));
    }
    if let Some(error) = &record.error {
        item.insert(attr::ERROR.to_owned(), s(&truncate_error(error.clone())));
    }
    if let Some(listing) = &record.listing {
        item.insert(attr::LIST_TAG.to_owned(), s(&listing.tag));
        item.insert(attr::LIST_ITEMS.to_owned(), n(i64::from(listing.items)));
    }
    Ok(item)
}

fn text<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Result<Option<&'a str>, String> {
    match item.get(name) {
        None => Ok(None),
        Some(AttributeValue::S(value)) => Ok(Some(value)),
        Some(other) => Err(format!("attribute {name} is not a string: {other:?}")),
    }
}

fn required_text<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Result<&'a str, String> {
    text(item, name)?.ok_or_else(|| format!("attribute {name} is missing"))
}

fn optional_number(item: &HashMap<String, AttributeValue>, name: &str) -> Result<Option<i64>, String> {
    match item.get(name) {
        None => Ok(None),
        Some(AttributeValue::N(value)) => {
            value.parse().map(Some).map_err(|_| format!("attribute {name} is not a whole number: {value:?}"))
        }
        Some(other) => Err(format!("attribute {name} is not a number: {other:?}")),
    }
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Result<i64, String> {
    optional_number(item, name)?.ok_or_else(|| format!("attribute {name} is missing"))
}

fn optional_time(item: &HashMap<String, AttributeValue>, name: &str) -> Result<Option<DateTime<Utc>>, String> {
    optional_number(item, name)?.map(from_millis).transpose()
}

fn from_item(item: &HashMap<String, AttributeValue>) -> Result<JobRecord, String> {
    let id = required_text(item, attr::JOB_ID)?;
    let status = required_text(item, attr::STATUS)?;
    Ok(JobRecord {
        id: id.parse().map_err(|_| format!("corrupt item: bad job id {id:?}"))?,
        language: required_text(item, attr::LANGUAGE)?.to_owned(),
        status: JobStatus::parse(status).ok_or_else(|| format!("corrupt item: unknown status {status:?}"))?,
        created_at: from_millis(number(item, attr::CREATED_AT)?)?,
        started_at: optional_time(item, attr::STARTED_AT)?,
        finished_at: optional_time(item, attr::FINISHED_AT)?,
        expires_at: from_millis(number(item, attr::EXPIRES_AT_MS)?)?,
        result: text(item, attr::RESULT)?
            .map(serde_json::from_str)
            .transpose()
            .map_err(|err| format!("corrupt item: result JSON: {err}"))?,
        error: text(item, attr::ERROR)?.map(str::to_owned),
        listing: match text(item, attr::LIST_TAG)? {
            Some(tag) => {
                let items = number(item, attr::LIST_ITEMS)?;
                let items = u32::try_from(items).map_err(|_| format!("corrupt item: {items} listed items"))?;
                Some(Listing { tag: tag.to_owned(), items })
            }
            None => None,
        },
    })
}

/// The result's JSON, cut to [`RESULT_BUDGET_BYTES`] if needed; an error says why it cannot be.
fn result_json(result: &JobResult) -> Result<String, String> {
    fit_result(result, RESULT_BUDGET_BYTES)
}

fn encode(result: &JobResult) -> Result<String, String> {
    serde_json::to_string(result).map_err(|err| format!("cannot encode the result: {err}"))
}

/// Halves the longest texts until the JSON fits `budget` bytes.
fn fit_result(result: &JobResult, budget: usize) -> Result<String, String> {
    let json = encode(result)?;
    if json.len() <= budget {
        return Ok(json);
    }
    let original = json.len();
    let mut fitted = result.clone();
    let mut cap = longest_text(&fitted);
    while cap > 0 {
        cap /= 2;
        cut_texts(&mut fitted, cap);
        let json = encode(&fitted)?;
        if json.len() <= budget {
            warn!(original, stored = json.len(), cap, "result cut to fit the job store");
            return Ok(json);
        }
    }
    Err(format!("the result is too large to store ({original} bytes of JSON, even cut: over {budget})"))
}

fn longest_text(result: &JobResult) -> usize {
    let tests = result
        .tests
        .iter()
        .flat_map(|test| [Some(&test.stdout), Some(&test.stderr), test.input.as_ref(), test.expected_output.as_ref()]);
    let compile = result.compile.as_ref().map(|compile| &compile.output);
    tests.chain([compile]).flatten().map(String::len).max().unwrap_or(0)
}

const CUT_MARK: &str = "\n[cut to fit the result store]";

fn cut_texts(result: &mut JobResult, cap: usize) {
    for test in &mut result.tests {
        let mut cut = cut_output(&mut test.stdout, test.stdout_encoding, cap)
            | cut_output(&mut test.stderr, test.stderr_encoding, cap);
        for echo in [&mut test.input, &mut test.expected_output].into_iter().flatten() {
            cut |= cut_echo(echo, test.encoding, cap);
        }
        test.truncated |= cut;
    }
    if let Some(compile) = &mut result.compile {
        cut_echo(&mut compile.output, compile.output_encoding, cap);
    }
}

/// Text says it was cut; base64 cannot without ceasing to decode.
fn cut_echo(text: &mut String, encoding: Encoding, cap: usize) -> bool {
    match encoding {
        Encoding::Utf8 => cut_marked(text, cap),
        Encoding::Base64 => cut_output(text, Encoding::Base64, cap),
    }
}

/// Cuts a program's output, whole base64 quanta (4 characters for 3 bytes) when it is base64, so
/// that what is left still decodes.
fn cut_output(text: &mut String, encoding: Encoding, cap: usize) -> bool {
    match encoding {
        Encoding::Utf8 => cut(text, cap),
        Encoding::Base64 => cut(text, cap / 4 * 4),
    }
}

/// Cuts `text` to at most `cap` bytes on a character boundary; true if it was cut.
fn cut(text: &mut String, cap: usize) -> bool {
    if text.len() <= cap {
        return false;
    }
    let mut end = cap;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    true
}

/// Like [`cut`], but says so in the text (which has no `truncated` flag of its own).
fn cut_marked(text: &mut String, cap: usize) -> bool {
    if text.len() <= cap || text.ends_with(CUT_MARK) && text.len() <= cap + CUT_MARK.len() {
        return false;
    }
    let was_marked = text.ends_with(CUT_MARK);
    if was_marked {
        text.truncate(text.len() - CUT_MARK.len());
    }
    cut(text, cap);
    text.push_str(CUT_MARK);
    true
}

fn truncate_error(mut error: String) -> String {
    cut(&mut error, ERROR_BUDGET_BYTES);
    error
}

#[cfg(test)]
mod tests;
