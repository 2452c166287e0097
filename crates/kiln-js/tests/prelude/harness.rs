//! Shared harness: the Rust stub `host`, the prelude loader, and `Harness` with its helpers.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use rquickjs::{
    CatchResultExt, Coerced, Context, Ctx, Exception, Function, Object, Persistent, Runtime,
    TypedArray, Value,
};

// ---------------------------------------------------------------------------
// Host stub

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    Empty,
    Text(String),
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Complete {
        status: i32,
        headers: Vec<(String, String)>,
        body: Body,
    },
    Fail {
        status: i32,
        code: String,
        message: String,
        detail: Option<String>,
    },
}

impl Outcome {
    pub(crate) fn status(&self) -> i32 {
        match self {
            Outcome::Complete { status, .. } | Outcome::Fail { status, .. } => *status,
        }
    }

    pub(crate) fn header(&self, name: &str) -> Option<String> {
        match self {
            Outcome::Complete { headers, .. } => headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone()),
            Outcome::Fail { .. } => None,
        }
    }

    pub(crate) fn text(&self) -> String {
        match self {
            Outcome::Complete {
                body: Body::Text(t),
                ..
            } => t.clone(),
            Outcome::Complete {
                body: Body::Bytes(b),
                ..
            } => String::from_utf8(b.clone()).unwrap(),
            Outcome::Complete {
                body: Body::Empty, ..
            } => String::new(),
            Outcome::Fail { .. } => panic!("expected a completed response, got {self:?}"),
        }
    }

    pub(crate) fn fail_parts(&self) -> (i32, String, String, Option<String>) {
        match self {
            Outcome::Fail {
                status,
                code,
                message,
                detail,
            } => (*status, code.clone(), message.clone(), detail.clone()),
            Outcome::Complete { .. } => panic!("expected a failure, got {self:?}"),
        }
    }
}

#[derive(Default)]
pub(crate) struct HostState {
    pub(crate) logs: Vec<(String, String)>,
    pub(crate) outcomes: Vec<(i64, Outcome)>,
    pub(crate) scheduled: Vec<(i64, f64)>,
    pub(crate) cancelled: Vec<i64>,
}

pub(crate) type Shared = Rc<RefCell<HostState>>;

fn parts_value<'js>(ctx: &Ctx<'js>, parts: Option<Vec<String>>) -> rquickjs::Result<Value<'js>> {
    match parts {
        None => Ok(Value::new_null(ctx.clone())),
        Some(p) => {
            let arr = rquickjs::Array::new(ctx.clone())?;
            for (i, s) in p.into_iter().enumerate() {
                arr.set(i, s)?;
            }
            Ok(arr.into_value())
        }
    }
}

fn read_bytes(arr: &Object<'_>) -> rquickjs::Result<Vec<u8>> {
    let len: usize = arr.get("length")?;
    (0..len as u32).map(|i| arr.get::<_, u8>(i)).collect()
}

fn build_host<'js>(ctx: &Ctx<'js>, state: &Shared) -> rquickjs::Result<Object<'js>> {
    let host = Object::new(ctx.clone())?;

    let s = state.clone();
    host.set(
        "log",
        Function::new(ctx.clone(), move |level: String, message: String| {
            assert!(
                ["debug", "info", "warn", "error"].contains(&level.as_str()),
                "bad log level {level}"
            );
            s.borrow_mut().logs.push((level, message));
        })?,
    )?;
    let s = state.clone();
    host.set(
        "scheduleTimer",
        Function::new(ctx.clone(), move |id: i64, delay: f64| {
            assert!(id > 0, "timer ids must be positive");
            s.borrow_mut().scheduled.push((id, delay));
        })?,
    )?;
    let s = state.clone();
    host.set(
        "cancelTimer",
        Function::new(ctx.clone(), move |id: i64| {
            s.borrow_mut().cancelled.push(id);
        })?,
    )?;
    host.set(
        "fillRandom",
        Function::new(ctx.clone(), |arr: Object<'_>| -> rquickjs::Result<()> {
            let len: usize = arr.get("length")?;
            let mut buf = vec![0u8; len];
            getrandom::fill(&mut buf).expect("getrandom");
            for (i, b) in (0u32..).zip(buf) {
                arr.set(i, b)?;
            }
            Ok(())
        })?,
    )?;
    host.set(
        "randomUUID",
        Function::new(ctx.clone(), || uuid::Uuid::new_v4().to_string())?,
    )?;
    host.set(
        "utf8Encode",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, s: String| {
            TypedArray::<u8>::new(ctx, s.into_bytes())
        })?,
    )?;
    host.set(
        "utf8Decode",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, arr: Object<'js>, fatal: bool| -> rquickjs::Result<String> {
                let bytes = read_bytes(&arr)?;
                if fatal {
                    String::from_utf8(bytes)
                        .map_err(|_| Exception::throw_type(&ctx, "invalid UTF-8"))
                } else {
                    Ok(String::from_utf8_lossy(&bytes).into_owned())
                }
            },
        )?,
    )?;
    host.set(
        "urlParse",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, input: String, base: Option<String>| {
                parts_value(&ctx, kiln_js::web_url::parse(&input, base.as_deref()))
            },
        )?,
    )?;
    host.set(
        "parseFormData",
        Function::new(ctx.clone(), kiln_js::form_data::parse_for_js)?,
    )?;
    host.set(
        "urlSet",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, href: String, part: String, value: String| {
                parts_value(&ctx, kiln_js::web_url::set(&href, &part, &value))
            },
        )?,
    )?;
    let s = state.clone();
    host.set(
        "complete",
        Function::new(
            ctx.clone(),
            move |id: i64,
                  status: i32,
                  headers: Value<'js>,
                  body: Value<'js>|
                  -> rquickjs::Result<()> {
                // A number is one of the engine's header presets (engine/host.rs).
                let headers: Vec<String> = match headers.as_number() {
                    Some(preset) => match preset as u32 {
                        0 => vec![],
                        1 => vec!["content-type".into(), "text/plain;charset=UTF-8".into()],
                        2 => vec!["content-type".into(), "text/html;charset=UTF-8".into()],
                        3 => vec!["content-type".into(), "application/json".into()],
                        4 => vec!["content-type".into(), "application/octet-stream".into()],
                        other => panic!("unknown header preset {other}"),
                    },
                    None => headers.get::<Vec<String>>()?,
                };
                assert!(
                    headers.len().is_multiple_of(2),
                    "headers must be a flat list of pairs"
                );
                let headers: Vec<(String, String)> = headers
                    .chunks(2)
                    .map(|c| (c[0].clone(), c[1].clone()))
                    .collect();
                for (name, _) in &headers {
                    assert_eq!(
                        name,
                        &name.to_ascii_lowercase(),
                        "header names must be lower case"
                    );
                }
                let body = if body.is_null() {
                    Body::Empty
                } else if let Some(s) = body.as_string() {
                    Body::Text(s.to_string()?)
                } else {
                    let obj = body
                        .into_object()
                        .expect("body must be null, a string or a Uint8Array");
                    assert!(obj.is_typed_array::<u8>(), "body must be a Uint8Array");
                    Body::Bytes(read_bytes(&obj)?)
                };
                s.borrow_mut().outcomes.push((
                    id,
                    Outcome::Complete {
                        status,
                        headers,
                        body,
                    },
                ));
                Ok(())
            },
        )?,
    )?;
    // The stub bundle holds exactly these files.
    host.set(
        "bundleHasFile",
        Function::new(ctx.clone(), |path: String| {
            ["main.js", "app.wasm", "handlers/app.wasm", "notes.txt"].contains(&path.as_str())
        })?,
    )?;
    let s = state.clone();
    host.set(
        "fail",
        Function::new(
            ctx.clone(),
            move |id: i64, status: i32, code: String, message: String, detail: Option<String>| {
                s.borrow_mut().outcomes.push((
                    id,
                    Outcome::Fail {
                        status,
                        code,
                        message,
                        detail,
                    },
                ));
            },
        )?,
    )?;
    Ok(host)
}

fn prelude_source() -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/js");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read src/js")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "js"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "expected the prelude files in {}",
        dir.display()
    );
    let mut src = String::from("(function (host, global) { \"use strict\";\n");
    for f in files {
        src.push_str(&std::fs::read_to_string(&f).expect("read prelude file"));
        src.push('\n');
    }
    src.push_str("return internal;\n})");
    src
}

/// JS helpers for assertions, installed as globals (they capture what they use).
const TEST_HELPERS: &str = r#"
(() => {
  const stringify = JSON.stringify;
  const str = (v) => { try { return typeof v === "string" ? stringify(v) : String(stringify(v) ?? String(v)); } catch { return String(v); } };
  globalThis.assert = (cond, msg) => { if (!cond) throw new Error("assertion failed: " + (msg ?? "")); };
  globalThis.assertEq = (actual, expected, msg) => {
    const a = str(actual), e = str(expected);
    if (a !== e) throw new Error(`assertEq failed${msg ? " (" + msg + ")" : ""}:\n  actual:   ${a}\n  expected: ${e}`);
  };
  globalThis.assertThrows = (fn, name, includes) => {
    try { fn(); } catch (e) {
      if (name !== undefined && e?.name !== name) throw new Error(`expected ${name}, got ${e?.name}: ${e?.message}`);
      if (includes !== undefined && !String(e?.message).includes(includes)) throw new Error(`message ${stringify(e?.message)} lacks ${stringify(includes)}`);
      return e;
    }
    throw new Error(`expected ${name ?? "an exception"} from ${fn}`);
  };
  globalThis.assertRejects = async (promise, name, includes) => {
    try { await promise; } catch (e) {
      if (name !== undefined && e?.name !== name) throw new Error(`expected ${name}, got ${e?.name}: ${e?.message}`);
      if (includes !== undefined && !String(e?.message).includes(includes)) throw new Error(`message ${stringify(e?.message)} lacks ${stringify(includes)}`);
      return e;
    }
    throw new Error(`expected rejection with ${name ?? "an exception"}`);
  };
})();
"#;

pub(crate) struct Harness {
    internal: Persistent<Object<'static>>,
    pub(crate) state: Shared,
    ctx: Context,
    _rt: Runtime,
    next_id: RefCell<i64>,
    /// The identity JSON passed with the next dispatches (`ctx.user` / `ctx.apiKey`).
    identity: RefCell<Option<String>>,
}

impl Harness {
    pub(crate) fn new() -> Harness {
        Self::with_memory_limit(None)
    }

    pub(crate) fn with_memory_limit(limit: Option<usize>) -> Harness {
        Self::build(limit, false)
    }

    /// The prelude in the second context of a runtime (quickjs-ng only gives the first
    /// context of a runtime a native DOMException).
    pub(crate) fn in_second_context() -> Harness {
        Self::build(None, true)
    }

    pub(crate) fn build(limit: Option<usize>, second_context: bool) -> Harness {
        let rt = Runtime::new().unwrap();
        if second_context {
            drop(Context::full(&rt).unwrap());
        }
        let ctx = Context::full(&rt).unwrap();
        let state: Shared = Rc::default();
        let internal = ctx.with(|ctx| {
            let host = build_host(&ctx, &state).unwrap();
            let wrapper: Function = ctx
                .eval(prelude_source())
                .catch(&ctx)
                .unwrap_or_else(|e| panic!("prelude: {e}"));
            let internal: Object = wrapper
                .call((host, ctx.globals()))
                .catch(&ctx)
                .unwrap_or_else(|e| panic!("prelude init: {e}"));
            let _: Value = ctx
                .eval(TEST_HELPERS)
                .catch(&ctx)
                .unwrap_or_else(|e| panic!("helpers: {e}"));
            Persistent::save(&ctx, internal)
        });
        if let Some(limit) = limit {
            rt.set_memory_limit(limit);
        }
        Harness {
            internal,
            state,
            ctx,
            _rt: rt,
            next_id: RefCell::new(0),
            identity: RefCell::new(None),
        }
    }

    pub(crate) fn run_jobs(&self) {
        self.ctx.with(|ctx| while ctx.execute_pending_job() {});
    }

    /// Evaluate a script (global scope), run pending jobs, return `String(result)`.
    pub(crate) fn eval(&self, code: &str) -> Result<String, String> {
        let r = self.ctx.with(|ctx| {
            let v: rquickjs::Result<Coerced<String>> = ctx.eval(code);
            v.map(|c| c.0).catch(&ctx).map_err(|e| e.to_string())
        });
        self.run_jobs();
        r
    }

    /// Run JS statements that throw on failure.
    #[track_caller]
    pub(crate) fn check(&self, code: &str) {
        if let Err(e) = self.eval(code) {
            panic!("JS check failed: {e}\n--- code ---\n{code}");
        }
    }

    /// Run the body of an async function; fail if it rejects.
    #[track_caller]
    pub(crate) fn check_async(&self, body: &str) {
        let code = format!(
            "globalThis.__asyncResult = 'pending';\n(async () => {{\n{body}\n}})().then(() => {{ globalThis.__asyncResult = 'ok'; }}, (e) => {{ globalThis.__asyncResult = 'FAIL: ' + (e && e.stack ? e.name + ': ' + e.message + '\\n' + e.stack : String(e)); }}); undefined"
        );
        self.check(&code);
        let r = self.eval("globalThis.__asyncResult").unwrap();
        assert_eq!(r, "ok", "async JS check failed\n--- code ---\n{body}");
    }

    pub(crate) fn call_internal<'a>(
        &self,
        name: &str,
        args: impl FnOnce(Ctx<'_>) -> Vec<Value<'_>> + 'a,
    ) -> Result<String, String> {
        let r = self.ctx.with(|ctx| {
            let internal = self.internal.clone().restore(&ctx).unwrap();
            let f: Function = internal.get(name).unwrap();
            let mut a = rquickjs::function::Args::new(ctx.clone(), 16);
            for v in args(ctx.clone()) {
                a.push_arg(v).unwrap();
            }
            let r: rquickjs::Result<Value> = f.call_arg(a);
            r.and_then(|v| {
                if v.is_undefined() {
                    Ok("undefined".to_owned())
                } else {
                    ctx.json_stringify(v)
                        .map(|s| s.map(|s| s.to_string().unwrap()).unwrap_or_default())
                }
            })
            .catch(&ctx)
            .map_err(|e| e.to_string())
        });
        self.run_jobs();
        r
    }

    pub(crate) fn begin_init(&self) {
        self.call_internal("beginInit", |_| vec![]).unwrap();
    }

    pub(crate) fn end_init(&self) {
        self.call_internal("endInit", |_| vec![]).unwrap();
    }

    /// Run `code` as the script's init phase.
    #[track_caller]
    pub(crate) fn init(&self, code: &str) {
        self.begin_init();
        let r = self.eval(code);
        self.end_init();
        if let Err(e) = r {
            panic!("init failed: {e}\n--- code ---\n{code}");
        }
    }

    pub(crate) fn routes(&self) -> serde_json::Value {
        serde_json::from_str(&self.call_internal("routes", |_| vec![]).unwrap()).unwrap()
    }

    /// Sets the identity JSON later dispatches carry (`None`: anonymous).
    pub(crate) fn set_identity(&self, json: Option<&str>) {
        *self.identity.borrow_mut() = json.map(str::to_owned);
    }

    pub(crate) fn dispatch_full(
        &self,
        route: u32,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        params: &[(&str, &str)],
    ) -> Outcome {
        let id = {
            let mut n = self.next_id.borrow_mut();
            *n += 1;
            *n
        };
        let before = self.state.borrow().outcomes.len();
        let identity = self.identity.borrow().clone();
        self.call_internal("dispatch", |ctx| {
            let flat = rquickjs::Array::new(ctx.clone()).unwrap();
            for (i, (n, v)) in headers.iter().enumerate() {
                flat.set(2 * i, n.to_string()).unwrap();
                flat.set(2 * i + 1, v.to_string()).unwrap();
            }
            let body = match body {
                None => Value::new_null(ctx.clone()),
                Some(b) => TypedArray::<u8>::new(ctx.clone(), b.to_vec())
                    .unwrap()
                    .into_value(),
            };
            let p = Object::new(ctx.clone()).unwrap();
            for (k, v) in params {
                p.set(*k, v.to_string()).unwrap();
            }
            let env = Object::new(ctx.clone()).unwrap();
            env.set("GREETING", "hello").unwrap();
            vec![
                Value::new_number(ctx.clone(), id as f64),
                Value::new_int(ctx.clone(), route as i32),
                rquickjs::String::from_str(ctx.clone(), method)
                    .unwrap()
                    .into_value(),
                rquickjs::String::from_str(ctx.clone(), url)
                    .unwrap()
                    .into_value(),
                flat.into_value(),
                body,
                p.into_value(),
                rquickjs::String::from_str(ctx.clone(), &format!("req-{id}"))
                    .unwrap()
                    .into_value(),
                env.into_value(),
                match &identity {
                    Some(json) => rquickjs::String::from_str(ctx.clone(), json)
                        .unwrap()
                        .into_value(),
                    None => Value::new_undefined(ctx.clone()),
                },
            ]
        })
        .unwrap_or_else(|e| panic!("dispatch threw: {e}"));
        let state = self.state.borrow();
        let mine: Vec<&Outcome> = state.outcomes[before..]
            .iter()
            .filter(|(i, _)| *i == id)
            .map(|(_, o)| o)
            .collect();
        assert_eq!(
            mine.len(),
            1,
            "expected exactly one outcome for invocation {id}, got {mine:?}"
        );
        assert_eq!(
            state.outcomes.len() - before,
            1,
            "unexpected extra outcomes: {:?}",
            &state.outcomes[before..]
        );
        mine[0].clone()
    }

    pub(crate) fn dispatch(&self, route: u32, method: &str, url: &str) -> Outcome {
        self.dispatch_full(route, method, url, &[], None, &[])
    }

    pub(crate) fn take_logs(&self) -> Vec<(String, String)> {
        std::mem::take(&mut self.state.borrow_mut().logs)
    }

    pub(crate) fn last_log(&self) -> (String, String) {
        self.state
            .borrow()
            .logs
            .last()
            .cloned()
            .expect("no log line")
    }

    pub(crate) fn fire_timer(&self, id: i64) {
        self.call_internal("fireTimer", |ctx| vec![Value::new_number(ctx, id as f64)])
            .unwrap();
    }
}
