//! The management REST API under `/engine/api`: scripts, versions, deploy, rollback, logs,
//! routes. Every endpoint requires `Authorization: Bearer <admin token>` (until users and API
//! keys exist); one file per resource.

mod logs;
mod scripts;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderValue, StatusCode, header};

use crate::error::ApiError;
use crate::server::AppState;

/// The `/engine/api` router (nested by the server).
pub fn router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/scripts", get(scripts::list))
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
        .route("/routes", get(scripts::routes))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state, require_admin))
}

async fn not_found() -> ApiError {
    ApiError::not_found("NOT_FOUND", "no management API endpoint at this path")
}

/// Rejects requests without the admin bearer token.
async fn require_admin(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    match presented {
        Some(token) if state.admin_token.verify(token) => next.run(request).await,
        Some(_) => unauthorized("the bearer token is not valid for the management API"),
        None => unauthorized("the management API needs `Authorization: Bearer <admin token>`"),
    }
}

fn unauthorized(message: &str) -> Response {
    let mut response =
        ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message).into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
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
