//! Running a script's statements on a SQLite connection (on the blocking pool): binding
//! parameters, stepping under the time limit (a progress handler checks the deadline every
//! few thousand virtual-machine instructions and interrupts the statement), collecting rows
//! under the row and byte caps, and mapping SQLite's errors to `db`'s codes.

use std::time::Instant;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode};

use super::guard::Guard;
use crate::script_db::backend::{RunLimits, SqlValue, Statement, StatementResult};
use crate::script_db::error::{self as codes, DbError};

/// Virtual-machine instructions between two deadline checks.
const PROGRESS_INTERVAL: i32 = 4_000;

/// Bytes a number counts for against the result cap.
const NUMBER_BYTES: u64 = 8;

/// Arms the deadline on `conn` for the statements that follow.
pub(super) fn arm_deadline(conn: &Connection, deadline: Instant) -> Result<(), DbError> {
    conn.progress_handler(PROGRESS_INTERVAL, Some(move || Instant::now() >= deadline))
        .map_err(DbError::unavailable)
}

/// Turns the deadline off (for Kiln's own statements).
pub(super) fn disarm_deadline(conn: &Connection) {
    conn.progress_handler(0, None::<fn() -> bool>).ok();
}

/// Runs one statement.
pub(super) fn run(
    conn: &Connection,
    guard: &Guard,
    statement: &Statement,
    limits: &RunLimits,
) -> Result<StatementResult, DbError> {
    let error = |e| map_error(e, guard, limits.timeout_ms);
    let mut prepared = conn.prepare(&statement.sql).map_err(error)?;
    let expected = prepared.parameter_count();
    if expected != statement.params.len() {
        return Err(DbError::invalid(format!(
            "the statement has {expected} parameter(s) but {} value(s) were given",
            statement.params.len()
        )));
    }
    for (index, value) in statement.params.iter().enumerate() {
        let bound = match value {
            SqlValue::Null => prepared.raw_bind_parameter(index + 1, rusqlite::types::Null),
            SqlValue::Integer(i) => prepared.raw_bind_parameter(index + 1, i),
            SqlValue::Real(f) => prepared.raw_bind_parameter(index + 1, f),
            SqlValue::Text(s) => prepared.raw_bind_parameter(index + 1, s),
            SqlValue::Blob(b) => prepared.raw_bind_parameter(index + 1, b),
        };
        bound.map_err(error)?;
    }
    let columns: Vec<String> = prepared
        .column_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let before = conn.total_changes();
    let mut rows = Vec::new();
    let mut bytes = 0u64;
    {
        let mut cursor = prepared.raw_query();
        while let Some(row) = cursor.next().map_err(error)? {
            if rows.len() as u64 >= limits.max_rows {
                return Err(DbError::new(
                    codes::RESULT_TOO_LARGE,
                    format!(
                        "the result has more than {} rows (db.max_result_rows); add a LIMIT or page through it",
                        limits.max_rows
                    ),
                ));
            }
            let mut values = Vec::with_capacity(columns.len());
            for index in 0..columns.len() {
                let value = match row.get_ref(index).map_err(error)? {
                    ValueRef::Null => SqlValue::Null,
                    ValueRef::Integer(i) => SqlValue::Integer(i),
                    ValueRef::Real(f) => SqlValue::Real(f),
                    ValueRef::Text(t) => SqlValue::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => SqlValue::Blob(b.to_vec()),
                };
                bytes += match &value {
                    SqlValue::Text(t) => t.len() as u64,
                    SqlValue::Blob(b) => b.len() as u64,
                    _ => NUMBER_BYTES,
                };
                values.push(value);
            }
            if bytes > limits.max_bytes {
                return Err(DbError::new(
                    codes::RESULT_TOO_LARGE,
                    format!(
                        "the result is larger than {} bytes (db.max_result_bytes); select fewer rows or columns",
                        limits.max_bytes
                    ),
                ));
            }
            rows.push(values);
        }
    }
    Ok(StatementResult {
        columns,
        rows,
        rows_affected: conn.total_changes().saturating_sub(before),
        last_insert_id: conn.last_insert_rowid(),
    })
}

/// `db`'s error for a SQLite failure.
pub(super) fn map_error(error: rusqlite::Error, guard: &Guard, timeout_ms: u64) -> DbError {
    let rusqlite::Error::SqliteFailure(failure, message) = &error else {
        return match error {
            rusqlite::Error::MultipleStatement => {
                DbError::invalid("one statement per call: use db.batch() to run several")
            }
            other => DbError::new(codes::SQL_ERROR, other.to_string()),
        };
    };
    let message = message.clone().unwrap_or_else(|| failure.to_string());
    // A denial fails the statement with SQLITE_AUTH, or SQLITE_ERROR for functions.
    if let Some(why) = guard.take_denial() {
        return DbError::new(codes::DENIED, why);
    }
    match failure.code {
        ErrorCode::OperationInterrupted => DbError::new(
            codes::TIMEOUT,
            format!(
                "the statement ran longer than {} ms and was stopped (db.statement_timeout_ms, or the request's remaining CPU budget)",
                timeout_ms
            ),
        ),
        ErrorCode::DiskFull => DbError::new(
            codes::QUOTA_EXCEEDED,
            "the database reached its size limit (db.max_size_bytes); delete rows or ask the operator for more",
        ),
        ErrorCode::AuthorizationForStatementDenied => DbError::new(codes::DENIED, message),
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => DbError::new(
            codes::BUSY,
            "another request's transaction kept the database locked for too long (db.busy_timeout_ms); try again",
        ),
        ErrorCode::ConstraintViolation => DbError::new(codes::CONSTRAINT, message),
        // The connection allows no attached databases at all (behind the authorizer).
        _ if message.starts_with("too many attached databases") => DbError::new(
            codes::DENIED,
            "ATTACH and DETACH are not allowed: a script sees only its own database",
        ),
        ErrorCode::CannotOpen
        | ErrorCode::SystemIoFailure
        | ErrorCode::DatabaseCorrupt
        | ErrorCode::NotADatabase
        | ErrorCode::OutOfMemory
        | ErrorCode::PermissionDenied
        | ErrorCode::ReadOnly => DbError::unavailable(error),
        _ => DbError::new(codes::SQL_ERROR, message),
    }
}
