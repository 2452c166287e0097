//! Applying a bundle's migrations to a script's SQLite database: `BEGIN IMMEDIATE`, the
//! bookkeeping table `_kiln_migrations` (name, SHA-256, time; scripts cannot read or write
//! it), each pending migration run under the script's authorizer, and its record. The
//! transaction is left open for the deploy to commit; any failure rolls it back.

use std::time::Instant;

use super::Conn;
use super::exec;
use crate::script_db::error::{self as codes, DbError};
use crate::script_db::migrations::Migration;

/// Applies the pending `migrations` inside a new transaction left open on success; returns
/// the names applied.
pub(super) fn apply(
    c: &Conn,
    migrations: &[Migration],
    deadline: Instant,
) -> Result<Vec<String>, DbError> {
    let timeout_ms = deadline
        .saturating_duration_since(Instant::now())
        .as_millis() as u64;
    exec::disarm_deadline(&c.conn);
    c.guard
        .trusted(|| c.conn.execute_batch("BEGIN IMMEDIATE"))
        .map_err(|e| exec::map_error(e, &c.guard, timeout_ms))?;
    let result = apply_in_transaction(c, migrations, deadline, timeout_ms);
    if result.is_err() && !c.conn.is_autocommit() {
        c.guard.trusted(|| c.conn.execute_batch("ROLLBACK")).ok();
    }
    exec::disarm_deadline(&c.conn);
    result
}

fn apply_in_transaction(
    c: &Conn,
    migrations: &[Migration],
    deadline: Instant,
    timeout_ms: u64,
) -> Result<Vec<String>, DbError> {
    let kiln = |e| exec::map_error(e, &c.guard, timeout_ms);
    let recorded: Vec<(String, String)> = c
        .guard
        .trusted(|| {
            c.conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS _kiln_migrations (
                 name TEXT PRIMARY KEY,
                 checksum TEXT NOT NULL,
                 applied_at INTEGER NOT NULL
             )",
            )?;
            let mut query = c
                .conn
                .prepare("SELECT name, checksum FROM _kiln_migrations")?;
            let rows = query.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect::<rusqlite::Result<_>>()
        })
        .map_err(kiln)?;
    let mut applied = Vec::new();
    for migration in migrations {
        match recorded.iter().find(|(name, _)| *name == migration.name) {
            Some((_, checksum)) if *checksum == migration.checksum => continue,
            Some(_) => {
                return Err(DbError::invalid(format!(
                    "migrations/{} was changed after it was applied; applied migrations cannot change: add a new migration instead",
                    migration.name
                )));
            }
            None => {}
        }
        exec::arm_deadline(&c.conn, deadline)?;
        c.conn.execute_batch(&migration.sql).map_err(|e| {
            let error = exec::map_error(e, &c.guard, timeout_ms);
            DbError::new(
                error.code,
                format!("migrations/{} failed: {}", migration.name, error.message),
            )
        })?;
        exec::disarm_deadline(&c.conn);
        if c.conn.is_autocommit() {
            return Err(DbError::new(
                codes::DENIED,
                format!(
                    "migrations/{} ended the transaction; migrations must not use BEGIN, COMMIT or ROLLBACK",
                    migration.name
                ),
            ));
        }
        c.guard
            .trusted(|| {
                c.conn.execute(
                    "INSERT INTO _kiln_migrations (name, checksum, applied_at) VALUES (?1, ?2, ?3)",
                    rusqlite::params![migration.name, migration.checksum, crate::auth::now_ms()],
                )
            })
            .map_err(kiln)?;
        applied.push(migration.name.clone());
    }
    Ok(applied)
}
