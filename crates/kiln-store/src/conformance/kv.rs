//! Conformance checks for scripts' key/value storage: namespaces, expiry, listing, quotas,
//! atomic increments, sweeping and deletion with the script.

use std::sync::Arc;

use crate::{KvLimits, KvNamespace, Store, StoreError};

const ROOMY: KvLimits = KvLimits {
    max_keys: 1000,
    max_bytes: 1_000_000,
};

/// The error of a call that must fail.
fn refused<T: std::fmt::Debug>(result: Result<T, StoreError>) -> StoreError {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(error) => error,
    }
}

fn keys(list: &[&str]) -> Vec<String> {
    list.iter().map(|k| (*k).to_owned()).collect()
}

/// Values round trip per namespace; scripts and user scopes never see each other's entries.
pub async fn kv_namespaces_are_isolated(store: &dyn Store) -> Result<(), StoreError> {
    let a = KvNamespace::script("a");
    let b = KvNamespace::script("b");
    let a_user = KvNamespace::user("a", 7);
    store.kv_set(&a, "k", "1", None, 10, ROOMY).await?;
    store.kv_set(&b, "k", "\"b\"", None, 10, ROOMY).await?;
    store
        .kv_set(&a_user, "k", "{\"u\":7}", None, 10, ROOMY)
        .await?;
    let wanted = keys(&["k", "missing"]);
    assert_eq!(
        store.kv_get(&a, &wanted, 11).await?,
        [Some("1".to_owned()), None]
    );
    assert_eq!(
        store.kv_get(&b, &wanted, 11).await?[0].as_deref(),
        Some("\"b\"")
    );
    assert_eq!(
        store.kv_get(&a_user, &wanted, 11).await?[0].as_deref(),
        Some("{\"u\":7}")
    );
    assert_eq!(
        store
            .kv_get(&KvNamespace::user("a", 8), &wanted, 11)
            .await?[0],
        None
    );
    // Overwrite, then delete.
    store.kv_set(&a, "k", "2", None, 12, ROOMY).await?;
    assert_eq!(
        store.kv_get(&a, &wanted, 13).await?[0].as_deref(),
        Some("2")
    );
    assert!(store.kv_delete(&a, "k", 14).await?);
    assert!(!store.kv_delete(&a, "k", 14).await?);
    assert_eq!(store.kv_get(&a, &wanted, 15).await?[0], None);
    assert_eq!(
        store.kv_get(&b, &wanted, 15).await?[0].as_deref(),
        Some("\"b\"")
    );
    Ok(())
}

/// Expired entries are never returned or listed, and the sweep removes them and their usage.
pub async fn kv_entries_expire(store: &dyn Store) -> Result<(), StoreError> {
    let ns = KvNamespace::script("ttl");
    store.kv_set(&ns, "short", "1", Some(100), 0, ROOMY).await?;
    store.kv_set(&ns, "long", "2", Some(1000), 0, ROOMY).await?;
    store.kv_set(&ns, "forever", "3", None, 0, ROOMY).await?;
    let all = keys(&["short", "long", "forever"]);
    assert_eq!(
        store.kv_get(&ns, &all, 99).await?.iter().flatten().count(),
        3
    );
    assert_eq!(
        store.kv_get(&ns, &all, 100).await?,
        [None, Some("2".to_owned()), Some("3".to_owned())]
    );
    assert_eq!(
        store.kv_list(&ns, "", None, 10, 100).await?.keys,
        keys(&["forever", "long"])
    );
    // An expired entry deleted is reported as not there.
    assert!(!store.kv_delete(&ns, "short", 100).await?);
    store
        .kv_set(&ns, "short2", "1", Some(100), 0, ROOMY)
        .await?;
    assert_eq!(store.kv_usage("ttl").await?.keys, 3);
    assert_eq!(store.kv_sweep(1000, 100).await?, 2);
    let usage = store.kv_usage("ttl").await?;
    assert_eq!(usage.keys, 1);
    assert_eq!(usage.bytes, ("forever".len() + 1) as u64);
    assert_eq!(store.kv_sweep(1000, 100).await?, 0);
    Ok(())
}

/// Listing pages through keys in order within a prefix (taken literally).
pub async fn kv_list_pages_by_prefix(store: &dyn Store) -> Result<(), StoreError> {
    let ns = KvNamespace::script("list");
    for key in [
        "user:1", "user:2", "user:3", "user:%", "users", "other", "user_x",
    ] {
        store.kv_set(&ns, key, "0", None, 0, ROOMY).await?;
    }
    let page = store.kv_list(&ns, "user:", None, 2, 1).await?;
    assert_eq!(page.keys, keys(&["user:%", "user:1"]));
    let Some(cursor) = page.cursor else {
        panic!("the first page has a cursor")
    };
    let page = store.kv_list(&ns, "user:", Some(&cursor), 2, 1).await?;
    assert_eq!(page.keys, keys(&["user:2", "user:3"]));
    assert_eq!(page.cursor, None, "the last page has no cursor");
    let page = store.kv_list(&ns, "user:", Some("user:3"), 2, 1).await?;
    assert!(page.keys.is_empty() && page.cursor.is_none(), "{page:?}");
    // No LIKE semantics: `_` is not a wildcard.
    assert_eq!(
        store.kv_list(&ns, "user_", None, 10, 1).await?.keys,
        keys(&["user_x"])
    );
    assert_eq!(store.kv_list(&ns, "", None, 100, 1).await?.keys.len(), 7);
    Ok(())
}

/// Writes past the key or byte quota fail and change nothing; shrinking always works.
pub async fn kv_quotas_are_enforced(store: &dyn Store) -> Result<(), StoreError> {
    let ns = KvNamespace::script("quota");
    let user = KvNamespace::user("quota", 1);
    let limits = KvLimits {
        max_keys: 2,
        max_bytes: 20,
    };
    store.kv_set(&ns, "a", "12345", None, 0, limits).await?;
    store.kv_set(&user, "b", "1", None, 0, limits).await?;
    // The user scope counts toward the script's quota.
    let error = refused(store.kv_set(&ns, "c", "1", None, 0, limits).await);
    assert!(matches!(error, StoreError::LimitExceeded { .. }), "{error}");
    assert!(error.to_string().contains("keys"), "{error}");
    let error = refused(
        store
            .kv_set(&ns, "a", "12345678901234567890", None, 0, limits)
            .await,
    );
    assert!(matches!(error, StoreError::LimitExceeded { .. }), "{error}");
    assert_eq!(
        store.kv_get(&ns, &keys(&["a", "c"]), 1).await?,
        [Some("12345".to_owned()), None]
    );
    store.kv_set(&ns, "a", "1", None, 0, limits).await?;
    assert_eq!(store.kv_usage("quota").await?.bytes, 4);
    store.kv_delete(&user, "b", 1).await?;
    store.kv_set(&ns, "c", "1", None, 0, limits).await?;
    assert_eq!(store.kv_usage("quota").await?.keys, 2);
    Ok(())
}

/// Increments add to numbers, start from zero, keep the expiry and refuse non-numbers.
pub async fn kv_increment_adds_to_numbers(store: &dyn Store) -> Result<(), StoreError> {
    let ns = KvNamespace::script("count");
    assert_eq!(store.kv_increment(&ns, "n", 1.0, 0, ROOMY).await?, 1.0);
    assert_eq!(store.kv_increment(&ns, "n", 2.5, 0, ROOMY).await?, 3.5);
    assert_eq!(store.kv_increment(&ns, "n", -0.5, 0, ROOMY).await?, 3.0);
    assert_eq!(
        store.kv_get(&ns, &keys(&["n"]), 1).await?[0].as_deref(),
        Some("3")
    );
    store.kv_set(&ns, "t", "10", Some(50), 0, ROOMY).await?;
    assert_eq!(store.kv_increment(&ns, "t", 1.0, 10, ROOMY).await?, 11.0);
    assert_eq!(
        store.kv_get(&ns, &keys(&["t"]), 50).await?[0],
        None,
        "expiry kept"
    );
    assert_eq!(store.kv_increment(&ns, "t", 1.0, 60, ROOMY).await?, 1.0);
    store.kv_set(&ns, "s", "\"text\"", None, 0, ROOMY).await?;
    let error = refused(store.kv_increment(&ns, "s", 1.0, 0, ROOMY).await);
    assert!(error.is_conflict(), "{error}");
    Ok(())
}

/// Concurrent increments of one key lose no update.
pub async fn kv_concurrent_increments_are_atomic(store: Arc<dyn Store>) -> Result<(), StoreError> {
    let ns = KvNamespace::script("race");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (store, ns) = (store.clone(), ns.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                store.kv_increment(&ns, "n", 1.0, 0, ROOMY).await?;
            }
            Ok::<(), StoreError>(())
        }));
    }
    for task in tasks {
        match task.await {
            Ok(result) => result?,
            Err(error) => panic!("increment task failed: {error}"),
        }
    }
    assert_eq!(
        store.kv_get(&ns, &keys(&["n"]), 1).await?[0].as_deref(),
        Some("80")
    );
    Ok(())
}

/// Deleting a script deletes its entries (all scopes) and its usage.
pub async fn kv_goes_with_its_script(store: &dyn Store) -> Result<(), StoreError> {
    let ns = KvNamespace::script("gone");
    store.kv_set(&ns, "k", "1", None, 0, ROOMY).await?;
    store
        .kv_set(&KvNamespace::user("gone", 3), "k", "1", None, 0, ROOMY)
        .await?;
    store
        .kv_set(&KvNamespace::script("kept"), "k", "1", None, 0, ROOMY)
        .await?;
    store.delete_script("gone").await?;
    assert_eq!(store.kv_get(&ns, &keys(&["k"]), 1).await?[0], None);
    assert_eq!(store.kv_usage("gone").await?.keys, 0);
    assert_eq!(store.kv_usage("kept").await?.keys, 1);
    Ok(())
}
