//! API keys: shown once, authenticate as their owner, revocation and expiry, malformed keys,
//! other users' keys, tiers (no self-promotion), scopes, and `manage` keys acting with their
//! owner's permissions only.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Session, TestServer, expect_error};
use crate::identity::{WHOAMI, add_and_login, bearer, cookie_only, fails, json_status, sleep_ms};

/// A signed-in admin with the WHOAMI script deployed.
async fn setup(server: &TestServer) -> Session {
    let admin = server.first_admin().await;
    let response = server.deploy_as(&admin, "who", WHOAMI).await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    admin
}

fn key_of(created: &Value) -> String {
    created["key"].as_str().expect("key").to_owned()
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
    let admin = setup(&server).await;
    let user = add_and_login(&server, &admin, "u@example.com", &["user"]).await;
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
    let id = created["id"].as_i64().unwrap();

    // Afterwards only the prefix is ever shown.
    let listed = json_status(
        server.with_session(Method::GET, "/engine/api/keys", &user),
        200,
    )
    .await;
    assert_eq!(listed["keys"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["keys"][0]["id"], id);
    assert_eq!(listed["keys"][0]["prefix"], created["prefix"]);
    assert_no_secret(&listed["keys"][0], &key);
    assert_no_secret(&listed, &key);
    let shown = json_status(
        server.with_session(Method::GET, &format!("/engine/api/keys/{id}"), &user),
        200,
    )
    .await;
    assert_no_secret(&shown, &key);
    assert_eq!(shown["status"], "active");
    let everyone = json_status(
        server.with_session(Method::GET, "/engine/api/keys?all=true", &admin),
        200,
    )
    .await;
    assert_no_secret(&everyone, &key);
    let audit = json_status(
        server.with_session(Method::GET, "/engine/api/audit?action=key_created", &admin),
        200,
    )
    .await;
    assert_eq!(audit["events"][0]["target"], created["prefix"]);
    assert_no_secret(&audit, &key);
    // Two keys are never the same.
    let other = server.create_key(&user, json!({ "name": "ci" })).await;
    assert_ne!(key_of(&other), key);
    // Bad requests.
    for body in [
        json!({ "name": "" }),
        json!({ "name": "x".repeat(101) }),
        json!({ "name": "x", "expires_in_secs": 0 }),
        json!({ "name": "x", "colour": "red" }),
    ] {
        fails(
            server
                .with_session(Method::POST, "/engine/api/keys", &user)
                .json(&body),
            400,
            "BAD_REQUEST",
        )
        .await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_authenticates_as_its_owner() {
    let server = TestServer::start().await;
    let admin = setup(&server).await;
    let user = add_and_login(&server, &admin, "u@example.com", &["user"]).await;
    let created = server
        .create_key(&user, json!({ "name": "svc", "scopes": ["invoke"] }))
        .await;
    let key = key_of(&created);
    let me = json_status(bearer(&server, Method::GET, "/auth/me", &key), 200).await;
    assert_eq!(me["user"]["email"], "u@example.com");
    assert_eq!(me["csrf_token"], Value::Null);
    assert_eq!(me["api_key"]["prefix"], created["prefix"]);
    assert_eq!(me["api_key"]["tier"], "free");
    assert!(me["api_key"].get("key").is_none());

    let seen = json_status(bearer(&server, Method::GET, "/keyed", &key), 200).await;
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
    let response = bearer(&server, Method::GET, "/keyed", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response
            .headers()
            .keys()
            .any(|h| h.as_str().starts_with("ratelimit") || h.as_str().starts_with("x-ratelimit")),
        "{:?}",
        response.headers()
    );
    // `apiKey` routes need a key: a session or nobody is not enough.
    fails(
        cookie_only(&server, Method::GET, "/keyed", &user),
        401,
        "API_KEY_REQUIRED",
    )
    .await;
    let response = server.get("/keyed").await;
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .map(|v| v.as_bytes()),
        Some(&b"Bearer"[..])
    );
    expect_error(response, 401, "API_KEY_REQUIRED").await;
    // Logout is for sessions.
    fails(
        bearer(&server, Method::POST, "/auth/logout", &key),
        400,
        "BAD_REQUEST",
    )
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_keys_fail_on_the_very_next_request() {
    let server = TestServer::start().await;
    let admin = setup(&server).await;
    let user = add_and_login(&server, &admin, "u@example.com", &["user"]).await;
    let created = server
        .create_key(
            &user,
            json!({ "name": "k", "scopes": ["invoke", "manage"] }),
        )
        .await;
    let key = key_of(&created);
    let id = created["id"].as_i64().unwrap();
    json_status(bearer(&server, Method::GET, "/whoami", &key), 200).await;
    json_status(bearer(&server, Method::GET, "/engine/api/keys", &key), 200).await;
    let revoked = json_status(
        server.with_session(Method::DELETE, &format!("/engine/api/keys/{id}"), &user),
        200,
    )
    .await;
    assert_eq!(revoked["status"], "revoked");
    assert!(revoked["revoked_at"].is_string());
    for (method, path) in [
        (Method::GET, "/whoami"),
        (Method::GET, "/public"),
        (Method::GET, "/auth/me"),
        (Method::GET, "/engine/api/keys"),
        (Method::DELETE, "/engine/api/keys/1"),
    ] {
        let error = fails(bearer(&server, method, path, &key), 401, "API_KEY_REVOKED").await;
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains(created["prefix"].as_str().unwrap()),
            "{error}"
        );
    }
    // Revoking again is harmless and keeps the first time.
    let again = json_status(
        server.with_session(Method::DELETE, &format!("/engine/api/keys/{id}"), &user),
        200,
    )
    .await;
    assert_eq!(again["revoked_at"], revoked["revoked_at"]);
    // A key can revoke itself.
    let created = server
        .create_key(&user, json!({ "name": "self", "scopes": ["manage"] }))
        .await;
    let key = key_of(&created);
    let id = created["id"].as_i64().unwrap();
    json_status(
        bearer(
            &server,
            Method::DELETE,
            &format!("/engine/api/keys/{id}"),
            &key,
        ),
        200,
    )
    .await;
    fails(
        bearer(&server, Method::GET, "/engine/api/keys", &key),
        401,
        "API_KEY_REVOKED",
    )
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_keys_are_refused() {
    let server = TestServer::start().await;
    let admin = setup(&server).await;
    let user = add_and_login(&server, &admin, "u@example.com", &["user"]).await;
    let short = server
        .create_key(&user, json!({ "name": "short", "expires_in_secs": 1 }))
        .await;
    let long = server
        .create_key(&user, json!({ "name": "long", "expires_in_secs": 3600 }))
        .await;
    assert!(short["expires_at"].is_string(), "{short}");
    sleep_ms(1200).await;
    for path in ["/whoami", "/auth/me"] {
        fails(
            bearer(&server, Method::GET, path, &key_of(&short)),
            401,
            "API_KEY_EXPIRED",
        )
        .await;
    }
    let me = json_status(bearer(&server, Method::GET, "/whoami", &key_of(&long)), 200).await;
    assert_eq!(me["email"], "u@example.com");
    let shown = json_status(
        server.with_session(
            Method::GET,
            &format!("/engine/api/keys/{}", short["id"]),
            &user,
        ),
        200,
    )
    .await;
    assert_eq!(shown["status"], "expired");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_unknown_keys_are_invalid() {
    let server = TestServer::start().await;
    let admin = setup(&server).await;
    let real = key_of(&server.create_key(&admin, json!({ "name": "real" })).await);
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
            let response = bearer(&server, Method::GET, path, candidate)
                .send()
                .await
                .unwrap();
            let error = expect_error(response, 401, "INVALID_API_KEY").await;
            assert!(
                !error["message"]
                    .as_str()
                    .unwrap()
                    .contains(candidate.as_str())
            );
        }
    }
    // The real one still works.
    json_status(bearer(&server, Method::GET, "/whoami", &real), 200).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_cannot_see_or_touch_each_others_keys() {
    let server = TestServer::start().await;
    let admin = setup(&server).await;
    let a = add_and_login(&server, &admin, "a@example.com", &["editor"]).await;
    let b = add_and_login(&server, &admin, "b@example.com", &["editor"]).await;
    let a_key = server.create_key(&a, json!({ "name": "a-key" })).await;
    let a_id = a_key["id"].as_i64().unwrap();
    let a_user = a.user["id"].as_i64().unwrap();
    let b_manage = key_of(
        &server
            .create_key(&b, json!({ "name": "b-manage", "scopes": ["manage"] }))
            .await,
    );

    // Neither with B's session nor with B's `manage` key.
    type AsB = fn(&TestServer, Method, &str, &Session, &str) -> reqwest::RequestBuilder;
    let ways: [AsB; 2] = [
        |s, m, p, b, _k| s.with_session(m, p, b),
        |s, m, p, _b, k| bearer(s, m, p, k),
    ];
    for as_b in ways {
        let path = format!("/engine/api/keys/{a_id}");
        fails(
            as_b(&server, Method::GET, &path, &b, &b_manage),
            404,
            "KEY_NOT_FOUND",
        )
        .await;
        fails(
            as_b(&server, Method::DELETE, &path, &b, &b_manage),
            404,
            "KEY_NOT_FOUND",
        )
        .await;
        fails(
            as_b(&server, Method::PATCH, &path, &b, &b_manage).json(&json!({ "tier": "pro" })),
            404,
            "KEY_NOT_FOUND",
        )
        .await;
        // An id that does not exist looks the same.
        fails(
            as_b(
                &server,
                Method::GET,
                "/engine/api/keys/999999",
                &b,
                &b_manage,
            ),
            404,
            "KEY_NOT_FOUND",
        )
        .await;
        let listed = json_status(
            as_b(&server, Method::GET, "/engine/api/keys", &b, &b_manage),
            200,
        )
        .await;
        assert!(
            listed["keys"]
                .as_array()
                .unwrap()
                .iter()
                .all(|k| k["user_id"] != a_user),
            "{listed}"
        );
        for query in [format!("?user_id={a_user}"), "?all=true".to_owned()] {
            fails(
                as_b(
                    &server,
                    Method::GET,
                    &format!("/engine/api/keys{query}"),
                    &b,
                    &b_manage,
                ),
                403,
                "FORBIDDEN",
            )
            .await;
        }
        // Nor mint a key that would act as A.
        fails(
            as_b(&server, Method::POST, "/engine/api/keys", &b, &b_manage)
                .json(&json!({ "name": "evil", "user_id": a_user })),
            403,
            "FORBIDDEN",
        )
        .await;
    }
    // A's key is untouched and A's keys are still only A's.
    let shown = json_status(
        server.with_session(Method::GET, &format!("/engine/api/keys/{a_id}"), &a),
        200,
    )
    .await;
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["tier"], "free");
    let listed = json_status(
        server.with_session(Method::GET, "/engine/api/keys", &a),
        200,
    )
    .await;
    assert_eq!(listed["keys"].as_array().unwrap().len(), 1, "{listed}");
    // The admin sees and may revoke anyone's key, and create keys for others.
    json_status(
        server.with_session(
            Method::GET,
            &format!("/engine/api/keys?user_id={a_user}"),
            &admin,
        ),
        200,
    )
    .await;
    let for_a = server
        .create_key(
            &admin,
            json!({ "name": "given", "user_id": a_user, "tier": "pro" }),
        )
        .await;
    assert_eq!(for_a["user_id"], a_user);
    let me = json_status(
        bearer(&server, Method::GET, "/auth/me", &key_of(&for_a)),
        200,
    )
    .await;
    assert_eq!(me["user"]["email"], "a@example.com");
    json_status(
        server.with_session(Method::DELETE, &format!("/engine/api/keys/{a_id}"), &admin),
        200,
    )
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_cannot_promote_their_own_keys() {
    let server = TestServer::start().await;
    let admin = setup(&server).await;
    let user = add_and_login(&server, &admin, "u@example.com", &["user"]).await;
    assert_eq!(user.user["allowed_tiers"], json!(["free"]));
    for tier in ["pro", "basic"] {
        let error = fails(
            server
                .with_session(Method::POST, "/engine/api/keys", &user)
                .json(&json!({ "name": "greedy", "tier": tier })),
            403,
            "TIER_NOT_ALLOWED",
        )
        .await;
        assert!(error["message"].as_str().unwrap().contains(tier), "{error}");
    }
    fails(
        server
            .with_session(Method::POST, "/engine/api/keys", &user)
            .json(&json!({ "name": "x", "tier": "platinum" })),
        404,
        "TIER_NOT_FOUND",
    )
    .await;
    let created = server
        .create_key(
            &user,
            json!({ "name": "mine", "tier": "free", "scopes": ["invoke", "manage"] }),
        )
        .await;
    let key = key_of(&created);
    let id = created["id"].as_i64().unwrap();
    let path = format!("/engine/api/keys/{id}");
    // Not with the session, not with the key itself.
    fails(
        server
            .with_session(Method::PATCH, &path, &user)
            .json(&json!({ "tier": "pro" })),
        403,
        "FORBIDDEN",
    )
    .await;
    fails(
        bearer(&server, Method::PATCH, &path, &key).json(&json!({ "tier": "pro" })),
        403,
        "FORBIDDEN",
    )
    .await;
    fails(
        bearer(&server, Method::POST, "/engine/api/keys", &key)
            .json(&json!({ "name": "greedy", "tier": "pro" })),
        403,
        "TIER_NOT_ALLOWED",
    )
    .await;
    let seen = json_status(bearer(&server, Method::GET, "/keyed", &key), 200).await;
    assert_eq!(seen["apiKey"]["tier"], "free");

    // The admin moves it; the very next request runs on the new tier.
    fails(
        server
            .with_session(Method::PATCH, &path, &admin)
            .json(&json!({ "tier": "platinum" })),
        404,
        "NOT_FOUND",
    )
    .await;
    let moved = json_status(
        server
            .with_session(Method::PATCH, &path, &admin)
            .json(&json!({ "tier": "pro" })),
        200,
    )
    .await;
    assert_eq!(moved["tier"], "pro");
    let seen = json_status(bearer(&server, Method::GET, "/keyed", &key), 200).await;
    assert_eq!(seen["apiKey"]["tier"], "pro");
    let me = json_status(bearer(&server, Method::GET, "/auth/me", &key), 200).await;
    assert_eq!(me["api_key"]["tier"], "pro");
    let audit = json_status(
        server.with_session(
            Method::GET,
            "/engine/api/audit?action=key_tier_changed",
            &admin,
        ),
        200,
    )
    .await;
    assert_eq!(
        audit["events"][0]["detail"],
        json!({ "from": "free", "to": "pro" })
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_widen_the_tiers_a_user_may_pick() {
    let server = TestServer::start().await;
    let admin = setup(&server).await;
    let user = add_and_login(&server, &admin, "u@example.com", &["user"]).await;
    let id = user.user["id"].as_i64().unwrap();
    fails(
        server
            .with_session(Method::POST, "/engine/api/keys", &user)
            .json(&json!({ "name": "b", "tier": "basic" })),
        403,
        "TIER_NOT_ALLOWED",
    )
    .await;
    // Users cannot widen their own.
    fails(
        server
            .with_session(Method::PATCH, &format!("/engine/api/users/{id}"), &user)
            .json(&json!({ "allowed_tiers": ["free", "basic", "pro"] })),
        403,
        "FORBIDDEN",
    )
    .await;
    let updated = json_status(
        server
            .with_session(Method::PATCH, &format!("/engine/api/users/{id}"), &admin)
            .json(&json!({ "allowed_tiers": ["free", "basic"] })),
        200,
    )
    .await;
    assert_eq!(updated["allowed_tiers"], json!(["basic", "free"]));
    let created = server
        .create_key(&user, json!({ "name": "b", "tier": "basic" }))
        .await;
    assert_eq!(created["tier"], "basic");
    let seen = json_status(
        bearer(&server, Method::GET, "/keyed", &key_of(&created)),
        200,
    )
    .await;
    assert_eq!(seen["apiKey"]["tier"], "basic");
    // Still not pro.
    fails(
        server
            .with_session(Method::POST, "/engine/api/keys", &user)
            .json(&json!({ "name": "p", "tier": "pro" })),
        403,
        "TIER_NOT_ALLOWED",
    )
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_limit_what_a_key_can_do() {
    let server = TestServer::start().await;
    let admin = setup(&server).await;
    let editor = add_and_login(&server, &admin, "e@example.com", &["editor"]).await;
    let invoke = key_of(
        &server
            .create_key(&editor, json!({ "name": "invoke", "scopes": ["invoke"] }))
            .await,
    );
    let manage = key_of(
        &server
            .create_key(&editor, json!({ "name": "manage", "scopes": ["manage"] }))
            .await,
    );
    // Without `manage`: no management API, not even reading.
    for (method, path) in [
        (Method::GET, "/engine/api/scripts"),
        (Method::GET, "/engine/api/keys"),
        (Method::POST, "/engine/api/keys"),
    ] {
        let error = fails(
            bearer(&server, method, path, &invoke)
                .json(&json!({ "name": "more", "scopes": ["manage"] })),
            403,
            "INSUFFICIENT_SCOPE",
        )
        .await;
        assert!(
            error["message"].as_str().unwrap().contains("manage"),
            "{error}"
        );
    }
    let response = bearer(
        &server,
        Method::POST,
        "/engine/api/scripts/x/versions",
        &invoke,
    )
    .json(&json!({ "files": [{ "path": "main.js", "content": "export function init() {}" }] }))
    .send()
    .await
    .unwrap();
    expect_error(response, 403, "INSUFFICIENT_SCOPE").await;
    json_status(bearer(&server, Method::GET, "/whoami", &invoke), 200).await;
    // Without `invoke`: no script routes.
    for path in ["/whoami", "/keyed", "/public"] {
        let error = fails(
            bearer(&server, Method::GET, path, &manage),
            403,
            "INSUFFICIENT_SCOPE",
        )
        .await;
        assert!(
            error["message"].as_str().unwrap().contains("invoke"),
            "{error}"
        );
    }
    json_status(
        bearer(&server, Method::GET, "/engine/api/scripts", &manage),
        200,
    )
    .await;
    // Unknown and empty scopes are refused.
    for scopes in [json!(["root"]), json!(["invoke", "admin"]), json!([])] {
        fails(
            server
                .with_session(Method::POST, "/engine/api/keys", &editor)
                .json(&json!({ "name": "bad", "scopes": scopes })),
            400,
            "BAD_REQUEST",
        )
        .await;
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
    let admin = setup(&server).await;
    let a = add_and_login(&server, &admin, "a@example.com", &["editor"]).await;
    let b = add_and_login(&server, &admin, "b@example.com", &["editor"]).await;
    let user = add_and_login(&server, &admin, "u@example.com", &["user"]).await;
    let key_for = |s: &Session| {
        let s = s.clone();
        let server = &server;
        async move {
            key_of(
                &server
                    .create_key(&s, json!({ "name": "ops", "scopes": ["manage"] }))
                    .await,
            )
        }
    };
    let a_key = key_for(&a).await;
    let b_key = key_for(&b).await;
    let u_key = key_for(&user).await;
    let deploy = |key: &str, name: &str, body: &str| {
        bearer(
            &server,
            Method::POST,
            &format!("/engine/api/scripts/{name}/versions"),
            key,
        )
        .header("content-type", "application/javascript")
        .body(format!(
            "export function init() {{ registerWebHandler('GET', '/{name}', () => '{body}'); }}"
        ))
    };
    json_status(deploy(&a_key, "a-app", "from a"), 201).await;
    assert_eq!(server.get_text("/a-app").await, "from a");
    // B's key cannot touch A's script.
    fails(deploy(&b_key, "a-app", "from b"), 403, "FORBIDDEN").await;
    for (method, path) in [
        (Method::GET, "/engine/api/scripts/a-app"),
        (Method::DELETE, "/engine/api/scripts/a-app"),
    ] {
        fails(bearer(&server, method, path, &b_key), 403, "FORBIDDEN").await;
    }
    fails(
        bearer(
            &server,
            Method::POST,
            "/engine/api/scripts/a-app/owners",
            &b_key,
        )
        .json(&json!({ "email": "b@example.com" })),
        403,
        "FORBIDDEN",
    )
    .await;
    let listed = json_status(
        bearer(&server, Method::GET, "/engine/api/scripts", &b_key),
        200,
    )
    .await;
    assert_eq!(listed["scripts"], json!([]));
    assert_eq!(server.get_text("/a-app").await, "from a");
    // A `user`'s key cannot deploy at all.
    fails(deploy(&u_key, "u-app", "from u"), 403, "FORBIDDEN").await;
    // No key of a non-admin reaches admin endpoints or raises its owner.
    let b_id = b.user["id"].as_i64().unwrap();
    for key in [&b_key, &u_key] {
        fails(
            bearer(&server, Method::GET, "/engine/api/users", key),
            403,
            "FORBIDDEN",
        )
        .await;
        fails(
            bearer(&server, Method::POST, "/engine/api/users", key)
                .json(&json!({ "email": "new@example.com", "roles": ["admin"] })),
            403,
            "FORBIDDEN",
        )
        .await;
        fails(
            bearer(
                &server,
                Method::PUT,
                &format!("/engine/api/users/{b_id}/roles/admin"),
                key,
            ),
            403,
            "FORBIDDEN",
        )
        .await;
        fails(
            bearer(&server, Method::GET, "/engine/api/audit", key),
            403,
            "FORBIDDEN",
        )
        .await;
    }
    let me = json_status(
        server.with_session(Method::GET, &format!("/engine/api/users/{b_id}"), &b),
        200,
    )
    .await;
    assert_eq!(me["roles"], json!(["editor"]));
    // B's key works for B's own scripts; an admin's key for everything.
    json_status(deploy(&b_key, "b-app", "from b"), 201).await;
    let admin_key = key_for(&admin).await;
    json_status(deploy(&admin_key, "a-app", "from admin"), 201).await;
    assert_eq!(server.get_text("/a-app").await, "from admin");
    server.stop().await;
}
