//! Checks of login sessions and script ownership.

use super::{assert_conflict, assert_not_found, create_user, deploy, session};
use crate::{SessionRecord, Store, StoreError};

/// Sessions round-trip, are touched, and are deleted one by one or per user.
pub async fn sessions_lifecycle(store: &dyn Store) -> Result<(), StoreError> {
    let alice = create_user(store, "alice@example.com", &[]).await?;
    let bob = create_user(store, "bob@example.com", &[]).await?;

    let full = SessionRecord {
        id_hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        user_id: alice.id,
        csrf_token: "csrf-token".into(),
        created_at: 1_700_000_000_000,
        last_seen_at: 1_700_000_000_000,
        expires_at: 1_700_604_800_000,
        ip: Some("203.0.113.7".into()),
        user_agent: Some("Mozilla/5.0".into()),
    };
    store.create_session(&full).await?;
    store.create_session(&session("a2", alice.id)).await?;
    store.create_session(&session("b1", bob.id)).await?;
    assert_eq!(
        store.get_session(&full.id_hash).await?.as_ref(),
        Some(&full)
    );
    assert_eq!(
        store.get_session("b1").await?,
        Some(session("b1", bob.id)),
        "optional fields stay None"
    );
    assert_eq!(store.get_session("nope").await?, None);

    assert_conflict(store.create_session(&session("a2", bob.id)).await, "");
    let missing = bob.id + 1000;
    assert_not_found(
        store.create_session(&session("x", missing)).await,
        &format!("user {missing}"),
    );
    assert_eq!(store.get_session("x").await?, None);

    store
        .touch_session(&full.id_hash, full.last_seen_at + 60_000)
        .await?;
    let touched = store.get_session(&full.id_hash).await?;
    assert_eq!(
        touched.as_ref().map(|s| s.last_seen_at),
        Some(full.last_seen_at + 60_000)
    );
    assert_eq!(
        touched.map(|s| (s.created_at, s.expires_at)),
        Some((full.created_at, full.expires_at)),
        "only last_seen_at changes"
    );
    store.touch_session("nope", 5).await?;

    assert!(store.delete_session("a2").await?);
    assert!(!store.delete_session("a2").await?);
    assert_eq!(store.get_session("a2").await?, None);

    store.create_session(&session("a3", alice.id)).await?;
    assert_eq!(store.delete_user_sessions(alice.id).await?, 2);
    assert_eq!(store.get_session(&full.id_hash).await?, None);
    assert_eq!(store.get_session("a3").await?, None);
    assert!(
        store.get_session("b1").await?.is_some(),
        "other users keep theirs"
    );
    assert_eq!(store.delete_user_sessions(alice.id).await?, 0);
    Ok(())
}

/// `prune_sessions(now, idle_before)` deletes sessions with `expires_at <= now` or
/// `last_seen_at < idle_before`, and nothing else.
pub async fn prune_sessions_by_expiry_and_idleness(store: &dyn Store) -> Result<(), StoreError> {
    let alice = create_user(store, "alice@example.com", &[]).await?;
    let with = |id: &str, last_seen_at: i64, expires_at: i64| SessionRecord {
        last_seen_at,
        expires_at,
        ..session(id, alice.id)
    };
    let now = 10_000;
    let idle_before = 5_000;
    for s in [
        with("expired", 9_000, 9_999),
        with("expires-now", 9_000, now),
        with("idle", 4_999, 50_000),
        with("idle-edge", idle_before, 50_000),
        with("fresh", 9_500, now + 1),
    ] {
        store.create_session(&s).await?;
    }
    assert_eq!(store.prune_sessions(now, idle_before).await?, 3);
    for gone in ["expired", "expires-now", "idle"] {
        assert_eq!(store.get_session(gone).await?, None, "{gone}");
    }
    for kept in ["idle-edge", "fresh"] {
        assert!(store.get_session(kept).await?.is_some(), "{kept}");
    }
    assert_eq!(store.prune_sessions(now, idle_before).await?, 0);
    Ok(())
}

/// Owners are added idempotently (before the script exists, too), listed both ways, removed;
/// `delete_script` removes a script's owners.
pub async fn script_owners_are_recorded(store: &dyn Store) -> Result<(), StoreError> {
    let alice = create_user(store, "alice@example.com", &[]).await?;
    let bob = create_user(store, "bob@example.com", &[]).await?;

    // Claimed before any version exists.
    store.add_script_owner("shop", bob.id).await?;
    store.add_script_owner("shop", alice.id).await?;
    store.add_script_owner("shop", alice.id).await?;
    store.add_script_owner("blog", alice.id).await?;
    assert_eq!(store.script_owners("shop").await?, [alice.id, bob.id]);
    assert_eq!(store.owned_scripts(alice.id).await?, ["blog", "shop"]);
    assert_eq!(store.owned_scripts(bob.id).await?, ["shop"]);
    assert!(store.script_owners("ghost").await?.is_empty());
    assert!(store.owned_scripts(bob.id + 1000).await?.is_empty());

    let missing = bob.id + 1000;
    assert_not_found(
        store.add_script_owner("shop", missing).await,
        &format!("user {missing}"),
    );

    assert!(store.remove_script_owner("shop", bob.id).await?);
    assert!(!store.remove_script_owner("shop", bob.id).await?);
    assert!(!store.remove_script_owner("ghost", bob.id).await?);
    assert_eq!(store.script_owners("shop").await?, [alice.id]);
    assert!(store.owned_scripts(bob.id).await?.is_empty());

    deploy(store, "shop", "one", true).await?;
    assert!(store.delete_script("shop").await?);
    assert!(store.script_owners("shop").await?.is_empty());
    assert_eq!(store.owned_scripts(alice.id).await?, ["blog"]);
    Ok(())
}
