//! A script's secrets: `GET /engine/api/scripts/{name}/secrets` (names and timestamps, never
//! values), `PUT …/secrets/{key}` with `{"value": "…"}`, `DELETE …/secrets/{key}`. Same access
//! rule as every per-script route (admins, or editors owning the script); the script must
//! exist. Changes are audited by name, without the value. See [`crate::secrets`].

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::rfc3339;
use super::scripts::existing_script;
use crate::auth::Caller;
use crate::auth::client::ClientMeta;
use crate::error::ApiError;
use crate::server::AppState;

#[derive(Serialize)]
struct SecretView {
    name: String,
    created_at: String,
    updated_at: String,
}

/// `{"value": "…"}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetSecret {
    value: String,
}

/// `GET /engine/api/scripts/{name}/secrets`
pub async fn list(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    existing_script(&state, &name).await?;
    let secrets: Vec<SecretView> = state
        .secrets
        .list(&name)
        .await?
        .into_iter()
        .map(|s| SecretView {
            name: s.name,
            created_at: rfc3339(s.created_at),
            updated_at: rfc3339(s.updated_at),
        })
        .collect();
    Ok(Json(serde_json::json!({ "script": name, "secrets": secrets })).into_response())
}

/// `PUT /engine/api/scripts/{name}/secrets/{key}`: 201 when new, 204 when replaced.
pub async fn set(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(client): Extension<ClientMeta>,
    Path((name, key)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: SetSecret = super::json_body(&body, r#"{"value": "…"}"#)?;
    existing_script(&state, &name).await?;
    let created = state.secrets.set(&name, &key, &request.value).await?;
    super::audit(
        &state,
        &caller,
        &client,
        "secret_set",
        name,
        serde_json::json!({ "secret": key, "created": created }),
    )
    .await;
    Ok(if created {
        StatusCode::CREATED
    } else {
        StatusCode::NO_CONTENT
    }
    .into_response())
}

/// `DELETE /engine/api/scripts/{name}/secrets/{key}`
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(client): Extension<ClientMeta>,
    Path((name, key)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    existing_script(&state, &name).await?;
    if !state.secrets.remove(&name, &key).await? {
        return Err(ApiError::not_found(
            "SECRET_NOT_FOUND",
            format!("script {name:?} has no secret {key}"),
        ));
    }
    super::audit(
        &state,
        &caller,
        &client,
        "secret_deleted",
        name,
        serde_json::json!({ "secret": key }),
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
