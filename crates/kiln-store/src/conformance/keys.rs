//! Checks of tiers and API keys.

use super::{assert_conflict, assert_not_found, create_user};
use crate::{ApiKeyRecord, NewApiKey, Store, StoreError, TierRecord};

/// A tier with the given name and rate/quota, and fixed resource limits.
fn tier(name: &str, rate_per_minute: i64, quota_per_day: i64) -> TierRecord {
    TierRecord {
        name: name.to_owned(),
        rate_per_minute,
        quota_per_day,
        cpu_ms: 2000,
        memory_mb: 96,
        max_wasm_bytes: 1 << 20,
        max_input_bytes: 1 << 16,
        max_concurrent: 3,
    }
}

/// A key of `user_id` on `tier`, named and hashed after `prefix`.
fn new_key(prefix: &str, user_id: i64, tier: &str, scopes: &[&str]) -> NewApiKey {
    NewApiKey {
        prefix: prefix.to_owned(),
        hash: format!("hash-of-{prefix}-{user_id}-{tier}"),
        user_id,
        name: format!("key {prefix}"),
        tier: tier.to_owned(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        expires_at: None,
    }
}

/// The key with `id`; panics if it does not exist.
async fn key(store: &dyn Store, id: i64) -> Result<ApiKeyRecord, StoreError> {
    match store.get_api_key(id).await? {
        Some(key) => Ok(key),
        None => panic!("API key {id} should exist"),
    }
}

/// A fresh store has the free, basic and pro tiers.
pub async fn tiers_are_seeded(store: &dyn Store) -> Result<(), StoreError> {
    let seeded = |name: &str, rate, quota, cpu_ms, memory_mb, wasm, input, concurrent| TierRecord {
        name: name.to_owned(),
        rate_per_minute: rate,
        quota_per_day: quota,
        cpu_ms,
        memory_mb,
        max_wasm_bytes: wasm,
        max_input_bytes: input,
        max_concurrent: concurrent,
    };
    let basic = seeded("basic", 100, 10_000, 5000, 128, 10_485_760, 5_242_880, 5);
    let free = seeded("free", 10, 500, 1000, 64, 5_242_880, 1_048_576, 2);
    let pro = seeded("pro", 500, 50_000, 10_000, 256, 52_428_800, 10_485_760, 20);
    assert_eq!(
        store.list_tiers().await?,
        [basic.clone(), free.clone(), pro.clone()]
    );
    assert_eq!(store.get_tier("free").await?, Some(free));
    assert_eq!(store.get_tier("basic").await?, Some(basic));
    assert_eq!(store.get_tier("pro").await?, Some(pro));
    assert_eq!(store.get_tier("gold").await?, None);
    Ok(())
}

/// `upsert_tier` creates and replaces; invalid limits are a conflict; `delete_tier` reports
/// whether the tier existed.
pub async fn tiers_upsert_and_delete(store: &dyn Store) -> Result<(), StoreError> {
    let gold = tier("gold", 1000, 0);
    store.upsert_tier(&gold).await?;
    assert_eq!(store.get_tier("gold").await?, Some(gold));
    let names: Vec<String> = store
        .list_tiers()
        .await?
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["basic", "free", "gold", "pro"]);

    let replaced = TierRecord {
        cpu_ms: 30_000,
        max_concurrent: 50,
        ..tier("gold", 0, 1_000_000)
    };
    store.upsert_tier(&replaced).await?;
    assert_eq!(store.get_tier("gold").await?, Some(replaced.clone()));
    assert_eq!(store.list_tiers().await?.len(), 4);

    // Seeded tiers can be replaced too.
    let cheap = tier("free", 5, 100);
    store.upsert_tier(&cheap).await?;
    assert_eq!(store.get_tier("free").await?, Some(cheap));

    for invalid in [
        TierRecord {
            cpu_ms: 0,
            ..tier("gold", 1, 1)
        },
        TierRecord {
            max_concurrent: -1,
            ..tier("gold", 1, 1)
        },
        tier("gold", -1, 1),
    ] {
        assert_conflict(store.upsert_tier(&invalid).await, "gold");
    }
    assert_eq!(store.get_tier("gold").await?, Some(replaced), "unchanged");

    assert!(store.delete_tier("gold").await?);
    assert_eq!(store.get_tier("gold").await?, None);
    assert!(!store.delete_tier("gold").await?);
    assert!(!store.delete_tier("never").await?);
    assert_eq!(store.list_tiers().await?.len(), 3);
    Ok(())
}

/// A tier cannot be deleted while any key (revoked ones too) is on it.
pub async fn tier_in_use_cannot_be_deleted(store: &dyn Store) -> Result<(), StoreError> {
    let alice = create_user(store, "alice@example.com", &[]).await?;
    let k = store
        .create_api_key(&new_key("kiln_aaaa", alice.id, "basic", &["invoke"]))
        .await?;
    store.revoke_api_key(k.id, 1).await?;

    assert_conflict(store.delete_tier("basic").await, "basic");
    assert!(store.get_tier("basic").await?.is_some());
    assert_eq!(key(store, k.id).await?.tier, "basic");

    store.set_api_key_tier(k.id, "pro").await?;
    assert!(store.delete_tier("basic").await?);
    assert_eq!(store.get_tier("basic").await?, None);
    Ok(())
}

/// Keys are created (scopes sorted), found by prefix and id, and listed per user or all;
/// unknown users and tiers are `NotFound`, a reused hash a conflict.
pub async fn api_keys_are_created_and_found(store: &dyn Store) -> Result<(), StoreError> {
    let alice = create_user(store, "alice@example.com", &[]).await?;
    let bob = create_user(store, "bob@example.com", &[]).await?;

    let k1 = store
        .create_api_key(&NewApiKey {
            expires_at: Some(1_900_000_000_000),
            ..new_key("kiln_3fa9c1d2", alice.id, "free", &["manage", "execute"])
        })
        .await?;
    assert!(k1.id > 0);
    assert_eq!(k1.prefix, "kiln_3fa9c1d2");
    assert_eq!(k1.hash, format!("hash-of-kiln_3fa9c1d2-{}-free", alice.id));
    assert_eq!(
        (k1.user_id, k1.name.as_str()),
        (alice.id, "key kiln_3fa9c1d2")
    );
    assert_eq!(k1.tier, "free");
    assert_eq!(k1.scopes, ["execute", "manage"]);
    assert!(k1.created_at > 0);
    assert_eq!(k1.expires_at, Some(1_900_000_000_000));
    assert_eq!((k1.revoked_at, k1.last_used_at), (None, None));
    assert_eq!(store.get_api_key(k1.id).await?.as_ref(), Some(&k1));

    // A second key with the same visible prefix (different hash) is allowed.
    let k2 = store
        .create_api_key(&new_key("kiln_3fa9c1d2", alice.id, "pro", &["invoke"]))
        .await?;
    let k3 = store
        .create_api_key(&new_key("kiln_b0b0b0b0", bob.id, "basic", &[]))
        .await?;
    assert!(k1.id < k2.id && k2.id < k3.id);
    assert!(k3.scopes.is_empty());

    assert_eq!(
        store.api_keys_by_prefix("kiln_3fa9c1d2").await?,
        [k1.clone(), k2.clone()]
    );
    assert_eq!(
        store.api_keys_by_prefix("kiln_b0b0b0b0").await?,
        std::slice::from_ref(&k3)
    );
    assert!(store.api_keys_by_prefix("kiln_00000000").await?.is_empty());
    assert_eq!(store.get_api_key(k3.id + 1000).await?, None);

    assert_eq!(
        store.list_api_keys(Some(alice.id)).await?,
        [k1.clone(), k2.clone()]
    );
    assert_eq!(
        store.list_api_keys(Some(bob.id)).await?,
        std::slice::from_ref(&k3)
    );
    assert_eq!(store.list_api_keys(None).await?, [k1.clone(), k2, k3]);
    assert!(store.list_api_keys(Some(bob.id + 1000)).await?.is_empty());

    let missing = bob.id + 1000;
    assert_not_found(
        store
            .create_api_key(&new_key("kiln_x", missing, "free", &[]))
            .await,
        &format!("user {missing}"),
    );
    assert_not_found(
        store
            .create_api_key(&new_key("kiln_x", alice.id, "gold", &[]))
            .await,
        "tier \"gold\"",
    );
    let reused_hash = NewApiKey {
        prefix: "kiln_other".into(),
        ..new_key("kiln_3fa9c1d2", alice.id, "free", &[])
    };
    assert_eq!(reused_hash.hash, k1.hash);
    assert_conflict(store.create_api_key(&reused_hash).await, "");
    assert!(store.api_keys_by_prefix("kiln_x").await?.is_empty());
    assert!(store.api_keys_by_prefix("kiln_other").await?.is_empty());
    assert_eq!(store.list_api_keys(None).await?.len(), 3);
    Ok(())
}

/// Revoking is idempotent and keeps the first revocation time; unknown keys are `NotFound`.
pub async fn api_key_revocation_keeps_first_time(store: &dyn Store) -> Result<(), StoreError> {
    let alice = create_user(store, "alice@example.com", &[]).await?;
    let k1 = store
        .create_api_key(&new_key("kiln_1", alice.id, "free", &["invoke"]))
        .await?;
    let k2 = store
        .create_api_key(&new_key("kiln_2", alice.id, "free", &["invoke"]))
        .await?;

    let revoked = store.revoke_api_key(k1.id, 5000).await?;
    assert_eq!(revoked.revoked_at, Some(5000));
    assert_eq!(
        ApiKeyRecord {
            revoked_at: None,
            ..revoked.clone()
        },
        k1,
        "nothing else changes"
    );
    let again = store.revoke_api_key(k1.id, 9000).await?;
    assert_eq!(again.revoked_at, Some(5000));
    assert_eq!(key(store, k1.id).await?.revoked_at, Some(5000));
    assert_eq!(key(store, k2.id).await?.revoked_at, None);

    let missing = k2.id + 1000;
    assert_not_found(
        store.revoke_api_key(missing, 1).await,
        &format!("API key {missing}"),
    );
    Ok(())
}

/// `set_api_key_tier` moves a key; unknown keys and tiers are `NotFound` and change nothing.
pub async fn api_key_tier_changes(store: &dyn Store) -> Result<(), StoreError> {
    let alice = create_user(store, "alice@example.com", &[]).await?;
    let k = store
        .create_api_key(&new_key("kiln_1", alice.id, "free", &["execute"]))
        .await?;

    let moved = store.set_api_key_tier(k.id, "pro").await?;
    assert_eq!(moved.tier, "pro");
    assert_eq!(
        ApiKeyRecord {
            tier: k.tier.clone(),
            ..moved.clone()
        },
        k
    );
    assert_eq!(key(store, k.id).await?, moved);

    assert_not_found(store.set_api_key_tier(k.id, "gold").await, "tier \"gold\"");
    assert_eq!(key(store, k.id).await?.tier, "pro", "unchanged");
    let missing = k.id + 1000;
    assert_not_found(
        store.set_api_key_tier(missing, "free").await,
        &format!("API key {missing}"),
    );

    // A tier created later can be used.
    store.upsert_tier(&tier("gold", 1, 1)).await?;
    assert_eq!(store.set_api_key_tier(k.id, "gold").await?.tier, "gold");
    Ok(())
}

/// `touch_api_keys` records the latest use and never moves `last_used_at` backwards; unknown
/// ids are ignored.
pub async fn touching_api_keys_never_goes_backwards(store: &dyn Store) -> Result<(), StoreError> {
    let alice = create_user(store, "alice@example.com", &[]).await?;
    let k1 = store
        .create_api_key(&new_key("kiln_1", alice.id, "free", &[]))
        .await?;
    let k2 = store
        .create_api_key(&new_key("kiln_2", alice.id, "free", &[]))
        .await?;
    let k3 = store
        .create_api_key(&new_key("kiln_3", alice.id, "free", &[]))
        .await?;
    let last_used = |id| async move { Ok::<_, StoreError>(key(store, id).await?.last_used_at) };

    store.touch_api_keys(&[]).await?;
    store
        .touch_api_keys(&[(k1.id, 5000), (k2.id, 3000)])
        .await?;
    assert_eq!(last_used(k1.id).await?, Some(5000));
    assert_eq!(last_used(k2.id).await?, Some(3000));
    assert_eq!(last_used(k3.id).await?, None);

    store
        .touch_api_keys(&[(k1.id, 4000), (k2.id, 6000), (k3.id + 1000, 1)])
        .await?;
    assert_eq!(last_used(k1.id).await?, Some(5000), "not backwards");
    assert_eq!(last_used(k2.id).await?, Some(6000));

    // The same key twice in one batch, out of order.
    store
        .touch_api_keys(&[(k3.id, 8000), (k3.id, 7000)])
        .await?;
    assert_eq!(last_used(k3.id).await?, Some(8000));
    Ok(())
}
