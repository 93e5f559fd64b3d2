//! `POST /execute` bodies as Piston reads them (api/src/api/v2.js `get_job`, job.js): the same
//! checks, in the same order, with the same messages, then the translation to Gavel's request.
//! The body is JSON whatever its Content-Type (piston-client sends `text/plain`), and values are
//! judged as JavaScript would: `0`, `""`, `false` and `null` count as absent.

use gavel_core::ServerLimits;
use gavel_core::limits::{Bound, LimitsInput};
use gavel_core::program::SourceFile;
use gavel_core::request::{ExecuteRequest, RequestError};
use gavel_core::runner::{Output, Streams};
use serde_json::{Map, Value};

use super::encoding;
use super::error::PistonError;
use super::runtimes::{self, Runtime};

const MIB: u64 = 1024 * 1024;

/// Piston's own defaults and the least a cap may be: every client sends these values, so a
/// smaller cap of Gavel's is applied by clamping, not by refusing them.
const RUN_TIMEOUT_MS: u64 = 3_000;
const RUN_CPU_TIME_MS: u64 = 3_000;
const COMPILE_TIMEOUT_MS: u64 = 10_000;
const COMPILE_CPU_TIME_MS: u64 = 10_000;

/// A request Piston would run, as Gavel will run it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Job<'a> {
    pub runtime: &'a Runtime,
    pub request: ExecuteRequest,
    pub places: Places,
}

/// Where Piston's `files` went in Gavel's request, for messages about them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Places {
    /// The program (the first utf8 file): Gavel's `code`.
    pub entry: usize,
    /// The Piston index of each of Gavel's `files`, in order.
    pub others: Vec<usize>,
}

/// The body as a JSON object. Empty is `{}` and an array has no fields, as Express reads them;
/// anything else that is not an object or not JSON at all is refused in Express's shape.
pub(crate) fn parse_body(body: &[u8]) -> Result<Map<String, Value>, PistonError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(body).map_err(|err| PistonError::MalformedJson(err.to_string()))? {
        Value::Object(map) => Ok(map),
        Value::Array(_) => Ok(Map::new()),
        _ => Err(PistonError::MalformedJson("the body must be a JSON object or array (strict mode)".into())),
    }
}

/// Piston's validation of `body`, then Gavel's request for it.
pub(crate) fn job<'a>(
    body: &Map<String, Value>,
    runtimes: &'a [Runtime],
    server: &ServerLimits,
    version_fallback: bool,
) -> Result<Job<'a>, PistonError> {
    let bad = |message: String| PistonError::BadRequest(message);
    let language =
        non_empty_string(body.get("language")).ok_or_else(|| bad("language is required as a string".into()))?;
    let version = non_empty_string(body.get("version")).ok_or_else(|| bad("version is required as a string".into()))?;
    let files = match body.get("files") {
        Some(Value::Array(files)) => files,
        _ => return Err(bad("files is required as an array".into())),
    };
    let mut contents = Vec::with_capacity(files.len());
    for (i, file) in files.iter().enumerate() {
        match file.get("content") {
            Some(Value::String(content)) => contents.push(content.as_str()),
            _ => return Err(bad(format!("files[{i}].content is required as a string"))),
        }
    }
    let runtime = runtimes::find(runtimes, language, version, version_fallback)
        .ok_or_else(|| bad(format!("{language}-{version} runtime is unknown")))?;
    // The check reads the encoding as sent; running reads anything unknown as utf8 (job.js).
    let sent_utf8 = |file: &Value| !truthy(file.get("encoding")) || file.get("encoding") == Some(&"utf8".into());
    if !files.iter().any(sent_utf8) {
        return Err(bad("files must include at least one utf8 encoded file".into()));
    }
    let limits = limits(body, server)?;

    let stdin = match body.get("stdin") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(stdin)) => stdin.clone(),
        Some(_) => return Err(bad("stdin must be a string".into())),
    };
    let args = match body.get("args") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(args)) => args
            .iter()
            .map(|arg| arg.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("args must be an array of strings".into()))?,
        Some(_) => return Err(bad("args must be an array of strings".into())),
    };
    // After Piston's own checks: job.js fails on such a name with a 500.
    for (i, file) in files.iter().enumerate() {
        if !matches!(file.get("name"), None | Some(Value::Null | Value::String(_))) {
            return Err(bad(format!("files[{i}].name must be a string")));
        }
    }
    let entry = files.iter().position(runs_as_utf8).unwrap_or_default();
    // The others go beside the program under their names (job.js's `file{i}.code` without one),
    // their contents decoded as job.js decodes them.
    let others: Vec<usize> = (0..files.len()).filter(|&i| i != entry).collect();
    let sources = others
        .iter()
        .map(|&i| {
            let file = &files[i];
            let name = file.get("name").and_then(Value::as_str).filter(|name| !name.is_empty());
            let bytes = encoding::decode(contents[i], file.get("encoding").and_then(Value::as_str));
            let stored = Output::encode(&bytes);
            SourceFile {
                name: name.map_or_else(|| format!("file{i}.code"), str::to_owned),
                content: stored.text,
                encoding: stored.encoding,
            }
        })
        .collect();

    let request = ExecuteRequest {
        language: runtime.gavel.id.to_owned(),
        code: contents[entry].to_owned(),
        stdin: Some(with_trailing_newline(stdin)),
        limits: Some(limits),
        args: Some(args),
        files: Some(sources),
        streams: Streams { keep_order: true, ..Streams::default() },
        ..ExecuteRequest::default()
    };
    Ok(Job { runtime, request, places: Places { entry, others } })
}

/// Piston's stdin always ends in a newline (job.js adds one when it is missing, to "" too).
fn with_trailing_newline(mut stdin: String) -> String {
    if !stdin.ends_with('\n') {
        stdin.push('\n');
    }
    stdin
}

/// Whether job.js runs a file as code: an encoding it does not know counts as utf8.
fn runs_as_utf8(file: &Value) -> bool {
    !matches!(file.get("encoding").and_then(Value::as_str), Some("base64" | "hex"))
}

fn non_empty_string(value: Option<&Value>) -> Option<&str> {
    value.and_then(Value::as_str).filter(|text| !text.is_empty())
}

/// JavaScript's truthiness of a JSON value (`undefined` being absent).
fn truthy(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|n| n != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(_) | Value::Object(_)) => true,
    }
}

/// One of the six limits a request may set, with Gavel's cap for it.
struct Constraint {
    name: &'static str,
    configured: u64,
    /// `-1` asks for the default (all the clients send it): Gavel's default memory cap.
    minus_one_is_default: bool,
}

/// The limits in Piston's order of checking (memory, timeout, CPU time; compile before run).
fn constraints(server: &ServerLimits) -> [Constraint; 6] {
    let constraint = |name, configured, minus_one_is_default| Constraint { name, configured, minus_one_is_default };
    [
        constraint("compile_memory_limit", server.compile.memory_mb * MIB, true),
        constraint("run_memory_limit", server.memory_mb.max * MIB, true),
        constraint("compile_timeout", server.compile.wall_time_ms.max(COMPILE_TIMEOUT_MS), false),
        constraint("run_timeout", server.wall_time_ms.max.max(RUN_TIMEOUT_MS), false),
        constraint("compile_cpu_time", server.compile.time_ms.max(COMPILE_CPU_TIME_MS), false),
        constraint("run_cpu_time", server.time_ms.max.max(RUN_CPU_TIME_MS), false),
    ]
}

/// Checks every limit as Piston does and gives the run's Gavel limits. The compile limits are
/// checked but not applied: the compile step keeps the server's own.
fn limits(body: &Map<String, Value>, server: &ServerLimits) -> Result<LimitsInput, PistonError> {
    let mut values = [None; 6];
    for (value, constraint) in values.iter_mut().zip(constraints(server)) {
        *value = checked(body, &constraint)?;
    }
    let [_, run_memory, _, run_timeout, _, run_cpu_time] = values;
    let ms = |value: Option<f64>, default: u64, bound: Bound| clamp(value.map_or(default, ceil), bound);
    Ok(LimitsInput {
        time_ms: Some(ms(run_cpu_time, RUN_CPU_TIME_MS, server.time_ms)),
        wall_time_ms: Some(ms(run_timeout, RUN_TIMEOUT_MS, server.wall_time_ms)),
        memory_mb: run_memory.map(|bytes| clamp(ceil(bytes / MIB as f64), server.memory_mb)),
        ..LimitsInput::default()
    })
}

/// One limit's value: `None` when absent (or `-1` where that is the default), else a number
/// within `0..=configured`.
fn checked(body: &Map<String, Value>, constraint: &Constraint) -> Result<Option<f64>, PistonError> {
    let name = constraint.name;
    let value = body.get(name);
    if !truthy(value) {
        return Ok(None);
    }
    let Some(value) = value.and_then(Value::as_f64) else {
        return Err(PistonError::BadRequest(format!("If specified, {name} must be a number")));
    };
    if value > constraint.configured as f64 {
        let limit = constraint.configured;
        return Err(PistonError::BadRequest(format!("{name} cannot exceed the configured limit of {limit}")));
    }
    if constraint.minus_one_is_default && value == -1.0 {
        return Ok(None);
    }
    if value < 0.0 {
        return Err(PistonError::BadRequest(format!("{name} must be non-negative")));
    }
    Ok(Some(value))
}

fn ceil(value: f64) -> u64 {
    // Saturating: the value was checked against a u64 cap already.
    value.ceil() as u64
}

/// Into Gavel's range: Piston has no minimum, and a cap under Piston's default clamps.
fn clamp(value: u64, bound: Bound) -> u64 {
    value.clamp(bound.min, bound.max)
}

/// A refusal of Gavel's own validation, said about the Piston field it concerns.
pub(crate) fn refused(err: RequestError, places: &Places) -> PistonError {
    // Gavel's `files[k]` is Piston's `files[others[k]]`, in the field and in the message.
    let pistons = |text: &str| {
        places
            .others
            .iter()
            .enumerate()
            .rev()
            .fold(text.to_owned(), |text, (k, i)| text.replace(&format!("files[{k}]"), &format!("files[{i}]")))
    };
    let field = |gavel: &str| match gavel {
        "code" => format!("files[{}].content", places.entry),
        "tests[0].input" => "stdin".to_owned(),
        other => pistons(other),
    };
    match err {
        RequestError::TooLarge { field: name, limit, actual } => {
            PistonError::TooLarge(format!("{} is {actual} bytes; the limit is {limit}", field(&name)))
        }
        RequestError::InvalidField { field: name, message } => {
            PistonError::BadRequest(format!("{}: {}", field(&name), pistons(&message)))
        }
        // The language came from a runtime of Gavel's catalogue.
        RequestError::UnknownLanguage { given, .. } => PistonError::BadRequest(format!("{given} runtime is unknown")),
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
