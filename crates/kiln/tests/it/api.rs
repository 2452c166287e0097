//! Management API access control, error shapes, request ids and health endpoints.

use crate::common::{TestServer, expect_error};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_management_api_requires_the_admin_token() {
    let server = TestServer::start().await;
    let response = server.get("/engine/api/scripts").await;
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .map(|v| v.as_bytes()),
        Some(&b"Bearer"[..])
    );
    expect_error(response, 401, "UNAUTHORIZED").await;
    let response = server
        .client
        .get(server.url("/engine/api/scripts"))
        .bearer_auth("wrong-token-wrong-token")
        .send()
        .await
        .expect("request");
    expect_error(response, 401, "UNAUTHORIZED").await;
    let body = server.api_json("/scripts").await;
    assert_eq!(body["scripts"], serde_json::json!([]));
    expect_error(server.api_get("/nope").await, 404, "NOT_FOUND").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_generated_or_propagated() {
    let server = TestServer::start().await;
    let response = server.get("/health/live").await;
    let id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert!(id.is_some_and(|id| id.len() >= 16));
    let response = server
        .client
        .get(server.url("/no/such/route"))
        .header("x-request-id", "my-trace-id-1")
        .send()
        .await
        .expect("request");
    assert_eq!(
        response.headers().get("x-request-id").map(|v| v.as_bytes()),
        Some(&b"my-trace-id-1"[..])
    );
    let error = expect_error(response, 404, "ROUTE_NOT_FOUND").await;
    assert_eq!(error["request_id"], "my-trace-id-1");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_endpoints_report_the_store() {
    let server = TestServer::start().await;
    assert_eq!(server.get_json("/health/live").await["status"], "ok");
    assert_eq!(server.get_json("/health/ready").await["status"], "ready");
    let details = server.get_json("/health").await;
    assert_eq!(details["checks"]["database"], "ok");
    assert_eq!(details["workers"], 2);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_request_bodies_get_a_json_413() {
    let server = TestServer::start_with(|c| c.http.max_body_bytes = 1024).await;
    server
        .deploy_js("echo", "export function init() { registerWebHandler('POST', '/echo', async (req) => await req.text()); }")
        .await;
    let response = server
        .client
        .post(server.url("/echo"))
        .body(vec![b'a'; 4096])
        .send()
        .await
        .expect("request");
    expect_error(response, 413, "PAYLOAD_TOO_LARGE").await;
    let response = server
        .client
        .post(server.url("/echo"))
        .body("small")
        .send()
        .await
        .expect("request");
    assert_eq!(response.text().await.expect("text"), "small");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_in_flight_requests() {
    let server = TestServer::start().await;
    server
        .deploy_js(
            "slow",
            r#"export function init() {
              registerWebHandler("GET", "/slow", async () => {
                await new Promise((r) => setTimeout(r, 500));
                return "finished";
              });
            }"#,
        )
        .await;
    let in_flight = tokio::spawn({
        let client = server.client.clone();
        let url = server.url("/slow");
        async move { client.get(&url).send().await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let base = server.base.clone();
    server.stop().await;
    let response = in_flight
        .await
        .expect("join")
        .expect("the in-flight request was dropped");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("text"), "finished");
    // And the server is gone.
    assert!(reqwest::get(format!("{base}/health/live")).await.is_err());
}
