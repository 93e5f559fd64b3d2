//! Judge0's error answers: `{"error": "..."}` with a status, a validation failure's
//! `{"field": ["message", ...]}` (422), Rails' `{"status": 404, "error": "Not Found"}`. Never
//! Gavel's own error shape on a Judge0 route.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gavel_core::ports::{QueueError, Unavailable};
use gavel_core::request::RequestError;
use gavel_core::usecases::{GetError, SubmitError};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::json;
use tracing::{debug, warn};

use crate::RETRY_AFTER_SECS;

/// A submission's validation errors, by attribute in the order they were found (a Rails
/// `errors` hash as JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct FieldErrors(Vec<(&'static str, Vec<String>)>);

impl FieldErrors {
    pub(super) fn add(&mut self, field: &'static str, message: impl Into<String>) {
        let message = message.into();
        match self.0.iter_mut().find(|(name, _)| *name == field) {
            Some((_, messages)) => messages.push(message),
            None => self.0.push((field, vec![message])),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    #[cfg(test)]
    pub(super) fn get(&self, field: &str) -> Option<&[String]> {
        self.0.iter().find(|(name, _)| *name == field).map(|(_, messages)| messages.as_slice())
    }
}

impl Serialize for FieldErrors {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (field, messages) in &self.0 {
            map.serialize_entry(field, messages)?;
        }
        map.end()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum Judge0Error {
    /// `{"error": message}`.
    #[error("{1}")]
    Message(StatusCode, String),
    #[error("invalid submission")]
    Invalid(FieldErrors),
    /// An unknown token, route or language id.
    #[error("not found")]
    NotFound,
    /// A body that is not JSON, as Rails refuses it.
    #[error("bad request")]
    BadRequest,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

impl Judge0Error {
    pub(super) fn bad_request(message: impl Into<String>) -> Judge0Error {
        Judge0Error::Message(StatusCode::BAD_REQUEST, message.into())
    }

    pub(super) fn queue_full() -> Judge0Error {
        Judge0Error::Message(StatusCode::SERVICE_UNAVAILABLE, "queue is full".into())
    }

    fn status(&self) -> StatusCode {
        match self {
            Judge0Error::Message(status, _) => *status,
            Judge0Error::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Judge0Error::NotFound => StatusCode::NOT_FOUND,
            Judge0Error::BadRequest => StatusCode::BAD_REQUEST,
            Judge0Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for Judge0Error {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            // The details (a database path, an SDK message) are for the operator.
            Judge0Error::Unavailable(err) => {
                warn!(service = err.service, error = %err.message, "judge0 request failed")
            }
            _ => debug!(status = status.as_u16(), "judge0 request refused"),
        }
        // Each body serialized as is, its keys in Judge0's order (a `Value` would sort them).
        let mut response = match self {
            Judge0Error::Invalid(errors) => (status, axum::Json(errors)).into_response(),
            Judge0Error::Message(_, message) => (status, axum::Json(json!({ "error": message }))).into_response(),
            Judge0Error::NotFound | Judge0Error::BadRequest => {
                let error = status.canonical_reason().unwrap_or_default();
                (status, axum::Json(RailsError { status: status.as_u16(), error })).into_response()
            }
            Judge0Error::Unavailable(err) => {
                let error = format!("{} is unavailable; retry later", err.service);
                (status, axum::Json(json!({ "error": error }))).into_response()
            }
        };
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}

/// Rails' own answer for what it cannot route or parse.
#[derive(serde::Serialize)]
struct RailsError {
    status: u16,
    error: &'static str,
}

impl From<QueueError> for Judge0Error {
    fn from(err: QueueError) -> Self {
        match err {
            QueueError::Full { .. } => Judge0Error::queue_full(),
            QueueError::Unavailable(err) => Judge0Error::Unavailable(err),
        }
    }
}

impl From<SubmitError> for Judge0Error {
    fn from(err: SubmitError) -> Self {
        match err {
            SubmitError::Invalid(err) => Judge0Error::Invalid(field_errors(&err)),
            SubmitError::Queue(err) => err.into(),
            SubmitError::Unavailable(err) => Judge0Error::Unavailable(err),
        }
    }
}

impl From<GetError> for Judge0Error {
    fn from(err: GetError) -> Self {
        match err {
            GetError::NotFound(_) => Judge0Error::NotFound,
            GetError::Unavailable(err) => Judge0Error::Unavailable(err),
        }
    }
}

/// What Gavel's own validation refused, on the Judge0 attribute it came from. The Judge0 layer
/// checks the same bounds first, so this is a safety net rather than the usual path.
fn field_errors(err: &RequestError) -> FieldErrors {
    let (field, message) = match err {
        RequestError::InvalidField { field, message } => (field.as_str(), message.clone()),
        RequestError::TooLarge { field, limit, .. } => {
            (field.as_str(), format!("is too long (maximum is {limit} bytes)"))
        }
        RequestError::UnknownLanguage { .. } => ("language_id", err.to_string()),
    };
    let attribute = match field {
        "code" => "source_code",
        "tests" => "number_of_runs",
        "limits.time_ms" => "cpu_time_limit",
        "limits.wall_time_ms" => "wall_time_limit",
        "limits.memory_mb" => "memory_limit",
        "limits.processes" => "max_processes_and_or_threads",
        "limits.output_kb" | "limits.job_output_kb" => "max_file_size",
        field if field == "args" || field.starts_with("args[") => "command_line_arguments",
        field if field.ends_with(".input") => "stdin",
        field if field.ends_with(".expected_output") => "expected_output",
        _ => "base",
    };
    let mut errors = FieldErrors::default();
    errors.add(attribute, message);
    errors
}

/// Rails answers an unknown route, or a known one with another method, with this 404.
pub(super) async fn not_found() -> Judge0Error {
    Judge0Error::NotFound
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(err: Judge0Error) -> (u16, serde_json::Value) {
        let response = err.into_response();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body");
        (status, serde_json::from_slice(&bytes).expect("json"))
    }

    #[tokio::test]
    async fn errors_have_judge0s_shapes() {
        assert_eq!(body(Judge0Error::NotFound).await, (404, json!({"status": 404, "error": "Not Found"})));
        assert_eq!(body(Judge0Error::BadRequest).await, (400, json!({"status": 400, "error": "Bad Request"})));
        assert_eq!(body(Judge0Error::queue_full()).await, (503, json!({"error": "queue is full"})));
        let mut errors = FieldErrors::default();
        errors.add("language_id", "can't be blank");
        errors.add("cpu_time_limit", "must be less than or equal to 15.0");
        errors.add("language_id", "language with id  doesn't exist");
        let (status, body) = body(Judge0Error::Invalid(errors)).await;
        assert_eq!(status, 422);
        assert_eq!(
            body,
            json!({"language_id": ["can't be blank", "language with id  doesn't exist"],
                   "cpu_time_limit": ["must be less than or equal to 15.0"]})
        );
    }

    #[test]
    fn field_errors_keep_the_order_they_were_found_in() {
        let mut errors = FieldErrors::default();
        errors.add("wall_time_limit", "a");
        errors.add("cpu_time_limit", "b");
        assert_eq!(
            serde_json::to_string(&errors).ok().as_deref(),
            Some(r#"{"wall_time_limit":["a"],"cpu_time_limit":["b"]}"#)
        );
    }

    #[test]
    fn gavels_refusals_land_on_the_judge0_attribute() {
        let too_large = RequestError::TooLarge { field: "code".into(), limit: 10, actual: 11 };
        assert_eq!(
            field_errors(&too_large).get("source_code"),
            Some(&["is too long (maximum is 10 bytes)".to_owned()][..])
        );
        let input = RequestError::InvalidField { field: "tests[3].input".into(), message: "x".into() };
        assert!(field_errors(&input).get("stdin").is_some());
        let memory = RequestError::InvalidField { field: "limits.memory_mb".into(), message: "x".into() };
        assert!(field_errors(&memory).get("memory_limit").is_some());
    }

    #[tokio::test]
    async fn a_down_service_is_503_without_its_details() {
        let (status, body) = body(Judge0Error::Unavailable(Unavailable::new("job store", "disk at /var/x"))).await;
        assert_eq!(status, 503);
        assert!(!body.to_string().contains("/var/x"), "{body}");
    }
}
