//! The bootstrap token, password login (JSON and HTML form), session cookies and their
//! rotation, logout, and CSRF on the management API.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{
    PASSWORD, Session, TOKEN, TestServer, WHOAMI, assert_bearer_challenge, assert_mentions,
    expect_error, expect_status, fails, find_cookie, header, json_status, set_cookies, strings,
};

use super::helpers::*;

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
