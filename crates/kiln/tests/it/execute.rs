//! One-shot WebAssembly execution over HTTP (`POST /execute`, `/api/execute`): WasmWiz's
//! multipart fields and answers, API keys and tiers, hostile modules, usage. Modules are built
//! from WAT in the test. Real C programs, the WasmWiz samples and the whole hostile set are in
//! `execute_samples` and `execute_hostile`.

use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::common::{Session, TestServer, expect_error, header, key_of, usage_totals};
use crate::wasm_fixtures::{ADD, BOMB, EXIT3, SPIN, echo, hello, module};

/// A server with an admin and an `execute` key on `tier`.
pub(crate) async fn with_key(tier: &str) -> (TestServer, Session, String) {
    let server = TestServer::start().await;
    let admin = server.first_admin().await;
    let created = server
        .create_key(
            &admin,
            json!({ "name": "wasm", "tier": tier, "scopes": ["execute"] }),
        )
        .await;
    (server, admin, key_of(&created))
}

/// POSTs `form` to `path` with API key `key`.
pub(crate) async fn run(
    server: &TestServer,
    path: &str,
    key: &str,
    form: Form,
) -> reqwest::Response {
    server
        .client
        .post(server.url(path))
        .bearer_auth(key)
        .multipart(form)
        .send()
        .await
        .expect("request")
}

/// A form with `bytes` as the module.
pub(crate) fn wasm_form(bytes: Vec<u8>) -> Form {
    Form::new().part("wasm", Part::bytes(bytes).file_name("module.wasm"))
}

/// The body of a 200 answer.
pub(crate) async fn ok_json(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    body
}

/// The body of a 422 answer (a failed execution) with `error_code` `code`.
pub(crate) async fn failed(response: reqwest::Response, code: &str) -> Value {
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error_code"], code, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_run_with_stdin_and_answer_wasmwiz_json() {
    let (server, _admin, key) = with_key("free").await;
    let response = run(
        &server,
        "/execute",
        &key,
        wasm_form(hello("Hello, World!\n")),
    )
    .await;
    assert!(header(&response, "ratelimit-limit").is_some());
    let body = ok_json(response).await;
    assert_eq!(body["output"], "Hello, World!\n");
    assert_eq!(body["error"], Value::Null);
    assert_eq!(body["exit_code"], 0);
    assert!(body["request_id"].as_str().is_some_and(|id| !id.is_empty()));
    for field in ["duration_ms", "cpu_ms", "memory_peak_bytes"] {
        assert!(body[field].is_u64(), "{field}: {body}");
    }

    // The WasmWiz field aliases, on the other path.
    let form = Form::new()
        .part("wasm_file", Part::bytes(echo()).file_name("echo.wasm"))
        .text("input_data", "echo me\n");
    let body = ok_json(run(&server, "/api/execute", &key, form).await).await;
    assert_eq!(body["output"], "echo me\n");

    let form = wasm_form(module(ADD))
        .text("function", "add")
        .text("args", "[2, 40]");
    let body = ok_json(run(&server, "/execute", &key, form).await).await;
    assert_eq!(body["result"], json!([42]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_wasmwiz_statuses() {
    let (server, admin, key) = with_key("free").await;
    let not_wasm = wasm_form(b"#!/bin/sh\necho hi\n".to_vec());
    expect_error(
        run(&server, "/execute", &key, not_wasm).await,
        400,
        "NOT_WASM",
    )
    .await;
    let missing = Form::new().text("input", "x");
    expect_error(
        run(&server, "/execute", &key, missing).await,
        400,
        "INVALID_REQUEST",
    )
    .await;
    let huge = wasm_form(vec![0; 5 * 1024 * 1024 + 1]);
    expect_error(
        run(&server, "/execute", &key, huge).await,
        413,
        "PAYLOAD_TOO_LARGE",
    )
    .await;
    let response = server
        .client
        .post(server.url("/execute"))
        .multipart(wasm_form(module(ADD)))
        .send()
        .await
        .unwrap();
    expect_error(response, 401, "API_KEY_REQUIRED").await;
    let invoke_only = key_of(
        &server
            .create_key(&admin, json!({ "name": "js", "scopes": ["invoke"] }))
            .await,
    );
    let response = run(&server, "/execute", &invoke_only, wasm_form(module(ADD))).await;
    expect_error(response, 403, "INSUFFICIENT_SCOPE").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_modules_fail_with_a_code_and_usage_is_recorded() {
    let (server, admin, key) = with_key("free").await;
    failed(
        run(&server, "/execute", &key, wasm_form(module(SPIN))).await,
        "TIME_LIMIT_EXCEEDED",
    )
    .await;
    failed(
        run(&server, "/execute", &key, wasm_form(module(BOMB))).await,
        "MEMORY_LIMIT_EXCEEDED",
    )
    .await;
    let body = failed(
        run(&server, "/execute", &key, wasm_form(module(EXIT3))).await,
        "EXIT_NONZERO",
    )
    .await;
    assert_eq!(body["exit_code"], 3);
    ok_json(run(&server, "/execute", &key, wasm_form(hello("ok"))).await).await;

    let me = server.get_with_key(&key, "/auth/me").await;
    let key_id = me["api_key"]["id"].clone();
    let totals = usage_totals(&server, &admin, &format!("key_id={key_id}"), 4).await;
    assert_eq!(totals["by_class"]["success"], 1, "{totals}");
    assert_eq!(totals["by_class"]["time_limit_exceeded"], 1, "{totals}");
    assert_eq!(totals["by_class"]["memory_limit_exceeded"], 1, "{totals}");
    assert_eq!(totals["by_class"]["execution_error"], 1, "{totals}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_execution_does_not_compile_again() {
    let (server, _admin, key) = with_key("free").await;
    let cache = |health: &Value| health["wasm_module_cache"].clone();
    let before = cache(&server.get_json("/health").await);
    for _ in 0..3 {
        ok_json(run(&server, "/execute", &key, wasm_form(hello("cached"))).await).await;
    }
    let after = cache(&server.get_json("/health").await);
    let delta = |field: &str| after[field].as_u64().unwrap() - before[field].as_u64().unwrap();
    assert_eq!(
        (delta("misses"), delta("hits")),
        (1, 2),
        "{before} -> {after}"
    );
    server.stop().await;

    // A restarted server on the same data directory loads the compiled module from disk.
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let admin = server.first_admin().await;
    let key = key_of(
        &server
            .create_key(&admin, json!({ "name": "w", "scopes": ["execute"] }))
            .await,
    );
    ok_json(run(&server, "/execute", &key, wasm_form(hello("disk"))).await).await;
    server.stop().await;
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let admin = server.login("admin@example.com").await;
    let key = key_of(
        &server
            .create_key(&admin, json!({ "name": "w2", "scopes": ["execute"] }))
            .await,
    );
    ok_json(run(&server, "/execute", &key, wasm_form(hello("disk"))).await).await;
    let stats = cache(&server.get_json("/health").await);
    assert_eq!(
        (stats["disk_hits"].as_u64(), stats["misses"].as_u64()),
        (Some(1), Some(0)),
        "{stats}"
    );
    server.stop().await;
}
