//! Aborting a `fetch` stops the request itself, not only the script's wait for it: the
//! upstream sees its connection closed, and the operation's slot is freed for new ones.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::common::{TestServer, read_request_head, wait_for_close};

const ABORTER: &str = r#"
let controller = null;
export function init() {
  // Starts a fetch and waits for it; `/abort` (same isolate: one worker) aborts it.
  registerWebHandler("POST", "/start", async (req) => {
    const { url } = await req.json();
    controller = new AbortController();
    try {
      await fetch(url, { signal: controller.signal });
      return { aborted: false };
    } catch (e) {
      return { aborted: e.name === "AbortError", name: e.name };
    }
  });
  registerWebHandler("POST", "/abort", () => { controller.abort(); return { ok: true }; });
  registerWebHandler("POST", "/fetch", async (req) => {
    const { url } = await req.json();
    return { status: (await fetch(url)).status };
  });
}
"#;

/// Counts requests that arrived at the holding upstream and connections that went away.
#[derive(Default)]
struct Holds {
    opened: AtomicUsize,
    closed: AtomicUsize,
}

/// An upstream that never answers: it reads each request and then waits for the client to
/// close the connection (a read of zero bytes), counting both.
async fn holding_upstream(holds: Arc<Holds>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let holds = holds.clone();
            tokio::spawn(async move {
                if !read_request_head(&mut socket).await {
                    return;
                }
                holds.opened.fetch_add(1, Ordering::SeqCst);
                wait_for_close(&mut socket).await;
                holds.closed.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    addr
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..400 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("gave up waiting until {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_fetch_closes_its_upstream_connection() {
    let holds = Arc::new(Holds::default());
    let up = holding_upstream(holds.clone()).await;
    let ok_app = Router::new().route("/ok", get(|| async { "ok" }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ok_up = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, ok_app).await });

    let server = TestServer::start_with(|config| {
        config.engine.workers = 1;
        config.egress.allow = vec!["127.0.0.1/32".into()];
        config.egress.timeout_ms = 120_000;
        config.limits.wall_ms = 120_000;
    })
    .await;
    server.deploy_js("aborter", ABORTER).await;

    for round in 1..=3 {
        let started = {
            let client = server.client.clone();
            let url = server.url("/start");
            let hold = format!("http://{up}/hold");
            tokio::spawn(async move {
                let response = client.post(url).json(&json!({ "url": hold })).send().await;
                response.unwrap().json::<Value>().await.unwrap()
            })
        };
        wait_until("the upstream sees the request", || {
            holds.opened.load(Ordering::SeqCst) == round
        })
        .await;
        assert_eq!(server.post_json("/abort", json!({})).await["ok"], true);
        let outcome = started.await.unwrap();
        assert_eq!(outcome["aborted"], true, "{outcome}");
        wait_until("the upstream sees the connection closed", || {
            holds.closed.load(Ordering::SeqCst) == round
        })
        .await;
    }
    // The script can still fetch.
    let ok = server
        .post_json("/fetch", json!({ "url": format!("http://{ok_up}/ok") }))
        .await;
    assert_eq!(ok["status"], 200, "{ok}");
    server.stop().await;
}
