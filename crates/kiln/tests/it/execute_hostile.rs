//! The hostile set through `POST /execute`: modules that spin, start forever, bomb memory or
//! tables, recurse without end, flood stdout, import what Kiln does not provide, are truncated
//! or not WebAssembly at all, or try the host's files and sockets. Each gets its status and
//! `error_code` while normal `hello_world` executions sent alongside it succeed. The programs
//! are C (built by `kiln-fixtures`) except what only WebAssembly text can express.

use std::time::{Duration, Instant};

use futures::future::join_all;
use kiln_fixtures::{c_module, c_source, wat_modules};
use reqwest::Method;
use reqwest::multipart::Form;
use serde_json::{Value, json};

use crate::common::{TestServer, expect_error, json_status};
use crate::execute::{failed, ok_json, run, wasm_form};

/// The hostile tier's time budget.
const CPU_MS: u64 = 1000;
/// The hostile tier's memory limit.
const MEMORY_MB: u64 = 64;
/// Normal executions sent alongside each hostile one.
const NORMALS: usize = 3;
/// Stdout cap of `/execute` (`kiln::execute::MAX_OUTPUT_BYTES`).
const OUTPUT_CAP: usize = 1024 * 1024;

/// A server with an `execute` key on a tier with room for concurrent executions.
struct Arena {
    server: TestServer,
    key: String,
}

/// What happened to a hostile request and the normal ones sent alongside.
struct Contest {
    response: reqwest::Response,
    /// Whether every normal execution was answered before the hostile one.
    normals_first: bool,
}

impl Arena {
    async fn start() -> Arena {
        let server = TestServer::start().await;
        let admin = server.first_admin().await;
        let tier = json!({
            "rate_per_minute": 6000, "quota_per_day": 100_000, "cpu_ms": CPU_MS,
            "memory_mb": MEMORY_MB, "max_wasm_bytes": 5 * 1024 * 1024,
            "max_input_bytes": 1024 * 1024, "max_concurrent": 20,
        });
        let request = server.with_session(Method::PUT, "/engine/api/tiers/hostile", &admin);
        json_status(request.json(&tier), 200).await;
        let key = server
            .mint_key(
                &admin,
                json!({ "name": "arena", "tier": "hostile", "scopes": ["execute"] }),
            )
            .await;
        let arena = Arena { server, key };
        // Compiled once up front, so the normal runs alongside only execute.
        arena.normal().await;
        arena
    }

    /// One normal execution: C `hello_world`, which must succeed.
    async fn normal(&self) {
        let form = wasm_form(c_module("hello_world"));
        let body = ok_json(run(&self.server, "/execute", &self.key, form).await).await;
        assert_eq!(body["output"], "Hello, World!\n", "{body}");
    }

    /// Sends `hostile`, and [`NORMALS`] normal executions while it is in flight.
    async fn alongside(&self, hostile: Form) -> Contest {
        let hostile = async {
            let response = run(&self.server, "/execute", &self.key, hostile).await;
            (response, Instant::now())
        };
        let normals = async {
            tokio::time::sleep(Duration::from_millis(150)).await;
            join_all((0..NORMALS).map(|_| self.normal())).await;
            Instant::now()
        };
        let ((response, hostile_done), normals_done) = tokio::join!(hostile, normals);
        Contest {
            response,
            normals_first: normals_done < hostile_done,
        }
    }

    async fn stop(self) {
        self.server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spinning_guests_hit_the_time_limit_while_normal_runs_succeed() {
    let arena = Arena::start().await;
    for (what, module) in [
        ("C busy loop", c_module("busy_loop")),
        ("start function", wat_modules::huge_start()),
    ] {
        let contest = arena.alongside(wasm_form(module)).await;
        assert!(contest.normals_first, "{what}: the normal runs waited");
        let body = failed(contest.response, "TIME_LIMIT_EXCEEDED").await;
        let duration = body["duration_ms"].as_u64().expect("duration_ms");
        assert!(duration >= CPU_MS, "{what}: stopped early: {body}");
        assert!(duration < CPU_MS * 5, "{what}: stopped late: {body}");
    }
    arena.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_bombs_are_stopped_with_their_code() {
    let arena = Arena::start().await;

    let contest = arena.alongside(wasm_form(c_module("memory_bomb"))).await;
    let body = failed(contest.response, "MEMORY_LIMIT_EXCEEDED").await;
    let peak = body["memory_peak_bytes"].as_u64().expect("peak");
    assert!(peak <= MEMORY_MB << 20, "{body}");
    assert!(peak > (MEMORY_MB << 20) / 2, "{body}");
    assert_eq!(body["output"], "", "malloc never returned NULL: {body}");

    let contest = arena.alongside(wasm_form(wat_modules::table_bomb())).await;
    let body = failed(contest.response, "TRAP").await;
    assert_error_mentions(&body, "table limit exceeded");

    let contest = arena.alongside(wasm_form(c_module("deep_recursion"))).await;
    let body = failed(contest.response, "TRAP").await;
    assert_error_mentions(&body, "stack overflow");

    // 100 MiB to stdout: stopped at the 1 MiB cap, which the answer says.
    let contest = arena.alongside(wasm_form(c_module("stdout_flood"))).await;
    let body = failed(contest.response, "OUTPUT_LIMIT_EXCEEDED").await;
    let output = body["output"].as_str().expect("output");
    assert_eq!(output.len(), OUTPUT_CAP);
    assert!(output.bytes().all(|b| b == b'x'));
    assert_eq!(body["stderr"], "", "it never finished writing");
    assert_error_mentions(&body, "output limit");
    arena.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modules_that_cannot_run_are_refused_with_400() {
    let arena = Arena::start().await;

    let contest = arena.alongside(wasm_form(c_module("unknown_import"))).await;
    let error = expect_error(contest.response, 400, "UNSUPPORTED_IMPORT").await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("env::host_secret"),
        "{error}"
    );

    let hello = c_module("hello_world");
    let truncated = hello[..hello.len() / 2].to_vec();
    let contest = arena.alongside(wasm_form(truncated)).await;
    expect_error(contest.response, 400, "INVALID_MODULE").await;
    let contest = arena.alongside(wasm_form(hello[..6].to_vec())).await;
    let error = expect_error(contest.response, 400, "INVALID_MODULE").await;
    assert!(
        error["message"].as_str().unwrap().contains("truncated"),
        "{error}"
    );

    // A native executable (this test binary) and the C source instead of the module.
    let native = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    for (what, bytes) in [
        ("ELF", native[..64 * 1024].to_vec()),
        ("C source", c_source("hello_world").as_bytes().to_vec()),
    ] {
        let contest = arena.alongside(wasm_form(bytes)).await;
        let error = expect_error(contest.response, 400, "NOT_WASM").await;
        assert!(
            error["message"].as_str().unwrap().contains("00 61 73 6d"),
            "{what}: {error}"
        );
    }
    arena.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_and_sockets_are_refused_and_the_program_says_so() {
    let arena = Arena::start().await;
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("escaped.txt");
    let form = wasm_form(c_module("sandbox_escape"))
        .text("args", json!([target.display().to_string()]).to_string());
    let contest = arena.alongside(form).await;
    let body = failed(contest.response, "EXIT_NONZERO").await;
    assert_eq!(body["exit_code"], 1, "{body}");
    let report = body["output"].as_str().expect("output");
    for attempt in [
        "read /etc/passwd",
        "create file",
        "list /",
        "accept on fd 3",
        "send on fd 3",
    ] {
        assert!(
            report.contains(&format!("{attempt}: refused (")),
            "{attempt}: {report}"
        );
    }
    assert!(!report.contains(": ok"), "{report}");
    assert!(!target.exists(), "the guest created a file on the host");
    arena.stop().await;
}

/// Asserts that the execution's `error` message mentions `needle`.
fn assert_error_mentions(body: &Value, needle: &str) {
    let message = body["error"].as_str().expect("error message");
    assert!(message.contains(needle), "{needle:?} not in {body}");
}
