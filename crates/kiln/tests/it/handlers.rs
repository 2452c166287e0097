//! Handler behaviour: sync and async handlers, return values, errors, logs.

use serde_json::json;

use crate::common::{TestServer, expect_error};

const HANDLERS: &str = r#"
export function init() {
  registerWebHandler("GET", "/text", () => "plain");
  registerWebHandler("GET", "/json", () => ({ a: 1, b: [true, null] }));
  registerWebHandler("GET", "/nothing", () => undefined);
  registerWebHandler("GET", "/response", () => new Response("made", {
    status: 202, headers: { "x-custom": "yes", "content-type": "text/x-kiln" } }));
  registerWebHandler("GET", "/cookies", () => {
    const h = new Headers();
    h.append("set-cookie", "a=1; Path=/");
    h.append("set-cookie", "b=2; Path=/");
    return new Response("c", { headers: h });
  });
  registerWebHandler("GET", "/redirect", () => Response.redirect("https://example.com/x", 307));
  registerWebHandler("GET", "/async", async () => {
    await new Promise((resolve) => setTimeout(resolve, 20));
    return Response.json({ waited: true });
  });
  registerWebHandler("POST", "/echo", async (req) => {
    const body = await req.json();
    return { ...body, method: req.method, type: req.headers.get("content-type") };
  });
  registerWebHandler("GET", "/http-error", () => { throw new HttpError(418, "short and stout"); });
  registerWebHandler("GET", "/crash", () => { const o = null; return o.missing; });
  registerWebHandler("GET", "/async-crash", async () => { await null; throw new TypeError("async oops"); });
  registerWebHandler("GET", "/log", (req, ctx) => {
    console.log("hello", { n: 1 }, [1, 2]);
    console.warn("careful");
    console.error(new Error("shown in log"));
    console.debug("details");
    return ctx.requestId;
  });
  registerWebHandler("GET", "/env", (req, ctx) => ({ env: ctx.env, frozen: Object.isFrozen(ctx.env) }));
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn return_values_become_responses() {
    let server = TestServer::start().await;
    server.deploy_js("h", HANDLERS).await;
    let response = server.get("/text").await;
    assert_eq!(
        response.headers()["content-type"],
        "text/plain;charset=UTF-8"
    );
    assert_eq!(response.text().await.expect("text"), "plain");
    let response = server.get("/json").await;
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(
        response.json::<serde_json::Value>().await.expect("json"),
        json!({"a": 1, "b": [true, null]})
    );
    assert_eq!(server.get("/nothing").await.status(), 204);
    let response = server.get("/response").await;
    assert_eq!(response.status(), 202);
    assert_eq!(response.headers()["x-custom"], "yes");
    assert_eq!(response.headers()["content-type"], "text/x-kiln");
    let response = server.get("/cookies").await;
    let cookies: Vec<_> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(cookies, vec!["a=1; Path=/", "b=2; Path=/"]);
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let response = no_redirects
        .get(server.url("/redirect"))
        .send()
        .await
        .expect("redirect");
    assert_eq!(response.status(), 307);
    assert_eq!(response.headers()["location"], "https://example.com/x");
    assert_eq!(server.get_json("/async").await, json!({"waited": true}));
    let response = server
        .client
        .post(server.url("/echo"))
        .json(&json!({"x": [1, 2]}))
        .send()
        .await
        .expect("echo");
    assert_eq!(
        response.json::<serde_json::Value>().await.expect("json"),
        json!({"x": [1, 2], "method": "POST", "type": "application/json"})
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_json_and_never_leak_the_stack() {
    let server = TestServer::start().await;
    server.deploy_js("h", HANDLERS).await;
    let error = expect_error(server.get("/http-error").await, 418, "HTTP_418").await;
    assert_eq!(error["message"], "short and stout");
    for path in ["/crash", "/async-crash"] {
        let response = server.get(path).await;
        let request_id = response.headers()["x-request-id"]
            .to_str()
            .expect("id")
            .to_owned();
        let error = expect_error(response, 500, "SCRIPT_ERROR").await;
        let message = error["message"].as_str().unwrap_or_default();
        assert!(!message.contains("main.js"), "stack leaked: {message}");
        // The stack went to the script's log, tagged with the request id.
        let lines = server.wait_for_log("h", "Uncaught exception").await;
        assert!(
            lines.iter().any(|l| l["request_id"] == request_id.as_str()
                && l["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("main.js:"))),
            "{lines:?}"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_output_is_stored_with_level_and_request_id() {
    let server = TestServer::start().await;
    server.deploy_js("h", HANDLERS).await;
    let request_id = server.get_text("/log").await;
    let lines = server.wait_for_log("h", "details").await;
    assert_eq!(lines[0]["level"], "debug");
    let body = server
        .api_json(&format!(
            "/scripts/h/logs?request_id={request_id}&limit=100"
        ))
        .await;
    let logs = body["logs"].as_array().expect("logs");
    let messages: Vec<&str> = logs.iter().filter_map(|l| l["message"].as_str()).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("hello") && m.contains("n: 1")),
        "{messages:?}"
    );
    assert!(
        logs.iter()
            .any(|l| l["level"] == "warn" && l["message"] == "careful")
    );
    assert!(logs.iter().any(|l| {
        l["level"] == "error"
            && l["message"]
                .as_str()
                .is_some_and(|m| m.contains("shown in log"))
    }));
    assert!(logs.iter().all(|l| l["request_id"] == request_id.as_str()));
    // Level filter: warn and above.
    let body = server
        .api_json(&format!(
            "/scripts/h/logs?request_id={request_id}&level=warn"
        ))
        .await;
    let levels: Vec<&str> = body["logs"]
        .as_array()
        .expect("logs")
        .iter()
        .filter_map(|l| l["level"].as_str())
        .collect();
    assert_eq!(levels, vec!["warn", "error"]);
    // Bad filters are rejected.
    expect_error(
        server.api_get("/scripts/h/logs?level=loud").await,
        400,
        "BAD_REQUEST",
    )
    .await;
    expect_error(
        server.api_get("/scripts/h/logs?since=yesterday").await,
        400,
        "BAD_REQUEST",
    )
    .await;
    expect_error(
        server.api_get("/scripts/nope/logs").await,
        404,
        "SCRIPT_NOT_FOUND",
    )
    .await;
    assert_eq!(
        server.get_json("/env").await,
        json!({"env": {}, "frozen": true})
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_async_requests_are_in_flight_in_one_isolate_at_once() {
    let server = TestServer::start_with(|c| c.engine.workers = 1).await;
    server
        .deploy_js(
            "slow",
            r#"let inFlight = 0, peak = 0;
            export function init() {
              registerWebHandler("GET", "/slow", async () => {
                inFlight++; peak = Math.max(peak, inFlight);
                await new Promise((r) => setTimeout(r, 300));
                inFlight--;
                return { peak };
              });
            }"#,
        )
        .await;
    let requests = (0..10).map(|_| server.get_json("/slow"));
    let results = futures::future::join_all(requests).await;
    let peak = results
        .iter()
        .filter_map(|r| r["peak"].as_u64())
        .max()
        .unwrap_or(0);
    // One worker, ten concurrent 300 ms waits: they overlap instead of queueing.
    assert!(peak >= 5, "peak concurrency in one isolate was {peak}");
    server.stop().await;
}
