//! The management REST API under `/engine/api`: scripts, versions, deploy, rollback, logs,
//! database export, secrets, routes, users, API keys, tiers, usage and the audit log; one file
//! per resource.
//!
//! Every endpoint needs a caller ([`authenticate`]): a session cookie (plus the session's CSRF
//! token on state-changing requests), an API key with the `manage` scope, or — while no admin
//! account exists — the bootstrap admin token. Each handler then checks the caller's role and,
//! for scripts, ownership ([`crate::auth::policy`]).

mod audit;
mod db;
pub(crate) mod keys;
mod logs;
pub(crate) mod scripts;
mod secrets;
mod tiers;
mod usage;
pub(crate) mod users;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use http::{HeaderValue, StatusCode, header};

use crate::auth::{AuthMethod, Caller, csrf_failed, forbidden, policy};
use crate::error::ApiError;
use crate::server::AppState;

/// The `/engine/api` router (nested by the server).
pub fn router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    let per_script = Router::new()
        .route(
            "/scripts/{name}",
            get(scripts::show).delete(scripts::delete),
        )
        .route(
            "/scripts/{name}/versions",
            get(scripts::versions).post(scripts::deploy),
        )
        .route("/scripts/{name}/versions/{version}", get(scripts::version))
        .route("/scripts/{name}/rollback", post(scripts::rollback))
        .route("/scripts/{name}/logs", get(logs::query))
        .route("/scripts/{name}/db/export", get(db::export))
        .route("/scripts/{name}/secrets", get(secrets::list))
        .route(
            "/scripts/{name}/secrets/{key}",
            put(secrets::set).delete(secrets::delete),
        )
        .route(
            "/scripts/{name}/owners",
            get(scripts::owners).post(scripts::add_owner),
        )
        .route(
            "/scripts/{name}/owners/{user_id}",
            axum::routing::delete(scripts::remove_owner),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_script_access,
        ));
    Router::new()
        .route("/scripts", get(scripts::list))
        .merge(per_script)
        .route("/routes", get(scripts::routes))
        .route("/openapi.json", get(crate::openapi::document))
        .route("/users", get(users::list).post(users::create))
        .route("/users/{id}", get(users::show).patch(users::update))
        .route(
            "/users/{id}/roles/{role}",
            put(users::grant).delete(users::revoke),
        )
        .route("/keys", get(keys::list).post(keys::create))
        .route(
            "/keys/{id}",
            get(keys::show).patch(keys::update).delete(keys::revoke),
        )
        .route("/tiers", get(tiers::list))
        .route("/tiers/{name}", put(tiers::upsert).delete(tiers::delete))
        .route("/usage", get(usage::query))
        .route("/audit", get(audit::query))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state, authenticate))
}

async fn not_found() -> ApiError {
    ApiError::not_found("NOT_FOUND", "no management API endpoint at this path")
}

/// Authenticates every management API request and stores the [`Caller`] in its extensions.
async fn authenticate(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let caller = match state
        .auth
        .authenticate(request.method(), request.headers())
        .await
    {
        Ok(Some(caller)) => caller,
        Ok(None) => {
            return unauthorized(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "the management API needs a session (sign in at /auth/login), an API key with \
                 the `manage` scope, or the bootstrap admin token, as `Authorization: Bearer …`",
            ));
        }
        Err(error) if error.status == StatusCode::UNAUTHORIZED => return unauthorized(error),
        Err(error) => return error.into_response(),
    };
    if let AuthMethod::Session { csrf_ok: false, .. } = caller.method {
        return csrf_failed().into_response();
    }
    if !caller.has_scope("manage") {
        return forbidden(
            "INSUFFICIENT_SCOPE",
            "this API key lacks the `manage` scope needed for the management API",
        )
        .into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// Checks the caller may manage the script named in the path.
async fn require_script_access(
    State(state): State<Arc<AppState>>,
    Path(params): Path<HashMap<String, String>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(caller) = request.extensions().get::<Caller>() else {
        return ApiError::internal("management request without a caller").into_response();
    };
    let name = params.get("name").map(String::as_str).unwrap_or_default();
    match policy::require_script_access(state.scripts.store().as_ref(), caller, name).await {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

fn unauthorized(error: ApiError) -> Response {
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// Parses a JSON request body into `T`, with a message naming what was expected.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
    expected: &str,
) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("the body is not valid: {e} (expected {expected})"))
    })
}

/// Unix milliseconds as an RFC 3339 timestamp.
pub(crate) fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Writes the audit event of a management action by `caller` on `target`.
pub(crate) async fn audit(
    state: &AppState,
    caller: &Caller,
    client: &crate::auth::client::ClientMeta,
    action: &str,
    target: impl Into<String>,
    detail: serde_json::Value,
) {
    state
        .auth
        .audit(
            Some(caller),
            action,
            Some(target.into()),
            Some(client),
            detail,
        )
        .await;
}
