//! Errors of scripts' databases: a stable `code` (part of the script API, documented in
//! docs/scripts.md, and what `DbError.code` is in the script) and a message for the script's
//! author. The same type serves the host operations, deploy-time migrations and the export
//! endpoint, which map it to their own audiences.

use kiln_js::HostError;

/// SQLite rejected the statement (syntax, unknown table, type error…).
pub const SQL_ERROR: &str = "DB_SQL_ERROR";
/// A constraint (UNIQUE, NOT NULL, CHECK, FOREIGN KEY) refused a write.
pub const CONSTRAINT: &str = "DB_CONSTRAINT";
/// The statement ran past its time limit and was stopped.
pub const TIMEOUT: &str = "DB_TIMEOUT";
/// The result has more rows or bytes than the configured cap.
pub const RESULT_TOO_LARGE: &str = "DB_RESULT_TOO_LARGE";
/// The database reached its size quota.
pub const QUOTA_EXCEEDED: &str = "DB_QUOTA_EXCEEDED";
/// The statement does something scripts may not (ATTACH, most PRAGMAs, Kiln's tables…).
pub const DENIED: &str = "DB_DENIED";
/// The transaction was already committed, rolled back, or ended with its invocation.
pub const TRANSACTION_CLOSED: &str = "DB_TRANSACTION_CLOSED";
/// Another invocation's transaction held the write lock longer than `db.busy_timeout_ms`.
pub const BUSY: &str = "DB_BUSY";
/// Bad arguments (parameter count, value types, several statements in one call…).
pub const INVALID_ARGUMENT: &str = "DB_INVALID_ARGUMENT";
/// Kiln could not open or write the database file (logged on the server).
pub const UNAVAILABLE: &str = "DB_UNAVAILABLE";

/// A failure of a script database operation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct DbError {
    /// One of this module's codes.
    pub code: &'static str,
    /// What went wrong (SQLite's own message for SQL errors).
    pub message: String,
}

impl DbError {
    /// An error with `code` and `message`.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        DbError {
            code,
            message: message.into(),
        }
    }

    /// [`INVALID_ARGUMENT`].
    pub fn invalid(message: impl Into<String>) -> Self {
        DbError::new(INVALID_ARGUMENT, message)
    }

    /// [`UNAVAILABLE`], logging the detail (which may name server paths) on the server only.
    pub fn unavailable(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "script database failure");
        DbError::new(
            UNAVAILABLE,
            "the script's database is unavailable; try again",
        )
    }

    /// [`TRANSACTION_CLOSED`].
    pub fn closed() -> Self {
        DbError::new(
            TRANSACTION_CLOSED,
            "the transaction is over (committed, rolled back, or ended with its request); \
             run statements inside the db.transaction callback and await them",
        )
    }
}

impl From<DbError> for HostError {
    fn from(error: DbError) -> Self {
        HostError::new(error.code, error.message)
    }
}
