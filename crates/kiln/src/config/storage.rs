//! The `[kv]` and `[db]` sections: quotas and size caps of scripts' key/value storage and of
//! their SQL databases.

use serde::{Deserialize, Serialize};

use super::ConfigProblem;

/// Scripts' key/value storage (`[kv]`). Quotas are per script, over the script's own space and
/// every `kv.user` space together.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KvConfig {
    /// Most entries one script may keep.
    pub max_keys: u64,
    /// Most bytes (keys plus JSON values) one script may keep.
    pub max_bytes: u64,
    /// Longest key, in bytes.
    pub max_key_bytes: usize,
    /// Largest value, in bytes of its JSON text.
    pub max_value_bytes: usize,
}

impl Default for KvConfig {
    fn default() -> Self {
        KvConfig {
            max_keys: 100_000,
            max_bytes: 100 * 1024 * 1024,
            max_key_bytes: 512,
            max_value_bytes: 1024 * 1024,
        }
    }
}

impl KvConfig {
    /// Problems with the `[kv]` values.
    pub(super) fn validate(&self, problems: &mut Vec<ConfigProblem>) {
        for (key, value) in [
            ("max_keys", self.max_keys),
            ("max_bytes", self.max_bytes),
            ("max_key_bytes", self.max_key_bytes as u64),
            ("max_value_bytes", self.max_value_bytes as u64),
        ] {
            if value == 0 {
                problems.push(ConfigProblem::new(
                    format!("kv.{key}"),
                    "must be at least 1".to_owned(),
                ));
            }
        }
    }
}

/// Scripts' SQL databases (`[db]`, the `db` global). Every limit applies per statement or per
/// script database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DbConfig {
    /// Longest a statement may run, in milliseconds (never longer than the invocation's
    /// remaining CPU budget). Stops runaway queries (an endless recursive CTE) from holding a
    /// thread and the database.
    pub statement_timeout_ms: u64,
    /// Longest a write waits for another invocation's transaction to finish, in milliseconds
    /// (SQLite has one writer per database), before failing with `DB_BUSY`.
    pub busy_timeout_ms: u64,
    /// Most rows one statement may return. Stops a `SELECT *` from filling the isolate.
    pub max_result_rows: u64,
    /// Most bytes (text and blobs, 8 per number) one statement may return.
    pub max_result_bytes: u64,
    /// Largest a script's database file may grow, in bytes (rounded down to whole pages).
    pub max_size_bytes: u64,
}

impl Default for DbConfig {
    fn default() -> Self {
        DbConfig {
            statement_timeout_ms: 1000,
            busy_timeout_ms: 5000,
            max_result_rows: 10_000,
            max_result_bytes: 8 * 1024 * 1024,
            max_size_bytes: 100 * 1024 * 1024,
        }
    }
}

impl DbConfig {
    /// Problems with the `[db]` values.
    pub(super) fn validate(&self, problems: &mut Vec<ConfigProblem>) {
        for (key, value, max) in [
            ("statement_timeout_ms", self.statement_timeout_ms, 600_000),
            ("busy_timeout_ms", self.busy_timeout_ms, 600_000),
            ("max_result_rows", self.max_result_rows, 10_000_000),
            (
                "max_result_bytes",
                self.max_result_bytes,
                1024 * 1024 * 1024,
            ),
            ("max_size_bytes", self.max_size_bytes, 1 << 44),
        ] {
            if !(1..=max).contains(&value) {
                problems.push(ConfigProblem::new(
                    format!("db.{key}"),
                    format!("must be between 1 and {max}"),
                ));
            }
        }
        if (1..64 * 1024).contains(&self.max_size_bytes) {
            problems.push(ConfigProblem::new(
                "db.max_size_bytes".to_owned(),
                "must be at least 65536 (16 pages of 4 KiB)".to_owned(),
            ));
        }
    }
}
