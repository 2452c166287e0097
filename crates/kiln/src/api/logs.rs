//! `GET /engine/api/scripts/{name}/logs`: a script's stored log lines, filtered.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::rfc3339;
use crate::error::ApiError;
use crate::server::AppState;

/// Query parameters.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogParams {
    /// Minimum level: debug, info, warn, error.
    level: Option<String>,
    /// Only lines of this request.
    request_id: Option<String>,
    /// Only lines at or after this time (RFC 3339).
    since: Option<String>,
    /// Only lines with an id greater than this (for following).
    after: Option<i64>,
    /// Most lines (1–1000, default 100).
    limit: Option<u32>,
}

/// Handler.
pub async fn query(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(params): Query<LogParams>,
) -> Result<Response, ApiError> {
    super::scripts::existing_script(&state, &name).await?;
    let store = state.scripts.store();
    let min_level = params
        .level
        .as_deref()
        .map(|l| {
            l.parse::<kiln_store::LogLevel>().map_err(|_| {
                ApiError::bad_request(format!(
                    "unknown level '{l}': use debug, info, warn or error"
                ))
            })
        })
        .transpose()?;
    let since = params
        .since
        .as_deref()
        .map(|s| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
                .map_err(|e| {
                    ApiError::bad_request(format!(
                        "since must be an RFC 3339 time like 2026-01-31T12:00:00Z: {e}"
                    ))
                })
        })
        .transpose()?;
    let query = kiln_store::LogQuery {
        min_level,
        request_id: params.request_id,
        since,
        after_id: params.after,
        limit: params.limit.unwrap_or(kiln_store::DEFAULT_LOG_LIMIT),
    };
    let logs: Vec<serde_json::Value> = store
        .query_logs(&name, &query)
        .await?
        .into_iter()
        .map(|l| {
            serde_json::json!({
                "id": l.id,
                "time": rfc3339(l.time),
                "level": l.level.as_str(),
                "message": l.message,
                "request_id": l.request_id,
                "version": l.version,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "script": name, "logs": logs })).into_response())
}
