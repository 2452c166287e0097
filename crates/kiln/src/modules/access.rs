//! Who may use `/api/modules` and how large their uploads may be. The caller is an API key
//! with the `execute` or `manage` scope, or a signed-in session (with its CSRF token on
//! state-changing requests); either way the modules are the caller's own account's. The
//! bootstrap admin token has no account and therefore no modules. Admins get no view of other
//! users' modules here: this is a customer API.

use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use crate::auth::{AuthMethod, Caller, csrf_failed, forbidden, unauthorized};
use crate::error::ApiError;
use crate::server::AppState;

/// Scopes of which an API key needs one to manage its owner's modules.
const MODULE_SCOPES: [&str; 2] = ["execute", "manage"];

/// The caller managing their modules, and the account that owns them.
pub struct Owner {
    /// The authenticated caller.
    pub caller: Caller,
    /// The account id: the API key's owner or the session's user.
    pub user_id: i64,
}

/// Authenticates a module management request (upload, list, show, delete).
pub async fn owner(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Owner, ApiError> {
    let caller = state
        .auth
        .authenticate(method, headers)
        .await?
        .ok_or_else(|| {
            unauthorized(
                "UNAUTHORIZED",
                "stored modules need an API key with the `execute` or `manage` scope \
             (`Authorization: Bearer kiln_…`) or a signed-in session",
            )
        })?;
    if let AuthMethod::Session { csrf_ok: false, .. } = caller.method {
        return Err(csrf_failed());
    }
    if caller.api_key.is_some() && !MODULE_SCOPES.iter().any(|s| caller.has_scope(s)) {
        return Err(forbidden(
            "INSUFFICIENT_SCOPE",
            "this API key needs the `execute` or `manage` scope to manage modules",
        ));
    }
    let Some(user_id) = caller.user_id() else {
        return Err(forbidden(
            "ACCOUNT_REQUIRED",
            "modules belong to an account; the bootstrap token has none (sign in or use an API key)",
        ));
    };
    Ok(Owner { caller, user_id })
}

/// Adds `WWW-Authenticate: Bearer` to a 401.
pub fn challenge(error: ApiError) -> axum::response::Response {
    let unauthenticated = error.status == StatusCode::UNAUTHORIZED;
    let mut response = axum::response::IntoResponse::into_response(error);
    if unauthenticated {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// The largest module `owner` may upload: an API key's tier's `max_wasm_bytes`; for a session,
/// the largest of the tiers the account may use (every tier for admins), since any of its keys
/// may run the module (each execution checks its own key's tier again).
pub async fn upload_limit(state: &AppState, owner: &Owner) -> Result<usize, ApiError> {
    let store = state.scripts.store();
    let to_usize = |bytes: i64| usize::try_from(bytes).unwrap_or(0);
    if let Some(key) = &owner.caller.api_key {
        let tier = store.get_tier(&key.tier).await?.ok_or_else(|| {
            ApiError::internal(format!(
                "key {} is on a missing tier {}",
                key.prefix, key.tier
            ))
        })?;
        return Ok(to_usize(tier.max_wasm_bytes));
    }
    let allowed = owner
        .caller
        .user
        .as_ref()
        .map(|u| u.allowed_tiers.clone())
        .unwrap_or_default();
    let admin = owner.caller.is_admin();
    let largest = store
        .list_tiers()
        .await?
        .into_iter()
        .filter(|tier| admin || allowed.contains(&tier.name))
        .map(|tier| to_usize(tier.max_wasm_bytes))
        .max();
    largest.ok_or_else(|| {
        forbidden(
            "TIER_NOT_ALLOWED",
            "your account may use no tier, so it cannot run modules; ask an admin to allow one",
        )
    })
}
