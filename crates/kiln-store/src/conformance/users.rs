//! Checks of users, roles, the last-admin rule, allowed tiers and OIDC identities.

use std::sync::Arc;

use super::{assert_conflict, assert_not_found, create_user, session, user};
use crate::{ADMIN_ROLE, NewUser, Store, StoreError};

/// Users are created with a lowercase email, sorted roles and tiers, and found by id or by
/// email in any case; a taken email (in any case) is a conflict naming it.
pub async fn users_create_and_look_up(store: &dyn Store) -> Result<(), StoreError> {
    assert_eq!(store.count_users().await?, 0);
    assert!(store.list_users().await?.is_empty());
    assert_eq!(store.count_active_admins().await?, 0);

    let alice = store
        .create_user(&NewUser {
            email: "Alice@Example.COM".into(),
            display_name: Some("Alice".into()),
            password_hash: Some("$argon2id$v=19$hash".into()),
            roles: vec!["user".into(), "editor".into(), "user".into()],
            allowed_tiers: vec!["pro".into(), "free".into()],
        })
        .await?;
    assert!(alice.id > 0);
    assert_eq!(alice.email, "alice@example.com");
    assert_eq!(alice.display_name.as_deref(), Some("Alice"));
    assert_eq!(alice.password_hash.as_deref(), Some("$argon2id$v=19$hash"));
    assert_eq!(alice.roles, ["editor", "user"]);
    assert_eq!(alice.allowed_tiers, ["free", "pro"]);
    assert!(!alice.disabled);
    assert!(alice.created_at > 0);
    assert!(alice.updated_at >= alice.created_at);
    assert!(alice.has_role("editor") && !alice.has_role(ADMIN_ROLE));

    assert_eq!(store.get_user(alice.id).await?.as_ref(), Some(&alice));
    for email in [
        "alice@example.com",
        "ALICE@EXAMPLE.COM",
        "aLiCe@example.com",
    ] {
        assert_eq!(
            store.get_user_by_email(email).await?.as_ref(),
            Some(&alice),
            "{email}"
        );
    }
    assert_eq!(store.get_user_by_email("bob@example.com").await?, None);
    assert_eq!(store.get_user(alice.id + 1000).await?, None);

    for email in ["alice@example.com", "ALICE@example.com"] {
        let duplicate = create_user(store, email, &[]).await;
        assert_conflict(duplicate, "alice@example.com");
    }

    let bob = create_user(store, "bob@example.com", &[]).await?;
    assert!(bob.id > alice.id);
    assert!(bob.roles.is_empty() && bob.allowed_tiers.is_empty());
    assert_eq!((bob.display_name, bob.password_hash), (None, None));
    let admin = create_user(store, "root@example.com", &[ADMIN_ROLE]).await?;

    let listed = store.list_users().await?;
    let ids: Vec<i64> = listed.iter().map(|u| u.id).collect();
    assert_eq!(ids, [alice.id, bob.id, admin.id]);
    assert_eq!(listed[0], alice);
    assert_eq!(listed[2].roles, [ADMIN_ROLE]);
    assert_eq!(store.count_users().await?, 3);
    assert_eq!(store.count_active_admins().await?, 1);
    Ok(())
}

/// A user naming an unknown allowed tier is not created at all.
pub async fn failed_create_user_leaves_nothing(store: &dyn Store) -> Result<(), StoreError> {
    let result = store
        .create_user(&NewUser {
            email: "carol@example.com".into(),
            roles: vec![ADMIN_ROLE.into()],
            allowed_tiers: vec!["free".into(), "gold".into()],
            ..NewUser::default()
        })
        .await;
    assert_not_found(result, "tier \"gold\"");
    assert_eq!(store.count_users().await?, 0);
    assert_eq!(store.count_active_admins().await?, 0);
    assert_eq!(store.get_user_by_email("carol@example.com").await?, None);
    // The email is still free.
    create_user(store, "carol@example.com", &[]).await?;
    Ok(())
}

/// `set_password_hash` sets and clears the hash; an unknown user is `NotFound`.
pub async fn password_hash_is_replaced(store: &dyn Store) -> Result<(), StoreError> {
    let alice = create_user(store, "alice@example.com", &[]).await?;
    store.set_password_hash(alice.id, Some("h1")).await?;
    assert_eq!(
        user(store, alice.id).await?.password_hash.as_deref(),
        Some("h1")
    );
    store.set_password_hash(alice.id, None).await?;
    assert_eq!(user(store, alice.id).await?.password_hash, None);
    let missing = alice.id + 1000;
    assert_not_found(
        store.set_password_hash(missing, Some("h")).await,
        &format!("user {missing}"),
    );
    Ok(())
}

/// Roles (custom names too) are granted and revoked idempotently and come back sorted.
pub async fn roles_are_granted_and_revoked(store: &dyn Store) -> Result<(), StoreError> {
    let carol = create_user(store, "carol@example.com", &[]).await?;
    let other = create_user(store, "other@example.com", &["user"]).await?;

    let granted = store.grant_role(carol.id, "editor").await?;
    assert_eq!(granted.roles, ["editor"]);
    assert_eq!(
        store.grant_role(carol.id, "editor").await?.roles,
        ["editor"]
    );
    let custom = store.grant_role(carol.id, "billing-viewer").await?;
    assert_eq!(custom.roles, ["billing-viewer", "editor"]);
    assert_eq!(user(store, carol.id).await?, custom);
    let with_user = store.grant_role(carol.id, "user").await?;
    assert_eq!(with_user.roles, ["billing-viewer", "editor", "user"]);

    let revoked = store.revoke_role(carol.id, "editor").await?;
    assert_eq!(revoked.roles, ["billing-viewer", "user"]);
    assert_eq!(user(store, carol.id).await?, revoked);
    assert_eq!(
        store.revoke_role(carol.id, "editor").await?.roles,
        ["billing-viewer", "user"],
        "idempotent"
    );
    assert_eq!(
        store.revoke_role(carol.id, "never-held").await?.roles,
        ["billing-viewer", "user"]
    );
    // Admin can be revoked from a non-admin (a no-op) without tripping the last-admin rule.
    store.revoke_role(carol.id, ADMIN_ROLE).await?;
    // Other users are untouched.
    assert_eq!(user(store, other.id).await?.roles, ["user"]);

    let missing = other.id + 1000;
    assert_not_found(
        store.grant_role(missing, "editor").await,
        &format!("user {missing}"),
    );
    assert_not_found(
        store.revoke_role(missing, "editor").await,
        &format!("user {missing}"),
    );
    Ok(())
}

/// The only enabled admin can neither lose the role nor be disabled; with two, one can go; a
/// disabled admin does not count.
pub async fn last_enabled_admin_is_protected(store: &dyn Store) -> Result<(), StoreError> {
    // The first admin is created freely.
    let first = create_user(store, "first@example.com", &[ADMIN_ROLE]).await?;
    assert_eq!(store.count_active_admins().await?, 1);

    assert_conflict(store.revoke_role(first.id, ADMIN_ROLE).await, "admin");
    assert_conflict(store.set_user_disabled(first.id, true).await, "admin");
    let unchanged = user(store, first.id).await?;
    assert!(unchanged.has_role(ADMIN_ROLE) && !unchanged.disabled);
    assert_eq!(store.count_active_admins().await?, 1);
    // Other roles of the last admin can still change.
    store.grant_role(first.id, "editor").await?;
    store.revoke_role(first.id, "editor").await?;
    // Enabling an enabled admin is a no-op, not a conflict.
    assert!(!store.set_user_disabled(first.id, false).await?.disabled);

    // With a second admin, one of them can go.
    let second = create_user(store, "second@example.com", &[]).await?;
    store.grant_role(second.id, ADMIN_ROLE).await?;
    assert_eq!(store.count_active_admins().await?, 2);
    let demoted = store.revoke_role(first.id, ADMIN_ROLE).await?;
    assert!(!demoted.has_role(ADMIN_ROLE));
    assert_eq!(store.count_active_admins().await?, 1);
    assert_conflict(store.revoke_role(second.id, ADMIN_ROLE).await, "admin");

    // A disabled admin does not count.
    let third = create_user(store, "third@example.com", &[ADMIN_ROLE]).await?;
    assert_eq!(store.count_active_admins().await?, 2);
    assert!(store.set_user_disabled(third.id, true).await?.disabled);
    assert_eq!(store.count_active_admins().await?, 1);
    assert_conflict(store.revoke_role(second.id, ADMIN_ROLE).await, "admin");
    assert_conflict(store.set_user_disabled(second.id, true).await, "admin");
    // Disabling the disabled admin again, or revoking its role, leaves the enabled one alone.
    assert!(store.set_user_disabled(third.id, true).await?.disabled);
    store.revoke_role(third.id, ADMIN_ROLE).await?;
    store.grant_role(third.id, ADMIN_ROLE).await?;
    assert_eq!(store.count_active_admins().await?, 1);

    // Re-enabling it makes it count again, so now the other can be disabled.
    assert!(!store.set_user_disabled(third.id, false).await?.disabled);
    assert_eq!(store.count_active_admins().await?, 2);
    assert!(store.set_user_disabled(second.id, true).await?.disabled);
    assert_eq!(store.count_active_admins().await?, 1);

    // Non-admins are never protected.
    let plain = create_user(store, "plain@example.com", &["user"]).await?;
    assert!(store.set_user_disabled(plain.id, true).await?.disabled);
    assert_not_found(store.set_user_disabled(plain.id + 1000, true).await, "user");
    Ok(())
}

/// Two (then four) enabled admins removed concurrently: exactly one stays an enabled admin.
pub async fn concurrent_admin_removals_leave_one_admin(
    store: Arc<dyn Store>,
) -> Result<(), StoreError> {
    let a = create_user(&*store, "a@example.com", &[ADMIN_ROLE]).await?;
    let b = create_user(&*store, "b@example.com", &[ADMIN_ROLE]).await?;
    let tasks: Vec<_> = [a.id, b.id]
        .into_iter()
        .map(|id| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.revoke_role(id, ADMIN_ROLE).await })
        })
        .collect();
    let mut succeeded = 0;
    for task in tasks {
        match task.await {
            Ok(Ok(_)) => succeeded += 1,
            Ok(Err(err)) => assert!(err.is_conflict(), "{err:?}"),
            Err(err) => panic!("revoke_role task failed: {err}"),
        }
    }
    assert_eq!(succeeded, 1, "exactly one revocation succeeds");
    assert_eq!(store.count_active_admins().await?, 1);

    // Now four enabled admins, two being revoked and two disabled at the same time.
    for email in ["c@example.com", "d@example.com", "e@example.com"] {
        create_user(&*store, email, &[ADMIN_ROLE]).await?;
    }
    let admins: Vec<i64> = store
        .list_users()
        .await?
        .into_iter()
        .filter(|u| u.has_role(ADMIN_ROLE) && !u.disabled)
        .map(|u| u.id)
        .collect();
    assert_eq!(admins.len(), 4);
    let tasks: Vec<_> = admins
        .iter()
        .enumerate()
        .map(|(i, &id)| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                if i % 2 == 0 {
                    store.revoke_role(id, ADMIN_ROLE).await
                } else {
                    store.set_user_disabled(id, true).await
                }
            })
        })
        .collect();
    let mut succeeded = 0;
    for task in tasks {
        match task.await {
            Ok(Ok(_)) => succeeded += 1,
            Ok(Err(err)) => assert!(err.is_conflict(), "{err:?}"),
            Err(err) => panic!("admin removal task failed: {err}"),
        }
    }
    assert_eq!(succeeded, 3, "all but one removal succeed");
    assert_eq!(store.count_active_admins().await?, 1);
    Ok(())
}

/// Disabling a user deletes their sessions (and only theirs); re-enabling does not bring them
/// back.
pub async fn disabling_a_user_deletes_their_sessions(store: &dyn Store) -> Result<(), StoreError> {
    let alice = create_user(store, "alice@example.com", &["user"]).await?;
    let bob = create_user(store, "bob@example.com", &["user"]).await?;
    store.create_session(&session("a1", alice.id)).await?;
    store.create_session(&session("a2", alice.id)).await?;
    store.create_session(&session("b1", bob.id)).await?;

    let disabled = store.set_user_disabled(alice.id, true).await?;
    assert!(disabled.disabled);
    assert_eq!(user(store, alice.id).await?, disabled);
    assert_eq!(store.get_session("a1").await?, None);
    assert_eq!(store.get_session("a2").await?, None);
    assert!(store.get_session("b1").await?.is_some());

    let enabled = store.set_user_disabled(alice.id, false).await?;
    assert!(!enabled.disabled);
    assert_eq!(store.get_session("a1").await?, None);
    assert_eq!(store.delete_user_sessions(alice.id).await?, 0);
    Ok(())
}

/// `set_allowed_tiers` replaces the list (sorted, deduplicated); unknown users and tiers are
/// `NotFound` and change nothing; deleting a tier removes it from users' lists.
pub async fn allowed_tiers_are_replaced(store: &dyn Store) -> Result<(), StoreError> {
    let alice = store
        .create_user(&NewUser {
            email: "alice@example.com".into(),
            allowed_tiers: vec!["free".into()],
            ..NewUser::default()
        })
        .await?;
    assert_eq!(alice.allowed_tiers, ["free"]);

    let tiers = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
    let updated = store
        .set_allowed_tiers(alice.id, &tiers(&["pro", "basic", "pro"]))
        .await?;
    assert_eq!(updated.allowed_tiers, ["basic", "pro"]);
    assert_eq!(user(store, alice.id).await?, updated);

    assert_not_found(
        store
            .set_allowed_tiers(alice.id, &tiers(&["free", "gold"]))
            .await,
        "tier \"gold\"",
    );
    assert_eq!(
        user(store, alice.id).await?.allowed_tiers,
        ["basic", "pro"],
        "unchanged"
    );
    let missing = alice.id + 1000;
    assert_not_found(
        store.set_allowed_tiers(missing, &tiers(&["free"])).await,
        &format!("user {missing}"),
    );

    assert!(
        store
            .set_allowed_tiers(alice.id, &[])
            .await?
            .allowed_tiers
            .is_empty()
    );

    // Deleting a tier drops it from allowed lists.
    let Some(mut gold) = store.get_tier("pro").await? else {
        panic!("seeded tier pro missing");
    };
    gold.name = "gold".into();
    store.upsert_tier(&gold).await?;
    store
        .set_allowed_tiers(alice.id, &tiers(&["gold", "free"]))
        .await?;
    assert!(store.delete_tier("gold").await?);
    assert_eq!(user(store, alice.id).await?.allowed_tiers, ["free"]);
    Ok(())
}

/// An OIDC identity links to one user: idempotently to the same one, a conflict for another;
/// `(issuer, subject)` is the key.
pub async fn oidc_identities_link_to_one_user(store: &dyn Store) -> Result<(), StoreError> {
    const GOOGLE: &str = "https://accounts.google.com";
    const GITLAB: &str = "https://gitlab.com";
    let alice = create_user(store, "alice@example.com", &[]).await?;
    let bob = create_user(store, "bob@example.com", &[]).await?;

    assert_eq!(store.find_user_by_identity(GOOGLE, "123").await?, None);
    store.link_identity(GOOGLE, "123", alice.id).await?;
    assert_eq!(
        store.find_user_by_identity(GOOGLE, "123").await?.as_ref(),
        Some(&alice)
    );
    store.link_identity(GOOGLE, "123", alice.id).await?;

    assert_conflict(store.link_identity(GOOGLE, "123", bob.id).await, "123");
    assert_eq!(
        store
            .find_user_by_identity(GOOGLE, "123")
            .await?
            .map(|u| u.id),
        Some(alice.id),
        "still linked to the first user"
    );

    // Same subject at another issuer is another identity; a user may have several.
    store.link_identity(GITLAB, "123", bob.id).await?;
    store.link_identity(GITLAB, "456", alice.id).await?;
    let found = |issuer, subject| async move {
        Ok::<_, StoreError>(
            store
                .find_user_by_identity(issuer, subject)
                .await?
                .map(|u| u.id),
        )
    };
    assert_eq!(found(GITLAB, "123").await?, Some(bob.id));
    assert_eq!(found(GITLAB, "456").await?, Some(alice.id));
    assert_eq!(found(GOOGLE, "456").await?, None);

    let missing = bob.id + 1000;
    assert_not_found(
        store.link_identity(GOOGLE, "789", missing).await,
        &format!("user {missing}"),
    );
    assert_eq!(found(GOOGLE, "789").await?, None);
    Ok(())
}
