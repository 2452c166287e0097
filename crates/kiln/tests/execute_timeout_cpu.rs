//! A WebAssembly execution stopped at its time limit over `POST /execute` leaves nothing
//! spinning: not the guest, not a blocking-pool thread, not the epoch ticker. This test measures
//! the whole process's CPU time, so it lives in its own test binary (no other tests run
//! alongside it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "it/common.rs"]
mod common;

use std::time::Duration;

use common::TestServer;
use kiln_fixtures::process_cpu;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_module_stops_using_cpu() {
    let server = TestServer::start().await;
    let admin = server.first_admin().await;
    // The free tier: 1 s of time per execution.
    let key = server
        .mint_key(
            &admin,
            json!({ "name": "spin", "tier": "free", "scopes": ["execute"] }),
        )
        .await;
    let form = Form::new().part(
        "wasm",
        Part::bytes(kiln_fixtures::c_module("busy_loop")).file_name("busy_loop.wasm"),
    );
    let response = server
        .client
        .post(server.url("/execute"))
        .bearer_auth(&key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_code"], "TIME_LIMIT_EXCEEDED", "{body}");
    // The guest really spun for most of its budget before it was stopped.
    assert!(body["cpu_ms"].as_u64().unwrap() > 300, "{body}");

    let before = process_cpu();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let used = process_cpu() - before;
    // Nothing keeps spinning after the answer: the process is (nearly) idle.
    assert!(
        used < Duration::from_millis(250),
        "process used {used:?} CPU while idle"
    );
    server.stop().await;
}
