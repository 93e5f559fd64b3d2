//! Piston's error shape: `{"message": "..."}`, or `{"stack": "..."}` for a body that is not
//! JSON (what Express's body parser answers). Every refusal on the Piston routes is one of
//! these, never Gavel's own `{"error": {...}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gavel_core::ports::{QueueError, Unavailable};
use gavel_core::usecases::GetError;
use serde_json::json;
use tracing::{debug, warn};

use crate::error::RETRY_AFTER_SECS;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PistonError {
    /// A request Piston itself would refuse with 400, with Piston's message.
    #[error("{0}")]
    BadRequest(String),
    /// The body is not JSON; the text is the parser's.
    #[error("SyntaxError: {0}")]
    MalformedJson(String),
    #[error("{0}")]
    NotFound(String),
    #[error("request entity too large: the limit is {limit} bytes")]
    BodyTooLarge { limit: usize },
    /// Gavel's own caps on what it stores (source, stdin).
    #[error("{0}")]
    TooLarge(String),
    #[error("the queue is full ({capacity} jobs waiting); retry later")]
    QueueFull { capacity: u64 },
    #[error("a backing service is unavailable; retry later")]
    Unavailable(#[from] Unavailable),
    /// The job outlived the longest this server holds a request.
    #[error(
        "job {job_id} did not finish within {waited_secs} s; its result will be at /result/{job_id} on Gavel's own API"
    )]
    StillRunning { job_id: String, waited_secs: u64 },
    #[error("an internal error occurred")]
    Internal,
}

impl PistonError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            PistonError::BadRequest(_) | PistonError::MalformedJson(_) => StatusCode::BAD_REQUEST,
            PistonError::NotFound(_) => StatusCode::NOT_FOUND,
            PistonError::BodyTooLarge { .. } | PistonError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            PistonError::QueueFull { .. } => StatusCode::TOO_MANY_REQUESTS,
            PistonError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            PistonError::StillRunning { .. } => StatusCode::GATEWAY_TIMEOUT,
            PistonError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub(crate) fn body(&self) -> serde_json::Value {
        match self {
            PistonError::MalformedJson(_) => json!({ "stack": self.to_string() }),
            _ => json!({ "message": self.to_string() }),
        }
    }

    /// Piston's answer for any path or method it does not serve.
    pub(crate) fn route_not_found() -> PistonError {
        PistonError::NotFound("Not Found".into())
    }
}

impl IntoResponse for PistonError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            warn!(%status, error = ?self, "piston request failed");
        } else {
            // Not the message: it may quote what the client sent.
            debug!(%status, "piston request refused");
        }
        let mut response = (status, axum::Json(self.body())).into_response();
        if matches!(self, PistonError::QueueFull { .. } | PistonError::Unavailable(_)) {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}

impl From<QueueError> for PistonError {
    fn from(err: QueueError) -> Self {
        match err {
            QueueError::Full { capacity } => PistonError::QueueFull { capacity },
            QueueError::Unavailable(err) => PistonError::Unavailable(err),
        }
    }
}

impl From<GetError> for PistonError {
    fn from(err: GetError) -> Self {
        match err {
            // The job was created a moment ago: its record vanishing is the server's fault.
            GetError::NotFound(_) => PistonError::Internal,
            GetError::Unavailable(err) => PistonError::Unavailable(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_have_piston_shapes() {
        let cases = [
            (PistonError::BadRequest("language is required as a string".into()), 400),
            (PistonError::route_not_found(), 404),
            (PistonError::BodyTooLarge { limit: 10 }, 413),
            (PistonError::TooLarge("files[0].content is too large".into()), 413),
            (PistonError::QueueFull { capacity: 3 }, 429),
            (PistonError::Unavailable(Unavailable::new("job store", "disk gone at /var/lib/x")), 503),
            (PistonError::StillRunning { job_id: "abc".into(), waited_secs: 30 }, 504),
            (PistonError::Internal, 500),
        ];
        for (err, status) in cases {
            assert_eq!(err.status().as_u16(), status, "{err:?}");
            let body = err.body();
            let message = body["message"].as_str().unwrap_or_default();
            assert!(!message.is_empty() && body.as_object().map(|o| o.len()) == Some(1), "{body}");
            assert!(!message.contains("/var/lib"), "backend details stay out: {body}");
        }
        assert_eq!(PistonError::route_not_found().body(), json!({"message": "Not Found"}));
        let stack = PistonError::MalformedJson("expected value at line 1 column 2".into()).body();
        assert_eq!(stack, json!({"stack": "SyntaxError: expected value at line 1 column 2"}));
    }

    #[test]
    fn a_job_still_running_names_where_its_result_will_be() {
        let message = PistonError::StillRunning { job_id: "abc".into(), waited_secs: 25 }.to_string();
        assert!(message.contains("abc") && message.contains("/result/abc") && message.contains("25 s"), "{message}");
    }

    #[test]
    fn throttling_carries_retry_after() {
        for err in [PistonError::QueueFull { capacity: 1 }, PistonError::Unavailable(Unavailable::new("queue", "x"))] {
            let response = err.into_response();
            assert!(response.headers().contains_key(header::RETRY_AFTER));
        }
    }
}
