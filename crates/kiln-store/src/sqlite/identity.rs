//! The SQLite implementation of [`IdentityStore`](crate::IdentityStore).
//!
//! Methods that check before they write (the last-admin rule, key creation checking its user
//! and tier, deleting a tier only while no key uses it…) run in one `BEGIN IMMEDIATE`
//! transaction: SQLite's single write lock makes the check and the change atomic, so two
//! concurrent revocations cannot both see "another admin is left".
//!
//! Emails are lowercased here (Unicode-aware `to_lowercase`) both when stored and when looked
//! up, so the `UNIQUE` constraint on the stored form is case-insensitive.

use async_trait::async_trait;
use sqlx::Row;

use super::SqliteStore;
use crate::{
    ADMIN_ROLE, ApiKeyRecord, IdentityStore, NewApiKey, NewUser, SessionRecord, StoreError,
    TierRecord, UserRecord, now_millis,
};
use rows::*;

/// Columns of `users`, read by [`user_from_row`].
macro_rules! user_columns {
    () => {
        "id, email, display_name, password_hash, disabled, created_at, updated_at"
    };
}

/// Columns of `sessions`, read by [`session_from_row`].
macro_rules! session_columns {
    () => {
        "id_hash, user_id, csrf_token, created_at, last_seen_at, expires_at, ip, user_agent"
    };
}

/// Columns of `tiers` (without the bookkeeping timestamps), read by [`tier_from_row`].
macro_rules! tier_columns {
    () => {
        "name, rate_per_minute, quota_per_day, cpu_ms, memory_mb, max_wasm_bytes, \
         max_input_bytes, max_concurrent"
    };
}

/// Columns of `api_keys`, read by [`api_key_from_row`].
macro_rules! api_key_columns {
    () => {
        "id, prefix, hash, user_id, name, tier, scopes, created_at, expires_at, revoked_at, \
         last_used_at"
    };
}

#[async_trait]
impl IdentityStore for SqliteStore {
    async fn create_user(&self, user: &NewUser) -> Result<UserRecord, StoreError> {
        let email = normalize_email(&user.email);
        let roles = sorted_unique(&user.roles);
        let allowed_tiers = sorted_unique(&user.allowed_tiers);
        let now = now_millis();
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (email, display_name, password_hash, disabled, created_at, \
             updated_at) VALUES ($1, $2, $3, 0, $4, $4) RETURNING id",
        )
        .bind(&email)
        .bind(user.display_name.as_deref())
        .bind(user.password_hash.as_deref())
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|err| {
            if is_unique_violation(&err) {
                StoreError::conflict(format!("email {email:?} is already in use"))
            } else {
                StoreError::from(err)
            }
        })?;
        insert_roles(&mut tx, id, &roles).await?;
        insert_tiers(&mut tx, id, &allowed_tiers).await?;
        tx.commit().await?;
        Ok(UserRecord {
            id,
            email,
            display_name: user.display_name.clone(),
            password_hash: user.password_hash.clone(),
            roles,
            allowed_tiers,
            disabled: false,
            created_at: now,
            updated_at: now,
        })
    }

    async fn get_user(&self, id: i64) -> Result<Option<UserRecord>, StoreError> {
        // A read transaction, so that the user, roles and tiers come from one snapshot.
        let mut tx = self.pool.begin().await?;
        let user = load_user(&mut tx, id).await?;
        tx.commit().await?;
        Ok(user)
    }

    async fn get_user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
            .bind(normalize_email(email))
            .fetch_optional(&mut *tx)
            .await?;
        let user = match id {
            Some(id) => load_user(&mut tx, id).await?,
            None => None,
        };
        tx.commit().await?;
        Ok(user)
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let user_rows = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users ORDER BY id"
        ))
        .fetch_all(&mut *tx)
        .await?;
        let mut roles = grouped(
            sqlx::query_as("SELECT user_id, role FROM user_roles ORDER BY user_id, role")
                .fetch_all(&mut *tx)
                .await?,
        );
        let mut tiers = grouped(
            sqlx::query_as("SELECT user_id, tier FROM user_tiers ORDER BY user_id, tier")
                .fetch_all(&mut *tx)
                .await?,
        );
        tx.commit().await?;
        user_rows
            .iter()
            .map(|row| {
                let id: i64 = row.try_get("id")?;
                user_from_row(
                    row,
                    roles.remove(&id).unwrap_or_default(),
                    tiers.remove(&id).unwrap_or_default(),
                )
            })
            .collect()
    }

    async fn count_users(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?)
    }

    async fn count_active_admins(&self) -> Result<i64, StoreError> {
        let mut conn = self.pool.acquire().await?;
        count_active_admins(&mut conn).await
    }

    async fn set_password_hash(&self, user_id: i64, hash: Option<&str>) -> Result<(), StoreError> {
        let updated =
            sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
                .bind(hash)
                .bind(now_millis())
                .bind(user_id)
                .execute(&self.pool)
                .await?
                .rows_affected();
        if updated == 0 {
            return Err(user_not_found(user_id));
        }
        Ok(())
    }

    async fn grant_role(&self, user_id: i64, role: &str) -> Result<UserRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut user = require_user(&mut tx, user_id).await?;
        if !user.has_role(role) {
            insert_roles(&mut tx, user_id, &[role.to_owned()]).await?;
            user.updated_at = touch_user(&mut tx, user_id).await?;
            user.roles.push(role.to_owned());
            user.roles.sort_unstable();
        }
        tx.commit().await?;
        Ok(user)
    }

    async fn revoke_role(&self, user_id: i64, role: &str) -> Result<UserRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut user = require_user(&mut tx, user_id).await?;
        if user.has_role(role) {
            if role == ADMIN_ROLE {
                ensure_not_last_admin(&mut tx, &user, "revoke the admin role from").await?;
            }
            sqlx::query("DELETE FROM user_roles WHERE user_id = $1 AND role = $2")
                .bind(user_id)
                .bind(role)
                .execute(&mut *tx)
                .await?;
            user.updated_at = touch_user(&mut tx, user_id).await?;
            user.roles.retain(|r| r != role);
        }
        tx.commit().await?;
        Ok(user)
    }

    async fn set_user_disabled(
        &self,
        user_id: i64,
        disabled: bool,
    ) -> Result<UserRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut user = require_user(&mut tx, user_id).await?;
        if user.disabled != disabled {
            if disabled {
                ensure_not_last_admin(&mut tx, &user, "disable").await?;
            }
            let now = now_millis();
            sqlx::query("UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3")
                .bind(disabled)
                .bind(now)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            user.disabled = disabled;
            user.updated_at = now;
        }
        if disabled {
            // Also when already disabled: a session must never outlive the disabling.
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(user)
    }

    async fn set_allowed_tiers(
        &self,
        user_id: i64,
        tiers: &[String],
    ) -> Result<UserRecord, StoreError> {
        let tiers = sorted_unique(tiers);
        let mut tx = self.begin_write().await?;
        let mut user = require_user(&mut tx, user_id).await?;
        if user.allowed_tiers != tiers {
            sqlx::query("DELETE FROM user_tiers WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            insert_tiers(&mut tx, user_id, &tiers).await?;
            user.updated_at = touch_user(&mut tx, user_id).await?;
            user.allowed_tiers = tiers;
        }
        tx.commit().await?;
        Ok(user)
    }

    async fn find_user_by_identity(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let user_id: Option<i64> = sqlx::query_scalar(
            "SELECT user_id FROM user_identities WHERE issuer = $1 AND subject = $2",
        )
        .bind(issuer)
        .bind(subject)
        .fetch_optional(&mut *tx)
        .await?;
        let user = match user_id {
            Some(id) => load_user(&mut tx, id).await?,
            None => None,
        };
        tx.commit().await?;
        Ok(user)
    }

    async fn link_identity(
        &self,
        issuer: &str,
        subject: &str,
        user_id: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        require_user_exists(&mut tx, user_id).await?;
        let linked: Option<i64> = sqlx::query_scalar(
            "SELECT user_id FROM user_identities WHERE issuer = $1 AND subject = $2",
        )
        .bind(issuer)
        .bind(subject)
        .fetch_optional(&mut *tx)
        .await?;
        match linked {
            Some(existing) if existing == user_id => {}
            Some(existing) => {
                return Err(StoreError::conflict(format!(
                    "identity {subject:?} of issuer {issuer:?} is already linked to user \
                     {existing}"
                )));
            }
            None => {
                sqlx::query(
                    "INSERT INTO user_identities (issuer, subject, user_id, created_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(issuer)
                .bind(subject)
                .bind(user_id)
                .bind(now_millis())
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn create_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        sqlx::query(concat!(
            "INSERT INTO sessions (",
            session_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(&session.id_hash)
        .bind(session.user_id)
        .bind(&session.csrf_token)
        .bind(session.created_at)
        .bind(session.last_seen_at)
        .bind(session.expires_at)
        .bind(session.ip.as_deref())
        .bind(session.user_agent.as_deref())
        .execute(&self.pool)
        .await
        .map_err(|err| {
            if is_foreign_key_violation(&err) {
                user_not_found(session.user_id)
            } else if is_unique_violation(&err) {
                StoreError::conflict("a session with this token hash already exists")
            } else {
                StoreError::from(err)
            }
        })?;
        Ok(())
    }

    async fn get_session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE id_hash = $1"
        ))
        .bind(id_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn touch_session(&self, id_hash: &str, now: i64) -> Result<(), StoreError> {
        // MAX: a late, out-of-order touch never moves activity backwards.
        sqlx::query("UPDATE sessions SET last_seen_at = MAX(last_seen_at, $1) WHERE id_hash = $2")
            .bind(now)
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        let deleted = sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(deleted > 0)
    }

    async fn delete_user_sessions(&self, user_id: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    async fn prune_sessions(&self, now: i64, idle_before: i64) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at < $2")
                .bind(now)
                .bind(idle_before)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    async fn add_script_owner(&self, script: &str, user_id: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO script_owners (script, user_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (script, user_id) DO NOTHING",
        )
        .bind(script)
        .bind(user_id)
        .bind(now_millis())
        .execute(&self.pool)
        .await
        .map_err(|err| {
            if is_foreign_key_violation(&err) {
                user_not_found(user_id)
            } else {
                StoreError::from(err)
            }
        })?;
        Ok(())
    }

    async fn remove_script_owner(&self, script: &str, user_id: i64) -> Result<bool, StoreError> {
        let deleted = sqlx::query("DELETE FROM script_owners WHERE script = $1 AND user_id = $2")
            .bind(script)
            .bind(user_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(deleted > 0)
    }

    async fn script_owners(&self, script: &str) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT user_id FROM script_owners WHERE script = $1 ORDER BY user_id",
        )
        .bind(script)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn owned_scripts(&self, user_id: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT script FROM script_owners WHERE user_id = $1 ORDER BY script",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn list_tiers(&self) -> Result<Vec<TierRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            tier_columns!(),
            " FROM tiers ORDER BY name"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(tier_from_row).collect()
    }

    async fn get_tier(&self, name: &str) -> Result<Option<TierRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            tier_columns!(),
            " FROM tiers WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(tier_from_row).transpose()
    }

    async fn upsert_tier(&self, tier: &TierRecord) -> Result<(), StoreError> {
        sqlx::query(concat!(
            "INSERT INTO tiers (",
            tier_columns!(),
            ", created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
             ON CONFLICT (name) DO UPDATE SET \
             rate_per_minute = excluded.rate_per_minute, \
             quota_per_day = excluded.quota_per_day, \
             cpu_ms = excluded.cpu_ms, \
             memory_mb = excluded.memory_mb, \
             max_wasm_bytes = excluded.max_wasm_bytes, \
             max_input_bytes = excluded.max_input_bytes, \
             max_concurrent = excluded.max_concurrent, \
             updated_at = excluded.updated_at"
        ))
        .bind(&tier.name)
        .bind(tier.rate_per_minute)
        .bind(tier.quota_per_day)
        .bind(tier.cpu_ms)
        .bind(tier.memory_mb)
        .bind(tier.max_wasm_bytes)
        .bind(tier.max_input_bytes)
        .bind(tier.max_concurrent)
        .bind(now_millis())
        .execute(&self.pool)
        .await
        .map_err(|err| {
            if is_check_violation(&err) {
                StoreError::conflict(format!(
                    "invalid limits for tier {:?}: rate and quota must be >= 0 (0 = unlimited), \
                     every other limit > 0",
                    tier.name
                ))
            } else {
                StoreError::from(err)
            }
        })?;
        Ok(())
    }

    async fn delete_tier(&self, name: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let keys: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_keys WHERE tier = $1")
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
        if keys > 0 {
            return Err(StoreError::conflict(format!(
                "tier {name:?} is used by {keys} API key(s); move them to another tier first"
            )));
        }
        // Users' allowed tiers go by `ON DELETE CASCADE`.
        let deleted = sqlx::query("DELETE FROM tiers WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted > 0)
    }

    async fn create_api_key(&self, key: &NewApiKey) -> Result<ApiKeyRecord, StoreError> {
        let scopes = encode_scopes(&key.scopes)?;
        let mut tx = self.begin_write().await?;
        require_user_exists(&mut tx, key.user_id).await?;
        require_tier(&mut tx, &key.tier).await?;
        let row = sqlx::query(concat!(
            "INSERT INTO api_keys (prefix, hash, user_id, name, tier, scopes, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ",
            api_key_columns!()
        ))
        .bind(&key.prefix)
        .bind(&key.hash)
        .bind(key.user_id)
        .bind(&key.name)
        .bind(&key.tier)
        .bind(scopes)
        .bind(now_millis())
        .bind(key.expires_at)
        .fetch_one(&mut *tx)
        .await
        .map_err(|err| {
            if is_unique_violation(&err) {
                StoreError::conflict("an API key with this hash already exists")
            } else {
                StoreError::from(err)
            }
        })?;
        let record = api_key_from_row(&row)?;
        tx.commit().await?;
        Ok(record)
    }

    async fn api_keys_by_prefix(&self, prefix: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            api_key_columns!(),
            " FROM api_keys WHERE prefix = $1 ORDER BY id"
        ))
        .bind(prefix)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(api_key_from_row).collect()
    }

    async fn get_api_key(&self, id: i64) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            api_key_columns!(),
            " FROM api_keys WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(api_key_from_row).transpose()
    }

    async fn list_api_keys(&self, user_id: Option<i64>) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let rows = match user_id {
            Some(user_id) => {
                sqlx::query(concat!(
                    "SELECT ",
                    api_key_columns!(),
                    " FROM api_keys WHERE user_id = $1 ORDER BY id"
                ))
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(concat!(
                    "SELECT ",
                    api_key_columns!(),
                    " FROM api_keys ORDER BY id"
                ))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(api_key_from_row).collect()
    }

    async fn revoke_api_key(&self, id: i64, now: i64) -> Result<ApiKeyRecord, StoreError> {
        // COALESCE keeps the first revocation time.
        let row = sqlx::query(concat!(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 RETURNING ",
            api_key_columns!()
        ))
        .bind(now)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => api_key_from_row(&row),
            None => Err(api_key_not_found(id)),
        }
    }

    async fn set_api_key_tier(&self, id: i64, tier: &str) -> Result<ApiKeyRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM api_keys WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(api_key_not_found(id));
        }
        require_tier(&mut tx, tier).await?;
        let row = sqlx::query(concat!(
            "UPDATE api_keys SET tier = $1 WHERE id = $2 RETURNING ",
            api_key_columns!()
        ))
        .bind(tier)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let record = api_key_from_row(&row)?;
        tx.commit().await?;
        Ok(record)
    }

    async fn touch_api_keys(&self, uses: &[(i64, i64)]) -> Result<(), StoreError> {
        if uses.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for &(id, used_at) in uses {
            // Scalar MAX is NULL if either argument is, hence the COALESCE.
            sqlx::query(
                "UPDATE api_keys SET last_used_at = MAX(COALESCE(last_used_at, $1), $1) \
                 WHERE id = $2",
            )
            .bind(used_at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

mod rows;
