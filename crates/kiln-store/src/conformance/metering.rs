//! Checks of usage events and the audit log.

use serde_json::json;

use crate::{
    AuditQuery, AuditRecord, NewAuditEvent, Store, StoreError, UsageBucket, UsageEvent,
    UsagePeriod, UsageQuery,
};

/// One hour in ms.
const HOUR: i64 = 3_600_000;
/// One day in ms.
const DAY: i64 = 86_400_000;
/// 2023-11-15T00:00:00Z, a UTC midnight.
const T: i64 = 19_676 * DAY;
/// A minute in ms.
const MINUTE: i64 = 60_000;

/// A usage event at `time` of `key`/`user`/`script` with class `class`; the amounts are derived
/// from `n` so that sums identify which events were added up.
fn usage(
    time: i64,
    key_id: Option<i64>,
    user_id: Option<i64>,
    script: Option<&str>,
    class: &str,
    n: i64,
) -> UsageEvent {
    UsageEvent {
        time,
        key_id,
        user_id,
        script: script.map(str::to_owned),
        kind: "http".into(),
        route: Some("GET /orders/:id".into()),
        status: if class == "success" { 200 } else { 500 },
        duration_ms: 10 * n,
        cpu_ms: n,
        bytes_in: 100 * n,
        bytes_out: 1000 * n,
        error_class: class.to_owned(),
        module_bytes: None,
        input_bytes: None,
        memory_peak_bytes: None,
    }
}

/// The test events: `n` is 1, 2, 4, 8… so each sum names its events.
fn events() -> Vec<UsageEvent> {
    vec![
        // The last hour of the previous day.
        usage(T - 1, Some(1), Some(10), Some("shop"), "success", 1),
        // Hour 0 of day T.
        usage(
            T + 10 * MINUTE,
            Some(1),
            Some(10),
            Some("shop"),
            "success",
            2,
        ),
        usage(
            T + 50 * MINUTE,
            Some(1),
            Some(10),
            Some("shop"),
            "execution_error",
            4,
        ),
        // Hour 1.
        usage(
            T + HOUR + 5 * MINUTE,
            Some(2),
            Some(10),
            Some("blog"),
            "rate_limited",
            8,
        ),
        usage(
            T + 2 * HOUR - 1,
            Some(1),
            Some(20),
            Some("shop"),
            "success",
            16,
        ),
        // Hour 2.
        usage(
            T + 2 * HOUR,
            Some(1),
            Some(10),
            Some("shop"),
            "rate_limited",
            32,
        ),
        usage(
            T + 2 * HOUR + MINUTE,
            Some(1),
            Some(10),
            Some("shop"),
            "time_limit_exceeded",
            64,
        ),
        // The next day, anonymous.
        usage(T + DAY + HOUR, None, None, None, "success", 128),
    ]
}

/// A bucket at `start` adding up events whose `n` sum to `n_sum`, with per-class counts.
fn bucket(start: i64, n_sum: i64, by_class: &[(&str, i64)]) -> UsageBucket {
    let count = |pred: &dyn Fn(&str) -> bool| {
        by_class
            .iter()
            .filter(|(c, _)| pred(c))
            .map(|(_, n)| n)
            .sum()
    };
    UsageBucket {
        start,
        requests: count(&|_| true),
        errors: count(&|c| c != "success"),
        rate_limited: count(&|c| c == "rate_limited"),
        cpu_ms: n_sum,
        duration_ms: 10 * n_sum,
        bytes_in: 100 * n_sum,
        bytes_out: 1000 * n_sum,
        module_bytes: 0,
        input_bytes: 0,
        max_memory_peak_bytes: 0,
        by_class: by_class
            .iter()
            .map(|(c, n)| ((*c).to_owned(), *n))
            .collect(),
    }
}

/// The bucket starts of `buckets`.
fn starts(buckets: &[UsageBucket]) -> Vec<i64> {
    buckets.iter().map(|b| b.start).collect()
}

/// Stores [`events`] in two batches (and an empty one).
async fn store_events(store: &dyn Store) -> Result<(), StoreError> {
    let events = events();
    store.append_usage(&[]).await?;
    store.append_usage(&events[..3]).await?;
    store.append_usage(&events[3..]).await
}

/// WebAssembly execution details are summed (module and input bytes) or maximised (peak
/// memory) per bucket; calls without them count as zero.
pub async fn usage_sums_wasm_execution_details(store: &dyn Store) -> Result<(), StoreError> {
    let execution = |n: i64| UsageEvent {
        kind: "execute".into(),
        route: Some("module:calc".into()),
        module_bytes: Some(1000 * n),
        input_bytes: Some(10 * n),
        memory_peak_bytes: Some(65_536 * n),
        ..usage(T + n, Some(1), Some(10), None, "success", n)
    };
    store
        .append_usage(&[
            execution(1),
            execution(3),
            usage(T + 5, Some(1), Some(10), Some("shop"), "success", 2),
        ])
        .await?;
    let buckets = store.usage_summary(&UsageQuery::default()).await?;
    assert_eq!(buckets.len(), 1, "{buckets:?}");
    let bucket = &buckets[0];
    assert_eq!(bucket.requests, 3);
    assert_eq!(bucket.module_bytes, 4000);
    assert_eq!(bucket.input_bytes, 40);
    assert_eq!(bucket.max_memory_peak_bytes, 3 * 65_536);
    assert_eq!(bucket.bytes_in, 100 * (1 + 3 + 2));
    Ok(())
}

/// Hourly and daily buckets are UTC-aligned, oldest first, with correct sums and classes.
pub async fn usage_buckets_hourly_and_daily(store: &dyn Store) -> Result<(), StoreError> {
    assert!(
        store
            .usage_summary(&UsageQuery::default())
            .await?
            .is_empty()
    );
    store_events(store).await?;

    let hourly = store.usage_summary(&UsageQuery::default()).await?;
    assert_eq!(
        hourly,
        [
            bucket(T - HOUR, 1, &[("success", 1)]),
            bucket(T, 2 + 4, &[("execution_error", 1), ("success", 1)]),
            bucket(T + HOUR, 8 + 16, &[("rate_limited", 1), ("success", 1)]),
            bucket(
                T + 2 * HOUR,
                32 + 64,
                &[("rate_limited", 1), ("time_limit_exceeded", 1)]
            ),
            bucket(T + DAY + HOUR, 128, &[("success", 1)]),
        ]
    );
    // Spot-check the derived counters against the helper's arithmetic.
    assert_eq!(
        (hourly[3].requests, hourly[3].errors, hourly[3].rate_limited),
        (2, 2, 1)
    );

    let daily = store
        .usage_summary(&UsageQuery {
            period: UsagePeriod::Day,
            ..UsageQuery::default()
        })
        .await?;
    assert_eq!(
        daily,
        [
            bucket(T - DAY, 1, &[("success", 1)]),
            bucket(
                T,
                2 + 4 + 8 + 16 + 32 + 64,
                &[
                    ("execution_error", 1),
                    ("rate_limited", 2),
                    ("success", 2),
                    ("time_limit_exceeded", 1),
                ]
            ),
            bucket(T + DAY, 128, &[("success", 1)]),
        ]
    );
    Ok(())
}

/// Each usage filter (key, user, script, since, until) and their combination.
pub async fn usage_filters(store: &dyn Store) -> Result<(), StoreError> {
    store_events(store).await?;
    let summary = |query: UsageQuery| async move { store.usage_summary(&query).await };

    let by_key = summary(UsageQuery {
        key_id: Some(1),
        ..UsageQuery::default()
    })
    .await?;
    assert_eq!(
        by_key,
        [
            bucket(T - HOUR, 1, &[("success", 1)]),
            bucket(T, 2 + 4, &[("execution_error", 1), ("success", 1)]),
            bucket(T + HOUR, 16, &[("success", 1)]),
            bucket(
                T + 2 * HOUR,
                32 + 64,
                &[("rate_limited", 1), ("time_limit_exceeded", 1)]
            ),
        ]
    );

    let by_user = summary(UsageQuery {
        user_id: Some(20),
        ..UsageQuery::default()
    })
    .await?;
    assert_eq!(by_user, [bucket(T + HOUR, 16, &[("success", 1)])]);

    let by_script = summary(UsageQuery {
        script: Some("blog".into()),
        period: UsagePeriod::Day,
        ..UsageQuery::default()
    })
    .await?;
    assert_eq!(by_script, [bucket(T, 8, &[("rate_limited", 1)])]);

    let since = summary(UsageQuery {
        since: Some(T + HOUR + 5 * MINUTE),
        ..UsageQuery::default()
    })
    .await?;
    assert_eq!(starts(&since), [T + HOUR, T + 2 * HOUR, T + DAY + HOUR]);
    assert_eq!(since[0].requests, 2, "since is inclusive");

    let until = summary(UsageQuery {
        until: Some(T + 2 * HOUR - 1),
        ..UsageQuery::default()
    })
    .await?;
    assert_eq!(starts(&until), [T - HOUR, T, T + HOUR]);
    assert_eq!(
        until[2],
        bucket(T + HOUR, 8, &[("rate_limited", 1)]),
        "until is exclusive"
    );

    let combined = summary(UsageQuery {
        key_id: Some(1),
        user_id: Some(10),
        script: Some("shop".into()),
        since: Some(T),
        until: Some(T + DAY),
        period: UsagePeriod::Day,
    })
    .await?;
    assert_eq!(
        combined,
        [bucket(
            T,
            2 + 4 + 32 + 64,
            &[
                ("execution_error", 1),
                ("rate_limited", 1),
                ("success", 1),
                ("time_limit_exceeded", 1),
            ]
        )]
    );

    let nothing = summary(UsageQuery {
        key_id: Some(99),
        ..UsageQuery::default()
    })
    .await?;
    assert!(nothing.is_empty());
    Ok(())
}

/// `count_key_usage` counts every class but `rate_limited`, from `since` (inclusive).
pub async fn count_key_usage_excludes_rate_limited(store: &dyn Store) -> Result<(), StoreError> {
    assert_eq!(store.count_key_usage(1, 0).await?, 0);
    store_events(store).await?;
    // Key 1: T-1, T+10m, T+50m, T+2h-1, T+2h (rate limited), T+2h+1m.
    assert_eq!(store.count_key_usage(1, 0).await?, 5);
    assert_eq!(store.count_key_usage(1, T).await?, 4);
    assert_eq!(store.count_key_usage(1, T + 10 * MINUTE).await?, 4);
    assert_eq!(store.count_key_usage(1, T + 10 * MINUTE + 1).await?, 3);
    assert_eq!(store.count_key_usage(1, T + 2 * HOUR).await?, 1);
    assert_eq!(store.count_key_usage(1, T + DAY).await?, 0);
    // Key 2 has only a rate-limited call.
    assert_eq!(store.count_key_usage(2, 0).await?, 0);
    assert_eq!(store.count_key_usage(99, 0).await?, 0);
    Ok(())
}

/// A batch far larger than any statement a backend may split it into is stored whole, every
/// field of every event intact.
pub async fn large_usage_batches_are_stored_whole(store: &dyn Store) -> Result<(), StoreError> {
    let batch: Vec<UsageEvent> = (0..1_000)
        .map(|i| {
            let class = if i % 10 == 0 {
                "execution_error"
            } else {
                "success"
            };
            let mut event = usage(T + i, Some(7), Some(70), Some("bulk"), class, i + 1);
            event.route = (i % 2 == 0).then(|| format!("GET /r/{i}"));
            event
        })
        .collect();
    store.append_usage(&batch).await?;
    assert_eq!(store.count_key_usage(7, 0).await?, 1_000);
    let buckets = store.usage_summary(&UsageQuery::default()).await?;
    let n_sum = (1..=1_000).sum::<i64>();
    assert_eq!(
        buckets,
        [bucket(
            T,
            n_sum,
            &[("execution_error", 100), ("success", 900)]
        )]
    );
    Ok(())
}

/// `prune_usage` deletes events strictly older than `before`.
pub async fn prune_usage_deletes_old_events(store: &dyn Store) -> Result<(), StoreError> {
    assert_eq!(store.prune_usage(T).await?, 0);
    store_events(store).await?;
    assert_eq!(store.prune_usage(T + 10 * MINUTE).await?, 1);
    let hourly = store.usage_summary(&UsageQuery::default()).await?;
    assert_eq!(starts(&hourly)[0], T, "the previous day's event is gone");
    assert_eq!(hourly[0].requests, 2, "the event at `before` stays");
    assert_eq!(store.prune_usage(T + 10 * MINUTE).await?, 0);
    assert_eq!(store.prune_usage(T + DAY).await?, 6);
    assert_eq!(
        starts(&store.usage_summary(&UsageQuery::default()).await?),
        [T + DAY + HOUR]
    );
    Ok(())
}

/// An audit event at `time`.
fn audit(time: i64, actor_user_id: Option<i64>, action: &str) -> NewAuditEvent {
    NewAuditEvent {
        time,
        actor_user_id,
        actor: actor_user_id
            .map_or_else(|| "bootstrap token".to_owned(), |id| format!("user {id}")),
        action: action.to_owned(),
        target: None,
        ip: None,
        detail: json!({}),
    }
}

/// Appends the five standard audit events (times 1000…5000) and returns their ids in order.
async fn store_audit(store: &dyn Store) -> Result<Vec<i64>, StoreError> {
    let events = [
        audit(1000, Some(1), "login"),
        audit(2000, None, "login_failed"),
        audit(3000, Some(1), "key_created"),
        audit(4000, Some(2), "login"),
        audit(5000, Some(1), "deploy"),
    ];
    let mut ids = Vec::new();
    for event in &events {
        ids.push(store.append_audit(event).await?);
    }
    Ok(ids)
}

/// The ids of `records`, in order.
fn ids(records: &[AuditRecord]) -> Vec<i64> {
    records.iter().map(|r| r.id).collect()
}

/// Audit events round-trip (detail JSON too) and come back newest first.
pub async fn audit_events_round_trip_newest_first(store: &dyn Store) -> Result<(), StoreError> {
    assert!(store.query_audit(&AuditQuery::default()).await?.is_empty());
    let full = NewAuditEvent {
        time: 1_700_000_000_000,
        actor_user_id: Some(7),
        actor: "alice@example.com".into(),
        action: "key_revoked".into(),
        target: Some("kiln_3fa9c1d2".into()),
        ip: Some("2001:db8::1".into()),
        detail: json!({ "reason": "leaked", "keys": [1, 2], "nested": { "ok": true } }),
    };
    let id = store.append_audit(&full).await?;
    let later = audit(1_700_000_000_001, None, "login_failed");
    let later_id = store.append_audit(&later).await?;
    assert!(later_id > id);

    let all = store.query_audit(&AuditQuery::default()).await?;
    assert_eq!(
        all,
        [
            AuditRecord {
                id: later_id,
                event: later
            },
            AuditRecord { id, event: full },
        ]
    );
    Ok(())
}

/// Audit filters (action, actor, since, before_id) combine; `before_id` pages backwards.
pub async fn audit_filters_and_paging(store: &dyn Store) -> Result<(), StoreError> {
    let e = store_audit(store).await?;
    let query =
        |q: AuditQuery| async move { Ok::<_, StoreError>(ids(&store.query_audit(&q).await?)) };

    assert_eq!(
        query(AuditQuery::default()).await?,
        [e[4], e[3], e[2], e[1], e[0]]
    );
    assert_eq!(
        query(AuditQuery {
            action: Some("login".into()),
            ..AuditQuery::default()
        })
        .await?,
        [e[3], e[0]]
    );
    assert_eq!(
        query(AuditQuery {
            actor_user_id: Some(1),
            ..AuditQuery::default()
        })
        .await?,
        [e[4], e[2], e[0]]
    );
    assert_eq!(
        query(AuditQuery {
            since: Some(3000),
            ..AuditQuery::default()
        })
        .await?,
        [e[4], e[3], e[2]]
    );
    assert_eq!(
        query(AuditQuery {
            before_id: Some(e[3]),
            ..AuditQuery::default()
        })
        .await?,
        [e[2], e[1], e[0]]
    );
    assert_eq!(
        query(AuditQuery {
            action: Some("login".into()),
            actor_user_id: Some(2),
            since: Some(1000),
            before_id: Some(e[4]),
            limit: 10,
        })
        .await?,
        [e[3]]
    );
    assert!(
        query(AuditQuery {
            action: Some("nothing".into()),
            ..AuditQuery::default()
        })
        .await?
        .is_empty()
    );

    // Paging backwards two at a time visits every event once.
    let mut seen = Vec::new();
    let mut before_id = None;
    loop {
        let page = query(AuditQuery {
            before_id,
            limit: 2,
            ..AuditQuery::default()
        })
        .await?;
        let Some(&last) = page.last() else { break };
        assert!(page.len() <= 2);
        seen.extend(page);
        before_id = Some(last);
    }
    assert_eq!(seen, [e[4], e[3], e[2], e[1], e[0]]);
    Ok(())
}

/// The audit limit: 0 means `DEFAULT_AUDIT_LIMIT`, anything above `MAX_AUDIT_LIMIT` is capped.
pub async fn audit_limit_is_clamped(store: &dyn Store) -> Result<(), StoreError> {
    let max = crate::MAX_AUDIT_LIMIT as usize;
    for i in 0..max + 5 {
        store.append_audit(&audit(i as i64, None, "login")).await?;
    }
    let with_limit = |limit| AuditQuery {
        limit,
        ..AuditQuery::default()
    };
    let default = store.query_audit(&with_limit(0)).await?;
    assert_eq!(default.len(), crate::DEFAULT_AUDIT_LIMIT as usize);
    assert_eq!(default[0].event.time, (max + 4) as i64, "newest first");
    assert_eq!(store.query_audit(&with_limit(1)).await?.len(), 1);
    assert_eq!(store.query_audit(&with_limit(7)).await?.len(), 7);
    let capped = store.query_audit(&with_limit(u32::MAX)).await?;
    assert_eq!(capped.len(), max);
    assert_eq!(capped[max - 1].event.time, 5);
    Ok(())
}

/// `prune_audit` deletes events strictly older than `before`.
pub async fn prune_audit_deletes_old_events(store: &dyn Store) -> Result<(), StoreError> {
    assert_eq!(store.prune_audit(10_000).await?, 0);
    let e = store_audit(store).await?;
    assert_eq!(store.prune_audit(3000).await?, 2);
    assert_eq!(
        ids(&store.query_audit(&AuditQuery::default()).await?),
        [e[4], e[3], e[2]]
    );
    assert_eq!(store.prune_audit(3000).await?, 0);
    assert_eq!(store.prune_audit(i64::MAX).await?, 3);
    assert!(store.query_audit(&AuditQuery::default()).await?.is_empty());
    // Ids are not reused after pruning.
    let next = store.append_audit(&audit(6000, None, "login")).await?;
    assert!(next > e[4]);
    Ok(())
}
