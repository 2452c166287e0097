//! Streamed `fetch` response bodies: a long body arrives chunk by chunk through
//! `response.body` (and whole through `text()`), the size limit holds for streamed bodies, and
//! cancelling a body closes the upstream connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use crate::common::{TestServer, read_request_head, wait_for_close};

const READER: &str = r#"
async function attempt(run) {
  try { return await run(); }
  catch (e) { return { name: e.name, code: e.code ?? null, message: String(e.message) }; }
}
export function init() {
  registerWebHandler("POST", "/chunks", async (req) => attempt(async () => {
    const r = await fetch((await req.json()).url);
    // Byte i of the body is i % 251: check each chunk's ends against the running offset
    // (looking at every byte would spend the invocation's CPU budget).
    let chunks = 0, bytes = 0, ordered = true;
    for await (const chunk of r.body) {
      chunks++;
      if (chunk[0] !== bytes % 251 || chunk[chunk.length - 1] !== (bytes + chunk.length - 1) % 251) ordered = false;
      bytes += chunk.length;
    }
    return { chunks, bytes, ordered, used: r.bodyUsed };
  }));
  registerWebHandler("POST", "/text", async (req) => attempt(async () => {
    const r = await fetch((await req.json()).url);
    return { length: (await r.text()).length };
  }));
  registerWebHandler("POST", "/first-then-cancel", async (req) => attempt(async () => {
    const r = await fetch((await req.json()).url);
    const reader = r.body.getReader();
    const first = await reader.read();
    await reader.cancel("seen enough");
    return { first: first.value.length, after: await reader.read() };
  }));
}
"#;

/// `len` bytes counting 0..251 over and over, sent in 8 KiB pieces without a length.
fn counting_body(len: usize) -> Body {
    let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(8 * 1024).map(|c| Ok(c.to_vec())).collect();
    Body::from_stream(futures::stream::iter(pieces))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_bodies_stream_and_stay_within_the_size_limit() {
    let app = Router::new()
        .route("/big", get(|| async { counting_body(300 * 1024) }))
        .route("/small", get(|| async { counting_body(1000) }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let server = TestServer::start_with(|config| {
        config.egress.allow = vec!["127.0.0.1/32".into()];
        config.egress.max_response_bytes = 400 * 1024;
    })
    .await;
    server.deploy_js("reader", READER).await;

    let big = json!({ "url": format!("http://{up}/big") });
    let read = server.post_json("/chunks", big.clone()).await;
    assert_eq!(read["bytes"], 300 * 1024, "{read}");
    assert_eq!(read["ordered"], true, "{read}");
    assert_eq!(read["used"], true, "{read}");
    assert!(read["chunks"].as_u64().unwrap() > 1, "{read}");
    assert_eq!(server.post_json("/text", big).await["length"], 300 * 1024);
    let small = server
        .post_json("/chunks", json!({ "url": format!("http://{up}/small") }))
        .await;
    assert_eq!(
        (small["bytes"].clone(), small["chunks"].clone()),
        (json!(1000), json!(1))
    );
    server.stop().await;

    // The same body is over a 200 KiB limit: reading it fails part-way, with the limit's code.
    let server = TestServer::start_with(|config| {
        config.egress.allow = vec!["127.0.0.1/32".into()];
        config.egress.max_response_bytes = 200 * 1024;
    })
    .await;
    server.deploy_js("reader", READER).await;
    let refused = server
        .post_json("/text", json!({ "url": format!("http://{up}/big") }))
        .await;
    assert_eq!(refused["name"], "FetchError", "{refused}");
    assert_eq!(refused["code"], "FETCH_LIMIT_EXCEEDED", "{refused}");
    server.wait_for_log("reader", "FETCH_LIMIT_EXCEEDED").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_body_closes_the_upstream_connection() {
    // An upstream that sends 128 KiB of a chunked body, then waits for the client to go away.
    let closed = Arc::new(AtomicUsize::new(0));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = listener.local_addr().unwrap();
    {
        let closed = closed.clone();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                let closed = closed.clone();
                tokio::spawn(async move {
                    if !read_request_head(&mut socket).await {
                        return;
                    }
                    let chunk = vec![b'x'; 128 * 1024];
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n",
                        chunk.len()
                    );
                    let _ = socket.write_all(head.as_bytes()).await;
                    let _ = socket.write_all(&chunk).await;
                    let _ = socket.write_all(b"\r\n").await;
                    wait_for_close(&mut socket).await;
                    closed.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
    }
    let server = TestServer::start_with(|config| {
        config.egress.allow = vec!["127.0.0.1/32".into()];
        config.egress.timeout_ms = 120_000;
    })
    .await;
    server.deploy_js("reader", READER).await;
    let result = server
        .post_json(
            "/first-then-cancel",
            json!({ "url": format!("http://{up}/") }),
        )
        .await;
    // The first part (at least 64 KiB) arrived with the answer; the rest was never read.
    let first = result["first"].as_u64().unwrap();
    assert!((64 * 1024..128 * 1024).contains(&first), "{result}");
    assert_eq!(result["after"], json!({ "done": true }), "{result}");
    for _ in 0..400 {
        if closed.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        closed.load(Ordering::SeqCst),
        1,
        "the upstream connection was closed"
    );
    server.stop().await;
}
