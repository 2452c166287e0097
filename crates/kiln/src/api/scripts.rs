//! Scripts, versions, deploy and rollback endpoints.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};

use super::rfc3339;
use crate::auth::client::ClientMeta;
use crate::auth::{Caller, policy};
use crate::error::ApiError;
use crate::scripts::script_not_found;
use crate::server::AppState;

#[derive(Serialize)]
struct ScriptView {
    name: String,
    active_version: i64,
    latest_version: i64,
    created_at: String,
    updated_at: String,
}

impl From<kiln_store::ScriptRecord> for ScriptView {
    fn from(r: kiln_store::ScriptRecord) -> Self {
        ScriptView {
            name: r.name,
            active_version: r.active_version,
            latest_version: r.latest_version,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

#[derive(Serialize)]
struct VersionView {
    version: i64,
    created_at: String,
    entry: String,
    size_bytes: i64,
    file_count: i64,
    active: bool,
    routes: serde_json::Value,
    /// The version's plain variables (never secrets).
    vars: serde_json::Value,
}

fn version_view(r: kiln_store::VersionRecord, active: i64) -> VersionView {
    VersionView {
        version: r.version,
        created_at: rfc3339(r.created_at),
        entry: r.entry,
        size_bytes: r.size_bytes,
        file_count: r.file_count,
        active: r.version == active,
        routes: r
            .meta
            .get("routes")
            .cloned()
            .unwrap_or(serde_json::Value::Array(vec![])),
        vars: r
            .meta
            .get("vars")
            .cloned()
            .unwrap_or_else(|| serde_json::json!({})),
    }
}

/// The script's record, or 404 `SCRIPT_NOT_FOUND`.
pub(super) async fn existing_script(
    state: &AppState,
    name: &str,
) -> Result<kiln_store::ScriptRecord, ApiError> {
    state
        .scripts
        .store()
        .get_script(name)
        .await?
        .ok_or_else(|| script_not_found(name))
}

/// `GET /engine/api/scripts`: every script for admins, the caller's own for others.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    let store = state.scripts.store();
    let owned = visible_scripts(store.as_ref(), &caller).await?;
    let scripts: Vec<ScriptView> = store
        .list_scripts()
        .await?
        .into_iter()
        .filter(|s| owned.as_ref().is_none_or(|owned| owned.contains(&s.name)))
        .map(ScriptView::from)
        .collect();
    Ok(Json(serde_json::json!({ "scripts": scripts })).into_response())
}

/// `GET /engine/api/scripts/{name}`
pub async fn show(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let record = existing_script(&state, &name).await?;
    let routes = state
        .scripts
        .table()
        .script(&name)
        .map(|s| {
            s.routes
                .iter()
                .map(|r| serde_json::json!({"method": r.method, "path": r.path, "options": r.options}))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let mut body = serde_json::to_value(ScriptView::from(record)).map_err(ApiError::internal)?;
    body["routes"] = serde_json::Value::Array(routes);
    Ok(Json(body).into_response())
}

/// `None` for admins (they see everything), else the names of the scripts the caller owns.
pub(crate) async fn visible_scripts(
    store: &dyn kiln_store::Store,
    caller: &Caller,
) -> Result<Option<Vec<String>>, ApiError> {
    if caller.is_admin() {
        return Ok(None);
    }
    match caller.user_id() {
        Some(id) => Ok(Some(store.owned_scripts(id).await?)),
        None => Ok(Some(Vec::new())),
    }
}

/// `DELETE /engine/api/scripts/{name}`
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(client): Extension<ClientMeta>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    state.scripts.delete(&name).await?;
    super::audit(
        &state,
        &caller,
        &client,
        "script_deleted",
        name,
        serde_json::Value::Null,
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /engine/api/scripts/{name}/versions`
pub async fn versions(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let store = state.scripts.store();
    let record = existing_script(&state, &name).await?;
    let versions: Vec<VersionView> = store
        .list_versions(&name)
        .await?
        .into_iter()
        .map(|v| version_view(v, record.active_version))
        .collect();
    Ok(Json(serde_json::json!({ "script": name, "versions": versions })).into_response())
}

/// `GET /engine/api/scripts/{name}/versions/{version}`: the version with its files.
pub async fn version(
    State(state): State<Arc<AppState>>,
    Path((name, version)): Path<(String, i64)>,
) -> Result<Response, ApiError> {
    let store = state.scripts.store();
    let record = existing_script(&state, &name).await?;
    let Some(v) = store.get_version(&name, version).await? else {
        return Err(ApiError::not_found(
            "VERSION_NOT_FOUND",
            format!("script '{name}' has no version {version}"),
        ));
    };
    let files: Vec<serde_json::Value> = store
        .get_version_files(&name, version)
        .await?
        .into_iter()
        .map(|f| match String::from_utf8(f.content) {
            Ok(text) => serde_json::json!({"path": f.path, "size": text.len(), "content": text}),
            Err(e) => {
                let bytes = e.into_bytes();
                serde_json::json!({
                    "path": f.path,
                    "size": bytes.len(),
                    "content_base64": base64::engine::general_purpose::STANDARD.encode(&bytes),
                })
            }
        })
        .collect();
    let mut body =
        serde_json::to_value(version_view(v, record.active_version)).map_err(ApiError::internal)?;
    body["files"] = serde_json::Value::Array(files);
    Ok(Json(body).into_response())
}

/// One file of a deploy request.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeployFile {
    path: String,
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    content_base64: Option<String>,
}

/// The JSON deploy request.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeployRequest {
    files: Vec<DeployFile>,
    #[serde(default = "yes")]
    activate: bool,
    /// Variables laid over the bundle's `kiln.toml` `[vars]` (`kiln deploy --var`).
    #[serde(default)]
    vars: std::collections::BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

/// Query of a deploy request (single-file bodies name their file here).
#[derive(Deserialize)]
pub struct DeployQuery {
    /// File name for a raw single-file body (default `main.js`, or `main.ts` for TypeScript).
    file: Option<String>,
    /// `false` to store the version without activating it.
    activate: Option<bool>,
}

/// `POST /engine/api/scripts/{name}/versions`: deploy a new version.
///
/// Body: `{"files": [{"path", "content" | "content_base64"}], "activate": true, "vars": {}}`,
/// or the source of a single-file script with a JavaScript/TypeScript content type.
pub async fn deploy(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(client): Extension<ClientMeta>,
    Path(name): Path<String>,
    Query(query): Query<DeployQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let (files, activate, vars) = if content_type.starts_with("application/json")
        || content_type.is_empty()
    {
        parse_json_deploy(&body)?
    } else if content_type.contains("javascript") || content_type.contains("typescript") {
        let default = if content_type.contains("typescript") {
            "main.ts"
        } else {
            "main.js"
        };
        let path = query.file.clone().unwrap_or_else(|| default.to_owned());
        (
            vec![kiln_store::BundleFile::new(path, body.to_vec())],
            true,
            Default::default(),
        )
    } else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            format!(
                "deploy bodies are application/json ({{\"files\": [...]}}) or a JavaScript/TypeScript source; got '{content_type}'"
            ),
        ));
    };
    let activate = query.activate.unwrap_or(activate);
    if !policy::can_deploy(&caller) {
        return Err(crate::auth::forbidden(
            "FORBIDDEN",
            "deploying scripts needs the editor or admin role",
        ));
    }
    // Claim the name first. The access check let an editor through either as an owner or
    // because the name was unclaimed; in the second case another editor may be claiming it
    // at the same moment, so after claiming, an editor who finds any other owner backs off
    // (at most one of two racing editors wins, never both).
    let store = state.scripts.store();
    let mut new_claim = None;
    if let Some(user_id) = caller.user_id()
        && !store.script_owners(&name).await?.contains(&user_id)
    {
        store.add_script_owner(&name, user_id).await?;
        new_claim = Some(user_id);
        if !caller.is_admin()
            && store
                .script_owners(&name)
                .await?
                .iter()
                .any(|id| *id != user_id)
        {
            store.remove_script_owner(&name, user_id).await?;
            return Err(crate::auth::forbidden(
                "FORBIDDEN",
                format!("the script {name:?} was just claimed by another account"),
            ));
        }
    }
    let deployed = match state.scripts.deploy(&name, files, vars, activate).await {
        Ok(deployed) => deployed,
        Err(error) => {
            // A failed first deploy (invalid name or code) must not leave the name claimed.
            if let Some(user_id) = new_claim
                && store.get_script(&name).await?.is_none()
            {
                store.remove_script_owner(&name, user_id).await?;
            }
            return Err(error);
        }
    };
    super::audit(
        &state,
        &caller,
        &client,
        "deploy",
        name.clone(),
        serde_json::json!({ "version": deployed.version, "active": deployed.active }),
    )
    .await;
    let routes: Vec<serde_json::Value> = deployed
        .script
        .routes
        .iter()
        .map(|r| serde_json::json!({"method": r.method, "path": r.path}))
        .collect();
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({
            "script": name,
            "version": deployed.version,
            "active": deployed.active,
            "routes": routes,
        })),
    )
        .into_response())
}

/// A deploy's files, `activate` flag and variables.
type DeployParts = (
    Vec<kiln_store::BundleFile>,
    bool,
    std::collections::BTreeMap<String, String>,
);

fn parse_json_deploy(body: &[u8]) -> Result<DeployParts, ApiError> {
    let request: DeployRequest = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the deploy body is not valid: {e} (expected {{\"files\": [{{\"path\": \"main.js\", \"content\": \"...\"}}]}})"
        ))
    })?;
    let mut files = Vec::with_capacity(request.files.len());
    for file in request.files {
        let content = match (file.content, file.content_base64) {
            (Some(text), None) => text.into_bytes(),
            (None, Some(encoded)) => base64::engine::general_purpose::STANDARD
                .decode(encoded.as_bytes())
                .map_err(|e| {
                    ApiError::bad_request(format!(
                        "file '{}': content_base64 is not valid base64: {e}",
                        file.path
                    ))
                })?,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "file '{}': give exactly one of content or content_base64",
                    file.path
                )));
            }
        };
        files.push(kiln_store::BundleFile::new(file.path, content));
    }
    Ok((files, request.activate, request.vars))
}

/// The rollback request.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    version: i64,
}

/// `POST /engine/api/scripts/{name}/rollback` with `{"version": N}`.
pub async fn rollback(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(client): Extension<ClientMeta>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: RollbackRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("expected {{\"version\": N}}: {e}")))?;
    existing_script(&state, &name).await?;
    let script = state.scripts.rollback(&name, request.version).await?;
    super::audit(
        &state,
        &caller,
        &client,
        "rollback",
        name.clone(),
        serde_json::json!({ "version": script.version }),
    )
    .await;
    Ok(
        Json(serde_json::json!({ "script": name, "active_version": script.version }))
            .into_response(),
    )
}

/// `GET /engine/api/routes`: every script route being served (admins), or the routes of the
/// caller's scripts.
pub async fn routes(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    let owned = visible_scripts(state.scripts.store().as_ref(), &caller).await?;
    let mut routes =
        serde_json::to_value(state.scripts.table().routes()).map_err(ApiError::internal)?;
    if let (Some(owned), Some(list)) = (owned, routes.as_array_mut()) {
        list.retain(|r| {
            r.get("script")
                .and_then(|s| s.as_str())
                .is_some_and(|s| owned.iter().any(|o| o == s))
        });
    }
    Ok(Json(serde_json::json!({ "routes": routes })).into_response())
}

/// `GET /engine/api/scripts/{name}/owners`
pub async fn owners(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let store = state.scripts.store();
    let mut owners = Vec::new();
    for id in store.script_owners(&name).await? {
        if let Some(user) = store.get_user(id).await? {
            owners.push(serde_json::json!({ "id": user.id, "email": user.email }));
        }
    }
    Ok(Json(serde_json::json!({ "script": name, "owners": owners })).into_response())
}

/// `{"user_id": N}` or `{"email": "…"}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerRequest {
    user_id: Option<i64>,
    email: Option<String>,
}

/// `POST /engine/api/scripts/{name}/owners`: adds an owner (admins and owners).
pub async fn add_owner(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(client): Extension<ClientMeta>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: OwnerRequest = super::json_body(&body, r#"{"user_id": N} or {"email": "…"}"#)?;
    let store = state.scripts.store();
    existing_script(&state, &name).await?;
    let user = match (request.user_id, request.email) {
        (Some(id), None) => store.get_user(id).await?,
        (None, Some(email)) => store.get_user_by_email(&email).await?,
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of user_id or email",
            ));
        }
    }
    .ok_or_else(|| ApiError::not_found("USER_NOT_FOUND", "no such user"))?;
    store.add_script_owner(&name, user.id).await?;
    super::audit(
        &state,
        &caller,
        &client,
        "owner_added",
        name.clone(),
        serde_json::json!({ "user": user.email }),
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /engine/api/scripts/{name}/owners/{user_id}`
pub async fn remove_owner(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(client): Extension<ClientMeta>,
    Path((name, user_id)): Path<(String, i64)>,
) -> Result<Response, ApiError> {
    if !state
        .scripts
        .store()
        .remove_script_owner(&name, user_id)
        .await?
    {
        return Err(ApiError::not_found(
            "OWNER_NOT_FOUND",
            format!("user {user_id} does not own {name:?}"),
        ));
    }
    super::audit(
        &state,
        &caller,
        &client,
        "owner_removed",
        name,
        serde_json::json!({ "user_id": user_id }),
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
