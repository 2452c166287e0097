//! Shared test helpers: [`TestServer`] runs `kiln::server::run` in-process on a free port
//! with its own data directory and admin token.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use kiln::config::Config;
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

    /// Deploys `files` as script `name`; returns the raw response.
    pub async fn deploy(&self, name: &str, files: &[(&str, &str)]) -> reqwest::Response {
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

    pub async fn api_post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/engine/api{path}")))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn api_get(&self, path: &str) -> reqwest::Response {
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

    pub async fn get(&self, path: &str) -> reqwest::Response {
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
pub async fn expect_error(response: reqwest::Response, status: u16, code: &str) -> Value {
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

/// A password every test account uses.
pub const PASSWORD: &str = "correct horse battery staple";

/// A signed-in browser: the session cookie and its CSRF token.
#[derive(Clone, Debug)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
    pub user: Value,
}

/// The `name=value` pairs of a response's `Set-Cookie` headers, by name.
pub fn set_cookies(response: &reqwest::Response) -> Vec<(String, String, String)> {
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

impl TestServer {
    /// Creates an account through the management API with the bootstrap token (only works
    /// while no admin exists) or with `as_key`; returns the user JSON.
    pub async fn create_user_with(&self, token: &str, email: &str, roles: &[&str]) -> Value {
        let response = self
            .client
            .post(self.url("/engine/api/users"))
            .bearer_auth(token)
            .json(&json!({ "email": email, "password": PASSWORD, "roles": roles }))
            .send()
            .await
            .expect("request");
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        assert_eq!(status, 201, "creating {email}: {body}");
        body
    }

    /// Signs in with the test password; asserts success.
    pub async fn login(&self, email: &str) -> Session {
        let response = self
            .client
            .post(self.url("/auth/login"))
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await
            .expect("request");
        let cookies = set_cookies(&response);
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        assert_eq!(status, 200, "login {email}: {body}");
        let cookie = cookies
            .iter()
            .find(|(name, _, _)| name == "kiln_session")
            .map(|(_, value, _)| value.clone())
            .expect("session cookie");
        Session {
            cookie,
            csrf: body["csrf_token"].as_str().expect("csrf").to_owned(),
            user: body["user"].clone(),
        }
    }

    /// An admin and their session: created with the bootstrap token, which then retires.
    pub async fn first_admin(&self) -> Session {
        self.create_user_with(TOKEN, "admin@example.com", &["admin"])
            .await;
        self.login("admin@example.com").await
    }

    /// A request carrying the session cookie and CSRF token.
    pub fn with_session(
        &self,
        method: reqwest::Method,
        path: &str,
        session: &Session,
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("cookie", format!("kiln_session={}", session.cookie))
            .header("x-csrf-token", &session.csrf)
    }

    /// Creates an API key as `session`; returns the creation response (with `key`).
    pub async fn create_key(&self, session: &Session, body: Value) -> Value {
        let response = self
            .with_session(reqwest::Method::POST, "/engine/api/keys", session)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = response.status();
        let created: Value = response.json().await.expect("json");
        assert_eq!(status, 201, "creating a key: {created}");
        created
    }

    /// Deploys a single `main.js` as `session`; returns the raw response.
    pub async fn deploy_as(
        &self,
        session: &Session,
        name: &str,
        source: &str,
    ) -> reqwest::Response {
        self.with_session(
            reqwest::Method::POST,
            &format!("/engine/api/scripts/{name}/versions"),
            session,
        )
        .json(&json!({ "files": [{ "path": "main.js", "content": source }] }))
        .send()
        .await
        .expect("request")
    }
}
