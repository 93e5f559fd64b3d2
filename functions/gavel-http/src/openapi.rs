//! The OpenAPI 3.1 document, by hand. Tests hold it to the router: the same paths and methods,
//! an example that the real parser accepts, and the same error codes.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::Ctx;
use crate::error::CODES;
use crate::result::MAX_WAIT_SECS;

pub(crate) async fn openapi(State(ctx): State<Ctx>) -> Json<Value> {
    Json(document(&ctx.state.version))
}

/// The request body shown in the document (and the design's own example).
pub(crate) fn execute_example() -> Value {
    json!({
        "language": "python",
        "code": "a, b = map(int, input().split())\nprint(a + b)",
        "tests": [
            {"name": "sample", "input": "1 2\n", "expected_output": "3\n"},
            {"input": "5 7\n", "expected_output": "12\n", "hidden": true}
        ],
        "limits": {"time_ms": 2000, "wall_time_ms": 5000, "memory_mb": 256, "output_kb": 1024, "processes": 64},
        "checker": {"mode": "lines"},
        "stop_on_first_failure": false
    })
}

fn schema(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

/// A response whose body is the error shape.
fn error(description: &str) -> Value {
    json!({ "description": description, "content": json_content(schema("Error")) })
}

fn retry_after() -> Value {
    json!({ "Retry-After": { "description": "Seconds to wait before retrying", "schema": { "type": "integer" } } })
}

fn unavailable() -> Value {
    json!({
        "description": "A backing service (job store, queue, blob store) is down",
        "headers": retry_after(),
        "content": json_content(schema("Error")),
    })
}

fn nullable(kind: &str) -> Value {
    json!({ "type": [kind, "null"] })
}

fn timestamp(nullable: bool) -> Value {
    if nullable {
        json!({ "type": ["string", "null"], "format": "date-time" })
    } else {
        json!({ "type": "string", "format": "date-time" })
    }
}

fn string_list() -> Value {
    json!({ "type": "array", "items": { "type": "string" } })
}

fn described(mut schema: Value, description: &str) -> Value {
    schema["description"] = description.into();
    schema
}

/// A checker mode without parameters.
fn checker_mode(mode: &str) -> Value {
    json!({
        "type": "object",
        "required": ["mode"],
        "additionalProperties": false,
        "properties": { "mode": { "const": mode } }
    })
}

pub(crate) fn document(version: &str) -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Gavel",
            "version": version,
            "description": "Runs untrusted programs and judges them against test cases. Submit with \
                POST /execute, then poll GET /result/{job_id}. Results are kept for 24 hours. Every \
                error has the shape {\"error\": {\"code\", \"message\", ...details}}; a request with \
                an unknown path answers 404 `not_found`, a known path with another method 405 \
                `method_not_allowed`."
        },
        "paths": {
            "/execute": {
                "post": {
                    "operationId": "execute",
                    "summary": "Submit a program and its tests",
                    "requestBody": {
                        "required": true,
                        "content": {
                            "application/json": { "schema": schema("ExecuteRequest"), "example": execute_example() }
                        }
                    },
                    "responses": {
                        "202": {
                            "description": "Accepted; poll result_url",
                            "headers": {
                                "Location": { "description": "The result URL", "schema": { "type": "string" } }
                            },
                            "content": json_content(schema("Accepted"))
                        },
                        "400": error(
                            "The body is not valid JSON (`malformed_json`) or could not be read (`bad_request`)"
                        ),
                        "413": error(
                            "The body is over the server's cap (`payload_too_large`), or a field is (`too_large`, \
                            with `field` and `limit`)"
                        ),
                        "415": error("The body is not sent as application/json (`unsupported_media_type`)"),
                        "422": error(
                            "Wrong shape (`invalid_request`), invalid value (`invalid_field`, with `field`), unknown \
                            language (`unknown_language`, with `valid`), or a language this deployment cannot run \
                            (`language_unavailable`)"
                        ),
                        "429": {
                            "description": "The queue is full (`queue_full`)",
                            "headers": retry_after(),
                            "content": json_content(schema("Error"))
                        },
                        "503": unavailable()
                    }
                }
            },
            "/result/{job_id}": {
                "get": {
                    "operationId": "getResult",
                    "summary": "A job's status and, once completed, its result",
                    "parameters": [
                        {
                            "name": "job_id", "in": "path", "required": true,
                            "schema": { "type": "string", "format": "uuid" }
                        },
                        {
                            "name": "wait", "in": "query", "required": false,
                            "description": "Long poll: answer as soon as the job is completed or failed, or \
                                after this many seconds",
                            "schema": { "type": "integer", "minimum": 0, "maximum": MAX_WAIT_SECS, "default": 0 }
                        }
                    ],
                    "responses": {
                        "200": { "description": "The job", "content": json_content(schema("Job")) },
                        "404": error("No such job, or it has expired (`job_not_found`)"),
                        "422": error("`wait` is out of range (`invalid_field`, field `wait`)"),
                        "503": unavailable()
                    }
                }
            },
            "/languages": {
                "get": {
                    "operationId": "listLanguages",
                    "summary": "Every language Gavel knows and whether this deployment can run it",
                    "responses": {
                        "200": {
                            "description": "The languages",
                            "content": json_content(json!({ "type": "array", "items": schema("Language") }))
                        }
                    }
                }
            },
            "/health": {
                "get": {
                    "operationId": "health",
                    "summary": "Liveness, the isolation policy and the level in force, and the queue depth",
                    "responses": {
                        "200": { "description": "Healthy", "content": json_content(schema("Health")) },
                        "503": unavailable()
                    }
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.1 document",
                            "content": json_content(json!({ "type": "object" }))
                        }
                    }
                }
            }
        },
        "components": { "schemas": schemas() }
    })
}

fn schemas() -> Value {
    json!({
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": { "type": "string", "enum": CODES },
                        "message": { "type": "string", "description": "A human sentence" },
                        "field": {
                            "type": "string",
                            "description": "The offending field, e.g. limits.time_ms or tests[2].input"
                        },
                        "limit": { "type": "integer", "description": "The size limit, in bytes" },
                        "actual": { "type": "integer" },
                        "valid": described(string_list(), "The valid language ids"),
                        "language": { "type": "string" },
                        "available": described(string_list(), "The languages this deployment can run"),
                        "capacity": { "type": "integer" },
                        "service": { "type": "string" },
                        "retry_after": { "type": "integer" }
                    },
                    "additionalProperties": true
                }
            }
        },
        "ExecuteRequest": {
            "type": "object",
            "required": ["language", "code"],
            "properties": {
                "language": { "type": "string", "description": "An id or alias from GET /languages" },
                "code": { "type": "string" },
                "stdin": { "type": "string", "description": "Input of a plain run, without tests" },
                "tests": { "type": "array", "items": schema("TestCase") },
                "inputs": described(string_list(), "The original service's form of tests: inputs..."),
                "outputs": described(string_list(), "...and their expected outputs, in the same order"),
                "limits": schema("Limits"),
                "checker": schema("Checker"),
                "stop_on_first_failure": { "type": "boolean", "default": false },
                "args": {
                    "type": "array",
                    "maxItems": gavel_core::request::MAX_ARGS,
                    "items": { "type": "string", "maxLength": gavel_core::request::MAX_ARG_BYTES },
                    "description": "Arguments given to the program in every test (its argv after the run command)."
                }
            }
        },
        "TestCase": {
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "name": { "type": "string" },
                "input": { "type": "string", "default": "" },
                "expected_output": { "type": "string", "description": "Absent: judged by exit status alone" },
                "hidden": {
                    "type": "boolean",
                    "default": false,
                    "description": "Input, expected output and program output are never shown"
                },
                "encoding": {
                    "type": "string",
                    "enum": ["utf8", "base64"],
                    "default": "utf8",
                    "description": "How input and expected_output are written: text, or base64 (RFC 4648, padded) for any bytes; size limits count the decoded bytes"
                }
            }
        },
        "Limits": {
            "type": "object",
            "additionalProperties": false,
            "description": "Each optional, defaulted and capped by the server's maxima",
            "properties": {
                "time_ms": { "type": "integer", "minimum": 0, "description": "CPU time" },
                "wall_time_ms": { "type": "integer", "minimum": 0 },
                "memory_mb": { "type": "integer", "minimum": 0 },
                "output_kb": { "type": "integer", "minimum": 0, "description": "Cap on stdout and on stderr, each" },
                "processes": { "type": "integer", "minimum": 0 },
                "job_output_kb": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "The whole job's output budget: stdout and stderr of every test together; \
                                    a test that writes past what is left of it is output_limit_exceeded"
                }
            }
        },
        "Checker": {
            "oneOf": [
                checker_mode("exact"),
                checker_mode("lines"),
                checker_mode("tokens"),
                {
                    "type": "object", "required": ["mode"], "additionalProperties": false,
                    "properties": {
                        "mode": { "const": "float" },
                        "abs": { "type": "number", "minimum": 0, "default": 1e-6 },
                        "rel": { "type": "number", "minimum": 0, "default": 1e-6 }
                    }
                }
            ],
            "discriminator": { "propertyName": "mode" }
        },
        "Accepted": {
            "type": "object",
            "required": ["job_id", "status", "result_url"],
            "properties": {
                "job_id": { "type": "string", "format": "uuid" },
                "status": { "const": "pending" },
                "result_url": { "type": "string" }
            }
        },
        "Verdict": {
            "type": "string",
            "enum": [
                "accepted", "wrong_answer", "time_limit_exceeded", "memory_limit_exceeded", "output_limit_exceeded",
                "runtime_error", "compilation_error", "internal_error", "skipped"
            ]
        },
        "Job": {
            "type": "object",
            "required": ["job_id", "status", "language", "created_at", "started_at", "finished_at", "expires_at"],
            "properties": {
                "job_id": { "type": "string", "format": "uuid" },
                "status": { "type": "string", "enum": ["pending", "running", "completed", "failed"] },
                "language": { "type": "string" },
                "created_at": timestamp(false),
                "started_at": timestamp(true),
                "finished_at": timestamp(true),
                "expires_at": timestamp(false),
                "verdict": schema("Verdict"),
                "compile": { "oneOf": [schema("CompileResult"), { "type": "null" }] },
                "tests": { "type": "array", "items": schema("TestResult") },
                "summary": {
                    "type": "object",
                    "required": ["passed", "total"],
                    "properties": { "passed": { "type": "integer" }, "total": { "type": "integer" } }
                },
                "isolation": schema("Isolation"),
                "error": described(json!({ "type": "string" }), "Why the platform could not finish the job (failed)")
            }
        },
        "CompileResult": {
            "type": "object",
            "properties": {
                "output": { "type": "string" },
                "output_encoding": schema("Encoding"),
                "exit_code": nullable("integer"),
                "time_ms": { "type": "integer", "description": "CPU time" },
                "wall_time_ms": { "type": "integer" },
                "memory_kb": { "type": "integer" },
                "signal": nullable("integer"),
                "limit": {
                    "type": ["string", "null"],
                    "enum": ["cpu_time", "wall_time", "memory", "output", null],
                    "description": "The server's compile limit that stopped the compiler, if one did"
                }
            }
        },
        "TestResult": {
            "type": "object",
            "properties": {
                "name": nullable("string"),
                "verdict": schema("Verdict"),
                "time_ms": { "type": "integer", "description": "CPU time" },
                "wall_time_ms": { "type": "integer" },
                "memory_kb": { "type": "integer" },
                "exit_code": nullable("integer"),
                "signal": nullable("integer"),
                "stdout": { "type": "string" },
                "stdout_encoding": schema("Encoding"),
                "stderr": { "type": "string" },
                "stderr_encoding": schema("Encoding"),
                "truncated": { "type": "boolean" },
                "limit": { "type": ["string", "null"], "enum": ["cpu_time", "wall_time", "memory", "output", null] },
                "hidden": { "type": "boolean" },
                "input": { "type": "string", "description": "Visible tests only" },
                "expected_output": { "type": "string", "description": "Visible tests only" },
                "encoding": {
                    "type": "string",
                    "enum": ["base64"],
                    "description": "Present when input and expected_output are base64, as the request gave them"
                }
            }
        },
        "Encoding": {
            "type": "string",
            "enum": ["utf8", "base64"],
            "description": "How the output before it holds the program's bytes: as UTF-8 text, or base64 \
                            (RFC 4648) where the bytes are not UTF-8 or JSON would store them larger"
        },
        "Isolation": {
            "type": "object",
            "properties": {
                "level": {
                    "type": "string",
                    "enum": ["insecure", "container", "full"],
                    "description": "full: namespaces, a cgroup, seccomp and a uid of the program's own; container: \
                                    the container or task around the runner is the boundary, and inside it the \
                                    program still gets a uid, files and a tmp dir of its own per test; insecure: \
                                    the program may reach the runner"
                },
                "namespaces": string_list(),
                "cgroup": nullable("string"),
                "seccomp": { "type": "boolean" },
                "uid_drop": { "type": "boolean" },
                "pivot_root": { "type": "boolean" },
                "landlock": { "type": "boolean", "description": "Landlock keeps the program's writes in its own dirs" },
                "notes": string_list()
            }
        },
        "IsolationPolicy": {
            "type": "string",
            "enum": ["full", "container", "insecure"],
            "description": "The least isolation this deployment runs a program under (--isolation); it refuses to \
                            start where that cannot be had"
        },
        "Language": {
            "type": "object",
            "required": ["id", "aliases", "name", "version", "available", "compiled", "extensions"],
            "properties": {
                "id": { "type": "string" },
                "aliases": string_list(),
                "name": { "type": "string" },
                "version": nullable("string"),
                "available": { "type": "boolean" },
                "compiled": { "type": "boolean" },
                "extensions": string_list()
            }
        },
        "Health": {
            "type": "object",
            "required": ["status", "version", "isolation", "policy", "queue_depth"],
            "properties": {
                "status": { "const": "ok" },
                "version": { "type": "string" },
                "isolation": schema("Isolation"),
                "policy": schema("IsolationPolicy"),
                "queue_depth": { "type": "integer" }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `$ref` in a value.
    fn refs(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    found.push(target.clone());
                }
                map.values().for_each(|v| refs(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }

    #[test]
    fn is_openapi_3_1_with_the_given_version() {
        let doc = document("1.2.3");
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["info"]["version"], "1.2.3");
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document("0");
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(!found.is_empty());
        for target in found {
            let name = target.strip_prefix("#/components/schemas/").expect("a local schema ref");
            assert!(doc["components"]["schemas"].get(name).is_some(), "{target} does not resolve");
        }
    }

    #[test]
    fn every_operation_documents_its_success_and_errors() {
        let doc = document("0");
        let paths = doc["paths"].as_object().expect("paths");
        for (path, item) in paths {
            for (method, operation) in item.as_object().expect("path item") {
                let responses = operation["responses"].as_object().expect("responses");
                assert!(responses.keys().any(|s| s.starts_with('2')), "{method} {path} has no success");
                for (status, response) in responses.iter().filter(|(s, _)| !s.starts_with('2')) {
                    let body = &response["content"]["application/json"]["schema"];
                    assert_eq!(body, &schema("Error"), "{method} {path} {status} is not the error shape");
                }
            }
        }
    }

    #[test]
    fn the_error_shape_lists_every_code() {
        let codes =
            &document("0")["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"];
        assert_eq!(codes, &json!(CODES));
    }

    #[test]
    fn the_example_is_the_request_body_example() {
        let doc = document("0");
        assert_eq!(
            doc["paths"]["/execute"]["post"]["requestBody"]["content"]["application/json"]["example"],
            execute_example()
        );
    }
}
