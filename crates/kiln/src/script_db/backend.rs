//! The seam between `db`'s semantics and a database engine: [`DbBackend`] gives each script
//! its own database and [`DbSession`] runs statements on it. SQLite (one file per script,
//! [`super::sqlite`]) is the implementation today. A PostgreSQL backend would map a script to a
//! schema owned by a per-script role that has no rights elsewhere (`SET ROLE` on a pooled
//! connection, `search_path` pinned to the schema, `statement_timeout` per statement), keep
//! `_kiln_migrations` in a schema only Kiln's role can write, and export with `pg_dump
//! --schema`. Everything above this trait (host operations, transactions tied to invocations,
//! migrations at deploy, the export route) stays the same.

use std::time::Instant;

use async_trait::async_trait;

use super::error::DbError;
use super::migrations::Migration;

/// One SQL value, as scripts see them: JavaScript numbers, strings, `null` and `Uint8Array`s.
#[derive(Clone, Debug, PartialEq)]
pub enum SqlValue {
    /// SQL NULL.
    Null,
    /// A 64-bit integer.
    Integer(i64),
    /// A double.
    Real(f64),
    /// UTF-8 text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

/// One statement with its positional parameters (`?`, `?NNN`).
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    /// The SQL text: exactly one statement.
    pub sql: String,
    /// Values bound to the parameters, in order.
    pub params: Vec<SqlValue>,
}

/// What a statement produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatementResult {
    /// Column names of the rows (empty for statements that return none).
    pub columns: Vec<String>,
    /// The rows, each with one value per column.
    pub rows: Vec<Vec<SqlValue>>,
    /// Rows inserted, updated or deleted by the statement.
    pub rows_affected: u64,
    /// Row id of the last inserted row on this connection (0 if none).
    pub last_insert_id: i64,
}

/// Limits of one run of statements.
#[derive(Clone, Copy, Debug)]
pub struct RunLimits {
    /// When a statement still running is stopped (`DB_TIMEOUT`).
    pub deadline: Instant,
    /// The time limit the deadline came from, in milliseconds (for the error message).
    pub timeout_ms: u64,
    /// Most rows one statement may return.
    pub max_rows: u64,
    /// Most bytes one statement may return.
    pub max_bytes: u64,
}

/// Gives every script its own, isolated database.
#[async_trait]
pub trait DbBackend: Send + Sync + 'static {
    /// A session on `script`'s database (created empty on first use).
    async fn session(&self, script: &str) -> Result<Box<dyn DbSession>, DbError>;

    /// Applies the `migrations` not yet recorded in `script`'s database, in order, inside one
    /// transaction that is left open in the returned session: the caller commits it once the
    /// deploy is recorded, or drops it to undo everything. Returns the names applied. A
    /// migration already applied with different content is refused.
    async fn migrate(
        &self,
        script: &str,
        migrations: Vec<Migration>,
        deadline: Instant,
    ) -> Result<(Box<dyn DbSession>, Vec<String>), DbError>;

    /// A consistent copy of `script`'s database in the backend's file format, or `None` when
    /// the script has no database.
    async fn export(&self, script: &str) -> Result<Option<Vec<u8>>, DbError>;

    /// Deletes `script`'s database; returns whether it existed.
    async fn remove(&self, script: &str) -> Result<bool, DbError>;
}

/// A connection to one script's database. Dropping a session inside a transaction rolls the
/// transaction back.
#[async_trait]
pub trait DbSession: Send {
    /// Runs `statements` one after the other (in the open transaction, if any), stopping at
    /// the first failure.
    async fn run(
        &mut self,
        statements: Vec<Statement>,
        limits: RunLimits,
    ) -> Result<Vec<StatementResult>, DbError>;

    /// Starts a write transaction (waiting for other writers up to the busy timeout).
    async fn begin(&mut self) -> Result<(), DbError>;

    /// Commits the open transaction.
    async fn commit(&mut self) -> Result<(), DbError>;

    /// Rolls the open transaction back.
    async fn rollback(&mut self) -> Result<(), DbError>;
}
