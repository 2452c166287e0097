//! Conformance checks for scripts' secrets: sealed values round trip untouched, per script;
//! the per-script cap; deletion with the script.

use crate::{SealedSecret, Store, StoreError};

fn sealed(tag: u8) -> SealedSecret {
    SealedSecret {
        nonce: vec![tag; 12],
        ciphertext: vec![tag, 0, 255, tag],
    }
}

/// Puts replace values and keep `created_at`; scripts never see each other's secrets.
pub async fn secrets_round_trip_per_script(store: &dyn Store) -> Result<(), StoreError> {
    assert!(store.put_secret("a", "TOKEN", &sealed(1), 10, 100).await?);
    assert!(
        store
            .put_secret("a", "API_KEY", &sealed(2), 11, 100)
            .await?
    );
    assert!(store.put_secret("b", "TOKEN", &sealed(3), 12, 100).await?);
    assert!(!store.put_secret("a", "TOKEN", &sealed(4), 20, 100).await?);
    let a = store.list_secrets("a").await?;
    let names: Vec<&str> = a.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["API_KEY", "TOKEN"], "sorted by name");
    assert_eq!(a[1].sealed, sealed(4));
    assert_eq!((a[1].created_at, a[1].updated_at), (10, 20));
    assert!(a.iter().all(|s| s.script == "a"));
    let b = store.list_secrets("b").await?;
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].sealed, sealed(3));
    assert!(store.delete_secret("a", "TOKEN").await?);
    assert!(!store.delete_secret("a", "TOKEN").await?);
    assert!(!store.delete_secret("c", "API_KEY").await?);
    assert_eq!(store.list_secrets("a").await?.len(), 1);
    assert_eq!(store.list_secrets("b").await?.len(), 1);
    assert!(store.list_secrets("none").await?.is_empty());
    Ok(())
}

/// A new secret past the cap is refused; replacing an existing one is not.
pub async fn secrets_are_capped_per_script(store: &dyn Store) -> Result<(), StoreError> {
    store.put_secret("capped", "A", &sealed(1), 0, 2).await?;
    store.put_secret("capped", "B", &sealed(1), 0, 2).await?;
    match store.put_secret("capped", "C", &sealed(1), 0, 2).await {
        Err(StoreError::LimitExceeded { message }) => {
            assert!(message.contains("at most 2"), "{message}")
        }
        other => panic!("expected LimitExceeded, got {other:?}"),
    }
    assert!(!store.put_secret("capped", "B", &sealed(2), 1, 2).await?);
    store.put_secret("other", "C", &sealed(1), 0, 2).await?;
    assert_eq!(store.list_secrets("capped").await?.len(), 2);
    Ok(())
}

/// Deleting a script deletes its secrets (also when the name has no script row), not others'.
pub async fn secrets_go_with_their_script(store: &dyn Store) -> Result<(), StoreError> {
    super::deploy(store, "gone", "v1", true).await?;
    store.put_secret("gone", "TOKEN", &sealed(1), 0, 10).await?;
    store.put_secret("kept", "TOKEN", &sealed(2), 0, 10).await?;
    store
        .put_secret("orphan", "TOKEN", &sealed(3), 0, 10)
        .await?;
    assert!(store.delete_script("gone").await?);
    assert!(!store.delete_script("orphan").await?);
    assert!(store.list_secrets("gone").await?.is_empty());
    assert!(store.list_secrets("orphan").await?.is_empty());
    assert_eq!(store.list_secrets("kept").await?.len(), 1);
    Ok(())
}
