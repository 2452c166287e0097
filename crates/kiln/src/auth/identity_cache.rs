//! A short-lived in-memory copy of what authenticating and metering an API key reads from the
//! store: the key rows of a prefix, the owning account and the key's tier. Without it every
//! API key request costs several SQLite round trips (key by prefix, the user with its roles and
//! allowed tiers in a read transaction, the tier), which dominated `POST /execute`.
//!
//! Entries live at most [`IDENTITY_TTL`], so a change made elsewhere — another instance sharing
//! the database, or `kiln` commands writing it directly — applies within that time (the design
//! allows one second for revocations). Changes made through this server's management API call
//! [`IdentityCache::invalidate`], which applies them to the very next request: every entry
//! carries the cache generation read *before* its store read, and an entry from an older
//! generation is ignored, so a load racing with a change can never bring stale data back.
//! Nothing is cached for keys the store does not know (a guessed key costs a store read, as
//! before); only the secret's keyed hash is kept, never a key.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kiln_store::{ApiKeyRecord, Store, StoreError, TierRecord, UserRecord};

/// How long an entry may be served before it is read from the store again. Half the second the
/// design allows for a revocation to reach every instance, leaving room for the reload itself.
pub const IDENTITY_TTL: Duration = Duration::from_millis(500);
/// Entries kept per kind at most (least recently used ones go first).
const MAX_ENTRIES: u64 = 10_000;

/// One cached value and the generation it was loaded under.
#[derive(Clone)]
struct Entry<T> {
    generation: u64,
    value: T,
}

/// The caches; share one per server (inside [`super::AuthService`]).
pub struct IdentityCache {
    /// Incremented by every local change; entries of older generations are ignored.
    generation: AtomicU64,
    /// Key rows by visible prefix (usually one; prefixes may collide).
    keys: moka::sync::Cache<String, Entry<Arc<[Arc<ApiKeyRecord>]>>>,
    /// Accounts by id.
    users: moka::sync::Cache<i64, Entry<Arc<UserRecord>>>,
    /// Tiers by name.
    tiers: moka::sync::Cache<String, Entry<Arc<TierRecord>>>,
}

fn cache<K, V>() -> moka::sync::Cache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    moka::sync::Cache::builder()
        .max_capacity(MAX_ENTRIES)
        .time_to_live(IDENTITY_TTL)
        .build()
}

impl Default for IdentityCache {
    fn default() -> Self {
        IdentityCache {
            generation: AtomicU64::new(0),
            keys: cache(),
            users: cache(),
            tiers: cache(),
        }
    }
}

impl IdentityCache {
    /// Forgets everything: call it after changing a key, an account or a tier.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.keys.invalidate_all();
        self.users.invalidate_all();
        self.tiers.invalidate_all();
    }

    fn current(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The keys whose visible prefix is `prefix`, and whether they came from the cache. With
    /// `fresh`, the store is read even if the cache has an answer (the presented key matched
    /// none of the cached rows: it may have been created since).
    pub async fn keys_by_prefix(
        &self,
        store: &dyn Store,
        prefix: &str,
        fresh: bool,
    ) -> Result<(Arc<[Arc<ApiKeyRecord>]>, bool), StoreError> {
        let generation = self.current();
        if !fresh
            && let Some(entry) = self.keys.get(prefix)
            && entry.generation == generation
        {
            return Ok((entry.value, true));
        }
        let rows: Arc<[Arc<ApiKeyRecord>]> = store
            .api_keys_by_prefix(prefix)
            .await?
            .into_iter()
            .map(Arc::new)
            .collect();
        if !rows.is_empty() {
            let entry = Entry {
                generation,
                value: rows.clone(),
            };
            self.keys.insert(prefix.to_owned(), entry);
        }
        Ok((rows, false))
    }

    /// The account `id`, if it exists.
    pub async fn user(
        &self,
        store: &dyn Store,
        id: i64,
    ) -> Result<Option<Arc<UserRecord>>, StoreError> {
        let generation = self.current();
        if let Some(entry) = self.users.get(&id)
            && entry.generation == generation
        {
            return Ok(Some(entry.value));
        }
        let Some(user) = store.get_user(id).await? else {
            return Ok(None);
        };
        let user = Arc::new(user);
        let entry = Entry {
            generation,
            value: user.clone(),
        };
        self.users.insert(id, entry);
        Ok(Some(user))
    }

    /// The tier `name`, if it exists.
    pub async fn tier(
        &self,
        store: &dyn Store,
        name: &str,
    ) -> Result<Option<Arc<TierRecord>>, StoreError> {
        let generation = self.current();
        if let Some(entry) = self.tiers.get(name)
            && entry.generation == generation
        {
            return Ok(Some(entry.value));
        }
        let Some(tier) = store.get_tier(name).await? else {
            return Ok(None);
        };
        let tier = Arc::new(tier);
        let entry = Entry {
            generation,
            value: tier.clone(),
        };
        self.tiers.insert(name.to_owned(), entry);
        Ok(Some(tier))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_store::{IdentityStore, NewApiKey, NewUser, SqliteStore};

    async fn store_with_key(dir: &std::path::Path) -> (SqliteStore, ApiKeyRecord) {
        let store = SqliteStore::open(&dir.join("kiln.db")).await.unwrap();
        let user = store
            .create_user(&NewUser {
                email: "a@example.com".into(),
                display_name: None,
                password_hash: None,
                roles: vec!["user".into()],
                allowed_tiers: vec!["free".into()],
            })
            .await
            .unwrap();
        let key = store
            .create_api_key(&NewApiKey {
                prefix: "kiln_0123abcd".into(),
                hash: "00".into(),
                user_id: user.id,
                name: "k".into(),
                tier: "free".into(),
                scopes: vec!["execute".into()],
                expires_at: None,
            })
            .await
            .unwrap();
        (store, key)
    }

    #[tokio::test]
    async fn entries_are_served_until_invalidated_or_expired() {
        let dir = tempfile::tempdir().unwrap();
        let (store, key) = store_with_key(dir.path()).await;
        let cache = IdentityCache::default();
        let (keys, cached) = cache
            .keys_by_prefix(&store, &key.prefix, false)
            .await
            .unwrap();
        assert_eq!((keys[0].revoked_at, cached), (None, false));
        store.revoke_api_key(key.id, 1).await.unwrap();
        // A change made elsewhere (another instance): the cached row is served until the TTL...
        let (keys, cached) = cache
            .keys_by_prefix(&store, &key.prefix, false)
            .await
            .unwrap();
        assert_eq!((keys[0].revoked_at, cached), (None, true));
        // ... unless the caller asks for a fresh read ...
        let (keys, cached) = cache
            .keys_by_prefix(&store, &key.prefix, true)
            .await
            .unwrap();
        assert_eq!((keys[0].revoked_at, cached), (Some(1), false));
        // ... and never after it.
        store.set_api_key_tier(key.id, "pro").await.unwrap();
        tokio::time::sleep(IDENTITY_TTL + Duration::from_millis(50)).await;
        let (keys, cached) = cache
            .keys_by_prefix(&store, &key.prefix, false)
            .await
            .unwrap();
        assert_eq!((keys[0].tier.as_str(), cached), ("pro", false));

        // A local change applies at once.
        let user = cache.user(&store, key.user_id).await.unwrap().unwrap();
        assert!(!user.disabled);
        store.set_user_disabled(key.user_id, true).await.unwrap();
        cache.invalidate();
        let user = cache.user(&store, key.user_id).await.unwrap().unwrap();
        assert!(user.disabled);
        let tier = cache.tier(&store, "free").await.unwrap().unwrap();
        assert_eq!(tier.rate_per_minute, 10);
        assert!(cache.tier(&store, "missing").await.unwrap().is_none());
        assert!(cache.user(&store, 999).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_load_racing_with_a_change_is_not_served_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let (store, key) = store_with_key(dir.path()).await;
        let cache = IdentityCache::default();
        // A load that read the generation (and the store) before a change, and inserts after
        // the change invalidated the cache, must not be served afterwards.
        let generation = cache.current();
        let before = Arc::new(store.get_user(key.user_id).await.unwrap().unwrap());
        store.set_user_disabled(key.user_id, true).await.unwrap();
        cache.invalidate();
        cache.users.insert(
            key.user_id,
            Entry {
                generation,
                value: before,
            },
        );
        let user = cache.user(&store, key.user_id).await.unwrap().unwrap();
        assert!(user.disabled, "a stale entry was served after invalidate()");
    }
}
