//! API keys: shown once, authenticate as their owner, revocation and expiry, malformed keys,
//! other users' keys, tiers (no self-promotion), scopes, and `manage` keys acting with their
//! owner's permissions only.

use std::time::Duration;

use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

use crate::common::{
    Session, TestServer, assert_bearer_challenge, assert_mentions, expect_error, expect_status,
    fails, forbidden, json_status, key_of,
};

/// The first admin (with the WHOAMI script deployed) and a signed-in `user`, `u@example.com`.
async fn admin_and_user(server: &TestServer) -> (Session, Session) {
    let admin = server.first_admin_with_whoami().await;
    let user = server.new_account(&admin, "u@example.com", &["user"]).await;
    (admin, user)
}

/// One way of sending a request as somebody (a session, a key…).
type AsB<'a> = dyn Fn(Method, &str) -> RequestBuilder + 'a;

/// A key creation with `body` as `session` (not sent).
fn new_key(server: &TestServer, session: &Session, body: &Value) -> RequestBuilder {
    server
        .with_session(Method::POST, "/engine/api/keys", session)
        .json(body)
}

/// The management path of the key with id `id`.
fn key_path(id: &Value) -> String {
    format!("/engine/api/keys/{id}")
}

/// The object keys of a key view must never include the secret or its hash.
fn assert_no_secret(view: &Value, secret: &str) {
    let text = view.to_string();
    assert!(!text.contains(secret), "the key leaked: {text}");
    assert!(
        !text.contains(&secret[13..]),
        "the key's secret part leaked: {text}"
    );
    for field in ["key", "hash", "key_hash", "secret"] {
        assert!(view.get(field).is_none(), "{field} shown: {view}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_key_is_shown_once() {
    let server = TestServer::start().await;
    let (admin, user) = admin_and_user(&server).await;
    let created = server
        .create_key(&user, json!({ "name": "  laptop  " }))
        .await;
    let key = key_of(&created);
    assert!(key.starts_with("kiln_"), "{key}");
    assert_eq!(key.len(), 5 + 48, "{key}");
    assert!(
        key[5..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{key}"
    );
    assert_eq!(created["prefix"], key[..13]);
    assert_eq!(created["name"], "laptop");
    assert_eq!(created["tier"], "free");
    assert_eq!(created["scopes"], json!(["execute", "invoke"]));
    assert_eq!(created["status"], "active");
    assert_eq!(created["user_id"], user.user["id"]);
    assert_eq!(created["expires_at"], Value::Null);
    assert!(created.get("hash").is_none(), "{created}");

    // Afterwards only the prefix is ever shown.
    let listed = server.get_as(&user, "/engine/api/keys").await;
    assert_eq!(listed["keys"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["keys"][0]["id"], created["id"]);
    assert_eq!(listed["keys"][0]["prefix"], created["prefix"]);
    assert_no_secret(&listed["keys"][0], &key);
    assert_no_secret(&listed, &key);
    let shown = server.get_as(&user, &key_path(&created["id"])).await;
    assert_no_secret(&shown, &key);
    assert_eq!(shown["status"], "active");
    let everyone = server.get_as(&admin, "/engine/api/keys?all=true").await;
    assert_no_secret(&everyone, &key);
    let events = server.audit(&admin, "key_created").await;
    assert_eq!(events[0]["target"], created["prefix"]);
    assert_no_secret(&json!(events), &key);
    // Two keys are never the same.
    let other = server.mint_key(&user, json!({ "name": "ci" })).await;
    assert_ne!(other, key);
    // Bad requests.
    for body in [
        json!({ "name": "" }),
        json!({ "name": "x".repeat(101) }),
        json!({ "name": "x", "expires_in_secs": 0 }),
        json!({ "name": "x", "colour": "red" }),
    ] {
        fails(new_key(&server, &user, &body), 400, "BAD_REQUEST").await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_authenticates_as_its_owner() {
    let server = TestServer::start().await;
    let (_, user) = admin_and_user(&server).await;
    let created = server
        .create_key(&user, json!({ "name": "svc", "scopes": ["invoke"] }))
        .await;
    let key = key_of(&created);
    let me = server.get_with_key(&key, "/auth/me").await;
    assert_eq!(me["user"]["email"], "u@example.com");
    assert_eq!(me["csrf_token"], Value::Null);
    assert_eq!(me["api_key"]["prefix"], created["prefix"]);
    assert_eq!(me["api_key"]["tier"], "free");
    assert!(me["api_key"].get("key").is_none());

    let seen = server.get_with_key(&key, "/keyed").await;
    assert_eq!(seen["email"], "u@example.com");
    assert_eq!(
        seen["apiKey"],
        json!({
            "id": created["id"],
            "prefix": created["prefix"],
            "name": "svc",
            "tier": "free",
            "scopes": ["invoke"],
        })
    );
    // Rate-limit headers of the key's tier come with it.
    let response = expect_status(server.bearer(Method::GET, "/keyed", &key), 200).await;
    assert!(
        response
            .headers()
            .keys()
            .any(|h| h.as_str().starts_with("ratelimit") || h.as_str().starts_with("x-ratelimit")),
        "{:?}",
        response.headers()
    );
    // `apiKey` routes need a key: a session or nobody is not enough.
    let session = server.cookie_only(Method::GET, "/keyed", &user);
    fails(session, 401, "API_KEY_REQUIRED").await;
    let response = server.get("/keyed").await;
    assert_bearer_challenge(&response);
    expect_error(response, 401, "API_KEY_REQUIRED").await;
    // Logout is for sessions.
    let logout = server.bearer(Method::POST, "/auth/logout", &key);
    fails(logout, 400, "BAD_REQUEST").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_keys_fail_on_the_very_next_request() {
    let server = TestServer::start().await;
    let (_, user) = admin_and_user(&server).await;
    let created = server
        .create_key(
            &user,
            json!({ "name": "k", "scopes": ["invoke", "manage"] }),
        )
        .await;
    let key = key_of(&created);
    let own_path = key_path(&created["id"]);
    server.get_with_key(&key, "/whoami").await;
    server.get_with_key(&key, "/engine/api/keys").await;
    let revoke = || server.with_session(Method::DELETE, &own_path, &user);
    let revoked = json_status(revoke(), 200).await;
    assert_eq!(revoked["status"], "revoked");
    assert!(revoked["revoked_at"].is_string());
    for (method, path) in [
        (Method::GET, "/whoami"),
        (Method::GET, "/public"),
        (Method::GET, "/auth/me"),
        (Method::GET, "/engine/api/keys"),
        (Method::DELETE, "/engine/api/keys/1"),
    ] {
        let error = fails(server.bearer(method, path, &key), 401, "API_KEY_REVOKED").await;
        assert_mentions(&error, created["prefix"].as_str().unwrap());
    }
    // Revoking again is harmless and keeps the first time.
    let again = json_status(revoke(), 200).await;
    assert_eq!(again["revoked_at"], revoked["revoked_at"]);
    // A key can revoke itself.
    let created = server
        .create_key(&user, json!({ "name": "self", "scopes": ["manage"] }))
        .await;
    let key = key_of(&created);
    let own_path = key_path(&created["id"]);
    json_status(server.bearer(Method::DELETE, &own_path, &key), 200).await;
    let list = server.bearer(Method::GET, "/engine/api/keys", &key);
    fails(list, 401, "API_KEY_REVOKED").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_keys_are_refused() {
    let server = TestServer::start().await;
    let (_, user) = admin_and_user(&server).await;
    let short = server
        .create_key(&user, json!({ "name": "short", "expires_in_secs": 1 }))
        .await;
    let long = server
        .mint_key(&user, json!({ "name": "long", "expires_in_secs": 3600 }))
        .await;
    assert!(short["expires_at"].is_string(), "{short}");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for path in ["/whoami", "/auth/me"] {
        let request = server.bearer(Method::GET, path, &key_of(&short));
        fails(request, 401, "API_KEY_EXPIRED").await;
    }
    let me = server.get_with_key(&long, "/whoami").await;
    assert_eq!(me["email"], "u@example.com");
    let shown = server.get_as(&user, &key_path(&short["id"])).await;
    assert_eq!(shown["status"], "expired");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_unknown_keys_are_invalid() {
    let server = TestServer::start().await;
    let admin = server.first_admin_with_whoami().await;
    let real = server.mint_key(&admin, json!({ "name": "real" })).await;
    let mut wrong_tail = real.clone();
    wrong_tail.replace_range(50.., if real.ends_with("000") { "111" } else { "000" });
    let candidates = [
        // Well-formed but unknown.
        format!("kiln_{}", "0".repeat(48)),
        // A real key's prefix with another secret.
        wrong_tail,
        // Malformed: too short, too long, uppercase, not hex.
        "kiln_0123".to_owned(),
        format!("{real}0"),
        real.to_uppercase().replacen("KILN_", "kiln_", 1),
        format!("kiln_{}", "z".repeat(48)),
    ];
    for candidate in &candidates {
        for path in ["/auth/me", "/engine/api/scripts", "/whoami", "/public"] {
            let request = server.bearer(Method::GET, path, candidate);
            let error = fails(request, 401, "INVALID_API_KEY").await;
            assert!(
                !error["message"]
                    .as_str()
                    .unwrap()
                    .contains(candidate.as_str())
            );
        }
    }
    // The real one still works.
    server.get_with_key(&real, "/whoami").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_cannot_see_or_touch_each_others_keys() {
    let server = TestServer::start().await;
    let admin = server.first_admin_with_whoami().await;
    let (a, b) = server.two_editors(&admin).await;
    let a_key = server.create_key(&a, json!({ "name": "a-key" })).await;
    let a_path = key_path(&a_key["id"]);
    let a_user = a.id();
    let b_manage = server
        .mint_key(&b, json!({ "name": "b-manage", "scopes": ["manage"] }))
        .await;

    // Neither with B's session nor with B's `manage` key.
    let by_session = |method: Method, path: &str| server.with_session(method, path, &b);
    let by_key = |method: Method, path: &str| server.bearer(method, path, &b_manage);
    let ways: [&AsB<'_>; 2] = [&by_session, &by_key];
    for as_b in ways {
        for request in [
            as_b(Method::GET, &a_path),
            as_b(Method::DELETE, &a_path),
            as_b(Method::PATCH, &a_path).json(&json!({ "tier": "pro" })),
            // An id that does not exist looks the same.
            as_b(Method::GET, "/engine/api/keys/999999"),
        ] {
            fails(request, 404, "KEY_NOT_FOUND").await;
        }
        let listed = json_status(as_b(Method::GET, "/engine/api/keys"), 200).await;
        assert!(
            listed["keys"]
                .as_array()
                .unwrap()
                .iter()
                .all(|k| k["user_id"] != a_user),
            "{listed}"
        );
        for request in [
            as_b(Method::GET, &format!("/engine/api/keys?user_id={a_user}")),
            as_b(Method::GET, "/engine/api/keys?all=true"),
            // Nor mint a key that would act as A.
            as_b(Method::POST, "/engine/api/keys")
                .json(&json!({ "name": "evil", "user_id": a_user })),
        ] {
            forbidden(request).await;
        }
    }
    // A's key is untouched and A's keys are still only A's.
    let shown = server.get_as(&a, &a_path).await;
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["tier"], "free");
    let listed = server.get_as(&a, "/engine/api/keys").await;
    assert_eq!(listed["keys"].as_array().unwrap().len(), 1, "{listed}");
    // The admin sees and may revoke anyone's key, and create keys for others.
    server
        .get_as(&admin, &format!("/engine/api/keys?user_id={a_user}"))
        .await;
    let for_a = server
        .create_key(
            &admin,
            json!({ "name": "given", "user_id": a_user, "tier": "pro" }),
        )
        .await;
    assert_eq!(for_a["user_id"], a_user);
    let me = server.get_with_key(&key_of(&for_a), "/auth/me").await;
    assert_eq!(me["user"]["email"], "a@example.com");
    json_status(server.with_session(Method::DELETE, &a_path, &admin), 200).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_cannot_promote_their_own_keys() {
    let server = TestServer::start().await;
    let (admin, user) = admin_and_user(&server).await;
    assert_eq!(user.user["allowed_tiers"], json!(["free"]));
    for tier in ["pro", "basic"] {
        let greedy = new_key(&server, &user, &json!({ "name": "greedy", "tier": tier }));
        let error = fails(greedy, 403, "TIER_NOT_ALLOWED").await;
        assert_mentions(&error, tier);
    }
    let platinum = new_key(&server, &user, &json!({ "name": "x", "tier": "platinum" }));
    fails(platinum, 404, "TIER_NOT_FOUND").await;
    let created = server
        .create_key(
            &user,
            json!({ "name": "mine", "tier": "free", "scopes": ["invoke", "manage"] }),
        )
        .await;
    let key = key_of(&created);
    let path = key_path(&created["id"]);
    let to_pro = json!({ "tier": "pro" });
    // Not with the session, not with the key itself.
    for request in [
        server
            .with_session(Method::PATCH, &path, &user)
            .json(&to_pro),
        server.bearer(Method::PATCH, &path, &key).json(&to_pro),
    ] {
        forbidden(request).await;
    }
    let greedy = server
        .bearer(Method::POST, "/engine/api/keys", &key)
        .json(&json!({ "name": "greedy", "tier": "pro" }));
    fails(greedy, 403, "TIER_NOT_ALLOWED").await;
    let seen = server.get_with_key(&key, "/keyed").await;
    assert_eq!(seen["apiKey"]["tier"], "free");

    // The admin moves it; the very next request runs on the new tier.
    let move_to = |tier: &str| {
        server
            .with_session(Method::PATCH, &path, &admin)
            .json(&json!({ "tier": tier }))
    };
    fails(move_to("platinum"), 404, "NOT_FOUND").await;
    let moved = json_status(move_to("pro"), 200).await;
    assert_eq!(moved["tier"], "pro");
    let seen = server.get_with_key(&key, "/keyed").await;
    assert_eq!(seen["apiKey"]["tier"], "pro");
    let me = server.get_with_key(&key, "/auth/me").await;
    assert_eq!(me["api_key"]["tier"], "pro");
    let events = server.audit(&admin, "key_tier_changed").await;
    assert_eq!(events[0]["detail"], json!({ "from": "free", "to": "pro" }));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_widen_the_tiers_a_user_may_pick() {
    let server = TestServer::start().await;
    let (admin, user) = admin_and_user(&server).await;
    let basic = json!({ "name": "b", "tier": "basic" });
    fails(new_key(&server, &user, &basic), 403, "TIER_NOT_ALLOWED").await;
    // Users cannot widen their own.
    let widen = json!({ "allowed_tiers": ["free", "basic", "pro"] });
    forbidden(server.patch_user(&user, user.id(), &widen)).await;
    let widen = json!({ "allowed_tiers": ["free", "basic"] });
    let updated = json_status(server.patch_user(&admin, user.id(), &widen), 200).await;
    assert_eq!(updated["allowed_tiers"], json!(["basic", "free"]));
    let created = server.create_key(&user, basic).await;
    assert_eq!(created["tier"], "basic");
    let seen = server.get_with_key(&key_of(&created), "/keyed").await;
    assert_eq!(seen["apiKey"]["tier"], "basic");
    // Still not pro.
    let pro = new_key(&server, &user, &json!({ "name": "p", "tier": "pro" }));
    fails(pro, 403, "TIER_NOT_ALLOWED").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_limit_what_a_key_can_do() {
    let server = TestServer::start().await;
    let admin = server.first_admin_with_whoami().await;
    let editor = server
        .new_account(&admin, "e@example.com", &["editor"])
        .await;
    let invoke = server
        .mint_key(&editor, json!({ "name": "invoke", "scopes": ["invoke"] }))
        .await;
    let manage = server
        .mint_key(&editor, json!({ "name": "manage", "scopes": ["manage"] }))
        .await;
    // Without `manage`: no management API, not even reading.
    let more = json!({ "name": "more", "scopes": ["manage"] });
    for (method, path) in [
        (Method::GET, "/engine/api/scripts"),
        (Method::GET, "/engine/api/keys"),
        (Method::POST, "/engine/api/keys"),
    ] {
        let request = server.bearer(method, path, &invoke).json(&more);
        let error = fails(request, 403, "INSUFFICIENT_SCOPE").await;
        assert_mentions(&error, "manage");
    }
    let deploy = server
        .bearer(Method::POST, "/engine/api/scripts/x/versions", &invoke)
        .json(&json!({ "files": [{ "path": "main.js", "content": "export function init() {}" }] }));
    fails(deploy, 403, "INSUFFICIENT_SCOPE").await;
    server.get_with_key(&invoke, "/whoami").await;
    // Without `invoke`: no script routes.
    for path in ["/whoami", "/keyed", "/public"] {
        let request = server.bearer(Method::GET, path, &manage);
        let error = fails(request, 403, "INSUFFICIENT_SCOPE").await;
        assert_mentions(&error, "invoke");
    }
    server.get_with_key(&manage, "/engine/api/scripts").await;
    // Unknown and empty scopes are refused.
    for scopes in [json!(["root"]), json!(["invoke", "admin"]), json!([])] {
        let bad = new_key(
            &server,
            &editor,
            &json!({ "name": "bad", "scopes": scopes }),
        );
        fails(bad, 400, "BAD_REQUEST").await;
    }
    // Scopes are normalised.
    let created = server
        .create_key(
            &editor,
            json!({ "name": "dup", "scopes": ["manage", "invoke", "manage"] }),
        )
        .await;
    assert_eq!(created["scopes"], json!(["invoke", "manage"]));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manage_keys_act_with_their_owners_permissions_only() {
    let server = TestServer::start().await;
    let admin = server.first_admin_with_whoami().await;
    let (a, b) = server.two_editors(&admin).await;
    let user = server.new_account(&admin, "u@example.com", &["user"]).await;
    let ops = json!({ "name": "ops", "scopes": ["manage"] });
    let a_key = server.mint_key(&a, ops.clone()).await;
    let b_key = server.mint_key(&b, ops.clone()).await;
    let u_key = server.mint_key(&user, ops.clone()).await;
    let deploy = |key: &str, name: &str, body: &str| {
        let path = format!("/engine/api/scripts/{name}/versions");
        server
            .bearer(Method::POST, &path, key)
            .header("content-type", "application/javascript")
            .body(format!(
                "export function init() {{ registerWebHandler('GET', '/{name}', () => '{body}'); }}"
            ))
    };
    json_status(deploy(&a_key, "a-app", "from a"), 201).await;
    assert_eq!(server.get_text("/a-app").await, "from a");
    // B's key cannot touch A's script.
    for request in [
        deploy(&b_key, "a-app", "from b"),
        server.bearer(Method::GET, "/engine/api/scripts/a-app", &b_key),
        server.bearer(Method::DELETE, "/engine/api/scripts/a-app", &b_key),
        server
            .bearer(Method::POST, "/engine/api/scripts/a-app/owners", &b_key)
            .json(&json!({ "email": "b@example.com" })),
    ] {
        forbidden(request).await;
    }
    let listed = server.get_with_key(&b_key, "/engine/api/scripts").await;
    assert_eq!(listed["scripts"], json!([]));
    assert_eq!(server.get_text("/a-app").await, "from a");
    // A `user`'s key cannot deploy at all.
    forbidden(deploy(&u_key, "u-app", "from u")).await;
    // No key of a non-admin reaches admin endpoints or raises its owner.
    let b_user = format!("/engine/api/users/{}", b.id());
    let promote = format!("{b_user}/roles/admin");
    for key in [&b_key, &u_key] {
        for request in [
            server.bearer(Method::GET, "/engine/api/users", key),
            server
                .bearer(Method::POST, "/engine/api/users", key)
                .json(&json!({ "email": "new@example.com", "roles": ["admin"] })),
            server.bearer(Method::PUT, &promote, key),
            server.bearer(Method::GET, "/engine/api/audit", key),
        ] {
            forbidden(request).await;
        }
    }
    let me = server.get_as(&b, &b_user).await;
    assert_eq!(me["roles"], json!(["editor"]));
    // B's key works for B's own scripts; an admin's key for everything.
    json_status(deploy(&b_key, "b-app", "from b"), 201).await;
    let admin_key = server.mint_key(&admin, ops).await;
    json_status(deploy(&admin_key, "a-app", "from admin"), 201).await;
    assert_eq!(server.get_text("/a-app").await, "from admin");
    server.stop().await;
}

#[tokio::test]
async fn last_use_is_recorded_in_batches_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let admin = server.first_admin().await;
    let used = server
        .mint_key(&admin, json!({ "name": "used", "scopes": ["invoke"] }))
        .await;
    server
        .mint_key(&admin, json!({ "name": "idle", "scopes": ["invoke"] }))
        .await;
    server.get_with_key(&used, "/auth/me").await;
    // Uses are kept in memory and written in batches (every 30 s); shutting down flushes them.
    server.stop().await;

    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let admin = server.login("admin@example.com").await;
    let listed = json_status(
        server.with_session(Method::GET, "/engine/api/keys", &admin),
        200,
    )
    .await;
    let by_name = |name: &str| {
        listed["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["name"] == name)
            .cloned()
            .unwrap()
    };
    assert!(by_name("used")["last_used_at"].is_string(), "{listed}");
    assert_eq!(by_name("idle")["last_used_at"], Value::Null, "{listed}");
    server.stop().await;
}

/// Polls `attempt` (every 20 ms) until it returns true; fails if that takes a second or more
/// from `since`, the time the design allows a change to reach every instance.
async fn within_a_second<F, Fut>(since: std::time::Instant, what: &str, mut attempt: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    loop {
        if attempt().await {
            return;
        }
        assert!(
            since.elapsed() < Duration::from_secs(1),
            "{what}: still not applied after {:?}",
            since.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_on_another_instance_apply_within_a_second() {
    // Two servers on one database, as two instances behind a load balancer: B has the key (and
    // its owner) cached from a use; the changes are made through A.
    let dir = tempfile::tempdir().expect("tempdir");
    let a = TestServer::start_in(dir.path(), |_| {}).await;
    let b = TestServer::start_in(dir.path(), |_| {}).await;
    let admin = a.first_admin().await;
    let user = a.new_account(&admin, "u@example.com", &["user"]).await;
    let created = a
        .create_key(&user, json!({ "name": "k", "scopes": ["invoke"] }))
        .await;
    let key = key_of(&created);
    let status_on_b = || async {
        let response = b.bearer(Method::GET, "/auth/me", &key).send().await;
        let response = response.expect("request");
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        (
            status,
            body["error"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    };
    assert_eq!(status_on_b().await.0, 200);

    let disable =
        |disabled: bool| a.patch_user(&admin, user.id(), &json!({ "disabled": disabled }));
    json_status(disable(true), 200).await;
    let changed = std::time::Instant::now();
    within_a_second(changed, "disabling the owner", || async {
        status_on_b().await == (401, "ACCOUNT_DISABLED".to_owned())
    })
    .await;
    json_status(disable(false), 200).await;
    let changed = std::time::Instant::now();
    within_a_second(changed, "enabling the owner", || async {
        status_on_b().await.0 == 200
    })
    .await;

    // (Disabling the owner ended their sessions: the admin revokes it.)
    let revoke = a.with_session(Method::DELETE, &key_path(&created["id"]), &admin);
    json_status(revoke, 200).await;
    let changed = std::time::Instant::now();
    within_a_second(changed, "revoking the key", || async {
        status_on_b().await == (401, "API_KEY_REVOKED".to_owned())
    })
    .await;
    b.stop().await;
    a.stop().await;
}
