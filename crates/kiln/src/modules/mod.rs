//! Stored WebAssembly modules, the customer API under `/api/modules`: upload a module under a
//! name (`POST`), list (`GET`, paged by cursor), show and delete (`GET`/`DELETE
//! /api/modules/{name}`), and execute by name (`POST /api/modules/{name}/execute`, the
//! `/execute` pipeline with the module taken from the store). Modules belong to the caller's
//! account and are strictly owner-scoped — another account's module of the same name is a 404,
//! admins included; identical bytes uploaded by several accounts are stored once by the store
//! (by SHA-256) but stay separate modules. Uploads are validated by compiling them (which also
//! warms the runtime's cache, so a stored module's first execution does not compile). See
//! [`access`] for who may call and [`upload`] for the upload form.

pub mod access;
mod exec;
pub mod lookup;
pub mod upload;

use std::sync::Arc;

use axum::extract::{Extension, Multipart, Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::{HeaderMap, Method, StatusCode};
use kiln_store::{ModuleListQuery, ModuleRecord, NewModule, check_module_name};
use serde::Deserialize;
use serde_json::json;

use crate::api::rfc3339;
use crate::auth::client::ClientMeta;
use crate::error::ApiError;
use crate::execute::{self, module_error};
use crate::server::AppState;
pub use exec::{count_execution, runnable};

/// Largest `/api/modules` body: the same as `/execute` (a module plus form overhead).
pub const MAX_BODY_BYTES: usize = execute::MAX_BODY_BYTES;

/// The `/api/modules` routes (merged into Kiln's router by the server, which sets their body
/// limit).
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/modules", get(list).post(put))
        .route("/api/modules/{name}", get(show).delete(delete))
        .route("/api/modules/{name}/execute", post(exec::execute))
}

/// A module's metadata as the API shows it.
fn module_json(module: &ModuleRecord) -> serde_json::Value {
    json!({
        "name": module.name,
        "description": module.description,
        "hash": module.hash,
        "size_bytes": module.size_bytes,
        "created_at": rfc3339(module.created_at),
        "updated_at": rfc3339(module.updated_at),
        "execution_count": module.execution_count,
        "last_executed_at": module.last_executed_at.map(rfc3339),
    })
}

/// 400 `INVALID_MODULE_NAME` unless `name` follows the module name rule.
fn valid_name(name: &str) -> Result<(), ApiError> {
    check_module_name(name).map_err(|error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_MODULE_NAME",
            format!("{error} (names are 1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit)"),
        )
    })
}

/// 404 `MODULE_NOT_FOUND` for `name` (also when another account has a module of that name).
fn not_found(name: &str) -> ApiError {
    ApiError::not_found(
        "MODULE_NOT_FOUND",
        format!("you have no module named {name:?}"),
    )
}

/// `POST /api/modules`: stores (creates or replaces) a module after compiling it. 201 with
/// the metadata (and the module's exported functions) when created, 200 when replaced.
async fn put(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Extension(client): Extension<ClientMeta>,
    multipart: Multipart,
) -> Response {
    match store_module(&state, &headers, &client, multipart).await {
        Ok(response) => response,
        Err(error) => access::challenge(error),
    }
}

async fn store_module(
    state: &AppState,
    headers: &HeaderMap,
    client: &ClientMeta,
    multipart: Multipart,
) -> Result<Response, ApiError> {
    let owner = access::owner(state, &Method::POST, headers).await?;
    let limit = access::upload_limit(state, &owner).await?;
    let form = upload::parse(multipart, limit).await?;
    valid_name(&form.name)?;
    let runtime = state.wasm.clone();
    let bytes = Arc::new(form.wasm);
    let to_check = bytes.clone();
    let prepared = tokio::task::spawn_blocking(move || runtime.prepare(&to_check))
        .await
        .map_err(|join| ApiError::internal(format!("the module check failed: {join}")))?
        .map_err(module_error)?;
    let stored = state
        .scripts
        .store()
        .put_module(NewModule {
            owner_id: owner.user_id,
            name: &form.name,
            description: form.description.as_deref(),
            bytes: &bytes,
        })
        .await?;
    state.module_lookups.invalidate();
    let action = if stored.created {
        "module_created"
    } else {
        "module_replaced"
    };
    crate::api::audit(
        state,
        &owner.caller,
        client,
        action,
        form.name.as_str(),
        json!({ "hash": stored.module.hash, "size_bytes": stored.module.size_bytes }),
    )
    .await;
    let mut body = module_json(&stored.module);
    body["exports"] = json!(prepared.exported_functions());
    let status = if stored.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(body)).into_response())
}

/// Query of `GET /api/modules`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    /// Page size (default 50, at most 200).
    limit: Option<u32>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
}

/// `GET /api/modules`: the caller's modules by name, a page at a time.
async fn list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(params): Query<ListParams>,
) -> Response {
    let result = async {
        let owner = access::owner(&state, &Method::GET, &headers).await?;
        let page = state
            .scripts
            .store()
            .list_modules(
                owner.user_id,
                &ModuleListQuery {
                    after: params.cursor.filter(|c| !c.is_empty()),
                    limit: params.limit.unwrap_or(0),
                },
            )
            .await?;
        let modules: Vec<_> = page.modules.iter().map(module_json).collect();
        Ok::<_, ApiError>(Json(
            json!({ "modules": modules, "next_cursor": page.next_cursor }),
        ))
    }
    .await;
    result.map_or_else(access::challenge, IntoResponse::into_response)
}

/// `GET /api/modules/{name}`: one of the caller's modules.
async fn show(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    let result = async {
        let owner = access::owner(&state, &Method::GET, &headers).await?;
        valid_name(&name)?;
        let module = state
            .scripts
            .store()
            .get_module(owner.user_id, &name)
            .await?
            .ok_or_else(|| not_found(&name))?;
        Ok::<_, ApiError>(Json(module_json(&module)))
    }
    .await;
    result.map_or_else(access::challenge, IntoResponse::into_response)
}

/// `DELETE /api/modules/{name}`: deletes one of the caller's modules (204).
async fn delete(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Extension(client): Extension<ClientMeta>,
    Path(name): Path<String>,
) -> Response {
    let result = async {
        let owner = access::owner(&state, &Method::DELETE, &headers).await?;
        valid_name(&name)?;
        if !state
            .scripts
            .store()
            .delete_module(owner.user_id, &name)
            .await?
        {
            return Err(not_found(&name));
        }
        state.module_lookups.invalidate();
        crate::api::audit(
            &state,
            &owner.caller,
            &client,
            "module_deleted",
            name.as_str(),
            json!({}),
        )
        .await;
        Ok(StatusCode::NO_CONTENT)
    }
    .await;
    result.map_or_else(access::challenge, IntoResponse::into_response)
}
