//! The OpenAPI 3.1 description of what this server serves: today every script route, built from
//! the route table and the metadata scripts give `registerWebHandler` (`summary`, `description`,
//! `tags`, `requestSchema`, `responseSchema`, `auth`), served at
//! `GET /engine/api/openapi.json`. The document is plain JSON (`serde_json::Value`) because
//! script schemas are arbitrary JSON Schema; the management API's own paths (generated with
//! `utoipa` from its handlers) are to be merged into the same document. [`docs`] serves it in
//! Swagger UI at `/engine/docs`.

pub mod docs;
mod script_routes;

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, State};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::routing::RouteTable;
use crate::server::AppState;

pub use script_routes::openapi_path;

/// `GET /engine/api/openapi.json`: admins see every script's routes, editors those of the
/// scripts they own (as with `GET /engine/api/routes`).
pub async fn document(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    let visible =
        crate::api::scripts::visible_scripts(state.scripts.store().as_ref(), &caller).await?;
    Ok(Json(build(&state.scripts.table(), visible.as_deref())))
}

/// The document for the routes of `table` (of the `visible` scripts only, when given).
pub fn build(table: &RouteTable, visible: Option<&[String]>) -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Kiln",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Routes served by the scripts deployed on this Kiln server.",
        },
        "paths": script_routes::paths(table, visible),
        "components": {
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A Kiln API key (`Authorization: Bearer kiln_…`)",
                },
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": crate::auth::SESSION_COOKIE,
                    "description": "A signed-in session (state-changing requests also need the `X-CSRF-Token` header)",
                },
            },
        },
    })
}
