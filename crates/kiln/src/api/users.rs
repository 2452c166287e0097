//! Users and roles: `/engine/api/users` (admins manage everyone; anyone may read themselves).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use kiln_store::{NewUser, UserRecord};
use serde::Deserialize;
use serde_json::json;

use super::{json_body, rfc3339};
use crate::auth::client::ClientMeta;
use crate::auth::{Caller, password, policy};
use crate::error::ApiError;
use crate::server::AppState;

/// A user as the API shows it (never the password hash).
pub fn user_view(user: &UserRecord) -> serde_json::Value {
    json!({
        "id": user.id,
        "email": user.email,
        "name": user.display_name,
        "roles": user.roles,
        "allowed_tiers": user.allowed_tiers,
        "disabled": user.disabled,
        "has_password": user.password_hash.is_some(),
        "created_at": rfc3339(user.created_at),
    })
}

/// A role name: `admin`, `editor`, `user` or a custom `[a-z0-9][a-z0-9_.-]{0,62}`.
pub fn check_role_name(role: &str) -> Result<(), ApiError> {
    let valid = !role.is_empty()
        && role.len() <= 63
        && role
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && role
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "invalid role name {role:?}: use lowercase letters, digits, '_', '.', '-' (at most 63)"
        )))
    }
}

/// Normalises and checks an email address (lowercase, one `@`, no spaces).
pub fn check_email(email: &str) -> Result<String, ApiError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && email.split('@').count() == 2
        && !email.starts_with('@')
        && !email.ends_with('@')
        && !email.chars().any(char::is_whitespace);
    if valid {
        Ok(email)
    } else {
        Err(ApiError::bad_request(format!(
            "{email:?} is not an email address"
        )))
    }
}

async fn target_user(state: &AppState, id: i64) -> Result<UserRecord, ApiError> {
    state
        .scripts
        .store()
        .get_user(id)
        .await?
        .ok_or_else(|| ApiError::not_found("USER_NOT_FOUND", format!("there is no user {id}")))
}

/// `GET /engine/api/users` (admins).
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    policy::require_admin(&caller)?;
    let users: Vec<_> = state
        .scripts
        .store()
        .list_users()
        .await?
        .iter()
        .map(user_view)
        .collect();
    Ok(Json(json!({ "users": users })).into_response())
}

/// `GET /engine/api/users/{id}` (admins, or the user themselves).
pub async fn show(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    if caller.user_id() != Some(id) {
        policy::require_admin(&caller)?;
    }
    let user = target_user(&state, id).await?;
    Ok(Json(user_view(&user)).into_response())
}

/// Body of `POST /engine/api/users`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    email: String,
    password: Option<String>,
    name: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    allowed_tiers: Option<Vec<String>>,
}

/// `POST /engine/api/users` (admins): creates an account.
pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(client): Extension<ClientMeta>,
    body: Bytes,
) -> Result<Response, ApiError> {
    policy::require_admin(&caller)?;
    let request: CreateUser = json_body(
        &body,
        r#"{"email": "…", "password": "…", "roles": ["editor"], "allowed_tiers": ["free"]}"#,
    )?;
    let email = check_email(&request.email)?;
    let mut roles = if request.roles.is_empty() {
        vec!["user".to_owned()]
    } else {
        request.roles
    };
    for role in &roles {
        check_role_name(role)?;
    }
    roles.sort();
    roles.dedup();
    let password_hash = match request.password {
        Some(password) => Some(
            password::hash(password)
                .await
                .map_err(|e| ApiError::bad_request(e.to_string()))?,
        ),
        None => None,
    };
    let user = state
        .scripts
        .store()
        .create_user(&NewUser {
            email,
            display_name: request.name,
            password_hash,
            roles,
            allowed_tiers: request
                .allowed_tiers
                .unwrap_or_else(|| vec!["free".to_owned()]),
        })
        .await?;
    super::audit(
        &state,
        &caller,
        &client,
        "user_created",
        user.email.clone(),
        json!({ "roles": user.roles }),
    )
    .await;
    Ok((StatusCode::CREATED, Json(user_view(&user))).into_response())
}

/// Body of `PATCH /engine/api/users/{id}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    disabled: Option<bool>,
    allowed_tiers: Option<Vec<String>>,
    password: Option<String>,
    /// Required when changing your own password.
    current_password: Option<String>,
}

/// `PATCH /engine/api/users/{id}`: admins may disable/enable, set allowed tiers and reset
/// passwords; a user may change their own password by giving the current one. A password
/// change ends every session of the account.
pub async fn update(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(client): Extension<ClientMeta>,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: UpdateUser = json_body(
        &body,
        r#"{"disabled": true} or {"allowed_tiers": ["free", "basic"]} or {"password": "…"}"#,
    )?;
    if request.disabled.is_some() || request.allowed_tiers.is_some() || caller.user_id() != Some(id)
    {
        policy::require_admin(&caller)?;
    }
    let store = state.scripts.store();
    let mut user = target_user(&state, id).await?;
    // Check everything before changing anything: a refused change leaves the account as it was.
    let new_hash = match request.password {
        Some(password) => {
            if caller.user_id() == Some(id) {
                // Changing your own password needs the current one (a stolen session or a
                // `manage` key alone must not be enough to take the account over).
                let current = request.current_password.unwrap_or_default();
                let matches = password::verify(current, user.password_hash.clone())
                    .await
                    .map_err(ApiError::internal)?;
                if !matches && user.password_hash.is_some() {
                    return Err(crate::auth::forbidden(
                        "CURRENT_PASSWORD_REQUIRED",
                        "to change your password, give the current one as `current_password`",
                    ));
                }
            }
            Some(
                password::hash(password)
                    .await
                    .map_err(|e| ApiError::bad_request(e.to_string()))?,
            )
        }
        None => None,
    };
    if let Some(disabled) = request.disabled {
        user = store.set_user_disabled(id, disabled).await?;
        state.auth.identities_changed();
        let action = if disabled {
            "user_disabled"
        } else {
            "user_enabled"
        };
        super::audit(
            &state,
            &caller,
            &client,
            action,
            user.email.clone(),
            json!({}),
        )
        .await;
    }
    if let Some(tiers) = request.allowed_tiers {
        user = store.set_allowed_tiers(id, &tiers).await?;
        state.auth.identities_changed();
        super::audit(
            &state,
            &caller,
            &client,
            "allowed_tiers_changed",
            user.email.clone(),
            json!({ "allowed_tiers": user.allowed_tiers }),
        )
        .await;
    }
    if let Some(hash) = new_hash {
        store.set_password_hash(id, Some(&hash)).await?;
        // Every session of the account ends: whoever knew the old password is signed out.
        let ended = store.delete_user_sessions(id).await?;
        super::audit(
            &state,
            &caller,
            &client,
            "password_changed",
            user.email.clone(),
            json!({ "sessions_ended": ended }),
        )
        .await;
    }
    let user = target_user(&state, user.id).await?;
    Ok(Json(user_view(&user)).into_response())
}

/// `PUT /engine/api/users/{id}/roles/{role}` (admins).
pub async fn grant(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(client): Extension<ClientMeta>,
    Path((id, role)): Path<(i64, String)>,
) -> Result<Response, ApiError> {
    check_role_name(&role)?;
    change_role(&state, &caller, &client, id, role, true).await
}

/// `DELETE /engine/api/users/{id}/roles/{role}` (admins). Removing the last admin is refused.
pub async fn revoke(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Extension(client): Extension<ClientMeta>,
    Path((id, role)): Path<(i64, String)>,
) -> Result<Response, ApiError> {
    change_role(&state, &caller, &client, id, role, false).await
}

/// Grants (or revokes) `role` of user `id` as an admin, and audits it.
async fn change_role(
    state: &AppState,
    caller: &Caller,
    client: &ClientMeta,
    id: i64,
    role: String,
    grant: bool,
) -> Result<Response, ApiError> {
    policy::require_admin(caller)?;
    target_user(state, id).await?;
    let store = state.scripts.store();
    let (user, action) = if grant {
        (store.grant_role(id, &role).await?, "role_granted")
    } else {
        (store.revoke_role(id, &role).await?, "role_revoked")
    };
    state.auth.identities_changed();
    let detail = json!({ "role": role });
    super::audit(state, caller, client, action, user.email.clone(), detail).await;
    Ok(Json(user_view(&user)).into_response())
}
