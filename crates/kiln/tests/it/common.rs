//! Shared test helpers: [`TestServer`] runs `kiln::server::run` in-process on a free port
//! with its own data directory and admin token; requests carrying one kind of credential (a
//! bearer token, a session cookie with or without its CSRF token) and checks of their answers;
//! accounts, sessions, API keys and deploys made through the management API.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use kiln::config::Config;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// The admin token every test server uses.
pub const TOKEN: &str = "test-admin-token-0123456789";

pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    /// A server with default settings and a fresh data directory.
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// A server whose config `tweak` may adjust (limits, workers…).
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let mut server = Self::start_in(&dir, tweak).await;
        server._tmp = Some(tmp);
        server
    }

    /// A server on an existing data directory (for restart tests).
    pub async fn start_in(data_dir: &Path, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = Config {
            data_dir: data_dir.to_path_buf(),
            admin_token: Some(TOKEN.to_string()),
            ..Config::default()
        };
        config.engine.workers = 2;
        tweak(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(kiln::server::run(config, listener, async move {
            let _ = rx.await;
        }));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        let server = TestServer {
            base,
            client,
            data_dir: data_dir.to_path_buf(),
            _tmp: None,
            shutdown: Some(tx),
            task: Some(task),
        };
        for _ in 0..200 {
            if let Ok(r) = server.client.get(server.url("/health/live")).send().await
                && r.status().is_success()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("test server did not start");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// GET `path` with one extra request header; returns the raw response.
    pub async fn get_with_header(&self, path: &str, name: &str, value: &str) -> Response {
        let request = self.client.get(self.url(path)).header(name, value);
        request.send().await.expect("request")
    }

    /// A CORS preflight from `origin` for `method` on `path`, asking for `content-type`.
    pub async fn preflight(&self, origin: &str, method: &str, path: &str) -> Response {
        self.client
            .request(Method::OPTIONS, self.url(path))
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", "content-type")
            .send()
            .await
            .expect("preflight")
    }

    /// Deploys `files` as script `name`; returns the raw response.
    pub async fn deploy(&self, name: &str, files: &[(&str, &str)]) -> Response {
        let files: Vec<Value> = files
            .iter()
            .map(|(path, content)| json!({"path": path, "content": content}))
            .collect();
        self.api_post(
            &format!("/scripts/{name}/versions"),
            &json!({ "files": files }),
        )
        .await
    }

    /// Deploys and asserts success; returns the response body.
    pub async fn deploy_ok(&self, name: &str, files: &[(&str, &str)]) -> Value {
        let response = self.deploy(name, files).await;
        let status = response.status();
        let body: Value = response.json().await.expect("json body");
        assert_eq!(status, 201, "deploy of {name} failed: {body}");
        body
    }

    /// Deploys a single `main.js`.
    pub async fn deploy_js(&self, name: &str, source: &str) -> Value {
        self.deploy_ok(name, &[("main.js", source)]).await
    }

    pub async fn api_post(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(&format!("/engine/api{path}")))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn api_get(&self, path: &str) -> Response {
        self.client
            .get(self.url(&format!("/engine/api{path}")))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("request")
    }

    pub async fn api_json(&self, path: &str) -> Value {
        let response = self.api_get(path).await;
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.json().await.expect("json")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// GET `path`, asserting 200, returning the body text.
    pub async fn get_text(&self, path: &str) -> String {
        let response = self.get(path).await;
        let status = response.status();
        let text = response.text().await.expect("text");
        assert_eq!(status, 200, "GET {path}: {text}");
        text
    }

    /// POST `body` as JSON to `path`, asserting 200, returning the answer as JSON.
    pub async fn post_json(&self, path: &str, body: Value) -> Value {
        let response = self
            .client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "POST {path}");
        response.json().await.expect("json")
    }

    /// GET `path`, asserting 200, returning the body as JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        let text = self.get_text(path).await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {text}"))
    }

    /// Waits until the script's log has a line containing `needle`; returns the matching lines.
    pub async fn wait_for_log(&self, script: &str, needle: &str) -> Vec<Value> {
        for _ in 0..100 {
            let body = self
                .api_json(&format!("/scripts/{script}/logs?limit=1000"))
                .await;
            let lines: Vec<Value> = body["logs"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|l| l["message"].as_str().is_some_and(|m| m.contains(needle)))
                .collect();
            if !lines.is_empty() {
                return lines;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let body = self
            .api_json(&format!("/scripts/{script}/logs?limit=1000"))
            .await;
        panic!("no log line containing {needle:?} in script {script}: {body}");
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("join").expect("server result");
        }
    }
}

/// Asserts the standard error shape and returns the error object.
pub async fn expect_error(response: Response, status: u16, code: &str) -> Value {
    let actual = response.status().as_u16();
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = response.text().await.expect("body");
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("error body is not JSON: {text}"));
    assert_eq!(actual, status, "unexpected status; body: {text}");
    assert_eq!(body["error"]["code"], code, "unexpected code; body: {text}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{text}"
    );
    let id = body["error"]["request_id"].as_str().unwrap_or_default();
    assert!(!id.is_empty(), "error has no request id: {text}");
    assert_eq!(
        Some(id.to_owned()),
        request_id,
        "request id in body and header differ"
    );
    body["error"].clone()
}

// ---------------------------------------------------------------------------------------------
// Sending requests and checking the answers.

/// Sends `request` and asserts `status`; returns the response (for its headers or body).
pub async fn expect_status(request: RequestBuilder, status: u16) -> Response {
    let response = request.send().await.expect("request");
    let actual = response.status().as_u16();
    if actual != status {
        let text = response.text().await.unwrap_or_default();
        panic!("unexpected status {actual} (wanted {status}); body: {text}");
    }
    response
}

/// Sends `request`, asserts `status`, returns the JSON body.
pub async fn json_status(request: RequestBuilder, status: u16) -> Value {
    let response = expect_status(request, status).await;
    let text = response.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Sends `request` and checks it fails with `status` / `code` (see [`expect_error`]).
pub async fn fails(request: RequestBuilder, status: u16, code: &str) -> Value {
    expect_error(request.send().await.expect("request"), status, code).await
}

/// Sends `request` and checks it is refused with 403 `FORBIDDEN`.
pub async fn forbidden(request: RequestBuilder) -> Value {
    fails(request, 403, "FORBIDDEN").await
}

/// A response header as text, if present.
pub fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

/// A response header as a number (panics when missing or not a number).
pub fn header_u64(response: &Response, name: &str) -> u64 {
    header(response, name)
        .unwrap_or_else(|| panic!("no {name} header; headers: {:?}", response.headers()))
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not a number"))
}

/// Asserts that a 401 carries the `WWW-Authenticate: Bearer` challenge.
pub fn assert_bearer_challenge(response: &Response) {
    assert_eq!(header(response, "www-authenticate"), Some("Bearer"));
}

/// Asserts that an error object's message mentions `needle`.
pub fn assert_mentions(error: &Value, needle: &str) {
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(needle),
        "{needle:?} not mentioned: {error}"
    );
}

/// The string `field` of every element of the JSON array `list`.
pub fn strings(list: &Value, field: &str) -> Vec<String> {
    let items = list
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"));
    items
        .iter()
        .map(|item| item[field].as_str().expect("a string").to_owned())
        .collect()
}

/// A client that does not follow redirects (every hop is checked).
pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

// ---------------------------------------------------------------------------------------------
// Accounts, sessions and keys.

/// A password every test account uses.
pub const PASSWORD: &str = "correct horse battery staple";

/// A script exposing who called it on routes with each kind of requirement.
pub const WHOAMI: &str = r#"
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

/// A signed-in browser: the session cookie and its CSRF token.
#[derive(Clone, Debug)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
    pub user: Value,
}

impl Session {
    /// The session a JSON sign-in answer started; asserts it succeeded.
    pub async fn from_login(response: Response) -> Session {
        let cookie = find_cookie(&response, "kiln_session");
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        assert_eq!(status, 200, "login: {body}");
        Session {
            cookie: cookie.expect("session cookie").0,
            csrf: body["csrf_token"].as_str().expect("csrf").to_owned(),
            user: body["user"].clone(),
        }
    }

    /// The signed-in account's id.
    pub fn id(&self) -> i64 {
        self.user["id"].as_i64().expect("user id")
    }
}

/// The `name=value` pairs of a response's `Set-Cookie` headers, by name.
pub fn set_cookies(response: &Response) -> Vec<(String, String, String)> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|raw| {
            let (pair, _) = raw.split_once(';').unwrap_or((raw, ""));
            let (name, value) = pair.split_once('=')?;
            Some((
                name.trim().to_owned(),
                value.trim().to_owned(),
                raw.to_owned(),
            ))
        })
        .collect()
}

/// The value and the whole `Set-Cookie` header of cookie `name`, if `response` sets it.
pub fn find_cookie(response: &Response, name: &str) -> Option<(String, String)> {
    set_cookies(response)
        .into_iter()
        .find(|(n, _, _)| n == name)
        .map(|(_, value, raw)| (value, raw))
}

/// The secret of a key creation answer.
pub fn key_of(created: &Value) -> String {
    created["key"].as_str().expect("key").to_owned()
}

impl TestServer {
    /// A request carrying a bearer token.
    pub fn bearer(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(token)
    }

    /// A request carrying the session cookie `token` and nothing else.
    pub fn with_cookie(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("cookie", format!("kiln_session={token}"))
    }

    /// A request carrying only the session cookie (no CSRF token).
    pub fn cookie_only(&self, method: Method, path: &str, session: &Session) -> RequestBuilder {
        self.with_cookie(method, path, &session.cookie)
    }

    /// A request carrying the session cookie and CSRF token.
    pub fn with_session(&self, method: Method, path: &str, session: &Session) -> RequestBuilder {
        self.cookie_only(method, path, session)
            .header("x-csrf-token", &session.csrf)
    }

    /// GET `path` as `session`, asserting 200; returns the JSON body.
    pub async fn get_as(&self, session: &Session, path: &str) -> Value {
        json_status(self.with_session(Method::GET, path, session), 200).await
    }

    /// GET `path` with `session`'s cookie alone (a browser following a link); asserts 200,
    /// returns the JSON body.
    pub async fn browse(&self, session: &Session, path: &str) -> Value {
        json_status(self.cookie_only(Method::GET, path, session), 200).await
    }

    /// GET `path` with API key `key`; asserts 200, returns the JSON body.
    pub async fn get_with_key(&self, key: &str, path: &str) -> Value {
        json_status(self.bearer(Method::GET, path, key), 200).await
    }

    /// `GET /auth/me` with the session cookie `token` alone; asserts 200.
    pub async fn me(&self, token: &str) -> Value {
        json_status(self.with_cookie(Method::GET, "/auth/me", token), 200).await
    }

    /// The audit events of `action`, newest first, as `admin` sees them.
    pub async fn audit(&self, admin: &Session, action: &str) -> Vec<Value> {
        let body = self
            .get_as(admin, &format!("/engine/api/audit?action={action}"))
            .await;
        body["events"].as_array().expect("events").clone()
    }

    /// A JSON sign-in attempt (not sent).
    pub fn login_request(&self, email: &str, password: &str) -> RequestBuilder {
        self.client
            .post(self.url("/auth/login"))
            .json(&json!({ "email": email, "password": password }))
    }

    /// Signs in with the test password; asserts success.
    pub async fn login(&self, email: &str) -> Session {
        let response = self.login_request(email, PASSWORD).send().await;
        Session::from_login(response.expect("request")).await
    }

    /// Creates an account through the management API with the bootstrap token (only works
    /// while no admin exists) or an API key; returns the user JSON.
    pub async fn create_user_with(&self, token: &str, email: &str, roles: &[&str]) -> Value {
        let request = self.bearer(Method::POST, "/engine/api/users", token);
        create_user(request, email, roles).await
    }

    /// Creates an account as `admin` (a signed-in admin); returns the user JSON.
    pub async fn add_user(&self, admin: &Session, email: &str, roles: &[&str]) -> Value {
        let request = self.with_session(Method::POST, "/engine/api/users", admin);
        create_user(request, email, roles).await
    }

    /// Creates an account as `admin` and signs it in; returns the new account's session.
    pub async fn new_account(&self, admin: &Session, email: &str, roles: &[&str]) -> Session {
        self.add_user(admin, email, roles).await;
        self.login(email).await
    }

    /// Creates `admin@example.com` with the bootstrap token, which then retires; returns the
    /// user JSON.
    pub async fn create_first_admin(&self) -> Value {
        self.create_user_with(TOKEN, "admin@example.com", &["admin"])
            .await
    }

    /// An admin and their session: created with the bootstrap token, which then retires.
    pub async fn first_admin(&self) -> Session {
        self.create_first_admin().await;
        self.login("admin@example.com").await
    }

    /// The first admin, signed in, with [`WHOAMI`] deployed as `who`.
    pub async fn first_admin_with_whoami(&self) -> Session {
        let admin = self.first_admin().await;
        self.deploy_ok_as(&admin, "who", WHOAMI).await;
        admin
    }

    /// Two signed-in editors, `a@example.com` and `b@example.com`, created by `admin`.
    pub async fn two_editors(&self, admin: &Session) -> (Session, Session) {
        let a = self.new_account(admin, "a@example.com", &["editor"]).await;
        let b = self.new_account(admin, "b@example.com", &["editor"]).await;
        (a, b)
    }

    /// A `PATCH` of account `id` with `body`, as `by` (not sent).
    pub fn patch_user(&self, by: &Session, id: i64, body: &Value) -> RequestBuilder {
        self.with_session(Method::PATCH, &format!("/engine/api/users/{id}"), by)
            .json(body)
    }

    /// Creates an API key as `session`; returns the creation response (with `key`).
    pub async fn create_key(&self, session: &Session, body: Value) -> Value {
        let request = self.with_session(Method::POST, "/engine/api/keys", session);
        json_status(request.json(&body), 201).await
    }

    /// Creates an API key as `session`; returns its secret.
    pub async fn mint_key(&self, session: &Session, body: Value) -> String {
        key_of(&self.create_key(session, body).await)
    }

    /// A deploy of a single `main.js` as `session` (not sent).
    pub fn deploy_request_as(&self, session: &Session, name: &str, source: &str) -> RequestBuilder {
        let path = format!("/engine/api/scripts/{name}/versions");
        self.with_session(Method::POST, &path, session)
            .json(&json!({ "files": [{ "path": "main.js", "content": source }] }))
    }

    /// Deploys a single `main.js` as `session`; returns the raw response.
    pub async fn deploy_as(&self, session: &Session, name: &str, source: &str) -> Response {
        let request = self.deploy_request_as(session, name, source);
        request.send().await.expect("request")
    }

    /// Deploys a single `main.js` as `session`; asserts success and returns the body.
    pub async fn deploy_ok_as(&self, session: &Session, name: &str, source: &str) -> Value {
        json_status(self.deploy_request_as(session, name, source), 201).await
    }
}

/// Sends an account creation with the test password; asserts it succeeded.
async fn create_user(request: RequestBuilder, email: &str, roles: &[&str]) -> Value {
    let body = json!({ "email": email, "password": PASSWORD, "roles": roles });
    json_status(request.json(&body), 201).await
}

// ---------------------------------------------------------------------------------------------
// Usage.

/// Usage summed over every bucket of `GET /engine/api/usage?{query}` as `session`.
pub async fn usage(
    server: &TestServer,
    session: &Session,
    query: &str,
) -> (reqwest::StatusCode, Value) {
    let response = server
        .with_session(Method::GET, &format!("/engine/api/usage?{query}"), session)
        .send()
        .await
        .expect("request");
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    (status, body)
}

/// Totals of a usage answer: the numeric fields and `by_class` summed over buckets.
pub fn totals(body: &Value) -> Value {
    let mut sum = json!({
        "requests": 0, "errors": 0, "rate_limited": 0, "cpu_ms": 0, "duration_ms": 0,
        "bytes_in": 0, "bytes_out": 0, "by_class": {},
    });
    for bucket in body["buckets"].as_array().expect("buckets") {
        for field in [
            "requests",
            "errors",
            "rate_limited",
            "cpu_ms",
            "duration_ms",
            "bytes_in",
            "bytes_out",
        ] {
            sum[field] = json!(sum[field].as_i64().unwrap() + bucket[field].as_i64().unwrap());
        }
        for (class, count) in bucket["by_class"].as_object().expect("by_class") {
            let before = sum["by_class"][class].as_i64().unwrap_or(0);
            sum["by_class"][class] = json!(before + count.as_i64().unwrap());
        }
    }
    sum
}

/// Polls usage until `requests` reaches `expected` (the batch writer is asynchronous).
pub async fn usage_totals(
    server: &TestServer,
    session: &Session,
    query: &str,
    expected: i64,
) -> Value {
    let mut last = Value::Null;
    for _ in 0..100 {
        let (status, body) = usage(server, session, query).await;
        assert_eq!(status, 200, "usage?{query}: {body}");
        last = totals(&body);
        if last["requests"].as_i64() == Some(expected) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("usage?{query} never reached {expected} requests: {last}");
}

/// For hand-written upstreams on a raw socket: reads until the end of a request's head;
/// false when the client went away first.
pub async fn read_request_head(socket: &mut tokio::net::TcpStream) -> bool {
    use tokio::io::AsyncReadExt as _;
    let mut buf = [0u8; 4096];
    let mut seen = Vec::new();
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    true
}

/// Waits until the client closes `socket` (or it fails), discarding what it sends.
pub async fn wait_for_close(socket: &mut tokio::net::TcpStream) {
    use tokio::io::AsyncReadExt as _;
    let mut buf = [0u8; 4096];
    while !matches!(socket.read(&mut buf).await, Ok(0) | Err(_)) {}
}
