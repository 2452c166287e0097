//! The SQLite implementation of [`SecretStore`](crate::SecretStore): one row per secret in
//! `script_secrets` (migration 0006). A put is one `BEGIN IMMEDIATE` transaction that counts
//! the script's secrets before inserting, so the per-script cap holds under concurrent puts.

use async_trait::async_trait;
use sqlx::Row;

use super::SqliteStore;
use crate::{SealedSecret, SecretRecord, SecretStore, StoreError};

#[async_trait]
impl SecretStore for SqliteStore {
    async fn put_secret(
        &self,
        script: &str,
        name: &str,
        sealed: &SealedSecret,
        now: i64,
        max_per_script: u32,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM script_secrets WHERE script = $1 AND name = $2")
                .bind(script)
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_none() {
            let count: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM script_secrets WHERE script = $1")
                    .bind(script)
                    .fetch_one(&mut *tx)
                    .await?;
            if count >= i64::from(max_per_script) {
                return Err(StoreError::LimitExceeded {
                    message: format!(
                        "script {script:?} already has {count} secrets (at most {max_per_script})"
                    ),
                });
            }
        }
        sqlx::query(
            "INSERT INTO script_secrets (script, name, nonce, ciphertext, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (script, name) DO UPDATE SET \
               nonce = excluded.nonce, ciphertext = excluded.ciphertext, \
               updated_at = excluded.updated_at",
        )
        .bind(script)
        .bind(name)
        .bind(&sealed.nonce)
        .bind(&sealed.ciphertext)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(exists.is_none())
    }

    async fn list_secrets(&self, script: &str) -> Result<Vec<SecretRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT script, name, nonce, ciphertext, created_at, updated_at \
             FROM script_secrets WHERE script = $1 ORDER BY name",
        )
        .bind(script)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SecretRecord {
                    script: row.try_get("script")?,
                    name: row.try_get("name")?,
                    sealed: SealedSecret {
                        nonce: row.try_get("nonce")?,
                        ciphertext: row.try_get("ciphertext")?,
                    },
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            })
            .collect()
    }

    async fn delete_secret(&self, script: &str, name: &str) -> Result<bool, StoreError> {
        let deleted = sqlx::query("DELETE FROM script_secrets WHERE script = $1 AND name = $2")
            .bind(script)
            .bind(name)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(deleted > 0)
    }
}
