//! Who is calling: the bootstrap token, password login (JSON and HTML form), session cookies,
//! rotation, logout, CSRF, session expiry, disabled accounts, login throttling, roles, script
//! ownership, and the identity scripts see as `ctx.user` — including scripts that try to
//! change it.

use std::time::Duration;

use kiln_store::IdentityStore;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{PASSWORD, Session, TOKEN, TestServer, expect_error, set_cookies};

// ---------------------------------------------------------------------------------------------
// Helpers shared with `keys.rs`.

/// Creates an account as `admin` (a signed-in admin); returns the user JSON.
pub(crate) async fn add_user(
    server: &TestServer,
    admin: &Session,
    email: &str,
    roles: &[&str],
) -> Value {
    let response = server
        .with_session(Method::POST, "/engine/api/users", admin)
        .json(&json!({ "email": email, "password": PASSWORD, "roles": roles }))
        .send()
        .await
        .expect("request");
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 201, "creating {email}: {body}");
    body
}

/// Creates an account as `admin` and signs it in.
pub(crate) async fn add_and_login(
    server: &TestServer,
    admin: &Session,
    email: &str,
    roles: &[&str],
) -> Session {
    add_user(server, admin, email, roles).await;
    server.login(email).await
}

/// A request carrying only the session cookie (no CSRF token).
pub(crate) fn cookie_only(
    server: &TestServer,
    method: Method,
    path: &str,
    session: &Session,
) -> reqwest::RequestBuilder {
    server
        .client
        .request(method, server.url(path))
        .header("cookie", format!("kiln_session={}", session.cookie))
}

/// A request carrying a bearer token.
pub(crate) fn bearer(
    server: &TestServer,
    method: Method,
    path: &str,
    token: &str,
) -> reqwest::RequestBuilder {
    server
        .client
        .request(method, server.url(path))
        .bearer_auth(token)
}

/// Sends `request`, asserts `status`, returns the JSON body.
pub(crate) async fn json_status(request: reqwest::RequestBuilder, status: u16) -> Value {
    let response = request.send().await.expect("request");
    let actual = response.status().as_u16();
    let text = response.text().await.expect("body");
    assert_eq!(actual, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Sends `request` and checks it fails with `status` / `code`.
pub(crate) async fn fails(request: reqwest::RequestBuilder, status: u16, code: &str) -> Value {
    expect_error(request.send().await.expect("request"), status, code).await
}

/// A client that does not follow redirects.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Opens the server's own database (to plant or inspect records).
async fn open_store(server: &TestServer) -> kiln_store::SqliteStore {
    kiln_store::SqliteStore::open(&server.data_dir.join("kiln.db"))
        .await
        .expect("open the server's database")
}

/// The `Set-Cookie` header (whole) of cookie `name`.
fn raw_cookie(response: &reqwest::Response, name: &str) -> String {
    set_cookies(response)
        .into_iter()
        .find(|(n, _, _)| n == name)
        .map(|(_, _, raw)| raw)
        .unwrap_or_else(|| panic!("no {name} cookie set"))
}

/// The attributes of a `Set-Cookie` header, lowercased and trimmed.
fn attributes(raw: &str) -> Vec<String> {
    raw.split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect()
}

/// A script exposing who called it on routes with each kind of requirement.
pub(crate) const WHOAMI: &str = r#"
const who = (req, ctx) => ({
  email: ctx.user === null ? null : ctx.user.email,
  roles: ctx.user === null ? null : ctx.user.roles,
  isAdmin: ctx.user === null ? null : ctx.user.hasRole("admin"),
  userIsNull: ctx.user === null,
  apiKey: ctx.apiKey,
});
export function init() {
  registerWebHandler("GET", "/whoami", who, { auth: "user" });
  registerWebHandler("POST", "/whoami", who, { auth: "user" });
  registerWebHandler("GET", "/auditors", who, { auth: "role:auditor" });
  registerWebHandler("GET", "/keyed", who, { auth: "apiKey" });
  registerWebHandler("GET", "/public", who);
  registerWebHandler("POST", "/public", who);
}"#;

// ---------------------------------------------------------------------------------------------
// Bootstrap token.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bootstrap_token_creates_the_first_admin_then_retires() {
    let server = TestServer::start().await;
    // While no admin exists the token manages everything…
    let body = json_status(
        bearer(&server, Method::GET, "/engine/api/scripts", TOKEN),
        200,
    )
    .await;
    assert_eq!(body["scripts"], json!([]));
    let me = json_status(bearer(&server, Method::GET, "/auth/me", TOKEN), 200).await;
    assert_eq!(me, json!({ "user": null, "bootstrap": true }));
    // …but is nobody to scripts.
    server.deploy_js("who", WHOAMI).await;
    fails(
        bearer(&server, Method::GET, "/whoami", TOKEN),
        401,
        "UNAUTHORIZED",
    )
    .await;
    let public = json_status(bearer(&server, Method::GET, "/public", TOKEN), 200).await;
    assert_eq!(public["userIsNull"], true);

    let admin = server
        .create_user_with(TOKEN, "admin@example.com", &["admin"])
        .await;
    assert_eq!(admin["roles"], json!(["admin"]));
    assert_eq!(admin["has_password"], true);
    assert!(admin.get("password_hash").is_none(), "{admin}");

    // From now on the token is refused everywhere, with a code saying why.
    for (method, path) in [
        (Method::GET, "/engine/api/scripts"),
        (Method::POST, "/engine/api/users"),
        (Method::GET, "/auth/me"),
    ] {
        let response = bearer(&server, method.clone(), path, TOKEN)
            .json(
                &json!({ "email": "second@example.com", "password": PASSWORD, "roles": ["admin"] }),
            )
            .send()
            .await
            .expect("request");
        if path.starts_with("/engine/") {
            assert_eq!(
                response
                    .headers()
                    .get("www-authenticate")
                    .map(|v| v.as_bytes()),
                Some(&b"Bearer"[..])
            );
        }
        let error = expect_error(response, 401, "BOOTSTRAP_TOKEN_RETIRED").await;
        assert!(
            error["message"].as_str().unwrap().contains("/auth/login"),
            "{error}"
        );
    }
    // The refused create did not happen.
    let session = server.login("admin@example.com").await;
    let users = json_status(
        server.with_session(Method::GET, "/engine/api/users", &session),
        200,
    )
    .await;
    let emails: Vec<&str> = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["admin@example.com"]);
    // A wrong token is not mistaken for the retired one.
    fails(
        bearer(
            &server,
            Method::GET,
            "/engine/api/scripts",
            "not-the-token-0123456789",
        ),
        401,
        "UNAUTHORIZED",
    )
    .await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Password login.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_login_sets_an_http_only_lax_session_cookie() {
    let server = TestServer::start().await;
    server
        .create_user_with(TOKEN, "admin@example.com", &["admin"])
        .await;
    let response = server
        .client
        .post(server.url("/auth/login"))
        .json(&json!({ "email": "  Admin@Example.com ", "password": PASSWORD }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let session = raw_cookie(&response, "kiln_session");
    let attrs = attributes(&session);
    for wanted in ["httponly", "samesite=lax", "path=/"] {
        assert!(
            attrs.iter().any(|a| a == wanted),
            "{session} lacks {wanted}"
        );
    }
    assert!(
        !attrs.iter().any(|a| a == "secure"),
        "plain HTTP must not get Secure: {session}"
    );
    assert!(attrs.iter().any(|a| a.starts_with("max-age=")), "{session}");
    let csrf_cookie = raw_cookie(&response, "kiln_csrf");
    assert!(
        !attributes(&csrf_cookie).iter().any(|a| a == "httponly"),
        "the CSRF cookie is for the console's scripts: {csrf_cookie}"
    );
    let token = set_cookies(&response)
        .into_iter()
        .find(|(n, _, _)| n == "kiln_session")
        .unwrap()
        .1;
    assert!(token.len() >= 32, "session token too short: {token}");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["user"]["email"], "admin@example.com");
    assert_eq!(body["user"]["roles"], json!(["admin"]));
    assert!(body["user"].get("password_hash").is_none(), "{body}");
    let csrf = body["csrf_token"].as_str().unwrap();
    assert!(csrf.len() >= 32 && csrf != token, "{body}");
    assert!(csrf_cookie.starts_with(&format!("kiln_csrf={csrf}")));

    // `/auth/me` knows the session and returns the same CSRF token.
    let session = Session {
        cookie: token,
        csrf: csrf.to_owned(),
        user: body["user"].clone(),
    };
    let me = json_status(cookie_only(&server, Method::GET, "/auth/me", &session), 200).await;
    assert_eq!(me["user"]["email"], "admin@example.com");
    assert_eq!(me["csrf_token"], csrf);
    assert_eq!(me["api_key"], Value::Null);
    // Without credentials there is nobody.
    fails(
        server.client.get(server.url("/auth/me")),
        401,
        "UNAUTHORIZED",
    )
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_cookies_are_secure_when_the_server_is_behind_tls() {
    let server = TestServer::start_with(|c| c.http.secure = kiln::config::SecureMode::Always).await;
    server
        .create_user_with(TOKEN, "admin@example.com", &["admin"])
        .await;
    let response = server
        .client
        .post(server.url("/auth/login"))
        .json(&json!({ "email": "admin@example.com", "password": PASSWORD }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    for name in ["kiln_session", "kiln_csrf"] {
        let raw = raw_cookie(&response, name);
        let attrs = attributes(&raw);
        assert!(attrs.iter().any(|a| a == "secure"), "{raw} lacks Secure");
        assert!(attrs.iter().any(|a| a == "samesite=lax"), "{raw}");
    }
    let token = set_cookies(&response)
        .into_iter()
        .find(|(n, _, _)| n == "kiln_session")
        .unwrap()
        .1;
    let body: Value = response.json().await.unwrap();
    // Logging out clears them with the same attributes.
    let session = Session {
        cookie: token,
        csrf: body["csrf_token"].as_str().unwrap().to_owned(),
        user: body["user"].clone(),
    };
    let response = server
        .with_session(Method::POST, "/auth/logout", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let cleared = raw_cookie(&response, "kiln_session");
    assert!(
        attributes(&cleared).iter().any(|a| a == "secure"),
        "{cleared}"
    );
    assert!(
        attributes(&cleared).iter().any(|a| a == "httponly"),
        "{cleared}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_and_unknown_emails_get_the_same_answer() {
    let server = TestServer::start().await;
    server
        .create_user_with(TOKEN, "admin@example.com", &["admin"])
        .await;
    let attempt = |email: &str, password: &str| {
        server
            .client
            .post(server.url("/auth/login"))
            .json(&json!({ "email": email, "password": password }))
    };
    let response = attempt("admin@example.com", "not the password at all")
        .send()
        .await
        .unwrap();
    assert!(set_cookies(&response).is_empty(), "no cookie on failure");
    let wrong = expect_error(response, 401, "INVALID_CREDENTIALS").await;
    let response = attempt("nobody@example.com", PASSWORD)
        .send()
        .await
        .unwrap();
    assert!(set_cookies(&response).is_empty());
    let unknown = expect_error(response, 401, "INVALID_CREDENTIALS").await;
    assert_eq!(wrong["message"], unknown["message"]);
    // Malformed bodies are a 400, not a login attempt.
    fails(
        server
            .client
            .post(server.url("/auth/login"))
            .json(&json!({ "email": "admin@example.com" })),
        400,
        "BAD_REQUEST",
    )
    .await;
    fails(
        server
            .client
            .post(server.url("/auth/login"))
            .body("email=x"),
        400,
        "BAD_REQUEST",
    )
    .await;
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
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
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
    server
        .create_user_with(TOKEN, "admin@example.com", &["admin"])
        .await;
    let browser = no_redirects();
    let post = |next: &str, password: &str| {
        browser
            .post(server.url("/auth/login"))
            .form(&[
                ("email", "admin@example.com"),
                ("password", password),
                ("next", next),
            ])
            .send()
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
        let response = post(next, PASSWORD).await.unwrap();
        assert_eq!(response.status(), 303, "next={next}");
        assert_eq!(response.headers()["location"], expected, "next={next}");
        let token = set_cookies(&response)
            .into_iter()
            .find(|(n, _, _)| n == "kiln_session")
            .map(|(_, v, _)| v)
            .expect("a session cookie");
        // The cookie is a working session.
        let me = json_status(
            browser
                .get(server.url("/auth/me"))
                .header("cookie", format!("kiln_session={token}")),
            200,
        )
        .await;
        assert_eq!(me["user"]["email"], "admin@example.com");
    }
    // A failed form login goes back to the form with the error, and sets no cookie.
    let response = post("/engine/x", "wrong password here").await.unwrap();
    assert_eq!(response.status(), 303);
    assert!(set_cookies(&response).is_empty());
    let location = response.headers()["location"].to_str().unwrap();
    assert!(location.starts_with("/auth/login?error="), "{location}");
    assert!(location.contains("next=%2Fengine%2Fx"), "{location}");
    // Without a `next` field the console is the default.
    let response = browser
        .post(server.url("/auth/login"))
        .form(&[("email", "admin@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/engine/");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_in_again_rotates_the_session() {
    let server = TestServer::start().await;
    let first = server.first_admin().await;
    let response = server
        .client
        .post(server.url("/auth/login"))
        .header("cookie", format!("kiln_session={}", first.cookie))
        .json(&json!({ "email": "admin@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let second = set_cookies(&response)
        .into_iter()
        .find(|(n, _, _)| n == "kiln_session")
        .map(|(_, v, _)| v)
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_ne!(second, first.cookie, "a new session token");
    assert_ne!(body["csrf_token"], first.csrf.as_str(), "a new CSRF token");
    // The old session is gone, the new one works.
    fails(
        cookie_only(&server, Method::GET, "/auth/me", &first),
        401,
        "SESSION_EXPIRED",
    )
    .await;
    fails(
        server.with_session(Method::GET, "/engine/api/scripts", &first),
        401,
        "SESSION_EXPIRED",
    )
    .await;
    let second = Session {
        cookie: second,
        csrf: body["csrf_token"].as_str().unwrap().to_owned(),
        user: body["user"].clone(),
    };
    json_status(
        server.with_session(Method::GET, "/engine/api/scripts", &second),
        200,
    )
    .await;
    // A login without the old cookie leaves other sessions alone (two browsers).
    let third = server.login("admin@example.com").await;
    json_status(cookie_only(&server, Method::GET, "/auth/me", &second), 200).await;
    json_status(cookie_only(&server, Method::GET, "/auth/me", &third), 200).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_needs_the_csrf_token_and_ends_the_session() {
    let server = TestServer::start().await;
    let admin = server.first_admin().await;
    let other = server.login("admin@example.com").await;
    // No token, a wrong token, or another session's token: refused, session intact.
    fails(
        cookie_only(&server, Method::POST, "/auth/logout", &admin),
        403,
        "CSRF_TOKEN_INVALID",
    )
    .await;
    fails(
        cookie_only(&server, Method::POST, "/auth/logout", &admin)
            .header("x-csrf-token", "0".repeat(64)),
        403,
        "CSRF_TOKEN_INVALID",
    )
    .await;
    fails(
        cookie_only(&server, Method::POST, "/auth/logout", &admin)
            .header("x-csrf-token", &other.csrf),
        403,
        "CSRF_TOKEN_INVALID",
    )
    .await;
    json_status(cookie_only(&server, Method::GET, "/auth/me", &admin), 200).await;
    // Nobody signed in: nothing to end.
    fails(
        server.client.post(server.url("/auth/logout")),
        401,
        "UNAUTHORIZED",
    )
    .await;

    let response = server
        .with_session(Method::POST, "/auth/logout", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let cleared = raw_cookie(&response, "kiln_session");
    assert!(cleared.starts_with("kiln_session=;"), "{cleared}");
    assert!(
        attributes(&cleared).iter().any(|a| a == "max-age=0"),
        "{cleared}"
    );
    // The cookie no longer works anywhere; the other session does.
    fails(
        cookie_only(&server, Method::GET, "/auth/me", &admin),
        401,
        "SESSION_EXPIRED",
    )
    .await;
    fails(
        server.with_session(Method::GET, "/engine/api/scripts", &admin),
        401,
        "SESSION_EXPIRED",
    )
    .await;
    fails(
        server.with_session(Method::POST, "/auth/logout", &admin),
        401,
        "SESSION_EXPIRED",
    )
    .await;
    json_status(cookie_only(&server, Method::GET, "/auth/me", &other), 200).await;
    // A form logout with the `_csrf` field works too.
    let response = cookie_only(&server, Method::POST, "/auth/logout", &other)
        .form(&[("_csrf", other.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    fails(
        cookie_only(&server, Method::GET, "/auth/me", &other),
        401,
        "SESSION_EXPIRED",
    )
    .await;
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
    // State-changing requests without the token, with a wrong one, or another session's.
    fails(
        cookie_only(&server, Method::POST, "/engine/api/users", &admin).json(&new_user),
        403,
        "CSRF_TOKEN_INVALID",
    )
    .await;
    fails(
        cookie_only(&server, Method::POST, "/engine/api/users", &admin)
            .header("x-csrf-token", "wrong")
            .json(&new_user),
        403,
        "CSRF_TOKEN_INVALID",
    )
    .await;
    fails(
        cookie_only(&server, Method::POST, "/engine/api/users", &admin)
            .header("x-csrf-token", &other.csrf)
            .json(&new_user),
        403,
        "CSRF_TOKEN_INVALID",
    )
    .await;
    fails(
        cookie_only(
            &server,
            Method::POST,
            "/engine/api/scripts/app/versions",
            &admin,
        )
        .json(&json!({ "files": [{ "path": "main.js", "content": "export function init() {}" }] })),
        403,
        "CSRF_TOKEN_INVALID",
    )
    .await;
    let id = admin.user["id"].as_i64().unwrap();
    fails(
        cookie_only(
            &server,
            Method::PUT,
            &format!("/engine/api/users/{id}/roles/auditor"),
            &admin,
        ),
        403,
        "CSRF_TOKEN_INVALID",
    )
    .await;
    // None of them happened.
    let users = json_status(
        cookie_only(&server, Method::GET, "/engine/api/users", &admin),
        200,
    )
    .await;
    assert_eq!(users["users"].as_array().unwrap().len(), 1, "{users}");
    assert_eq!(users["users"][0]["roles"], json!(["admin"]));
    let scripts = json_status(
        cookie_only(&server, Method::GET, "/engine/api/scripts", &admin),
        200,
    )
    .await;
    assert_eq!(scripts["scripts"], json!([]));

    // With the token it works.
    json_status(
        server
            .with_session(Method::POST, "/engine/api/users", &admin)
            .json(&new_user),
        201,
    )
    .await;
    // Bearer API keys need no CSRF token.
    let key = server
        .create_key(&admin, json!({ "name": "ops", "scopes": ["manage"] }))
        .await;
    let key = key["key"].as_str().unwrap();
    json_status(
        bearer(&server, Method::POST, "/engine/api/users", key)
            .json(&json!({ "email": "f@example.com", "password": PASSWORD })),
        201,
    )
    .await;
    json_status(
        bearer(
            &server,
            Method::PUT,
            &format!("/engine/api/users/{id}/roles/auditor"),
            key,
        ),
        200,
    )
    .await;
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
    let user_id = admin.user["id"].as_i64().unwrap();
    let store = open_store(&server).await;
    let now = kiln::auth::now_ms();
    let plant = |token: &str, created_at: i64, last_seen_at: i64, expires_at: i64| {
        kiln_store::SessionRecord {
            id_hash: kiln::auth::session_hash(token),
            user_id,
            csrf_token: format!("csrf-{token}"),
            created_at,
            last_seen_at,
            expires_at,
            ip: Some("127.0.0.1".into()),
            user_agent: None,
        }
    };
    let hour = 3_600_000;
    let sessions = [
        // A healthy planted session (proves planting works).
        (
            "fresh",
            plant("fresh-token", now - hour, now - 60_000, now + hour),
        ),
        // Past its absolute expiry although used a second ago.
        (
            "expired",
            plant("expired-token", now - 25 * hour, now - 1000, now - 1000),
        ),
        // Within its lifetime but idle for longer than 30 minutes.
        (
            "idle",
            plant("idle-token", now - 2 * hour, now - 31 * 60_000, now + hour),
        ),
    ];
    for (_, record) in &sessions {
        store.create_session(record).await.unwrap();
    }
    let get = |token: &str| {
        server
            .client
            .get(server.url("/engine/api/scripts"))
            .header("cookie", format!("kiln_session={token}"))
    };
    json_status(get("fresh-token"), 200).await;
    for token in ["expired-token", "idle-token"] {
        let response = get(token).send().await.unwrap();
        assert_eq!(
            response
                .headers()
                .get("www-authenticate")
                .map(|v| v.as_bytes()),
            Some(&b"Bearer"[..])
        );
        let error = expect_error(response, 401, "SESSION_EXPIRED").await;
        assert!(error["message"].as_str().unwrap().contains("/auth/login"));
        // The dead session is deleted, and stays dead.
        assert!(
            store
                .get_session(&kiln::auth::session_hash(token))
                .await
                .unwrap()
                .is_none(),
            "{token} should have been deleted"
        );
        fails(
            server
                .client
                .get(server.url("/auth/me"))
                .header("cookie", format!("kiln_session={token}")),
            401,
            "SESSION_EXPIRED",
        )
        .await;
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
    let admin = server.first_admin().await;
    let editor = add_and_login(&server, &admin, "ed@example.com", &["editor"]).await;
    let editor_id = editor.user["id"].as_i64().unwrap();
    let key = server
        .create_key(
            &editor,
            json!({ "name": "k", "scopes": ["invoke", "manage"] }),
        )
        .await;
    let key = key["key"].as_str().unwrap().to_owned();
    server.deploy_as(&admin, "who", WHOAMI).await;
    json_status(bearer(&server, Method::GET, "/whoami", &key), 200).await;

    let disabled = json_status(
        server
            .with_session(
                Method::PATCH,
                &format!("/engine/api/users/{editor_id}"),
                &admin,
            )
            .json(&json!({ "disabled": true })),
        200,
    )
    .await;
    assert_eq!(disabled["disabled"], true);

    // Keys: refused with ACCOUNT_DISABLED everywhere.
    for (method, path) in [
        (Method::GET, "/auth/me"),
        (Method::GET, "/engine/api/keys"),
        (Method::GET, "/whoami"),
        (Method::GET, "/public"),
    ] {
        fails(bearer(&server, method, path, &key), 401, "ACCOUNT_DISABLED").await;
    }
    // The sessions were ended when the account was disabled.
    fails(
        server.with_session(Method::GET, "/engine/api/keys", &editor),
        401,
        "SESSION_EXPIRED",
    )
    .await;
    fails(
        cookie_only(&server, Method::GET, "/whoami", &editor),
        401,
        "SESSION_EXPIRED",
    )
    .await;
    // A session that survived somehow (planted) is refused because of the account.
    let store = open_store(&server).await;
    let now = kiln::auth::now_ms();
    store
        .create_session(&kiln_store::SessionRecord {
            id_hash: kiln::auth::session_hash("survivor"),
            user_id: editor_id,
            csrf_token: "c".repeat(64),
            created_at: now,
            last_seen_at: now,
            expires_at: now + 3_600_000,
            ip: None,
            user_agent: None,
        })
        .await
        .unwrap();
    fails(
        server
            .client
            .get(server.url("/engine/api/scripts"))
            .header("cookie", "kiln_session=survivor"),
        401,
        "ACCOUNT_DISABLED",
    )
    .await;
    // Signing in fails like a wrong password (no account state is revealed).
    fails(
        server
            .client
            .post(server.url("/auth/login"))
            .json(&json!({ "email": "ed@example.com", "password": PASSWORD })),
        401,
        "INVALID_CREDENTIALS",
    )
    .await;

    // Enabled again: the key works again and the account can sign in.
    json_status(
        server
            .with_session(
                Method::PATCH,
                &format!("/engine/api/users/{editor_id}"),
                &admin,
            )
            .json(&json!({ "disabled": false })),
        200,
    )
    .await;
    let me = json_status(bearer(&server, Method::GET, "/auth/me", &key), 200).await;
    assert_eq!(me["user"]["email"], "ed@example.com");
    // Only admins disable accounts.
    let editor = server.login("ed@example.com").await;
    let admin_id = admin.user["id"].as_i64().unwrap();
    fails(
        server
            .with_session(
                Method::PATCH,
                &format!("/engine/api/users/{admin_id}"),
                &editor,
            )
            .json(&json!({ "disabled": true })),
        403,
        "FORBIDDEN",
    )
    .await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Login throttling.

async fn failed_login(server: &TestServer, email: &str) {
    fails(
        server
            .client
            .post(server.url("/auth/login"))
            .json(&json!({ "email": email, "password": "definitely wrong" })),
        401,
        "INVALID_CREDENTIALS",
    )
    .await;
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response
        .headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds")
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
    add_user(&server, &admin, "victim@example.com", &["user"]).await;
    add_user(&server, &admin, "bystander@example.com", &["user"]).await;
    for _ in 0..3 {
        failed_login(&server, "victim@example.com").await;
    }
    // The fourth attempt is refused before the password is looked at — even the right one.
    for (email, password) in [
        ("victim@example.com", PASSWORD),
        ("VICTIM@example.com", PASSWORD),
        ("victim@example.com", "definitely wrong"),
    ] {
        let response = server
            .client
            .post(server.url("/auth/login"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap();
        let wait = retry_after(&response);
        assert!((1..=600).contains(&wait), "Retry-After {wait}");
        assert!(set_cookies(&response).is_empty());
        let error = expect_error(response, 429, "LOGIN_THROTTLED").await;
        assert!(error["message"].as_str().unwrap().contains("seconds"));
    }
    // The HTML form is throttled too.
    let response = no_redirects()
        .post(server.url("/auth/login"))
        .form(&[("email", "victim@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert!(retry_after(&response) >= 1);
    assert!(set_cookies(&response).is_empty());
    // Other accounts are unaffected.
    server.login("bystander@example.com").await;

    // The failures are in the audit log (admins only).
    let audit = json_status(
        server.with_session(Method::GET, "/engine/api/audit?action=login_failed", &admin),
        200,
    )
    .await;
    let events = audit["events"].as_array().unwrap();
    assert_eq!(events.len(), 3, "{audit}");
    for event in events {
        assert_eq!(event["action"], "login_failed");
        assert_eq!(event["target"], "victim@example.com");
        assert_eq!(event["ip"], "127.0.0.1");
        assert_eq!(event["actor_user_id"], Value::Null);
    }
    let throttled = json_status(
        server.with_session(
            Method::GET,
            "/engine/api/audit?action=login_throttled",
            &admin,
        ),
        200,
    )
    .await;
    assert_eq!(
        throttled["events"].as_array().unwrap().len(),
        4,
        "{throttled}"
    );
    let bystander = server.login("bystander@example.com").await;
    fails(
        server.with_session(Method::GET, "/engine/api/audit", &bystander),
        403,
        "FORBIDDEN",
    )
    .await;
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
        let response = server
            .client
            .post(server.url("/auth/login"))
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert!(retry_after(&response) >= 1);
        expect_error(response, 429, "LOGIN_THROTTLED").await;
    }
    // Existing sessions are not affected.
    json_status(
        server.with_session(Method::GET, "/engine/api/scripts", &admin),
        200,
    )
    .await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Admins and roles.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_admin_cannot_be_demoted_or_disabled() {
    let server = TestServer::start().await;
    let admin = server.first_admin().await;
    let id = admin.user["id"].as_i64().unwrap();
    fails(
        server.with_session(
            Method::DELETE,
            &format!("/engine/api/users/{id}/roles/admin"),
            &admin,
        ),
        409,
        "CONFLICT",
    )
    .await;
    fails(
        server
            .with_session(Method::PATCH, &format!("/engine/api/users/{id}"), &admin)
            .json(&json!({ "disabled": true })),
        409,
        "CONFLICT",
    )
    .await;
    let me = json_status(
        server.with_session(Method::GET, &format!("/engine/api/users/{id}"), &admin),
        200,
    )
    .await;
    assert_eq!(me["roles"], json!(["admin"]));
    assert_eq!(me["disabled"], false);
    // The bootstrap token is still retired.
    fails(
        bearer(&server, Method::GET, "/engine/api/scripts", TOKEN),
        401,
        "BOOTSTRAP_TOKEN_RETIRED",
    )
    .await;

    // With a second admin the first may step down; then the second is the last one.
    let second = add_and_login(&server, &admin, "second@example.com", &["admin"]).await;
    let second_id = second.user["id"].as_i64().unwrap();
    let demoted = json_status(
        server.with_session(
            Method::DELETE,
            &format!("/engine/api/users/{id}/roles/admin"),
            &second,
        ),
        200,
    )
    .await;
    assert_eq!(demoted["roles"], json!([]));
    fails(
        server.with_session(Method::GET, "/engine/api/users", &admin),
        403,
        "FORBIDDEN",
    )
    .await;
    fails(
        server.with_session(
            Method::DELETE,
            &format!("/engine/api/users/{second_id}/roles/admin"),
            &second,
        ),
        409,
        "CONFLICT",
    )
    .await;
    fails(
        server
            .with_session(
                Method::PATCH,
                &format!("/engine/api/users/{second_id}"),
                &second,
            )
            .json(&json!({ "disabled": true })),
        409,
        "CONFLICT",
    )
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_roles_are_granted_and_revoked_by_admins_only() {
    let server = TestServer::start().await;
    let admin = server.first_admin().await;
    let user = add_and_login(&server, &admin, "u@example.com", &["user"]).await;
    let id = user.user["id"].as_i64().unwrap();
    let granted = json_status(
        server.with_session(
            Method::PUT,
            &format!("/engine/api/users/{id}/roles/auditor"),
            &admin,
        ),
        200,
    )
    .await;
    assert_eq!(granted["roles"], json!(["auditor", "user"]));
    // Granting twice is harmless.
    let again = json_status(
        server.with_session(
            Method::PUT,
            &format!("/engine/api/users/{id}/roles/auditor"),
            &admin,
        ),
        200,
    )
    .await;
    assert_eq!(again["roles"], json!(["auditor", "user"]));
    fails(
        server.with_session(
            Method::PUT,
            &format!("/engine/api/users/{id}/roles/Not%20A%20Role"),
            &admin,
        ),
        400,
        "BAD_REQUEST",
    )
    .await;
    fails(
        server.with_session(Method::PUT, "/engine/api/users/9999/roles/auditor", &admin),
        404,
        "USER_NOT_FOUND",
    )
    .await;
    // Nobody promotes themselves.
    for role in ["admin", "editor", "auditor2"] {
        fails(
            server.with_session(
                Method::PUT,
                &format!("/engine/api/users/{id}/roles/{role}"),
                &user,
            ),
            403,
            "FORBIDDEN",
        )
        .await;
    }
    fails(
        server.with_session(
            Method::DELETE,
            &format!("/engine/api/users/{id}/roles/auditor"),
            &user,
        ),
        403,
        "FORBIDDEN",
    )
    .await;
    // A user may read themselves, not others.
    let me = json_status(
        server.with_session(Method::GET, &format!("/engine/api/users/{id}"), &user),
        200,
    )
    .await;
    assert_eq!(me["roles"], json!(["auditor", "user"]));
    let admin_id = admin.user["id"].as_i64().unwrap();
    fails(
        server.with_session(Method::GET, &format!("/engine/api/users/{admin_id}"), &user),
        403,
        "FORBIDDEN",
    )
    .await;
    let revoked = json_status(
        server.with_session(
            Method::DELETE,
            &format!("/engine/api/users/{id}/roles/auditor"),
            &admin,
        ),
        200,
    )
    .await;
    assert_eq!(revoked["roles"], json!(["user"]));
    // The audit log records both.
    let audit = json_status(
        server.with_session(Method::GET, "/engine/api/audit?action=role_granted", &admin),
        200,
    )
    .await;
    assert_eq!(audit["events"][0]["target"], "u@example.com");
    assert_eq!(audit["events"][0]["detail"]["role"], "auditor");
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Script ownership.

const APP: &str = r#"const VERSION = 1;
export function init() { registerWebHandler("GET", "/a-app", () => "a-app v" + VERSION); }"#;

fn app_version(n: u32) -> String {
    APP.replace("VERSION = 1", &format!("VERSION = {n}"))
}

async fn deployed(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body
}

fn script_names(list: &Value) -> Vec<String> {
    list["scripts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editors_manage_only_the_scripts_they_own() {
    let server = TestServer::start().await;
    let admin = server.first_admin().await;
    let a = add_and_login(&server, &admin, "a@example.com", &["editor"]).await;
    let b = add_and_login(&server, &admin, "b@example.com", &["editor"]).await;
    deployed(server.deploy_as(&a, "a-app", &app_version(1)).await).await;
    deployed(server.deploy_as(&a, "a-app", &app_version(2)).await).await;
    assert_eq!(server.get_text("/a-app").await, "a-app v2");

    // B can do nothing to A's script.
    let denied = fails(
        server
            .with_session(Method::POST, "/engine/api/scripts/a-app/versions", &b)
            .json(&json!({ "files": [{ "path": "main.js", "content": app_version(666) }] })),
        403,
        "FORBIDDEN",
    )
    .await;
    assert!(
        denied["message"].as_str().unwrap().contains("a-app"),
        "{denied}"
    );
    for (method, path) in [
        (Method::GET, "/engine/api/scripts/a-app"),
        (Method::GET, "/engine/api/scripts/a-app/versions"),
        (Method::GET, "/engine/api/scripts/a-app/versions/1"),
        (Method::GET, "/engine/api/scripts/a-app/logs"),
        (Method::GET, "/engine/api/scripts/a-app/owners"),
        (Method::POST, "/engine/api/scripts/a-app/rollback"),
        (Method::POST, "/engine/api/scripts/a-app/owners"),
        (Method::DELETE, "/engine/api/scripts/a-app"),
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
        fails(request, 403, "FORBIDDEN").await;
    }
    let a_id = a.user["id"].as_i64().unwrap();
    fails(
        server.with_session(
            Method::DELETE,
            &format!("/engine/api/scripts/a-app/owners/{a_id}"),
            &b,
        ),
        403,
        "FORBIDDEN",
    )
    .await;
    // Still A's, still version 2, still serving.
    assert_eq!(server.get_text("/a-app").await, "a-app v2");
    let listed = json_status(
        server.with_session(Method::GET, "/engine/api/scripts", &b),
        200,
    )
    .await;
    assert!(script_names(&listed).is_empty(), "{listed}");
    let routes = json_status(
        server.with_session(Method::GET, "/engine/api/routes", &b),
        200,
    )
    .await;
    assert_eq!(routes["routes"], json!([]), "{routes}");
    // B's own script is B's.
    deployed(
        server
            .deploy_as(
                &b,
                "b-app",
                r#"export function init() { registerWebHandler("GET", "/b-app", () => "b"); }"#,
            )
            .await,
    )
    .await;
    let listed = json_status(
        server.with_session(Method::GET, "/engine/api/scripts", &b),
        200,
    )
    .await;
    assert_eq!(script_names(&listed), ["b-app"]);
    let listed = json_status(
        server.with_session(Method::GET, "/engine/api/scripts", &a),
        200,
    )
    .await;
    assert_eq!(script_names(&listed), ["a-app"]);
    // A may read, roll back and delete its own.
    json_status(
        server.with_session(Method::GET, "/engine/api/scripts/a-app/versions/1", &a),
        200,
    )
    .await;
    let rolled = json_status(
        server
            .with_session(Method::POST, "/engine/api/scripts/a-app/rollback", &a)
            .json(&json!({ "version": 1 })),
        200,
    )
    .await;
    assert_eq!(rolled["active_version"], 1);
    assert_eq!(server.get_text("/a-app").await, "a-app v1");

    // The admin sees and manages everything.
    let listed = json_status(
        server.with_session(Method::GET, "/engine/api/scripts", &admin),
        200,
    )
    .await;
    let mut names = script_names(&listed);
    names.sort();
    assert_eq!(names, ["a-app", "b-app"]);
    deployed(server.deploy_as(&admin, "a-app", &app_version(3)).await).await;
    assert_eq!(server.get_text("/a-app").await, "a-app v3");
    json_status(
        server
            .with_session(Method::POST, "/engine/api/scripts/b-app/rollback", &admin)
            .json(&json!({ "version": 1 })),
        200,
    )
    .await;
    let response = server
        .with_session(Method::DELETE, "/engine/api/scripts/b-app", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    expect_error(server.get("/b-app").await, 404, "ROUTE_NOT_FOUND").await;
    // A still owns its script after the admin's deploy; B never became an owner.
    let owners = json_status(
        server.with_session(Method::GET, "/engine/api/scripts/a-app/owners", &a),
        200,
    )
    .await;
    let emails: Vec<&str> = owners["owners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["email"].as_str().unwrap())
        .collect();
    assert!(emails.contains(&"a@example.com"), "{owners}");
    assert!(!emails.contains(&"b@example.com"), "{owners}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_without_the_editor_role_cannot_deploy() {
    let server = TestServer::start().await;
    let admin = server.first_admin().await;
    let user = add_and_login(&server, &admin, "u@example.com", &["user"]).await;
    fails(
        server
            .with_session(Method::POST, "/engine/api/scripts/mine/versions", &user)
            .json(&json!({ "files": [{ "path": "main.js", "content": "export function init() {}" }] })),
        403,
        "FORBIDDEN",
    )
    .await;
    // Not even as a raw JavaScript body.
    fails(
        server
            .with_session(Method::POST, "/engine/api/scripts/mine/versions", &user)
            .header("content-type", "application/javascript")
            .body("export function init() {}"),
        403,
        "FORBIDDEN",
    )
    .await;
    let listed = json_status(
        server.with_session(Method::GET, "/engine/api/scripts", &user),
        200,
    )
    .await;
    assert_eq!(listed["scripts"], json!([]));
    fails(
        server.with_session(Method::GET, "/engine/api/users", &user),
        403,
        "FORBIDDEN",
    )
    .await;
    // Nothing was claimed: an editor can still take the name.
    let editor = add_and_login(&server, &admin, "e@example.com", &["editor"]).await;
    deployed(
        server
            .deploy_as(&editor, "mine", "export function init() {}")
            .await,
    )
    .await;
    // The user may still manage their own keys.
    let key = server.create_key(&user, json!({ "name": "mine" })).await;
    assert_eq!(key["user_id"], user.user["id"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_can_share_a_script_with_another_editor() {
    let server = TestServer::start().await;
    let admin = server.first_admin().await;
    let a = add_and_login(&server, &admin, "a@example.com", &["editor"]).await;
    let b = add_and_login(&server, &admin, "b@example.com", &["editor"]).await;
    deployed(server.deploy_as(&a, "a-app", &app_version(1)).await).await;
    fails(
        server
            .with_session(Method::POST, "/engine/api/scripts/a-app/versions", &b)
            .json(&json!({ "files": [{ "path": "main.js", "content": app_version(2) }] })),
        403,
        "FORBIDDEN",
    )
    .await;
    fails(
        server
            .with_session(Method::POST, "/engine/api/scripts/a-app/owners", &a)
            .json(&json!({ "email": "nobody@example.com" })),
        404,
        "USER_NOT_FOUND",
    )
    .await;
    let response = server
        .with_session(Method::POST, "/engine/api/scripts/a-app/owners", &a)
        .json(&json!({ "email": "b@example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let owners = json_status(
        server.with_session(Method::GET, "/engine/api/scripts/a-app/owners", &b),
        200,
    )
    .await;
    assert_eq!(owners["owners"].as_array().unwrap().len(), 2, "{owners}");
    deployed(server.deploy_as(&b, "a-app", &app_version(2)).await).await;
    assert_eq!(server.get_text("/a-app").await, "a-app v2");
    let listed = json_status(
        server.with_session(Method::GET, "/engine/api/scripts", &b),
        200,
    )
    .await;
    assert_eq!(script_names(&listed), ["a-app"]);
    // Removed again, B is locked out again.
    let b_id = b.user["id"].as_i64().unwrap();
    let response = server
        .with_session(
            Method::DELETE,
            &format!("/engine/api/scripts/a-app/owners/{b_id}"),
            &a,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    fails(
        server
            .with_session(Method::POST, "/engine/api/scripts/a-app/versions", &b)
            .json(&json!({ "files": [{ "path": "main.js", "content": app_version(3) }] })),
        403,
        "FORBIDDEN",
    )
    .await;
    assert_eq!(server.get_text("/a-app").await, "a-app v2");
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// `ctx.user` in scripts.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_see_the_signed_in_user() {
    let server = TestServer::start().await;
    let admin = server.first_admin().await;
    deployed(server.deploy_as(&admin, "who", WHOAMI).await).await;
    let editor = add_and_login(&server, &admin, "ed@example.com", &["editor"]).await;

    let me = json_status(cookie_only(&server, Method::GET, "/whoami", &editor), 200).await;
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
    let me = json_status(cookie_only(&server, Method::GET, "/whoami", &admin), 200).await;
    assert_eq!(me["email"], "admin@example.com");
    assert_eq!(me["isAdmin"], true);

    // An API key acts as its owner.
    let key = server
        .create_key(&editor, json!({ "name": "script", "scopes": ["invoke"] }))
        .await;
    let me = json_status(
        bearer(
            &server,
            Method::GET,
            "/whoami",
            key["key"].as_str().unwrap(),
        ),
        200,
    )
    .await;
    assert_eq!(me["email"], "ed@example.com");
    assert_eq!(me["roles"], json!(["editor"]));
    assert_eq!(me["isAdmin"], false);
    assert_eq!(me["apiKey"]["prefix"], key["prefix"]);

    // Anonymous callers are refused before the script runs.
    let response = server.get("/whoami").await;
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .map(|v| v.as_bytes()),
        Some(&b"Bearer"[..])
    );
    expect_error(response, 401, "UNAUTHORIZED").await;
    // On a public route they are null.
    let me = server.get_json("/public").await;
    assert_eq!(me["userIsNull"], true);
    assert_eq!(me["apiKey"], Value::Null);
    let me = json_status(cookie_only(&server, Method::GET, "/public", &editor), 200).await;
    assert_eq!(me["email"], "ed@example.com");
    // A foreign Authorization scheme is the script's business, not an error.
    let me = json_status(
        server
            .client
            .get(server.url("/public"))
            .header("authorization", "Basic dXNlcjpwYXNz"),
        200,
    )
    .await;
    assert_eq!(me["userIsNull"], true);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_routes_need_the_role() {
    let server = TestServer::start().await;
    let admin = server.first_admin().await;
    deployed(server.deploy_as(&admin, "who", WHOAMI).await).await;
    let user = add_and_login(&server, &admin, "u@example.com", &["user"]).await;
    let id = user.user["id"].as_i64().unwrap();
    expect_error(server.get("/auditors").await, 401, "UNAUTHORIZED").await;
    fails(
        cookie_only(&server, Method::GET, "/auditors", &user),
        403,
        "FORBIDDEN",
    )
    .await;
    // Admin is not a wildcard for custom roles.
    fails(
        cookie_only(&server, Method::GET, "/auditors", &admin),
        403,
        "FORBIDDEN",
    )
    .await;
    json_status(
        server.with_session(
            Method::PUT,
            &format!("/engine/api/users/{id}/roles/auditor"),
            &admin,
        ),
        200,
    )
    .await;
    // Effective on the next request of the existing session.
    let me = json_status(cookie_only(&server, Method::GET, "/auditors", &user), 200).await;
    assert_eq!(me["email"], "u@example.com");
    assert_eq!(me["roles"], json!(["auditor", "user"]));
    json_status(
        server.with_session(
            Method::DELETE,
            &format!("/engine/api/users/{id}/roles/auditor"),
            &admin,
        ),
        200,
    )
    .await;
    fails(
        cookie_only(&server, Method::GET, "/auditors", &user),
        403,
        "FORBIDDEN",
    )
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_posts_to_script_routes_need_the_csrf_token() {
    let server = TestServer::start().await;
    let admin = server.first_admin().await;
    deployed(server.deploy_as(&admin, "who", WHOAMI).await).await;
    let user = add_and_login(&server, &admin, "u@example.com", &["user"]).await;
    fails(
        cookie_only(&server, Method::POST, "/whoami", &user),
        403,
        "CSRF_TOKEN_INVALID",
    )
    .await;
    fails(
        cookie_only(&server, Method::POST, "/whoami", &user).header("x-csrf-token", &admin.csrf),
        403,
        "CSRF_TOKEN_INVALID",
    )
    .await;
    let me = json_status(server.with_session(Method::POST, "/whoami", &user), 200).await;
    assert_eq!(me["email"], "u@example.com");
    // A public route runs, but a forgeable cookie-only POST is anonymous.
    let me = json_status(cookie_only(&server, Method::POST, "/public", &user), 200).await;
    assert_eq!(me["userIsNull"], true, "{me}");
    assert_eq!(me["email"], Value::Null);
    let me = json_status(server.with_session(Method::POST, "/public", &user), 200).await;
    assert_eq!(me["email"], "u@example.com");
    // Safe methods need no token.
    let me = json_status(cookie_only(&server, Method::GET, "/whoami", &user), 200).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_cannot_change_who_they_act_as() {
    let server = TestServer::start().await;
    let admin = server.first_admin().await;
    deployed(server.deploy_as(&admin, "spoof", SPOOF).await).await;
    let user = add_and_login(&server, &admin, "u@example.com", &["user"]).await;
    let key = server
        .create_key(&user, json!({ "name": "k", "scopes": ["invoke"] }))
        .await;
    let key = key["key"].as_str().unwrap().to_owned();

    // Alternate callers several times so that every worker has been poisoned by the admin's
    // requests before it serves the user's.
    for round in 0..4 {
        let me = json_status(cookie_only(&server, Method::GET, "/spoof", &admin), 200).await;
        assert_eq!(me["email"], "admin@example.com", "round {round}: {me}");
        assert_eq!(me["roles"], json!(["admin"]), "round {round}: {me}");
        assert_eq!(me["isAdmin"], true, "{me}");
        assert_eq!(me["isAuditor"], false, "{me}");
        assert_eq!(me["frozen"], true, "{me}");
        assert_eq!(me["tried"], json!([]), "mutations must fail: {me}");

        for request in [
            cookie_only(&server, Method::GET, "/spoof", &user),
            bearer(&server, Method::GET, "/spoof", &key),
        ] {
            let me = json_status(request, 200).await;
            assert_eq!(me["email"], "u@example.com", "round {round}: {me}");
            assert_eq!(me["roles"], json!(["user"]), "round {round}: {me}");
            assert_eq!(me["isAdmin"], false, "round {round}: {me}");
            assert_eq!(me["isAuditor"], false, "round {round}: {me}");
            assert_eq!(me["frozen"], true, "{me}");
            assert_eq!(me["tried"], json!([]), "mutations must fail: {me}");
        }
        // The host decides role routes, whatever the script did to itself.
        fails(
            cookie_only(&server, Method::GET, "/spoof-admin", &user),
            403,
            "FORBIDDEN",
        )
        .await;
        let me = json_status(
            cookie_only(&server, Method::GET, "/spoof-admin", &admin),
            200,
        )
        .await;
        assert_eq!(me["email"], "admin@example.com");
        expect_error(server.get("/spoof").await, 401, "UNAUTHORIZED").await;
    }
    // The script kept its own memory (the stash), which is fine: it is not an identity.
    let me = json_status(cookie_only(&server, Method::GET, "/spoof", &user), 200).await;
    assert!(
        me["stashed"] == "admin@example.com" || me["stashed"] == "u@example.com",
        "{me}"
    );
    assert!(me["requests"].as_u64().unwrap() >= 2, "{me}");
    server.stop().await;
}

/// Time-dependent helper used by `keys.rs`.
pub(crate) async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_editors_racing_for_a_new_name_never_both_own_it() {
    let server = TestServer::start().await;
    let admin = server.first_admin().await;
    let a = add_and_login(&server, &admin, "a@example.com", &["editor"]).await;
    let b = add_and_login(&server, &admin, "b@example.com", &["editor"]).await;
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
        let owners = json_status(
            server.with_session(
                Method::GET,
                &format!("/engine/api/scripts/{name}/owners"),
                &admin,
            ),
            200,
        )
        .await;
        let mut emails: Vec<String> = owners["owners"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["email"].as_str().unwrap().to_owned())
            .collect();
        emails.sort();
        let mut winners = Vec::new();
        if sa == 201 {
            winners.push("a@example.com".to_owned());
        }
        if sb == 201 {
            winners.push("b@example.com".to_owned());
        }
        assert_eq!(emails, winners, "round {round}: owners of {name}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_first_deploy_does_not_claim_the_name() {
    let server = TestServer::start().await;
    let admin = server.first_admin().await;
    let a = add_and_login(&server, &admin, "a@example.com", &["editor"]).await;
    let b = add_and_login(&server, &admin, "b@example.com", &["editor"]).await;
    let response = server
        .deploy_as(&a, "squat", "export function init( { syntax error")
        .await;
    let status = response.status();
    assert!(status.is_client_error(), "{status}");
    let owners = json_status(
        server.with_session(Method::GET, "/engine/api/scripts/squat/owners", &admin),
        200,
    )
    .await;
    assert_eq!(owners["owners"], json!([]), "{owners}");
    deployed(
        server
            .deploy_as(&b, "squat", "export function init() {}")
            .await,
    )
    .await;
    // Now it is B's.
    fails(
        server
            .with_session(Method::POST, "/engine/api/scripts/squat/versions", &a)
            .json(&json!({ "files": [{ "path": "main.js", "content": "export function init() {}" }] })),
        403,
        "FORBIDDEN",
    )
    .await;
    server.stop().await;
}

#[tokio::test]
async fn changing_your_password_needs_the_current_one_and_ends_every_session() {
    let server = TestServer::start().await;
    let admin = server.first_admin().await;
    let user = add_and_login(&server, &admin, "pat@example.com", &["user"]).await;
    let other_browser = server.login("pat@example.com").await;
    let id = user.user["id"].as_i64().unwrap();
    let path = format!("/engine/api/users/{id}");

    // Without (or with a wrong) current password: refused, nothing changes.
    fails(
        server
            .with_session(Method::PATCH, &path, &user)
            .json(&json!({ "password": "a brand new passphrase" })),
        403,
        "CURRENT_PASSWORD_REQUIRED",
    )
    .await;
    fails(
        server.with_session(Method::PATCH, &path, &user).json(
            &json!({ "password": "a brand new passphrase", "current_password": "not it at all" }),
        ),
        403,
        "CURRENT_PASSWORD_REQUIRED",
    )
    .await;
    json_status(
        server.with_session(Method::GET, "/auth/me", &other_browser),
        200,
    )
    .await;

    json_status(
        server
            .with_session(Method::PATCH, &path, &user)
            .json(&json!({ "password": "a brand new passphrase", "current_password": PASSWORD })),
        200,
    )
    .await;
    // Every session of the account ended, the old password no longer works, the new one does.
    for session in [&user, &other_browser] {
        fails(
            server.with_session(Method::GET, "/auth/me", session),
            401,
            "SESSION_EXPIRED",
        )
        .await;
    }
    fails(
        server
            .client
            .post(server.url("/auth/login"))
            .json(&json!({ "email": "pat@example.com", "password": PASSWORD })),
        401,
        "INVALID_CREDENTIALS",
    )
    .await;
    let login = server
        .client
        .post(server.url("/auth/login"))
        .json(&json!({ "email": "pat@example.com", "password": "a brand new passphrase" }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);

    // An admin resets someone else's password without knowing it.
    json_status(
        server
            .with_session(Method::PATCH, &path, &admin)
            .json(&json!({ "password": PASSWORD })),
        200,
    )
    .await;
    server.login("pat@example.com").await;
}

#[tokio::test]
async fn a_refused_update_changes_nothing() {
    let server = TestServer::start().await;
    let admin = server.first_admin().await;
    let id = admin.user["id"].as_i64().unwrap();
    // Disabling the last admin is refused (409), and the password in the same request is not set.
    fails(
        server
            .with_session(Method::PATCH, &format!("/engine/api/users/{id}"), &admin)
            .json(&json!({ "disabled": true, "password": "another long passphrase", "current_password": PASSWORD })),
        409,
        "CONFLICT",
    )
    .await;
    server.login("admin@example.com").await;
}
