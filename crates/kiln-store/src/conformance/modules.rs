//! Checks of stored WebAssembly modules: content deduplication and its garbage collection,
//! isolation between owners, replace semantics, paging, execution statistics, name rules.

use std::sync::Arc;

use super::{assert_not_found, create_user};
use crate::{ModuleListQuery, ModuleStorage, NewModule, PutModule, Store, StoreError, module_hash};

/// Stores `bytes` as `owner`'s module `name` (no description).
async fn put(
    store: &dyn Store,
    owner_id: i64,
    name: &str,
    bytes: &[u8],
) -> Result<PutModule, StoreError> {
    store
        .put_module(NewModule {
            owner_id,
            name,
            description: None,
            bytes,
        })
        .await
}

/// Module and content counts, and content bytes.
async fn storage(store: &dyn Store) -> Result<(i64, i64, i64), StoreError> {
    let ModuleStorage {
        modules,
        contents,
        content_bytes,
    } = store.module_storage().await?;
    Ok((modules, contents, content_bytes))
}

/// The same bytes under two owners are two modules and one content row; the content lives
/// until the last module using it is deleted.
pub async fn module_contents_are_deduplicated_and_collected(
    store: &dyn Store,
) -> Result<(), StoreError> {
    let alice = create_user(store, "alice@example.com", &[]).await?;
    let bob = create_user(store, "bob@example.com", &[]).await?;
    let bytes = b"\0asm\x01\0\0\0same".to_vec();

    let a = put(store, alice.id, "tool", &bytes).await?;
    let b = put(store, bob.id, "tool", &bytes).await?;
    assert!(a.created && b.created);
    assert_ne!(a.module.id, b.module.id);
    assert_eq!(a.module.hash, module_hash(&bytes));
    assert_eq!(a.module.hash, b.module.hash);
    assert_eq!(a.module.size_bytes, bytes.len() as i64);
    assert_eq!(storage(store).await?, (2, 1, bytes.len() as i64));

    // A second name of the same owner shares the content too.
    put(store, alice.id, "tool-copy", &bytes).await?;
    assert_eq!(storage(store).await?, (3, 1, bytes.len() as i64));

    assert!(store.delete_module(alice.id, "tool").await?);
    assert!(
        !store.delete_module(alice.id, "tool").await?,
        "already gone"
    );
    assert_eq!(storage(store).await?, (2, 1, bytes.len() as i64));
    assert!(store.delete_module(alice.id, "tool-copy").await?);
    assert_eq!(storage(store).await?, (1, 1, bytes.len() as i64));
    let Some((module, stored)) = store.get_module_with_bytes(bob.id, "tool").await? else {
        panic!("bob's module lost its bytes");
    };
    assert_eq!((module, stored), (b.module, bytes));
    assert!(store.delete_module(bob.id, "tool").await?);
    assert_eq!(storage(store).await?, (0, 0, 0));
    Ok(())
}

/// An owner never sees, replaces or deletes another owner's module of the same name.
pub async fn modules_are_isolated_between_owners(store: &dyn Store) -> Result<(), StoreError> {
    let alice = create_user(store, "alice@example.com", &[]).await?;
    let bob = create_user(store, "bob@example.com", &[]).await?;
    put(store, alice.id, "only-alice", b"alice bytes").await?;
    put(store, alice.id, "shared-name", b"alice v1").await?;
    put(store, bob.id, "shared-name", b"bob v1").await?;

    assert_eq!(store.get_module(bob.id, "only-alice").await?, None);
    assert_eq!(
        store.get_module_with_bytes(bob.id, "only-alice").await?,
        None
    );
    assert!(!store.delete_module(bob.id, "only-alice").await?);
    assert!(
        !store
            .record_module_execution(bob.id, "only-alice", 5)
            .await?
    );
    assert!(store.get_module(alice.id, "only-alice").await?.is_some());

    let Some((_, bytes)) = store.get_module_with_bytes(bob.id, "shared-name").await? else {
        panic!("bob's module missing");
    };
    assert_eq!(bytes, b"bob v1");
    let bob_page = store
        .list_modules(bob.id, &ModuleListQuery::default())
        .await?;
    let names: Vec<_> = bob_page.modules.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["shared-name"]);
    assert!(
        bob_page.modules.iter().all(|m| m.owner_id == bob.id),
        "{bob_page:?}"
    );
    let nobody = store
        .list_modules(bob.id + 1000, &ModuleListQuery::default())
        .await?;
    assert!(nobody.modules.is_empty() && nobody.next_cursor.is_none());
    Ok(())
}

/// Replacing keeps the id, creation time and statistics, swaps the bytes atomically, collects
/// the old content, and keeps or clears the description as asked.
pub async fn replacing_a_module_keeps_its_identity(store: &dyn Store) -> Result<(), StoreError> {
    let alice = create_user(store, "alice@example.com", &[]).await?;
    let first = store
        .put_module(NewModule {
            owner_id: alice.id,
            name: "calc",
            description: Some("adds numbers"),
            bytes: b"v1",
        })
        .await?;
    assert_eq!(first.module.description.as_deref(), Some("adds numbers"));
    assert_eq!(
        (first.module.execution_count, first.module.last_executed_at),
        (0, None)
    );
    assert!(
        store
            .record_module_execution(alice.id, "calc", 1000)
            .await?
    );

    let second = put(store, alice.id, "calc", b"version two").await?;
    assert!(!second.created);
    let module = second.module;
    assert_eq!(module.id, first.module.id);
    assert_eq!(module.created_at, first.module.created_at);
    assert!(module.updated_at >= first.module.updated_at);
    assert_eq!(module.hash, module_hash(b"version two"));
    assert_eq!(module.size_bytes, 11);
    assert_eq!(module.description.as_deref(), Some("adds numbers"), "kept");
    assert_eq!(
        (module.execution_count, module.last_executed_at),
        (1, Some(1000))
    );
    assert_eq!(storage(store).await?, (1, 1, 11), "the old content is gone");

    let cleared = store
        .put_module(NewModule {
            owner_id: alice.id,
            name: "calc",
            description: Some(""),
            bytes: b"version two",
        })
        .await?;
    assert_eq!(cleared.module.description, None);
    assert_eq!(cleared.module.hash, module.hash);
    assert_eq!(
        storage(store).await?,
        (1, 1, 11),
        "same bytes, same content"
    );
    Ok(())
}

/// Pages follow names in byte order; the cursor is where the next page starts.
pub async fn modules_are_listed_in_pages(store: &dyn Store) -> Result<(), StoreError> {
    let alice = create_user(store, "alice@example.com", &[]).await?;
    for name in ["e", "a", "d", "c", "b"] {
        put(store, alice.id, name, name.as_bytes()).await?;
    }
    let mut seen = Vec::new();
    let mut query = ModuleListQuery {
        after: None,
        limit: 2,
    };
    let mut pages = 0;
    loop {
        let page = store.list_modules(alice.id, &query).await?;
        pages += 1;
        assert!(page.modules.len() <= 2);
        seen.extend(page.modules.iter().map(|m| m.name.clone()));
        match page.next_cursor {
            Some(cursor) => query.after = Some(cursor),
            None => break,
        }
    }
    assert_eq!(seen, ["a", "b", "c", "d", "e"]);
    assert_eq!(pages, 3);
    // A page that ends exactly at the last module has no cursor.
    let page = store
        .list_modules(
            alice.id,
            &ModuleListQuery {
                after: Some("c".into()),
                limit: 2,
            },
        )
        .await?;
    assert_eq!(page.modules.len(), 2);
    assert_eq!(page.next_cursor, None);
    let all = store
        .list_modules(alice.id, &ModuleListQuery::default())
        .await?;
    assert_eq!((all.modules.len(), all.next_cursor), (5, None));
    Ok(())
}

/// Executions count up and `last_executed_at` never moves back.
pub async fn module_executions_are_counted(store: &dyn Store) -> Result<(), StoreError> {
    let alice = create_user(store, "alice@example.com", &[]).await?;
    put(store, alice.id, "m", b"m").await?;
    assert!(store.record_module_execution(alice.id, "m", 2000).await?);
    assert!(store.record_module_execution(alice.id, "m", 1000).await?);
    assert!(store.record_module_execution(alice.id, "m", 3000).await?);
    let Some(module) = store.get_module(alice.id, "m").await? else {
        panic!("module missing");
    };
    assert_eq!(
        (module.execution_count, module.last_executed_at),
        (3, Some(3000))
    );
    assert!(!store.record_module_execution(alice.id, "nope", 1).await?);
    Ok(())
}

/// Bad names and descriptions are refused before anything is stored; unknown owners are not
/// found.
pub async fn module_names_are_checked(store: &dyn Store) -> Result<(), StoreError> {
    let alice = create_user(store, "alice@example.com", &[]).await?;
    for bad in ["", "Upper", "-dash", "a/b", "with space"] {
        let result = put(store, alice.id, bad, b"x").await;
        assert!(
            matches!(&result, Err(StoreError::Invalid { .. })),
            "{bad:?}: {result:?}"
        );
    }
    let long = "d".repeat(crate::modules::MAX_MODULE_DESCRIPTION_LEN + 1);
    let result = store
        .put_module(NewModule {
            owner_id: alice.id,
            name: "ok",
            description: Some(&long),
            bytes: b"x",
        })
        .await;
    assert!(
        matches!(&result, Err(StoreError::Invalid { .. })),
        "{result:?}"
    );
    assert_not_found(put(store, alice.id + 1000, "ok", b"x").await, "user");
    assert_eq!(storage(store).await?, (0, 0, 0), "nothing was stored");
    Ok(())
}

/// Concurrent uploads of the same bytes by several owners leave one content row and one
/// module each; concurrent deletes then leave nothing.
pub async fn concurrent_module_puts_share_one_content(
    store: Arc<dyn Store>,
) -> Result<(), StoreError> {
    let mut owners = Vec::new();
    for i in 0..8 {
        owners.push(create_user(store.as_ref(), &format!("u{i}@example.com"), &[]).await?);
    }
    let bytes: Arc<[u8]> = Arc::from(&b"shared module bytes"[..]);
    let mut tasks = Vec::new();
    for owner in &owners {
        let (store, bytes, id) = (store.clone(), bytes.clone(), owner.id);
        tasks.push(tokio::spawn(async move {
            put(store.as_ref(), id, "same", &bytes).await
        }));
    }
    for task in tasks {
        match task.await {
            Ok(result) => assert!(result?.created),
            Err(join) => panic!("put task failed: {join}"),
        }
    }
    assert_eq!(storage(store.as_ref()).await?, (8, 1, bytes.len() as i64));
    let mut tasks = Vec::new();
    for owner in &owners {
        let (store, id) = (store.clone(), owner.id);
        tasks.push(tokio::spawn(async move {
            store.delete_module(id, "same").await
        }));
    }
    for task in tasks {
        match task.await {
            Ok(result) => assert!(result?),
            Err(join) => panic!("delete task failed: {join}"),
        }
    }
    assert_eq!(storage(store.as_ref()).await?, (0, 0, 0));
    Ok(())
}
