//! The engine on its own, driven from a thread that is not one of its workers (so every
//! invocation takes the cross-thread path): prepare, warm, invoke, limits, retire.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kiln_js::{
    BundleFile, BundleLimits, Engine, EngineConfig, HttpRequest, InvokeError, Limits, LogSink,
    ScriptLog, ScriptVersion,
};

#[derive(Default)]
struct Collect(Mutex<Vec<ScriptLog>>);

impl LogSink for Collect {
    fn log(&self, entry: ScriptLog) {
        self.0.lock().unwrap().push(entry);
    }
}

fn request(path: &str) -> HttpRequest {
    HttpRequest {
        method: "GET".into(),
        url: format!("http://kiln.test{path}"),
        headers: http::HeaderMap::new(),
        body: bytes::Bytes::new(),
        ..HttpRequest::default()
    }
}

fn engine_with(workers: usize, sink: Arc<dyn LogSink>) -> Engine {
    let config = EngineConfig {
        workers,
        ..EngineConfig::default()
    };
    Engine::start(config, sink).expect("engine")
}

async fn deploy(engine: &Engine, source: &str, limits: Limits) -> Arc<ScriptVersion> {
    let files = vec![BundleFile {
        path: "main.js".into(),
        content: source.as_bytes().to_vec(),
    }];
    let prepared = engine
        .prepare("t", files, limits, BTreeMap::new(), BundleLimits::default())
        .await
        .expect("prepare");
    let script = Arc::new(prepared.committed(1));
    engine.warm(&script);
    script
}

const SCRIPT: &str = r#"
let count = 0;
export function init() {
  registerWebHandler("GET", "/count", () => ({ count: ++count }));
  registerWebHandler("GET", "/wait", async () => { await new Promise((r) => setTimeout(r, 50)); return "waited"; });
  registerWebHandler("GET", "/spin", () => { for (;;) {} });
  registerWebHandler("GET", "/log", (req, ctx) => { console.warn("hi from", ctx.requestId); return "logged"; });
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invocations_from_outside_the_workers_are_sent_to_them() {
    let sink = Arc::new(Collect::default());
    let engine = engine_with(2, sink.clone());
    assert_eq!(engine.worker_count(), 2);
    let script = deploy(&engine, SCRIPT, Limits::default()).await;
    assert_eq!(script.routes.len(), 4);

    // Round robin over two workers, each with its own isolate (and its own counter).
    let mut counts = Vec::new();
    for _ in 0..4 {
        let answer = engine
            .invoke(&script, 0, vec![], request("/count"), "r")
            .await
            .expect("invoke");
        assert_eq!(answer.status, 200);
        assert_eq!(answer.headers["content-type"], "application/json");
        counts.push(String::from_utf8(answer.body.to_vec()).unwrap());
    }
    counts.sort();
    assert_eq!(
        counts,
        [
            r#"{"count":1}"#,
            r#"{"count":1}"#,
            r#"{"count":2}"#,
            r#"{"count":2}"#
        ]
    );

    let answer = engine
        .invoke(&script, 1, vec![], request("/wait"), "r")
        .await
        .expect("wait");
    assert_eq!(&answer.body[..], b"waited");

    let error = engine
        .invoke(&script, 2, vec![], request("/spin"), "r")
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            InvokeError::Timeout {
                budget: "CPU time",
                limit_ms: 50
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.status(), 504);

    let answer = engine
        .invoke(&script, 3, vec![], request("/log"), "req-42")
        .await
        .expect("log");
    assert_eq!(&answer.body[..], b"logged");
    let logs = sink.0.lock().unwrap();
    assert!(
        logs.iter()
            .any(|l| l.message == "hi from req-42" && l.request_id.as_deref() == Some("req-42")),
        "{:?}",
        logs.iter().map(|l| &l.message).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wall_clock_budget_answers_a_promise_that_never_settles() {
    let engine = engine_with(1, Arc::new(Collect::default()));
    let limits = Limits {
        wall: Duration::from_millis(200),
        ..Limits::default()
    };
    let script = deploy(
        &engine,
        "export function init() { registerWebHandler('GET', '/', () => new Promise(() => {})); }",
        limits,
    )
    .await;
    let error = engine
        .invoke(&script, 0, vec![], request("/"), "r")
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            InvokeError::Timeout {
                budget: "wall-clock time",
                limit_ms: 200
            }
        ),
        "{error:?}"
    );
    // Retiring the version drops its isolates; invoking it again starts a fresh one.
    engine.retire(&script);
    let error = engine
        .invoke(&script, 0, vec![], request("/"), "r")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "SCRIPT_TIMEOUT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_hog_gets_the_memory_limit_error_and_a_fresh_isolate() {
    let engine = engine_with(1, Arc::new(Collect::default()));
    let limits = Limits {
        memory_bytes: 24 * 1024 * 1024,
        ..Limits::default()
    };
    let source = r#"
      let calls = 0;
      export function init() {
        registerWebHandler("GET", "/hog", () => { const hog = []; for (;;) hog.push(new Array(10000).fill(hog.length)); });
        registerWebHandler("GET", "/swallow", () => {
          try { const hog = []; for (;;) hog.push(new Array(10000).fill(1)); } catch (e) { return "swallowed"; }
        });
        registerWebHandler("GET", "/calls", () => ({ calls: ++calls }));
      }"#;
    let script = deploy(&engine, source, limits).await;
    assert_eq!(
        engine
            .invoke(&script, 2, vec![], request("/calls"), "r")
            .await
            .expect("calls")
            .body,
        &br#"{"calls":1}"#[..]
    );
    for route in [0, 1] {
        let error = engine
            .invoke(&script, route, vec![], request("/"), "r")
            .await
            .unwrap_err();
        assert!(
            matches!(error, InvokeError::MemoryLimit { limit_mib: 24 }),
            "route {route}: {error:?}"
        );
        assert_eq!((error.status(), error.code()), (503, "SCRIPT_MEMORY_LIMIT"));
        // The isolate was replaced: module state starts over.
        let answer = engine
            .invoke(&script, 2, vec![], request("/calls"), "r")
            .await
            .expect("calls");
        assert_eq!(&answer.body[..], br#"{"calls":1}"#);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepare_rejects_what_cannot_start() {
    let engine =
        Engine::start(EngineConfig::default(), Arc::new(Collect::default())).expect("engine");
    let cases = [
        (
            "export function init() { throw new TypeError('nope'); }",
            "TypeError: nope",
        ),
        ("export function init() { for (;;) {} }", "CPU budget"),
        (
            "export function init() { const a = []; for (;;) a.push(new Array(1e5).fill(1)); }",
            "memory",
        ),
        (
            "export function init() { registerWebHandler('GET', 'no-slash', () => 1); }",
            "path",
        ),
        (
            "export function init() { registerWebHandler('GET', '/x', 'notAFunction'); }",
            "function",
        ),
    ];
    for (source, needle) in cases {
        let files = vec![BundleFile {
            path: "main.js".into(),
            content: source.as_bytes().to_vec(),
        }];
        let limits = Limits {
            memory_bytes: 16 * 1024 * 1024,
            ..Limits::default()
        };
        let error = engine
            .prepare(
                "bad",
                files,
                limits,
                BTreeMap::new(),
                BundleLimits::default(),
            )
            .await
            .expect_err(source);
        let message = error.to_string();
        assert!(
            message.contains(needle),
            "expected {needle:?} in {message:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tighter_per_call_cpu_limit_wins_and_cpu_use_is_reported() {
    let sink = Arc::new(Collect::default());
    let engine = engine_with(1, sink);
    let limits = Limits {
        cpu: std::time::Duration::from_secs(2),
        ..Limits::default()
    };
    let script = deploy(
        &engine,
        r#"export function init() {
          registerWebHandler("GET", "/burn", () => {
            // A fixed amount of work (not a wall-clock span: a loaded machine would give the
            // thread less CPU in 30 ms of wall time) plus at least 30 ms.
            const end = Date.now() + 30; let n = 0;
            while (n < 3e6 || Date.now() < end) n++;
            return String(n > 0);
          });
        }"#,
        limits,
    )
    .await;
    let answer = engine
        .invoke(&script, 0, vec![], request("/burn"), "r")
        .await
        .expect("burn");
    assert_eq!(&answer.body[..], b"true");
    assert!(
        answer.cpu_ns >= 10_000_000,
        "about 30 ms of CPU is reported, got {} ns",
        answer.cpu_ns
    );

    let tight = HttpRequest {
        cpu_limit: Some(std::time::Duration::from_millis(5)),
        ..request("/burn")
    };
    let error = engine
        .invoke(&script, 0, vec![], tight, "r")
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            InvokeError::Timeout {
                budget: "CPU time",
                limit_ms: 5
            }
        ),
        "{error:?}"
    );
}

/// `ctx.env` is the version's variables with the invocation's overlay (secrets) laid over them;
/// a new overlay is seen by the next invocation, and the object stays frozen even when the
/// script replaced `Object.freeze`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctx_env_overlays_are_per_invocation() {
    let sink = Arc::new(Collect::default());
    let engine = engine_with(1, sink);
    let files = vec![BundleFile {
        path: "main.js".into(),
        content: br#"
Object.freeze = (o) => o;
export function init() {
  registerWebHandler("GET", "/env", (req, ctx) => {
    try { ctx.env.MODE = "tampered"; } catch {}
    return { env: { ...ctx.env }, frozen: Object.isFrozen(ctx.env) };
  });
}"#
        .to_vec(),
    }];
    let vars = BTreeMap::from([
        ("MODE".to_owned(), "prod".to_owned()),
        ("TOKEN".to_owned(), "from-vars".to_owned()),
    ]);
    let prepared = engine
        .prepare("t", files, Limits::default(), vars, BundleLimits::default())
        .await
        .expect("prepare");
    let script = Arc::new(prepared.committed(1));
    engine.warm(&script);
    let call = |env: Option<Arc<kiln_js::EnvOverlay>>| {
        let engine = &engine;
        let script = script.clone();
        async move {
            let request = HttpRequest {
                env,
                ..request("/env")
            };
            let answer = engine
                .invoke(&script, 0, vec![], request, "r")
                .await
                .expect("invoke");
            serde_json::from_slice::<serde_json::Value>(&answer.body).expect("json")
        }
    };
    let plain = call(None).await;
    assert_eq!(
        plain,
        serde_json::json!({"env": {"MODE": "prod", "TOKEN": "from-vars"}, "frozen": true})
    );
    let first = Arc::new(kiln_js::EnvOverlay::new(vec![(
        "TOKEN".into(),
        "s3cret".into(),
    )]));
    for _ in 0..2 {
        let seen = call(Some(first.clone())).await;
        assert_eq!(
            seen,
            serde_json::json!({"env": {"MODE": "prod", "TOKEN": "s3cret"}, "frozen": true})
        );
    }
    let second = Arc::new(kiln_js::EnvOverlay::new(vec![("KEY".into(), "k2".into())]));
    assert_eq!(
        call(Some(second)).await["env"],
        serde_json::json!({"KEY": "k2", "MODE": "prod", "TOKEN": "from-vars"})
    );
    assert_eq!(
        call(None).await["env"],
        serde_json::json!({"MODE": "prod", "TOKEN": "from-vars"})
    );
    assert!(
        !format!("{first:?}").contains("s3cret"),
        "Debug shows names only"
    );
}
