//! `wasm.run` from scripts over HTTP: a bundle ships `.wasm` files, handlers run them with
//! stdin, args and env and get `{stdout, stderr, exitCode}`; failures reject with a
//! `KilnError` whose code matches `POST /execute`; a long run does not hold up the isolate's
//! other requests.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::common::TestServer;
use crate::wasm_fixtures::{BOMB, EXIT3, SPIN, echo, hello};

const SCRIPT: &str = r#"
let hits = 0;
async function attempt(run) {
  try { return await run(); } catch (e) { return { name: e.name, code: e.code, message: e.message }; }
}
export function init() {
  registerWebHandler("POST", "/w/echo", async (req) => await wasm.run("bin/echo.wasm", { stdin: await req.text() }));
  registerWebHandler("POST", "/w/echo-bytes", async (req) =>
    (await wasm.run("bin/echo.wasm", { stdin: new Uint8Array(await req.arrayBuffer()) })).stdout);
  registerWebHandler("GET", "/w/hello", async () => (await wasm.run("./bin/hello.wasm")).stdout);
  registerWebHandler("GET", "/w/exit", async () => await wasm.run("bin/exit3.wasm"));
  registerWebHandler("GET", "/w/spin", () => attempt(() => wasm.run("bin/spin.wasm")));
  registerWebHandler("GET", "/w/bomb", () => attempt(() => wasm.run("bin/bomb.wasm")));
  registerWebHandler("GET", "/w/missing", () => attempt(() => wasm.run("bin/nope.wasm")));
  registerWebHandler("GET", "/w/escape", () => attempt(() => wasm.run("../other/x.wasm")));
  registerWebHandler("GET", "/w/bad-args", () => attempt(() => wasm.run("bin/echo.wasm", { args: [1] })));
  registerWebHandler("GET", "/w/hits", () => ({ hits: ++hits }));
}"#;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

async fn deploy(server: &TestServer) {
    let spin = wat::parse_str(SPIN).unwrap();
    let bomb = wat::parse_str(BOMB).unwrap();
    let exit3 = wat::parse_str(EXIT3).unwrap();
    let files = json!([
        {"path": "main.js", "content": SCRIPT},
        {"path": "bin/echo.wasm", "content_base64": b64(&echo())},
        {"path": "bin/hello.wasm", "content_base64": b64(&hello("hi from wasm\n"))},
        {"path": "bin/exit3.wasm", "content_base64": b64(&exit3)},
        {"path": "bin/spin.wasm", "content_base64": b64(&spin)},
        {"path": "bin/bomb.wasm", "content_base64": b64(&bomb)},
    ]);
    let response = server
        .api_post("/scripts/tools/versions", &json!({ "files": files }))
        .await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
}

async fn post_text(server: &TestServer, path: &str, body: &'static [u8]) -> String {
    let response = server
        .client
        .post(server.url(path))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_run_bundled_modules_and_get_their_output() {
    let server = TestServer::start().await;
    deploy(&server).await;

    let answer: Value =
        serde_json::from_str(&post_text(&server, "/w/echo", b"round trip").await).unwrap();
    assert_eq!(
        answer,
        json!({"stdout": "round trip", "stderr": "", "exitCode": 0})
    );
    assert_eq!(
        post_text(&server, "/w/echo-bytes", b"\x00bytes\xff").await,
        "\u{0}bytes\u{fffd}"
    );
    assert_eq!(server.get_text("/w/hello").await, "hi from wasm\n");
    // A non-zero exit code is an answer, not an error.
    assert_eq!(
        server.get_json("/w/exit").await,
        json!({"stdout": "", "stderr": "", "exitCode": 3})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_reject_with_a_kiln_error_code() {
    let server = TestServer::start().await;
    deploy(&server).await;
    for (path, code) in [
        ("/w/spin", "TIME_LIMIT_EXCEEDED"),
        ("/w/bomb", "MEMORY_LIMIT_EXCEEDED"),
        ("/w/missing", "WASM_NOT_FOUND"),
    ] {
        let answer = server.get_json(path).await;
        assert_eq!(answer["name"], "WasmError", "{path}: {answer}");
        assert_eq!(answer["code"], code, "{path}: {answer}");
        assert!(
            answer["message"]
                .as_str()
                .unwrap()
                .starts_with("wasm.run: "),
            "{answer}"
        );
    }
    for path in ["/w/bad-args", "/w/escape"] {
        let answer = server.get_json(path).await;
        assert_eq!(answer["name"], "TypeError", "{path}: {answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_run_does_not_hold_up_the_isolate() {
    // One worker (one isolate) and a generous CPU budget: the spinning module runs for two
    // seconds on a blocking thread while the same isolate answers other requests.
    let server = TestServer::start_with(|config| {
        config.engine.workers = 1;
        config.limits.cpu_ms = 2_000;
    })
    .await;
    deploy(&server).await;
    let spin = {
        let (client, url) = (server.client.clone(), server.url("/w/spin"));
        tokio::spawn(async move { client.get(url).send().await.unwrap().json::<Value>().await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    for expected in 1..=3 {
        assert_eq!(
            server.get_json("/w/hits").await,
            json!({ "hits": expected })
        );
    }
    assert!(
        !spin.is_finished(),
        "the isolate waited for the module to finish"
    );
    let answer = spin.await.unwrap().unwrap();
    assert_eq!(answer["code"], "TIME_LIMIT_EXCEEDED", "{answer}");
}
