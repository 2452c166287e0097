//! Host operations: a script's `hostCall` reaches the application's `HostServices` with the
//! invocation's identity and budget, runs off the isolate (other requests are served
//! meanwhile), and settles as a resolved value or a `KilnError` with the host's code.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kiln_js::{
    BundleFile, BundleLimits, Engine, EngineConfig, HostCall, HostError, HostFuture, HostServices,
    HttpRequest, Limits, LogSink, ScriptLog, ScriptVersion,
};

struct Discard;

impl LogSink for Discard {
    fn log(&self, _entry: ScriptLog) {}
}

/// One call as the services saw it: op, args, bytes, identity, CPU budget.
type SeenCall = (
    String,
    serde_json::Value,
    Option<Vec<u8>>,
    Option<String>,
    Duration,
);

/// What the test services saw, and how they answer: `wasm.run` echoes its call after a delay
/// given in `env.delayMs`, fails with `env.fail` as the code, or answers the binary result
/// `env.bytes` (with `env.fail` too: the bytes are dropped and the call fails).
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<SeenCall>>,
}

impl HostServices for Recorder {
    fn call(&self, call: HostCall) -> HostFuture {
        self.calls.lock().unwrap().push((
            call.op.clone(),
            call.args.clone(),
            call.bytes.as_ref().map(|b| b.to_vec()),
            call.identity.as_deref().map(str::to_owned),
            call.cpu_budget,
        ));
        Box::pin(async move {
            let env = &call.args["env"];
            let delay = env["delayMs"].as_str().map_or(0, |d| d.parse().unwrap());
            tokio::time::sleep(Duration::from_millis(delay)).await;
            if let Some(bytes) = env["bytes"].as_str() {
                call.reply
                    .set(bytes::Bytes::copy_from_slice(bytes.as_bytes()));
            }
            if let Some(code) = env["fail"].as_str() {
                return Err(HostError::new(code, "it failed on purpose"));
            }
            if env["bytes"].is_string() {
                // A purely binary result: the promise resolves to the bytes themselves.
                return Ok(serde_json::Value::Null);
            }
            Ok(serde_json::json!({
                "op": call.op,
                "script": call.script.name,
                "requestId": call.request_id.as_deref(),
                "stdin": call.bytes.map(|b| String::from_utf8_lossy(&b).into_owned()),
            }))
        })
    }
}

fn engine(services: Option<Arc<dyn HostServices>>) -> Engine {
    let config = EngineConfig {
        workers: 1,
        services,
        ..EngineConfig::default()
    };
    Engine::start(config, Arc::new(Discard)).expect("engine")
}

async fn deploy(engine: &Engine, source: &str) -> Arc<ScriptVersion> {
    // The engine does not look inside `.wasm` files: the services do.
    let files = vec![
        BundleFile {
            path: "main.js".into(),
            content: source.as_bytes().to_vec(),
        },
        BundleFile {
            path: "a.wasm".into(),
            content: b"\0asm".to_vec(),
        },
    ];
    let prepared = engine
        .prepare(
            "ops",
            files,
            Limits::default(),
            BTreeMap::new(),
            BundleLimits::default(),
        )
        .await
        .expect("prepare");
    Arc::new(prepared.committed(1))
}

fn request(identity: Option<&str>) -> HttpRequest {
    HttpRequest {
        method: "GET".into(),
        url: "http://kiln.test/x".into(),
        identity: identity.map(Arc::from),
        ..HttpRequest::default()
    }
}

async fn call(engine: &Engine, script: &Arc<ScriptVersion>, route: usize) -> (u16, String) {
    let answer = engine
        .invoke(
            script,
            route,
            vec![],
            request(Some(r#"{"user":null}"#)),
            "req-1",
        )
        .await
        .expect("invoke");
    (
        answer.status,
        String::from_utf8_lossy(&answer.body).into_owned(),
    )
}

const SCRIPT: &str = r#"
export function init() {
  registerWebHandler("GET", "/ok", async () => await wasm.run("a.wasm", { stdin: "hello", args: ["x"], env: { K: "v" } }));
  registerWebHandler("GET", "/slow", async () => (await wasm.run("a.wasm", { env: { delayMs: "2000" } }), "slow"));
  registerWebHandler("GET", "/fast", () => "fast");
  registerWebHandler("GET", "/fail", async () => {
    try { await wasm.run("a.wasm", { env: { fail: "WASM_TRAP" } }); return "no"; }
    catch (e) { return { name: e.name, code: e.code, message: e.message, kiln: e instanceof KilnError }; }
  });
  registerWebHandler("GET", "/bad", async () => {
    try { await wasm.run(42); return "no"; } catch (e) { return { name: e.name }; }
  });
  registerWebHandler("GET", "/flood", async () => {
    const calls = [];
    for (let i = 0; i < 100; i++) calls.push(wasm.run("a.wasm", {}));
    const results = await Promise.allSettled(calls);
    const rejected = results.filter((r) => r.status === "rejected");
    return { ok: results.length - rejected.length, errors: [...new Set(rejected.map((r) => r.reason.name))] };
  });
  registerWebHandler("GET", "/bytes", async () => {
    const out = await wasm.run("a.wasm", { env: { bytes: "h\u00e9!" } });
    let failed;
    try { await wasm.run("a.wasm", { env: { bytes: "x", fail: "WASM_TRAP" } }); } catch (e) { failed = e.code; }
    return { uint8: out instanceof Uint8Array, length: out.length, text: new TextDecoder().decode(out), failed };
  });
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_reach_the_services_and_settle_in_the_script() {
    let services = Arc::new(Recorder::default());
    let engine = engine(Some(services.clone()));
    let script = deploy(&engine, SCRIPT).await;

    let (status, body) = call(&engine, &script, 0).await;
    assert_eq!(status, 200, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["op"], "wasm.run");
    assert_eq!(body["script"], "ops");
    assert_eq!(body["requestId"], "req-1");
    assert_eq!(body["stdin"], "hello");
    let calls = services.calls.lock().unwrap().clone();
    let (op, args, bytes, identity, budget) = &calls[0];
    assert_eq!(op, "wasm.run");
    assert_eq!(
        args,
        &serde_json::json!({"path": "a.wasm", "args": ["x"], "env": {"K": "v"}})
    );
    assert_eq!(bytes.as_deref(), Some(&b"hello"[..]));
    assert_eq!(identity.as_deref(), Some(r#"{"user":null}"#));
    assert!(*budget > Duration::ZERO && *budget <= Limits::default().cpu);

    let (status, body) = call(&engine, &script, 3).await;
    assert_eq!(status, 200);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"name": "WasmError", "code": "WASM_TRAP", "message": "it failed on purpose", "kiln": true})
    );

    let (_, body) = call(&engine, &script, 4).await;
    assert_eq!(body, r#"{"name":"TypeError"}"#);

    // In-flight operations are bounded per isolate.
    let (status, body) = call(&engine, &script, 5).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, r#"{"ok":64,"errors":["RangeError"]}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_results_resolve_to_a_uint8array() {
    let engine = engine(Some(Arc::new(Recorder::default())));
    let script = deploy(&engine, SCRIPT).await;
    let (status, body) = call(&engine, &script, 6).await;
    assert_eq!(status, 200, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"uint8": true, "length": 4, "text": "h\u{e9}!", "failed": "WASM_TRAP"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_isolate_serves_other_requests_while_an_operation_runs() {
    let engine = Arc::new(engine(Some(Arc::new(Recorder::default()))));
    let script = deploy(&engine, SCRIPT).await;
    let slow = {
        let (engine, script) = (engine.clone(), script.clone());
        tokio::spawn(async move { call(&engine, &script, 1).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    // One worker, one isolate: the fast route answers while the slow one awaits its operation.
    assert_eq!(call(&engine, &script, 2).await, (200, "fast".into()));
    assert!(
        !slow.is_finished(),
        "the fast route waited for the slow operation"
    );
    assert_eq!(slow.await.unwrap(), (200, "slow".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_services_or_during_init_operations_fail_clearly() {
    let engine = engine(None);
    let script = deploy(&engine, SCRIPT).await;
    let (_, body) = call(&engine, &script, 3).await;
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["code"], "UNAVAILABLE");

    let files = vec![
        BundleFile {
            path: "main.js".into(),
            content: br#"export async function init() { await wasm.run("a.wasm"); }"#.to_vec(),
        },
        BundleFile {
            path: "a.wasm".into(),
            content: b"\0asm".to_vec(),
        },
    ];
    let error = engine
        .prepare(
            "init-op",
            files,
            Limits::default(),
            BTreeMap::new(),
            BundleLimits::default(),
        )
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("cannot be used while the script starts"),
        "{error}"
    );
}

/// Answers `fetch` with a fixed response whose body travels as the result's binary part.
struct BinaryFetch;

impl HostServices for BinaryFetch {
    fn call(&self, call: HostCall) -> HostFuture {
        Box::pin(async move {
            if call.args["url"] == "http://upstream.test/fail" {
                return Err(HostError::new("EGRESS_DENIED", "refused on purpose"));
            }
            call.reply
                .set(bytes::Bytes::from_static(&[0, 159, 146, 150, 255]));
            Ok(serde_json::json!({
                "status": 201,
                "statusText": "Created",
                "headers": ["content-type", "application/octet-stream"],
                "url": call.args["url"],
                "redirected": true,
            }))
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_results_reach_the_script_as_bytes() {
    let engine = engine(Some(Arc::new(BinaryFetch)));
    let source = r#"
export function init() {
  registerWebHandler("GET", "/bytes", async () => {
    const r = await fetch("http://upstream.test/x");
    return { status: r.status, statusText: r.statusText, redirected: r.redirected, url: r.url,
             type: r.headers.get("content-type"), bytes: [...await r.bytes()] };
  });
  registerWebHandler("GET", "/denied", async () => {
    try { await fetch("http://upstream.test/fail"); return "no"; }
    catch (e) { return { name: e.name, code: e.code, kiln: e instanceof KilnError }; }
  });
}"#;
    let script = deploy(&engine, source).await;
    let (status, body) = call(&engine, &script, 0).await;
    assert_eq!(status, 200, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"status": 201, "statusText": "Created", "redirected": true,
            "url": "http://upstream.test/x", "type": "application/octet-stream",
            "bytes": [0, 159, 146, 150, 255]})
    );
    let (_, body) = call(&engine, &script, 1).await;
    assert_eq!(
        body,
        r#"{"name":"EgressDeniedError","code":"EGRESS_DENIED","kiln":true}"#
    );
}

/// Services whose every operation waits forever, counting the operations dropped unfinished.
#[derive(Default)]
struct Hanging {
    started: std::sync::atomic::AtomicUsize,
    dropped: Arc<std::sync::atomic::AtomicUsize>,
}

struct CountDrop(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl HostServices for Hanging {
    fn call(&self, _call: HostCall) -> HostFuture {
        self.started
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let guard = CountDrop(self.dropped.clone());
        Box::pin(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
            Ok(serde_json::Value::Null)
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborting_a_fetch_cancels_its_operation_and_frees_its_slot() {
    let services = Arc::new(Hanging::default());
    let engine = engine(Some(services.clone()));
    let script = deploy(
        &engine,
        r#"
export function init() {
  registerWebHandler("GET", "/abort-many", async () => {
    // More than the 64 operations an isolate may have in flight: each abort frees its slot,
    // whether the operation had started (a timer turn in between) or not yet.
    let started = 0, unstarted = 0;
    for (let i = 0; i < 100; i++) {
      const controller = new AbortController();
      const pending = fetch("http://upstream.test/", { signal: controller.signal });
      await new Promise((resolve) => setTimeout(resolve, 0));
      controller.abort();
      try { await pending; } catch (e) { if (e.name === "AbortError") started++; }
    }
    for (let i = 0; i < 100; i++) {
      const controller = new AbortController();
      const pending = fetch("http://upstream.test/", { signal: controller.signal });
      controller.abort();
      try { await pending; } catch (e) { if (e.name === "AbortError") unstarted++; }
    }
    return { started, unstarted };
  });
}"#,
    )
    .await;
    assert_eq!(
        call(&engine, &script, 0).await,
        (200, r#"{"started":100,"unstarted":100}"#.into())
    );
    let dropped = || services.dropped.load(std::sync::atomic::Ordering::SeqCst);
    for _ in 0..200 {
        if dropped() == 100 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(dropped(), 100, "every aborted operation was stopped");
    // The operations aborted in the turn that requested them never reached the services.
    assert_eq!(
        services.started.load(std::sync::atomic::Ordering::SeqCst),
        100
    );
}
