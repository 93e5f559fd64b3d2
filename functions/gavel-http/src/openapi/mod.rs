//! The OpenAPI 3.1 document, by hand. Tests hold it to the router: the same paths and methods,
//! an example that the real parser accepts, and the same error codes.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use self::schemas::schemas;
use crate::Ctx;
use crate::result::MAX_WAIT_SECS;

mod schemas;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::CODES;

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
