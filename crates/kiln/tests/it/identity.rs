//! Who is calling: the bootstrap token, password login (JSON and HTML form), session cookies,
//! rotation, logout, CSRF, session expiry, disabled accounts, login throttling, roles, script
//! ownership, and the identity scripts see as `ctx.user` — including scripts that try to
//! change it.

use kiln_store::IdentityStore;
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

use crate::common::{
    PASSWORD, Session, TOKEN, TestServer, WHOAMI, assert_bearer_challenge, assert_mentions,
    expect_error, expect_status, fails, find_cookie, forbidden, header, header_u64, json_status,
    key_of, no_redirects, set_cookies, strings, usage_totals,
};

// ---------------------------------------------------------------------------------------------
// Helpers.

/// Opens the server's own database (to plant or inspect records).
async fn open_store(server: &TestServer) -> kiln_store::SqliteStore {
    kiln_store::SqliteStore::open(&server.data_dir.join("kiln.db"))
        .await
        .expect("open the server's database")
}

/// Plants session `token` of account `user_id` straight into the database.
async fn plant_session(
    store: &kiln_store::SqliteStore,
    token: &str,
    user_id: i64,
    (created_at, last_seen_at, expires_at): (i64, i64, i64),
) {
    let record = kiln_store::SessionRecord {
        id_hash: kiln::auth::session_hash(token),
        user_id,
        csrf_token: format!("csrf-{token}"),
        created_at,
        last_seen_at,
        expires_at,
        ip: Some("127.0.0.1".into()),
        user_agent: None,
    };
    store
        .create_session(&record)
        .await
        .expect("plant a session");
}

/// The `Set-Cookie` header (whole) of cookie `name`.
fn raw_cookie(response: &reqwest::Response, name: &str) -> String {
    find_cookie(response, name)
        .unwrap_or_else(|| panic!("no {name} cookie set"))
        .1
}

/// The attributes of a `Set-Cookie` header, lowercased and trimmed.
fn attributes(raw: &str) -> Vec<String> {
    raw.split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect()
}

/// Whether a `Set-Cookie` header has the (lowercase) attribute `wanted`.
fn has_attribute(raw: &str, wanted: &str) -> bool {
    attributes(raw).iter().any(|a| a == wanted)
}

/// Posts the HTML sign-in form with `fields`; the redirect it answers is not followed.
async fn form_login<const N: usize>(
    server: &TestServer,
    fields: [(&str, &str); N],
) -> reqwest::Response {
    let request = no_redirects()
        .post(server.url("/auth/login"))
        .form(&fields[..]);
    request.send().await.expect("request")
}

/// Asserts `session` is over: `SESSION_EXPIRED` on `/auth/me` and on the management API.
async fn assert_ended(server: &TestServer, session: &Session) {
    for request in [
        server.cookie_only(Method::GET, "/auth/me", session),
        server.with_session(Method::GET, "/engine/api/scripts", session),
    ] {
        fails(request, 401, "SESSION_EXPIRED").await;
    }
}

/// Grants (`PUT`) or revokes (`DELETE`) `role` of account `id`, as `by` (not sent).
fn role_request(
    server: &TestServer,
    method: Method,
    id: i64,
    role: &str,
    by: &Session,
) -> RequestBuilder {
    server.with_session(method, &format!("/engine/api/users/{id}/roles/{role}"), by)
}

// ---------------------------------------------------------------------------------------------
// Bootstrap token.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bootstrap_token_creates_the_first_admin_then_retires() {
    let server = TestServer::start().await;
    // While no admin exists the token manages everything…
    let body = server.get_with_key(TOKEN, "/engine/api/scripts").await;
    assert_eq!(body["scripts"], json!([]));
    let me = server.get_with_key(TOKEN, "/auth/me").await;
    assert_eq!(me, json!({ "user": null, "bootstrap": true }));
    // …but is nobody to scripts.
    server.deploy_js("who", WHOAMI).await;
    fails(
        server.bearer(Method::GET, "/whoami", TOKEN),
        401,
        "UNAUTHORIZED",
    )
    .await;
    let public = server.get_with_key(TOKEN, "/public").await;
    assert_eq!(public["userIsNull"], true);

    let admin = server.create_first_admin().await;
    assert_eq!(admin["roles"], json!(["admin"]));
    assert_eq!(admin["has_password"], true);
    assert!(admin.get("password_hash").is_none(), "{admin}");

    // From now on the token is refused everywhere, with a code saying why.
    let second = json!({ "email": "second@example.com", "password": PASSWORD, "roles": ["admin"] });
    for (method, path) in [
        (Method::GET, "/engine/api/scripts"),
        (Method::POST, "/engine/api/users"),
        (Method::GET, "/auth/me"),
    ] {
        let request = server.bearer(method, path, TOKEN).json(&second);
        let response = request.send().await.expect("request");
        if path.starts_with("/engine/") {
            assert_bearer_challenge(&response);
        }
        let error = expect_error(response, 401, "BOOTSTRAP_TOKEN_RETIRED").await;
        assert_mentions(&error, "/auth/login");
    }
    // The refused create did not happen.
    let session = server.login("admin@example.com").await;
    let users = server.get_as(&session, "/engine/api/users").await;
    assert_eq!(strings(&users["users"], "email"), ["admin@example.com"]);
    // A wrong token is not mistaken for the retired one.
    let wrong = server.bearer(
        Method::GET,
        "/engine/api/scripts",
        "not-the-token-0123456789",
    );
    fails(wrong, 401, "UNAUTHORIZED").await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Password login.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_login_sets_an_http_only_lax_session_cookie() {
    let server = TestServer::start().await;
    server.create_first_admin().await;
    let request = server.login_request("  Admin@Example.com ", PASSWORD);
    let response = expect_status(request, 200).await;
    let (token, session) = find_cookie(&response, "kiln_session").expect("session cookie");
    for wanted in ["httponly", "samesite=lax", "path=/"] {
        assert!(has_attribute(&session, wanted), "{session} lacks {wanted}");
    }
    assert!(
        !has_attribute(&session, "secure"),
        "plain HTTP must not get Secure: {session}"
    );
    let attrs = attributes(&session);
    assert!(attrs.iter().any(|a| a.starts_with("max-age=")), "{session}");
    let csrf_cookie = raw_cookie(&response, "kiln_csrf");
    assert!(
        !has_attribute(&csrf_cookie, "httponly"),
        "the CSRF cookie is for the console's scripts: {csrf_cookie}"
    );
    assert!(token.len() >= 32, "session token too short: {token}");
    let session = Session::from_login(response).await;
    assert_eq!(session.cookie, token);
    assert_eq!(session.user["email"], "admin@example.com");
    assert_eq!(session.user["roles"], json!(["admin"]));
    assert!(session.user.get("password_hash").is_none(), "{session:?}");
    let csrf = session.csrf.as_str();
    assert!(csrf.len() >= 32 && csrf != token, "{session:?}");
    assert!(csrf_cookie.starts_with(&format!("kiln_csrf={csrf}")));

    // `/auth/me` knows the session and returns the same CSRF token.
    let me = server.me(&token).await;
    assert_eq!(me["user"]["email"], "admin@example.com");
    assert_eq!(me["csrf_token"], csrf);
    assert_eq!(me["api_key"], Value::Null);
    // Without credentials there is nobody.
    expect_error(server.get("/auth/me").await, 401, "UNAUTHORIZED").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_cookies_are_secure_when_the_server_is_behind_tls() {
    let server = TestServer::start_with(|c| c.http.secure = kiln::config::SecureMode::Always).await;
    server.create_first_admin().await;
    let request = server.login_request("admin@example.com", PASSWORD);
    let response = expect_status(request, 200).await;
    for name in ["kiln_session", "kiln_csrf"] {
        let raw = raw_cookie(&response, name);
        assert!(has_attribute(&raw, "secure"), "{raw} lacks Secure");
        assert!(has_attribute(&raw, "samesite=lax"), "{raw}");
    }
    // Logging out clears them with the same attributes.
    let session = Session::from_login(response).await;
    let logout = server.with_session(Method::POST, "/auth/logout", &session);
    let response = expect_status(logout, 204).await;
    let cleared = raw_cookie(&response, "kiln_session");
    for wanted in ["secure", "httponly"] {
        assert!(has_attribute(&cleared, wanted), "{cleared}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_and_unknown_emails_get_the_same_answer() {
    let server = TestServer::start().await;
    server.create_first_admin().await;
    let mut messages = Vec::new();
    for (email, password) in [
        ("admin@example.com", "not the password at all"),
        ("nobody@example.com", PASSWORD),
    ] {
        let response = server.login_request(email, password).send().await.unwrap();
        assert!(set_cookies(&response).is_empty(), "no cookie on failure");
        let error = expect_error(response, 401, "INVALID_CREDENTIALS").await;
        messages.push(error["message"].clone());
    }
    assert_eq!(messages[0], messages[1]);
    // Malformed bodies are a 400, not a login attempt.
    let post = || server.client.post(server.url("/auth/login"));
    for request in [
        post().json(&json!({ "email": "admin@example.com" })),
        post().body("email=x"),
    ] {
        fails(request, 400, "BAD_REQUEST").await;
    }
    // And the right password still works.
    server.login("admin@example.com").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_page_is_an_html_form() {
    let server = TestServer::start().await;
    let response = server
        .get("/auth/login?next=%2Fengine%2Fscripts%3Fa%3D1%26b%3D%22%3E%3Cscript%3E")
        .await;
    assert_eq!(response.status(), 200);
    let content_type = header(&response, "content-type").unwrap().to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let html = response.text().await.unwrap();
    assert!(
        html.contains("<form method=\"post\" action=\"/auth/login\">"),
        "{html}"
    );
    assert!(html.contains("name=\"email\""), "{html}");
    assert!(html.contains("type=\"password\""), "{html}");
    assert!(
        html.contains("name=\"next\" value=\"/engine/scripts?a=1&amp;b=&quot;&gt;&lt;script&gt;\""),
        "next must be escaped: {html}"
    );
    assert!(!html.contains("<script>"), "{html}");
    // An off-site `next` is replaced.
    let html = server
        .get_text("/auth/login?next=https://evil.example/")
        .await;
    assert!(html.contains("name=\"next\" value=\"/engine/\""), "{html}");
    assert!(!html.contains("evil.example"), "{html}");
    // Error messages are shown, escaped.
    let html = server
        .get_text("/auth/login?error=%3Cb%3Ebad%3C%2Fb%3E")
        .await;
    assert!(html.contains("&lt;b&gt;bad&lt;/b&gt;"), "{html}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_login_redirects_only_to_local_paths() {
    let server = TestServer::start().await;
    server.create_first_admin().await;
    let post = |next: &'static str, password: &'static str| {
        form_login(
            &server,
            [
                ("email", "admin@example.com"),
                ("password", password),
                ("next", next),
            ],
        )
    };
    for (next, expected) in [
        ("/engine/scripts/a-app", "/engine/scripts/a-app"),
        ("https://evil.example/steal", "/engine/"),
        ("//evil.example/steal", "/engine/"),
        ("/\\evil.example", "/engine/"),
        ("javascript:alert(1)", "/engine/"),
        // Browsers drop tabs and newlines from URLs: these would become `//evil.example`.
        ("/\t/evil.example", "/engine/"),
        ("/\n/evil.example", "/engine/"),
        ("/\r\nSet-Cookie: kiln_session=fixed", "/engine/"),
    ] {
        let response = post(next, PASSWORD).await;
        assert_eq!(response.status(), 303, "next={next}");
        assert_eq!(response.headers()["location"], expected, "next={next}");
        let (token, _) = find_cookie(&response, "kiln_session").expect("a session cookie");
        // The cookie is a working session.
        let me = server.me(&token).await;
        assert_eq!(me["user"]["email"], "admin@example.com");
    }
    // A failed form login goes back to the form with the error, and sets no cookie.
    let response = post("/engine/x", "wrong password here").await;
    assert_eq!(response.status(), 303);
    assert!(set_cookies(&response).is_empty());
    let location = header(&response, "location").unwrap();
    assert!(location.starts_with("/auth/login?error="), "{location}");
    assert!(location.contains("next=%2Fengine%2Fx"), "{location}");
    // Without a `next` field the console is the default.
    let fields = [("email", "admin@example.com"), ("password", PASSWORD)];
    let response = form_login(&server, fields).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/engine/");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_in_again_rotates_the_session() {
    let server = TestServer::start().await;
    let first = server.first_admin().await;
    let request = server
        .login_request("admin@example.com", PASSWORD)
        .header("cookie", format!("kiln_session={}", first.cookie));
    let second = Session::from_login(request.send().await.unwrap()).await;
    assert_ne!(second.cookie, first.cookie, "a new session token");
    assert_ne!(second.csrf, first.csrf, "a new CSRF token");
    // The old session is gone, the new one works.
    assert_ended(&server, &first).await;
    server.get_as(&second, "/engine/api/scripts").await;
    // A login without the old cookie leaves other sessions alone (two browsers).
    let third = server.login("admin@example.com").await;
    for session in [&second, &third] {
        server.me(&session.cookie).await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_needs_the_csrf_token_and_ends_the_session() {
    let server = TestServer::start().await;
    let admin = server.first_admin().await;
    let other = server.login("admin@example.com").await;
    let logout = |session: &Session| server.cookie_only(Method::POST, "/auth/logout", session);
    // No token, a wrong token, or another session's token: refused, session intact.
    for request in [
        logout(&admin),
        logout(&admin).header("x-csrf-token", "0".repeat(64)),
        logout(&admin).header("x-csrf-token", &other.csrf),
    ] {
        fails(request, 403, "CSRF_TOKEN_INVALID").await;
    }
    server.me(&admin.cookie).await;
    // Nobody signed in: nothing to end.
    let anonymous = server.client.post(server.url("/auth/logout"));
    fails(anonymous, 401, "UNAUTHORIZED").await;

    let request = server.with_session(Method::POST, "/auth/logout", &admin);
    let response = expect_status(request, 204).await;
    let cleared = raw_cookie(&response, "kiln_session");
    assert!(cleared.starts_with("kiln_session=;"), "{cleared}");
    assert!(has_attribute(&cleared, "max-age=0"), "{cleared}");
    // The cookie no longer works anywhere; the other session does.
    assert_ended(&server, &admin).await;
    let again = server.with_session(Method::POST, "/auth/logout", &admin);
    fails(again, 401, "SESSION_EXPIRED").await;
    server.me(&other.cookie).await;
    // A form logout with the `_csrf` field works too.
    expect_status(logout(&other).form(&[("_csrf", other.csrf.as_str())]), 204).await;
    let me = server.cookie_only(Method::GET, "/auth/me", &other);
    fails(me, 401, "SESSION_EXPIRED").await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// CSRF on the management API.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_requests_to_the_management_api_need_the_csrf_token() {
    let server = TestServer::start().await;
    let admin = server.first_admin().await;
    let other = server.login("admin@example.com").await;
    let new_user = json!({ "email": "e@example.com", "password": PASSWORD, "roles": ["editor"] });
    let grant = format!("/engine/api/users/{}/roles/auditor", admin.id());
    let post = |path: &str| server.cookie_only(Method::POST, path, &admin);
    // State-changing requests without the token, with a wrong one, or another session's.
    for request in [
        post("/engine/api/users").json(&new_user),
        post("/engine/api/users")
            .header("x-csrf-token", "wrong")
            .json(&new_user),
        post("/engine/api/users")
            .header("x-csrf-token", &other.csrf)
            .json(&new_user),
        post("/engine/api/scripts/app/versions").json(
            &json!({ "files": [{ "path": "main.js", "content": "export function init() {}" }] }),
        ),
        server.cookie_only(Method::PUT, &grant, &admin),
    ] {
        fails(request, 403, "CSRF_TOKEN_INVALID").await;
    }
    // None of them happened.
    let users = server.browse(&admin, "/engine/api/users").await;
    assert_eq!(users["users"].as_array().unwrap().len(), 1, "{users}");
    assert_eq!(users["users"][0]["roles"], json!(["admin"]));
    let scripts = server.browse(&admin, "/engine/api/scripts").await;
    assert_eq!(scripts["scripts"], json!([]));

    // With the token it works.
    server.add_user(&admin, "e@example.com", &["editor"]).await;
    // Bearer API keys need no CSRF token.
    let key = server
        .mint_key(&admin, json!({ "name": "ops", "scopes": ["manage"] }))
        .await;
    let request = server
        .bearer(Method::POST, "/engine/api/users", &key)
        .json(&json!({ "email": "f@example.com", "password": PASSWORD }));
    json_status(request, 201).await;
    json_status(server.bearer(Method::PUT, &grant, &key), 200).await;
    server.stop().await;
}

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

// ---------------------------------------------------------------------------------------------
// Script ownership.

const APP: &str = r#"const VERSION = 1;
export function init() { registerWebHandler("GET", "/a-app", () => "a-app v" + VERSION); }"#;

fn app_version(n: u32) -> String {
    APP.replace("VERSION = 1", &format!("VERSION = {n}"))
}

/// The first admin and two editors, `a@example.com` and `b@example.com`.
async fn admin_and_editors(server: &TestServer) -> (Session, Session, Session) {
    let admin = server.first_admin().await;
    let (a, b) = server.two_editors(&admin).await;
    (admin, a, b)
}

/// The names of the scripts `session` sees, sorted.
async fn scripts_seen(server: &TestServer, session: &Session) -> Vec<String> {
    let listed = server.get_as(session, "/engine/api/scripts").await;
    let mut names = strings(&listed["scripts"], "name");
    names.sort();
    names
}

/// The emails of script `name`'s owners as `session` sees them, sorted.
async fn owners(server: &TestServer, session: &Session, name: &str) -> Vec<String> {
    let path = format!("/engine/api/scripts/{name}/owners");
    let mut emails = strings(&server.get_as(session, &path).await["owners"], "email");
    emails.sort();
    emails
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editors_manage_only_the_scripts_they_own() {
    let server = TestServer::start().await;
    let (admin, a, b) = admin_and_editors(&server).await;
    server.deploy_ok_as(&a, "a-app", &app_version(1)).await;
    server.deploy_ok_as(&a, "a-app", &app_version(2)).await;
    assert_eq!(server.get_text("/a-app").await, "a-app v2");

    // B can do nothing to A's script.
    let denied = forbidden(server.deploy_request_as(&b, "a-app", &app_version(666))).await;
    assert_mentions(&denied, "a-app");
    let a_owner = format!("/engine/api/scripts/a-app/owners/{}", a.id());
    for (method, path) in [
        (Method::GET, "/engine/api/scripts/a-app"),
        (Method::GET, "/engine/api/scripts/a-app/versions"),
        (Method::GET, "/engine/api/scripts/a-app/versions/1"),
        (Method::GET, "/engine/api/scripts/a-app/logs"),
        (Method::GET, "/engine/api/scripts/a-app/owners"),
        (Method::POST, "/engine/api/scripts/a-app/rollback"),
        (Method::POST, "/engine/api/scripts/a-app/owners"),
        (Method::DELETE, "/engine/api/scripts/a-app"),
        (Method::DELETE, &a_owner),
    ] {
        let body = if path.ends_with("rollback") {
            json!({ "version": 1 })
        } else {
            json!({ "email": "b@example.com" })
        };
        let request = server.with_session(method.clone(), path, &b);
        let request = if method == Method::POST {
            request.json(&body)
        } else {
            request
        };
        forbidden(request).await;
    }
    // Still A's, still version 2, still serving.
    assert_eq!(server.get_text("/a-app").await, "a-app v2");
    let seen = scripts_seen(&server, &b).await;
    assert!(seen.is_empty(), "{seen:?}");
    let routes = server.get_as(&b, "/engine/api/routes").await;
    assert_eq!(routes["routes"], json!([]), "{routes}");
    // B's own script is B's.
    let b_app = r#"export function init() { registerWebHandler("GET", "/b-app", () => "b"); }"#;
    server.deploy_ok_as(&b, "b-app", b_app).await;
    assert_eq!(scripts_seen(&server, &b).await, ["b-app"]);
    assert_eq!(scripts_seen(&server, &a).await, ["a-app"]);
    // A may read, roll back and delete its own.
    server
        .get_as(&a, "/engine/api/scripts/a-app/versions/1")
        .await;
    let rollback = |session: &Session, name: &str| {
        let path = format!("/engine/api/scripts/{name}/rollback");
        server
            .with_session(Method::POST, &path, session)
            .json(&json!({ "version": 1 }))
    };
    let rolled = json_status(rollback(&a, "a-app"), 200).await;
    assert_eq!(rolled["active_version"], 1);
    assert_eq!(server.get_text("/a-app").await, "a-app v1");

    // The admin sees and manages everything.
    assert_eq!(scripts_seen(&server, &admin).await, ["a-app", "b-app"]);
    server.deploy_ok_as(&admin, "a-app", &app_version(3)).await;
    assert_eq!(server.get_text("/a-app").await, "a-app v3");
    json_status(rollback(&admin, "b-app"), 200).await;
    let delete = server.with_session(Method::DELETE, "/engine/api/scripts/b-app", &admin);
    expect_status(delete, 204).await;
    expect_error(server.get("/b-app").await, 404, "ROUTE_NOT_FOUND").await;
    // A still owns its script after the admin's deploy; B never became an owner.
    let emails = owners(&server, &a, "a-app").await;
    assert!(emails.iter().any(|e| e == "a@example.com"), "{emails:?}");
    assert!(!emails.iter().any(|e| e == "b@example.com"), "{emails:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_without_the_editor_role_cannot_deploy() {
    let server = TestServer::start().await;
    let admin = server.first_admin().await;
    let user = server.new_account(&admin, "u@example.com", &["user"]).await;
    let empty = "export function init() {}";
    // Not as files, not even as a raw JavaScript body.
    for request in [
        server.deploy_request_as(&user, "mine", empty),
        server
            .with_session(Method::POST, "/engine/api/scripts/mine/versions", &user)
            .header("content-type", "application/javascript")
            .body(empty),
    ] {
        forbidden(request).await;
    }
    let seen = scripts_seen(&server, &user).await;
    assert!(seen.is_empty(), "{seen:?}");
    forbidden(server.with_session(Method::GET, "/engine/api/users", &user)).await;
    // Nothing was claimed: an editor can still take the name.
    let editor = server
        .new_account(&admin, "e@example.com", &["editor"])
        .await;
    server.deploy_ok_as(&editor, "mine", empty).await;
    // The user may still manage their own keys.
    let key = server.create_key(&user, json!({ "name": "mine" })).await;
    assert_eq!(key["user_id"], user.user["id"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_can_share_a_script_with_another_editor() {
    let server = TestServer::start().await;
    let (_, a, b) = admin_and_editors(&server).await;
    server.deploy_ok_as(&a, "a-app", &app_version(1)).await;
    forbidden(server.deploy_request_as(&b, "a-app", &app_version(2))).await;
    let add_owner = |email: &str| {
        server
            .with_session(Method::POST, "/engine/api/scripts/a-app/owners", &a)
            .json(&json!({ "email": email }))
    };
    fails(add_owner("nobody@example.com"), 404, "USER_NOT_FOUND").await;
    expect_status(add_owner("b@example.com"), 204).await;
    let emails = owners(&server, &b, "a-app").await;
    assert_eq!(emails.len(), 2, "{emails:?}");
    server.deploy_ok_as(&b, "a-app", &app_version(2)).await;
    assert_eq!(server.get_text("/a-app").await, "a-app v2");
    assert_eq!(scripts_seen(&server, &b).await, ["a-app"]);
    // Removed again, B is locked out again.
    let b_owner = format!("/engine/api/scripts/a-app/owners/{}", b.id());
    expect_status(server.with_session(Method::DELETE, &b_owner, &a), 204).await;
    forbidden(server.deploy_request_as(&b, "a-app", &app_version(3))).await;
    assert_eq!(server.get_text("/a-app").await, "a-app v2");
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// `ctx.user` in scripts.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_see_the_signed_in_user() {
    let server = TestServer::start().await;
    let admin = server.first_admin_with_whoami().await;
    let editor = server
        .new_account(&admin, "ed@example.com", &["editor"])
        .await;

    let me = server.browse(&editor, "/whoami").await;
    assert_eq!(
        me,
        json!({
            "email": "ed@example.com",
            "roles": ["editor"],
            "isAdmin": false,
            "userIsNull": false,
            "apiKey": null,
        })
    );
    let me = server.browse(&admin, "/whoami").await;
    assert_eq!(me["email"], "admin@example.com");
    assert_eq!(me["isAdmin"], true);

    // An API key acts as its owner.
    let key = server
        .create_key(&editor, json!({ "name": "script", "scopes": ["invoke"] }))
        .await;
    let me = server.get_with_key(&key_of(&key), "/whoami").await;
    assert_eq!(me["email"], "ed@example.com");
    assert_eq!(me["roles"], json!(["editor"]));
    assert_eq!(me["isAdmin"], false);
    assert_eq!(me["apiKey"]["prefix"], key["prefix"]);

    // Anonymous callers are refused before the script runs.
    let response = server.get("/whoami").await;
    assert_bearer_challenge(&response);
    expect_error(response, 401, "UNAUTHORIZED").await;
    // On a public route they are null.
    let me = server.get_json("/public").await;
    assert_eq!(me["userIsNull"], true);
    assert_eq!(me["apiKey"], Value::Null);
    let me = server.browse(&editor, "/public").await;
    assert_eq!(me["email"], "ed@example.com");
    // A foreign Authorization scheme is the script's business, not an error.
    let basic = server
        .client
        .get(server.url("/public"))
        .header("authorization", "Basic dXNlcjpwYXNz");
    let me = json_status(basic, 200).await;
    assert_eq!(me["userIsNull"], true);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_routes_need_the_role() {
    let server = TestServer::start().await;
    let admin = server.first_admin_with_whoami().await;
    let user = server.new_account(&admin, "u@example.com", &["user"]).await;
    let id = user.id();
    expect_error(server.get("/auditors").await, 401, "UNAUTHORIZED").await;
    // Admin is not a wildcard for custom roles.
    for session in [&user, &admin] {
        forbidden(server.cookie_only(Method::GET, "/auditors", session)).await;
    }
    json_status(
        role_request(&server, Method::PUT, id, "auditor", &admin),
        200,
    )
    .await;
    // Effective on the next request of the existing session.
    let me = server.browse(&user, "/auditors").await;
    assert_eq!(me["email"], "u@example.com");
    assert_eq!(me["roles"], json!(["auditor", "user"]));
    json_status(
        role_request(&server, Method::DELETE, id, "auditor", &admin),
        200,
    )
    .await;
    forbidden(server.cookie_only(Method::GET, "/auditors", &user)).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_posts_to_script_routes_need_the_csrf_token() {
    let server = TestServer::start().await;
    let admin = server.first_admin_with_whoami().await;
    let user = server.new_account(&admin, "u@example.com", &["user"]).await;
    let post = |path: &str| server.cookie_only(Method::POST, path, &user);
    for request in [
        post("/whoami"),
        post("/whoami").header("x-csrf-token", &admin.csrf),
    ] {
        fails(request, 403, "CSRF_TOKEN_INVALID").await;
    }
    let me = json_status(server.with_session(Method::POST, "/whoami", &user), 200).await;
    assert_eq!(me["email"], "u@example.com");
    // A public route runs, but a forgeable cookie-only POST is anonymous.
    let me = json_status(post("/public"), 200).await;
    assert_eq!(me["userIsNull"], true, "{me}");
    assert_eq!(me["email"], Value::Null);
    let me = json_status(server.with_session(Method::POST, "/public", &user), 200).await;
    assert_eq!(me["email"], "u@example.com");
    // Safe methods need no token.
    let me = server.browse(&user, "/whoami").await;
    assert_eq!(me["email"], "u@example.com");
    server.stop().await;
}

/// A script doing everything it can to change the identity later requests receive.
const SPOOF: &str = r#"
const FORGED = { id: 1, email: "forged@evil.example", name: null, roles: ["admin", "auditor"] };
let stash = null;
let requests = 0;

function poison() {
  Object.freeze = (o) => o;
  JSON.parse = () => ({ user: FORGED, apiKey: null });
  Array.prototype.includes = function () { return true; };
  Array.isArray = () => false;
  Object.defineProperty(Object.prototype, "user", {
    get() { return FORGED; }, set(v) {}, configurable: true,
  });
  Object.defineProperty(Object.prototype, "roles", {
    get() { return ["admin"]; }, set(v) {}, configurable: true,
  });
  Object.prototype.hasRole = () => true;
  globalThis.user = FORGED;
}
poison();

function who(req, ctx) {
  requests += 1;
  const tried = [];
  try { ctx.user.roles.push("admin"); tried.push("push"); } catch (e) {}
  try { ctx.user.roles[0] = "admin"; tried.push("index"); } catch (e) {}
  try { ctx.user.email = "forged@evil.example"; tried.push("email"); } catch (e) {}
  try { ctx.user.hasRole = () => true; tried.push("hasRole"); } catch (e) {}
  try { Object.setPrototypeOf(ctx.user, { hasRole: () => true }); tried.push("proto"); } catch (e) {}
  const roles = [];
  for (let i = 0; i < ctx.user.roles.length; i++) roles[roles.length] = ctx.user.roles[i];
  const answer = {
    email: ctx.user.email,
    roles,
    isAdmin: ctx.user.hasRole("admin"),
    isAuditor: ctx.user.hasRole("auditor"),
    frozen: Object.isFrozen(ctx.user) && Object.isFrozen(ctx.user.roles),
    stashed: stash === null ? null : stash.email,
    tried,
    requests,
  };
  // Keep the first caller around, and try to hand it (or a forgery) to the next request.
  if (stash === null) stash = ctx.user;
  ctx.user = FORGED;
  poison();
  return answer;
}

export function init() {
  poison();
  registerWebHandler("GET", "/spoof", who, { auth: "user" });
  registerWebHandler("GET", "/spoof-admin", (req, ctx) => ({ email: ctx.user.email }), { auth: "role:admin" });
}"#;

/// Asserts a SPOOF answer shows the real caller, untouched.
fn assert_acts_as(me: &Value, email: &str, roles: &Value, is_admin: bool, round: usize) {
    assert_eq!(me["email"], email, "round {round}: {me}");
    assert_eq!(me["roles"], *roles, "round {round}: {me}");
    assert_eq!(me["isAdmin"], is_admin, "round {round}: {me}");
    assert_eq!(me["isAuditor"], false, "round {round}: {me}");
    assert_eq!(me["frozen"], true, "{me}");
    assert_eq!(me["tried"], json!([]), "mutations must fail: {me}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_cannot_change_who_they_act_as() {
    let server = TestServer::start().await;
    let admin = server.first_admin().await;
    server.deploy_ok_as(&admin, "spoof", SPOOF).await;
    let user = server.new_account(&admin, "u@example.com", &["user"]).await;
    let key = server
        .mint_key(&user, json!({ "name": "k", "scopes": ["invoke"] }))
        .await;
    let (admin_roles, user_roles) = (json!(["admin"]), json!(["user"]));

    // Alternate callers several times so that every worker has been poisoned by the admin's
    // requests before it serves the user's.
    for round in 0..4 {
        for (request, email, roles, is_admin) in [
            (
                server.cookie_only(Method::GET, "/spoof", &admin),
                "admin@example.com",
                &admin_roles,
                true,
            ),
            (
                server.cookie_only(Method::GET, "/spoof", &user),
                "u@example.com",
                &user_roles,
                false,
            ),
            (
                server.bearer(Method::GET, "/spoof", &key),
                "u@example.com",
                &user_roles,
                false,
            ),
        ] {
            let me = json_status(request, 200).await;
            assert_acts_as(&me, email, roles, is_admin, round);
        }
        // The host decides role routes, whatever the script did to itself.
        forbidden(server.cookie_only(Method::GET, "/spoof-admin", &user)).await;
        let me = server.browse(&admin, "/spoof-admin").await;
        assert_eq!(me["email"], "admin@example.com");
        expect_error(server.get("/spoof").await, 401, "UNAUTHORIZED").await;
    }
    // The script kept its own memory (the stash), which is fine: it is not an identity.
    let me = server.browse(&user, "/spoof").await;
    assert!(
        me["stashed"] == "admin@example.com" || me["stashed"] == "u@example.com",
        "{me}"
    );
    assert!(me["requests"].as_u64().unwrap() >= 2, "{me}");
    // Usage is charged to whoever really called: the host's record, not the script's objects.
    let (admin_id, user_id) = (
        admin.user["id"].as_i64().unwrap(),
        user.user["id"].as_i64().unwrap(),
    );
    let key_id = server.get_with_key(&key, "/auth/me").await["api_key"]["id"].clone();
    usage_totals(
        &server,
        &admin,
        &format!("script=spoof&user_id={admin_id}"),
        8,
    )
    .await;
    usage_totals(
        &server,
        &admin,
        &format!("script=spoof&user_id={user_id}"),
        9,
    )
    .await;
    usage_totals(&server, &admin, &format!("script=spoof&key_id={key_id}"), 4).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_editors_racing_for_a_new_name_never_both_own_it() {
    let server = TestServer::start().await;
    let (admin, a, b) = admin_and_editors(&server).await;
    for round in 0..6 {
        let name = format!("race-{round}");
        let source = format!(
            "export function init() {{ registerWebHandler('GET', '/{name}', () => 'ok'); }}"
        );
        let (ra, rb) = tokio::join!(
            server.deploy_as(&a, &name, &source),
            server.deploy_as(&b, &name, &source)
        );
        let (sa, sb) = (ra.status().as_u16(), rb.status().as_u16());
        for (status, response) in [(sa, ra), (sb, rb)] {
            if status != 201 {
                expect_error(response, 403, "FORBIDDEN").await;
            }
        }
        assert!(
            !(sa == 201 && sb == 201),
            "round {round}: both editors deployed {name}"
        );
        let winners: Vec<&str> = [(sa, "a@example.com"), (sb, "b@example.com")]
            .into_iter()
            .filter(|(status, _)| *status == 201)
            .map(|(_, email)| email)
            .collect();
        let emails = owners(&server, &admin, &name).await;
        assert_eq!(emails, winners, "round {round}: owners of {name}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_first_deploy_does_not_claim_the_name() {
    let server = TestServer::start().await;
    let (admin, a, b) = admin_and_editors(&server).await;
    let response = server
        .deploy_as(&a, "squat", "export function init( { syntax error")
        .await;
    let status = response.status();
    assert!(status.is_client_error(), "{status}");
    let emails = owners(&server, &admin, "squat").await;
    assert!(emails.is_empty(), "{emails:?}");
    let empty = "export function init() {}";
    server.deploy_ok_as(&b, "squat", empty).await;
    // Now it is B's.
    forbidden(server.deploy_request_as(&a, "squat", empty)).await;
    server.stop().await;
}

#[tokio::test]
async fn changing_your_password_needs_the_current_one_and_ends_every_session() {
    const NEW: &str = "a brand new passphrase";
    let server = TestServer::start().await;
    let admin = server.first_admin().await;
    let user = server
        .new_account(&admin, "pat@example.com", &["user"])
        .await;
    let other_browser = server.login("pat@example.com").await;
    let id = user.id();

    // Without (or with a wrong) current password: refused, nothing changes.
    for body in [
        json!({ "password": NEW }),
        json!({ "password": NEW, "current_password": "not it at all" }),
    ] {
        let refused = server.patch_user(&user, id, &body);
        fails(refused, 403, "CURRENT_PASSWORD_REQUIRED").await;
    }
    server.get_as(&other_browser, "/auth/me").await;

    let change = json!({ "password": NEW, "current_password": PASSWORD });
    json_status(server.patch_user(&user, id, &change), 200).await;
    // Every session of the account ended, the old password no longer works, the new one does.
    for session in [&user, &other_browser] {
        assert_ended(&server, session).await;
    }
    let old = server.login_request("pat@example.com", PASSWORD);
    fails(old, 401, "INVALID_CREDENTIALS").await;
    expect_status(server.login_request("pat@example.com", NEW), 200).await;

    // An admin resets someone else's password without knowing it.
    let reset = json!({ "password": PASSWORD });
    json_status(server.patch_user(&admin, id, &reset), 200).await;
    server.login("pat@example.com").await;
}

#[tokio::test]
async fn a_refused_update_changes_nothing() {
    let server = TestServer::start().await;
    let admin = server.first_admin().await;
    // Disabling the last admin is refused (409), and the password in the same request is not set.
    let body = json!({ "disabled": true, "password": "another long passphrase", "current_password": PASSWORD });
    fails(
        server.patch_user(&admin, admin.id(), &body),
        409,
        "CONFLICT",
    )
    .await;
    server.login("admin@example.com").await;
}
