//! `fetch` over HTTP against a local upstream on 127.0.0.1: the default egress policy refuses
//! it (by IP literal, by a DNS name resolving to loopback, through a redirect), an operator
//! allow rule opens it (globally or for one script), requests and responses round trip, and
//! the per-invocation and per-request limits fail with their codes, logged with the request id.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{any, get};
use serde_json::{Value, json};

use crate::common::TestServer;

const FETCHER: &str = r#"
async function describe(run) {
  try {
    const r = await run();
    const headers = {};
    for (const [k, v] of r.headers) headers[k] = v;
    return { ok: true, status: r.status, statusText: r.statusText, url: r.url, redirected: r.redirected,
             type: r.type, headers, text: await r.text() };
  } catch (e) {
    return { ok: false, name: e.name, code: e.code ?? null, message: String(e.message),
             kiln: e instanceof KilnError, egress: e instanceof EgressDeniedError,
             cause: e.cause?.code ?? null };
  }
}
export function init() {
  registerWebHandler("POST", "/fetch", async (req) => {
    const { url, init } = await req.json();
    return describe(() => fetch(url, init));
  });
  registerWebHandler("POST", "/abort", async (req) => {
    const { url } = await req.json();
    const controller = new AbortController();
    const pending = describe(() => fetch(url, { signal: controller.signal }));
    controller.abort();
    return pending;
  });
  registerWebHandler("POST", "/repeat", async (req) => {
    const { url, times } = await req.json();
    const out = [];
    for (let i = 0; i < times; i++) {
      const r = await describe(() => fetch(url));
      out.push(r.ok ? r.status : r.code);
    }
    return out;
  });
}"#;

/// The upstream: echo, status codes, redirects, a large body, a response that never comes.
async fn upstream() -> SocketAddr {
    async fn echo(
        method: axum::http::Method,
        headers: HeaderMap,
        body: String,
    ) -> impl IntoResponse {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let reply = json!({
            "method": method.as_str(),
            "xTest": header("x-test"),
            "contentType": header("content-type"),
            "authorization": header("authorization"),
            "body": body,
        });
        ([("x-upstream", "yes")], axum::Json(reply))
    }
    async fn status(axum::extract::Path(code): axum::extract::Path<u16>) -> impl IntoResponse {
        (
            StatusCode::from_u16(code).unwrap(),
            format!("status {code}"),
        )
    }
    async fn redirect(
        Query(q): Query<std::collections::HashMap<String, String>>,
    ) -> impl IntoResponse {
        let code = q.get("code").map_or(302, |c| c.parse().unwrap());
        (
            StatusCode::from_u16(code).unwrap(),
            [(header::LOCATION, q["to"].clone())],
        )
    }
    let app = Router::new()
        .route("/echo", any(echo))
        .route("/status/{code}", get(status))
        .route("/redirect", any(redirect))
        .route("/big", get(|| async { "x".repeat(4096) }))
        .route("/hang", get(std::future::pending::<String>));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn fetch(server: &TestServer, url: &str, init: Value) -> Value {
    server
        .post_json("/fetch", json!({ "url": url, "init": init }))
        .await
}

fn assert_denied(result: &Value, needle: &str) {
    assert_eq!(result["ok"], false, "{result}");
    assert_eq!(result["name"], "EgressDeniedError", "{result}");
    assert_eq!(result["code"], "EGRESS_DENIED", "{result}");
    assert_eq!(result["kiln"], true, "{result}");
    let message = result["message"].as_str().unwrap();
    assert!(message.contains(needle), "{needle:?} not in {message:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_policy_refuses_loopback_by_address_name_and_metadata() {
    let up = upstream().await;
    let server = TestServer::start().await;
    server.deploy_js("fetcher", FETCHER).await;

    let result = fetch(&server, &format!("http://{up}/echo"), json!({})).await;
    assert_denied(&result, "a loopback address");
    // A DNS name resolving to 127.0.0.1 (and ::1) is refused after resolution.
    let result = fetch(
        &server,
        &format!("http://localhost:{}/echo", up.port()),
        json!({}),
    )
    .await;
    assert_denied(&result, "localhost");
    assert_denied(&result, "a loopback address");
    // IPv4 inside IPv6 is the IPv4 address.
    let result = fetch(
        &server,
        &format!("http://[::ffff:127.0.0.1]:{}/", up.port()),
        json!({}),
    )
    .await;
    assert_denied(&result, "a loopback address");
    let result = fetch(
        &server,
        "http://169.254.169.254/latest/meta-data/",
        json!({}),
    )
    .await;
    assert_denied(&result, "a cloud metadata address");
    let result = fetch(&server, "http://10.0.0.1/", json!({})).await;
    assert_denied(&result, "a private address");

    // Denials are logged to the script's log with the request id.
    let lines = server.wait_for_log("fetcher", "EGRESS_DENIED").await;
    assert!(
        lines.iter().all(|l| l["request_id"].is_string()),
        "{lines:?}"
    );
    assert_eq!(lines[0]["level"], "warn", "{lines:?}");

    // Unsupported schemes are network errors: a TypeError, as on the Web.
    let result = fetch(&server, "ftp://example.com/", json!({})).await;
    assert_eq!(result["name"], "TypeError", "{result}");
    assert_eq!(result["cause"], "FETCH_NETWORK", "{result}");
    server.stop().await;
}

async fn allowed_server(tweak: impl FnOnce(&mut kiln::config::Config)) -> TestServer {
    let server = TestServer::start_with(|config| {
        config.egress.allow = vec!["127.0.0.1/32".into()];
        config.egress.max_subrequests = 8;
        config.egress.max_response_bytes = 1024;
        config.egress.timeout_ms = 300;
        tweak(config);
    })
    .await;
    server.deploy_js("fetcher", FETCHER).await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_requests_and_responses_round_trip() {
    let up = upstream().await;
    let server = allowed_server(|_| {}).await;
    let base = format!("http://{up}");

    let result = fetch(&server, &format!("{base}/echo"), json!({})).await;
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(result["status"], 200);
    assert_eq!(result["statusText"], "OK");
    assert_eq!(result["type"], "basic");
    assert_eq!(result["redirected"], false);
    assert_eq!(result["url"], format!("{base}/echo"));
    assert_eq!(result["headers"]["x-upstream"], "yes");
    assert_eq!(result["headers"]["content-type"], "application/json");
    let echoed: Value = serde_json::from_str(result["text"].as_str().unwrap()).unwrap();
    assert_eq!(echoed["method"], "GET");

    let init = json!({
        "method": "POST",
        "headers": { "x-test": "42", "content-type": "application/json" },
        "body": "{\"hello\":\"world\"}",
    });
    let result = fetch(&server, &format!("{base}/echo"), init).await;
    let echoed: Value = serde_json::from_str(result["text"].as_str().unwrap()).unwrap();
    assert_eq!(
        echoed,
        json!({"method": "POST", "xTest": "42", "contentType": "application/json",
               "authorization": null, "body": "{\"hello\":\"world\"}"})
    );

    let result = fetch(&server, &format!("{base}/status/404"), json!({})).await;
    assert_eq!(
        (result["ok"].clone(), result["status"].clone()),
        (json!(true), json!(404))
    );
    assert_eq!(result["text"], "status 404");
    let result = fetch(&server, &format!("{base}/status/204"), json!({})).await;
    assert_eq!(
        (result["status"].clone(), result["text"].clone()),
        (json!(204), json!(""))
    );

    // Redirects: followed (303 turns a POST into a GET), kept with "manual", refused with "error".
    let hop = format!("{base}/redirect?code=303&to=/echo");
    let init = json!({ "method": "POST", "body": "dropped", "headers": { "x-test": "kept" } });
    let result = fetch(&server, &hop, init).await;
    assert_eq!(result["redirected"], true, "{result}");
    assert_eq!(result["url"], format!("{base}/echo"));
    let echoed: Value = serde_json::from_str(result["text"].as_str().unwrap()).unwrap();
    assert_eq!(
        (echoed["method"].clone(), echoed["body"].clone()),
        (json!("GET"), json!(""))
    );
    assert_eq!(echoed["xTest"], "kept");
    let hop = format!("{base}/redirect?code=307&to=/echo");
    let result = fetch(&server, &hop, json!({ "method": "PUT", "body": "kept" })).await;
    let echoed: Value = serde_json::from_str(result["text"].as_str().unwrap()).unwrap();
    assert_eq!(
        (echoed["method"].clone(), echoed["body"].clone()),
        (json!("PUT"), json!("kept"))
    );
    let result = fetch(&server, &hop, json!({ "redirect": "manual" })).await;
    assert_eq!(result["status"], 307, "{result}");
    assert_eq!(result["headers"]["location"], "/echo");
    let result = fetch(&server, &hop, json!({ "redirect": "error" })).await;
    assert_eq!(result["name"], "TypeError", "{result}");

    // AbortController rejects with the signal's AbortError.
    let result = server
        .post_json("/abort", json!({ "url": format!("{base}/hang") }))
        .await;
    assert_eq!(result["name"], "AbortError", "{result}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_to_refused_destinations_are_denied_on_every_hop() {
    let up = upstream().await;
    let server = allowed_server(|_| {}).await;
    let base = format!("http://{up}");
    for (to, needle) in [
        (
            format!("http://[::1]:{}/echo", up.port()),
            "a loopback address",
        ),
        (
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            "a cloud metadata address",
        ),
        (
            format!("http://127.0.0.2:{}/echo", up.port()),
            "a loopback address",
        ),
    ] {
        let hop = format!("{base}/redirect?to={}", urlencode(&to));
        let result = fetch(&server, &hop, json!({})).await;
        assert_denied(&result, needle);
    }
    server.stop().await;
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_fail_with_their_codes() {
    let up = upstream().await;
    let server = allowed_server(|_| {}).await;
    let base = format!("http://{up}");

    // max_subrequests = 8 per invocation; a new invocation starts afresh.
    let codes = server
        .post_json(
            "/repeat",
            json!({ "url": format!("{base}/status/200"), "times": 10 }),
        )
        .await;
    let limited = json!("FETCH_LIMIT_EXCEEDED");
    assert_eq!(
        codes,
        json!([200, 200, 200, 200, 200, 200, 200, 200, limited, limited])
    );
    let codes = server
        .post_json(
            "/repeat",
            json!({ "url": format!("{base}/status/200"), "times": 1 }),
        )
        .await;
    assert_eq!(codes, json!([200]));

    let result = fetch(&server, &format!("{base}/big"), json!({})).await;
    assert_eq!(
        (result["name"].clone(), result["code"].clone()),
        (json!("FetchError"), limited),
        "{result}"
    );

    let result = fetch(&server, &format!("{base}/hang"), json!({})).await;
    assert_eq!(result["code"], "FETCH_TIMEOUT", "{result}");
    assert_eq!(result["kiln"], true);
    server.wait_for_log("fetcher", "FETCH_TIMEOUT").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_script_settings_open_egress_for_one_script_only() {
    let up = upstream().await;
    let server = TestServer::start_with(|config| {
        let script = config.scripts.entry("opened".into()).or_default();
        script.egress.allow = vec!["127.0.0.1".into()];
    })
    .await;
    server.deploy_js("fetcher", FETCHER).await;
    let opened = FETCHER.replace("\"/fetch\"", "\"/opened/fetch\"");
    let opened = opened
        .replace("\"/abort\"", "\"/opened/abort\"")
        .replace("\"/repeat\"", "\"/opened/repeat\"");
    server.deploy_js("opened", &opened).await;
    let url = json!({ "url": format!("http://{up}/status/201"), "init": {} });
    let result = server.post_json("/opened/fetch", url.clone()).await;
    assert_eq!(result["status"], 201, "{result}");
    let result = server.post_json("/fetch", url).await;
    assert_denied(&result, "a loopback address");
    server.stop().await;
}
