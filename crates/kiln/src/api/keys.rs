//! API keys: `/engine/api/keys`. Anyone signed in manages their own keys, on the tiers an admin
//! allowed them; admins manage everyone's and alone move keys between tiers. The key itself is
//! returned once, at creation.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use kiln_store::{ApiKeyRecord, NewApiKey};
use serde::Deserialize;
use serde_json::json;

use super::{json_body, rfc3339};
use crate::auth::client::ClientMeta;
use crate::auth::{Caller, api_keys, forbidden, now_ms, policy};
use crate::error::ApiError;
use crate::server::AppState;

/// A key as the API shows it (never the hash).
pub fn key_view(key: &ApiKeyRecord) -> serde_json::Value {
    let now = now_ms();
    let status = if key.revoked_at.is_some() {
        "revoked"
    } else if key.expires_at.is_some_and(|at| at <= now) {
        "expired"
    } else {
        "active"
    };
    json!({
        "id": key.id,
        "prefix": key.prefix,
        "name": key.name,
        "user_id": key.user_id,
        "tier": key.tier,
        "scopes": key.scopes,
        "status": status,
        "created_at": rfc3339(key.created_at),
        "expires_at": key.expires_at.map(rfc3339),
        "revoked_at": key.revoked_at.map(rfc3339),
        "last_used_at": key.last_used_at.map(rfc3339),
    })
}

/// Query of `GET /engine/api/keys`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Admins: only this user's keys; `all=true` for everyone's.
    user_id: Option<i64>,
    all: Option<bool>,
}

/// `GET /engine/api/keys`: the caller's keys (admins: `?all=true` or `?user_id=N`).
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let filter = match (query.all.unwrap_or(false), query.user_id) {
        (false, None) => Some(caller.user_id().unwrap_or(-1)),
        (_, Some(id)) if caller.user_id() == Some(id) => Some(id),
        (all, user) => {
            policy::require_admin(&caller)?;
            if all { None } else { user }
        }
    };
    let keys: Vec<_> = state
        .scripts
        .store()
        .list_api_keys(filter)
        .await?
        .iter()
        .map(key_view)
        .collect();
    Ok(Json(json!({ "keys": keys })).into_response())
}

/// Body of `POST /engine/api/keys`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    name: String,
    tier: Option<String>,
    scopes: Option<Vec<String>>,
    /// Lifetime in seconds from now.
    expires_in_secs: Option<u64>,
    /// Admins only: create the key for another user.
    user_id: Option<i64>,
}

/// `POST /engine/api/keys`: creates a key and returns it once.
pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(client): Extension<ClientMeta>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: CreateKey = json_body(
        &body,
        r#"{"name": "ci", "tier": "free", "scopes": ["invoke"], "expires_in_secs": 86400}"#,
    )?;
    let store = state.scripts.store();
    let owner_id = match (request.user_id, caller.user_id()) {
        (Some(id), me) if me != Some(id) => {
            policy::require_admin(&caller)?;
            id
        }
        (Some(id), _) => id,
        (None, Some(me)) => me,
        (None, None) => {
            return Err(ApiError::bad_request(
                "the bootstrap token has no account of its own: give user_id",
            ));
        }
    };
    let owner = store.get_user(owner_id).await?.ok_or_else(|| {
        ApiError::not_found("USER_NOT_FOUND", format!("there is no user {owner_id}"))
    })?;
    let name = request.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::bad_request("name must be 1 to 100 characters"));
    }
    let tier = request.tier.unwrap_or_else(|| "free".to_owned());
    if store.get_tier(&tier).await?.is_none() {
        return Err(ApiError::not_found(
            "TIER_NOT_FOUND",
            format!("there is no tier {tier:?}"),
        ));
    }
    // Only admins pick any tier; everyone else is limited to the tiers allowed to them (and
    // an admin creating a key for someone else is trusted to choose).
    if !caller.is_admin() && !owner.allowed_tiers.contains(&tier) {
        return Err(forbidden(
            "TIER_NOT_ALLOWED",
            format!(
                "you may create keys on {:?} only; ask an admin for the {tier:?} tier",
                owner.allowed_tiers
            ),
        ));
    }
    let scopes = api_keys::normalize_scopes(
        &request
            .scopes
            .unwrap_or_else(|| vec!["invoke".to_owned(), "execute".to_owned()]),
    )
    .map_err(|bad| {
        ApiError::bad_request(format!(
            "unknown scope {bad:?}; scopes are {:?}",
            api_keys::SCOPES
        ))
    })?;
    if scopes.is_empty() {
        return Err(ApiError::bad_request("give at least one scope"));
    }
    let expires_at = match request.expires_in_secs {
        Some(0) => return Err(ApiError::bad_request("expires_in_secs must be positive")),
        Some(secs) => Some(
            now_ms().saturating_add(i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)),
        ),
        None => None,
    };
    // A key creating keys cannot mint one that outlives it.
    let expires_at = match caller.api_key.as_ref().and_then(|k| k.expires_at) {
        Some(limit) => Some(expires_at.map_or(limit, |at| at.min(limit))),
        None => expires_at,
    };
    let (key, prefix) = api_keys::generate().map_err(ApiError::internal)?;
    let record = store
        .create_api_key(&NewApiKey {
            prefix,
            hash: state.auth.key_secret().hash(&key),
            user_id: owner.id,
            name,
            tier,
            scopes,
            expires_at,
        })
        .await?;
    super::audit(
        &state,
        &caller,
        &client,
        "key_created",
        record.prefix.clone(),
        json!({ "owner": owner.email, "tier": record.tier, "scopes": record.scopes }),
    )
    .await;
    let mut body = key_view(&record);
    body["key"] = json!(key);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// The key `id` if the caller may see it (their own, or any for admins); 404 otherwise (so
/// other users' key ids are not confirmed).
async fn visible_key(state: &AppState, caller: &Caller, id: i64) -> Result<ApiKeyRecord, ApiError> {
    let not_found = || ApiError::not_found("KEY_NOT_FOUND", format!("there is no key {id}"));
    let key = state
        .scripts
        .store()
        .get_api_key(id)
        .await?
        .ok_or_else(not_found)?;
    if caller.is_admin() || caller.user_id() == Some(key.user_id) {
        Ok(key)
    } else {
        Err(not_found())
    }
}

/// `GET /engine/api/keys/{id}`
pub async fn show(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let key = visible_key(&state, &caller, id).await?;
    Ok(Json(key_view(&key)).into_response())
}

/// Body of `PATCH /engine/api/keys/{id}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateKey {
    tier: String,
}

/// `PATCH /engine/api/keys/{id}` with `{"tier": "pro"}`: admins only.
pub async fn update(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(client): Extension<ClientMeta>,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: UpdateKey = json_body(&body, r#"{"tier": "pro"}"#)?;
    let key = visible_key(&state, &caller, id).await?;
    if !caller.is_admin() {
        return Err(forbidden(
            "FORBIDDEN",
            "only admins move keys between tiers",
        ));
    }
    let updated = state
        .scripts
        .store()
        .set_api_key_tier(id, &request.tier)
        .await?;
    state.auth.identities_changed();
    super::audit(
        &state,
        &caller,
        &client,
        "key_tier_changed",
        key.prefix.clone(),
        json!({ "from": key.tier, "to": updated.tier }),
    )
    .await;
    Ok(Json(key_view(&updated)).into_response())
}

/// `DELETE /engine/api/keys/{id}`: revokes the key (effective on the next request).
pub async fn revoke(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(client): Extension<ClientMeta>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    visible_key(&state, &caller, id).await?;
    let key = state.scripts.store().revoke_api_key(id, now_ms()).await?;
    state.auth.identities_changed();
    super::audit(
        &state,
        &caller,
        &client,
        "key_revoked",
        key.prefix.clone(),
        json!({}),
    )
    .await;
    Ok(Json(key_view(&key)).into_response())
}
