//! Route matching: literal, `:param` and `*` paths, methods, HEAD, 405 and 404.

use serde_json::json;

use crate::common::{TestServer, expect_error};

const ROUTES: &str = r#"
export function init() {
  registerWebHandler("GET", "/items", () => "list");
  registerWebHandler("POST", "/items", () => new Response("created", { status: 201 }));
  registerWebHandler("GET", "/items/:id", (req, ctx) => ({ id: ctx.params.id, q: ctx.query }));
  registerWebHandler("GET", "/items/special", () => "static wins");
  registerWebHandler("get", "/users/:user/posts/:post", (req, ctx) => ctx.params);
  registerWebHandler("ANY", "/any", (req) => req.method);
  registerWebHandler("GET", "/static/*", (req, ctx) => "rest=" + ctx.params["*"]);
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_params_and_methods() {
    let server = TestServer::start().await;
    server.deploy_js("routes", ROUTES).await;
    assert_eq!(server.get_text("/items").await, "list");
    let response = server
        .client
        .post(server.url("/items"))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 201);
    assert_eq!(
        server.get_json("/items/42?sort=asc&sort=desc&x=1").await,
        json!({"id": "42", "q": {"sort": "asc", "x": "1"}})
    );
    assert_eq!(server.get_text("/items/special").await, "static wins");
    assert_eq!(
        server.get_json("/users/ann/posts/7").await,
        json!({"user": "ann", "post": "7"})
    );
    for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let response = server
            .client
            .request(m, server.url("/any"))
            .send()
            .await
            .expect("any");
        assert_eq!(response.text().await.expect("text"), method);
    }
    assert_eq!(
        server.get_text("/static/css/site.css").await,
        "rest=css/site.css"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_is_served_by_get_and_other_methods_get_405_with_allow() {
    let server = TestServer::start().await;
    server.deploy_js("routes", ROUTES).await;
    let response = server
        .client
        .head(server.url("/items"))
        .send()
        .await
        .expect("head");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("content-length")
            .map(|v| v.as_bytes()),
        Some(&b"4"[..])
    );
    assert_eq!(response.text().await.expect("text"), "");
    let response = server
        .client
        .delete(server.url("/items"))
        .send()
        .await
        .expect("delete");
    assert_eq!(
        response
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap_or("")),
        Some("GET, HEAD, POST")
    );
    expect_error(response, 405, "METHOD_NOT_ALLOWED").await;
    expect_error(server.get("/nothing/here").await, 404, "ROUTE_NOT_FOUND").await;
    server.stop().await;
}
