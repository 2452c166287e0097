//! `GET /engine/api/usage`: hourly or daily usage aggregates, filtered by key, user, script
//! and time. Admins see everything; everyone else only their own usage.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Query, State};
use axum::response::{IntoResponse, Response};
use kiln_store::{UsagePeriod, UsageQuery};
use serde::Deserialize;
use serde_json::json;

use super::rfc3339;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::server::AppState;

/// Query parameters.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageParams {
    key_id: Option<i64>,
    user_id: Option<i64>,
    script: Option<String>,
    /// `hour` (default) or `day`.
    period: Option<UsagePeriod>,
    /// RFC 3339 start (default: 24 hours ago for hourly, 30 days for daily).
    since: Option<String>,
    /// RFC 3339 end (exclusive).
    until: Option<String>,
}

/// Parses an RFC 3339 query value into unix ms.
pub fn parse_time(name: &str, value: &str) -> Result<i64, ApiError> {
    let parsed = time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .map_err(|e| {
            ApiError::bad_request(format!(
                "{name} must be an RFC 3339 time like 2026-01-31T00:00:00Z: {e}"
            ))
        })?;
    i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| ApiError::bad_request(format!("{name} is out of range")))
}

/// Handler.
pub async fn query(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<UsageParams>,
) -> Result<Response, ApiError> {
    let store = state.scripts.store();
    let period = params.period.unwrap_or_default();
    let now = crate::auth::now_ms();
    let since = match params.since.as_deref() {
        Some(value) => parse_time("since", value)?,
        None => now - period.millis() * if period == UsagePeriod::Hour { 24 } else { 30 },
    };
    let until = params
        .until
        .as_deref()
        .map(|v| parse_time("until", v))
        .transpose()?;
    let mut user_id = params.user_id;
    if !caller.is_admin() {
        // Non-admins see their own usage only.
        let me = caller.user_id().unwrap_or(-1);
        if user_id.is_some_and(|id| id != me) {
            return Err(crate::auth::forbidden(
                "FORBIDDEN",
                "you may only query your own usage",
            ));
        }
        user_id = Some(me);
        if let Some(key_id) = params.key_id {
            let own = store
                .get_api_key(key_id)
                .await?
                .is_some_and(|k| k.user_id == me);
            if !own {
                return Err(crate::auth::forbidden(
                    "FORBIDDEN",
                    "you may only query your own keys' usage",
                ));
            }
        }
    }
    let query = UsageQuery {
        key_id: params.key_id,
        user_id,
        script: params.script.clone(),
        since: Some(since),
        until,
        period,
    };
    let buckets: Vec<_> = store
        .usage_summary(&query)
        .await?
        .into_iter()
        .map(|b| {
            let by_class: serde_json::Map<String, serde_json::Value> =
                b.by_class.into_iter().map(|(k, v)| (k, json!(v))).collect();
            json!({
                "start": rfc3339(b.start),
                "requests": b.requests,
                "errors": b.errors,
                "rate_limited": b.rate_limited,
                "cpu_ms": b.cpu_ms,
                "duration_ms": b.duration_ms,
                "bytes_in": b.bytes_in,
                "bytes_out": b.bytes_out,
                "module_bytes": b.module_bytes,
                "input_bytes": b.input_bytes,
                "max_memory_peak_bytes": b.max_memory_peak_bytes,
                "by_class": by_class,
            })
        })
        .collect();
    Ok(Json(json!({
        "period": period,
        "since": rfc3339(since),
        "until": until.map(rfc3339),
        "filters": { "key_id": params.key_id, "user_id": user_id, "script": params.script },
        "buckets": buckets,
    }))
    .into_response())
}
