//! The SQLite implementation of [`MeteringStore`](crate::MeteringStore).
//!
//! Usage buckets are computed in SQL (`GROUP BY` bucket start and error class) and folded into
//! [`UsageBucket`]s here; bucket starts are aligned to the period since the unix epoch, which is
//! UTC midnight, so hourly and daily buckets are UTC hours and days.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};

use super::SqliteStore;
use crate::{
    AuditQuery, AuditRecord, MeteringStore, NewAuditEvent, StoreError, UsageBucket, UsageEvent,
    UsageQuery,
};

/// Columns of `audit_log`, read by [`audit_from_row`].
macro_rules! audit_columns {
    () => {
        "id, time, actor_user_id, actor, action, target, ip, detail"
    };
}

/// Usage events per `INSERT` statement: 15 parameters each, so a statement stays under the
/// 999 bound parameters of SQLite builds older than 3.32.
const USAGE_ROWS_PER_INSERT: usize = 64;

/// The error class of successful calls.
const SUCCESS_CLASS: &str = "success";

/// The error class of calls refused by a rate limit or quota.
const RATE_LIMITED_CLASS: &str = "rate_limited";

#[async_trait]
impl MeteringStore for SqliteStore {
    async fn append_usage(&self, events: &[UsageEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        // Multi-row INSERTs: every statement is a round trip to sqlx's SQLite thread, which cost
        // more than the insert itself when each event had its own.
        let mut tx = self.begin_write().await?;
        for chunk in events.chunks(USAGE_ROWS_PER_INSERT) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO usage_events (time, key_id, user_id, script, kind, route, status, \
                 duration_ms, cpu_ms, bytes_in, bytes_out, error_class, module_bytes, \
                 input_bytes, memory_peak_bytes) ",
            );
            insert.push_values(chunk, |mut row, event| {
                row.push_bind(event.time)
                    .push_bind(event.key_id)
                    .push_bind(event.user_id)
                    .push_bind(event.script.as_deref())
                    .push_bind(&event.kind)
                    .push_bind(event.route.as_deref())
                    .push_bind(event.status)
                    .push_bind(event.duration_ms)
                    .push_bind(event.cpu_ms)
                    .push_bind(event.bytes_in)
                    .push_bind(event.bytes_out)
                    .push_bind(&event.error_class)
                    .push_bind(event.module_bytes)
                    .push_bind(event.input_bytes)
                    .push_bind(event.memory_peak_bytes);
            });
            insert.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn usage_summary(&self, query: &UsageQuery) -> Result<Vec<UsageBucket>, StoreError> {
        // A compile-time constant, not input: safe to inline. The double modulo floors negative
        // times too (SQL `%` truncates towards zero).
        let period = query.period.millis();
        let mut sql = QueryBuilder::<Sqlite>::new(format!(
            "SELECT time - (((time % {period}) + {period}) % {period}) AS bucket, error_class, \
             COUNT(*) AS calls, SUM(cpu_ms) AS cpu_ms, SUM(duration_ms) AS duration_ms, \
             SUM(bytes_in) AS bytes_in, SUM(bytes_out) AS bytes_out, \
             COALESCE(SUM(module_bytes), 0) AS module_bytes, \
             COALESCE(SUM(input_bytes), 0) AS input_bytes, \
             COALESCE(MAX(memory_peak_bytes), 0) AS memory_peak_bytes FROM usage_events"
        ));
        let mut separator = " WHERE ";
        let mut filter = |sql: &mut QueryBuilder<Sqlite>, condition: &str| {
            sql.push(separator).push(condition);
            separator = " AND ";
        };
        if let Some(key_id) = query.key_id {
            filter(&mut sql, "key_id = ");
            sql.push_bind(key_id);
        }
        if let Some(user_id) = query.user_id {
            filter(&mut sql, "user_id = ");
            sql.push_bind(user_id);
        }
        if let Some(script) = &query.script {
            filter(&mut sql, "script = ");
            sql.push_bind(script.as_str());
        }
        if let Some(since) = query.since {
            filter(&mut sql, "time >= ");
            sql.push_bind(since);
        }
        if let Some(until) = query.until {
            filter(&mut sql, "time < ");
            sql.push_bind(until);
        }
        sql.push(" GROUP BY bucket, error_class ORDER BY bucket, error_class");
        let rows = sql.build().fetch_all(&self.pool).await?;

        let mut buckets: Vec<UsageBucket> = Vec::new();
        for row in &rows {
            let start: i64 = row.try_get("bucket")?;
            if buckets.last().is_none_or(|b| b.start != start) {
                buckets.push(empty_bucket(start));
            }
            if let Some(bucket) = buckets.last_mut() {
                add_class_row(bucket, row)?;
            }
        }
        Ok(buckets)
    }

    async fn count_key_usage(&self, key_id: i64, since: i64) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM usage_events \
             WHERE key_id = $1 AND time >= $2 AND error_class <> $3",
        )
        .bind(key_id)
        .bind(since)
        .bind(RATE_LIMITED_CLASS)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn prune_usage(&self, before: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM usage_events WHERE time < $1")
            .bind(before)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    async fn append_audit(&self, event: &NewAuditEvent) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO audit_log (time, actor_user_id, actor, action, target, ip, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(event.time)
        .bind(event.actor_user_id)
        .bind(&event.actor)
        .bind(&event.action)
        .bind(event.target.as_deref())
        .bind(event.ip.as_deref())
        .bind(event.detail.to_string())
        .fetch_one(&self.pool)
        .await?)
    }

    async fn query_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let mut sql =
            QueryBuilder::<Sqlite>::new(concat!("SELECT ", audit_columns!(), " FROM audit_log"));
        let mut separator = " WHERE ";
        let mut filter = |sql: &mut QueryBuilder<Sqlite>, condition: &str| {
            sql.push(separator).push(condition);
            separator = " AND ";
        };
        if let Some(action) = &query.action {
            filter(&mut sql, "action = ");
            sql.push_bind(action.as_str());
        }
        if let Some(actor_user_id) = query.actor_user_id {
            filter(&mut sql, "actor_user_id = ");
            sql.push_bind(actor_user_id);
        }
        if let Some(since) = query.since {
            filter(&mut sql, "time >= ");
            sql.push_bind(since);
        }
        if let Some(before_id) = query.before_id {
            filter(&mut sql, "id < ");
            sql.push_bind(before_id);
        }
        sql.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(query.effective_limit()));
        let rows = sql.build().fetch_all(&self.pool).await?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn prune_audit(&self, before: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM audit_log WHERE time < $1")
            .bind(before)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}

/// A bucket starting at `start` with nothing counted yet.
fn empty_bucket(start: i64) -> UsageBucket {
    UsageBucket {
        start,
        requests: 0,
        errors: 0,
        rate_limited: 0,
        cpu_ms: 0,
        duration_ms: 0,
        bytes_in: 0,
        bytes_out: 0,
        module_bytes: 0,
        input_bytes: 0,
        max_memory_peak_bytes: 0,
        by_class: Vec::new(),
    }
}

/// Adds one `(bucket, error_class)` group of the summary query to `bucket`. Groups arrive sorted
/// by class, so `by_class` stays sorted.
fn add_class_row(bucket: &mut UsageBucket, row: &SqliteRow) -> Result<(), StoreError> {
    let class: String = row.try_get("error_class")?;
    let calls: i64 = row.try_get("calls")?;
    bucket.requests = bucket.requests.saturating_add(calls);
    if class != SUCCESS_CLASS {
        bucket.errors = bucket.errors.saturating_add(calls);
    }
    if class == RATE_LIMITED_CLASS {
        bucket.rate_limited = bucket.rate_limited.saturating_add(calls);
    }
    bucket.cpu_ms = bucket.cpu_ms.saturating_add(row.try_get("cpu_ms")?);
    bucket.duration_ms = bucket
        .duration_ms
        .saturating_add(row.try_get("duration_ms")?);
    bucket.bytes_in = bucket.bytes_in.saturating_add(row.try_get("bytes_in")?);
    bucket.bytes_out = bucket.bytes_out.saturating_add(row.try_get("bytes_out")?);
    bucket.module_bytes = bucket
        .module_bytes
        .saturating_add(row.try_get("module_bytes")?);
    bucket.input_bytes = bucket
        .input_bytes
        .saturating_add(row.try_get("input_bytes")?);
    bucket.max_memory_peak_bytes = bucket
        .max_memory_peak_bytes
        .max(row.try_get("memory_peak_bytes")?);
    bucket.by_class.push((class, calls));
    Ok(())
}

/// Reads a row selected with `audit_columns!()`.
fn audit_from_row(row: &SqliteRow) -> Result<AuditRecord, StoreError> {
    let id: i64 = row.try_get("id")?;
    let detail: String = row.try_get("detail")?;
    let detail = serde_json::from_str(&detail).map_err(|err| StoreError::Corrupt {
        what: format!("detail of audit event {id}"),
        message: err.to_string(),
    })?;
    Ok(AuditRecord {
        id,
        event: NewAuditEvent {
            time: row.try_get("time")?,
            actor_user_id: row.try_get("actor_user_id")?,
            actor: row.try_get("actor")?,
            action: row.try_get("action")?,
            target: row.try_get("target")?,
            ip: row.try_get("ip")?,
            detail,
        },
    })
}
