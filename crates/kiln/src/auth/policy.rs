//! Who may do what through the management API. Roles: `admin` manages everything; `editor`
//! deploys new scripts and manages the scripts it owns (several owners allowed); `user` manages
//! only its own API keys and sees its own usage. An API key acts for its owner and only with
//! its scopes (`manage` for the management API).

use kiln_store::Store;

use super::{Caller, forbidden};
use crate::error::ApiError;

/// The built-in role allowed to deploy.
pub const EDITOR_ROLE: &str = "editor";

/// Admins only.
pub fn require_admin(caller: &Caller) -> Result<(), ApiError> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(forbidden("FORBIDDEN", "this action needs the admin role"))
    }
}

/// Whether the caller may deploy at all (admins and editors).
pub fn can_deploy(caller: &Caller) -> bool {
    caller.is_admin() || caller.has_role(EDITOR_ROLE)
}

/// Checks that the caller may manage (deploy to, roll back, delete, read) `script`: admins
/// always; editors when they own it, or when it has no owner and does not exist yet (a first
/// deploy claims it).
pub async fn require_script_access(
    store: &dyn Store,
    caller: &Caller,
    script: &str,
) -> Result<(), ApiError> {
    if caller.is_admin() {
        return Ok(());
    }
    let denied = || {
        forbidden(
            "FORBIDDEN",
            format!("you do not own the script {script:?}; ask an admin or one of its owners"),
        )
    };
    if !caller.has_role(EDITOR_ROLE) {
        return Err(forbidden(
            "FORBIDDEN",
            "managing scripts needs the editor or admin role",
        ));
    }
    let user_id = caller.user_id().ok_or_else(denied)?;
    let owners = store.script_owners(script).await?;
    if owners.contains(&user_id) {
        return Ok(());
    }
    if owners.is_empty() && store.get_script(script).await?.is_none() {
        return Ok(());
    }
    Err(denied())
}
