//! Deploy-time migrations: a bundle's `migrations/*.sql` files, in lexical order of their
//! names. The backend applies each one once per database and records it (name and SHA-256)
//! in its own bookkeeping table; [`super::ScriptDbs::migrate`] runs them before the version is
//! recorded, so a failing migration rejects the deploy with the database unchanged.

use sha2::{Digest, Sha256};

use super::error::DbError;

/// Folder of a bundle holding migrations.
pub const MIGRATIONS_DIR: &str = "migrations/";

/// One migration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Migration {
    /// Its file name (`001_init.sql`), the key it is recorded under.
    pub name: String,
    /// Its SQL: any number of statements.
    pub sql: String,
    /// Hex SHA-256 of the SQL: a changed file is detected, not silently skipped.
    pub checksum: String,
}

/// The migrations of a bundle (files directly in `migrations/` ending in `.sql`), sorted by
/// name. A migration that is not UTF-8 is refused.
pub fn from_bundle<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<Vec<Migration>, DbError> {
    let mut migrations = Vec::new();
    for (path, content) in files {
        let Some(name) = path.strip_prefix(MIGRATIONS_DIR) else {
            continue;
        };
        if name.contains('/') || !name.ends_with(".sql") {
            continue;
        }
        let sql = std::str::from_utf8(content)
            .map_err(|_| DbError::invalid(format!("{path} is not UTF-8 text")))?;
        migrations.push(Migration {
            name: name.to_owned(),
            sql: sql.to_owned(),
            checksum: hex::encode(Sha256::digest(content)),
        });
    }
    migrations.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(migrations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_top_level_sql_files_in_name_order() {
        let files = [
            ("migrations/002_b.sql", b"B".as_slice()),
            ("migrations/001_a.sql", b"A".as_slice()),
            ("migrations/notes.txt", b"x".as_slice()),
            ("migrations/old/000.sql", b"x".as_slice()),
            ("main.js", b"x".as_slice()),
        ];
        let names: Vec<String> = from_bundle(files)
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(names, ["001_a.sql", "002_b.sql"]);
    }

    #[test]
    fn non_utf8_migrations_are_refused() {
        let error = from_bundle([("migrations/1.sql", [0xff, 0xfe].as_slice())]).unwrap_err();
        assert_eq!(error.code, super::super::error::INVALID_ARGUMENT);
    }
}
