//! The one error type of the API and its mapping to statuses and the JSON error shape:
//! `{"error": {"code": "snake_case", "message": "human sentence", ...details}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gavel_core::ports::{QueueError, Unavailable};
use gavel_core::request::RequestError;
use gavel_core::usecases::{GetError, SubmitError};
use serde_json::{Map, Value, json};
use tracing::{debug, warn};

/// Seconds a client is asked to wait before retrying a full queue or a service that is down.
pub const RETRY_AFTER_SECS: u64 = 5;

/// Messages may quote what the client sent (a 16 MiB string in the wrong place, say); they are
/// cut so an error never grows with the request.
const MAX_MESSAGE_CHARS: usize = 500;

/// Every `code` this API answers with, for the OpenAPI document.
pub const CODES: &[&str] = &[
    "malformed_json",
    "bad_request",
    "not_found",
    "job_not_found",
    "method_not_allowed",
    "payload_too_large",
    "too_large",
    "unsupported_media_type",
    "invalid_request",
    "invalid_field",
    "unknown_language",
    "language_unavailable",
    "queue_full",
    "service_unavailable",
    "internal_error",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON at all.
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    /// The body could not be read (the connection broke, a bad chunk).
    #[error("the request body could not be read: {0}")]
    BadBody(String),
    #[error("no route for {method} {path}")]
    RouteNotFound { method: String, path: String },
    #[error("{0}")]
    JobNotFound(String),
    #[error("{method} is not allowed on {path}")]
    MethodNotAllowed { method: String, path: String },
    #[error("the request body is larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("the request body must be JSON, sent with Content-Type: application/json")]
    UnsupportedMediaType,
    /// JSON of the wrong shape: a missing field, a wrong type, an unknown key where none is allowed.
    #[error("{message}")]
    InvalidRequest { field: Option<String>, message: String },
    /// Well-formed, but refused by validation (or a bad query parameter).
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error("invalid {field}: {message}")]
    InvalidQuery { field: &'static str, message: String },
    #[error("{language} is known but not available on this deployment")]
    LanguageUnavailable { language: &'static str, available: Vec<&'static str> },
    #[error("the queue is full ({capacity} jobs waiting); retry later")]
    QueueFull { capacity: u64 },
    #[error("a backing service is unavailable; retry later")]
    Unavailable(#[from] Unavailable),
    #[error("an internal error occurred")]
    Internal,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson(_) | ApiError::BadBody(_) => StatusCode::BAD_REQUEST,
            ApiError::RouteNotFound { .. } | ApiError::JobNotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BodyTooLarge { .. } | ApiError::Request(RequestError::TooLarge { .. }) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::InvalidRequest { .. }
            | ApiError::Request(_)
            | ApiError::InvalidQuery { .. }
            | ApiError::LanguageUnavailable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::QueueFull { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::BadBody(_) => "bad_request",
            ApiError::RouteNotFound { .. } => "not_found",
            ApiError::JobNotFound(_) => "job_not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::BodyTooLarge { .. } => "payload_too_large",
            ApiError::Request(RequestError::TooLarge { .. }) => "too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::InvalidRequest { .. } => "invalid_request",
            ApiError::Request(RequestError::InvalidField { .. }) | ApiError::InvalidQuery { .. } => "invalid_field",
            ApiError::Request(RequestError::UnknownLanguage { .. }) => "unknown_language",
            ApiError::LanguageUnavailable { .. } => "language_unavailable",
            ApiError::QueueFull { .. } => "queue_full",
            ApiError::Unavailable(_) => "service_unavailable",
            ApiError::Internal => "internal_error",
        }
    }

    /// The fields beside `code` and `message`.
    fn details(&self) -> Map<String, Value> {
        let details = match self {
            ApiError::BodyTooLarge { limit } => json!({ "limit": limit }),
            ApiError::Request(RequestError::TooLarge { field, limit, actual }) => {
                json!({ "field": field, "limit": limit, "actual": actual })
            }
            ApiError::Request(RequestError::InvalidField { field, .. }) => json!({ "field": field }),
            ApiError::InvalidQuery { field, .. } => json!({ "field": field }),
            ApiError::InvalidRequest { field: Some(field), .. } => json!({ "field": field }),
            ApiError::Request(RequestError::UnknownLanguage { valid, .. }) => json!({ "valid": valid }),
            ApiError::LanguageUnavailable { language, available } => {
                json!({ "language": language, "available": available })
            }
            ApiError::QueueFull { capacity } => json!({ "capacity": capacity, "retry_after": RETRY_AFTER_SECS }),
            ApiError::Unavailable(err) => json!({ "service": err.service, "retry_after": RETRY_AFTER_SECS }),
            _ => json!({}),
        };
        match details {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    /// The whole JSON body.
    pub fn body(&self) -> Value {
        let mut error = Map::new();
        error.insert("code".into(), self.code().into());
        error.insert("message".into(), truncate(&self.to_string()).into());
        error.extend(self.details());
        json!({ "error": error })
    }
}

fn truncate(message: &str) -> String {
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &message[..cut]),
        None => message.to_owned(),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            // The details (a database path, an SDK message) are for the operator, not the client.
            warn!(code = self.code(), error = ?self, "request failed");
        } else {
            // Only the code: messages may quote what the client sent.
            debug!(code = self.code(), "request refused");
        }
        let mut response = (status, axum::Json(self.body())).into_response();
        if matches!(self, ApiError::QueueFull { .. } | ApiError::Unavailable(_)) {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}

impl From<QueueError> for ApiError {
    fn from(err: QueueError) -> Self {
        match err {
            QueueError::Full { capacity } => ApiError::QueueFull { capacity },
            QueueError::Unavailable(err) => ApiError::Unavailable(err),
        }
    }
}

impl From<SubmitError> for ApiError {
    fn from(err: SubmitError) -> Self {
        match err {
            SubmitError::Invalid(err) => ApiError::Request(err),
            SubmitError::Queue(err) => err.into(),
            SubmitError::Unavailable(err) => ApiError::Unavailable(err),
        }
    }
}

impl From<GetError> for ApiError {
    fn from(err: GetError) -> Self {
        match err {
            GetError::NotFound(_) => ApiError::JobNotFound(err.to_string()),
            GetError::Unavailable(err) => ApiError::Unavailable(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of each kind, with the status the contract gives it.
    fn every_kind() -> Vec<(ApiError, u16)> {
        vec![
            (ApiError::MalformedJson("expected value at line 1 column 1".into()), 400),
            (ApiError::BadBody("connection reset".into()), 400),
            (ApiError::RouteNotFound { method: "GET".into(), path: "/nope".into() }, 404),
            (ApiError::JobNotFound("no job x, or it has expired".into()), 404),
            (ApiError::MethodNotAllowed { method: "DELETE".into(), path: "/execute".into() }, 405),
            (ApiError::BodyTooLarge { limit: 16 }, 413),
            (ApiError::Request(RequestError::TooLarge { field: "code".into(), limit: 10, actual: 11 }), 413),
            (ApiError::UnsupportedMediaType, 415),
            (ApiError::InvalidRequest { field: Some("code".into()), message: "missing field `code`".into() }, 422),
            (
                ApiError::Request(RequestError::InvalidField { field: "limits.time_ms".into(), message: "no".into() }),
                422,
            ),
            (ApiError::InvalidQuery { field: "wait", message: "at most 30".into() }, 422),
            (
                ApiError::Request(RequestError::UnknownLanguage { given: "cobol".into(), valid: vec!["python", "c"] }),
                422,
            ),
            (ApiError::LanguageUnavailable { language: "csharp", available: vec!["python"] }, 422),
            (ApiError::QueueFull { capacity: 1 }, 429),
            (ApiError::Unavailable(Unavailable::new("job store", "disk I/O error at /var/lib/gavel/jobs.db")), 503),
            (ApiError::Internal, 500),
        ]
    }

    #[test]
    fn statuses_follow_the_contract() {
        for (err, status) in every_kind() {
            assert_eq!(err.status().as_u16(), status, "{err:?}");
        }
    }

    #[test]
    fn every_code_is_listed_and_snake_case() {
        for (err, _) in every_kind() {
            let code = err.code();
            assert!(CODES.contains(&code), "{code} is missing from CODES");
            assert!(code.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{code}");
        }
        let mut codes: Vec<_> = every_kind().iter().map(|(err, _)| err.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), CODES.len(), "CODES lists a code nothing produces");
    }

    #[test]
    fn bodies_have_the_error_shape_and_details() {
        for (err, _) in every_kind() {
            let body = err.body();
            let error = &body["error"];
            assert_eq!(error["code"], err.code());
            assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
            assert_eq!(body.as_object().map(Map::len), Some(1), "only `error` at the top: {body}");
        }
        let too_large = ApiError::Request(RequestError::TooLarge { field: "code".into(), limit: 10, actual: 11 });
        assert_eq!(too_large.body()["error"]["field"], "code");
        assert_eq!(too_large.body()["error"]["limit"], 10);
        let unknown = ApiError::Request(RequestError::UnknownLanguage { given: "x".into(), valid: vec!["python"] });
        assert_eq!(unknown.body()["error"]["valid"], json!(["python"]));
    }

    #[test]
    fn backing_service_details_stay_out_of_the_body() {
        let err = ApiError::Unavailable(Unavailable::new("job store", "disk I/O error at /var/lib/gavel/jobs.db"));
        let body = err.body().to_string();
        assert!(!body.contains("/var/lib"), "{body}");
        assert_eq!(err.body()["error"]["service"], "job store");
    }

    #[test]
    fn long_messages_are_cut() {
        let err = ApiError::InvalidRequest { field: None, message: "é".repeat(100_000) };
        let message = err.body()["error"]["message"].as_str().map(str::to_owned).unwrap_or_default();
        assert!(message.chars().count() <= MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn throttling_answers_carry_retry_after() {
        for err in [ApiError::QueueFull { capacity: 1 }, ApiError::Unavailable(Unavailable::new("queue", "down"))] {
            let response = err.into_response();
            assert_eq!(response.headers().get(header::RETRY_AFTER), Some(&HeaderValue::from(RETRY_AFTER_SECS)));
        }
    }

    #[test]
    fn use_case_errors_map_to_their_kinds() {
        assert_eq!(ApiError::from(SubmitError::Queue(QueueError::Full { capacity: 3 })).status(), 429);
        let down = Unavailable::new("queue", "x");
        assert_eq!(ApiError::from(SubmitError::Queue(QueueError::Unavailable(down.clone()))).status(), 503);
        assert_eq!(ApiError::from(GetError::NotFound("abc".into())).code(), "job_not_found");
        assert_eq!(ApiError::from(GetError::Unavailable(down)).code(), "service_unavailable");
    }
}
