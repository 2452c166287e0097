//! Checks of scripts, versions, bundle files, logs and settings.

use std::sync::Arc;

use serde_json::json;

use super::{create_user, deploy, file};
use crate::{LogLevel, LogQuery, LogRecord, NewLog, Store, StoreError};

/// A log line of `script` version 1.
fn log(
    script: &str,
    level: LogLevel,
    message: &str,
    request_id: Option<&str>,
    time: i64,
) -> NewLog {
    NewLog {
        script: script.to_owned(),
        version: 1,
        level,
        message: message.to_owned(),
        request_id: request_id.map(str::to_owned),
        time,
    }
}

/// The messages of `logs`, in order.
fn messages(logs: &[LogRecord]) -> Vec<&str> {
    logs.iter().map(|l| l.message.as_str()).collect()
}

/// The active and latest version of `script`; panics if it does not exist.
async fn pointers(store: &dyn Store, script: &str) -> Result<(i64, i64), StoreError> {
    let Some(record) = store.get_script(script).await? else {
        panic!("script {script:?} should exist");
    };
    Ok((record.active_version, record.latest_version))
}

/// `ping` succeeds on a working store.
pub async fn ping_succeeds(store: &dyn Store) -> Result<(), StoreError> {
    store.ping().await
}

/// Versions are numbered 1, 2, 3… per script; only `activate` moves the active pointer.
pub async fn versions_are_numbered_and_activated(store: &dyn Store) -> Result<(), StoreError> {
    assert_eq!(store.get_script("shop").await?, None);

    let v1 = deploy(store, "shop", "one", true).await?;
    assert_eq!((v1.script.as_str(), v1.version), ("shop", 1));
    assert_eq!(pointers(store, "shop").await?, (1, 1));

    let v2 = deploy(store, "shop", "two", false).await?;
    assert_eq!(v2.version, 2);
    assert_eq!(pointers(store, "shop").await?, (1, 2), "inactive deploy");

    let v3 = deploy(store, "shop", "three", true).await?;
    assert_eq!(v3.version, 3);
    assert_eq!(pointers(store, "shop").await?, (3, 3));

    // Numbering is per script.
    assert_eq!(deploy(store, "blog", "one", false).await?.version, 1);
    assert_eq!(pointers(store, "blog").await?, (0, 1), "never activated");

    let versions = store.list_versions("shop").await?;
    assert_eq!(versions, vec![v1, v2.clone(), v3]);
    assert_eq!(store.get_version("shop", 2).await?, Some(v2.clone()));
    assert_eq!(v2.entry, "main.js");
    assert_eq!(v2.meta, json!({ "tag": "two" }));
    assert_eq!(v2.file_count, 1);
    assert_eq!(v2.size_bytes, "// shop two".len() as i64);
    assert!(v2.created_at > 0);
    assert_eq!(store.get_version("shop", 4).await?, None);
    assert_eq!(store.get_version("nope", 1).await?, None);
    assert!(store.list_versions("nope").await?.is_empty());

    let names: Vec<String> = store
        .list_scripts()
        .await?
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["blog", "shop"]);
    Ok(())
}

/// Rolling back moves the active pointer only; the next deploy still gets a fresh number.
pub async fn rollback_keeps_version_numbers(store: &dyn Store) -> Result<(), StoreError> {
    deploy(store, "shop", "one", true).await?;
    deploy(store, "shop", "two", true).await?;

    let rolled_back = store.set_active_version("shop", 1).await?;
    assert_eq!(rolled_back.name, "shop");
    assert_eq!(
        (rolled_back.active_version, rolled_back.latest_version),
        (1, 2)
    );
    assert_eq!(store.get_script("shop").await?, Some(rolled_back));

    let v3 = deploy(store, "shop", "three", false).await?;
    assert_eq!(v3.version, 3, "numbers are never reused");
    assert_eq!(pointers(store, "shop").await?, (1, 3));

    // Roll forward again, to a version that was never active.
    store.set_active_version("shop", 3).await?;
    assert_eq!(pointers(store, "shop").await?, (3, 3));
    Ok(())
}

/// Operations on missing scripts or versions fail with `NotFound` naming the object.
pub async fn missing_objects_are_not_found(store: &dyn Store) -> Result<(), StoreError> {
    match store.set_active_version("ghost", 1).await {
        Err(StoreError::NotFound { what }) => assert!(what.contains("ghost"), "{what}"),
        other => panic!("expected NotFound for missing script, got {other:?}"),
    }

    deploy(store, "shop", "one", true).await?;
    for version in [0, 2, -1] {
        match store.set_active_version("shop", version).await {
            Err(StoreError::NotFound { what }) => {
                assert!(what.contains(&format!("version {version}")), "{what}");
            }
            other => panic!("expected NotFound for version {version}, got {other:?}"),
        }
    }
    assert_eq!(
        pointers(store, "shop").await?,
        (1, 1),
        "failed rollback changes nothing"
    );

    for (script, version) in [("shop", 2), ("ghost", 1)] {
        let err = store.get_version_files(script, version).await;
        assert!(
            matches!(&err, Err(e) if e.is_not_found()),
            "get_version_files({script}, {version}): {err:?}"
        );
    }
    Ok(())
}

/// A `create_version` failing mid-way (duplicate file path) leaves no trace, not even a new
/// script row or a consumed version number.
pub async fn failed_create_version_leaves_nothing(store: &dyn Store) -> Result<(), StoreError> {
    let duplicate = [
        file("main.js", "a"),
        file("lib.js", "b"),
        file("main.js", "c"),
    ];
    let err = store
        .create_version("fresh", "main.js", &duplicate, json!({}), true)
        .await;
    match err {
        Err(StoreError::Conflict { message }) => assert!(message.contains("main.js"), "{message}"),
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(store.get_script("fresh").await?, None);
    assert!(store.list_scripts().await?.is_empty());
    assert!(store.list_versions("fresh").await?.is_empty());
    assert!(store.active_versions().await?.is_empty());

    // Same for an existing script: its state is untouched.
    deploy(store, "shop", "one", true).await?;
    let before = store.get_script("shop").await?;
    let err = store
        .create_version("shop", "main.js", &duplicate, json!({}), true)
        .await;
    assert!(matches!(&err, Err(e) if e.is_conflict()), "{err:?}");
    assert_eq!(store.get_script("shop").await?, before);
    assert_eq!(store.list_versions("shop").await?.len(), 1);
    assert_eq!(store.get_version("shop", 2).await?, None);
    assert_eq!(deploy(store, "shop", "two", false).await?.version, 2);
    Ok(())
}

/// Ten concurrent `create_version` calls on one script get versions 1..=10, each once.
pub async fn concurrent_create_version_allocates_distinct_numbers(
    store: Arc<dyn Store>,
) -> Result<(), StoreError> {
    const CALLS: i64 = 10;
    let tasks: Vec<_> = (0..CALLS)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let files = [file("main.js", format!("// deploy {i}"))];
                store
                    .create_version("race", "main.js", &files, json!({ "i": i }), true)
                    .await
            })
        })
        .collect();
    let mut versions = Vec::new();
    for task in tasks {
        match task.await {
            Ok(record) => versions.push(record?.version),
            Err(err) => panic!("create_version task failed: {err}"),
        }
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=CALLS).collect::<Vec<_>>());

    let stored: Vec<i64> = store
        .list_versions("race")
        .await?
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(stored, (1..=CALLS).collect::<Vec<_>>());
    let (active, latest) = pointers(&*store, "race").await?;
    assert_eq!(latest, CALLS);
    assert!((1..=CALLS).contains(&active));
    // Each version kept its own files.
    for version in 1..=CALLS {
        let files = store.get_version_files("race", version).await?;
        let meta = store.get_version("race", version).await?.map(|v| v.meta);
        let Some(i) = meta.as_ref().and_then(|m| m["i"].as_i64()) else {
            panic!("version {version} lost its meta: {meta:?}");
        };
        assert_eq!(files, [file("main.js", format!("// deploy {i}"))]);
    }
    Ok(())
}

/// Files come back byte for byte (binary and empty ones too), sorted by path.
pub async fn files_round_trip(store: &dyn Store) -> Result<(), StoreError> {
    let all_bytes: Vec<u8> = (0..=255).collect();
    let files = vec![
        file("main.ts", "export function init() {}\n"),
        file("static/logo.png", all_bytes.clone()),
        file("empty.txt", Vec::new()),
        file("lib/ünïcode.js", "export const s = '✓';"),
        file("lib/a.js", vec![0, 0, 0xff, 0xfe, b'\n', 0]),
    ];
    let meta = json!({ "routes": [{ "method": "GET", "path": "/hello/:name" }] });
    let record = store
        .create_version("shop", "main.ts", &files, meta.clone(), true)
        .await?;
    let total: usize = files.iter().map(|f| f.content.len()).sum();
    assert_eq!(record.size_bytes, total as i64);
    assert_eq!(record.file_count, 5);
    assert_eq!(record.meta, meta);

    let mut expected = files;
    expected.sort_by(|a, b| a.path.cmp(&b.path));
    let stored = store.get_version_files("shop", 1).await?;
    assert_eq!(stored, expected);
    let Some(logo) = stored.iter().find(|f| f.path == "static/logo.png") else {
        panic!("logo missing");
    };
    assert_eq!(logo.content, all_bytes);
    assert_eq!(store.get_version("shop", 1).await?, Some(record));

    // An empty bundle is stored and read back as empty (not NotFound).
    let empty = store
        .create_version("shop", "main.ts", &[], json!(null), false)
        .await?;
    assert_eq!(
        (empty.version, empty.file_count, empty.size_bytes),
        (2, 0, 0)
    );
    assert!(store.get_version_files("shop", 2).await?.is_empty());
    assert_eq!(
        store.get_version("shop", 2).await?.map(|v| v.meta),
        Some(json!(null))
    );
    Ok(())
}

/// `active_versions` returns each script's active version with that version's files, sorted by
/// script, skipping scripts with no active version.
pub async fn active_versions_restore_every_script(store: &dyn Store) -> Result<(), StoreError> {
    deploy(store, "beta", "b1", true).await?;
    deploy(store, "beta", "b2", true).await?;
    deploy(store, "alpha", "a1", true).await?;
    deploy(store, "gamma", "g1", false).await?;
    deploy(store, "delta", "d1", true).await?;
    deploy(store, "delta", "d2", true).await?;
    store.set_active_version("delta", 1).await?;
    // A second file in one version only, to check files are not mixed between versions.
    store
        .create_version(
            "alpha",
            "main.js",
            &[file("main.js", "// alpha a2"), file("extra.js", "x")],
            json!({ "tag": "a2" }),
            false,
        )
        .await?;

    let active = store.active_versions().await?;
    let summary: Vec<(&str, i64, Vec<&str>)> = active
        .iter()
        .map(|(v, files)| {
            let contents = files
                .iter()
                .map(|f| std::str::from_utf8(&f.content).unwrap_or("<binary>"))
                .collect();
            (v.script.as_str(), v.version, contents)
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("alpha", 1, vec!["// alpha a1"]),
            ("beta", 2, vec!["// beta b2"]),
            ("delta", 1, vec!["// delta d1"]),
        ]
    );
    for (version, _) in &active {
        assert_eq!(
            store
                .get_version(&version.script, version.version)
                .await?
                .as_ref(),
            Some(version)
        );
    }
    Ok(())
}

/// Deleting a script removes its versions, files, logs and owners, and nothing of other scripts.
pub async fn delete_script_cascades(store: &dyn Store) -> Result<(), StoreError> {
    deploy(store, "shop", "one", true).await?;
    deploy(store, "shop", "two", true).await?;
    deploy(store, "blog", "one", true).await?;
    let alice = create_user(store, "alice@example.com", &[]).await?;
    let bob = create_user(store, "bob@example.com", &[]).await?;
    store.add_script_owner("shop", alice.id).await?;
    store.add_script_owner("shop", bob.id).await?;
    store.add_script_owner("blog", alice.id).await?;
    store
        .append_logs(&[
            log("shop", LogLevel::Info, "shop line", None, 1),
            log("blog", LogLevel::Info, "blog line", None, 2),
        ])
        .await?;

    assert!(store.delete_script("shop").await?);
    assert_eq!(store.get_script("shop").await?, None);
    assert!(store.list_versions("shop").await?.is_empty());
    assert_eq!(store.get_version("shop", 1).await?, None);
    let files = store.get_version_files("shop", 2).await;
    assert!(matches!(&files, Err(e) if e.is_not_found()), "{files:?}");
    assert!(
        store
            .query_logs("shop", &LogQuery::default())
            .await?
            .is_empty()
    );

    assert!(store.script_owners("shop").await?.is_empty());
    assert_eq!(store.owned_scripts(alice.id).await?, ["blog"]);
    assert!(store.owned_scripts(bob.id).await?.is_empty());

    // The other script is untouched.
    assert_eq!(pointers(store, "blog").await?, (1, 1));
    assert_eq!(store.script_owners("blog").await?, [alice.id]);
    assert_eq!(store.get_version_files("blog", 1).await?.len(), 1);
    let blog_logs = store.query_logs("blog", &LogQuery::default()).await?;
    assert_eq!(messages(&blog_logs), ["blog line"]);
    let restored: Vec<String> = store
        .active_versions()
        .await?
        .into_iter()
        .map(|(v, _)| v.script)
        .collect();
    assert_eq!(restored, ["blog"]);

    assert!(!store.delete_script("shop").await?, "second delete");
    assert!(!store.delete_script("ghost").await?);

    // The name can be reused; numbering starts over with the new script.
    assert_eq!(deploy(store, "shop", "again", true).await?.version, 1);
    Ok(())
}

/// `query_logs` filters by script, level, request id, time and id, and returns ascending ids:
/// the newest `limit` rows, or with `after_id` the oldest `limit` rows after it.
pub async fn log_filters(store: &dyn Store) -> Result<(), StoreError> {
    use LogLevel::{Debug, Error, Info, Warn};
    store.append_logs(&[]).await?;
    store
        .append_logs(&[
            log("app", Debug, "d0", None, 1000),
            log("app", Info, "i1", Some("r1"), 2000),
            log("other", Info, "o", Some("r1"), 2500),
            log("app", Warn, "w2", Some("r1"), 3000),
            log("app", Error, "e3", Some("r2"), 4000),
        ])
        .await?;
    store
        .append_logs(&[
            log("app", Info, "i4", None, 5000),
            log("app", Debug, "d5", Some("r2"), 6000),
        ])
        .await?;

    let query = |q: LogQuery| async move { store.query_logs("app", &q).await };
    let all = query(LogQuery::default()).await?;
    assert_eq!(messages(&all), ["d0", "i1", "w2", "e3", "i4", "d5"]);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id), "ascending ids");
    let e3 = &all[3];
    assert_eq!(
        (e3.script.as_str(), e3.version, e3.level, e3.time),
        ("app", 1, Error, 4000)
    );
    assert_eq!(e3.request_id.as_deref(), Some("r2"));
    assert_eq!(all[0].request_id, None);
    let id = |i: usize| all[i].id;

    let by_level = |level| LogQuery {
        min_level: Some(level),
        ..LogQuery::default()
    };
    assert_eq!(messages(&query(by_level(Debug)).await?).len(), 6);
    assert_eq!(
        messages(&query(by_level(Info)).await?),
        ["i1", "w2", "e3", "i4"]
    );
    assert_eq!(messages(&query(by_level(Warn)).await?), ["w2", "e3"]);
    assert_eq!(messages(&query(by_level(Error)).await?), ["e3"]);

    let by_request = |rid: &str| LogQuery {
        request_id: Some(rid.to_owned()),
        ..LogQuery::default()
    };
    assert_eq!(messages(&query(by_request("r1")).await?), ["i1", "w2"]);
    assert_eq!(messages(&query(by_request("r2")).await?), ["e3", "d5"]);
    assert!(query(by_request("r9")).await?.is_empty());

    let since = LogQuery {
        since: Some(3000),
        ..LogQuery::default()
    };
    assert_eq!(messages(&query(since).await?), ["w2", "e3", "i4", "d5"]);

    let newest_two = LogQuery {
        limit: 2,
        ..LogQuery::default()
    };
    assert_eq!(messages(&query(newest_two).await?), ["i4", "d5"]);

    let after = |after_id, limit| LogQuery {
        after_id: Some(after_id),
        limit,
        ..LogQuery::default()
    };
    assert_eq!(messages(&query(after(id(1), 2)).await?), ["w2", "e3"]);
    assert_eq!(
        messages(&query(after(id(1), 100)).await?),
        ["w2", "e3", "i4", "d5"]
    );
    assert!(query(after(id(5), 100)).await?.is_empty());

    let combined = LogQuery {
        min_level: Some(Info),
        since: Some(2500),
        limit: 1,
        ..LogQuery::default()
    };
    assert_eq!(messages(&query(combined).await?), ["i4"]);
    let follow_request = LogQuery {
        request_id: Some("r2".to_owned()),
        after_id: Some(id(3)),
        ..LogQuery::default()
    };
    assert_eq!(messages(&query(follow_request).await?), ["d5"]);

    let other = store.query_logs("other", &LogQuery::default()).await?;
    assert_eq!(messages(&other), ["o"]);
    assert!(
        store
            .query_logs("nobody", &LogQuery::default())
            .await?
            .is_empty()
    );
    Ok(())
}

/// `limit` is clamped to `1..=MAX_LOG_LIMIT`.
pub async fn log_limit_is_clamped(store: &dyn Store) -> Result<(), StoreError> {
    let max = crate::MAX_LOG_LIMIT as usize;
    let lines: Vec<NewLog> = (0..max + 5)
        .map(|i| log("bulk", LogLevel::Info, &format!("line {i}"), None, i as i64))
        .collect();
    store.append_logs(&lines).await?;

    let huge = LogQuery {
        limit: u32::MAX,
        ..LogQuery::default()
    };
    let newest = store.query_logs("bulk", &huge).await?;
    assert_eq!(newest.len(), max);
    assert_eq!(newest[0].message, "line 5");
    assert_eq!(newest[max - 1].message, format!("line {}", max + 4));

    let zero = LogQuery {
        limit: 0,
        ..LogQuery::default()
    };
    let one = store.query_logs("bulk", &zero).await?;
    assert_eq!(messages(&one), [format!("line {}", max + 4).as_str()]);

    let default = store.query_logs("bulk", &LogQuery::default()).await?;
    assert_eq!(default.len(), crate::DEFAULT_LOG_LIMIT as usize);
    Ok(())
}

/// `prune_logs` keeps the newest N lines of each script and reports how many it deleted.
pub async fn prune_logs_keeps_newest_per_script(store: &dyn Store) -> Result<(), StoreError> {
    assert_eq!(store.prune_logs(5).await?, 0, "empty table");
    let mut lines = Vec::new();
    for i in 0..10 {
        lines.push(log("busy", LogLevel::Info, &format!("b{i}"), None, i));
        if i < 3 {
            lines.push(log("quiet", LogLevel::Info, &format!("q{i}"), None, i));
        }
    }
    store.append_logs(&lines).await?;
    let before = store.query_logs("busy", &LogQuery::default()).await?;

    assert_eq!(store.prune_logs(5).await?, 5);
    let busy = store.query_logs("busy", &LogQuery::default()).await?;
    assert_eq!(messages(&busy), ["b5", "b6", "b7", "b8", "b9"]);
    assert_eq!(busy.as_slice(), &before[5..], "survivors keep their ids");
    let quiet = store.query_logs("quiet", &LogQuery::default()).await?;
    assert_eq!(messages(&quiet), ["q0", "q1", "q2"]);

    assert_eq!(store.prune_logs(5).await?, 0, "idempotent");
    assert_eq!(store.prune_logs(1).await?, 6);
    assert_eq!(store.prune_logs(0).await?, 2);
    assert!(
        store
            .query_logs("busy", &LogQuery::default())
            .await?
            .is_empty()
    );

    // Ids are not reused after pruning, so `--follow` pollers never miss or repeat lines.
    store
        .append_logs(&[log("busy", LogLevel::Info, "new", None, 99)])
        .await?;
    let new = store.query_logs("busy", &LogQuery::default()).await?;
    let last_before = before.last().map_or(0, |l| l.id);
    assert!(new[0].id > last_before, "{} > {last_before}", new[0].id);
    Ok(())
}

/// `set_setting` inserts or replaces; `get_setting` reads it back.
pub async fn settings_upsert(store: &dyn Store) -> Result<(), StoreError> {
    assert_eq!(store.get_setting("admin_token_hash").await?, None);
    store.set_setting("admin_token_hash", "sha256:aaa").await?;
    store.set_setting("other", "x").await?;
    assert_eq!(
        store.get_setting("admin_token_hash").await?.as_deref(),
        Some("sha256:aaa")
    );
    store.set_setting("admin_token_hash", "sha256:bbb").await?;
    assert_eq!(
        store.get_setting("admin_token_hash").await?.as_deref(),
        Some("sha256:bbb")
    );
    assert_eq!(store.get_setting("other").await?.as_deref(), Some("x"));
    store.set_setting("other", "").await?;
    assert_eq!(store.get_setting("other").await?.as_deref(), Some(""));
    Ok(())
}
