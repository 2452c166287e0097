//! [`SqliteStore`], the default [`Store`] backend: one SQLite file under the data directory,
//! opened as a sqlx pool in WAL mode with foreign keys on, and migrated at start-up from the
//! forward-only SQL files embedded from `migrations/sqlite/`.
//!
//! Writers that read before they write (`create_version`, `delete_script`, `append_logs`) start
//! with `BEGIN IMMEDIATE`, taking SQLite's single write lock up front: concurrent deploys then
//! queue on the busy timeout instead of failing with `SQLITE_BUSY` when a read snapshot turns
//! out to be stale. The identity methods that enforce an invariant by reading first (never zero
//! enabled admins, no tier deleted while keys use it) do the same, in `sqlite/identity.rs`;
//! stored WebAssembly modules are in `sqlite/modules.rs`.

mod identity;
mod kv;
mod metering;
mod modules;
mod secrets;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool, Transaction};

use crate::{
    BundleFile, LogLevel, LogQuery, LogRecord, NewLog, ScriptRecord, Store, StoreError,
    VersionRecord, now_millis,
};

/// The schema migrations, embedded at compile time.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a statement waits for another connection's write lock before failing with
/// `SQLITE_BUSY`; bounds how long a burst of concurrent deploys or log flushes can queue.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Most pooled connections. SQLite serialises writers anyway; this bounds concurrent readers
/// (and open file handles).
pub const MAX_CONNECTIONS: u32 = 8;

/// Columns of `scripts`, in the order [`script_from_row`] reads them by name.
macro_rules! script_columns {
    () => {
        "name, active_version, latest_version, created_at, updated_at"
    };
}

/// Columns of `script_versions`, read by [`version_from_row`].
macro_rules! version_columns {
    () => {
        "script, version, created_at, entry, size_bytes, file_count, meta"
    };
}

/// Columns of `script_logs`, read by [`log_from_row`].
macro_rules! log_columns {
    () => {
        "id, script, version, level, message, request_id, time"
    };
}

/// A [`Store`] backed by one SQLite database file. Cheap to clone (shares the pool).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    /// Connection pool; every method borrows a connection for one statement or transaction.
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing, along with its parent directory) the database at `path` and
    /// applies any pending migrations.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|source| StoreError::Io {
                    path: parent.to_path_buf(),
                    source,
                })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        tracing::debug!(path = %path.display(), "opened SQLite store");
        Ok(SqliteStore { pool })
    }

    /// Closes the pool, waiting for borrowed connections to be returned. Later calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Begins a transaction holding the write lock from its first statement.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Whether `script` exists.
    async fn script_exists(&self, script: &str) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM scripts WHERE name = $1")
            .bind(script)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    /// Whether version `version` of `script` exists.
    async fn version_exists(&self, script: &str, version: i64) -> Result<bool, StoreError> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM script_versions WHERE script = $1 AND version = $2")
                .bind(script)
                .bind(version)
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn create_version(
        &self,
        script: &str,
        entry: &str,
        files: &[BundleFile],
        meta: serde_json::Value,
        activate: bool,
    ) -> Result<VersionRecord, StoreError> {
        let now = now_millis();
        let size_bytes = files
            .iter()
            .fold(0_i64, |sum, f| sum.saturating_add(len_i64(f.content.len())));
        let mut tx = self.begin_write().await?;

        // Creates the script or bumps its counter; the write lock makes this the allocation.
        let version: i64 = sqlx::query_scalar(
            "INSERT INTO scripts (name, active_version, latest_version, created_at, updated_at) \
             VALUES ($1, 0, 1, $2, $2) \
             ON CONFLICT (name) DO UPDATE \
             SET latest_version = scripts.latest_version + 1, updated_at = excluded.updated_at \
             RETURNING latest_version",
        )
        .bind(script)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;

        sqlx::query(
            "INSERT INTO script_versions \
             (script, version, created_at, entry, size_bytes, file_count, meta) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(script)
        .bind(version)
        .bind(now)
        .bind(entry)
        .bind(size_bytes)
        .bind(len_i64(files.len()))
        .bind(meta.to_string())
        .execute(&mut *tx)
        .await?;

        for file in files {
            sqlx::query(
                "INSERT INTO version_files (script, version, path, content) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(script)
            .bind(version)
            .bind(&file.path)
            .bind(&file.content)
            .execute(&mut *tx)
            .await
            .map_err(|err| match &err {
                sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::conflict(
                    format!("bundle has more than one file at path {:?}", file.path),
                ),
                _ => StoreError::from(err),
            })?;
        }

        if activate {
            sqlx::query("UPDATE scripts SET active_version = $1 WHERE name = $2")
                .bind(version)
                .bind(script)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;

        Ok(VersionRecord {
            script: script.to_owned(),
            version,
            created_at: now,
            entry: entry.to_owned(),
            size_bytes,
            file_count: len_i64(files.len()),
            meta,
        })
    }

    async fn set_active_version(
        &self,
        script: &str,
        version: i64,
    ) -> Result<ScriptRecord, StoreError> {
        // One statement: the existence check and the update cannot be split by a delete.
        let row = sqlx::query(concat!(
            "UPDATE scripts SET active_version = $1, updated_at = $2 \
             WHERE name = $3 AND EXISTS \
             (SELECT 1 FROM script_versions WHERE script = $3 AND version = $1) \
             RETURNING ",
            script_columns!()
        ))
        .bind(version)
        .bind(now_millis())
        .bind(script)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => script_from_row(&row),
            None if self.script_exists(script).await? => Err(StoreError::not_found(format!(
                "version {version} of script {script:?}"
            ))),
            None => Err(StoreError::not_found(format!("script {script:?}"))),
        }
    }

    async fn get_script(&self, name: &str) -> Result<Option<ScriptRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            script_columns!(),
            " FROM scripts WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(script_from_row).transpose()
    }

    async fn list_scripts(&self) -> Result<Vec<ScriptRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            script_columns!(),
            " FROM scripts ORDER BY name"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(script_from_row).collect()
    }

    async fn list_versions(&self, script: &str) -> Result<Vec<VersionRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            version_columns!(),
            " FROM script_versions WHERE script = $1 ORDER BY version"
        ))
        .bind(script)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(version_from_row).collect()
    }

    async fn get_version(
        &self,
        script: &str,
        version: i64,
    ) -> Result<Option<VersionRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            version_columns!(),
            " FROM script_versions WHERE script = $1 AND version = $2"
        ))
        .bind(script)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(version_from_row).transpose()
    }

    async fn get_version_files(
        &self,
        script: &str,
        version: i64,
    ) -> Result<Vec<BundleFile>, StoreError> {
        let rows = sqlx::query(
            "SELECT path, content FROM version_files \
             WHERE script = $1 AND version = $2 ORDER BY path",
        )
        .bind(script)
        .bind(version)
        .fetch_all(&self.pool)
        .await?;
        // An empty bundle is legal, so only then is it worth asking whether the version exists.
        if rows.is_empty() && !self.version_exists(script, version).await? {
            return Err(StoreError::not_found(format!(
                "version {version} of script {script:?}"
            )));
        }
        rows.iter().map(file_from_row).collect()
    }

    async fn active_versions(&self) -> Result<Vec<(VersionRecord, Vec<BundleFile>)>, StoreError> {
        // A read transaction, so that both queries see the same snapshot.
        let mut tx = self.pool.begin().await?;
        let version_rows = sqlx::query(
            "SELECT v.script, v.version, v.created_at, v.entry, v.size_bytes, v.file_count, \
             v.meta FROM script_versions v \
             JOIN scripts s ON s.name = v.script AND s.active_version = v.version \
             ORDER BY v.script",
        )
        .fetch_all(&mut *tx)
        .await?;
        let file_rows = sqlx::query(
            "SELECT f.script, f.path, f.content FROM version_files f \
             JOIN scripts s ON s.name = f.script AND s.active_version = f.version \
             ORDER BY f.script, f.path",
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;

        let mut files_by_script: HashMap<String, Vec<BundleFile>> = HashMap::new();
        for row in &file_rows {
            let script: String = row.try_get("script")?;
            files_by_script
                .entry(script)
                .or_default()
                .push(file_from_row(row)?);
        }
        version_rows
            .iter()
            .map(|row| {
                let version = version_from_row(row)?;
                let files = files_by_script.remove(&version.script).unwrap_or_default();
                Ok((version, files))
            })
            .collect()
    }

    async fn delete_script(&self, name: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        // Logs and owners have no foreign key to `scripts` (see the schema), so go explicitly.
        sqlx::query("DELETE FROM script_logs WHERE script = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM script_owners WHERE script = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        // The script's data goes with it: a later script of the same name starts empty.
        sqlx::query("DELETE FROM kv_entries WHERE script = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM kv_usage WHERE script = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM script_secrets WHERE script = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        // Versions and their files go by `ON DELETE CASCADE`.
        let deleted = sqlx::query("DELETE FROM scripts WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted > 0)
    }

    async fn append_logs(&self, logs: &[NewLog]) -> Result<(), StoreError> {
        if logs.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for log in logs {
            sqlx::query(
                "INSERT INTO script_logs (script, version, level, message, request_id, time) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&log.script)
            .bind(log.version)
            .bind(level_to_db(log.level))
            .bind(&log.message)
            .bind(log.request_id.as_deref())
            .bind(log.time)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn query_logs(
        &self,
        script: &str,
        query: &LogQuery,
    ) -> Result<Vec<LogRecord>, StoreError> {
        let mut sql = QueryBuilder::<Sqlite>::new(concat!(
            "SELECT ",
            log_columns!(),
            " FROM script_logs WHERE script = "
        ));
        sql.push_bind(script);
        if let Some(level) = query.min_level.filter(|l| *l > LogLevel::Debug) {
            sql.push(" AND level >= ").push_bind(level_to_db(level));
        }
        if let Some(request_id) = &query.request_id {
            sql.push(" AND request_id = ")
                .push_bind(request_id.as_str());
        }
        if let Some(since) = query.since {
            sql.push(" AND time >= ").push_bind(since);
        }
        let limit = i64::from(query.effective_limit());
        let newest_first = match query.after_id {
            Some(after_id) => {
                sql.push(" AND id > ").push_bind(after_id);
                sql.push(" ORDER BY id ASC LIMIT ").push_bind(limit);
                false
            }
            None => {
                sql.push(" ORDER BY id DESC LIMIT ").push_bind(limit);
                true
            }
        };
        let rows = sql.build().fetch_all(&self.pool).await?;
        let mut logs = rows
            .iter()
            .map(log_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        if newest_first {
            logs.reverse();
        }
        Ok(logs)
    }

    async fn prune_logs(&self, keep_per_script: u32) -> Result<u64, StoreError> {
        let scripts: Vec<String> = sqlx::query_scalar("SELECT DISTINCT script FROM script_logs")
            .fetch_all(&self.pool)
            .await?;
        let mut deleted = 0;
        // One short statement per script keeps the write lock from being held for a whole sweep.
        // The subquery finds the newest id that must go (NULL, deleting nothing, if there is
        // none); it and the delete both walk the (script, id) index.
        for script in &scripts {
            deleted += sqlx::query(
                "DELETE FROM script_logs WHERE script = $1 AND id <= \
                 (SELECT id FROM script_logs WHERE script = $1 \
                  ORDER BY id DESC LIMIT 1 OFFSET $2)",
            )
            .bind(script)
            .bind(i64::from(keep_per_script))
            .execute(&self.pool)
            .await?
            .rows_affected();
        }
        Ok(deleted)
    }

    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO UPDATE \
             SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(value)
        .bind(now_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// A length as the `INTEGER` the schema stores (saturating; no bundle comes near `i64::MAX`).
fn len_i64(len: usize) -> i64 {
    i64::try_from(len).unwrap_or(i64::MAX)
}

/// The `script_logs.level` encoding: ascending integers, so `level >= n` filters by severity.
fn level_to_db(level: LogLevel) -> i64 {
    match level {
        LogLevel::Debug => 0,
        LogLevel::Info => 1,
        LogLevel::Warn => 2,
        LogLevel::Error => 3,
    }
}

/// Decodes `script_logs.level` of log line `id`.
fn level_from_db(value: i64, id: i64) -> Result<LogLevel, StoreError> {
    match value {
        0 => Ok(LogLevel::Debug),
        1 => Ok(LogLevel::Info),
        2 => Ok(LogLevel::Warn),
        3 => Ok(LogLevel::Error),
        _ => Err(StoreError::Corrupt {
            what: format!("level of log line {id}"),
            message: format!("unknown level {value}"),
        }),
    }
}

/// Reads a row selected with `script_columns!()`.
fn script_from_row(row: &SqliteRow) -> Result<ScriptRecord, StoreError> {
    Ok(ScriptRecord {
        name: row.try_get("name")?,
        active_version: row.try_get("active_version")?,
        latest_version: row.try_get("latest_version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Reads a row selected with `version_columns!()`.
fn version_from_row(row: &SqliteRow) -> Result<VersionRecord, StoreError> {
    let script: String = row.try_get("script")?;
    let version: i64 = row.try_get("version")?;
    let meta: String = row.try_get("meta")?;
    let meta = serde_json::from_str(&meta).map_err(|err| StoreError::Corrupt {
        what: format!("metadata of version {version} of script {script:?}"),
        message: err.to_string(),
    })?;
    Ok(VersionRecord {
        created_at: row.try_get("created_at")?,
        entry: row.try_get("entry")?,
        size_bytes: row.try_get("size_bytes")?,
        file_count: row.try_get("file_count")?,
        script,
        version,
        meta,
    })
}

/// Reads a row with `path` and `content` columns.
fn file_from_row(row: &SqliteRow) -> Result<BundleFile, StoreError> {
    Ok(BundleFile {
        path: row.try_get("path")?,
        content: row.try_get("content")?,
    })
}

/// Reads a row selected with `log_columns!()`.
fn log_from_row(row: &SqliteRow) -> Result<LogRecord, StoreError> {
    let id: i64 = row.try_get("id")?;
    Ok(LogRecord {
        id,
        script: row.try_get("script")?,
        version: row.try_get("version")?,
        level: level_from_db(row.try_get("level")?, id)?,
        message: row.try_get("message")?,
        request_id: row.try_get("request_id")?,
        time: row.try_get("time")?,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;
    use tempfile::TempDir;

    use super::*;
    use crate::{AuditQuery, MeteringStore, NewAuditEvent};

    /// A new store in a fresh temp directory (kept alive by the returned guard).
    async fn fresh_store() -> Result<(Arc<dyn Store>, TempDir), StoreError> {
        let dir = temp_dir()?;
        let store = SqliteStore::open(&dir.path().join("kiln.db")).await?;
        Ok((Arc::new(store), dir))
    }

    fn temp_dir() -> Result<TempDir, StoreError> {
        tempfile::tempdir().map_err(|source| StoreError::Io {
            path: std::env::temp_dir(),
            source,
        })
    }

    crate::conformance_tests!(fresh_store);

    #[tokio::test]
    async fn open_creates_parent_dirs_and_configures_connections() -> Result<(), StoreError> {
        let dir = temp_dir()?;
        let path = dir.path().join("nested/data/kiln.db");
        let store = SqliteStore::open(&path).await?;
        assert!(path.is_file());

        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&store.pool)
            .await?;
        assert_eq!(mode, "wal");
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&store.pool)
            .await?;
        assert_eq!(foreign_keys, 1);
        let busy_ms: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&store.pool)
            .await?;
        assert_eq!(busy_ms, 5000);
        Ok(())
    }

    #[tokio::test]
    async fn reopening_keeps_data() -> Result<(), StoreError> {
        let dir = temp_dir()?;
        let path = dir.path().join("kiln.db");
        let files = [
            BundleFile::new("main.js", "export function init() {}"),
            BundleFile::new("logo.png", vec![0x89, b'P', b'N', b'G', 0, 0xff]),
        ];
        {
            let store = SqliteStore::open(&path).await?;
            store
                .create_version("shop", "main.js", &files, json!({ "routes": ["/"] }), true)
                .await?;
            store
                .create_version("shop", "main.js", &files[..1], json!({}), false)
                .await?;
            store
                .append_logs(&[NewLog {
                    script: "shop".into(),
                    version: 1,
                    level: LogLevel::Warn,
                    message: "careful".into(),
                    request_id: Some("req-1".into()),
                    time: 42,
                }])
                .await?;
            store.set_setting("admin_token_hash", "h").await?;
            store.close().await;
        }

        // Reopening runs the migrator again, which must find nothing to do.
        let store = SqliteStore::open(&path).await?;
        let Some(script) = store.get_script("shop").await? else {
            panic!("script lost on reopen");
        };
        assert_eq!((script.active_version, script.latest_version), (1, 2));
        let mut sorted = files.to_vec();
        sorted.sort_by(|a, b| a.path.cmp(&b.path));
        assert_eq!(store.get_version_files("shop", 1).await?, sorted);
        let active = store.active_versions().await?;
        assert_eq!(active.len(), 1);
        assert_eq!(active[0].0.meta, json!({ "routes": ["/"] }));
        let logs = store.query_logs("shop", &LogQuery::default()).await?;
        assert_eq!(logs.len(), 1);
        assert_eq!(
            (logs[0].level, logs[0].message.as_str(), logs[0].time),
            (LogLevel::Warn, "careful", 42)
        );
        assert_eq!(
            store.get_setting("admin_token_hash").await?.as_deref(),
            Some("h")
        );
        // Numbering continues where it left off.
        let v3 = store
            .create_version("shop", "main.js", &files, json!({}), false)
            .await?;
        assert_eq!(v3.version, 3);
        Ok(())
    }

    #[tokio::test]
    async fn corrupt_rows_are_reported_not_panicked_on() -> Result<(), StoreError> {
        let (_, dir) = fresh_store().await?;
        let store = SqliteStore::open(&dir.path().join("kiln.db")).await?;
        store
            .create_version("shop", "main.js", &[], json!({}), true)
            .await?;
        sqlx::query("UPDATE script_versions SET meta = 'not json'")
            .execute(&store.pool)
            .await?;
        let err = store.get_version("shop", 1).await;
        assert!(
            matches!(&err, Err(StoreError::Corrupt { what, .. }) if what.contains("shop")),
            "{err:?}"
        );

        let id = store
            .append_audit(&NewAuditEvent {
                time: 1,
                actor_user_id: None,
                actor: "test".into(),
                action: "login".into(),
                target: None,
                ip: None,
                detail: json!({}),
            })
            .await?;
        sqlx::query("UPDATE audit_log SET detail = '{' WHERE id = $1")
            .bind(id)
            .execute(&store.pool)
            .await?;
        let err = store.query_audit(&AuditQuery::default()).await;
        let expected = format!("audit event {id}");
        assert!(
            matches!(&err, Err(StoreError::Corrupt { what, .. }) if what.contains(&expected)),
            "{err:?}"
        );
        Ok(())
    }
}
