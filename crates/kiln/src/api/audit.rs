//! `GET /engine/api/audit`: the security audit log (admins), newest first, pageable with
//! `before_id`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Query, State};
use axum::response::{IntoResponse, Response};
use kiln_store::AuditQuery;
use serde::Deserialize;
use serde_json::json;

use super::rfc3339;
use crate::auth::{Caller, policy};
use crate::error::ApiError;
use crate::server::AppState;

/// Query parameters.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    action: Option<String>,
    actor_user_id: Option<i64>,
    since: Option<String>,
    before_id: Option<i64>,
    limit: Option<u32>,
}

/// Handler.
pub async fn query(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<AuditParams>,
) -> Result<Response, ApiError> {
    policy::require_admin(&caller)?;
    let since = params
        .since
        .as_deref()
        .map(|v| super::usage::parse_time("since", v))
        .transpose()?;
    let events: Vec<_> = state
        .scripts
        .store()
        .query_audit(&AuditQuery {
            action: params.action,
            actor_user_id: params.actor_user_id,
            since,
            before_id: params.before_id,
            limit: params.limit.unwrap_or(100),
        })
        .await?
        .into_iter()
        .map(|r| {
            json!({
                "id": r.id,
                "time": rfc3339(r.event.time),
                "actor": r.event.actor,
                "actor_user_id": r.event.actor_user_id,
                "action": r.event.action,
                "target": r.event.target,
                "ip": r.event.ip,
                "detail": r.event.detail,
            })
        })
        .collect();
    Ok(Json(json!({ "events": events })).into_response())
}
