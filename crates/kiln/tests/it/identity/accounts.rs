//! Session expiry, disabled accounts, login throttling, the last admin and custom roles.

use kiln_store::IdentityStore;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{
    PASSWORD, Session, TOKEN, TestServer, assert_bearer_challenge, assert_mentions, expect_error,
    fails, forbidden, header_u64, json_status, set_cookies,
};

use super::helpers::*;

// ---------------------------------------------------------------------------------------------
// Session expiry.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_idle_sessions_are_refused() {
    let server = TestServer::start_with(|c| {
        c.auth.session_idle_minutes = 30;
        c.auth.session_max_hours = 24;
    })
    .await;
    let admin = server.first_admin().await;
    let store = open_store(&server).await;
    let now = kiln::auth::now_ms();
    let hour = 3_600_000;
    for (token, times) in [
        // A healthy planted session (proves planting works).
        ("fresh-token", (now - hour, now - 60_000, now + hour)),
        // Past its absolute expiry although used a second ago.
        ("expired-token", (now - 25 * hour, now - 1000, now - 1000)),
        // Within its lifetime but idle for longer than 30 minutes.
        (
            "idle-token",
            (now - 2 * hour, now - 31 * 60_000, now + hour),
        ),
    ] {
        plant_session(&store, token, admin.id(), times).await;
    }
    let get = |token: &str| server.with_cookie(Method::GET, "/engine/api/scripts", token);
    json_status(get("fresh-token"), 200).await;
    for token in ["expired-token", "idle-token"] {
        let response = get(token).send().await.unwrap();
        assert_bearer_challenge(&response);
        let error = expect_error(response, 401, "SESSION_EXPIRED").await;
        assert_mentions(&error, "/auth/login");
        // The dead session is deleted, and stays dead.
        let record = store.get_session(&kiln::auth::session_hash(token)).await;
        assert!(
            record.unwrap().is_none(),
            "{token} should have been deleted"
        );
        let me = server.with_cookie(Method::GET, "/auth/me", token);
        fails(me, 401, "SESSION_EXPIRED").await;
    }
    // A cookie that was never a session.
    fails(get("made-up-token"), 401, "SESSION_EXPIRED").await;
    // Using a session moves its idle deadline (last_seen_at is written at most once a minute).
    let fresh = store
        .get_session(&kiln::auth::session_hash("fresh-token"))
        .await
        .unwrap()
        .unwrap();
    assert!(fresh.last_seen_at >= now, "last_seen_at was not refreshed");
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Disabled accounts.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_accounts_lose_their_sessions_and_keys() {
    let server = TestServer::start().await;
    let admin = server.first_admin_with_whoami().await;
    let editor = server
        .new_account(&admin, "ed@example.com", &["editor"])
        .await;
    let key = server
        .mint_key(
            &editor,
            json!({ "name": "k", "scopes": ["invoke", "manage"] }),
        )
        .await;
    server.get_with_key(&key, "/whoami").await;

    let disable =
        |disabled: bool| server.patch_user(&admin, editor.id(), &json!({ "disabled": disabled }));
    let disabled = json_status(disable(true), 200).await;
    assert_eq!(disabled["disabled"], true);

    // Keys: refused with ACCOUNT_DISABLED everywhere.
    for path in ["/auth/me", "/engine/api/keys", "/whoami", "/public"] {
        fails(
            server.bearer(Method::GET, path, &key),
            401,
            "ACCOUNT_DISABLED",
        )
        .await;
    }
    // The sessions were ended when the account was disabled.
    for request in [
        server.with_session(Method::GET, "/engine/api/keys", &editor),
        server.cookie_only(Method::GET, "/whoami", &editor),
    ] {
        fails(request, 401, "SESSION_EXPIRED").await;
    }
    // A session that survived somehow (planted) is refused because of the account.
    let now = kiln::auth::now_ms();
    let lifetime = (now, now, now + 3_600_000);
    plant_session(
        &open_store(&server).await,
        "survivor",
        editor.id(),
        lifetime,
    )
    .await;
    let survivor = server.with_cookie(Method::GET, "/engine/api/scripts", "survivor");
    fails(survivor, 401, "ACCOUNT_DISABLED").await;
    // Signing in fails like a wrong password (no account state is revealed).
    let login = server.login_request("ed@example.com", PASSWORD);
    fails(login, 401, "INVALID_CREDENTIALS").await;

    // Enabled again: the key works again and the account can sign in.
    json_status(disable(false), 200).await;
    let me = server.get_with_key(&key, "/auth/me").await;
    assert_eq!(me["user"]["email"], "ed@example.com");
    // Only admins disable accounts.
    let editor = server.login("ed@example.com").await;
    forbidden(server.patch_user(&editor, admin.id(), &json!({ "disabled": true }))).await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Login throttling.

async fn failed_login(server: &TestServer, email: &str) {
    let login = server.login_request(email, "definitely wrong");
    fails(login, 401, "INVALID_CREDENTIALS").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_throttled_per_account_and_audited() {
    let server = TestServer::start_with(|c| {
        c.auth.max_failed_logins_per_account = 3;
        c.auth.max_failed_logins_per_ip = 100;
        c.auth.login_window_minutes = 10;
    })
    .await;
    let admin = server.first_admin().await;
    for email in ["victim@example.com", "bystander@example.com"] {
        server.add_user(&admin, email, &["user"]).await;
    }
    for _ in 0..3 {
        failed_login(&server, "victim@example.com").await;
    }
    // The fourth attempt is refused before the password is looked at — even the right one.
    for (email, password) in [
        ("victim@example.com", PASSWORD),
        ("VICTIM@example.com", PASSWORD),
        ("victim@example.com", "definitely wrong"),
    ] {
        let response = server.login_request(email, password).send().await.unwrap();
        let wait = header_u64(&response, "retry-after");
        assert!((1..=600).contains(&wait), "Retry-After {wait}");
        assert!(set_cookies(&response).is_empty());
        let error = expect_error(response, 429, "LOGIN_THROTTLED").await;
        assert_mentions(&error, "seconds");
    }
    // The HTML form is throttled too.
    let fields = [("email", "victim@example.com"), ("password", PASSWORD)];
    let response = form_login(&server, fields).await;
    assert_eq!(response.status(), 303);
    assert!(header_u64(&response, "retry-after") >= 1);
    assert!(set_cookies(&response).is_empty());
    // Other accounts are unaffected.
    server.login("bystander@example.com").await;

    // The failures are in the audit log (admins only).
    let events = server.audit(&admin, "login_failed").await;
    assert_eq!(events.len(), 3, "{events:?}");
    for event in &events {
        assert_eq!(event["action"], "login_failed");
        assert_eq!(event["target"], "victim@example.com");
        assert_eq!(event["ip"], "127.0.0.1");
        assert_eq!(event["actor_user_id"], Value::Null);
    }
    let throttled = server.audit(&admin, "login_throttled").await;
    assert_eq!(throttled.len(), 4, "{throttled:?}");
    let bystander = server.login("bystander@example.com").await;
    forbidden(server.with_session(Method::GET, "/engine/api/audit", &bystander)).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_throttled_per_address() {
    let server = TestServer::start_with(|c| {
        c.auth.max_failed_logins_per_account = 100;
        c.auth.max_failed_logins_per_ip = 4;
    })
    .await;
    let admin = server.first_admin().await;
    // Spraying one password over many accounts from one address.
    for n in 0..4 {
        failed_login(&server, &format!("guess{n}@example.com")).await;
    }
    for email in ["guess9@example.com", "admin@example.com"] {
        let response = server.login_request(email, PASSWORD).send().await.unwrap();
        assert!(header_u64(&response, "retry-after") >= 1);
        expect_error(response, 429, "LOGIN_THROTTLED").await;
    }
    // Existing sessions are not affected.
    server.get_as(&admin, "/engine/api/scripts").await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Admins and roles.

/// Asserts `admin`, the last admin, can neither drop the role nor be disabled (409).
async fn assert_last_admin_stays(server: &TestServer, admin: &Session) {
    for request in [
        role_request(server, Method::DELETE, admin.id(), "admin", admin),
        server.patch_user(admin, admin.id(), &json!({ "disabled": true })),
    ] {
        fails(request, 409, "CONFLICT").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_admin_cannot_be_demoted_or_disabled() {
    let server = TestServer::start().await;
    let admin = server.first_admin().await;
    let id = admin.id();
    assert_last_admin_stays(&server, &admin).await;
    let me = server
        .get_as(&admin, &format!("/engine/api/users/{id}"))
        .await;
    assert_eq!(me["roles"], json!(["admin"]));
    assert_eq!(me["disabled"], false);
    // The bootstrap token is still retired.
    let token = server.bearer(Method::GET, "/engine/api/scripts", TOKEN);
    fails(token, 401, "BOOTSTRAP_TOKEN_RETIRED").await;

    // With a second admin the first may step down; then the second is the last one.
    let second = server
        .new_account(&admin, "second@example.com", &["admin"])
        .await;
    let step_down = role_request(&server, Method::DELETE, id, "admin", &second);
    let demoted = json_status(step_down, 200).await;
    assert_eq!(demoted["roles"], json!([]));
    forbidden(server.with_session(Method::GET, "/engine/api/users", &admin)).await;
    assert_last_admin_stays(&server, &second).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_roles_are_granted_and_revoked_by_admins_only() {
    let server = TestServer::start().await;
    let admin = server.first_admin().await;
    let user = server.new_account(&admin, "u@example.com", &["user"]).await;
    let id = user.id();
    // Granting twice is harmless.
    for _ in 0..2 {
        let grant = role_request(&server, Method::PUT, id, "auditor", &admin);
        let granted = json_status(grant, 200).await;
        assert_eq!(granted["roles"], json!(["auditor", "user"]));
    }
    let bad_name = role_request(&server, Method::PUT, id, "Not%20A%20Role", &admin);
    fails(bad_name, 400, "BAD_REQUEST").await;
    let nobody = role_request(&server, Method::PUT, 9999, "auditor", &admin);
    fails(nobody, 404, "USER_NOT_FOUND").await;
    // Nobody promotes themselves.
    for role in ["admin", "editor", "auditor2"] {
        forbidden(role_request(&server, Method::PUT, id, role, &user)).await;
    }
    forbidden(role_request(&server, Method::DELETE, id, "auditor", &user)).await;
    // A user may read themselves, not others.
    let me = server
        .get_as(&user, &format!("/engine/api/users/{id}"))
        .await;
    assert_eq!(me["roles"], json!(["auditor", "user"]));
    let other = format!("/engine/api/users/{}", admin.id());
    forbidden(server.with_session(Method::GET, &other, &user)).await;
    let revoke = role_request(&server, Method::DELETE, id, "auditor", &admin);
    let revoked = json_status(revoke, 200).await;
    assert_eq!(revoked["roles"], json!(["user"]));
    // The audit log records both.
    let events = server.audit(&admin, "role_granted").await;
    assert_eq!(events[0]["target"], "u@example.com");
    assert_eq!(events[0]["detail"]["role"], "auditor");
    server.stop().await;
}
