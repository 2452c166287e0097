//! Kiln's storage layer: scripts and their immutable versions (with bundle files), script logs,
//! engine settings, identity, metering and stored WebAssembly modules, behind one object-safe
//! [`Store`] trait used as `Arc<dyn Store>`.
//!
//! # Layout
//! - `lib.rs` (this file): the [`Store`] trait and the DB-neutral record types it speaks. Every
//!   timestamp is `i64` unix milliseconds.
//! - [`error`]: [`StoreError`], the one error type of every store method.
//! - [`identity`], [`metering`], [`modules`], [`kv`], [`secrets`]: the supertraits of [`Store`]
//!   with their types (users, sessions, keys and tiers; usage and audit; stored WebAssembly
//!   modules; scripts' key/value data; scripts' encrypted secrets).
//! - [`sqlite`]: [`SqliteStore`], the default backend (one SQLite file, embedded forward-only
//!   migrations under `migrations/sqlite/`).
//! - `conformance` (tests, or feature `conformance`): the behavioural test suite every backend
//!   must pass; it only sees `&dyn Store`, so a PostgreSQL backend reuses it unchanged.

#![deny(missing_docs)]

pub mod error;
pub mod identity;
pub mod kv;
pub mod metering;
pub mod modules;
pub mod secrets;
pub mod sqlite;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use error::StoreError;
pub use identity::{
    ADMIN_ROLE, ApiKeyRecord, IdentityStore, NewApiKey, NewUser, SessionRecord, TierRecord,
    UserRecord,
};
pub use kv::{KvLimits, KvNamespace, KvPage, KvStore, KvUsage, MAX_KV_LIST_LIMIT};
pub use metering::{
    AuditQuery, AuditRecord, DEFAULT_AUDIT_LIMIT, MAX_AUDIT_LIMIT, MeteringStore, NewAuditEvent,
    UsageBucket, UsageEvent, UsagePeriod, UsageQuery,
};
pub use modules::{
    DEFAULT_MODULE_LIST_LIMIT, MAX_MODULE_LIST_LIMIT, ModuleListQuery, ModulePage, ModuleRecord,
    ModuleStorage, ModuleStore, NewModule, PutModule, check_module_name, module_hash,
};
pub use secrets::{SealedSecret, SecretRecord, SecretStore};
pub use sqlite::SqliteStore;

/// Rows [`Store::query_logs`] returns when a query does not say otherwise.
pub const DEFAULT_LOG_LIMIT: u32 = 100;

/// Most rows one [`Store::query_logs`] call returns, whatever the caller asks for; stops a single
/// request from reading (and serialising) a whole log table.
pub const MAX_LOG_LIMIT: u32 = 1000;

/// A named script: the pointer to its active version and its version counter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptRecord {
    /// Unique script name (also its mount point).
    pub name: String,
    /// The version currently serving; `0` while no version has been activated.
    pub active_version: i64,
    /// The highest version number ever allocated; the next deploy gets `latest_version + 1`.
    pub latest_version: i64,
    /// When the script was first deployed (unix ms).
    pub created_at: i64,
    /// When a version was last created or activated (unix ms).
    pub updated_at: i64,
}

/// One immutable deployed version of a script (without its files).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionRecord {
    /// Name of the script this version belongs to.
    pub script: String,
    /// Version number: 1, 2, 3… per script, never reused.
    pub version: i64,
    /// When the version was created (unix ms).
    pub created_at: i64,
    /// Path of the entry file within the bundle (e.g. `main.ts`).
    pub entry: String,
    /// Total size of all file contents in bytes.
    pub size_bytes: i64,
    /// Number of files in the bundle.
    pub file_count: i64,
    /// Free-form metadata recorded at deploy time (e.g. the registered routes).
    pub meta: serde_json::Value,
}

/// One file of a version's bundle.
#[derive(Clone, PartialEq, Eq)]
pub struct BundleFile {
    /// Path within the bundle, unique per version (e.g. `lib/util.js`).
    pub path: String,
    /// Raw contents; may be binary (images, WASM…).
    pub content: Vec<u8>,
}

impl BundleFile {
    /// A file with the given path and contents.
    pub fn new(path: impl Into<String>, content: impl Into<Vec<u8>>) -> Self {
        Self {
            path: path.into(),
            content: content.into(),
        }
    }
}

impl fmt::Debug for BundleFile {
    /// Shows the size rather than the bytes, so that logging a bundle stays readable.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BundleFile")
            .field("path", &self.path)
            .field("len", &self.content.len())
            .finish()
    }
}

/// Severity of a log line; ordered `Debug < Info < Warn < Error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// `console.debug`.
    Debug,
    /// `console.log` / `console.info`.
    #[serde(alias = "log")]
    Info,
    /// `console.warn`.
    Warn,
    /// `console.error` and uncaught errors.
    Error,
}

impl LogLevel {
    /// All levels, lowest first.
    pub const ALL: [LogLevel; 4] = [
        LogLevel::Debug,
        LogLevel::Info,
        LogLevel::Warn,
        LogLevel::Error,
    ];

    /// The lowercase name: `"debug"`, `"info"`, `"warn"` or `"error"`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The string given to [`LogLevel::from_str`] names no level.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown log level {input:?} (expected debug, info, warn or error)")]
pub struct ParseLogLevelError {
    /// The rejected input.
    pub input: String,
}

impl FromStr for LogLevel {
    type Err = ParseLogLevelError;

    /// Parses a level name, case-insensitively; `"log"` (as in `console.log`) means `Info`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "debug" => Ok(LogLevel::Debug),
            "info" | "log" => Ok(LogLevel::Info),
            "warn" => Ok(LogLevel::Warn),
            "error" => Ok(LogLevel::Error),
            _ => Err(ParseLogLevelError {
                input: s.to_owned(),
            }),
        }
    }
}

/// A log line to be stored by [`Store::append_logs`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewLog {
    /// Script that produced the line.
    pub script: String,
    /// Version of the script that produced it.
    pub version: i64,
    /// Severity.
    pub level: LogLevel,
    /// The formatted message.
    pub message: String,
    /// Id of the request being handled, if any (lets a request's lines be found together).
    pub request_id: Option<String>,
    /// When the line was produced (unix ms).
    pub time: i64,
}

/// A stored log line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRecord {
    /// Store-assigned id, increasing in insertion order and never reused.
    pub id: i64,
    /// Script that produced the line.
    pub script: String,
    /// Version of the script that produced it.
    pub version: i64,
    /// Severity.
    pub level: LogLevel,
    /// The formatted message.
    pub message: String,
    /// Id of the request being handled, if any.
    pub request_id: Option<String>,
    /// When the line was produced (unix ms).
    pub time: i64,
}

/// The current time in unix milliseconds, as stored in every `*_at`/`time` column.
pub(crate) fn now_millis() -> i64 {
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}

/// Filters for [`Store::query_logs`]; all given filters must match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogQuery {
    /// Only lines at this level or above.
    pub min_level: Option<LogLevel>,
    /// Only lines logged while handling this request.
    pub request_id: Option<String>,
    /// Only lines with `time >= since` (unix ms).
    pub since: Option<i64>,
    /// Only lines with `id > after_id`; for `--follow` polling. Switches the result from the
    /// newest `limit` rows to the oldest `limit` rows after this id.
    pub after_id: Option<i64>,
    /// Most rows to return; clamped to `1..=MAX_LOG_LIMIT` (see [`LogQuery::effective_limit`]).
    pub limit: u32,
}

impl LogQuery {
    /// The limit a store applies: [`LogQuery::limit`] clamped to `1..=MAX_LOG_LIMIT`.
    pub fn effective_limit(&self) -> u32 {
        self.limit.clamp(1, MAX_LOG_LIMIT)
    }
}

impl Default for LogQuery {
    /// No filters, [`DEFAULT_LOG_LIMIT`] rows.
    fn default() -> Self {
        Self {
            min_level: None,
            request_id: None,
            since: None,
            after_id: None,
            limit: DEFAULT_LOG_LIMIT,
        }
    }
}

/// Kiln's persistent state. Implemented by [`SqliteStore`]; every implementation must pass the
/// `conformance` suite. Shared as `Arc<dyn Store>`. Identity (users, sessions, keys, tiers,
/// ownership), metering (usage, audit), scripts' key/value data, stored WebAssembly modules and
/// scripts' encrypted secrets are the supertraits [`IdentityStore`], [`MeteringStore`],
/// [`KvStore`], [`ModuleStore`] and [`SecretStore`].
#[async_trait]
pub trait Store:
    IdentityStore + MeteringStore + KvStore + ModuleStore + SecretStore + Send + Sync
{
    /// Runs a trivial query; succeeds when the database is reachable (readiness probe).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Records a new version of `script` with its bundle `files`, creating the script on its first
    /// deploy, and makes it the active version if `activate`.
    ///
    /// Atomic: on any error nothing (not even the script row) becomes visible. Version numbers
    /// are allocated per script (1, 2, 3…), unique under concurrent calls and never reused.
    /// Returns [`StoreError::Conflict`] if two files share a path.
    async fn create_version(
        &self,
        script: &str,
        entry: &str,
        files: &[BundleFile],
        meta: serde_json::Value,
        activate: bool,
    ) -> Result<VersionRecord, StoreError>;

    /// Makes `version` the active version of `script` (deploy or rollback) and returns the
    /// updated script. [`StoreError::NotFound`] if the script or the version does not exist.
    async fn set_active_version(
        &self,
        script: &str,
        version: i64,
    ) -> Result<ScriptRecord, StoreError>;

    /// The script called `name`, if any.
    async fn get_script(&self, name: &str) -> Result<Option<ScriptRecord>, StoreError>;

    /// All scripts, sorted by name (byte order).
    async fn list_scripts(&self) -> Result<Vec<ScriptRecord>, StoreError>;

    /// All versions of `script`, oldest first (empty if the script does not exist).
    async fn list_versions(&self, script: &str) -> Result<Vec<VersionRecord>, StoreError>;

    /// One version of `script`, if it exists.
    async fn get_version(
        &self,
        script: &str,
        version: i64,
    ) -> Result<Option<VersionRecord>, StoreError>;

    /// The bundle files of a version, sorted by path (byte order). [`StoreError::NotFound`] if the version
    /// does not exist.
    async fn get_version_files(
        &self,
        script: &str,
        version: i64,
    ) -> Result<Vec<BundleFile>, StoreError>;

    /// Every script's active version with its files, sorted by script name; scripts without an
    /// active version are skipped. Used at start-up to restore all scripts.
    async fn active_versions(&self) -> Result<Vec<(VersionRecord, Vec<BundleFile>)>, StoreError>;

    /// Deletes a script with all its versions, files, logs, owners, key/value data and secrets,
    /// in one transaction. The logs, owners and secrets of the name go even if no script row
    /// exists (e.g. a name claimed by [`IdentityStore::add_script_owner`] before its first
    /// deploy). Returns whether the script existed.
    async fn delete_script(&self, name: &str) -> Result<bool, StoreError>;

    /// Stores a batch of log lines, all or none.
    async fn append_logs(&self, logs: &[NewLog]) -> Result<(), StoreError>;

    /// Log lines of `script` matching `query`, in ascending id order: the newest
    /// `query.effective_limit()` matching rows, or with `after_id` the oldest ones after it.
    async fn query_logs(
        &self,
        script: &str,
        query: &LogQuery,
    ) -> Result<Vec<LogRecord>, StoreError>;

    /// Deletes all but the newest `keep_per_script` log lines of every script; returns how many
    /// rows were deleted.
    async fn prune_logs(&self, keep_per_script: u32) -> Result<u64, StoreError>;

    /// The value of setting `key`, if set.
    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError>;

    /// Sets setting `key` to `value`, replacing any previous value.
    async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_levels_are_ordered_and_named() {
        assert!(LogLevel::Debug < LogLevel::Info);
        assert!(LogLevel::Info < LogLevel::Warn);
        assert!(LogLevel::Warn < LogLevel::Error);
        for level in LogLevel::ALL {
            assert_eq!(level.as_str().parse::<LogLevel>(), Ok(level));
            assert_eq!(level.to_string(), level.as_str());
            assert_eq!(
                serde_json::to_value(level).ok(),
                Some(serde_json::Value::from(level.as_str()))
            );
        }
    }

    #[test]
    fn log_level_parsing_accepts_log_and_any_case() {
        assert_eq!("log".parse::<LogLevel>(), Ok(LogLevel::Info));
        assert_eq!("WARN".parse::<LogLevel>(), Ok(LogLevel::Warn));
        assert_eq!(
            "verbose".parse::<LogLevel>(),
            Err(ParseLogLevelError {
                input: "verbose".into()
            })
        );
        let parsed: Result<Vec<LogLevel>, _> = serde_json::from_str(r#"["log", "error"]"#);
        assert_eq!(parsed.ok(), Some(vec![LogLevel::Info, LogLevel::Error]));
    }

    #[test]
    fn log_query_limit_is_clamped() {
        let with_limit = |limit| LogQuery {
            limit,
            ..LogQuery::default()
        };
        assert_eq!(LogQuery::default().effective_limit(), DEFAULT_LOG_LIMIT);
        assert_eq!(with_limit(0).effective_limit(), 1);
        assert_eq!(with_limit(7).effective_limit(), 7);
        assert_eq!(with_limit(u32::MAX).effective_limit(), MAX_LOG_LIMIT);
    }

    #[test]
    fn bundle_file_debug_shows_size_not_bytes() {
        let file = BundleFile::new("a.bin", vec![1, 2, 3]);
        assert_eq!(
            format!("{file:?}"),
            r#"BundleFile { path: "a.bin", len: 3 }"#
        );
    }
}
