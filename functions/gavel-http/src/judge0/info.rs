//! Judge0's information routes (`info_controller.rb`, `health_controller.rb`,
//! `statuses_controller.rb`, `sessions_controller.rb`), telling the truth about this server.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::auth::{Authn, Authz};
use super::callbacks;
use super::error::Judge0Error;
use super::limits::{Kind, Rule, Rules};
use super::status;
use crate::Ctx;

/// The version Judge0's clients expect: the Python SDK looks its language ids up by it.
pub(super) const VERSION: &str = "1.13.1";

const OPENAPI: &str = include_str!("openapi.json");

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// `GET /`: Judge0 answers 200 with nothing unless it serves its docs there.
pub(super) async fn home() -> StatusCode {
    StatusCode::OK
}

pub(super) async fn about(_: Authn, State(ctx): State<Ctx>) -> Json<Value> {
    Json(json!({
        "version": VERSION,
        "homepage": "https://judge0.com",
        "source_code": "https://github.com/judge0/judge0",
        "maintainer": format!("Gavel {}, serving the Judge0 CE {VERSION} API", ctx.state.version),
    }))
}

pub(super) async fn version(_: Authn) -> Response {
    text(VERSION.into())
}

pub(super) async fn license(_: Authn) -> Response {
    text("Gavel is licensed under the Apache License, Version 2.0 (https://www.apache.org/licenses/LICENSE-2.0).\nIts Judge0-compatible API follows the interface of Judge0 CE 1.13.1; it contains no Judge0 code.\n".into())
}

/// `GET /isolate`: Judge0 shows `isolate --version`; Gavel shows the sandbox it runs instead.
pub(super) async fn isolate(_: Authn, State(ctx): State<Ctx>) -> Response {
    let isolation = serde_json::to_string(&ctx.state.isolation).unwrap_or_default();
    text(format!("Gavel {} sandbox (not isolate): {isolation}\n", ctx.state.version))
}

pub(super) async fn statuses(_: Authn) -> Json<Value> {
    Json(Value::Array(status::ALL.iter().map(|s| json!({"id": s.id, "description": s.description})).collect()))
}

fn number(rule: &Rule, value: f64) -> Value {
    match rule.kind {
        Kind::Decimal => json!(value),
        Kind::Integer => json!(value as i64),
    }
}

/// `GET /config_info`: all 39 of Judge0's keys (the SDK requires every one), with this server's
/// values: what it refuses is off, its maxima are Gavel's where those are smaller.
pub(super) async fn config_info(_: Authn, State(ctx): State<Ctx>) -> Json<Value> {
    let state = &ctx.state;
    let config = &state.judge0;
    let rules = Rules::new(&state.limits);
    let pair = |rule: &Rule| (number(rule, rule.default), number(rule, rule.max));
    let (cpu, max_cpu) = pair(&rules.cpu_time_limit);
    let (extra, max_extra) = pair(&rules.cpu_extra_time);
    let (wall, max_wall) = pair(&rules.wall_time_limit);
    let (memory, max_memory) = pair(&rules.memory_limit);
    let (stack, max_stack) = pair(&rules.stack_limit);
    let (processes, max_processes) = pair(&rules.max_processes_and_or_threads);
    let (file, max_file) = pair(&rules.max_file_size);
    let (runs, max_runs) = pair(&rules.number_of_runs);
    Json(json!({
        "maintenance_mode": config.maintenance_mode,
        "enable_wait_result": config.enable_wait_result,
        "enable_compiler_options": false,
        "allowed_languages_for_compile_options": [],
        "enable_command_line_arguments": true,
        "enable_submission_delete": config.enable_submission_delete,
        "enable_callbacks": config.enable_callbacks,
        "callbacks_max_tries": callbacks::TRIES,
        "callbacks_timeout": callbacks::TIMEOUT.as_secs_f64(),
        "enable_additional_files": false,
        "max_queue_size": config.max_queue_size,
        "cpu_time_limit": cpu,
        "max_cpu_time_limit": max_cpu,
        "cpu_extra_time": extra,
        "max_cpu_extra_time": max_extra,
        "wall_time_limit": wall,
        "max_wall_time_limit": max_wall,
        "memory_limit": memory,
        "max_memory_limit": max_memory,
        "stack_limit": stack,
        "max_stack_limit": max_stack,
        "max_processes_and_or_threads": processes,
        "max_max_processes_and_or_threads": max_processes,
        "enable_per_process_and_thread_time_limit": false,
        "allow_enable_per_process_and_thread_time_limit": false,
        "enable_per_process_and_thread_memory_limit": false,
        "allow_enable_per_process_and_thread_memory_limit": false,
        "max_file_size": file,
        "max_max_file_size": max_file,
        "number_of_runs": runs,
        "max_number_of_runs": max_runs,
        "redirect_stderr_to_stdout": false,
        "max_extract_size": 10240,
        "enable_batched_submissions": config.enable_batched_submissions,
        "max_submission_batch_size": config.max_submission_batch_size,
        // Gavel reads every submission afresh.
        "submission_cache_duration": 0.0,
        "use_docs_as_homepage": false,
        "allow_enable_network": false,
        "enable_network": false,
    }))
}

/// `GET /system_info`: Judge0's `lscpu` and `free -h` keys that this host can tell.
pub(super) async fn system_info(_: Authn) -> Json<Value> {
    let mut info = Map::new();
    info.insert("Architecture".into(), std::env::consts::ARCH.into());
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    info.insert("CPU(s)".into(), cpus.to_string().into());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    if let Some(model) = cpuinfo.lines().find_map(|line| line.strip_prefix("model name")) {
        info.insert("Model name".into(), model.trim_start_matches([' ', '\t', ':']).into());
    }
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    for (key, field) in [("Mem", "MemTotal:"), ("Swap", "SwapTotal:")] {
        let kib = meminfo
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| rest.split_whitespace().next().and_then(|kib| kib.parse::<u64>().ok()));
        if let Some(kib) = kib {
            info.insert(key.into(), human(kib).into());
        }
    }
    Json(Value::Object(info))
}

/// `free -h`'s size: `7.7G`.
fn human(kib: u64) -> String {
    let units = ["K", "M", "G", "T"];
    let mut value = kib as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value < 10.0 && unit > 0 { format!("{value:.1}{}", units[unit]) } else { format!("{value:.0}{}", units[unit]) }
}

/// `GET /workers`: Judge0's queue is its version's; its size is the jobs waiting or in flight
/// here. Gavel's workers are not counted through this API, so those counts are 0.
pub(super) async fn workers(_: Authn, State(ctx): State<Ctx>) -> Result<Json<Value>, Judge0Error> {
    let size = ctx.state.queue.depth().await?;
    Ok(Json(json!([{
        "queue": VERSION, "size": size, "available": 0, "idle": 0, "working": 0, "paused": 0, "failed": 0,
    }])))
}

/// `GET /statistics`: counts over every submission, which Gavel's job stores cannot list yet.
pub(super) async fn statistics(_: Authn) -> Judge0Error {
    Judge0Error::Message(StatusCode::NOT_IMPLEMENTED, "statistics are not supported by this server".into())
}

/// `POST /authenticate`: 200 when authentication passes.
pub(super) async fn authenticate(_: Authn) -> StatusCode {
    StatusCode::OK
}

/// `POST /authorize`: 200 when authorization passes too.
pub(super) async fn authorize(_: Authn, _: Authz) -> StatusCode {
    StatusCode::OK
}

/// `GET /openapi.json`: the routes as this server serves them.
pub(super) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_free_h() {
        assert_eq!(human(8_073_000), "7.7G");
        assert_eq!(human(500), "500K");
        assert_eq!(human(24 * 1024 * 1024), "24G");
    }

    #[test]
    fn the_openapi_document_is_json_of_version_3_1() {
        let doc: Value = serde_json::from_str(OPENAPI).expect("the document is JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["paths"].as_object().is_some_and(|paths| paths.len() > 10), "{doc}");
    }
}
