//! A submission's body, read as Judge0 reads it: permitted keys only, values cast as Rails casts
//! them (numbers may be strings, unknown keys and non-scalar values are dropped), validated in
//! the model's order with its messages, then Gavel's own bounds.

use gavel_core::request::MAX_ARGS;
use gavel_core::runner::Output;
use gavel_core::{Language, ServerLimits};
use serde_json::{Map, Value};

use super::callbacks;
use super::config::Judge0Config;
use super::error::FieldErrors;
use super::languages::{Catalog, Lookup};
use super::limits::{Rule, Rules, Values};
use super::record::{Item, Shared};
use super::{args, base64};

/// Judge0's length cap on `compiler_options` and `command_line_arguments`.
const MAX_OPTION_CHARS: usize = 512;
/// The "Multi-file program" language: its code comes in `additional_files`.
const PROJECT_LANGUAGE: i64 = 89;

/// A valid submission: what Gavel runs and what is echoed back.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Submission {
    pub language: &'static Language,
    pub shared: Shared,
    pub item: Item,
}

/// What a submission is validated against.
pub(super) struct Context<'a> {
    pub catalog: Catalog<'a>,
    pub rules: &'a Rules,
    pub server: &'a ServerLimits,
    pub config: &'a Judge0Config,
    /// `base64_encoded=true`: `source_code`, `stdin` and `expected_output` come encoded.
    pub base64: bool,
}

/// A value Rails' `permit` keeps: scalars only.
fn scalar<'v>(body: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    body.get(key).filter(|value| matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_)))
}

/// A string column's value.
fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Bool(true) => "t".into(),
        Value::Bool(false) => "f".into(),
        other => other.to_string(),
    }
}

/// Ruby's `blank?`: nothing, or only whitespace.
fn blank(bytes: Option<&[u8]>) -> bool {
    bytes.is_none_or(|bytes| String::from_utf8_lossy(bytes).trim().is_empty())
}

/// Ruby's `String#to_i`: the leading integer, 0 if there is none.
pub(super) fn ruby_to_i(text: &str) -> i64 {
    let text = text.trim_start();
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let value = digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |value, digit| value.saturating_mul(10).saturating_add(i64::from(digit - b'0')));
    if negative { -value } else { value }
}

/// An integer column's cast (`language_id`): `None` for nothing or a blank string.
fn integer(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::String(text) if text.trim().is_empty() => None,
        Value::String(text) => Some(ruby_to_i(text)),
        Value::Number(number) => number.as_i64().or_else(|| number.as_f64().map(|f| f.trunc() as i64)),
        Value::Bool(flag) => Some(i64::from(*flag)),
        _ => None,
    }
}

/// A boolean column's cast: `""` is nothing; `false`, `0`, `"0"`, `"f"`, `"false"`, `"off"`
/// (any case of those) are false; anything else is true.
fn boolean(value: Option<&Value>) -> Option<bool> {
    match value? {
        Value::Bool(flag) => Some(*flag),
        Value::Number(number) => Some(number.as_f64() != Some(0.0)),
        Value::String(text) if text.is_empty() => None,
        Value::String(text) => Some(!["0", "f", "F", "false", "FALSE", "off", "OFF"].contains(&text.as_str())),
        _ => None,
    }
}

/// A numeric attribute: the default when absent or blank, else checked against its rule.
fn number(value: Option<&Value>, rule: &Rule, errors: &mut FieldErrors) -> f64 {
    let parsed = match value {
        None => None,
        Some(Value::String(text)) if text.trim().is_empty() => None,
        Some(Value::String(text)) => Some(text.trim().parse::<f64>().ok().filter(|v| v.is_finite())),
        Some(Value::Number(number)) => Some(number.as_f64()),
        Some(_) => Some(None),
    };
    match parsed {
        None => rule.default,
        Some(None) => {
            errors.add(rule.name, "is not a number");
            rule.default
        }
        Some(Some(value)) => {
            if let Err(message) = rule.check(value) {
                errors.add(rule.name, message);
            }
            value
        }
    }
}

pub(super) fn validate(body: &Value, ctx: &Context<'_>) -> Result<Submission, FieldErrors> {
    let empty = Map::new();
    let body = body.as_object().unwrap_or(&empty);
    let bytes = |key: &str, encoded: bool| {
        scalar(body, key).map(text).map(|text| if encoded { base64::decode(&text) } else { text.into_bytes() })
    };
    let source = bytes("source_code", ctx.base64);
    let stdin = bytes("stdin", ctx.base64);
    let expected = bytes("expected_output", ctx.base64);
    // Always base64, whatever the flag (a .zip).
    let additional_files = bytes("additional_files", true);
    let option = |key: &str| scalar(body, key).map(text);
    let (compiler_options, arguments, callback_url) =
        (option("compiler_options"), option("command_line_arguments"), option("callback_url"));
    let language_id = integer(scalar(body, "language_id"));
    let project = language_id == Some(PROJECT_LANGUAGE);

    let mut errors = FieldErrors::default();
    match (project, blank(source.as_deref())) {
        (false, true) => errors.add("source_code", "can't be blank"),
        (true, false) => errors.add("source_code", "must be blank"),
        _ => {}
    }
    if project && blank(additional_files.as_deref()) {
        errors.add("additional_files", "can't be blank");
    }
    if language_id.is_none() {
        errors.add("language_id", "can't be blank");
    }
    let rules = ctx.rules;
    let mut value = |key: &str, rule: &Rule| number(scalar(body, key), rule, &mut errors);
    let number_of_runs = value("number_of_runs", &rules.number_of_runs);
    let cpu_time_limit = value("cpu_time_limit", &rules.cpu_time_limit);
    let cpu_extra_time = value("cpu_extra_time", &rules.cpu_extra_time);
    let wall_time_limit = value("wall_time_limit", &rules.wall_time_limit);
    let memory_limit = value("memory_limit", &rules.memory_limit);
    let stack_limit = value("stack_limit", &rules.stack_limit);
    let max_processes = value("max_processes_and_or_threads", &rules.max_processes_and_or_threads);
    // Gavel limits a program's whole process tree, never each process: these cannot be enabled.
    let per_process = ["enable_per_process_and_thread_time_limit", "enable_per_process_and_thread_memory_limit"];
    for key in per_process {
        if boolean(scalar(body, key)) == Some(true) {
            errors.add(key, "this option cannot be enabled");
        }
    }
    let max_file_size = number(scalar(body, "max_file_size"), &rules.max_file_size, &mut errors);
    for (key, option) in [("compiler_options", &compiler_options), ("command_line_arguments", &arguments)] {
        if option.as_ref().is_some_and(|option| option.chars().count() > MAX_OPTION_CHARS) {
            errors.add(key, format!("is too long (maximum is {MAX_OPTION_CHARS} characters)"));
        }
    }
    let shown = language_id.map(|id| id.to_string()).unwrap_or_default();
    let found = u32::try_from(language_id.unwrap_or(-1)).map_or(Lookup::Unknown, |id| ctx.catalog.find(id));
    let language = match found {
        Lookup::Served(served) => Some(served.language),
        Lookup::Archived { .. } => {
            errors.add("language_id", format!("language with id {shown} is archived and cannot be used anymore"));
            None
        }
        Lookup::Unknown => {
            errors.add("language_id", format!("language with id {shown} doesn't exist"));
            None
        }
    };
    // Judge0's refusals of what its operator did not enable; Gavel has none of these yet.
    if !blank(compiler_options.as_deref().map(str::as_bytes)) {
        errors.add("compiler_options", "setting compiler options is not allowed");
    }
    let callback_url = callback_url.filter(|url| !url.trim().is_empty());
    match &callback_url {
        Some(_) if !ctx.config.enable_callbacks => errors.add("callback_url", "setting callback is not allowed"),
        Some(url) => {
            if let Err(why) = callbacks::check_url(url, ctx.config.callbacks_allow_private) {
                errors.add("callback_url", why);
            }
        }
        None => {}
    }
    if !blank(additional_files.as_deref()) {
        errors.add("additional_files", "setting additional files is not allowed");
    }
    if boolean(scalar(body, "enable_network")) == Some(true) {
        errors.add("enable_network", "enabling network is not allowed");
    }
    let source = gavel_source(source, ctx, &mut errors);
    for (key, data) in [("stdin", &stdin), ("expected_output", &expected)] {
        if data.as_ref().is_some_and(|data| data.len() > ctx.server.max_io_bytes) {
            errors.add(key, format!("is too long (maximum is {} bytes)", ctx.server.max_io_bytes));
        }
    }
    if arguments.as_ref().is_some_and(|arguments| arguments.contains('\0')) {
        errors.add("command_line_arguments", "must not contain NUL bytes");
    }
    if arguments.as_deref().map(args::split).is_some_and(|words| words.len() > MAX_ARGS) {
        errors.add("command_line_arguments", format!("is more than {MAX_ARGS} arguments"));
    }
    let (Some(language), Some(language_id), true) = (language, language_id, errors.is_empty()) else {
        return Err(errors);
    };
    // Integer columns keep the whole part, as Rails casts them.
    let whole = |value: f64| value.trunc() as u64;
    let values = Values {
        number_of_runs: whole(number_of_runs),
        cpu_time_limit,
        cpu_extra_time,
        wall_time_limit,
        memory_limit: whole(memory_limit),
        stack_limit: whole(stack_limit),
        max_processes_and_or_threads: whole(max_processes),
        max_file_size: whole(max_file_size),
    };
    let shared = Shared {
        language_id: u32::try_from(language_id).unwrap_or_default(),
        source_code: Output::text(source.unwrap_or_default()),
        command_line_arguments: arguments,
        values,
        enable_per_process_and_thread_time_limit: false,
        enable_per_process_and_thread_memory_limit: false,
        redirect_stderr_to_stdout: boolean(scalar(body, "redirect_stderr_to_stdout")).unwrap_or(false),
    };
    let item = Item {
        stdin: stdin.as_deref().map(Output::encode),
        expected_output: expected.as_deref().map(Output::encode),
        callback_url,
        deleted: false,
    };
    Ok(Submission { language, shared, item })
}

/// The source as Gavel takes it: UTF-8 text within its size cap, without NULs. (Stdin and the
/// expected output may be any bytes.)
fn gavel_source(bytes: Option<Vec<u8>>, ctx: &Context<'_>, errors: &mut FieldErrors) -> Option<String> {
    const KEY: &str = "source_code";
    let bytes = bytes?;
    let cap = ctx.server.max_code_bytes;
    if bytes.len() > cap {
        errors.add(KEY, format!("is too long (maximum is {cap} bytes)"));
    }
    if bytes.contains(&0) {
        errors.add(KEY, "must not contain NUL bytes");
    }
    match String::from_utf8(bytes) {
        Ok(text) => Some(text),
        Err(_) => {
            errors.add(KEY, "is not valid UTF-8: Gavel takes source code as text");
            None
        }
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
