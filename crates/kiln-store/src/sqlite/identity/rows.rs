//! Helpers of the SQLite identity store: normalisation of stored values, error mapping, and
//! reading rows into records.

use std::collections::HashMap;

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use crate::{
    ADMIN_ROLE, ApiKeyRecord, SessionRecord, StoreError, TierRecord, UserRecord, now_millis,
};

/// The stored form of an email: lowercase, so that uniqueness and lookups ignore case.
pub(super) fn normalize_email(email: &str) -> String {
    email.to_lowercase()
}

/// `items` sorted (byte order, like SQLite's `BINARY` collation) without duplicates.
pub(super) fn sorted_unique(items: &[String]) -> Vec<String> {
    let mut items = items.to_vec();
    items.sort_unstable();
    items.dedup();
    items
}

/// The `api_keys.scopes` encoding: sorted, deduplicated, space-separated. A scope that is empty
/// or contains whitespace could not be read back, so it is refused as a conflict.
pub(super) fn encode_scopes(scopes: &[String]) -> Result<String, StoreError> {
    if let Some(bad) = scopes
        .iter()
        .find(|s| s.is_empty() || s.chars().any(char::is_whitespace))
    {
        return Err(StoreError::conflict(format!(
            "invalid API key scope {bad:?}: scopes are non-empty words"
        )));
    }
    Ok(sorted_unique(scopes).join(" "))
}

/// `NotFound` for user `id`.
pub(super) fn user_not_found(id: i64) -> StoreError {
    StoreError::not_found(format!("user {id}"))
}

/// `NotFound` for API key `id`.
pub(super) fn api_key_not_found(id: i64) -> StoreError {
    StoreError::not_found(format!("API key {id}"))
}

/// Whether `err` is a unique-constraint violation.
pub(super) fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Whether `err` is a foreign-key violation.
pub(super) fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_foreign_key_violation())
}

/// Whether `err` is a `CHECK` constraint violation.
pub(super) fn is_check_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_check_violation())
}

/// `(user_id, value)` pairs grouped by user, values kept in their order.
pub(super) fn grouped(pairs: Vec<(i64, String)>) -> HashMap<i64, Vec<String>> {
    let mut groups: HashMap<i64, Vec<String>> = HashMap::new();
    for (user_id, value) in pairs {
        groups.entry(user_id).or_default().push(value);
    }
    groups
}

/// User `id` with its roles and allowed tiers, if it exists.
pub(super) async fn load_user(
    conn: &mut SqliteConnection,
    id: i64,
) -> Result<Option<UserRecord>, StoreError> {
    let Some(row) = sqlx::query(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let roles = sqlx::query_scalar("SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role")
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
    let tiers = sqlx::query_scalar("SELECT tier FROM user_tiers WHERE user_id = $1 ORDER BY tier")
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
    user_from_row(&row, roles, tiers).map(Some)
}

/// User `id`, or `NotFound`.
pub(super) async fn require_user(
    conn: &mut SqliteConnection,
    id: i64,
) -> Result<UserRecord, StoreError> {
    load_user(conn, id).await?.ok_or_else(|| user_not_found(id))
}

/// `Ok` if user `id` exists, else `NotFound`.
pub(super) async fn require_user_exists(
    conn: &mut SqliteConnection,
    id: i64,
) -> Result<(), StoreError> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    found.map(|_| ()).ok_or_else(|| user_not_found(id))
}

/// `Ok` if tier `name` exists, else `NotFound` naming it.
pub(super) async fn require_tier(
    conn: &mut SqliteConnection,
    name: &str,
) -> Result<(), StoreError> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM tiers WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
    found
        .map(|_| ())
        .ok_or_else(|| StoreError::not_found(format!("tier {name:?}")))
}

/// Adds `roles` to user `id` (ignoring ones it already holds).
pub(super) async fn insert_roles(
    conn: &mut SqliteConnection,
    id: i64,
    roles: &[String],
) -> Result<(), StoreError> {
    for role in roles {
        sqlx::query(
            "INSERT INTO user_roles (user_id, role) VALUES ($1, $2) \
             ON CONFLICT (user_id, role) DO NOTHING",
        )
        .bind(id)
        .bind(role)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Adds allowed `tiers` to user `id`; `NotFound` naming the first tier that does not exist.
pub(super) async fn insert_tiers(
    conn: &mut SqliteConnection,
    id: i64,
    tiers: &[String],
) -> Result<(), StoreError> {
    for tier in tiers {
        require_tier(conn, tier).await?;
        sqlx::query(
            "INSERT INTO user_tiers (user_id, tier) VALUES ($1, $2) \
             ON CONFLICT (user_id, tier) DO NOTHING",
        )
        .bind(id)
        .bind(tier)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Sets user `id`'s `updated_at` to now and returns it.
pub(super) async fn touch_user(conn: &mut SqliteConnection, id: i64) -> Result<i64, StoreError> {
    let now = now_millis();
    sqlx::query("UPDATE users SET updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(now)
}

/// Number of enabled users holding the admin role.
pub(super) async fn count_active_admins(conn: &mut SqliteConnection) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM users u JOIN user_roles r ON r.user_id = u.id \
         WHERE r.role = $1 AND u.disabled = 0",
    )
    .bind(ADMIN_ROLE)
    .fetch_one(&mut *conn)
    .await?)
}

/// `Conflict` if `user` is an enabled admin and the only one, i.e. taking it out of the enabled
/// admins (`action`: "disable", "revoke the admin role from") would leave none. Must run in the
/// write transaction that then makes the change.
pub(super) async fn ensure_not_last_admin(
    conn: &mut SqliteConnection,
    user: &UserRecord,
    action: &str,
) -> Result<(), StoreError> {
    if user.disabled || !user.has_role(ADMIN_ROLE) {
        return Ok(());
    }
    if count_active_admins(conn).await? <= 1 {
        return Err(StoreError::conflict(format!(
            "cannot {action} user {} ({}): they are the last enabled admin",
            user.id, user.email
        )));
    }
    Ok(())
}

/// Reads a row selected with `user_columns!()`, given the user's sorted roles and tiers.
pub(super) fn user_from_row(
    row: &SqliteRow,
    roles: Vec<String>,
    allowed_tiers: Vec<String>,
) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        display_name: row.try_get("display_name")?,
        password_hash: row.try_get("password_hash")?,
        roles,
        allowed_tiers,
        disabled: row.try_get("disabled")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Reads a row selected with `session_columns!()`.
pub(super) fn session_from_row(row: &SqliteRow) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        id_hash: row.try_get("id_hash")?,
        user_id: row.try_get("user_id")?,
        csrf_token: row.try_get("csrf_token")?,
        created_at: row.try_get("created_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
        expires_at: row.try_get("expires_at")?,
        ip: row.try_get("ip")?,
        user_agent: row.try_get("user_agent")?,
    })
}

/// Reads a row selected with `tier_columns!()`.
pub(super) fn tier_from_row(row: &SqliteRow) -> Result<TierRecord, StoreError> {
    Ok(TierRecord {
        name: row.try_get("name")?,
        rate_per_minute: row.try_get("rate_per_minute")?,
        quota_per_day: row.try_get("quota_per_day")?,
        cpu_ms: row.try_get("cpu_ms")?,
        memory_mb: row.try_get("memory_mb")?,
        max_wasm_bytes: row.try_get("max_wasm_bytes")?,
        max_input_bytes: row.try_get("max_input_bytes")?,
        max_concurrent: row.try_get("max_concurrent")?,
    })
}

/// Reads a row selected with `api_key_columns!()`.
pub(super) fn api_key_from_row(row: &SqliteRow) -> Result<ApiKeyRecord, StoreError> {
    let scopes: String = row.try_get("scopes")?;
    Ok(ApiKeyRecord {
        id: row.try_get("id")?,
        prefix: row.try_get("prefix")?,
        hash: row.try_get("hash")?,
        user_id: row.try_get("user_id")?,
        name: row.try_get("name")?,
        tier: row.try_get("tier")?,
        scopes: scopes.split_whitespace().map(str::to_owned).collect(),
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}
