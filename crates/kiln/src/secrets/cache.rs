//! The decrypted secrets of each script, kept for a short time so that requests do not read
//! and decrypt them every time.
//!
//! A hit is a read lock and a hash lookup. Entries expire after the configured TTL (changes
//! made by other servers sharing the database show within it); a change made through this
//! server removes the entry at once. A load that started before an invalidation must not put
//! its stale result back: every invalidation bumps an epoch, and a load only inserts when the
//! epoch it started under is still current.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::ScriptSecrets;

/// One script's cached secrets.
struct Entry {
    /// What requests get.
    secrets: Arc<ScriptSecrets>,
    /// When they were read from the store.
    loaded: Instant,
}

/// Script name → decrypted secrets, with a TTL.
pub(super) struct SecretsCache {
    /// The entries (a std lock: never held across an await).
    entries: RwLock<HashMap<String, Entry>>,
    /// How long an entry serves.
    ttl: Duration,
    /// Bumped by every invalidation.
    epoch: AtomicU64,
}

impl SecretsCache {
    /// An empty cache whose entries live `ttl` (zero: nothing is cached).
    pub(super) fn new(ttl: Duration) -> Self {
        SecretsCache {
            entries: RwLock::new(HashMap::new()),
            ttl,
            epoch: AtomicU64::new(0),
        }
    }

    /// The unexpired entry of `script`.
    pub(super) fn get(&self, script: &str) -> Option<Arc<ScriptSecrets>> {
        let entries = self.entries.read().ok()?;
        let entry = entries.get(script)?;
        (entry.loaded.elapsed() < self.ttl).then(|| entry.secrets.clone())
    }

    /// The epoch to hand back to [`SecretsCache::insert`]; take it before reading the store.
    pub(super) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Caches `secrets` for `script`, unless an invalidation happened since `epoch`.
    pub(super) fn insert(&self, script: &str, secrets: Arc<ScriptSecrets>, epoch: u64) {
        if self.ttl.is_zero() {
            return;
        }
        let Ok(mut entries) = self.entries.write() else {
            return;
        };
        // Checked under the write lock, which `invalidate` also takes after bumping.
        if self.epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        entries.insert(
            script.to_owned(),
            Entry {
                secrets,
                loaded: Instant::now(),
            },
        );
    }

    /// Forgets `script`'s entry; loads in flight will not cache their (possibly stale) result.
    pub(super) fn invalidate(&self, script: &str) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(script);
        }
    }
}
