//! OIDC sign-in through Kiln's own endpoints, end to end: a browser (reqwest without redirect
//! following, cookies carried by hand) goes `/auth/oidc/test/start` → the local test provider's
//! `/authorize` → Kiln's callback, against a server configured with that provider.

use reqwest::Url;
use serde_json::{Value, json};

use crate::common::{
    Session, TestServer, assert_mentions, expect_error, expect_status, find_cookie, header,
    json_status, no_redirects, set_cookies, strings,
};
use crate::oidc_provider::{OidcTestProvider, TestUser};

/// A server whose `test` OIDC provider is `provider`.
async fn server_with(provider: &OidcTestProvider) -> TestServer {
    let config = provider.config();
    TestServer::start_with(move |c| {
        c.auth.oidc.insert("test".into(), config);
    })
    .await
}

fn location(response: &reqwest::Response) -> String {
    header(response, "location")
        .unwrap_or_else(|| panic!("no Location; status {}", response.status()))
        .to_owned()
}

fn query_param(url: &str, name: &str) -> Option<String> {
    Url::parse(url)
        .expect("absolute URL")
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A sign-in in progress: where the provider sent the browser back, and the state cookie.
struct Started {
    callback: String,
    state_cookie: String,
}

impl Started {
    /// Completes the sign-in in the browser that started it (with its state cookie).
    async fn finish(&self) -> reqwest::Response {
        callback(&self.callback, Some(&self.state_cookie)).await
    }
}

/// `start?next=…` then the provider's `/authorize`: returns the callback URL and the cookie.
async fn begin(server: &TestServer, next: Option<&str>) -> Started {
    let browser = no_redirects();
    let mut start = server.url("/auth/oidc/test/start");
    if let Some(next) = next {
        start.push_str("?next=");
        start.push_str(&form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>());
    }
    let response = browser.get(&start).send().await.expect("start");
    assert!(
        response.status().is_redirection(),
        "start answered {}",
        response.status()
    );
    let (state_cookie, raw) = find_cookie(&response, "kiln_oidc_state").expect("state cookie");
    assert!(raw.contains("HttpOnly"), "{raw}");
    assert!(raw.contains("Path=/auth/oidc"), "{raw}");
    assert!(raw.contains("SameSite=Lax"), "{raw}");
    let authorize = location(&response);
    assert_eq!(
        query_param(&authorize, "state").as_deref(),
        Some(state_cookie.as_str())
    );

    let response = browser.get(&authorize).send().await.expect("authorize");
    assert!(
        response.status().is_redirection(),
        "authorize answered {}",
        response.status()
    );
    let callback = location(&response);
    assert!(
        callback.starts_with(&server.url("/auth/oidc/test/callback?")),
        "provider sent the browser to {callback}"
    );
    Started {
        callback,
        state_cookie,
    }
}

/// GETs the callback, carrying `state_cookie` when given.
async fn callback(url: &str, state_cookie: Option<&str>) -> reqwest::Response {
    let mut request = no_redirects().get(url);
    if let Some(cookie) = state_cookie {
        request = request.header("cookie", format!("kiln_oidc_state={cookie}"));
    }
    request.send().await.expect("callback")
}

/// A whole sign-in; asserts it worked and returns the session cookie and where it redirected.
async fn sign_in(server: &TestServer, next: Option<&str>) -> (String, String) {
    let response = begin(server, next).await.finish().await;
    let status = response.status();
    let session = find_cookie(&response, "kiln_session");
    let csrf = find_cookie(&response, "kiln_csrf");
    // The state cookie is spent.
    let (spent, cleared) = find_cookie(&response, "kiln_oidc_state").expect("state cookie cleared");
    let target = header(&response, "location").map(str::to_owned);
    let body = response.text().await.unwrap();
    assert!(
        status.is_redirection(),
        "callback answered {status}: {body}"
    );
    let (session, _) = session.expect("session cookie");
    assert!(!session.is_empty());
    assert!(csrf.is_some(), "no kiln_csrf cookie");
    assert_eq!(spent, "");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    (session, target.expect("Location"))
}

/// A whole sign-in the callback refuses with `status` / `code`, starting no session.
async fn refused_sign_in(server: &TestServer, status: u16, code: &str) {
    let response = begin(server, None).await.finish().await;
    assert!(find_cookie(&response, "kiln_session").is_none());
    expect_error(response, status, code).await;
}

async fn users(server: &TestServer, admin: &Session) -> Vec<Value> {
    let body = server.get_as(admin, "/engine/api/users").await;
    body["users"].as_array().expect("users").clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_login_creates_a_user_signs_them_in_and_reuses_the_account() {
    let provider = OidcTestProvider::start().await;
    provider.set_user("sub-ada", Some("ada@example.com"), Some("Ada Lovelace"));
    let server = server_with(&provider).await;

    let (session, target) = sign_in(&server, Some("/engine/x")).await;
    assert_eq!(target, "/engine/x");
    let body = server.me(&session).await;
    let user = &body["user"];
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["name"], "Ada Lovelace");
    assert_eq!(user["roles"], json!(["user"]));
    assert_eq!(user["has_password"], false);
    assert!(body["csrf_token"].as_str().is_some_and(|t| !t.is_empty()));

    // The provider saw Kiln's callback URL (derived from Host) and a PKCE-verified exchange.
    let authorizes = provider.authorize_requests();
    assert_eq!(authorizes.len(), 1);
    assert_eq!(
        authorizes[0].redirect_uri,
        server.url("/auth/oidc/test/callback")
    );
    assert_eq!(authorizes[0].code_challenge_method.as_deref(), Some("S256"));
    let tokens = provider.token_requests();
    assert_eq!(tokens.len(), 1);
    assert!(tokens[0].client_authenticated && tokens[0].pkce_verified && tokens[0].issued);

    // Signing in again lands in the same account, with a new session.
    let (again, target) = sign_in(&server, None).await;
    assert_eq!(target, "/engine/");
    assert_ne!(again, session);
    let second = server.me(&again).await;
    assert_eq!(second["user"]["id"], user["id"]);
    assert_eq!(provider.token_requests().len(), 2);

    // The admin sees one account and two audited OIDC logins.
    let admin = server.first_admin().await;
    let accounts = users(&server, &admin).await;
    assert_eq!(
        accounts
            .iter()
            .filter(|u| u["email"] == "ada@example.com")
            .count(),
        1
    );
    let logins: Vec<Value> = server
        .audit(&admin, "login")
        .await
        .into_iter()
        .filter(|e| e["detail"]["method"] == "oidc")
        .collect();
    assert_eq!(logins.len(), 2, "{logins:?}");
    for login in &logins {
        assert_eq!(login["actor_user_id"], user["id"]);
        assert_eq!(login["target"], "ada@example.com");
        assert_eq!(login["detail"]["provider"], "test");
        assert_eq!(login["detail"]["subject"], "sub-ada");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_login_links_a_password_account_with_the_same_verified_email() {
    let provider = OidcTestProvider::start().await;
    let server = server_with(&provider).await;
    let admin = server.first_admin().await;
    let before = users(&server, &admin).await.len();

    provider.set_user("sub-admin", Some("Admin@Example.com"), Some("The Admin"));
    let (session, _) = sign_in(&server, None).await;
    let body = server.me(&session).await;
    assert_eq!(body["user"]["id"], admin.user["id"]);
    assert_eq!(body["user"]["roles"], json!(["admin"]));
    assert_eq!(body["user"]["has_password"], true);
    assert_eq!(users(&server, &admin).await.len(), before);

    // The link holds even if the provider's email changes later.
    provider.set_user("sub-admin", Some("renamed@example.com"), None);
    let (session, _) = sign_in(&server, None).await;
    assert_eq!(server.me(&session).await["user"]["id"], admin.user["id"]);
    // And the password still works.
    server.login("admin@example.com").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_callback_needs_the_state_cookie_and_the_matching_state() {
    let provider = OidcTestProvider::start().await;
    let server = server_with(&provider).await;

    // No state cookie: a login planted from another browser.
    let started = begin(&server, None).await;
    let response = callback(&started.callback, None).await;
    assert!(find_cookie(&response, "kiln_session").is_none());
    expect_error(response, 400, "OIDC_STATE_INVALID").await;

    // A state cookie, but the callback's state is another one.
    let started = begin(&server, None).await;
    let code = query_param(&started.callback, "code").unwrap();
    let forged = server.url(&format!(
        "/auth/oidc/test/callback?code={code}&state=not-the-state"
    ));
    expect_error(
        callback(&forged, Some(&started.state_cookie)).await,
        400,
        "OIDC_STATE_INVALID",
    )
    .await;

    // Two logins in flight: each callback needs its own browser's cookie.
    let first = begin(&server, None).await;
    let second = begin(&server, None).await;
    assert_ne!(first.state_cookie, second.state_cookie);
    expect_error(
        callback(&first.callback, Some(&second.state_cookie)).await,
        400,
        "OIDC_STATE_INVALID",
    )
    .await;
    // No code was ever exchanged.
    assert!(provider.token_requests().is_empty());
    // The untouched login still completes.
    let response = second.finish().await;
    assert!(response.status().is_redirection(), "{}", response.status());
    assert_eq!(provider.token_requests().len(), 1);

    // Malformed callbacks.
    expect_error(
        callback(&server.url("/auth/oidc/test/callback"), None).await,
        400,
        "BAD_REQUEST",
    )
    .await;
    let refused = server.url("/auth/oidc/test/callback?error=access_denied&error_description=no");
    let error = expect_error(callback(&refused, None).await, 401, "OIDC_LOGIN_FAILED").await;
    assert_mentions(&error, "access_denied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_unverified_email_is_refused_unless_the_identity_is_already_linked() {
    let provider = OidcTestProvider::start().await;
    let server = server_with(&provider).await;
    let admin = server.first_admin().await;
    let unverified = |subject: &str, email: &str| TestUser {
        subject: subject.into(),
        email: Some(email.into()),
        email_verified: false,
        name: None,
    };

    // Not even an existing account's email is trusted unverified.
    for (subject, email) in [
        ("sub-x", "admin@example.com"),
        ("sub-new", "new@example.com"),
    ] {
        provider.set_test_user(unverified(subject, email));
        refused_sign_in(&server, 403, "OIDC_EMAIL_UNVERIFIED").await;
    }
    let emails = strings(&Value::from(users(&server, &admin).await), "email");
    assert_eq!(emails, ["admin@example.com"]);
    let failures = server.audit(&admin, "login_failed").await;
    assert!(
        failures
            .iter()
            .any(|e| e["detail"]["method"] == "oidc" && e["target"] == "new@example.com"),
        "{failures:?}"
    );

    // Once the identity is linked (a verified login), it signs in whatever the email says.
    provider.set_user("sub-new", Some("new@example.com"), None);
    let (session, _) = sign_in(&server, None).await;
    let id = server.me(&session).await["user"]["id"].clone();
    provider.set_test_user(unverified("sub-new", "new@example.com"));
    let (session, _) = sign_in(&server, None).await;
    assert_eq!(server.me(&session).await["user"]["id"], id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_disabled_account_cannot_sign_in() {
    let provider = OidcTestProvider::start().await;
    provider.set_user("sub-d", Some("dora@example.com"), None);
    let server = server_with(&provider).await;
    let admin = server.first_admin().await;
    let (session, _) = sign_in(&server, None).await;
    let id = server.me(&session).await["user"]["id"].as_i64().unwrap();

    let disable = server.patch_user(&admin, id, &json!({ "disabled": true }));
    json_status(disable, 200).await;

    refused_sign_in(&server, 401, "ACCOUNT_DISABLED").await;
    // The session from before is no longer accepted either.
    let me = server.with_cookie(reqwest::Method::GET, "/auth/me", &session);
    expect_status(me, 401).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_unknown_provider_is_404_and_the_login_page_lists_the_configured_one() {
    let provider = OidcTestProvider::start().await;
    let server = server_with(&provider).await;
    let response = no_redirects()
        .get(server.url("/auth/oidc/nope/start?next=/engine/"))
        .send()
        .await
        .unwrap();
    assert!(set_cookies(&response).is_empty());
    let error = expect_error(response, 404, "OIDC_PROVIDER_NOT_FOUND").await;
    assert_mentions(&error, "nope");

    let page = server.get_text("/auth/login?next=/engine/scripts").await;
    assert!(page.contains("Sign in with Test IdP"), "{page}");
    assert!(
        page.contains("href=\"/auth/oidc/test/start?next=%2Fengine%2Fscripts\""),
        "{page}"
    );

    // A server without providers lists none.
    let plain = TestServer::start().await;
    let page = plain.get_text("/auth/login").await;
    assert!(!page.contains("/auth/oidc/"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_next_is_only_followed_to_local_paths() {
    let provider = OidcTestProvider::start().await;
    let server = server_with(&provider).await;
    // Browsers drop tabs and newlines inside URLs: `/\t/evil.example` is `//evil.example`.
    for next in [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "/a\rb",
    ] {
        let (_, target) = sign_in(&server, Some(next)).await;
        assert_eq!(target, "/engine/", "next {next:?}");
    }
    let (_, target) = sign_in(&server, Some("/engine/scripts?tab=logs")).await;
    assert_eq!(target, "/engine/scripts?tab=logs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_redirect_uri_uses_the_configured_public_url() {
    let provider = OidcTestProvider::start().await;
    let config = provider.config();
    let server = TestServer::start_with(move |c| {
        c.auth.oidc.insert("test".into(), config);
        c.auth.public_url = Some("https://kiln.example.com/".into());
    })
    .await;
    let response = no_redirects()
        .get(server.url("/auth/oidc/test/start"))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_redirection());
    let authorize = location(&response);
    assert!(authorize.starts_with(&format!("{}/authorize?", provider.issuer)));
    assert_eq!(
        query_param(&authorize, "redirect_uri").as_deref(),
        Some("https://kiln.example.com/auth/oidc/test/callback")
    );
}
