//! The SQLite implementation of [`KvStore`](crate::KvStore).
//!
//! Writes run in one `BEGIN IMMEDIATE` transaction that reads the entry being replaced and the
//! script's `kv_usage` row, checks the quota against the size difference, then writes both: the
//! usage row never drifts from the entries, and concurrent writers are serialised by SQLite's
//! write lock (so an increment is atomic).

use async_trait::async_trait;
use sqlx::{Sqlite, Transaction};

use super::SqliteStore;
use crate::kv::MAX_KV_LIST_LIMIT;
use crate::{KvLimits, KvNamespace, KvPage, KvStore, KvUsage, StoreError};

/// Size an entry counts toward the quota.
fn entry_bytes(key: &str, value: &str) -> i64 {
    i64::try_from(key.len() + value.len()).unwrap_or(i64::MAX)
}

/// The entry at `key` (value, expiry), live or not.
async fn current(
    tx: &mut Transaction<'static, Sqlite>,
    ns: &KvNamespace,
    key: &str,
) -> Result<Option<(String, Option<i64>)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT value, expires_at FROM kv_entries WHERE script = $1 AND scope = $2 AND key = $3",
    )
    .bind(&ns.script)
    .bind(&ns.scope)
    .bind(key)
    .fetch_optional(&mut **tx)
    .await?)
}

/// Writes `key` = `value` after checking `limits` against the change in size.
async fn write(
    tx: &mut Transaction<'static, Sqlite>,
    ns: &KvNamespace,
    key: &str,
    value: &str,
    expires_at: Option<i64>,
    now: i64,
    limits: KvLimits,
) -> Result<(), StoreError> {
    let old = current(tx, ns, key).await?;
    let (key_delta, byte_delta) = match &old {
        Some((old_value, _)) => (0, entry_bytes(key, value) - entry_bytes(key, old_value)),
        None => (1, entry_bytes(key, value)),
    };
    let (keys, bytes): (i64, i64) =
        sqlx::query_as("SELECT keys, bytes FROM kv_usage WHERE script = $1")
            .bind(&ns.script)
            .fetch_optional(&mut **tx)
            .await?
            .unwrap_or((0, 0));
    let max_keys = i64::try_from(limits.max_keys).unwrap_or(i64::MAX);
    let max_bytes = i64::try_from(limits.max_bytes).unwrap_or(i64::MAX);
    if key_delta > 0 && keys + key_delta > max_keys {
        return Err(StoreError::LimitExceeded {
            message: format!("the script's key/value storage is full ({keys} of {max_keys} keys)"),
        });
    }
    if byte_delta > 0 && bytes + byte_delta > max_bytes {
        return Err(StoreError::LimitExceeded {
            message: format!(
                "the script's key/value storage is full ({bytes} of {max_bytes} bytes used; this write needs {byte_delta} more)"
            ),
        });
    }
    sqlx::query(
        "INSERT INTO kv_entries (script, scope, key, value, expires_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (script, scope, key) DO UPDATE SET \
           value = excluded.value, expires_at = excluded.expires_at, updated_at = excluded.updated_at",
    )
    .bind(&ns.script)
    .bind(&ns.scope)
    .bind(key)
    .bind(value)
    .bind(expires_at)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO kv_usage (script, keys, bytes) VALUES ($1, $2, $3) \
         ON CONFLICT (script) DO UPDATE SET keys = keys + $2, bytes = bytes + $3",
    )
    .bind(&ns.script)
    .bind(key_delta)
    .bind(byte_delta)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn live(expires_at: Option<i64>, now: i64) -> bool {
    expires_at.is_none_or(|at| at > now)
}

#[async_trait]
impl KvStore for SqliteStore {
    async fn kv_get(
        &self,
        ns: &KvNamespace,
        keys: &[String],
        now: i64,
    ) -> Result<Vec<Option<String>>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        let mut conn = self.pool.acquire().await?;
        for key in keys {
            let row: Option<(String, Option<i64>)> = sqlx::query_as(
                "SELECT value, expires_at FROM kv_entries \
                 WHERE script = $1 AND scope = $2 AND key = $3",
            )
            .bind(&ns.script)
            .bind(&ns.scope)
            .bind(key)
            .fetch_optional(&mut *conn)
            .await?;
            out.push(row.filter(|(_, at)| live(*at, now)).map(|(value, _)| value));
        }
        Ok(out)
    }

    async fn kv_set(
        &self,
        ns: &KvNamespace,
        key: &str,
        value: &str,
        expires_at: Option<i64>,
        now: i64,
        limits: KvLimits,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        write(&mut tx, ns, key, value, expires_at, now, limits).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn kv_delete(&self, ns: &KvNamespace, key: &str, now: i64) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some((value, expires_at)) = current(&mut tx, ns, key).await? else {
            return Ok(false);
        };
        sqlx::query("DELETE FROM kv_entries WHERE script = $1 AND scope = $2 AND key = $3")
            .bind(&ns.script)
            .bind(&ns.scope)
            .bind(key)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE kv_usage SET keys = keys - 1, bytes = bytes - $2 WHERE script = $1")
            .bind(&ns.script)
            .bind(entry_bytes(key, &value))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(live(expires_at, now))
    }

    async fn kv_list(
        &self,
        ns: &KvNamespace,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
        now: i64,
    ) -> Result<KvPage, StoreError> {
        let limit = limit.clamp(1, MAX_KV_LIST_LIMIT);
        // Keys are compared as text (binary collation), so "starts with prefix" is the range
        // [prefix, prefix + U+10FFFF) — no LIKE, so `%` and `_` in a prefix are literal.
        let start = match after {
            Some(after) if after >= prefix => after.to_owned(),
            _ => prefix.to_owned(),
        };
        let inclusive = after.is_none_or(|a| a < prefix);
        let end = format!("{prefix}\u{10FFFF}");
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT key FROM kv_entries WHERE script = $1 AND scope = $2 \
             AND (key > $3 OR ($4 AND key = $3)) AND key < $5 \
             AND (expires_at IS NULL OR expires_at > $6) ORDER BY key LIMIT $7",
        )
        .bind(&ns.script)
        .bind(&ns.scope)
        .bind(&start)
        .bind(inclusive)
        .bind(&end)
        .bind(now)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let mut keys: Vec<String> = rows.into_iter().map(|(k,)| k).collect();
        let more = keys.len() > limit as usize;
        keys.truncate(limit as usize);
        let cursor = if more { keys.last().cloned() } else { None };
        Ok(KvPage { keys, cursor })
    }

    async fn kv_increment(
        &self,
        ns: &KvNamespace,
        key: &str,
        by: f64,
        now: i64,
        limits: KvLimits,
    ) -> Result<f64, StoreError> {
        let mut tx = self.begin_write().await?;
        let (base, expires_at) = match current(&mut tx, ns, key).await? {
            Some((value, expires_at)) if live(expires_at, now) => {
                let number = serde_json::from_str::<serde_json::Value>(&value)
                    .ok()
                    .and_then(|v| v.as_f64())
                    .ok_or_else(|| {
                        StoreError::conflict(format!("the value at '{key}' is not a number"))
                    })?;
                (number, expires_at)
            }
            _ => (0.0, None),
        };
        let next = base + by;
        let text = serde_json::Number::from_f64(next)
            .map(|n| {
                // Whole numbers are stored as integers (`3`, not `3.0`).
                if next.fract() == 0.0 && next.abs() < 9.007_199_254_740_992e15 {
                    (next as i64).to_string()
                } else {
                    n.to_string()
                }
            })
            .ok_or_else(|| StoreError::conflict("the result is not a finite number"))?;
        write(&mut tx, ns, key, &text, expires_at, now, limits).await?;
        tx.commit().await?;
        Ok(next)
    }

    async fn kv_sweep(&self, now: i64, limit: u32) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let expired: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT script, scope, key, value FROM kv_entries \
             WHERE expires_at IS NOT NULL AND expires_at <= $1 LIMIT $2",
        )
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        for (script, scope, key, value) in &expired {
            sqlx::query("DELETE FROM kv_entries WHERE script = $1 AND scope = $2 AND key = $3")
                .bind(script)
                .bind(scope)
                .bind(key)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE kv_usage SET keys = keys - 1, bytes = bytes - $2 WHERE script = $1",
            )
            .bind(script)
            .bind(entry_bytes(key, value))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(expired.len() as u64)
    }

    async fn kv_usage(&self, script: &str) -> Result<KvUsage, StoreError> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT keys, bytes FROM kv_usage WHERE script = $1")
                .bind(script)
                .fetch_optional(&self.pool)
                .await?;
        let (keys, bytes) = row.unwrap_or((0, 0));
        Ok(KvUsage {
            keys: u64::try_from(keys).unwrap_or(0),
            bytes: u64::try_from(bytes).unwrap_or(0),
        })
    }
}
