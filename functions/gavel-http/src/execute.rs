//! `POST /execute`: the body is read and parsed here, not by an extractor, so every way it can be
//! wrong gets its own status and error code.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use gavel_core::language::{self, LanguageStatus};
use gavel_core::request::ExecuteRequest;
use gavel_core::usecases;
use serde::de::IgnoredAny;
use serde_json::error::Category;
use serde_json::json;

use crate::Ctx;
use crate::error::ApiError;

pub(crate) async fn execute(State(ctx): State<Ctx>, request: Request) -> Result<Response, ApiError> {
    // Before the body is read: no point buffering megabytes of something we will refuse.
    require_json(request.headers())?;
    let body = Bytes::from_request(request, &()).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::BodyTooLarge { limit: ctx.body_limit }
        } else {
            ApiError::BadBody(rejection.body_text())
        }
    })?;
    let request = parse(&body)?;
    require_available(&ctx.state.languages, &request.language)?;
    let state = &ctx.state;
    let accepted =
        usecases::submit(&*state.store, &*state.blobs, &*state.queue, &state.limits, request, Utc::now()).await?;
    let result_url = format!("/result/{}", accepted.job_id);
    let body = json!({ "job_id": accepted.job_id, "status": accepted.record.status, "result_url": result_url });
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, result_url)], axum::Json(body)).into_response())
}

/// `application/json`, with or without parameters, or any `application/*+json`.
pub(crate) fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .ok_or(ApiError::UnsupportedMediaType)?;
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let json = essence == "application/json"
        || essence.strip_prefix("application/").is_some_and(|subtype| subtype.ends_with("+json"));
    if json { Ok(()) } else { Err(ApiError::UnsupportedMediaType) }
}

/// Parses an `ExecuteRequest`: bad syntax is a 400, the wrong shape a 422 naming the field.
pub(crate) fn parse(body: &[u8]) -> Result<ExecuteRequest, ApiError> {
    let shape_error = match deserialize(body) {
        Ok(request) => return Ok(request),
        Err(err) => err,
    };
    // Bad syntax anywhere in the body outranks a shape error found before it: 400, not 422.
    serde_json::from_slice::<IgnoredAny>(body).map_err(|err| ApiError::MalformedJson(err.to_string()))?;
    Err(shape_error)
}

fn deserialize(body: &[u8]) -> Result<ExecuteRequest, ApiError> {
    // serde would also take a struct as an array of its fields; the contract says object.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::InvalidRequest { field: None, message: "the request body must be a JSON object".into() });
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let request = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let field = field_of(&err.path().to_string(), &err.inner().to_string());
        let err = err.into_inner();
        match err.classify() {
            Category::Data => ApiError::InvalidRequest { field, message: err.to_string() },
            Category::Syntax | Category::Eof | Category::Io => ApiError::MalformedJson(err.to_string()),
        }
    })?;
    // Trailing garbage after the object is a syntax error too.
    deserializer.end().map_err(|err| ApiError::MalformedJson(err.to_string()))?;
    Ok(request)
}

/// The field an error is about. serde reports a missing field at its parent, naming it only in
/// the message (a wording serde has kept since 1.0), so the name is taken from there.
fn field_of(path: &str, message: &str) -> Option<String> {
    let parent = (path != ".").then_some(path);
    let missing = message.strip_prefix("missing field `").and_then(|rest| rest.split_once('`')).map(|(name, _)| name);
    match (parent, missing) {
        (Some(parent), Some(name)) => Some(format!("{parent}.{name}")),
        (None, Some(name)) => Some(name.to_owned()),
        (parent, None) => parent.map(str::to_owned),
    }
}

/// A language in the catalogue whose toolchain this deployment does not have. Unknown names are
/// left to the use case, which lists the valid ids.
fn require_available(languages: &[LanguageStatus], name: &str) -> Result<(), ApiError> {
    let Some(language) = language::find(name) else { return Ok(()) };
    let available = || languages.iter().filter(|status| status.available).map(|status| status.language.id);
    if available().any(|id| id == language.id) {
        Ok(())
    } else {
        Err(ApiError::LanguageUnavailable { language: language.id, available: available().collect() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use gavel_core::ServerLimits;
    use gavel_core::request::validate;

    fn with_content_type(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(header::CONTENT_TYPE, value);
        }
        headers
    }

    #[test]
    fn json_content_types_are_accepted() {
        for ok in ["application/json", "Application/JSON; charset=utf-8", "application/vnd.gavel+json"] {
            assert_eq!(require_json(&with_content_type(ok)), Ok(()), "{ok}");
        }
    }

    #[test]
    fn other_content_types_are_415() {
        for bad in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "json", "text/json"] {
            assert_eq!(require_json(&with_content_type(bad)), Err(ApiError::UnsupportedMediaType), "{bad}");
        }
        assert_eq!(require_json(&HeaderMap::new()), Err(ApiError::UnsupportedMediaType));
    }

    fn field(err: ApiError) -> Option<String> {
        match err {
            ApiError::InvalidRequest { field, .. } => field,
            other => panic!("expected invalid_request, got {other:?}"),
        }
    }

    #[test]
    fn syntax_errors_are_malformed_json() {
        for body in
            ["", "{", "{\"language\": }", "nope", "{\"language\":\"c\",\"code\":\"x\"} trailing", "{} {}", "[1,"]
        {
            assert!(matches!(parse(body.as_bytes()), Err(ApiError::MalformedJson(_))), "{body:?}");
        }
        // Deep nesting in an ignored field hits serde_json's recursion limit, not the stack.
        let deep = format!(r#"{{"extra": {}"#, "[".repeat(100_000));
        assert!(matches!(parse(deep.as_bytes()), Err(ApiError::MalformedJson(_))), "deep nesting");
    }

    #[test]
    fn shape_errors_name_the_field() {
        let cases = [
            (r#"{"code": "x"}"#, Some("language")),
            (r#"{"language": "c"}"#, Some("code")),
            (r#"{"language": 5, "code": "x"}"#, Some("language")),
            (r#"{"language": "c", "code": "x", "limits": {"time_ms": "fast"}}"#, Some("limits.time_ms")),
            (r#"{"language": "c", "code": "x", "tests": [{"input": "1"}, {"input": 2}]}"#, Some("tests[1].input")),
            (r#"{"language": "c", "code": "x", "checker": {"mode": "fuzzy"}}"#, Some("checker.mode")),
            (r#"["c", "x"]"#, None),
            (r#""python""#, None),
        ];
        for (body, expected) in cases {
            let err = parse(body.as_bytes()).expect_err(body);
            assert_eq!(field(err).as_deref(), expected, "{body}");
        }
    }

    #[test]
    fn unknown_keys_in_strict_objects_are_refused() {
        let err = parse(br#"{"language": "c", "code": "x", "limits": {"time_limit": 5}}"#).expect_err("unknown key");
        assert!(field(err).is_some_and(|f| f.starts_with("limits")));
    }

    #[test]
    fn missing_field_names_are_joined_to_their_parent() {
        assert_eq!(field_of(".", "missing field `code` at line 1 column 2").as_deref(), Some("code"));
        assert_eq!(field_of("tests[0]", "missing field `input`").as_deref(), Some("tests[0].input"));
        assert_eq!(field_of("limits.time_ms", "invalid type").as_deref(), Some("limits.time_ms"));
        assert_eq!(field_of(".", "invalid type: sequence"), None);
    }

    #[test]
    fn the_documented_example_parses_and_validates() {
        let example = crate::openapi::execute_example();
        let request = parse(example.to_string().as_bytes()).expect("the example parses");
        validate(request, &ServerLimits::default()).expect("the example is valid");
    }

    fn statuses(available: &[&str]) -> Vec<LanguageStatus> {
        language::catalogue()
            .iter()
            .map(|language| LanguageStatus { language, available: available.contains(&language.id), version: None })
            .collect()
    }

    #[test]
    fn unavailable_languages_are_refused_by_any_name() {
        let languages = statuses(&["python", "c"]);
        assert_eq!(require_available(&languages, "py"), Ok(()));
        assert_eq!(
            require_available(&languages, "C#"),
            Err(ApiError::LanguageUnavailable { language: "csharp", available: vec!["python", "c"] })
        );
        // Unknown names are the use case's to refuse, with the list of valid ids.
        assert_eq!(require_available(&languages, "cobol"), Ok(()));
        // A language the deployment never probed cannot run on it.
        assert!(require_available(&[], "python").is_err());
    }
}
