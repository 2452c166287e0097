//! Per-script key/value storage: the [`KvStore`] trait behind the scripts' `kv` API.
//!
//! Every entry lives in a [`KvNamespace`] — a script plus a scope (the script's own space, or
//! one signed-in user's space for `kv.user`) — so one script can never name another's data.
//! Values are JSON text chosen by the caller; expiry times are absolute unix milliseconds. An
//! expired entry is never returned, even before [`KvStore::kv_sweep`] removes it. Writes that
//! would take a script past its [`KvLimits`] fail with [`StoreError::LimitExceeded`] and change
//! nothing.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::StoreError;

/// Whose entries an operation touches.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KvNamespace {
    /// The script owning the data.
    pub script: String,
    /// `""` for the script's own space; `user:<id>` for one user's space.
    pub scope: String,
}

impl KvNamespace {
    /// The script's own space.
    pub fn script(script: impl Into<String>) -> Self {
        KvNamespace {
            script: script.into(),
            scope: String::new(),
        }
    }

    /// The space of user `user_id` within `script`.
    pub fn user(script: impl Into<String>, user_id: i64) -> Self {
        KvNamespace {
            script: script.into(),
            scope: format!("user:{user_id}"),
        }
    }
}

/// A script's quota, over all its scopes together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvLimits {
    /// Most entries.
    pub max_keys: u64,
    /// Most bytes of keys plus values.
    pub max_bytes: u64,
}

/// One page of [`KvStore::kv_list`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvPage {
    /// Keys in ascending order.
    pub keys: Vec<String>,
    /// Pass as `after` to get the next page; `None` on the last page.
    pub cursor: Option<String>,
}

/// What a script's entries take up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvUsage {
    /// Entries (including expired ones not yet swept).
    pub keys: u64,
    /// Bytes of keys plus values.
    pub bytes: u64,
}

/// Most keys one [`KvStore::kv_list`] page holds.
pub const MAX_KV_LIST_LIMIT: u32 = 1000;

/// Key/value storage for scripts.
#[async_trait]
pub trait KvStore: Send + Sync {
    /// The values of `keys` (JSON text), `None` where absent or expired at `now`.
    async fn kv_get(
        &self,
        ns: &KvNamespace,
        keys: &[String],
        now: i64,
    ) -> Result<Vec<Option<String>>, StoreError>;

    /// Sets `key` to `value` (JSON text), expiring at `expires_at` if given. Fails with
    /// [`StoreError::LimitExceeded`] (and changes nothing) when the script would pass `limits`.
    async fn kv_set(
        &self,
        ns: &KvNamespace,
        key: &str,
        value: &str,
        expires_at: Option<i64>,
        now: i64,
        limits: KvLimits,
    ) -> Result<(), StoreError>;

    /// Deletes `key`; returns whether a live (unexpired) entry was deleted.
    async fn kv_delete(&self, ns: &KvNamespace, key: &str, now: i64) -> Result<bool, StoreError>;

    /// Live keys starting with `prefix`, ascending, after `after` (exclusive), at most `limit`
    /// (capped at [`MAX_KV_LIST_LIMIT`]).
    async fn kv_list(
        &self,
        ns: &KvNamespace,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
        now: i64,
    ) -> Result<KvPage, StoreError>;

    /// Atomically adds `by` to the number stored at `key` (absent or expired counts as 0,
    /// keeping no expiry; a live entry keeps its expiry) and returns the new value. Fails with
    /// [`StoreError::Conflict`] when the stored value is not a number.
    async fn kv_increment(
        &self,
        ns: &KvNamespace,
        key: &str,
        by: f64,
        now: i64,
        limits: KvLimits,
    ) -> Result<f64, StoreError>;

    /// Removes up to `limit` entries expired at `now`; returns how many went.
    async fn kv_sweep(&self, now: i64, limit: u32) -> Result<u64, StoreError>;

    /// What `script`'s entries take up.
    async fn kv_usage(&self, script: &str) -> Result<KvUsage, StoreError>;
}
