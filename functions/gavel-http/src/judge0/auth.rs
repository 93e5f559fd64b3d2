//! Judge0's authentication and authorization (`sessions_controller.rb`): a token in a header, or
//! in a query parameter of the same name. Refusals are bodiless, as Judge0's `head` answers.

use axum::extract::{FromRequestParts, Query};
use axum::http::StatusCode;
use axum::http::request::Parts;

use crate::Ctx;

/// Every Judge0 route takes this first: 401 unless a configured authentication token is given.
/// No tokens configured: everyone passes.
pub(super) struct Authn;

/// The authorized routes (the index, delete, `POST /authorize`) take this after [`Authn`]: 403
/// unless authorization tokens are configured and one is given.
pub(super) struct Authz;

impl FromRequestParts<Ctx> for Authn {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, ctx: &Ctx) -> Result<Self, Self::Rejection> {
        let config = &ctx.state.judge0;
        if config.authn_tokens.is_empty() || presented(parts, &config.authn_header, &config.authn_tokens) {
            Ok(Authn)
        } else {
            Err(StatusCode::UNAUTHORIZED)
        }
    }
}

impl FromRequestParts<Ctx> for Authz {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, ctx: &Ctx) -> Result<Self, Self::Rejection> {
        let config = &ctx.state.judge0;
        if presented(parts, &config.authz_header, &config.authz_tokens) {
            Ok(Authz)
        } else {
            Err(StatusCode::FORBIDDEN)
        }
    }
}

/// Whether the request carries one of `tokens` in the header `name`, or else in the query
/// parameter `name` (Rails' `request.headers[name] || params[name]`).
fn presented(parts: &Parts, name: &str, tokens: &[String]) -> bool {
    let header = parts.headers.get(name).map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    let given = header.or_else(|| {
        let Query(params) = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri).ok()?;
        params.into_iter().rev().find(|(key, _)| key == name).map(|(_, value)| value)
    });
    given.is_some_and(|given| tokens.iter().any(|token| same(token.as_bytes(), given.as_bytes())))
}

/// Compares without stopping at the first difference, so timing tells nothing of a token.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(uri: &str, header: Option<(&str, &str)>) -> Parts {
        let mut builder = Request::builder().uri(uri);
        if let Some((name, value)) = header {
            builder = builder.header(name, value);
        }
        builder.body(()).expect("request").into_parts().0
    }

    #[test]
    fn a_token_is_taken_from_the_header_or_the_query() {
        let tokens = ["one".to_owned(), "two".to_owned()];
        assert!(presented(&parts("/x", Some(("x-auth-token", "two"))), "X-Auth-Token", &tokens));
        assert!(presented(&parts("/x?X-Auth-Token=one", None), "X-Auth-Token", &tokens));
        assert!(!presented(&parts("/x?x-auth-token=one", None), "X-Auth-Token", &tokens), "query names are exact");
        assert!(!presented(&parts("/x", Some(("X-Auth-Token", "three"))), "X-Auth-Token", &tokens));
        assert!(!presented(&parts("/x", Some(("X-Auth-Token", "on"))), "X-Auth-Token", &tokens));
        assert!(!presented(&parts("/x", None), "X-Auth-Token", &tokens));
        // The header wins over the query, as `headers[name] || params[name]` does.
        assert!(!presented(&parts("/x?X-Auth-Token=one", Some(("X-Auth-Token", "bad"))), "X-Auth-Token", &tokens));
        assert!(!presented(&parts("/x", Some(("X-Auth-Token", ""))), "X-Auth-Token", &[]));
    }
}
