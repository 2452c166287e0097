//! The real `kiln` binary: `serve` with zero configuration, the printed admin token,
//! `deploy`, `rollback`, `scripts`, `logs`, `config check`, graceful shutdown on SIGTERM, and
//! the identity commands (`users create-admin` against the server's database, then `users`,
//! `keys`, `usage` and `tiers` with an API key), `kiln modules` (in `cli/modules.rs`) and
//! `kiln secrets` with `deploy --var` (in `cli/secrets.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

#[path = "cli/modules.rs"]
mod modules;
#[path = "cli/secrets.rs"]
mod secrets;

const KILN: &str = env!("CARGO_BIN_EXE_kiln");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

struct Server {
    child: Child,
    base: String,
    token: String,
}

impl Server {
    /// Starts `kiln serve` in `dir` without any configuration except the port; reads the
    /// generated admin token from its stderr (empty when an admin account already exists, as
    /// no token is generated then).
    fn start(dir: &Path) -> Server {
        let port = free_port();
        let mut child = Command::new(KILN)
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--log-format",
                "json",
            ])
            .current_dir(dir)
            .env_remove("KILN_ADMIN_TOKEN")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kiln serve");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(token) = line
                    .split_whitespace()
                    .find(|w| w.starts_with("kiln_admin_"))
                {
                    let _ = tx.send(token.to_owned());
                }
            }
        });
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while http_get(&format!("{base}/health/ready")).is_none_or(|(status, _)| status != 200) {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "kiln serve did not become ready"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // The token is printed before the server listens; none is printed once an admin
        // account exists.
        let token = rx.recv_timeout(Duration::from_secs(2)).unwrap_or_default();
        Server { child, base, token }
    }

    fn kiln(&self, args: &[&str]) -> Output {
        self.kiln_as(&self.token, args)
    }

    /// Runs a remote command with `token` as `KILN_TOKEN`.
    fn kiln_as(&self, token: &str, args: &[&str]) -> Output {
        Command::new(KILN)
            .args(args)
            .args(["--server", &self.base])
            .env("KILN_TOKEN", token)
            .output()
            .expect("run kiln")
    }

    fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "kiln did not shut down on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    /// A failing test must not leave a server running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A tiny blocking HTTP/1.0 GET (keeps the test free of async plumbing).
fn http_get(url: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}")))?;
    let mut stream = std::net::TcpStream::connect(host).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "kiln failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn serve_deploy_rollback_logs_and_shutdown_with_the_real_binary() {
    let work = tempfile::tempdir().expect("tmp");
    let server = Server::start(work.path());
    // Zero configuration: everything lives in ./kiln-data.
    assert!(work.path().join("kiln-data/kiln.db").exists());

    let app = work.path().join("app");
    std::fs::create_dir_all(app.join("lib")).expect("mkdir");
    std::fs::write(
        app.join("main.ts"),
        "import { shout } from './lib/shout';\nexport function init(): void {\n  registerWebHandler('GET', '/cli/:word', (req: Request, ctx: any) => {\n    console.log('shouting', ctx.params.word);\n    return shout(ctx.params.word);\n  });\n}\n",
    )
    .expect("write");
    std::fs::write(
        app.join("lib/shout.ts"),
        "export const shout = (s: string): string => s.toUpperCase() + '!';\n",
    )
    .expect("write");
    let out = stdout(&server.kiln(&["deploy", app.to_str().expect("path"), "--name", "cli-app"]));
    assert!(out.contains("v1"), "{out}");
    assert_eq!(
        http_get(&format!("{}/cli/hey", server.base)),
        Some((200, "HEY!".into()))
    );

    std::fs::write(
        app.join("lib/shout.ts"),
        "export const shout = (s: string): string => s + '?';\n",
    )
    .expect("write");
    let out = stdout(&server.kiln(&["deploy", app.to_str().expect("path"), "--name", "cli-app"]));
    assert!(out.contains("v2"), "{out}");
    assert_eq!(
        http_get(&format!("{}/cli/hey", server.base)),
        Some((200, "hey?".into()))
    );

    stdout(&server.kiln(&["rollback", "cli-app", "1"]));
    assert_eq!(
        http_get(&format!("{}/cli/hey", server.base)),
        Some((200, "HEY!".into()))
    );

    let out = stdout(&server.kiln(&["scripts"]));
    assert!(out.contains("cli-app"), "{out}");

    let mut logs = String::new();
    for _ in 0..50 {
        logs = stdout(&server.kiln(&["logs", "cli-app"]));
        if logs.contains("shouting hey") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(logs.contains("shouting hey"), "{logs}");

    // A bad deploy is refused with the file and line, and the CLI exits non-zero.
    std::fs::write(app.join("main.ts"), "export function init( {\n").expect("write");
    let out = server.kiln(&["deploy", app.to_str().expect("path"), "--name", "cli-app"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("main.ts:"), "{stderr}");

    // A wrong token is refused.
    let out = Command::new(KILN)
        .args(["scripts", "--server", &server.base])
        .env("KILN_TOKEN", "not-the-token-at-all")
        .output()
        .expect("run");
    assert!(!out.status.success());

    let status = server.stop();
    assert!(status.success(), "kiln exited with {status} after SIGTERM");

    // Restart: the token is not printed again, the scripts are back.
    let port = free_port();
    let mut child = Command::new(KILN)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(work.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let started = Instant::now();
    let mut answer = None;
    while started.elapsed() < Duration::from_secs(30) {
        answer = http_get(&format!("http://127.0.0.1:{port}/cli/hey"));
        if answer.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(answer, Some((200, "HEY!".into())));
}

/// Runs `kiln config check` on a file with `contents` (and extra environment); returns
/// whether it succeeded and everything it printed.
fn config_check(contents: &str, env: &[(&str, &str)]) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("kiln.toml");
    std::fs::write(&config, contents).expect("write");
    let out = Command::new(KILN)
        .args([
            "config",
            "check",
            "--config",
            config.to_str().expect("path"),
        ])
        .envs(env.iter().copied())
        .output()
        .expect("run");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn config_check_names_the_bad_key() {
    let (ok, text) = config_check("[limits]\ncpu_ms = 0\n", &[]);
    assert!(!ok && text.contains("limits.cpu_ms"), "{text}");

    let (ok, text) = config_check("listen = \"127.0.0.1:9999\"\nunknown_key = 1\n", &[]);
    assert!(!ok && text.contains("unknown_key"), "{text}");

    let (ok, text) = config_check(
        "listen = \"127.0.0.1:9999\"\n[limits]\ncpu_ms = 20\n",
        &[("KILN_LIMITS__WALL_MS", "1234")],
    );
    assert!(ok, "{text}");
    assert!(
        text.contains("cpu_ms = 20") && text.contains("wall_ms = 1234"),
        "{text}"
    );
}

/// An HTTP answer: status, headers (lowercase names) and body.
struct HttpAnswer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl HttpAnswer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// A tiny blocking HTTP/1.0 request with extra headers and an optional JSON body.
fn http(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> HttpAnswer {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_once('/').expect("URL with a path");
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut request = format!("{method} /{path} HTTP/1.0\r\nHost: {host}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body.unwrap_or(""));
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let (head, body) = response.split_once("\r\n\r\n").expect("a full answer");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    HttpAnswer {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// Runs `kiln users create-admin EMAIL --data-dir DATA` with `KILN_ADMIN_PASSWORD=password`.
fn create_admin(data_dir: &Path, email: &str, password: &str) -> Output {
    Command::new(KILN)
        .args([
            "users",
            "create-admin",
            email,
            "--data-dir",
            data_dir.to_str().expect("path"),
        ])
        .env("KILN_ADMIN_PASSWORD", password)
        .stdin(Stdio::null())
        .output()
        .expect("run kiln")
}

/// Everything a failed command printed, after checking it failed.
fn failure(output: &Output) -> String {
    assert!(
        !output.status.success(),
        "kiln succeeded: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Signs in with a password; returns the session cookie (`kiln_session=…`) and CSRF token.
fn login(base: &str, email: &str, password: &str) -> (String, String) {
    let body = serde_json::json!({ "email": email, "password": password }).to_string();
    let answer = http("POST", &format!("{base}/auth/login"), &[], Some(&body));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let csrf = answer.json()["csrf_token"]
        .as_str()
        .expect("csrf_token")
        .to_owned();
    let cookie = answer
        .headers
        .iter()
        .filter(|(n, _)| n == "set-cookie")
        .filter_map(|(_, v)| v.split(';').next())
        .find(|c| c.starts_with("kiln_session="))
        .expect("a kiln_session cookie")
        .to_owned();
    (cookie, csrf)
}

/// The key `kiln keys create` printed: the one line that is only a full key.
fn printed_key(out: &str) -> String {
    let keys: Vec<&str> = out
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("kiln_") && l.len() == "kiln_".len() + 48)
        .collect();
    assert_eq!(keys.len(), 1, "the key is printed exactly once: {out}");
    assert_eq!(out.matches(keys[0]).count(), 1, "{out}");
    keys[0].to_owned()
}

/// `GET /auth/me` with a bearer key: status and body.
fn me(base: &str, key: &str) -> HttpAnswer {
    let auth = format!("Bearer {key}");
    http(
        "GET",
        &format!("{base}/auth/me"),
        &[("Authorization", &auth)],
        None,
    )
}

#[test]
fn identity_commands_with_the_real_binary() {
    let work = tempfile::tempdir().expect("tmp");
    let server = Server::start(work.path());
    let data = work.path().join("kiln-data");

    // While no admin exists the bootstrap token manages users.
    let out = stdout(&server.kiln(&["users", "list"]));
    assert!(out.starts_with("ID  EMAIL"), "{out}");
    let out = stdout(&server.kiln(&["tiers"]));
    for tier in ["free", "basic", "pro"] {
        assert!(out.contains(tier), "{out}");
    }

    // create-admin writes into the running server's database; the policy is explained.
    let err = failure(&create_admin(&data, "root@example.com", "short"));
    assert!(err.contains("between 10 and 1024 characters"), "{err}");
    let err = failure(&create_admin(&data, "not-an-email", "long enough password"));
    assert!(err.contains("not an email address"), "{err}");
    let out = stdout(&create_admin(
        &data,
        "Root@Example.com",
        "root password 123",
    ));
    assert!(
        out.contains("Created the admin account root@example.com"),
        "{out}"
    );

    // The bootstrap token is retired; the admin signs in and makes a `manage` key over HTTP.
    let err = failure(&server.kiln(&["users", "list"]));
    assert!(err.contains("BOOTSTRAP_TOKEN_RETIRED"), "{err}");
    let (cookie, csrf) = login(&server.base, "root@example.com", "root password 123");
    let created = http(
        "POST",
        &format!("{}/engine/api/keys", server.base),
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        Some(r#"{"name":"cli","scopes":["manage"]}"#),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let admin_key = created.json()["key"].as_str().expect("key").to_owned();
    let kiln = |args: &[&str]| server.kiln_as(&admin_key, args);

    // users create / list / grant / revoke / allow-tiers / disable / enable.
    let out = stdout(
        &Command::new(KILN)
            .args(["users", "create", "bob@example.com", "--role", "editor"])
            .args(["--password-env", "BOB_PASSWORD", "--name", "Bob"])
            .args(["--server", &server.base])
            .env("KILN_TOKEN", &admin_key)
            .env("BOB_PASSWORD", "bob password 123")
            .output()
            .expect("run kiln"),
    );
    assert!(
        out.contains("created user") && out.contains("bob@example.com"),
        "{out}"
    );
    login(&server.base, "bob@example.com", "bob password 123");
    let out = stdout(&kiln(&["users", "list"]));
    assert!(
        out.contains("root@example.com") && out.contains("bob@example.com"),
        "{out}"
    );
    let out = stdout(&kiln(&["users", "grant", "bob@example.com", "admin"]));
    assert!(out.contains("roles now: admin, editor"), "{out}");
    let out = stdout(&kiln(&["users", "revoke", "BOB@example.com", "admin"]));
    assert!(out.contains("roles now: editor"), "{out}");
    let out = stdout(&kiln(&[
        "users",
        "allow-tiers",
        "bob@example.com",
        "free",
        "basic",
    ]));
    assert!(out.contains("may create API keys on: basic, free"), "{out}");

    // Unknown users and keys: a non-zero exit and a message that says so.
    let err = failure(&kiln(&["users", "grant", "nobody@example.com", "editor"]));
    assert!(
        err.contains("there is no user with the email nobody@example.com"),
        "{err}"
    );
    let err = failure(&kiln(&["users", "disable", "9999"]));
    assert!(err.contains("USER_NOT_FOUND"), "{err}");
    let err = failure(&kiln(&["keys", "revoke", "9999"]));
    assert!(err.contains("KEY_NOT_FOUND"), "{err}");
    let err = failure(&kiln(&["keys", "create", "--name", "x", "--tier", "gold"]));
    assert!(err.contains("TIER_NOT_FOUND"), "{err}");

    // keys create prints the key once; it works until it is revoked.
    let out = stdout(&kiln(&[
        "keys",
        "create",
        "--name",
        "bob-ci",
        "--user",
        "bob@example.com",
        "--tier",
        "basic",
        "--expires-in",
        "1d",
    ]));
    let bob_key = printed_key(&out);
    assert!(out.contains("tier:    basic"), "{out}");
    let answer = me(&server.base, &bob_key);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["user"]["email"], "bob@example.com");
    let key_id = answer.json()["api_key"]["id"].as_i64().expect("key id");
    let prefix = &bob_key[.."kiln_".len() + 8];
    assert!(out.contains(prefix), "{out}");

    let listed = stdout(&kiln(&["keys", "list", "--all"]));
    assert!(
        listed.contains("bob-ci") && listed.contains("cli"),
        "{listed}"
    );
    assert!(
        !listed.contains(&bob_key),
        "keys are never listed: {listed}"
    );
    let mine = stdout(&kiln(&["keys", "list"]));
    assert!(
        !mine.contains("bob-ci"),
        "only the admin's own keys: {mine}"
    );
    let bobs = stdout(&kiln(&["keys", "list", "--user", "bob@example.com"]));
    assert!(bobs.contains("bob-ci") && !bobs.contains(" cli "), "{bobs}");

    // A key without `manage` cannot use the management API.
    let err = failure(&server.kiln_as(&bob_key, &["users", "list"]));
    assert!(err.contains("manage"), "{err}");

    let out = stdout(&kiln(&["keys", "set-tier", &key_id.to_string(), "pro"]));
    assert!(out.contains("now on the pro tier"), "{out}");

    // Usage: raw JSON and the table.
    let out = stdout(&kiln(&["usage", "--json", "--key", &key_id.to_string()]));
    let usage: serde_json::Value = serde_json::from_str(&out).expect("usage JSON");
    assert!(usage["buckets"].is_array(), "{usage}");
    assert_eq!(usage["period"], "hour");
    assert_eq!(usage["filters"]["key_id"], key_id);
    let out = stdout(&kiln(&[
        "usage",
        "--period",
        "day",
        "--user",
        "bob@example.com",
    ]));
    assert!(out.starts_with("usage per day from "), "{out}");

    let out = stdout(&kiln(&["keys", "revoke", &key_id.to_string()]));
    assert!(out.contains("revoked API key"), "{out}");
    let answer = me(&server.base, &bob_key);
    assert_eq!(answer.status, 401, "{}", answer.body);
    assert!(answer.body.contains("API_KEY_REVOKED"), "{}", answer.body);
    let listed = stdout(&kiln(&["keys", "list", "--all"]));
    assert!(listed.contains("revoked"), "{listed}");

    // Disabling ends the account's access; enabling restores it.
    stdout(&kiln(&["users", "disable", "bob@example.com"]));
    let body = r#"{"email":"bob@example.com","password":"bob password 123"}"#;
    let answer = http(
        "POST",
        &format!("{}/auth/login", server.base),
        &[],
        Some(body),
    );
    assert_ne!(answer.status, 200, "{}", answer.body);
    stdout(&kiln(&["users", "enable", "bob@example.com"]));

    // create-admin on an existing account promotes it and replaces its password.
    let out = stdout(&create_admin(&data, "bob@example.com", "new bob password"));
    assert!(
        out.contains("already existed: granted it the admin role, set its password"),
        "{out}"
    );
    login(&server.base, "bob@example.com", "new bob password");
    let out = stdout(&kiln(&["users", "list"]));
    let bob_row = out
        .lines()
        .find(|l| l.contains("bob@example.com"))
        .expect("bob listed");
    assert!(bob_row.contains("admin,editor"), "{out}");
}

#[test]
fn create_admin_works_before_the_server_ever_ran() {
    let work = tempfile::tempdir().expect("tmp");
    let config = work.path().join("kiln.toml");
    std::fs::write(&config, "data_dir = \"state\"\n").expect("write");
    let out = stdout(
        &Command::new(KILN)
            .args(["users", "create-admin", "first@example.com"])
            .args(["--config", config.to_str().expect("path")])
            .current_dir(work.path())
            .env("KILN_ADMIN_PASSWORD", "first admin password")
            .stdin(Stdio::null())
            .output()
            .expect("run kiln"),
    );
    assert!(
        out.contains("Created the admin account first@example.com"),
        "{out}"
    );
    assert!(work.path().join("state/kiln.db").exists());

    // Without the variable and without a terminal there is nothing to read a password from.
    let err = failure(
        &Command::new(KILN)
            .args(["users", "create-admin", "second@example.com"])
            .args(["--config", config.to_str().expect("path")])
            .current_dir(work.path())
            .env_remove("KILN_ADMIN_PASSWORD")
            .stdin(Stdio::null())
            .output()
            .expect("run kiln"),
    );
    assert!(err.contains("KILN_ADMIN_PASSWORD"), "{err}");

    // The server started later (it reads ./kiln.toml) knows the account.
    let server = Server::start(work.path());
    assert!(
        server.token.is_empty(),
        "no bootstrap token once an admin exists"
    );
    login(&server.base, "first@example.com", "first admin password");
    drop(server);

    // A broken configuration is a configuration error (exit code 2), as for `kiln serve`.
    let bad = work.path().join("bad.toml");
    std::fs::write(&bad, "nonsense_key = 1\n").expect("write");
    let out = Command::new(KILN)
        .args(["users", "create-admin", "x@example.com"])
        .args(["--config", bad.to_str().expect("path")])
        .env("KILN_ADMIN_PASSWORD", "first admin password")
        .output()
        .expect("run kiln");
    assert_eq!(out.status.code(), Some(2), "{}", failure(&out));
}

#[test]
fn exec_runs_a_module_locally_and_mirrors_its_exit_code() {
    let work = tempfile::tempdir().expect("tmp");
    let write = |name: &str, wat: &str| {
        let path = work.path().join(name);
        std::fs::write(&path, wat::parse_str(wat).expect("wat")).expect("write");
        path
    };
    let echo = write(
        "echo.wasm",
        r#"(module
          (import "wasi_snapshot_preview1" "fd_read" (func $r (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (func (export "_start")
            (i32.store (i32.const 0) (i32.const 1024))
            (i32.store (i32.const 4) (i32.const 4096))
            (drop (call $r (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
            (i32.store (i32.const 4) (i32.load (i32.const 8)))
            (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 12)))))"#,
    );
    let input = work.path().join("in.txt");
    std::fs::write(&input, "hello from a file").expect("write");
    let out = Command::new(KILN)
        .args([
            "exec",
            echo.to_str().expect("path"),
            "--input",
            input.to_str().expect("path"),
        ])
        .output()
        .expect("run kiln");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from a file");

    let exit3 = write(
        "exit3.wasm",
        r#"(module (import "wasi_snapshot_preview1" "proc_exit" (func $e (param i32)))
          (memory (export "memory") 1) (func (export "_start") (call $e (i32.const 3))))"#,
    );
    let out = Command::new(KILN)
        .args(["exec", exit3.to_str().expect("path")])
        .output()
        .expect("run kiln");
    assert_eq!(out.status.code(), Some(3), "{out:?}");

    let add = write(
        "add.wasm",
        r#"(module (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1))))"#,
    );
    let out = Command::new(KILN)
        .args([
            "exec",
            add.to_str().expect("path"),
            "--function",
            "add",
            "--arg",
            "2",
            "--arg",
            "40",
        ])
        .output()
        .expect("run kiln");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[42]");

    let spin = write(
        "spin.wasm",
        r#"(module (func (export "_start") (loop $l (br $l))))"#,
    );
    let out = Command::new(KILN)
        .args(["exec", spin.to_str().expect("path"), "--time-ms", "200"])
        .output()
        .expect("run kiln");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("TIME_LIMIT_EXCEEDED"),
        "{out:?}"
    );

    let not_wasm = work.path().join("x.wasm");
    std::fs::write(&not_wasm, "#!/bin/sh").expect("write");
    let out = Command::new(KILN)
        .args(["exec", not_wasm.to_str().expect("path")])
        .output()
        .expect("run kiln");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a WebAssembly module"),
        "{out:?}"
    );
}
