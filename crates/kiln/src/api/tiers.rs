//! Tiers: `/engine/api/tiers`. Everyone signed in may read them; admins create, change and
//! delete them. Changes apply to the next request of every key on the tier.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use kiln_store::TierRecord;
use serde::Deserialize;
use serde_json::json;

use super::json_body;
use crate::auth::client::ClientMeta;
use crate::auth::{Caller, policy};
use crate::error::ApiError;
use crate::server::AppState;

/// `GET /engine/api/tiers`
pub async fn list(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let tiers = state.scripts.store().list_tiers().await?;
    Ok(Json(json!({ "tiers": tiers })).into_response())
}

/// Body of `PUT /engine/api/tiers/{name}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierBody {
    rate_per_minute: i64,
    quota_per_day: i64,
    cpu_ms: i64,
    memory_mb: i64,
    max_wasm_bytes: i64,
    max_input_bytes: i64,
    max_concurrent: i64,
}

/// `PUT /engine/api/tiers/{name}` (admins): creates or replaces a tier.
pub async fn upsert(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(client): Extension<ClientMeta>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    policy::require_admin(&caller)?;
    crate::api::users::check_role_name(&name)
        .map_err(|_| ApiError::bad_request(format!("invalid tier name {name:?}")))?;
    let b: TierBody = json_body(
        &body,
        r#"{"rate_per_minute": 100, "quota_per_day": 10000, "cpu_ms": 50, "memory_mb": 64, "max_wasm_bytes": 10485760, "max_input_bytes": 1048576, "max_concurrent": 4}"#,
    )?;
    for (field, value, min) in [
        ("rate_per_minute", b.rate_per_minute, 0),
        ("quota_per_day", b.quota_per_day, 0),
        ("cpu_ms", b.cpu_ms, 1),
        ("memory_mb", b.memory_mb, 1),
        ("max_wasm_bytes", b.max_wasm_bytes, 1),
        ("max_input_bytes", b.max_input_bytes, 1),
        ("max_concurrent", b.max_concurrent, 1),
    ] {
        if value < min || value > i64::from(u32::MAX) {
            return Err(ApiError::bad_request(format!(
                "{field} must be between {min} and {} (got {value})",
                u32::MAX
            )));
        }
    }
    let tier = TierRecord {
        name: name.clone(),
        rate_per_minute: b.rate_per_minute,
        quota_per_day: b.quota_per_day,
        cpu_ms: b.cpu_ms,
        memory_mb: b.memory_mb,
        max_wasm_bytes: b.max_wasm_bytes,
        max_input_bytes: b.max_input_bytes,
        max_concurrent: b.max_concurrent,
    };
    state.scripts.store().upsert_tier(&tier).await?;
    state.auth.identities_changed();
    super::audit(&state, &caller, &client, "tier_updated", name, json!(tier)).await;
    Ok(Json(tier).into_response())
}

/// `DELETE /engine/api/tiers/{name}` (admins); refused while keys use it.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(client): Extension<ClientMeta>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    policy::require_admin(&caller)?;
    if !state.scripts.store().delete_tier(&name).await? {
        return Err(ApiError::not_found(
            "TIER_NOT_FOUND",
            format!("there is no tier {name:?}"),
        ));
    }
    state.auth.identities_changed();
    super::audit(&state, &caller, &client, "tier_deleted", name, json!({})).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
