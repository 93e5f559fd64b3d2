//! The submission object (`submission_serializer.rb`): the requested attributes in the
//! serializer's order, outputs base64 (RFC 2045) on request and `null` when empty, times as
//! decimal strings of seconds, timestamps with milliseconds and `Z`.

use chrono::{DateTime, Utc};
use gavel_core::JobRecord;
use gavel_core::runner::Output;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Value, json};

use super::base64;
use super::fields::Fields;
use super::limits::decimal;
use super::record::StoredJob;
use super::status::{self, Status};

/// A JSON object whose keys keep the order they were put in.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Object(Vec<(&'static str, Attribute)>);

/// One attribute's value; the nested objects keep Judge0's key order too.
#[derive(Debug, Clone, PartialEq)]
enum Attribute {
    Json(Value),
    Status(Status),
    Language { id: u32, name: Option<String> },
}

impl Object {
    /// `{"error": ..., "token": ...}`: a `wait=true` submission made, but not shown.
    pub(super) fn error_with_token(message: &str, token: &str) -> Object {
        Object(vec![("error", Attribute::Json(json!(message))), ("token", Attribute::Json(json!(token)))])
    }

    #[cfg(test)]
    pub(super) fn get(&self, key: &str) -> Option<Value> {
        let (_, value) = self.0.iter().find(|(name, _)| *name == key)?;
        serde_json::to_value(value).ok()
    }

    #[cfg(test)]
    pub(super) fn keys(&self) -> Vec<&'static str> {
        self.0.iter().map(|(name, _)| *name).collect()
    }
}

impl Serialize for Object {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl Serialize for Attribute {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Attribute::Json(value) => value.serialize(serializer),
            Attribute::Status(status) => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("id", &status.id)?;
                map.serialize_entry("description", status.description)?;
                map.end()
            }
            Attribute::Language { id, name } => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("id", id)?;
                map.serialize_entry("name", name)?;
                map.end()
            }
        }
    }
}

/// An attribute that is not UTF-8, asked for without `base64_encoded=true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct NotUtf8;

pub(super) const NOT_UTF8_ONE: &str =
    "some attributes for this submission cannot be converted to UTF-8, use base64_encoded=true query parameter";
pub(super) const NOT_UTF8_MANY: &str =
    "some attributes for one or more submissions cannot be converted to UTF-8, use base64_encoded=true query parameter";

/// One submission: item `item` of `job`, whose Gavel record is `record`.
pub(super) struct Submission<'a> {
    pub token: String,
    pub record: &'a JobRecord,
    pub job: &'a StoredJob,
    pub item: usize,
    /// The language's name here (`None`: an id this deployment no longer knows).
    pub language_name: Option<String>,
}

fn bytes(output: Option<&Output>) -> Option<Vec<u8>> {
    output.and_then(Output::bytes).map(|bytes| bytes.into_owned())
}

fn timestamp(at: DateTime<Utc>) -> Value {
    Value::String(at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

impl Submission<'_> {
    pub(super) fn render(&self, fields: Fields, base64: bool) -> Result<Object, NotUtf8> {
        let shared = &self.job.shared;
        let item = self.job.items.get(self.item);
        let expected = bytes(item.and_then(|item| item.expected_output.as_ref()));
        let run = status::execution(self.record, self.job.runs(self.item));
        let text = |value: Option<&[u8]>| -> Result<Value, NotUtf8> {
            Ok(match value {
                None => Value::Null,
                Some(value) if base64 => Value::String(base64::encode(value)),
                Some(value) => Value::String(std::str::from_utf8(value).map_err(|_| NotUtf8)?.to_owned()),
            })
        };
        let seconds = |value: Option<f64>| value.map_or(Value::Null, |value| Value::String(decimal(value)));
        let values = &shared.values;
        let status = run.status.unwrap_or(status::INTERNAL_ERROR);
        let mut object = Object::default();
        for field in fields.iter() {
            let value = match field {
                "source_code" => text(bytes(Some(&shared.source_code)).as_deref())?,
                "language_id" => json!(shared.language_id),
                "stdin" => text(bytes(item.and_then(|item| item.stdin.as_ref())).as_deref())?,
                "expected_output" => text(expected.as_deref())?,
                "stdout" => text(run.stdout.as_deref())?,
                "status_id" => json!(status.id),
                "created_at" => timestamp(self.record.created_at),
                "finished_at" => run.finished_at.map_or(Value::Null, timestamp),
                "time" => seconds(run.time),
                "memory" => json!(run.memory),
                "stderr" => text(run.stderr.as_deref())?,
                "token" => json!(self.token),
                "number_of_runs" => json!(values.number_of_runs),
                "cpu_time_limit" => seconds(Some(values.cpu_time_limit)),
                "cpu_extra_time" => seconds(Some(values.cpu_extra_time)),
                "wall_time_limit" => seconds(Some(values.wall_time_limit)),
                "memory_limit" => json!(values.memory_limit),
                "stack_limit" => json!(values.stack_limit),
                "max_processes_and_or_threads" => json!(values.max_processes_and_or_threads),
                "enable_per_process_and_thread_time_limit" => json!(shared.enable_per_process_and_thread_time_limit),
                "enable_per_process_and_thread_memory_limit" => {
                    json!(shared.enable_per_process_and_thread_memory_limit)
                }
                "max_file_size" => json!(values.max_file_size),
                "compile_output" => text(run.compile_output.as_deref())?,
                "exit_code" => json!(run.exit_code),
                "exit_signal" => json!(run.exit_signal),
                // The one attribute beyond the outputs that the flag encodes too.
                "message" => text(run.message.as_deref().map(str::as_bytes))?,
                "wall_time" => seconds(run.wall_time),
                "command_line_arguments" => json!(shared.command_line_arguments),
                "redirect_stderr_to_stdout" => json!(shared.redirect_stderr_to_stdout),
                "callback_url" => json!(item.and_then(|item| item.callback_url.as_deref())),
                // Refused at submission while Gavel does not support them: always unset.
                "compiler_options" | "additional_files" => Value::Null,
                "enable_network" => json!(false),
                "status" => {
                    object.0.push((field, Attribute::Status(status)));
                    continue;
                }
                "language" => {
                    let name = self.language_name.clone();
                    object.0.push((field, Attribute::Language { id: shared.language_id, name }));
                    continue;
                }
                _ => continue,
            };
            object.0.push((field, Attribute::Json(value)));
        }
        Ok(object)
    }
}

#[cfg(test)]
#[path = "view_tests.rs"]
mod tests;
