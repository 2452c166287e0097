//! `kv` and `kv.user` over HTTP: JSON values round trip, scripts and users are isolated, TTLs
//! expire, quotas refuse with a clear `KvError`, increments are atomic, listing pages.

use http::Method;
use serde_json::{Value, json};

use crate::common::TestServer;

const NOTES: &str = r#"
async function attempt(run) {
  try { return await run(); } catch (e) { return { name: e.name, code: e.code, message: e.message }; }
}
export function init() {
  registerWebHandler("PUT", "/notes/:key", async (req, ctx) => {
    const ttl = ctx.query.ttl ? Number(ctx.query.ttl) : undefined;
    return attempt(async () => { await kv.set(ctx.params.key, await req.json(), { ttl }); return { stored: true }; });
  });
  registerWebHandler("GET", "/notes/:key", async (req, ctx) => ({ value: await kv.get(ctx.params.key) }));
  registerWebHandler("DELETE", "/notes/:key", async (req, ctx) => ({ deleted: await kv.delete(ctx.params.key) }));
  registerWebHandler("GET", "/notes", async (req, ctx) =>
    kv.list({ prefix: ctx.query.prefix ?? "", limit: Number(ctx.query.limit ?? 100), cursor: ctx.query.cursor }));
  registerWebHandler("GET", "/many", async () => kv.getMany(["a", "missing", "b"]));
  registerWebHandler("POST", "/count/:key", async (req, ctx) =>
    attempt(async () => ({ n: await kv.increment(ctx.params.key, Number(ctx.query.by ?? 1)) })));
  registerWebHandler("GET", "/bad", async () => ({
    undef: await attempt(() => kv.set("x", undefined)),
    key: await attempt(() => kv.get(42)),
    empty: await attempt(() => kv.get("")),
  }));
  registerWebHandler("PUT", "/mine", async (req, ctx) => attempt(async () => {
    await kv.user.set("pref", await req.json()); return { stored: true };
  }));
  registerWebHandler("GET", "/mine", async () => attempt(async () => ({ value: await kv.user.get("pref") })));
}"#;

const OTHER: &str = r#"
export function init() {
  registerWebHandler("GET", "/other/:key", async (req, ctx) => ({ value: await kv.get(ctx.params.key) }));
}"#;

async fn put(server: &TestServer, path: &str, body: Value) -> Value {
    let response = server
        .client
        .put(server.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "PUT {path}");
    response.json().await.unwrap()
}

async fn send(server: &TestServer, method: Method, path: &str) -> Value {
    let response = server
        .client
        .request(method.clone(), server.url(path))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{method} {path}");
    response.json().await.unwrap()
}

async fn start(tweak: impl FnOnce(&mut kiln::config::Config)) -> TestServer {
    let server = TestServer::start_with(tweak).await;
    server.deploy_js("notes", NOTES).await;
    server.deploy_js("other", OTHER).await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_round_trip_and_scripts_are_isolated() {
    let server = start(|_| {}).await;
    let values = [
        json!({"text": "hello", "tags": ["a", "b"], "n": 1.5, "ok": true, "none": null}),
        json!([1, 2, 3]),
        json!("just a string"),
        json!(42),
        json!(null),
    ];
    for value in &values {
        assert_eq!(
            put(&server, "/notes/a", value.clone()).await,
            json!({"stored": true})
        );
        assert_eq!(server.get_json("/notes/a").await, json!({ "value": value }));
    }
    put(&server, "/notes/b", json!({"b": 1})).await;
    assert_eq!(
        server.get_json("/many").await,
        json!([null, null, {"b": 1}])
    );
    // Another script sees nothing of this one's data.
    assert_eq!(server.get_json("/other/b").await, json!({ "value": null }));
    assert_eq!(
        send(&server, Method::DELETE, "/notes/b").await,
        json!({"deleted": true})
    );
    assert_eq!(
        send(&server, Method::DELETE, "/notes/b").await,
        json!({"deleted": false})
    );
    assert_eq!(server.get_json("/notes/b").await, json!({ "value": null }));

    let bad = server.get_json("/bad").await;
    assert_eq!(bad["undef"]["name"], "TypeError", "{bad}");
    assert_eq!(bad["key"]["name"], "TypeError", "{bad}");
    assert_eq!(
        (&bad["empty"]["name"], &bad["empty"]["code"]),
        (&json!("KvError"), &json!("KV_INVALID_KEY")),
        "{bad}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_pages_through_a_prefix() {
    let server = start(|_| {}).await;
    for key in ["user-1", "user-2", "user-3", "order-1"] {
        put(&server, &format!("/notes/{key}"), json!(0)).await;
    }
    let page = server.get_json("/notes?prefix=user-&limit=2").await;
    assert_eq!(page["keys"], json!(["user-1", "user-2"]));
    let cursor = page["cursor"].as_str().expect("cursor").to_owned();
    let page = server
        .get_json(&format!("/notes?prefix=user-&limit=2&cursor={cursor}"))
        .await;
    assert_eq!(page, json!({"keys": ["user-3"], "cursor": null}));
    assert_eq!(
        server.get_json("/notes").await["keys"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_with_a_ttl_expire() {
    let server = start(|_| {}).await;
    put(&server, "/notes/short?ttl=0.3", json!("soon gone")).await;
    put(&server, "/notes/long?ttl=3600", json!("stays")).await;
    assert_eq!(
        server.get_json("/notes/short").await,
        json!({"value": "soon gone"})
    );
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(
        server.get_json("/notes/short").await,
        json!({"value": null})
    );
    assert_eq!(
        server.get_json("/notes/long").await,
        json!({"value": "stays"})
    );
    assert_eq!(server.get_json("/notes").await["keys"], json!(["long"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_refuse_with_a_kv_error() {
    let server = start(|config| {
        config.kv.max_keys = 2;
        config.kv.max_value_bytes = 64;
    })
    .await;
    put(&server, "/notes/a", json!(1)).await;
    put(&server, "/notes/b", json!(2)).await;
    let refused = put(&server, "/notes/c", json!(3)).await;
    assert_eq!(refused["name"], "KvError", "{refused}");
    assert_eq!(refused["code"], "KV_QUOTA_EXCEEDED", "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("2 of 2 keys"));
    // Overwriting an existing key is still fine; a value over the size cap is not.
    assert_eq!(
        put(&server, "/notes/a", json!(10)).await,
        json!({"stored": true})
    );
    let refused = put(&server, "/notes/a", json!("x".repeat(100))).await;
    assert_eq!(refused["code"], "KV_VALUE_TOO_LARGE", "{refused}");
    assert_eq!(server.get_json("/notes/a").await, json!({"value": 10}));

    // Both failures are in the script's log, naming the key, with the request id.
    let lines = server.wait_for_log("notes", "KV_QUOTA_EXCEEDED").await;
    assert!(
        lines[0]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with(r#"kv.set "c" failed"#)),
        "{lines:?}"
    );
    assert!(lines[0]["request_id"].is_string(), "{lines:?}");
    assert_eq!(lines[0]["level"], "warn", "{lines:?}");
    server.wait_for_log("notes", "KV_VALUE_TOO_LARGE").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn increments_are_atomic_across_concurrent_requests() {
    let server = start(|_| {}).await;
    let mut calls = Vec::new();
    for _ in 0..20 {
        calls.push(send(&server, Method::POST, "/count/hits"));
    }
    futures::future::join_all(calls).await;
    assert_eq!(server.get_json("/notes/hits").await, json!({"value": 20}));
    assert_eq!(
        send(&server, Method::POST, "/count/hits?by=-5").await,
        json!({"n": 15})
    );
    put(&server, "/notes/text", json!("words")).await;
    let refused = send(&server, Method::POST, "/count/text").await;
    assert_eq!(refused["code"], "KV_NOT_A_NUMBER", "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_user_is_per_signed_in_user() {
    let server = start(|_| {}).await;
    let admin = server.first_admin().await;
    let alice = server.new_account(&admin, "alice@example.com", &[]).await;
    let bob = server.new_account(&admin, "bob@example.com", &[]).await;
    let store = |who| {
        server
            .with_session(Method::PUT, "/mine", who)
            .json(&json!({"theme": "dark"}))
    };
    let answer: Value = store(&alice).send().await.unwrap().json().await.unwrap();
    assert_eq!(answer, json!({"stored": true}));
    assert_eq!(
        server.get_as(&alice, "/mine").await,
        json!({"value": {"theme": "dark"}})
    );
    assert_eq!(server.get_as(&bob, "/mine").await, json!({"value": null}));
    // Nobody signed in: a clear error, not a shared anonymous space.
    let anonymous = server.get_json("/mine").await;
    assert_eq!(anonymous["code"], "KV_NO_USER", "{anonymous}");
    // The script's own space does not see user entries.
    assert_eq!(server.get_json("/notes/pref").await, json!({"value": null}));
}
