//! What a script's SQL may do on its SQLite connection: an authorizer (consulted by SQLite
//! when it compiles each statement) that denies `ATTACH`/`DETACH`, PRAGMAs other than a few
//! read-only schema queries, transaction control (Kiln owns `BEGIN`/`COMMIT`: scripts use
//! `db.transaction` and `db.batch`), Kiln's own `_kiln_*` tables and the
//! `load_extension`/`fts3_tokenizer` functions (SQLite itself, in defensive mode, refuses
//! writes to its `sqlite_*` tables). Kiln's own statements
//! (transaction control, migration bookkeeping) run with the guard lifted through
//! [`Guard::trusted`]. The reason of the last denial is kept so the script's error names it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::Connection;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};

/// Prefix of Kiln's bookkeeping tables inside a script's database.
pub const RESERVED_PREFIX: &str = "_kiln_";

/// PRAGMAs scripts may run: they only describe the schema.
const ALLOWED_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "foreign_key_check",
];

/// Functions scripts may not call.
const DENIED_FUNCTIONS: &[&str] = &["load_extension", "fts3_tokenizer"];

/// The authorizer's state on one connection.
pub(super) struct Guard {
    /// Set while Kiln runs its own statements.
    trusted: Arc<AtomicBool>,
    /// Why the last statement was denied.
    denial: Arc<Mutex<Option<String>>>,
}

impl Guard {
    /// Installs the authorizer on `conn`.
    pub fn install(conn: &Connection) -> rusqlite::Result<Guard> {
        let trusted = Arc::new(AtomicBool::new(false));
        let denial = Arc::new(Mutex::new(None));
        let (flag, reason) = (trusted.clone(), denial.clone());
        conn.authorizer(Some(move |ctx: AuthContext<'_>| {
            if flag.load(Ordering::Relaxed) {
                return Authorization::Allow;
            }
            match decide(&ctx.action) {
                Ok(()) => Authorization::Allow,
                Err(why) => {
                    *reason.lock().unwrap_or_else(PoisonError::into_inner) = Some(why);
                    Authorization::Deny
                }
            }
        }))?;
        Ok(Guard { trusted, denial })
    }

    /// Runs `f` (Kiln's own statements) with the authorizer lifted.
    pub fn trusted<T>(&self, f: impl FnOnce() -> T) -> T {
        self.trusted.store(true, Ordering::Relaxed);
        let result = f();
        self.trusted.store(false, Ordering::Relaxed);
        result
    }

    /// Why the last statement was denied (cleared).
    pub fn take_denial(&self) -> Option<String> {
        self.denial
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

fn reserved(name: &str) -> bool {
    name.len() >= RESERVED_PREFIX.len()
        && name[..RESERVED_PREFIX.len()].eq_ignore_ascii_case(RESERVED_PREFIX)
}

fn kiln_table(name: &str) -> Result<(), String> {
    if reserved(name) {
        Err(format!(
            "'{name}' is reserved for Kiln (tables starting with {RESERVED_PREFIX})"
        ))
    } else {
        Ok(())
    }
}

/// Whether a script's statement may do `action`; the error says why not.
fn decide(action: &AuthAction<'_>) -> Result<(), String> {
    match *action {
        AuthAction::Attach { .. } | AuthAction::Detach { .. } => {
            Err("ATTACH and DETACH are not allowed: a script sees only its own database".to_owned())
        }
        AuthAction::Pragma { pragma_name, .. } => {
            if ALLOWED_PRAGMAS
                .iter()
                .any(|p| p.eq_ignore_ascii_case(pragma_name))
            {
                Ok(())
            } else {
                Err(format!(
                    "PRAGMA {pragma_name} is not allowed (allowed: {})",
                    ALLOWED_PRAGMAS.join(", ")
                ))
            }
        }
        AuthAction::Transaction { .. } | AuthAction::Savepoint { .. } => Err(
            "transaction statements are managed by Kiln: use db.transaction() or db.batch()"
                .to_owned(),
        ),
        AuthAction::Function { function_name } => {
            if DENIED_FUNCTIONS
                .iter()
                .any(|f| f.eq_ignore_ascii_case(function_name))
            {
                Err(format!("the function {function_name}() is not allowed"))
            } else {
                Ok(())
            }
        }
        AuthAction::Read { table_name, .. } => kiln_table(table_name),
        // DDL writes `sqlite_schema` through these too; SQLite itself refuses direct writes to
        // it (defensive mode keeps `writable_schema` off).
        AuthAction::Insert { table_name }
        | AuthAction::Delete { table_name }
        | AuthAction::Update { table_name, .. }
        | AuthAction::CreateTable { table_name }
        | AuthAction::CreateTempTable { table_name }
        | AuthAction::DropTable { table_name }
        | AuthAction::DropTempTable { table_name }
        | AuthAction::AlterTable { table_name, .. }
        | AuthAction::CreateVtable { table_name, .. }
        | AuthAction::DropVtable { table_name, .. }
        | AuthAction::Analyze { table_name } => kiln_table(table_name),
        AuthAction::CreateIndex {
            index_name,
            table_name,
        }
        | AuthAction::CreateTempIndex {
            index_name,
            table_name,
        }
        | AuthAction::DropIndex {
            index_name,
            table_name,
        }
        | AuthAction::DropTempIndex {
            index_name,
            table_name,
        } => kiln_table(index_name).and(kiln_table(table_name)),
        AuthAction::CreateTrigger {
            trigger_name,
            table_name,
        }
        | AuthAction::CreateTempTrigger {
            trigger_name,
            table_name,
        }
        | AuthAction::DropTrigger {
            trigger_name,
            table_name,
        }
        | AuthAction::DropTempTrigger {
            trigger_name,
            table_name,
        } => kiln_table(trigger_name).and(kiln_table(table_name)),
        AuthAction::CreateView { view_name }
        | AuthAction::CreateTempView { view_name }
        | AuthAction::DropView { view_name }
        | AuthAction::DropTempView { view_name } => kiln_table(view_name),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied(conn: &Connection, guard: &Guard, sql: &str) -> String {
        let result = conn.prepare(sql).map(|_| ());
        assert!(result.is_err(), "{sql} was allowed");
        guard
            .take_denial()
            .unwrap_or_else(|| panic!("{sql}: {result:?}"))
    }

    #[test]
    fn scripts_keep_to_their_own_tables() {
        let conn = Connection::open_in_memory().unwrap();
        let guard = Guard::install(&conn).unwrap();
        guard.trusted(|| {
            conn.execute_batch("CREATE TABLE _kiln_migrations (name TEXT)")
                .unwrap()
        });
        conn.execute_batch("CREATE TABLE notes (id INTEGER PRIMARY KEY AUTOINCREMENT, t TEXT)")
            .unwrap();
        conn.execute_batch("INSERT INTO notes (t) VALUES ('a')")
            .unwrap();
        conn.prepare("SELECT name FROM sqlite_schema").unwrap();
        conn.prepare("PRAGMA table_info(notes)").unwrap();
        for (sql, needle) in [
            ("ATTACH 'other.sqlite' AS other", "ATTACH"),
            ("SELECT * FROM _kiln_migrations", "reserved"),
            ("SELECT * FROM _KILN_MIGRATIONS", "reserved"),
            ("CREATE TEMP TABLE _kiln_x (a)", "reserved"),
            ("PRAGMA journal_mode = DELETE", "journal_mode"),
            ("PRAGMA max_page_count = 100000000", "max_page_count"),
            ("BEGIN", "db.transaction"),
            ("SAVEPOINT a", "db.transaction"),
            ("SELECT load_extension('x')", "load_extension"),
        ] {
            let why = denied(&conn, &guard, sql);
            assert!(why.contains(needle), "{sql}: {why}");
        }
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)
            .unwrap();
        assert!(conn.execute_batch("DELETE FROM sqlite_schema").is_err());
    }
}
