//! Stored WebAssembly modules: the [`ModuleStore`] trait with its record and paging types, and
//! the module name rule. A module belongs to one owner (a user) and is named uniquely per owner;
//! its bytes live in a content table keyed by their SHA-256, stored once however many modules
//! (of however many owners) use them, and deleted in the same transaction as the last module
//! that points at them. Owners never see each other's modules: every method takes the owner.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::StoreError;

/// Modules [`ModuleStore::list_modules`] returns when [`ModuleListQuery::limit`] is 0.
pub const DEFAULT_MODULE_LIST_LIMIT: u32 = 50;

/// Most modules one [`ModuleStore::list_modules`] call returns, whatever the caller asks for.
pub const MAX_MODULE_LIST_LIMIT: u32 = 200;

/// Longest module name, in bytes (the name rule allows ASCII only).
pub const MAX_MODULE_NAME_LEN: usize = 64;

/// Longest module description, in bytes; a description is a label, not a document.
pub const MAX_MODULE_DESCRIPTION_LEN: usize = 1024;

/// Checks a module name: `[a-z0-9][a-z0-9._-]{0,63}` — lowercase, safe in a URL path segment
/// and a file name, never `.`/`..`-like at the start. [`StoreError::Invalid`] says what is wrong.
pub fn check_module_name(name: &str) -> Result<(), StoreError> {
    let invalid = |message: &str| StoreError::invalid(format!("module name {name:?}"), message);
    let Some(first) = name.bytes().next() else {
        return Err(invalid("it is empty"));
    };
    if name.len() > MAX_MODULE_NAME_LEN {
        return Err(invalid("it is longer than 64 characters"));
    }
    if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
        return Err(invalid("it must start with a lowercase letter or a digit"));
    }
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b);
    if !name.bytes().all(allowed) {
        return Err(invalid(
            "it may only contain lowercase letters, digits, '.', '_' and '-'",
        ));
    }
    Ok(())
}

/// The content hash of module bytes: SHA-256, lowercase hex (the same key the WebAssembly
/// runtime caches compiled modules under).
pub fn module_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A stored module's metadata (without its bytes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleRecord {
    /// Store-assigned id; kept when the module is replaced.
    pub id: i64,
    /// The owning user.
    pub owner_id: i64,
    /// Name, unique per owner (see [`check_module_name`]).
    pub name: String,
    /// Free-form description, if any.
    pub description: Option<String>,
    /// SHA-256 of the bytes, lowercase hex.
    pub hash: String,
    /// Size of the bytes.
    pub size_bytes: i64,
    /// When the name was first stored (unix ms).
    pub created_at: i64,
    /// When the bytes or description were last replaced (unix ms).
    pub updated_at: i64,
    /// Executions recorded by [`ModuleStore::record_module_execution`] (kept across replaces).
    pub execution_count: i64,
    /// The latest recorded execution (unix ms), if any.
    pub last_executed_at: Option<i64>,
}

/// What [`ModuleStore::put_module`] stores.
#[derive(Clone, Copy, Debug)]
pub struct NewModule<'a> {
    /// The owning user (must exist).
    pub owner_id: i64,
    /// Name, checked with [`check_module_name`].
    pub name: &'a str,
    /// `None` keeps the description of a module being replaced (a new one gets none);
    /// `Some("")` clears it; anything else sets it.
    pub description: Option<&'a str>,
    /// The module's bytes.
    pub bytes: &'a [u8],
}

/// The result of [`ModuleStore::put_module`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PutModule {
    /// The module as stored.
    pub module: ModuleRecord,
    /// `true` when the name was new, `false` when an existing module was replaced.
    pub created: bool,
}

/// A page request of [`ModuleStore::list_modules`]. Modules are listed by name (byte order).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModuleListQuery {
    /// Only modules named after this one (the previous page's [`ModulePage::next_cursor`]).
    pub after: Option<String>,
    /// Most modules (0 means [`DEFAULT_MODULE_LIST_LIMIT`], capped at
    /// [`MAX_MODULE_LIST_LIMIT`]; see [`ModuleListQuery::effective_limit`]).
    pub limit: u32,
}

impl ModuleListQuery {
    /// The limit a store applies.
    pub fn effective_limit(&self) -> u32 {
        match self.limit {
            0 => DEFAULT_MODULE_LIST_LIMIT,
            limit => limit.min(MAX_MODULE_LIST_LIMIT),
        }
    }
}

/// One page of an owner's modules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModulePage {
    /// The modules, by name.
    pub modules: Vec<ModuleRecord>,
    /// Where the next page starts ([`ModuleListQuery::after`]); `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Totals of the module storage, for health and operations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleStorage {
    /// Modules of all owners.
    pub modules: i64,
    /// Distinct contents (each stored once).
    pub contents: i64,
    /// Bytes of all distinct contents.
    pub content_bytes: i64,
}

/// Stored WebAssembly modules. Part of [`Store`](crate::Store).
#[async_trait]
pub trait ModuleStore: Send + Sync {
    /// Stores `module` under its owner and name: creates it, or atomically replaces the bytes
    /// (and the description, see [`NewModule::description`]) of the owner's module of that
    /// name, keeping its id, `created_at` and execution statistics. The bytes are stored once
    /// per content hash; content no module uses any more after a replace is deleted in the same
    /// transaction. [`StoreError::Invalid`] for a bad name or description,
    /// [`StoreError::NotFound`] if the owner does not exist.
    async fn put_module(&self, module: NewModule<'_>) -> Result<PutModule, StoreError>;

    /// The owner's module called `name`, if any.
    async fn get_module(
        &self,
        owner_id: i64,
        name: &str,
    ) -> Result<Option<ModuleRecord>, StoreError>;

    /// The owner's module called `name` with its bytes, if any.
    async fn get_module_with_bytes(
        &self,
        owner_id: i64,
        name: &str,
    ) -> Result<Option<(ModuleRecord, Vec<u8>)>, StoreError>;

    /// A page of the owner's modules, by name.
    async fn list_modules(
        &self,
        owner_id: i64,
        query: &ModuleListQuery,
    ) -> Result<ModulePage, StoreError>;

    /// Deletes the owner's module called `name` — and its content, in the same transaction,
    /// when no other module uses it. Returns whether the module existed.
    async fn delete_module(&self, owner_id: i64, name: &str) -> Result<bool, StoreError>;

    /// Counts one execution of the owner's module `name` at `at` (unix ms): increments
    /// `execution_count` and moves `last_executed_at` forward (never back). Returns whether the
    /// module exists. One small write; fine to call per execution.
    async fn record_module_execution(
        &self,
        owner_id: i64,
        name: &str,
        at: i64,
    ) -> Result<bool, StoreError>;

    /// Totals of modules and stored contents.
    async fn module_storage(&self) -> Result<ModuleStorage, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_follow_the_rule() {
        for good in ["a", "0", "hello", "hello-world_2.wasm", &"x".repeat(64)] {
            assert!(check_module_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Hello",
            "-x",
            ".x",
            "_x",
            "a b",
            "a/b",
            "é",
            &"x".repeat(65),
        ] {
            let err = check_module_name(bad);
            assert!(
                matches!(&err, Err(StoreError::Invalid { what, .. }) if what.contains("module name")),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn list_limit_is_clamped() {
        let with_limit = |limit| ModuleListQuery { after: None, limit };
        assert_eq!(with_limit(0).effective_limit(), DEFAULT_MODULE_LIST_LIMIT);
        assert_eq!(with_limit(3).effective_limit(), 3);
        assert_eq!(with_limit(10_000).effective_limit(), MAX_MODULE_LIST_LIMIT);
    }

    #[test]
    fn hashes_are_sha256_hex() {
        assert_eq!(
            module_hash(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
