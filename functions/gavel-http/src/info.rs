//! `GET /languages` and `GET /health`.

use axum::Json;
use axum::extract::State;
use chrono::Utc;
use gavel_core::JobId;
use gavel_core::isolation::{Isolation, IsolationPolicy};
use gavel_core::language::LanguageStatus;
use serde::Serialize;

use crate::Ctx;
use crate::error::ApiError;

#[derive(Debug, Serialize)]
pub struct LanguageView {
    id: &'static str,
    aliases: &'static [&'static str],
    name: &'static str,
    version: Option<String>,
    available: bool,
    compiled: bool,
    extensions: &'static [&'static str],
}

impl From<&LanguageStatus> for LanguageView {
    fn from(status: &LanguageStatus) -> Self {
        let language = status.language;
        LanguageView {
            id: language.id,
            aliases: language.aliases,
            name: language.display_name,
            version: status.version.clone(),
            available: status.available,
            compiled: language.compile.is_some(),
            extensions: language.extensions,
        }
    }
}

pub(crate) async fn languages(State(ctx): State<Ctx>) -> Json<Vec<LanguageView>> {
    Json(languages_view(&ctx.state.languages))
}

/// The `GET /languages` body, also printed by `gavel languages` without a server.
pub fn languages_view(statuses: &[LanguageStatus]) -> Vec<LanguageView> {
    statuses.iter().map(LanguageView::from).collect()
}

#[derive(Debug, Serialize)]
pub(crate) struct Health {
    status: &'static str,
    version: String,
    isolation: Isolation,
    policy: IsolationPolicy,
    queue_depth: u64,
}

/// Healthy means both the queue and the job store answer.
pub(crate) async fn health(State(ctx): State<Ctx>) -> Result<Json<Health>, ApiError> {
    let state = &ctx.state;
    let queue_depth = state.queue.depth().await?;
    // A read of an id that cannot exist: cheap, and it touches the store for real.
    state.store.get(&JobId::new(), Utc::now()).await?;
    Ok(Json(Health {
        status: "ok",
        version: state.version.clone(),
        isolation: state.isolation.clone(),
        policy: state.policy,
        queue_depth,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gavel_core::language;

    #[test]
    fn languages_show_what_clients_need() {
        let cpp = language::find("cpp").expect("cpp is in the catalogue");
        let status = LanguageStatus { language: cpp, available: true, version: Some("g++ 12.2.0".into()) };
        let view = serde_json::to_value(LanguageView::from(&status)).expect("serializes");
        assert_eq!(
            view,
            serde_json::json!({
                "id": "cpp", "aliases": cpp.aliases, "name": cpp.display_name, "version": "g++ 12.2.0",
                "available": true, "compiled": true, "extensions": cpp.extensions,
            })
        );
        let python =
            LanguageStatus { language: language::find("py").expect("python"), available: false, version: None };
        let view = serde_json::to_value(LanguageView::from(&python)).expect("serializes");
        assert_eq!(
            (&view["compiled"], &view["available"], &view["version"]),
            (&false.into(), &false.into(), &().into())
        );
    }
}
