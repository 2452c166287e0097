//! Deploys, versions, rollback, atomicity, collisions and restart persistence.

use serde_json::json;

use crate::common::{TestServer, expect_error};

const HELLO_V1: &str = r#"
export function init() {
  registerWebHandler("GET", "/hello/:name", (req, ctx) => `hello ${ctx.params.name} v1`);
}"#;
const HELLO_V2: &str = r#"
export function init() {
  registerWebHandler("GET", "/hello/:name", (req, ctx) => `hello ${ctx.params.name} v2`);
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_creates_numbered_versions_served_immediately_on_every_worker() {
    let server = TestServer::start().await;
    let body = server.deploy_js("hello", HELLO_V1).await;
    assert_eq!(body["version"], 1);
    assert_eq!(body["active"], true);
    assert_eq!(
        body["routes"],
        json!([{"method": "GET", "path": "/hello/:name"}])
    );
    // Several requests so that both workers answer.
    for _ in 0..6 {
        assert_eq!(server.get_text("/hello/kiln").await, "hello kiln v1");
    }
    let body = server.deploy_js("hello", HELLO_V2).await;
    assert_eq!(body["version"], 2);
    for _ in 0..6 {
        assert_eq!(server.get_text("/hello/kiln").await, "hello kiln v2");
    }
    let versions = server.api_json("/scripts/hello/versions").await;
    let list = versions["versions"].as_array().expect("versions");
    assert_eq!(list.len(), 2);
    assert_eq!(list[1]["active"], true);
    let v1 = server.api_json("/scripts/hello/versions/1").await;
    assert_eq!(v1["files"][0]["path"], "main.js");
    assert_eq!(v1["files"][0]["content"], HELLO_V1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_switches_the_active_version() {
    let server = TestServer::start().await;
    server.deploy_js("hello", HELLO_V1).await;
    server.deploy_js("hello", HELLO_V2).await;
    let response = server
        .api_post("/scripts/hello/rollback", &json!({"version": 1}))
        .await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["active_version"], 1);
    for _ in 0..4 {
        assert_eq!(server.get_text("/hello/a").await, "hello a v1");
    }
    let script = server.api_json("/scripts/hello").await;
    assert_eq!(script["active_version"], 1);
    assert_eq!(script["latest_version"], 2);
    // A missing version is a 404, and nothing changes.
    let response = server
        .api_post("/scripts/hello/rollback", &json!({"version": 9}))
        .await;
    expect_error(response, 404, "VERSION_NOT_FOUND").await;
    assert_eq!(server.get_text("/hello/a").await, "hello a v1");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_deploy_is_rejected_and_the_old_version_keeps_serving() {
    let server = TestServer::start().await;
    server.deploy_js("hello", HELLO_V1).await;
    let cases: [(&str, &str, &str); 4] = [
        (
            "main.js",
            "export function init() { throw new Error('boom in init'); }",
            "boom in init",
        ),
        (
            "main.js",
            "export function init() {\n  registerWebHandler('GET', '/x', () => 1;\n}",
            "main.js:2",
        ),
        (
            "main.js",
            "export function init() { while (true) {} }",
            "CPU budget",
        ),
        ("main.js", "export const x = 1;", "init"),
    ];
    for (path, source, needle) in cases {
        let response = server.deploy("hello", &[(path, source)]).await;
        let error = expect_error(response, 400, "DEPLOY_REJECTED").await;
        let message = error["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(needle),
            "expected {needle:?} in {message:?}"
        );
        assert_eq!(server.get_text("/hello/x").await, "hello x v1");
    }
    // Nothing was committed for the failed deploys.
    let versions = server.api_json("/scripts/hello/versions").await;
    assert_eq!(versions["versions"].as_array().map(Vec::len), Some(1));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_script_claiming_a_route_is_rejected_naming_the_owner() {
    let server = TestServer::start().await;
    server.deploy_js("first", HELLO_V1).await;
    let response = server
        .deploy(
            "second",
            &[(
                "main.js",
                "export function init() { registerWebHandler('GET', '/hello/:who', () => 'x'); }",
            )],
        )
        .await;
    let error = expect_error(response, 409, "ROUTE_CONFLICT").await;
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("'first'"),
        "{error}"
    );
    assert_eq!(server.get_text("/hello/y").await, "hello y v1");
    // Reserved paths are rejected too.
    let response = server
        .deploy(
            "third",
            &[(
                "main.js",
                "export function init() { registerWebHandler('GET', '/health', () => 'x'); }",
            )],
        )
        .await;
    let error = expect_error(response, 409, "ROUTE_CONFLICT").await;
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("reserved"),
        "{error}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_restores_every_active_version() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    server.deploy_js("hello", HELLO_V1).await;
    server.deploy_js("hello", HELLO_V2).await;
    server
        .api_post("/scripts/hello/rollback", &json!({"version": 1}))
        .await;
    server
        .deploy_js(
            "other",
            "export function init() { registerWebHandler('GET', '/other', () => ({ok: true})); }",
        )
        .await;
    server.stop().await;

    let server = TestServer::start_in(dir.path(), |_| {}).await;
    assert_eq!(server.get_text("/hello/z").await, "hello z v1");
    assert_eq!(server.get_json("/other").await, json!({"ok": true}));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_removes_the_script_and_its_routes() {
    let server = TestServer::start().await;
    server.deploy_js("hello", HELLO_V1).await;
    let response = server
        .client
        .delete(server.url("/engine/api/scripts/hello"))
        .bearer_auth(crate::common::TOKEN)
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status(), 204);
    expect_error(server.get("/hello/x").await, 404, "ROUTE_NOT_FOUND").await;
    expect_error(
        server.api_get("/scripts/hello").await,
        404,
        "SCRIPT_NOT_FOUND",
    )
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_single_file_deploys_and_bad_bodies() {
    let server = TestServer::start().await;
    let response = server
        .client
        .post(server.url("/engine/api/scripts/raw/versions"))
        .bearer_auth(crate::common::TOKEN)
        .header("content-type", "application/typescript")
        .body("export function init(): void { registerWebHandler('GET', '/raw', (): string => 'typed'); }")
        .send()
        .await
        .expect("deploy");
    assert_eq!(response.status(), 201);
    assert_eq!(server.get_text("/raw").await, "typed");
    let response = server
        .api_post("/scripts/raw/versions", &json!({"nope": 1}))
        .await;
    expect_error(response, 400, "BAD_REQUEST").await;
    let response = server.deploy("Bad Name", &[("main.js", HELLO_V1)]).await;
    expect_error(response, 400, "BAD_REQUEST").await;
    let response = server
        .deploy("nomain", &[("lib.js", "export const a = 1;")])
        .await;
    let error = expect_error(response, 400, "DEPLOY_REJECTED").await;
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("main"),
        "{error}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_versions_never_drops_or_mixes_in_flight_requests() {
    let server = TestServer::start().await;
    let slow = |tag: &str| {
        format!(
            r#"const tag = "{tag}";
            export function init() {{
              registerWebHandler("GET", "/slow", async () => {{
                const before = tag;
                await new Promise((r) => setTimeout(r, 400));
                return {{ before, after: tag }};
              }});
            }}"#
        )
    };
    server.deploy_js("switch", &slow("v1")).await;
    // Start requests on v1, deploy v2 while they wait, then roll back while v2's wait.
    let first = tokio::spawn({
        let client = server.client.clone();
        let url = server.url("/slow");
        async move {
            let mut all = Vec::new();
            for _ in 0..4 {
                all.push(client.get(&url).send());
            }
            futures::future::join_all(all).await
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    server.deploy_js("switch", &slow("v2")).await;
    let after_deploy = server.get_json("/slow").await;
    assert_eq!(after_deploy, json!({"before": "v2", "after": "v2"}));
    for response in first.await.expect("join") {
        let response = response.expect("response");
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body, json!({"before": "v1", "after": "v1"}));
    }
    server.stop().await;
}
