//! The SQLite backend: one database file per script, `<data_dir>/script-db/<script>.sqlite`
//! (WAL). Connections are opened with the script's quota (`max_page_count`), SQLite's
//! defensive mode, no attached databases and the [`guard`] authorizer; idle ones are kept per
//! script for reuse. All SQLite work runs on tokio's blocking pool; a session moves its
//! connection there and back for each call. A session dropped inside a transaction closes
//! its connection, which rolls the transaction back.

mod exec;
mod guard;
mod migrate;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rusqlite::config::DbConfig as SqliteFlag;
use rusqlite::limits::Limit;
use rusqlite::{Connection, OpenFlags};

use self::guard::Guard;
use super::backend::{DbBackend, DbSession, RunLimits, Statement, StatementResult};
use super::error::DbError;
use super::migrations::Migration;

/// Idle connections kept per script.
const IDLE_PER_SCRIPT: usize = 4;

/// How connections are opened.
#[derive(Clone, Copy, Debug)]
pub struct SqliteSettings {
    /// How long a writer waits for the write lock.
    pub busy_timeout: Duration,
    /// Largest database file, in bytes.
    pub max_size_bytes: u64,
    /// Longest string or blob SQLite will build (stops `zeroblob(1e9)`-style memory bombs).
    pub max_value_bytes: u64,
}

/// Scripts' databases as SQLite files in one directory.
pub struct SqliteBackend {
    dir: PathBuf,
    settings: SqliteSettings,
    pool: Arc<Pool>,
}

/// Idle connections by script.
#[derive(Default)]
struct Pool {
    idle: Mutex<HashMap<String, Vec<Conn>>>,
    /// Bumped when a database is removed: connections opened before are not reused.
    epoch: AtomicU64,
}

/// An open connection with its authorizer.
struct Conn {
    conn: Connection,
    guard: Guard,
    epoch: u64,
}

impl SqliteBackend {
    /// A backend keeping its files in `dir` (created if missing).
    pub fn new(dir: PathBuf, settings: SqliteSettings) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(SqliteBackend {
            dir,
            settings,
            pool: Arc::default(),
        })
    }

    fn path(&self, script: &str) -> PathBuf {
        self.dir.join(format!("{script}.sqlite"))
    }

    /// A session on `script`'s database: an idle connection or a new one.
    async fn checkout(&self, script: &str) -> Result<SqliteSession, DbError> {
        let idle = self
            .pool
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(script)
            .and_then(Vec::pop);
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let path = self.path(script);
                let settings = self.settings;
                let epoch = self.pool.epoch.load(Ordering::Acquire);
                tokio::task::spawn_blocking(move || open(&path, settings, epoch))
                    .await
                    .map_err(DbError::unavailable)??
            }
        };
        Ok(SqliteSession {
            script: script.to_owned(),
            conn: Some(conn),
            in_transaction: false,
            pool: self.pool.clone(),
        })
    }
}

/// Opens (creating) the database at `path` for a script.
fn open(path: &Path, settings: SqliteSettings, epoch: u64) -> Result<Conn, DbError> {
    let setup = || -> rusqlite::Result<Conn> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(settings.busy_timeout)?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")?;
        let page_size: i64 = conn.query_row("PRAGMA page_size", [], |row| row.get(0))?;
        let page_size = u64::try_from(page_size).unwrap_or(4096).max(512);
        let pages = (settings.max_size_bytes / page_size).max(1);
        conn.execute_batch(&format!("PRAGMA max_page_count = {pages};"))?;
        conn.set_db_config(SqliteFlag::SQLITE_DBCONFIG_DEFENSIVE, true)?;
        conn.set_db_config(SqliteFlag::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)?;
        conn.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0)?;
        let length = i32::try_from(settings.max_value_bytes).unwrap_or(i32::MAX);
        conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, length)?;
        let guard = Guard::install(&conn)?;
        Ok(Conn { conn, guard, epoch })
    };
    setup()
        .map_err(|error| DbError::unavailable(format_args!("opening {}: {error}", path.display())))
}

#[async_trait]
impl DbBackend for SqliteBackend {
    async fn session(&self, script: &str) -> Result<Box<dyn DbSession>, DbError> {
        Ok(Box::new(self.checkout(script).await?))
    }

    async fn migrate(
        &self,
        script: &str,
        migrations: Vec<Migration>,
        deadline: Instant,
    ) -> Result<(Box<dyn DbSession>, Vec<String>), DbError> {
        let mut session = self.checkout(script).await?;
        let applied = session
            .with(move |conn| migrate::apply(conn, &migrations, deadline))
            .await?;
        session.in_transaction = true;
        Ok((Box::new(session), applied))
    }

    async fn export(&self, script: &str) -> Result<Option<Vec<u8>>, DbError> {
        let path = self.path(script);
        let copy = self
            .dir
            .join(format!(".export-{script}-{}.sqlite", uuid::Uuid::new_v4()));
        tokio::task::spawn_blocking(move || {
            if !path.exists() {
                return Ok(None);
            }
            let result = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_WRITE)
                .and_then(|conn| conn.execute("VACUUM INTO ?1", [copy.to_string_lossy()]))
                .map_err(|error| {
                    DbError::unavailable(format_args!("exporting {}: {error}", path.display()))
                })
                .and_then(|_| std::fs::read(&copy).map_err(DbError::unavailable));
            let _ = std::fs::remove_file(&copy);
            result.map(Some)
        })
        .await
        .map_err(DbError::unavailable)?
    }

    async fn remove(&self, script: &str) -> Result<bool, DbError> {
        self.pool.epoch.fetch_add(1, Ordering::AcqRel);
        let idle = self
            .pool
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(script);
        let path = self.path(script);
        tokio::task::spawn_blocking(move || {
            drop(idle);
            let existed = path.exists();
            for suffix in ["", "-wal", "-shm"] {
                let mut file = path.clone().into_os_string();
                file.push(suffix);
                match std::fs::remove_file(&file) {
                    Ok(()) => {}
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                    Err(error) => return Err(DbError::unavailable(error)),
                }
            }
            Ok(existed)
        })
        .await
        .map_err(DbError::unavailable)?
    }
}

/// A checked-out connection of one script.
struct SqliteSession {
    script: String,
    /// `None` only while a call has it on the blocking pool (or after a failed call).
    conn: Option<Conn>,
    /// Whether Kiln started a transaction that is not finished.
    in_transaction: bool,
    pool: Arc<Pool>,
}

impl SqliteSession {
    /// Runs `f` on the connection on the blocking pool.
    async fn with<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&Conn) -> Result<T, DbError> + Send + 'static,
    ) -> Result<T, DbError> {
        let conn = self.conn.take().ok_or_else(DbError::closed)?;
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let result = f(&conn);
            (conn, result)
        })
        .await
        .map_err(DbError::unavailable)?;
        self.conn = Some(conn);
        result
    }

    /// Runs one of Kiln's transaction statements.
    async fn control(&mut self, sql: &'static str) -> Result<(), DbError> {
        self.with(move |c| {
            exec::disarm_deadline(&c.conn);
            c.guard
                .trusted(|| c.conn.execute_batch(sql))
                .map_err(|e| exec::map_error(e, &c.guard, 0))
        })
        .await
    }
}

#[async_trait]
impl DbSession for SqliteSession {
    async fn run(
        &mut self,
        statements: Vec<Statement>,
        limits: RunLimits,
    ) -> Result<Vec<StatementResult>, DbError> {
        let in_transaction = self.in_transaction;
        self.with(move |c| {
            // SQLite rolls a whole transaction back on some errors (an interrupted write,
            // a full disk): its statements must not go on in autocommit mode.
            if in_transaction && c.conn.is_autocommit() {
                return Err(DbError::closed());
            }
            exec::arm_deadline(&c.conn, limits.deadline)?;
            let several = statements.len() > 1;
            statements
                .iter()
                .enumerate()
                .map(|(i, statement)| {
                    exec::run(&c.conn, &c.guard, statement, &limits).map_err(|e| match several {
                        true => DbError::new(e.code, format!("statement {}: {}", i + 1, e.message)),
                        false => e,
                    })
                })
                .collect()
        })
        .await
    }

    async fn begin(&mut self) -> Result<(), DbError> {
        self.control("BEGIN IMMEDIATE").await?;
        self.in_transaction = true;
        Ok(())
    }

    async fn commit(&mut self) -> Result<(), DbError> {
        self.in_transaction = false;
        self.with(|c| {
            if c.conn.is_autocommit() {
                return Err(DbError::closed());
            }
            exec::disarm_deadline(&c.conn);
            let committed = c
                .guard
                .trusted(|| c.conn.execute_batch("COMMIT"))
                .map_err(|e| exec::map_error(e, &c.guard, 0));
            if committed.is_err() && !c.conn.is_autocommit() {
                c.guard.trusted(|| c.conn.execute_batch("ROLLBACK")).ok();
            }
            committed
        })
        .await
    }

    async fn rollback(&mut self) -> Result<(), DbError> {
        self.in_transaction = false;
        self.with(|c| {
            if !c.conn.is_autocommit() {
                exec::disarm_deadline(&c.conn);
                c.guard
                    .trusted(|| c.conn.execute_batch("ROLLBACK"))
                    .map_err(|e| exec::map_error(e, &c.guard, 0))?;
            }
            Ok(())
        })
        .await
    }
}

impl Drop for SqliteSession {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        let reusable =
            conn.conn.is_autocommit() && conn.epoch == self.pool.epoch.load(Ordering::Acquire);
        if reusable {
            let mut idle = self
                .pool
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let list = idle.entry(std::mem::take(&mut self.script)).or_default();
            if list.len() < IDLE_PER_SCRIPT {
                list.push(conn);
                return;
            }
        }
        // Closing rolls back an unfinished transaction; it may touch the disk.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(move || drop(conn))),
            Err(_) => drop(conn),
        }
    }
}
