//! Stored WebAssembly modules over HTTP (`/api/modules`): upload, list (paged), show, execute
//! and delete; isolation between accounts; the errors and their codes; executions with input,
//! args, env and functions; execution statistics and usage; the compiled form reused from the
//! runtime's cache; `/api/modules` reserved for Kiln.

use reqwest::multipart::{Form, Part};
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

use crate::common::{
    Session, TestServer, assert_bearer_challenge, assert_mentions, expect_error, fails, header,
    json_status, key_of, usage_totals,
};
use crate::wasm_fixtures::{ADD, SPIN, UNKNOWN_IMPORT, args_env, echo, hello, module};

/// A server with its first admin and an `execute` key of theirs on `free`.
async fn server_with_key() -> (TestServer, Session, String) {
    let server = TestServer::start().await;
    let admin = server.first_admin().await;
    let key = key_of(
        &server
            .create_key(&admin, json!({ "name": "modules", "scopes": ["execute"] }))
            .await,
    );
    (server, admin, key)
}

/// An upload form: `wasm` and `name` (and `description` when given).
fn upload(name: &str, bytes: Vec<u8>, description: Option<&str>) -> Form {
    let form = Form::new()
        .text("name", name.to_owned())
        .part("wasm", Part::bytes(bytes).file_name("m.wasm"));
    match description {
        Some(text) => form.text("description", text.to_owned()),
        None => form,
    }
}

/// `POST /api/modules` with `key`.
fn put(server: &TestServer, key: &str, form: Form) -> RequestBuilder {
    server
        .bearer(Method::POST, "/api/modules", key)
        .multipart(form)
}

/// `POST /api/modules/{name}/execute` with `key`: a `form`, or no body at all for `None`.
fn exec(server: &TestServer, key: &str, name: &str, form: Option<Form>) -> RequestBuilder {
    let request = server.bearer(Method::POST, &format!("/api/modules/{name}/execute"), key);
    match form {
        Some(form) => request.multipart(form),
        None => request,
    }
}

/// `GET path` with `key`: status and JSON body.
async fn get(server: &TestServer, key: &str, path: &str) -> (u16, Value) {
    let response = server.bearer(Method::GET, path, key).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The module names of a list answer.
fn names(list: &Value) -> Vec<String> {
    list["modules"]
        .as_array()
        .expect("modules")
        .iter()
        .map(|m| m["name"].as_str().expect("name").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modules_round_trip_put_list_get_execute_replace_delete() {
    let (server, _admin, key) = server_with_key().await;
    let bytes = hello("Hello, stored!\n");
    let created = json_status(
        put(
            &server,
            &key,
            upload("greeter", bytes.clone(), Some("says hello")),
        ),
        201,
    )
    .await;
    assert_eq!(created["name"], "greeter");
    assert_eq!(created["description"], "says hello");
    assert_eq!(created["size_bytes"], bytes.len());
    let hash = created["hash"].as_str().expect("hash").to_owned();
    assert!(
        hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
        "{created}"
    );
    assert_eq!(created["execution_count"], 0);
    assert_eq!(created["last_executed_at"], Value::Null);
    assert_eq!(created["exports"], json!(["_start"]));
    assert!(
        created["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );

    let (status, shown) = get(&server, &key, "/api/modules/greeter").await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["hash"], hash.as_str());
    let (_, list) = get(&server, &key, "/api/modules").await;
    assert_eq!(names(&list), ["greeter"]);
    assert_eq!(list["next_cursor"], Value::Null);

    // Executing reuses the module compiled at upload: no compile, a cache hit.
    let cache = |health: &Value| health["wasm_module_cache"].clone();
    let before = cache(&server.get_json("/health").await);
    let response = exec(&server, &key, "greeter", None).send().await.unwrap();
    assert!(header(&response, "ratelimit-limit").is_some());
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["output"], "Hello, stored!\n");
    assert_eq!(body["exit_code"], 0);
    let after = cache(&server.get_json("/health").await);
    assert_eq!(after["misses"], before["misses"], "{before} -> {after}");
    assert!(
        after["hits"].as_u64() > before["hits"].as_u64(),
        "{before} -> {after}"
    );

    let (_, shown) = get(&server, &key, "/api/modules/greeter").await;
    assert_eq!(shown["execution_count"], 1);
    assert!(shown["last_executed_at"].is_string(), "{shown}");

    // Replacing keeps the identity and statistics, swaps the bytes, keeps the description.
    let replaced = json_status(
        put(&server, &key, upload("greeter", hello("v2\n"), None)),
        200,
    )
    .await;
    assert_ne!(replaced["hash"], hash.as_str());
    assert_eq!(replaced["created_at"], created["created_at"]);
    assert_eq!(replaced["execution_count"], 1);
    assert_eq!(replaced["description"], "says hello");
    let body = json_status(exec(&server, &key, "greeter", None), 200).await;
    assert_eq!(body["output"], "v2\n");

    // Pages.
    for name in ["a-first", "z-last"] {
        json_status(put(&server, &key, upload(name, hello(name), None)), 201).await;
    }
    let (_, page) = get(&server, &key, "/api/modules?limit=2").await;
    assert_eq!(names(&page), ["a-first", "greeter"]);
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let (_, page) = get(
        &server,
        &key,
        &format!("/api/modules?limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(names(&page), ["z-last"]);
    assert_eq!(page["next_cursor"], Value::Null);

    let response = server
        .bearer(Method::DELETE, "/api/modules/greeter", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    fails(
        server.bearer(Method::GET, "/api/modules/greeter", &key),
        404,
        "MODULE_NOT_FOUND",
    )
    .await;
    fails(
        exec(&server, &key, "greeter", None),
        404,
        "MODULE_NOT_FOUND",
    )
    .await;
    fails(
        server.bearer(Method::DELETE, "/api/modules/greeter", &key),
        404,
        "MODULE_NOT_FOUND",
    )
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_see_only_their_own_modules() {
    let (server, admin, admin_key) = server_with_key().await;
    let bob = server.new_account(&admin, "bob@example.com", &[]).await;
    let bob_key = key_of(
        &server
            .create_key(
                &admin,
                json!({ "name": "bob", "scopes": ["execute"], "user_id": bob.id() }),
            )
            .await,
    );
    let same = hello("same bytes\n");
    let mine = json_status(
        put(&server, &admin_key, upload("tool", same.clone(), None)),
        201,
    )
    .await;
    let theirs = json_status(put(&server, &bob_key, upload("tool", same, None)), 201).await;
    assert_eq!(mine["hash"], theirs["hash"], "same content");
    json_status(
        put(
            &server,
            &admin_key,
            upload("private", hello("admin only"), None),
        ),
        201,
    )
    .await;

    let (_, list) = get(&server, &bob_key, "/api/modules").await;
    assert_eq!(names(&list), ["tool"]);
    for request in [
        server.bearer(Method::GET, "/api/modules/private", &bob_key),
        server.bearer(Method::DELETE, "/api/modules/private", &bob_key),
        exec(&server, &bob_key, "private", None),
    ] {
        fails(request, 404, "MODULE_NOT_FOUND").await;
    }
    // Bob's executions count on Bob's module only; deleting his leaves the admin's.
    json_status(exec(&server, &bob_key, "tool", None), 200).await;
    let (_, bobs) = get(&server, &bob_key, "/api/modules/tool").await;
    let (_, admins) = get(&server, &admin_key, "/api/modules/tool").await;
    assert_eq!(
        (
            bobs["execution_count"].clone(),
            admins["execution_count"].clone()
        ),
        (json!(1), json!(0))
    );
    let response = server
        .bearer(Method::DELETE, "/api/modules/tool", &bob_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let body = json_status(exec(&server, &admin_key, "tool", None), 200).await;
    assert_eq!(body["output"], "same bytes\n");

    // A signed-in admin manages their own modules (with CSRF) and sees no one else's.
    let list = json_status(
        server.with_session(Method::GET, "/api/modules", &admin),
        200,
    )
    .await;
    assert_eq!(names(&list), ["private", "tool"]);
    let list = json_status(server.with_session(Method::GET, "/api/modules", &bob), 200).await;
    assert_eq!(names(&list), Vec::<String>::new());
    let request = server
        .cookie_only(Method::POST, "/api/modules", &bob)
        .multipart(upload("web", hello("web"), None));
    fails(request, 403, "CSRF_TOKEN_INVALID").await;
    let request = server
        .with_session(Method::POST, "/api/modules", &bob)
        .multipart(upload("web", hello("web"), None));
    json_status(request, 201).await;
    let (_, list) = get(&server, &bob_key, "/api/modules").await;
    assert_eq!(names(&list), ["web"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_and_callers_get_codes() {
    let (server, admin, key) = server_with_key().await;
    let cases: [(Form, u16, &str); 7] = [
        (
            upload("Bad Name", hello("x"), None),
            400,
            "INVALID_MODULE_NAME",
        ),
        (
            upload("-dash", hello("x"), None),
            400,
            "INVALID_MODULE_NAME",
        ),
        (
            upload("script", b"#!/bin/sh\necho hi\n".to_vec(), None),
            400,
            "NOT_WASM",
        ),
        (
            upload("broken", b"\0asm\x01\0\0\0\x01\xff".to_vec(), None),
            400,
            "INVALID_MODULE",
        ),
        (
            upload("importer", module(UNKNOWN_IMPORT), None),
            400,
            "UNSUPPORTED_IMPORT",
        ),
        // The free tier allows 5 MiB modules.
        (
            upload("huge", vec![0; 5 * 1024 * 1024 + 1], None),
            413,
            "PAYLOAD_TOO_LARGE",
        ),
        (
            Form::new().part("wasm", Part::bytes(hello("x"))),
            400,
            "INVALID_REQUEST",
        ),
    ];
    for (form, status, code) in cases {
        fails(put(&server, &key, form), status, code).await;
    }
    let error = fails(
        put(&server, &key, upload("UPPER", hello("x"), None)),
        400,
        "INVALID_MODULE_NAME",
    )
    .await;
    assert_mentions(&error, "lowercase");
    let (_, list) = get(&server, &key, "/api/modules").await;
    assert_eq!(names(&list), Vec::<String>::new(), "nothing was stored");
    fails(
        server.bearer(Method::GET, "/api/modules/Nope", &key),
        400,
        "INVALID_MODULE_NAME",
    )
    .await;

    // Callers: none, a key without a module scope, a `manage` key (no executions).
    let response = server
        .client
        .get(server.url("/api/modules"))
        .send()
        .await
        .unwrap();
    assert_bearer_challenge(&response);
    expect_error(response, 401, "UNAUTHORIZED").await;
    let invoke = key_of(
        &server
            .create_key(&admin, json!({ "name": "js", "scopes": ["invoke"] }))
            .await,
    );
    fails(
        put(&server, &invoke, upload("m", hello("x"), None)),
        403,
        "INSUFFICIENT_SCOPE",
    )
    .await;
    let manage = key_of(
        &server
            .create_key(&admin, json!({ "name": "ops", "scopes": ["manage"] }))
            .await,
    );
    json_status(
        put(&server, &manage, upload("m", hello("managed\n"), None)),
        201,
    )
    .await;
    fails(exec(&server, &manage, "m", None), 403, "INSUFFICIENT_SCOPE").await;
    let body = json_status(exec(&server, &key, "m", None), 200).await;
    assert_eq!(body["output"], "managed\n");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_modules_run_with_input_args_env_and_functions() {
    let (server, _admin, key) = server_with_key().await;
    for (name, bytes) in [
        ("echo", echo()),
        ("args-env", args_env()),
        ("add", module(ADD)),
        ("spin", module(SPIN)),
    ] {
        json_status(put(&server, &key, upload(name, bytes, None)), 201).await;
    }
    let body = json_status(
        exec(
            &server,
            &key,
            "echo",
            Some(Form::new().text("input", "piped input\n")),
        ),
        200,
    )
    .await;
    assert_eq!(body["output"], "piped input\n");

    let form = Form::new()
        .text("args", r#"["first", "second arg"]"#)
        .text("env", r#"{"MODE": "fast"}"#);
    let body = json_status(exec(&server, &key, "args-env", Some(form)), 200).await;
    let output = body["output"].as_str().unwrap().replace('\0', "|");
    assert!(
        output.ends_with("|first|second arg|MODE=fast|"),
        "{output:?}"
    );

    let form = Form::new().text("function", "add").text("args", "[2, 40]");
    let body = json_status(exec(&server, &key, "add", Some(form)), 200).await;
    assert_eq!(body["result"], json!([42]));

    let body = json_status(exec(&server, &key, "spin", None), 422).await;
    assert_eq!(body["error_code"], "TIME_LIMIT_EXCEEDED");
    let (_, spin) = get(&server, &key, "/api/modules/spin").await;
    assert_eq!(
        spin["execution_count"], 1,
        "a failed run is still an execution"
    );

    // A stored module runs by name only.
    let form = Form::new().part("wasm", Part::bytes(hello("x")));
    let error = fails(
        exec(&server, &key, "echo", Some(form)),
        400,
        "INVALID_REQUEST",
    )
    .await;
    assert_mentions(&error, "wasm");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_executions_are_recorded_in_usage() {
    let (server, admin, key) = server_with_key().await;
    let bytes = echo();
    json_status(put(&server, &key, upload("echo", bytes.clone(), None)), 201).await;
    for input in ["one", "three"] {
        json_status(
            exec(
                &server,
                &key,
                "echo",
                Some(Form::new().text("input", input)),
            ),
            200,
        )
        .await;
    }
    fails(
        exec(&server, &key, "missing", None),
        404,
        "MODULE_NOT_FOUND",
    )
    .await;

    let me = server.get_with_key(&key, "/auth/me").await;
    let key_id = me["api_key"]["id"].clone();
    let totals = usage_totals(&server, &admin, &format!("key_id={key_id}"), 3).await;
    assert_eq!(totals["by_class"]["success"], 2, "{totals}");
    assert_eq!(totals["by_class"]["validation_error"], 1, "{totals}");
    let (status, usage) = crate::common::usage(&server, &admin, &format!("key_id={key_id}")).await;
    assert_eq!(status, 200);
    let sum = |field: &str| -> i64 {
        usage["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b[field].as_i64().unwrap())
            .sum()
    };
    assert_eq!(sum("module_bytes"), 2 * bytes.len() as i64, "{usage}");
    assert_eq!(
        sum("input_bytes"),
        ("one".len() + "three".len()) as i64,
        "{usage}"
    );
    let peak = usage["buckets"][0]["max_memory_peak_bytes"]
        .as_i64()
        .unwrap();
    assert!(peak >= 65_536, "one page at least: {usage}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_modules_paths_are_reserved_for_kiln() {
    let server = TestServer::start().await;
    for path in ["/api/modules", "/api/modules/x", "/api/modules/x/execute"] {
        let source = format!(
            "export function init() {{ registerWebHandler('GET', '{path}', () => 'mine'); }}"
        );
        let response = server.deploy("squatter", &[("main.js", &source)]).await;
        let error = expect_error(response, 409, "ROUTE_CONFLICT").await;
        assert_mentions(&error, "reserved");
    }
    // The rest of `/api` stays free for scripts.
    server
        .deploy_js(
            "things",
            "export function init() { registerWebHandler('GET', '/api/things', () => 'things'); }",
        )
        .await;
    assert_eq!(server.get_text("/api/things").await, "things");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_on_another_instance_apply_within_a_second() {
    // Two servers on one database: B caches which module a name stands for when it runs it;
    // the module is replaced and then deleted through A.
    let dir = tempfile::tempdir().expect("tempdir");
    let a = TestServer::start_in(dir.path(), |_| {}).await;
    let b = TestServer::start_in(dir.path(), |_| {}).await;
    let admin = a.first_admin().await;
    // A tier that lets the polling below run without being rate limited.
    let tier = json!({
        "rate_per_minute": 0, "quota_per_day": 0, "cpu_ms": 1000, "memory_mb": 64,
        "max_wasm_bytes": 1024 * 1024, "max_input_bytes": 1024 * 1024, "max_concurrent": 10,
    });
    let request = a.with_session(Method::PUT, "/engine/api/tiers/polling", &admin);
    json_status(request.json(&tier), 200).await;
    let key = key_of(
        &a.create_key(
            &admin,
            json!({ "name": "modules", "tier": "polling", "scopes": ["execute"] }),
        )
        .await,
    );
    let stored = put(&a, &key, upload("greeter", hello("first"), None))
        .send()
        .await;
    assert_eq!(stored.unwrap().status(), 201);
    let run_on_b = || async {
        let response = exec(&b, &key, "greeter", None).send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        (
            status,
            body["output"].as_str().unwrap_or_default().to_owned(),
        )
    };
    assert_eq!(run_on_b().await, (200, "first".to_owned()));

    // The replacement made on A reaches B (its cached lookup lives 500 ms).
    let replaced = put(&a, &key, upload("greeter", hello("second"), None))
        .send()
        .await;
    assert_eq!(replaced.unwrap().status(), 200);
    let mut seen = run_on_b().await;
    for _ in 0..100 {
        if seen.1 == "second" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        seen = run_on_b().await;
    }
    assert_eq!(seen, (200, "second".to_owned()));
    // On A itself the change applied at once.
    let on_a = exec(&a, &key, "greeter", None).send().await.unwrap();
    assert_eq!(on_a.json::<Value>().await.unwrap()["output"], "second");

    // So does the deletion.
    let deleted = a
        .bearer(Method::DELETE, "/api/modules/greeter", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let mut seen = run_on_b().await;
    for _ in 0..100 {
        if seen.0 == 404 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        seen = run_on_b().await;
    }
    assert_eq!(seen.0, 404, "{seen:?}");
    a.stop().await;
    b.stop().await;
}
