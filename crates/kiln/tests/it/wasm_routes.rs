//! WebAssembly routes (`registerWasmHandler`) over HTTP: bundles with `.wasm` files deployed
//! through the API (`content_base64`), requests as CGI environment + stdin, stdout parsed as a
//! CGI response, guest failures as JSON errors in the script's log, deploy-time validation, and
//! the same admission and metering as JavaScript routes. Modules are built from WAT.

use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{
    Session, TestServer, assert_mentions, expect_error, header, json_status, key_of, no_redirects,
    usage_totals,
};

/// Writes `Content-Type: text/plain`, then every environment variable (`NAME=value` lines),
/// then `--stdin--`, then stdin.
const CGI_ECHO: &str = r#"(module
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 4)
  (data (i32.const 0) "Content-Type: text/plain\n\n")
  (data (i32.const 32) "--stdin--\n")
  ;; 64: iovec, 72: bytes written/read, 80: env count, 84: env bytes,
  ;; 1024: env pointers, 16384: env strings, 131072: stdin buffer.
  (func $write (param $ptr i32) (param $len i32)
    (i32.store (i32.const 64) (local.get $ptr))
    (i32.store (i32.const 68) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 64) (i32.const 1) (i32.const 72))))
  (func (export "_start")
    (local $p i32) (local $end i32)
    (call $write (i32.const 0) (i32.const 26))
    (drop (call $sizes (i32.const 80) (i32.const 84)))
    (drop (call $environ (i32.const 1024) (i32.const 16384)))
    (local.set $p (i32.const 16384))
    (local.set $end (i32.add (i32.const 16384) (i32.load (i32.const 84))))
    (block $done
      (loop $scan
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (if (i32.eqz (i32.load8_u (local.get $p)))
          (then (i32.store8 (local.get $p) (i32.const 10))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $scan)))
    (call $write (i32.const 16384) (i32.load (i32.const 84)))
    (call $write (i32.const 32) (i32.const 10))
    (loop $more
      (i32.store (i32.const 64) (i32.const 131072))
      (i32.store (i32.const 68) (i32.const 65536))
      (drop (call $read (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 72)))
      (if (i32.gt_u (i32.load (i32.const 72)) (i32.const 0))
        (then
          (call $write (i32.const 131072) (i32.load (i32.const 72)))
          (br $more))))))"#;

const TRAP: &str = r#"(module (func (export "_start") unreachable))"#;
const SPIN: &str = r#"(module (func (export "_start") (loop $l (br $l))))"#;
const BOMB: &str = r#"(module (memory 1) (func (export "_start")
  (loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) unreachable))"#;
const EXIT3: &str = r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $exit (i32.const 3))))"#;
const REACTOR: &str = r#"(module (func (export "add") (param i32 i32) (result i32)
  (i32.add (local.get 0) (local.get 1))))"#;

/// A command that writes `text` to stdout and `note` to stderr.
fn prints(text: &str, note: &str) -> Vec<u8> {
    let hex = |s: &str| -> String { s.bytes().map(|b| format!("\\{b:02x}")).collect() };
    wat::parse_str(format!(
        r#"(module
          (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 2)
          (data (i32.const 1024) "{text}")
          (data (i32.const 65536) "{note}")
          (func (export "_start")
            (i32.store (i32.const 0) (i32.const 1024))
            (i32.store (i32.const 4) (i32.const {text_len}))
            (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 32)))
            (i32.store (i32.const 0) (i32.const 65536))
            (i32.store (i32.const 4) (i32.const {note_len}))
            (drop (call $w (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 32)))))"#,
        text = hex(text),
        note = hex(note),
        text_len = text.len(),
        note_len = note.len(),
    ))
    .expect("wat")
}

fn module(wat: &str) -> Vec<u8> {
    wat::parse_str(wat).expect("wat")
}

/// Deploys `main.js` plus binary files as script `name`; returns the raw response.
async fn deploy_bundle(
    server: &TestServer,
    name: &str,
    main: &str,
    binaries: &[(&str, Vec<u8>)],
) -> reqwest::Response {
    let mut files = vec![json!({ "path": "main.js", "content": main })];
    for (path, bytes) in binaries {
        files.push(json!({
            "path": path,
            "content_base64": base64::engine::general_purpose::STANDARD.encode(bytes),
        }));
    }
    server
        .api_post(
            &format!("/scripts/{name}/versions"),
            &json!({ "files": files }),
        )
        .await
}

async fn deploy_bundle_ok(
    server: &TestServer,
    name: &str,
    main: &str,
    binaries: &[(&str, Vec<u8>)],
) {
    let response = deploy_bundle(server, name, main, binaries).await;
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 201, "deploy of {name}: {body}");
}

/// The `NAME=value` lines and the stdin of a [`CGI_ECHO`] answer.
fn parse_echo(text: &str) -> (Vec<(String, String)>, String) {
    let (env, stdin) = text.split_once("--stdin--\n").expect("echo output");
    let vars = env
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    (vars, stdin.to_owned())
}

fn var<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// A server whose scripts get a generous time budget (debug builds on a loaded machine), except
/// script `tight`.
async fn server() -> TestServer {
    TestServer::start_with(|config| {
        config.limits.cpu_ms = 5000;
        let mut tight = kiln::config::ScriptConfig::default();
        tight.limits.cpu_ms = Some(200);
        tight.limits.memory_mb = Some(16);
        config.scripts.insert("tight".into(), tight);
    })
    .await
}

const APP: &str = r#"
export function init() {
  registerWasmHandler("GET", "/cgi/echo/:id", "./handlers/echo.wasm");
  registerWasmHandler("POST", "/cgi/echo", "handlers/echo.wasm");
  registerWasmHandler("ANY", "/mount/*", "handlers/echo.wasm");
  registerWasmHandler("GET", "/cgi/status", "status.wasm");
  registerWasmHandler("GET", "/cgi/redirect", "redirect.wasm");
  registerWasmHandler("GET", "/cgi/invalid", "invalid.wasm");
  registerWasmHandler("GET", "/cgi/trap", "trap.wasm");
  registerWasmHandler("GET", "/cgi/exit", "exit3.wasm");
  registerWebHandler("GET", "/cgi/js", () => "from js");
}"#;

fn app_modules() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("handlers/echo.wasm", module(CGI_ECHO)),
        (
            "status.wasm",
            prints(
                "Status: 404 Not Found\r\nContent-Type: text/plain\r\nX-Custom: yes\r\n\
                 Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 999\r\n\r\nnot here",
                "looked everywhere\n",
            ),
        ),
        ("redirect.wasm", prints("Location: /cgi/js\n\n", "")),
        (
            "invalid.wasm",
            prints("Content-Type: text/plain\nFoo\n\nbody", ""),
        ),
        ("trap.wasm", module(TRAP)),
        ("exit3.wasm", module(EXIT3)),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_reach_the_module_as_cgi_environment_and_stdin() {
    let server = server().await;
    deploy_bundle_ok(&server, "app", APP, &app_modules()).await;

    // GET with a query string, a route parameter and headers.
    let response = server
        .client
        .get(server.url("/cgi/echo/42?x=1&y=two"))
        .header("x-custom-thing", "hello")
        .header("x_custom_thing", "forged")
        .header("proxy", "http://evil.example")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), Some("text/plain"));
    let request_id = header(&response, "x-request-id").expect("id").to_owned();
    let (env, stdin) = parse_echo(&response.text().await.expect("text"));
    for (name, value) in [
        ("GATEWAY_INTERFACE", "CGI/1.1"),
        ("REQUEST_METHOD", "GET"),
        ("SCRIPT_NAME", ""),
        ("PATH_INFO", "/cgi/echo/42"),
        ("QUERY_STRING", "x=1&y=two"),
        ("REQUEST_URI", "/cgi/echo/42?x=1&y=two"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("SERVER_NAME", "127.0.0.1"),
        ("REMOTE_ADDR", "127.0.0.1"),
        ("HTTP_X_CUSTOM_THING", "hello"),
        ("KILN_PARAM_ID", "42"),
        ("KILN_ROUTE", "GET /cgi/echo/:id"),
        ("KILN_SCRIPT", "app"),
        ("KILN_REQUEST_ID", request_id.as_str()),
    ] {
        assert_eq!(var(&env, name), Some(value), "{name}: {env:?}");
    }
    let port = server.base.rsplit(':').next().expect("port");
    assert_eq!(var(&env, "SERVER_PORT"), Some(port));
    for absent in ["CONTENT_LENGTH", "HTTP_PROXY", "AUTH_TYPE", "REMOTE_USER"] {
        assert_eq!(var(&env, absent), None, "{absent}: {env:?}");
    }
    assert!(
        !env.iter().any(|(_, v)| v == "forged"),
        "underscore header reached the module: {env:?}"
    );
    // Nothing of the server's own environment.
    assert!(var(&env, "PATH").is_none() && var(&env, "HOME").is_none());
    assert_eq!(stdin, "");

    // POST with a body: stdin, CONTENT_TYPE, CONTENT_LENGTH.
    let response = server
        .client
        .post(server.url("/cgi/echo"))
        .header("content-type", "application/json")
        .body(r#"{"hello":"wasm"}"#)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let (env, stdin) = parse_echo(&response.text().await.expect("text"));
    assert_eq!(stdin, r#"{"hello":"wasm"}"#);
    assert_eq!(var(&env, "REQUEST_METHOD"), Some("POST"));
    assert_eq!(var(&env, "CONTENT_TYPE"), Some("application/json"));
    assert_eq!(var(&env, "CONTENT_LENGTH"), Some("16"));
    assert_eq!(var(&env, "HTTP_CONTENT_TYPE"), None);

    // A wildcard route is the module's mount point: SCRIPT_NAME + PATH_INFO.
    let response = server
        .client
        .delete(server.url("/mount/docs/a%20b"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let (env, _) = parse_echo(&response.text().await.expect("text"));
    assert_eq!(var(&env, "REQUEST_METHOD"), Some("DELETE"));
    assert_eq!(var(&env, "SCRIPT_NAME"), Some("/mount"));
    assert_eq!(var(&env, "PATH_INFO"), Some("/docs/a b"));
    assert_eq!(var(&env, "KILN_WILDCARD"), Some("docs/a%20b"));

    // HEAD falls back to the GET route; the body is not sent.
    let response = server
        .client
        .head(server.url("/cgi/echo/7"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("text"), "");

    // JavaScript routes of the same script are unaffected.
    assert_eq!(server.get_text("/cgi/js").await, "from js");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cgi_output_sets_status_and_headers_and_bad_output_is_a_502_naming_the_problem() {
    let server = server().await;
    deploy_bundle_ok(&server, "app", APP, &app_modules()).await;

    let response = server.get("/cgi/status").await;
    assert_eq!(response.status(), 404);
    assert_eq!(header(&response, "x-custom"), Some("yes"));
    assert_eq!(header(&response, "content-type"), Some("text/plain"));
    let cookies: Vec<&str> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ascii"))
        .collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    // Kiln's own Content-Length, not the module's.
    assert_eq!(header(&response, "content-length"), Some("8"));
    assert!(header(&response, "x-request-id").is_some());
    // The module's 404 is its answer, not rewritten into Kiln's error JSON.
    assert_eq!(response.text().await.expect("text"), "not here");
    // Its stderr went to the script's log.
    let lines = server.wait_for_log("app", "looked everywhere").await;
    assert_eq!(lines[0]["level"], "info", "{lines:?}");

    let response = no_redirects()
        .get(server.url("/cgi/redirect"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 302);
    assert_eq!(header(&response, "location"), Some("/cgi/js"));

    let error = expect_error(server.get("/cgi/invalid").await, 502, "WASM_BAD_GATEWAY").await;
    assert_mentions(
        &error,
        "line 2: 'Foo' is not a header (expected 'Name: value')",
    );
    assert_mentions(&error, "invalid.wasm");
    server
        .wait_for_log("app", "line 2: 'Foo' is not a header")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_failures_are_json_errors_logged_to_the_script() {
    let server = server().await;
    deploy_bundle_ok(&server, "app", APP, &app_modules()).await;

    let error = expect_error(server.get("/cgi/trap").await, 502, "WASM_TRAP").await;
    assert_mentions(&error, "trap.wasm");
    let lines = server.wait_for_log("app", "trapped:").await;
    assert_eq!(lines[0]["level"], "error");
    assert!(
        lines[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("unreachable")),
        "{lines:?}"
    );
    assert!(
        lines[0]["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );

    let error = expect_error(server.get("/cgi/exit").await, 502, "WASM_EXIT_NONZERO").await;
    assert_mentions(&error, "exited with code 3");

    // The time and memory limits of script `tight` (200 ms, 16 MiB).
    let tight = r#"export function init() {
      registerWasmHandler("GET", "/tight/spin", "spin.wasm");
      registerWasmHandler("GET", "/tight/bomb", "bomb.wasm");
    }"#;
    deploy_bundle_ok(
        &server,
        "tight",
        tight,
        &[("spin.wasm", module(SPIN)), ("bomb.wasm", module(BOMB))],
    )
    .await;
    let started = std::time::Instant::now();
    let error = expect_error(server.get("/tight/spin").await, 504, "SCRIPT_TIMEOUT").await;
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
    assert_mentions(&error, "200 ms");
    server.wait_for_log("tight", "time budget").await;
    let error = expect_error(server.get("/tight/bomb").await, 503, "SCRIPT_MEMORY_LIMIT").await;
    assert_mentions(&error, "16 MiB");
    // The server still serves.
    assert_eq!(server.get_text("/cgi/js").await, "from js");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploys_reject_invalid_missing_and_non_command_modules_naming_the_file() {
    let server = server().await;
    let one_route = |file: &str| {
        format!(r#"export function init() {{ registerWasmHandler("GET", "/w", "{file}"); }}"#)
    };

    // An invalid module anywhere in the bundle, used or not.
    let response = deploy_bundle(
        &server,
        "broken",
        &one_route("ok.wasm"),
        &[
            ("ok.wasm", module(TRAP)),
            ("lib/bad.wasm", b"\0asm\x01\0\0\0\x7f".to_vec()),
        ],
    )
    .await;
    let error = expect_error(response, 400, "DEPLOY_REJECTED").await;
    assert_mentions(&error, "lib/bad.wasm");
    assert_mentions(&error, "invalid WebAssembly module");

    let response = deploy_bundle(
        &server,
        "broken",
        &one_route("text.wasm"),
        &[("text.wasm", b"hello".to_vec())],
    )
    .await;
    let error = expect_error(response, 400, "DEPLOY_REJECTED").await;
    assert_mentions(&error, "'text.wasm': not a WebAssembly module");

    // A route naming a file the bundle does not have, at init() time.
    let response = deploy_bundle(
        &server,
        "broken",
        &one_route("./missing.wasm"),
        &[("other.wasm", module(TRAP))],
    )
    .await;
    let error = expect_error(response, 400, "DEPLOY_REJECTED").await;
    assert_mentions(
        &error,
        "the module './missing.wasm' is not in the script bundle",
    );

    // Paths that leave the bundle or are not modules.
    for (file, needle) in [
        ("../x.wasm", "leaves the script bundle"),
        ("main.js", "is not a .wasm file"),
    ] {
        let response = deploy_bundle(&server, "broken", &one_route(file), &[]).await;
        let error = expect_error(response, 400, "DEPLOY_REJECTED").await;
        assert_mentions(&error, needle);
    }

    // A route needs a command (`_start`); a reactor may still ship in the bundle.
    let response = deploy_bundle(
        &server,
        "broken",
        &one_route("lib.wasm"),
        &[("lib.wasm", module(REACTOR))],
    )
    .await;
    let error = expect_error(response, 400, "DEPLOY_REJECTED").await;
    assert_mentions(&error, "'lib.wasm' exports no `_start` function");

    // Nothing was deployed; a JS route and an unused reactor are fine.
    expect_error(server.get("/w").await, 404, "ROUTE_NOT_FOUND").await;
    deploy_bundle_ok(
        &server,
        "fine",
        r#"export function init() { registerWebHandler("GET", "/w", () => "js"); }"#,
        &[("lib.wasm", module(REACTOR))],
    )
    .await;
    assert_eq!(server.get_text("/w").await, "js");

    // A WebAssembly route colliding with another script's route is a conflict like any other.
    let response = deploy_bundle(
        &server,
        "clash",
        &one_route("ok.wasm"),
        &[("ok.wasm", module(TRAP))],
    )
    .await;
    let error = expect_error(response, 409, "ROUTE_CONFLICT").await;
    assert_mentions(&error, "script 'fine'");
}

/// Creates or replaces tier `name` as `admin`.
async fn put_tier(server: &TestServer, admin: &Session, name: &str, cpu_ms: u64) {
    let body = json!({
        "rate_per_minute": 100,
        "quota_per_day": 1000,
        "cpu_ms": cpu_ms,
        "memory_mb": 64,
        "max_wasm_bytes": 5_242_880,
        "max_input_bytes": 1_048_576,
        "max_concurrent": 10,
    });
    let path = format!("/engine/api/tiers/{name}");
    json_status(
        server.with_session(Method::PUT, &path, admin).json(&body),
        200,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_routes_are_admitted_metered_and_recorded_like_javascript_routes() {
    let server = server().await;
    let main = r#"export function init() {
      registerWasmHandler("POST", "/keyed/echo", "echo.wasm", { auth: "apiKey" });
      registerWasmHandler("GET", "/keyed/spin", "spin.wasm", { auth: "apiKey" });
      registerWasmHandler("GET", "/signed-in", "echo.wasm", { auth: "user" });
    }"#;
    deploy_bundle_ok(
        &server,
        "keyed",
        main,
        &[("echo.wasm", module(CGI_ECHO)), ("spin.wasm", module(SPIN))],
    )
    .await;
    // (Deployed with the bootstrap token, which retires once an admin exists.)
    let admin = server.first_admin().await;
    put_tier(&server, &admin, "quick", 150).await;
    let created = server
        .create_key(
            &admin,
            json!({ "name": "cgi", "tier": "quick", "scopes": ["invoke"] }),
        )
        .await;
    let key = key_of(&created);
    let key_id = created["id"].as_i64().expect("id");

    // No key: refused before the module runs.
    let response = server
        .client
        .post(server.url("/keyed/echo"))
        .body("x")
        .send()
        .await
        .expect("request");
    expect_error(response, 401, "API_KEY_REQUIRED").await;

    let response = server
        .bearer(Method::POST, "/keyed/echo", &key)
        .body("metered body")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "ratelimit-limit"), Some("100"));
    let text = response.text().await.expect("text");
    let (env, stdin) = parse_echo(&text);
    assert_eq!(stdin, "metered body");
    assert_eq!(var(&env, "AUTH_TYPE"), Some("Bearer"));
    assert_eq!(var(&env, "KILN_API_KEY_TIER"), Some("quick"));
    assert_eq!(
        var(&env, "KILN_API_KEY_ID"),
        Some(key_id.to_string().as_str())
    );
    assert!(var(&env, "REMOTE_USER").is_some_and(|u| u.contains('@')));
    assert_eq!(var(&env, "HTTP_AUTHORIZATION"), None);
    assert!(!text.contains(&key), "the API key reached the module");

    // The tier's CPU budget (150 ms) is tighter than the script's (5 s).
    let response = server
        .bearer(Method::GET, "/keyed/spin", &key)
        .send()
        .await
        .expect("request");
    assert!(header(&response, "ratelimit-remaining").is_some());
    let error = expect_error(response, 504, "SCRIPT_TIMEOUT").await;
    assert_mentions(&error, "150 ms");

    let sum = usage_totals(&server, &admin, &format!("key_id={key_id}"), 2).await;
    assert_eq!(
        sum["by_class"],
        json!({"success": 1, "time_limit_exceeded": 1}),
        "{sum}"
    );
    assert_eq!(sum["bytes_in"], "metered body".len(), "{sum}");
    assert!(sum["bytes_out"].as_i64().unwrap() > 100, "{sum}");
    assert!(sum["cpu_ms"].as_i64().unwrap() >= 150, "{sum}");
    let per_script = usage_totals(&server, &admin, "script=keyed", 2).await;
    assert_eq!(per_script["requests"], 2);

    // A signed-in user reaches an `auth: "user"` route; the cookie does not.
    let response = server
        .with_session(Method::GET, "/signed-in", &admin)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let (env, _) = parse_echo(&response.text().await.expect("text"));
    assert_eq!(var(&env, "AUTH_TYPE"), Some("Cookie"));
    assert_eq!(
        var(&env, "KILN_USER_ID"),
        Some(admin.id().to_string().as_str())
    );
    assert!(var(&env, "KILN_USER_ROLES").is_some_and(|r| r.contains("admin")));
    assert_eq!(var(&env, "HTTP_COOKIE"), None);
    assert!(!env.iter().any(|(_, v)| v.contains("kiln_session")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webassembly_routes_survive_a_restart_and_follow_rollbacks() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let main = r#"export function init() { registerWasmHandler("GET", "/v", "v.wasm"); }"#;
    let v = |n: u8| {
        vec![(
            "v.wasm",
            prints(&format!("Content-Type: text/plain\n\nv{n}"), ""),
        )]
    };
    deploy_bundle_ok(&server, "versions", main, &v(1)).await;
    deploy_bundle_ok(&server, "versions", main, &v(2)).await;
    assert_eq!(server.get_text("/v").await, "v2");
    server
        .api_post("/scripts/versions/rollback", &json!({"version": 1}))
        .await;
    assert_eq!(server.get_text("/v").await, "v1");
    server.stop().await;

    let server = TestServer::start_in(dir.path(), |_| {}).await;
    assert_eq!(server.get_text("/v").await, "v1");
    server.stop().await;
}
