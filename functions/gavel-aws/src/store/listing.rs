//! The listing: a sparse global secondary index, `listing`, over the jobs that carry
//! `list_tag` (hash key) by `created_at` (range key), projecting only what paging needs. A page
//! is Queries of that index, newest first, over the live window alone, until the jobs read hold
//! the window's `reach` of items; the table is never scanned. The index is eventually
//! consistent: a job created a moment ago may be missing from a listing for as long.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType,
};
use chrono::{DateTime, Utc};
use gavel_core::job::RETENTION;
use gavel_core::ports::{ItemWindow, ListPage, PageBuilder, Unavailable};

use super::{DynamoJobStore, SERVICE, attr, millis, n, number, required_text, s};
use crate::describe;

pub(super) const INDEX: &str = "listing";

/// What the table defines for the index: its keys' types.
pub(super) fn attribute_definitions() -> Result<Vec<AttributeDefinition>, aws_sdk_dynamodb::error::BuildError> {
    [(attr::LIST_TAG, ScalarAttributeType::S), (attr::CREATED_AT, ScalarAttributeType::N)]
        .into_iter()
        .map(|(name, kind)| AttributeDefinition::builder().attribute_name(name).attribute_type(kind).build())
        .collect()
}

pub(super) fn index() -> Result<GlobalSecondaryIndex, aws_sdk_dynamodb::error::BuildError> {
    let key = |name, kind| KeySchemaElement::builder().attribute_name(name).key_type(kind).build();
    let projection = Projection::builder()
        .projection_type(ProjectionType::Include)
        .non_key_attributes(attr::LIST_ITEMS)
        .non_key_attributes(attr::EXPIRES_AT_MS)
        .build();
    GlobalSecondaryIndex::builder()
        .index_name(INDEX)
        .key_schema(key(attr::LIST_TAG, KeyType::Hash)?)
        .key_schema(key(attr::CREATED_AT, KeyType::Range)?)
        .projection(projection)
        .build()
}

pub(super) async fn list(
    store: &DynamoJobStore,
    tag: &str,
    window: ItemWindow,
    now: DateTime<Utc>,
) -> Result<ListPage, Unavailable> {
    let mut page = PageBuilder::new(window);
    let mut start = None;
    while !page.is_full() {
        let answer = store
            .client
            .query()
            .table_name(&store.table)
            .index_name(INDEX)
            // No job outlives RETENTION from its creation, so older entries (which TTL may
            // take days to delete) are not even read.
            .key_condition_expression("#tag = :tag AND #created > :since")
            .filter_expression("#expires > :now")
            .projection_expression("#id, #items")
            .expression_attribute_names("#tag", attr::LIST_TAG)
            .expression_attribute_names("#created", attr::CREATED_AT)
            .expression_attribute_names("#expires", attr::EXPIRES_AT_MS)
            .expression_attribute_names("#id", attr::JOB_ID)
            .expression_attribute_names("#items", attr::LIST_ITEMS)
            .expression_attribute_values(":tag", s(tag))
            .expression_attribute_values(":since", n(millis(now - RETENTION)))
            .expression_attribute_values(":now", n(millis(now)))
            .scan_index_forward(false)
            // Each job holds one item or more: no Query reads past the reach.
            .limit(i32::try_from(page.records_wanted()).unwrap_or(i32::MAX).max(1))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|err| Unavailable::new(SERVICE, format!("Query {INDEX}: {}", describe(&err))))?;
        for item in answer.items() {
            if page.is_full() {
                break;
            }
            let entry = required_text(item, attr::JOB_ID).and_then(|id| {
                let id = id.parse().map_err(|_| format!("corrupt item: bad job id {id:?}"))?;
                let items = u32::try_from(number(item, attr::LIST_ITEMS)?).map_err(|err| err.to_string())?;
                Ok((id, items))
            });
            let (id, items) = entry.map_err(|err| Unavailable::new(SERVICE, format!("listing {tag}: {err}")))?;
            page.push(id, items);
        }
        start = answer.last_evaluated_key().cloned();
        if start.is_none() {
            break;
        }
    }
    Ok(page.finish())
}
