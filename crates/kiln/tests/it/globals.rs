//! Each Web-standard global, exercised from a real handler.

use serde_json::json;

use crate::common::TestServer;

const GLOBALS: &str = r#"
export function init() {
  registerWebHandler("GET", "/globals", async (req) => {
    const url = new URL("https://user:pw@example.com:8080/a/b?x=1&y=two#frag");
    url.searchParams.append("z", "3 4");
    const params = new URLSearchParams("a=1&b=%20x&a=2");
    const headers = new Headers({ "Content-Type": "text/plain" });
    headers.append("X-Multi", "1");
    headers.append("x-multi", "2");
    const bytes = new TextEncoder().encode("héllo");
    const decoded = new TextDecoder().decode(bytes);
    const random = crypto.getRandomValues(new Uint8Array(16));
    const clone = structuredClone({ d: new Date(0), m: new Map([[1, "a"]]), s: new Set([1]) });
    const order = [];
    queueMicrotask(() => order.push("microtask"));
    await new Promise((r) => setTimeout(r, 1));
    const cancelled = setTimeout(() => order.push("never"), 0);
    clearTimeout(cancelled);
    await new Promise((r) => setTimeout(r, 5));
    const r = new Request("http://x.test/p", { method: "POST", body: JSON.stringify({ k: 1 }) });
    const res = new Response("body", { status: 201, headers: { "x-a": "b" } });
    return {
      url: url.href, host: url.host, port: url.port, search: url.search, hash: url.hash, origin: url.origin,
      params: [params.getAll("a"), params.get("b"), params.toString()],
      headers: [headers.get("content-type"), headers.get("x-multi")],
      bytes: Array.from(bytes), decoded,
      b64: btoa("kiln"), unb64: atob("a2lsbg=="),
      uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(crypto.randomUUID()),
      randomLength: random.length,
      clone: [clone.d instanceof Date, clone.m.get(1), clone.s.has(1)],
      order,
      request: [r.method, r.url, await r.json()],
      response: [res.status, res.ok, res.headers.get("x-a"), await res.text()],
      reqUrl: new URL(req.url).pathname,
      json: await Response.json({ a: 1 }).json(),
    };
  });
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_globals_work_in_handlers() {
    let server = TestServer::start().await;
    server.deploy_js("globals", GLOBALS).await;
    let body = server.get_json("/globals").await;
    assert_eq!(
        body["url"],
        "https://user:pw@example.com:8080/a/b?x=1&y=two&z=3+4#frag"
    );
    assert_eq!(body["host"], "example.com:8080");
    assert_eq!(body["port"], "8080");
    assert_eq!(body["search"], "?x=1&y=two&z=3+4");
    assert_eq!(body["hash"], "#frag");
    assert_eq!(body["origin"], "https://example.com:8080");
    assert_eq!(body["params"], json!([["1", "2"], " x", "a=1&b=+x&a=2"]));
    assert_eq!(body["headers"], json!(["text/plain", "1, 2"]));
    assert_eq!(body["bytes"], json!([104, 195, 169, 108, 108, 111]));
    assert_eq!(body["decoded"], "héllo");
    assert_eq!(body["b64"], "a2lsbg==");
    assert_eq!(body["unb64"], "kiln");
    assert_eq!(body["uuid"], true);
    assert_eq!(body["randomLength"], 16);
    assert_eq!(body["clone"], json!([true, "a", true]));
    assert_eq!(body["order"], json!(["microtask"]));
    assert_eq!(
        body["request"],
        json!(["POST", "http://x.test/p", {"k": 1}])
    );
    assert_eq!(body["response"], json!([201, true, "b", "body"]));
    assert_eq!(body["reqUrl"], "/globals");
    assert_eq!(body["json"], json!({"a": 1}));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_filesystem_process_or_network_globals() {
    let server = TestServer::start().await;
    server
        .deploy_js(
            "probe",
            r#"export function init() {
              registerWebHandler("GET", "/probe", () => ({
                require: typeof require, process: typeof process, Deno: typeof Deno, os: typeof os,
                std: typeof std, fetchSync: typeof fetchSync, host: typeof host, internal: typeof internal,
              }));
            }"#,
        )
        .await;
    let body = server.get_json("/probe").await;
    for (key, value) in body.as_object().expect("object") {
        assert_eq!(value, "undefined", "{key} is exposed to scripts");
    }
    server.stop().await;
}
