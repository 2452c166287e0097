//! A script stopped for exceeding its CPU budget leaves nothing spinning. This test measures
//! the whole process's CPU time, so it lives in its own test binary (no other tests run
//! alongside it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "it/common.rs"]
mod common;

use std::time::Duration;

use common::{TestServer, expect_error};
use kiln_fixtures::process_cpu;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_script_stops_using_cpu() {
    let server = TestServer::start().await;
    server
        .deploy_js("spin", "export function init() { registerWebHandler('GET', '/spin', () => { while (true) {} }); }")
        .await;
    expect_error(server.get("/spin").await, 504, "SCRIPT_TIMEOUT").await;
    let before = process_cpu();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let used = process_cpu() - before;
    // Nothing keeps spinning after the timeout: the process is (nearly) idle.
    assert!(
        used < Duration::from_millis(250),
        "process used {used:?} CPU while idle"
    );
    server.stop().await;
}
