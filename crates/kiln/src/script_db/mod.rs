//! Scripts' own SQL databases (the `db` global): each script gets a database no other script
//! and none of Kiln's tables share. [`ScriptDbs`] is the one entry point — statements with
//! their limits, atomic batches, transactions held across a request's awaits
//! ([`transactions`]), migrations at deploy ([`migrations`]), export and deletion — over a
//! [`backend::DbBackend`] (SQLite files today, [`sqlite`]; the trait documents how a
//! PostgreSQL schema-per-script backend fits). The wire format scripts use is in [`values`];
//! the host operations are `crate::script_services::db`.

pub mod backend;
pub mod error;
pub mod migrations;
pub mod sqlite;
pub mod transactions;
pub mod values;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use self::backend::{DbBackend, DbSession, RunLimits, Statement, StatementResult};
use self::error::DbError;
use self::sqlite::{SqliteBackend, SqliteSettings};
use self::transactions::{Shared, Transactions};
use crate::config::DbConfig;

/// Folder of `data_dir` holding the SQLite files.
pub const SQLITE_DIR: &str = "script-db";

/// Longest a deploy's migrations may run together. Generous: they run once, off the request
/// path, but a migration that never ends must not hold the deploy lock forever.
pub const MIGRATION_TIMEOUT: Duration = Duration::from_secs(60);

/// Every script's database.
pub struct ScriptDbs {
    backend: Arc<dyn DbBackend>,
    config: DbConfig,
    transactions: Arc<Transactions>,
}

/// Migrations applied and not yet committed: commit once the deploy is recorded; dropping
/// it rolls them back.
pub struct PendingMigrations {
    session: Box<dyn DbSession>,
    /// Names of the migrations applied.
    pub applied: Vec<String>,
}

impl PendingMigrations {
    /// Makes the migrations durable.
    pub async fn commit(mut self) -> Result<(), DbError> {
        self.session.commit().await
    }
}

impl ScriptDbs {
    /// SQLite files under `<data_dir>/script-db/`.
    pub fn sqlite(data_dir: &Path, config: &DbConfig) -> std::io::Result<Self> {
        let backend = SqliteBackend::new(
            data_dir.join(SQLITE_DIR),
            SqliteSettings {
                busy_timeout: Duration::from_millis(config.busy_timeout_ms),
                max_size_bytes: config.max_size_bytes,
                max_value_bytes: config.max_result_bytes.max(1024 * 1024),
            },
        )?;
        Ok(Self::with_backend(Arc::new(backend), config.clone()))
    }

    /// Databases kept by `backend`.
    pub fn with_backend(backend: Arc<dyn DbBackend>, config: DbConfig) -> Self {
        ScriptDbs {
            backend,
            config,
            transactions: Arc::new(Transactions::new()),
        }
    }

    /// The limits of a statement run for an invocation with `cpu_budget` left: the
    /// configured statement timeout, never beyond the budget.
    pub fn limits(&self, cpu_budget: Duration) -> RunLimits {
        let timeout = Duration::from_millis(self.config.statement_timeout_ms).min(cpu_budget);
        RunLimits {
            deadline: Instant::now() + timeout,
            timeout_ms: timeout.as_millis() as u64,
            max_rows: self.config.max_result_rows,
            max_bytes: self.config.max_result_bytes,
        }
    }

    /// Runs `statements` on `script`'s database, each on its own (autocommit).
    pub async fn run(
        &self,
        script: &str,
        statements: Vec<Statement>,
        limits: RunLimits,
    ) -> Result<Vec<StatementResult>, DbError> {
        self.backend
            .session(script)
            .await?
            .run(statements, limits)
            .await
    }

    /// Runs `statements` atomically: all in one transaction, rolled back at the first failure.
    pub async fn batch(
        &self,
        script: &str,
        statements: Vec<Statement>,
        limits: RunLimits,
    ) -> Result<Vec<StatementResult>, DbError> {
        let mut session = self.backend.session(script).await?;
        session.begin().await?;
        match session.run(statements, limits).await {
            Ok(results) => {
                session.commit().await?;
                Ok(results)
            }
            Err(error) => {
                session.rollback().await.ok();
                Err(error)
            }
        }
    }

    /// Reserves a transaction for `invocation` of `script` (see [`ScriptDbs::begin`]); call it
    /// synchronously when the operation starts. It lives at most `lifetime` (the script's
    /// wall-clock budget).
    pub fn reserve(
        &self,
        script: &str,
        invocation: Option<u64>,
        lifetime: Duration,
    ) -> Result<(String, Shared), DbError> {
        let Some(invocation) = invocation else {
            return Err(DbError::closed());
        };
        self.transactions.reserve(script, invocation, lifetime)
    }

    /// Begins reserved transaction `tx` (waiting for other writers up to the busy timeout).
    /// Fails with `DB_TRANSACTION_CLOSED` if its invocation ended meanwhile (it is then
    /// rolled back).
    pub async fn begin(&self, script: &str, tx: &str, shared: Shared) -> Result<(), DbError> {
        let mut slot = shared.lock().await;
        let begun = async {
            let mut session = self.backend.session(script).await?;
            session.begin().await?;
            Ok::<_, DbError>(session)
        }
        .await;
        match begun {
            Ok(session) if self.transactions.contains(tx) => {
                *slot = Some(session);
                Ok(())
            }
            // Dropping the session rolls it back.
            Ok(_) => Err(DbError::closed()),
            Err(error) => {
                self.transactions.forget(tx);
                Err(error)
            }
        }
    }

    /// Runs `statements` inside transaction `tx`.
    pub async fn run_in(
        &self,
        tx: &str,
        script: &str,
        invocation: Option<u64>,
        statements: Vec<Statement>,
        limits: RunLimits,
    ) -> Result<Vec<StatementResult>, DbError> {
        let shared = self.transactions.get(tx, script, invocation)?;
        let mut session = shared.lock().await;
        match session.as_mut() {
            Some(session) => session.run(statements, limits).await,
            None => Err(DbError::closed()),
        }
    }

    /// Commits (or, when `commit` is false, rolls back) transaction `tx`.
    pub async fn finish(
        &self,
        tx: &str,
        script: &str,
        invocation: Option<u64>,
        commit: bool,
    ) -> Result<(), DbError> {
        let shared = self.transactions.take(tx, script, invocation)?;
        let mut guard = shared.lock().await;
        let mut session = guard.take().ok_or_else(DbError::closed)?;
        if commit {
            session.commit().await
        } else {
            session.rollback().await
        }
    }

    /// Rolls back what `invocation` left open (called when it ends; does not block).
    pub fn invocation_ended(&self, invocation: u64) {
        self.transactions.invocation_ended(invocation);
    }

    /// Applies the bundle's pending `migrations/*.sql` to `script`'s database, leaving them
    /// uncommitted; `None` when the bundle has none.
    pub async fn migrate<'a>(
        &self,
        script: &str,
        files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<Option<PendingMigrations>, DbError> {
        let migrations = migrations::from_bundle(files)?;
        if migrations.is_empty() {
            return Ok(None);
        }
        let deadline = Instant::now() + MIGRATION_TIMEOUT;
        let (session, applied) = self.backend.migrate(script, migrations, deadline).await?;
        Ok(Some(PendingMigrations { session, applied }))
    }

    /// A consistent copy of `script`'s database, or `None` when it has none.
    pub async fn export(&self, script: &str) -> Result<Option<Vec<u8>>, DbError> {
        self.backend.export(script).await
    }

    /// Deletes `script`'s database (rolling back its open transactions).
    pub async fn remove(&self, script: &str) -> Result<bool, DbError> {
        self.transactions.end_script(script);
        self.backend.remove(script).await
    }
}
