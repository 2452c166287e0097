//! The native side of the prelude's `host` object: the only door from a script's JavaScript
//! into Rust.
//!
//! Each isolate owns one [`HostState`]. The native functions installed here never touch
//! anything outside it: they append to its queues (completed invocations, timer operations)
//! or answer from pure computation (UTF-8, URL and form parsing, randomness) and the script's own
//! bundle (whether it holds a file). The worker drains the queues after every turn. Nothing
//! here gives access to files, processes or the network.
#![allow(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use rquickjs::function::Opt;
use rquickjs::{ArrayBuffer, Ctx, Exception, Function, Object, TypedArray, Value};

use crate::invocation::{HttpResponse, InvokeError, LogLevel, LogSink, ScriptLog, now_ms};
use crate::limits::{MAX_OP_INPUT_BYTES, MAX_PENDING_OPS, MAX_PENDING_TIMERS};
use crate::script::ScriptVersion;

/// Longest single log message kept; longer ones are truncated (a log flood stays bounded).
pub const MAX_LOG_MESSAGE_BYTES: usize = 16 * 1024;

/// A finished invocation reported by `host.complete` / `host.fail`.
pub(crate) struct Completion {
    pub id: u64,
    pub outcome: Result<HttpResponse, InvokeError>,
}

/// A timer change requested by `setTimeout`/`clearTimeout`.
pub(crate) enum TimerOp {
    Schedule { id: u64, delay_ms: u64 },
    Cancel { id: u64 },
}

/// An asynchronous host operation requested by `host.startOp`, started by the worker.
pub(crate) struct OpRequest {
    pub id: u64,
    pub op: String,
    pub args: serde_json::Value,
    pub bytes: Option<Bytes>,
}

/// Per-isolate state shared between the native host functions and the worker.
pub(crate) struct HostState {
    pub script: Arc<ScriptVersion>,
    pub sink: Arc<dyn LogSink>,
    pub completions: RefCell<Vec<Completion>>,
    pub timer_ops: RefCell<Vec<TimerOp>>,
    /// Host operations requested during the current turn.
    pub op_requests: RefCell<Vec<OpRequest>>,
    /// Host operations the script gave up on during the current turn (`host.cancelOp`, e.g.
    /// an aborted fetch): the worker stops them.
    pub op_cancels: RefCell<Vec<u64>>,
    /// Host operations started and not yet settled.
    pub pending_ops: Cell<usize>,
    /// Id of the next host operation.
    next_op: Cell<u64>,
    /// Whether host operations may start (not during start-up: nothing settles them then).
    pub ops_enabled: Cell<bool>,
    /// Request id of the invocation the current turn runs for (for log lines).
    pub current_request: RefCell<Option<Arc<str>>>,
    /// Timers scheduled and not yet fired or cancelled.
    pub pending_timers: Cell<usize>,
    /// Set when a handler reported running out of memory; the worker retires the isolate.
    pub out_of_memory: Cell<bool>,
}

impl HostState {
    pub fn new(script: Arc<ScriptVersion>, sink: Arc<dyn LogSink>) -> Self {
        HostState {
            script,
            sink,
            completions: RefCell::new(Vec::new()),
            timer_ops: RefCell::new(Vec::new()),
            op_requests: RefCell::new(Vec::new()),
            op_cancels: RefCell::new(Vec::new()),
            pending_ops: Cell::new(0),
            next_op: Cell::new(1),
            ops_enabled: Cell::new(false),
            current_request: RefCell::new(None),
            pending_timers: Cell::new(0),
            out_of_memory: Cell::new(false),
        }
    }

    /// Writes one line to the script's log, tagged with the current request.
    pub fn log(&self, level: LogLevel, mut message: String) {
        if message.len() > MAX_LOG_MESSAGE_BYTES {
            let mut cut = MAX_LOG_MESSAGE_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str("… [truncated]");
        }
        let request_id = self.current_request.borrow().as_deref().map(str::to_owned);
        self.sink.log(ScriptLog {
            script: self.script.name.clone(),
            version: self.script.version,
            level,
            message,
            request_id,
            time_ms: now_ms(),
        });
    }
}

/// Builds the `host` object handed to the prelude.
pub(crate) fn build_host<'js>(
    ctx: &Ctx<'js>,
    state: &Rc<HostState>,
) -> rquickjs::Result<Object<'js>> {
    let host = Object::new(ctx.clone())?;
    super::host_crypto::install(ctx, &host)?;

    let st = state.clone();
    host.set(
        "log",
        Function::new(ctx.clone(), move |level: String, message: String| {
            st.log(LogLevel::from_js(&level), message);
        })?,
    )?;

    let st = state.clone();
    host.set(
        "scheduleTimer",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, id: f64, delay: f64| {
            if st.pending_timers.get() >= MAX_PENDING_TIMERS {
                return Err(Exception::throw_range(
                    &ctx,
                    &format!("too many pending timers (limit {MAX_PENDING_TIMERS})"),
                ));
            }
            st.pending_timers.set(st.pending_timers.get() + 1);
            let delay_ms = if delay.is_finite() && delay > 0.0 {
                delay as u64
            } else {
                0
            };
            st.timer_ops.borrow_mut().push(TimerOp::Schedule {
                id: id as u64,
                delay_ms,
            });
            Ok(())
        })?,
    )?;

    let st = state.clone();
    host.set(
        "cancelTimer",
        Function::new(ctx.clone(), move |id: f64| {
            st.timer_ops
                .borrow_mut()
                .push(TimerOp::Cancel { id: id as u64 });
        })?,
    )?;

    let st = state.clone();
    host.set(
        "startOp",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, op: String, args: String, bytes: Opt<Value<'js>>| {
                start_op(&ctx, &st, op, &args, bytes.0)
            },
        )?,
    )?;

    let st = state.clone();
    host.set(
        "cancelOp",
        Function::new(ctx.clone(), move |id: f64| {
            let id = id as u64;
            let mut requests = st.op_requests.borrow_mut();
            match requests.iter().position(|r| r.id == id) {
                // Not started yet (requested in this very turn): it never will be.
                Some(index) => {
                    requests.remove(index);
                    st.pending_ops.set(st.pending_ops.get().saturating_sub(1));
                }
                None => st.op_cancels.borrow_mut().push(id),
            }
        })?,
    )?;

    host.set(
        "fillRandom",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, target: Object<'js>| {
            let len: usize = target.get("byteLength")?;
            let mut bytes = vec![0u8; len];
            getrandom::fill(&mut bytes)
                .map_err(|e| Exception::throw_internal(&ctx, &format!("no randomness: {e}")))?;
            let source = TypedArray::<u8>::new(ctx.clone(), bytes)?;
            let set: Function = target.get("set")?;
            set.call::<_, ()>((rquickjs::function::This(target), source))
        })?,
    )?;

    host.set(
        "randomUUID",
        Function::new(ctx.clone(), || uuid::Uuid::new_v4().to_string())?,
    )?;

    host.set(
        "utf8Encode",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, text: String| {
            TypedArray::<u8>::new(ctx, text.into_bytes())
        })?,
    )?;

    host.set(
        "utf8Decode",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, data: Value<'js>, fatal: Opt<bool>| {
                let bytes = bytes_of(&data).ok_or_else(|| {
                    Exception::throw_type(
                        &ctx,
                        "TextDecoder.decode: expected an ArrayBuffer or ArrayBufferView",
                    )
                })?;
                if fatal.0.unwrap_or(false) {
                    String::from_utf8(bytes).map_err(|_| {
                        Exception::throw_type(
                            &ctx,
                            "TextDecoder.decode: the encoded data was not valid UTF-8",
                        )
                    })
                } else {
                    Ok(String::from_utf8_lossy(&bytes).into_owned())
                }
            },
        )?,
    )?;

    host.set(
        "urlParse",
        Function::new(ctx.clone(), |input: String, base: Opt<Option<String>>| {
            crate::web_url::parse(&input, base.0.flatten().as_deref())
        })?,
    )?;

    host.set(
        "parseFormData",
        Function::new(ctx.clone(), crate::form_data::parse_for_js)?,
    )?;

    host.set(
        "urlSet",
        Function::new(ctx.clone(), |href: String, part: String, value: String| {
            crate::web_url::set(&href, &part, &value)
        })?,
    )?;

    // Registration (`registerWasmHandler`) checks that a named module is in the bundle.
    let st = state.clone();
    host.set(
        "bundleHasFile",
        Function::new(ctx.clone(), move |path: String| {
            st.script.bundle.file(&path).is_some()
        })?,
    )?;

    let st = state.clone();
    host.set(
        "complete",
        Function::new(
            ctx.clone(),
            move |id: f64, status: f64, headers: Value<'js>, body: Value<'js>| {
                let limit = st.script.limits.max_response_bytes;
                let body = if body.is_null() || body.is_undefined() {
                    Some(Vec::new())
                } else if let Some(s) = body.as_string() {
                    s.to_string().ok().map(String::into_bytes)
                } else {
                    bytes_of(&body)
                };
                let outcome = match body {
                    Some(b) if b.len() > limit => {
                        Err(InvokeError::ResponseTooLarge { limit_bytes: limit })
                    }
                    Some(b) => Ok(HttpResponse {
                        status: status as u16,
                        headers: header_map(headers),
                        body: Bytes::from(b),
                        cpu_ns: 0,
                    }),
                    None => Err(InvokeError::Script {
                        status: 500,
                        code: "SCRIPT_ERROR".into(),
                        message: "The script produced a response body of an unsupported type"
                            .into(),
                    }),
                };
                if let Err(e) = &outcome {
                    st.log(LogLevel::Error, e.to_string());
                }
                st.completions.borrow_mut().push(Completion {
                    id: id as u64,
                    outcome,
                });
            },
        )?,
    )?;

    let st = state.clone();
    host.set(
        "fail",
        Function::new(
            ctx.clone(),
            move |id: f64,
                  status: f64,
                  code: String,
                  message: String,
                  detail: Opt<Option<String>>| {
                let outcome = if code == "SCRIPT_MEMORY_LIMIT" {
                    st.out_of_memory.set(true);
                    InvokeError::MemoryLimit {
                        limit_mib: st.script.limits.memory_bytes / (1024 * 1024),
                    }
                } else {
                    let status = status as u16;
                    InvokeError::Script {
                        status: if (400..=599).contains(&status) {
                            status
                        } else {
                            500
                        },
                        code,
                        message,
                    }
                };
                if let Some(detail) = detail.0.flatten() {
                    let detail = script_stack(&st.script.bundle, &detail);
                    st.log(LogLevel::Error, format!("Uncaught exception: {detail}"));
                }
                st.completions.borrow_mut().push(Completion {
                    id: id as u64,
                    outcome: Err(outcome),
                });
            },
        )?,
    )?;

    Ok(host)
}

/// Content types of the header presets the prelude may pass to `host.complete` instead of a
/// list (index = preset number; 0 = no headers).
const HEADER_PRESETS: [&str; 5] = [
    "",
    "text/plain;charset=UTF-8",
    "text/html;charset=UTF-8",
    "application/json",
    "application/octet-stream",
];

/// The response headers from `host.complete`: a preset number, or a flat list of
/// `[name, value, …]` strings (already validated by the `Headers` class; anything invalid
/// that slips through is skipped rather than failing the response).
fn header_map(headers: Value<'_>) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    if let Some(preset) = headers.as_number() {
        if let Some(content_type) = HEADER_PRESETS
            .get(preset as usize)
            .filter(|c| !c.is_empty())
        {
            map.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(content_type),
            );
        }
        return map;
    }
    let Some(list) = headers.into_array() else {
        return map;
    };
    let mut items = list.iter::<String>();
    while let (Some(Ok(name)), Some(Ok(value))) = (items.next(), items.next()) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            map.append(name, value);
        }
    }
    map
}

/// A stack trace as the script author should see it: positions mapped back to the original
/// files, and Kiln's own prelude frames left out.
pub(crate) fn script_stack(bundle: &crate::bundle::Bundle, stack: &str) -> String {
    let remapped = bundle.remap_stack(stack);
    remapped
        .lines()
        .filter(|line| !line.contains("kiln:prelude"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `host.startOp(op, argsJson, bytes?)`: queues a host operation and returns its id; the
/// worker starts it after the turn and settles it through `internal.completeOp`.
fn start_op<'js>(
    ctx: &Ctx<'js>,
    state: &HostState,
    op: String,
    args: &str,
    bytes: Option<Value<'js>>,
) -> rquickjs::Result<f64> {
    if !state.ops_enabled.get() {
        return Err(Exception::throw_message(
            ctx,
            &format!(
                "{op} cannot be used while the script starts (in init() or at the top level of a module); call it from a handler"
            ),
        ));
    }
    if state.pending_ops.get() >= MAX_PENDING_OPS {
        return Err(Exception::throw_range(
            ctx,
            &format!(
                "too many host operations in flight (limit {MAX_PENDING_OPS}); await some before starting more"
            ),
        ));
    }
    let args = serde_json::from_str(args)
        .map_err(|e| Exception::throw_type(ctx, &format!("{op}: invalid arguments: {e}")))?;
    let bytes = match bytes.filter(|b| !b.is_undefined() && !b.is_null()) {
        None => None,
        Some(value) => {
            let data = match value.as_string() {
                Some(text) => text.to_string()?.into_bytes(),
                None => bytes_of(&value).ok_or_else(|| {
                    Exception::throw_type(
                        ctx,
                        &format!(
                            "{op}: binary input must be a string, an ArrayBuffer or a typed array"
                        ),
                    )
                })?,
            };
            if data.len() > MAX_OP_INPUT_BYTES {
                return Err(Exception::throw_range(
                    ctx,
                    &format!(
                        "{op}: the input is {} bytes, more than the limit of {MAX_OP_INPUT_BYTES}",
                        data.len()
                    ),
                ));
            }
            Some(Bytes::from(data))
        }
    };
    let id = state.next_op.get();
    state.next_op.set(id + 1);
    state.pending_ops.set(state.pending_ops.get() + 1);
    state.op_requests.borrow_mut().push(OpRequest {
        id,
        op,
        args,
        bytes,
    });
    Ok(id as f64)
}

/// Copies the bytes of an ArrayBuffer or any ArrayBufferView.
pub(crate) fn bytes_of(value: &Value<'_>) -> Option<Vec<u8>> {
    let obj = value.as_object()?;
    // SAFETY (all three blocks): `as_bytes` borrows the buffer's memory; it is unsound only if
    // JavaScript detaches or resizes the buffer while the slice lives. The slice is copied
    // immediately, and no JavaScript runs between the borrow and the copy.
    if let Some(buf) = ArrayBuffer::from_object(obj.clone()) {
        return unsafe { buf.as_bytes() }.map(<[u8]>::to_vec);
    }
    if let Ok(ta) = TypedArray::<u8>::from_object(obj.clone()) {
        return unsafe { ta.as_bytes() }.map(<[u8]>::to_vec);
    }
    // Other views (Int16Array, DataView…): read their underlying bytes.
    let buffer: ArrayBuffer = obj.get("buffer").ok()?;
    let offset: usize = obj.get("byteOffset").ok()?;
    let len: usize = obj.get("byteLength").ok()?;
    let all = unsafe { buffer.as_bytes() }?;
    Some(all.get(offset..offset.checked_add(len)?)?.to_vec())
}
