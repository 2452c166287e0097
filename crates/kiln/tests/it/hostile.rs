//! Hostile scripts: each is contained, and a normal script keeps answering meanwhile.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::common::{TestServer, expect_error};

const NORMAL: &str = r#"
export function init() { registerWebHandler("GET", "/ok", () => "ok"); }"#;

const HOSTILE: &str = r#"
let leaked = [];
export function init() {
  registerWebHandler("GET", "/spin", () => { while (true) {} });
  registerWebHandler("GET", "/spin-async", async () => { await null; for (;;) {} });
  registerWebHandler("GET", "/microtask-flood", () => {
    const again = () => Promise.resolve().then(again);
    again();
    return new Promise(() => {});
  });
  registerWebHandler("GET", "/memory", () => {
    const chunks = [];
    for (;;) chunks.push(new Array(1e6).fill(1.5));
  });
  registerWebHandler("GET", "/string-bomb", () => { let s = "x"; for (;;) s += s; });
  registerWebHandler("GET", "/recursion", () => { const f = (n) => f(n + 1) + 1; return f(0); });
  registerWebHandler("GET", "/never", () => new Promise(() => {}));
  registerWebHandler("GET", "/huge", () => "x".repeat(3 * 1024 * 1024));
  registerWebHandler("GET", "/fine", () => "still fine");
}"#;

const REWRITER: &str = r#"
export function init() {
  registerWebHandler("GET", "/rewrite", () => {
    JSON.stringify = () => { throw new Error("hijacked"); };
    Array.prototype.push = () => { throw new Error("hijacked"); };
    Promise.prototype.then = function () { throw new Error("hijacked"); };
    globalThis.Response = null;
    globalThis.Headers = 42;
    Object.defineProperty = () => { throw new Error("hijacked"); };
    return "rewritten";
  });
  registerWebHandler("GET", "/after", () => ({ still: "json" }));
  registerWebHandler("GET", "/after-async", async () => { await null; return { async: true }; });
}"#;

async fn start() -> TestServer {
    start_with_wall_ms(1000).await
}

async fn start_with_wall_ms(wall_ms: u64) -> TestServer {
    let server = TestServer::start_with(|c| {
        c.limits.wall_ms = wall_ms;
        c.limits.max_response_bytes = 1024 * 1024;
        c.limits.memory_mb = 32;
    })
    .await;
    server.deploy_js("normal", NORMAL).await;
    server.deploy_js("hostile", HOSTILE).await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_hostile_handler_gets_a_clear_error() {
    let server = start().await;
    let cases = [
        ("/spin", 504, "SCRIPT_TIMEOUT"),
        ("/spin-async", 504, "SCRIPT_TIMEOUT"),
        ("/microtask-flood", 504, "SCRIPT_TIMEOUT"),
        ("/memory", 503, "SCRIPT_MEMORY_LIMIT"),
        ("/recursion", 500, "SCRIPT_ERROR"),
        ("/never", 504, "SCRIPT_TIMEOUT"),
        ("/huge", 500, "RESPONSE_TOO_LARGE"),
    ];
    for (path, status, code) in cases {
        expect_error(server.get(path).await, status, code).await;
        // The isolate was replaced where needed: the same script answers again at once.
        assert_eq!(server.get_text("/fine").await, "still fine", "after {path}");
        assert_eq!(server.get_text("/ok").await, "ok", "after {path}");
    }
    let response = server.get("/string-bomb").await;
    let status = response.status().as_u16();
    assert!(
        status == 503 || status == 500,
        "string bomb answered {status}"
    );
    assert_eq!(server.get_text("/fine").await, "still fine");
    server
        .wait_for_log("hostile", "CPU budget of 50 ms exceeded")
        .await;
    server.wait_for_log("hostile", "memory limit").await;
    server.wait_for_log("hostile", "wall-clock budget").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normal_scripts_keep_answering_while_hostile_ones_run() {
    // The `/never` requests hold for the whole wall-clock budget: a window of 3 s in which a
    // loaded debug build still answers a few normal requests.
    let server = start_with_wall_ms(3000).await;
    let hostile_done = AtomicBool::new(false);
    let hostile = async {
        let mut handles = Vec::new();
        for path in [
            "/spin",
            "/never",
            "/memory",
            "/spin-async",
            "/spin",
            "/never",
        ] {
            handles.push(server.get(path));
        }
        let results = futures::future::join_all(handles).await;
        hostile_done.store(true, Ordering::SeqCst);
        results
    };
    // The normal script answers while the hostile requests are in flight: counted, not timed.
    let normal = async {
        let mut answered = 0;
        while !hostile_done.load(Ordering::SeqCst) {
            assert_eq!(server.get_text("/ok").await, "ok");
            answered += 1;
        }
        answered
    };
    let (hostile_results, answered) = tokio::join!(hostile, normal);
    // At least one answer inside the window proves the normal script is not queued behind
    // the hostile requests (how many depends on the machine's load, so it is not asserted).
    assert!(
        answered >= 1,
        "the normal script answered only {answered} times while the hostile requests ran"
    );
    for response in hostile_results {
        assert!(
            response.status().as_u16() >= 500,
            "a hostile request succeeded"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_that_rewrites_globals_only_hurts_itself() {
    let server = TestServer::start_with(|c| c.engine.workers = 1).await;
    server.deploy_js("normal", NORMAL).await;
    server.deploy_js("rewriter", REWRITER).await;
    assert_eq!(server.get_text("/rewrite").await, "rewritten");
    // Kiln's own dispatch captured its builtins: the same isolate still answers correctly.
    assert_eq!(
        server.get_json("/after").await,
        serde_json::json!({"still": "json"})
    );
    assert_eq!(
        server.get_json("/after-async").await,
        serde_json::json!({"async": true})
    );
    assert_eq!(server.get_text("/ok").await, "ok");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watchdog_replaces_a_worker_stuck_in_one_turn() {
    // A long turn under a generous CPU budget stands in for native code QuickJS's interrupt
    // handler cannot reach; the watchdog threshold is set far below it.
    let server = TestServer::start_with(|c| {
        c.engine.workers = 1;
        c.engine.watchdog_ms = 300;
        let mut overrides = kiln::config::ScriptConfig::default();
        overrides.limits.cpu_ms = Some(60_000);
        c.scripts.insert("stuck".into(), overrides);
    })
    .await;
    server.deploy_js("normal", NORMAL).await;
    server
        .deploy_js(
            "stuck",
            r#"export function init() {
              registerWebHandler("GET", "/stuck", () => {
                const end = Date.now() + 6000;
                while (Date.now() < end) {}
                return "finally";
              });
            }"#,
        )
        .await;
    let stuck = tokio::spawn({
        let client = server.client.clone();
        let url = server.url("/stuck");
        async move {
            client
                .get(&url)
                .send()
                .await
                .expect("stuck request")
                .text()
                .await
                .expect("text")
        }
    });
    // A connection the stuck thread accepted just before its turn began waits for it; new
    // connections go to the replacement. So poll with one new connection per request and a
    // short timeout, retrying.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_millis(1000))
        .build()
        .expect("client");
    let mut replaced = 0;
    for _ in 0..200 {
        if let Ok(response) = fresh.get(server.url("/health")).send().await
            && let Ok(health) = response.json::<serde_json::Value>().await
        {
            replaced = health["workers_replaced"].as_u64().unwrap_or(0);
            if replaced > 0 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(replaced, 1, "the watchdog did not replace the stuck worker");
    // The replacement serves new requests while the old worker is still busy.
    let ok = fresh.get(server.url("/ok")).send().await.expect("ok");
    assert_eq!(ok.text().await.expect("text"), "ok");
    assert!(
        !stuck.is_finished(),
        "the stuck turn finished before the replacement answered"
    );
    // The abandoned worker still answers what it was doing when it comes back.
    assert_eq!(stuck.await.expect("join"), "finally");
    server.stop().await;
}
