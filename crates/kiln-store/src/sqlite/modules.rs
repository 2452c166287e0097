//! The SQLite implementation of [`ModuleStore`](crate::ModuleStore).
//!
//! Bytes live in `module_contents` keyed by their SHA-256; `modules` rows point at them. The
//! garbage collection of contents is done by two triggers of migration 0003 (after a module
//! row is deleted — also by the cascade of a deleted user — or its hash replaced), so it always
//! runs inside the statement's own transaction. `put_module` runs in one `BEGIN IMMEDIATE`
//! transaction: reading whether the name exists, inserting the content if new and upserting the
//! module are atomic, and a concurrent reader sees either the old module or the new one.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use crate::modules::MAX_MODULE_DESCRIPTION_LEN;
use crate::{
    ModuleListQuery, ModulePage, ModuleRecord, ModuleStorage, ModuleStore, NewModule, PutModule,
    StoreError, check_module_name, module_hash, now_millis,
};

/// Columns of `modules`, read by [`module_from_row`].
macro_rules! module_columns {
    () => {
        "id, owner_id, name, description, hash, size_bytes, created_at, updated_at, \
         execution_count, last_executed_at"
    };
}

#[async_trait]
impl ModuleStore for SqliteStore {
    async fn put_module(&self, module: NewModule<'_>) -> Result<PutModule, StoreError> {
        check_module_name(module.name)?;
        if module
            .description
            .is_some_and(|d| d.len() > MAX_MODULE_DESCRIPTION_LEN)
        {
            return Err(StoreError::invalid(
                format!("description of module {:?}", module.name),
                format!("it is longer than {MAX_MODULE_DESCRIPTION_LEN} bytes"),
            ));
        }
        let hash = module_hash(module.bytes);
        let size = i64::try_from(module.bytes.len()).unwrap_or(i64::MAX);
        let now = now_millis();
        let mut tx = self.begin_write().await?;

        let owner: Option<i64> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = $1")
            .bind(module.owner_id)
            .fetch_optional(&mut *tx)
            .await?;
        if owner.is_none() {
            return Err(StoreError::not_found(format!("user {}", module.owner_id)));
        }
        let existing: Option<i64> =
            sqlx::query_scalar("SELECT id FROM modules WHERE owner_id = $1 AND name = $2")
                .bind(module.owner_id)
                .bind(module.name)
                .fetch_optional(&mut *tx)
                .await?;
        let stored: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM module_contents WHERE hash = $1")
                .bind(&hash)
                .fetch_optional(&mut *tx)
                .await?;
        if stored.is_none() {
            sqlx::query(
                "INSERT INTO module_contents (hash, bytes, size_bytes, created_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(&hash)
            .bind(module.bytes)
            .bind(size)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        // `NULLIF`: an empty description clears it; `COALESCE`: no description keeps the old.
        let row = sqlx::query(concat!(
            "INSERT INTO modules (owner_id, name, description, hash, size_bytes, created_at, \
             updated_at) VALUES ($1, $2, NULLIF($3, ''), $4, $5, $6, $6) \
             ON CONFLICT (owner_id, name) DO UPDATE SET \
             description = CASE WHEN $3 IS NULL THEN modules.description \
                                ELSE excluded.description END, \
             hash = excluded.hash, size_bytes = excluded.size_bytes, \
             updated_at = excluded.updated_at \
             RETURNING ",
            module_columns!()
        ))
        .bind(module.owner_id)
        .bind(module.name)
        .bind(module.description)
        .bind(&hash)
        .bind(size)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let record = module_from_row(&row)?;
        tx.commit().await?;
        Ok(PutModule {
            module: record,
            created: existing.is_none(),
        })
    }

    async fn get_module(
        &self,
        owner_id: i64,
        name: &str,
    ) -> Result<Option<ModuleRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            module_columns!(),
            " FROM modules WHERE owner_id = $1 AND name = $2"
        ))
        .bind(owner_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(module_from_row).transpose()
    }

    async fn get_module_with_bytes(
        &self,
        owner_id: i64,
        name: &str,
    ) -> Result<Option<(ModuleRecord, Vec<u8>)>, StoreError> {
        // One statement: the module and its bytes come from the same snapshot.
        let row = sqlx::query(
            "SELECT m.id, m.owner_id, m.name, m.description, m.hash, m.size_bytes, \
             m.created_at, m.updated_at, m.execution_count, m.last_executed_at, c.bytes \
             FROM modules m JOIN module_contents c ON c.hash = m.hash \
             WHERE m.owner_id = $1 AND m.name = $2",
        )
        .bind(owner_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => Ok(Some((module_from_row(&row)?, row.try_get("bytes")?))),
            None => Ok(None),
        }
    }

    async fn list_modules(
        &self,
        owner_id: i64,
        query: &ModuleListQuery,
    ) -> Result<ModulePage, StoreError> {
        let limit = query.effective_limit();
        // One row more than the page: whether it exists says if there is a next page.
        let rows = sqlx::query(concat!(
            "SELECT ",
            module_columns!(),
            " FROM modules WHERE owner_id = $1 AND ($2 IS NULL OR name > $2) \
             ORDER BY name LIMIT $3"
        ))
        .bind(owner_id)
        .bind(query.after.as_deref())
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let mut modules = rows
            .iter()
            .map(module_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let more = modules.len() > limit as usize;
        modules.truncate(limit as usize);
        let next_cursor = more
            .then(|| modules.last().map(|m| m.name.clone()))
            .flatten();
        Ok(ModulePage {
            modules,
            next_cursor,
        })
    }

    async fn delete_module(&self, owner_id: i64, name: &str) -> Result<bool, StoreError> {
        // The content row goes with the module (trigger), in this statement's transaction.
        let deleted = sqlx::query("DELETE FROM modules WHERE owner_id = $1 AND name = $2")
            .bind(owner_id)
            .bind(name)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(deleted > 0)
    }

    async fn record_module_execution(
        &self,
        owner_id: i64,
        name: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE modules SET execution_count = execution_count + 1, \
             last_executed_at = MAX(COALESCE(last_executed_at, $3), $3) \
             WHERE owner_id = $1 AND name = $2",
        )
        .bind(owner_id)
        .bind(name)
        .bind(at)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(updated > 0)
    }

    async fn module_storage(&self) -> Result<ModuleStorage, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM modules) AS modules, \
             COUNT(*) AS contents, COALESCE(SUM(size_bytes), 0) AS content_bytes \
             FROM module_contents",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(ModuleStorage {
            modules: row.try_get("modules")?,
            contents: row.try_get("contents")?,
            content_bytes: row.try_get("content_bytes")?,
        })
    }
}

/// Reads a row selected with `module_columns!()`.
fn module_from_row(row: &SqliteRow) -> Result<ModuleRecord, StoreError> {
    Ok(ModuleRecord {
        id: row.try_get("id")?,
        owner_id: row.try_get("owner_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        hash: row.try_get("hash")?,
        size_bytes: row.try_get("size_bytes")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        execution_count: row.try_get("execution_count")?,
        last_executed_at: row.try_get("last_executed_at")?,
    })
}
