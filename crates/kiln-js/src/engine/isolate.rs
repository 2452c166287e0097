//! One isolate: a QuickJS runtime and context with the prelude loaded, one script version's
//! bundle evaluated and its `init()` run.
//!
//! An isolate belongs to exactly one worker thread and serves many invocations, several of
//! them possibly in flight at once (handlers that `await`). All JavaScript runs in **turns**:
//! the worker enters the context, does one thing (dispatch a request, fire a timer), drains
//! the microtask queue, and leaves. Each turn is armed with a CPU deadline that QuickJS's
//! interrupt handler enforces; a turn that passes it is cut off with an uncatchable error.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use rquickjs::function::Args;
use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::module::Declared;
use rquickjs::module::WriteOptions;
use rquickjs::promise::PromiseState;
use rquickjs::{
    Array, Context, Ctx, Function, Module, Object, Persistent, Promise, Runtime, TypedArray, Value,
};

use super::allocator::{HeapState, LimitedAllocator};
use super::host::{HostState, build_host};
use crate::bundle::Bundle;
use crate::cpu_clock::thread_cpu_ns;
use crate::invocation::{EnvOverlay, HttpRequest, LogSink};
use crate::script::{RouteSpec, ScriptVersion};
use crate::services::HostResult;

const PRELUDE: &str = include_str!(concat!(env!("OUT_DIR"), "/prelude.js"));

/// The prelude compiled once per process: parsing ~140 KB of JavaScript was most of the cost of
/// starting an isolate (~6.5 ms); loading bytecode is a fraction of that.
fn prelude_bytecode() -> Result<&'static [u8], String> {
    static BYTECODE: std::sync::OnceLock<Result<Vec<u8>, String>> = std::sync::OnceLock::new();
    BYTECODE
        .get_or_init(|| {
            let runtime = Runtime::new().map_err(|e| e.to_string())?;
            let context = Context::full(&runtime).map_err(|e| e.to_string())?;
            context.with(|ctx| {
                Module::declare(ctx.clone(), "kiln:prelude", PRELUDE)
                    .and_then(|module| {
                        module.write(WriteOptions {
                            strip_source: true,
                            ..WriteOptions::default()
                        })
                    })
                    .map_err(|e| {
                        format!(
                            "the prelude does not compile: {}",
                            turn_error(&ctx, e).message
                        )
                    })
            })
        })
        .as_deref()
        .map_err(Clone::clone)
}

/// Jobs drained between two checks of the CPU clock (a check is a syscall; a job may be tiny).
const JOBS_PER_CLOCK_CHECK: u32 = 64;

/// Why an isolate could not be started. Messages name the file and line where possible.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StartError {
    /// Evaluating the bundle or running `init()` threw.
    #[error("{0}")]
    Script(String),
    /// Evaluation plus `init()` used more CPU than the init budget.
    #[error("evaluating the script and running init() exceeded the CPU budget of {0} ms")]
    Timeout(u64),
    /// Evaluation plus `init()` ran out of memory.
    #[error("evaluating the script and running init() exceeded the memory limit of {0} MiB")]
    Memory(usize),
    /// QuickJS itself failed (allocation of the runtime or context).
    #[error("the JavaScript engine failed: {0}")]
    Engine(String),
}

/// The CPU budget of the running turn, shared with the interrupt handler.
///
/// Reading a thread's CPU clock is a system call, too slow to pay on every request. So a turn
/// is armed with the wall-clock time it starts at, and the CPU clock is first read when QuickJS
/// calls the interrupt handler (after some thousands of operations, i.e. only in turns that run
/// long enough to matter). The CPU spent before that first reading is taken to be the wall time
/// elapsed until it — a few microseconds of work, exact unless the thread was preempted in that
/// window. Short turns (most requests) never touch the CPU clock.
#[derive(Default)]
struct Interrupt {
    armed: Cell<Option<Armed>>,
    /// Set by the interrupt handler when it cut a turn off.
    fired: Cell<bool>,
}

#[derive(Clone, Copy)]
struct Armed {
    wall_start: std::time::Instant,
    budget_ns: u64,
    /// Estimated thread CPU time at the start of the turn, once the clock has been read.
    cpu_start: Option<u64>,
}

impl Interrupt {
    fn arm(&self, budget_ns: u64) {
        self.armed.set(Some(Armed {
            wall_start: std::time::Instant::now(),
            budget_ns: budget_ns.max(1),
            cpu_start: None,
        }));
    }

    /// Disarms; returns the CPU time the turn used (the wall time, an upper bound, when the
    /// turn was too short to read the CPU clock).
    fn disarm(&self) -> u64 {
        match self.armed.take() {
            None => 0,
            Some(Armed {
                cpu_start: Some(start),
                ..
            }) => thread_cpu_ns().saturating_sub(start),
            Some(armed) => armed.wall_start.elapsed().as_nanos() as u64,
        }
    }

    /// True once the armed turn has used more CPU than its budget.
    fn expired(&self) -> bool {
        let Some(mut armed) = self.armed.get() else {
            return false;
        };
        let now = thread_cpu_ns();
        let start = match armed.cpu_start {
            Some(start) => start,
            None => {
                let elapsed = armed.wall_start.elapsed().as_nanos() as u64;
                let start = now.saturating_sub(elapsed);
                armed.cpu_start = Some(start);
                self.armed.set(Some(armed));
                start
            }
        };
        now.saturating_sub(start) > armed.budget_ns
    }
}

/// What happened during one turn.
pub(crate) struct TurnOutcome {
    /// CPU time the turn used (see [`Interrupt`] for how it is measured).
    pub cpu_ns: u64,
    /// The turn hit its CPU deadline and was cut off.
    pub timed_out: bool,
    /// Jobs were still queued when the turn ended (only after a cut-off): the isolate's
    /// microtask queue can no longer be trusted.
    pub jobs_left: bool,
    /// An allocation was refused during the turn: the heap limit was reached.
    pub out_of_memory: bool,
}

/// An error thrown out of a turn's entry call (normally the prelude catches everything;
/// what escapes is an interrupt, an out-of-memory error or a broken prelude).
pub(crate) struct TurnError {
    pub message: String,
    pub out_of_memory: bool,
}

pub(crate) struct Isolate {
    // JavaScript handles first: they must be dropped before the context and runtime.
    dispatch_fn: Persistent<Function<'static>>,
    fire_timer_fn: Persistent<Function<'static>>,
    complete_op_fn: Persistent<Function<'static>>,
    env: Persistent<Object<'static>>,
    /// `Object.freeze` as it was before the bundle ran (a script may replace the global).
    freeze_fn: Persistent<Function<'static>>,
    /// The `ctx.env` built for the last [`EnvOverlay`] seen, keyed by its id: rebuilt only
    /// when invocations bring a different overlay (the script's secrets changed).
    overlay_env: RefCell<Option<(u64, Persistent<Object<'static>>)>>,
    context: Context,
    runtime: Runtime,
    interrupt: Rc<Interrupt>,
    heap: Rc<HeapState>,
    /// The state the host functions write into.
    pub host: Rc<HostState>,
    /// Routes registered by `init()` on this isolate.
    pub routes: Vec<RouteSpec>,
}

impl Isolate {
    /// Creates the runtime, loads the prelude and the bundle, and runs `init()` under the
    /// script's init CPU budget.
    pub fn start(
        script: Arc<ScriptVersion>,
        sink: Arc<dyn LogSink>,
    ) -> Result<Isolate, StartError> {
        let limits = script.limits.clone();
        let engine_err = |e: rquickjs::Error| StartError::Engine(e.to_string());
        let heap = Rc::new(HeapState::default());
        let runtime =
            Runtime::new_with_alloc(LimitedAllocator::new(limits.memory_bytes, heap.clone()))
                .map_err(engine_err)?;
        runtime.set_max_stack_size(limits.max_stack_bytes);
        let interrupt = Rc::new(Interrupt::default());
        let irq = interrupt.clone();
        runtime.set_interrupt_handler(Some(Box::new(move || {
            if irq.expired() {
                irq.fired.set(true);
                true
            } else {
                false
            }
        })));
        runtime.set_loader(
            BundleResolver(script.bundle.clone()),
            BundleLoader(script.bundle.clone()),
        );
        let context = Context::full(&runtime).map_err(engine_err)?;
        let host = Rc::new(HostState::new(script.clone(), sink));

        interrupt.arm(limits.init_cpu.as_nanos() as u64);
        let setup = context.with(|ctx| setup(&ctx, &host, &script, &interrupt));
        interrupt.disarm();
        let memory_mib = limits.memory_bytes / (1024 * 1024);
        let init_ms = limits.init_cpu.as_millis() as u64;
        if interrupt.fired.replace(false) {
            return Err(StartError::Timeout(init_ms));
        }
        if heap.exceeded.replace(false) {
            return Err(StartError::Memory(memory_mib));
        }
        let (handles, routes) = setup.map_err(|message| {
            if message.contains("out of memory") {
                StartError::Memory(memory_mib)
            } else {
                StartError::Script(super::host::script_stack(&script.bundle, &message))
            }
        })?;
        host.ops_enabled.set(true);
        Ok(Isolate {
            dispatch_fn: handles.dispatch,
            fire_timer_fn: handles.fire_timer,
            complete_op_fn: handles.complete_op,
            env: handles.env,
            freeze_fn: handles.freeze,
            overlay_env: RefCell::new(None),
            context,
            runtime,
            interrupt,
            heap,
            host,
            routes,
        })
    }

    /// Runs one turn: `entry` under a CPU budget, then the microtask queue.
    fn turn<F>(&self, budget_ns: u64, entry: F) -> (Result<(), TurnError>, TurnOutcome)
    where
        F: for<'js> FnOnce(&Ctx<'js>, &Self) -> rquickjs::Result<()>,
    {
        self.interrupt.arm(budget_ns);
        let result = self.context.with(|ctx| {
            let result = entry(&ctx, self).map_err(|e| turn_error(&ctx, e));
            drain_jobs(&ctx, &self.interrupt);
            result
        });
        let cpu_ns = self.interrupt.disarm();
        let timed_out = self.interrupt.fired.replace(false);
        let jobs_left = timed_out && self.runtime.is_job_pending();
        let outcome = TurnOutcome {
            cpu_ns,
            timed_out,
            jobs_left,
            out_of_memory: self.heap.exceeded.replace(false),
        };
        (result, outcome)
    }

    /// Starts invocation `id`: calls the route's handler through the prelude.
    pub fn dispatch(
        &self,
        id: u64,
        route: usize,
        request: &HttpRequest,
        params: &[(String, String)],
        request_id: &str,
        budget_ns: u64,
    ) -> (Result<(), TurnError>, TurnOutcome) {
        self.turn(budget_ns, |ctx, this| {
            let dispatch = this.dispatch_fn.clone().restore(ctx)?;
            let headers = Array::new(ctx.clone())?;
            for (i, (name, value)) in request.headers.iter().enumerate() {
                headers.set(2 * i, name.as_str())?;
                match value.to_str() {
                    Ok(text) => headers.set(2 * i + 1, text)?,
                    // Obsolete non-ASCII header bytes: Latin-1, as browsers and Deno do.
                    Err(_) => headers.set(
                        2 * i + 1,
                        value
                            .as_bytes()
                            .iter()
                            .map(|&b| char::from(b))
                            .collect::<String>(),
                    )?,
                }
            }
            let body = if request.body.is_empty() {
                Value::new_null(ctx.clone())
            } else {
                TypedArray::<u8>::new_copy(ctx.clone(), &request.body[..])?.into_value()
            };
            let params_obj = if params.is_empty() {
                Value::new_undefined(ctx.clone())
            } else {
                let obj = Object::new(ctx.clone())?;
                for (name, value) in params {
                    obj.set(name.as_str(), value.as_str())?;
                }
                obj.into_value()
            };
            let identity = match &request.identity {
                Some(json) => rquickjs::String::from_str(ctx.clone(), json)?.into_value(),
                None => Value::new_undefined(ctx.clone()),
            };
            let mut args = Args::new(ctx.clone(), 10);
            args.push_arg(id as f64)?;
            args.push_arg(route as f64)?;
            args.push_arg(request.method.as_str())?;
            args.push_arg(request.url.as_str())?;
            args.push_arg(headers)?;
            args.push_arg(body)?;
            args.push_arg(params_obj)?;
            args.push_arg(request_id)?;
            let env = match &request.env {
                Some(overlay) => this.overlay_env(ctx, overlay)?,
                None => this.env.clone().restore(ctx)?,
            };
            args.push_arg(env)?;
            args.push_arg(identity)?;
            args.apply::<()>(&dispatch)
        })
    }

    /// The frozen `ctx.env` of an invocation bringing `overlay`: the version's variables with
    /// the overlay's values laid over them, built once per overlay (see [`EnvOverlay`]).
    fn overlay_env<'js>(
        &self,
        ctx: &Ctx<'js>,
        overlay: &EnvOverlay,
    ) -> rquickjs::Result<Object<'js>> {
        if let Some((id, env)) = &*self.overlay_env.borrow()
            && *id == overlay.id()
        {
            return env.clone().restore(ctx);
        }
        let env = Object::new(ctx.clone())?;
        for (key, value) in &self.host.script.env {
            env.set(key.as_str(), value.as_str())?;
        }
        for (key, value) in overlay.values() {
            env.set(key.as_str(), value.as_str())?;
        }
        let freeze = self.freeze_fn.clone().restore(ctx)?;
        let env: Object = freeze.call((env,))?;
        *self.overlay_env.borrow_mut() = Some((overlay.id(), Persistent::save(ctx, env.clone())));
        Ok(env)
    }

    /// Fires timer `id` (scheduled earlier through `host.scheduleTimer`).
    pub fn fire_timer(&self, id: u64, budget_ns: u64) -> (Result<(), TurnError>, TurnOutcome) {
        self.turn(budget_ns, |ctx, this| {
            let fire = this.fire_timer_fn.clone().restore(ctx)?;
            fire.call::<_, ()>((id as f64,))
        })
    }

    /// Settles host operation `id` (started through `host.startOp`) with its result and, for
    /// operations that produce one, its binary part (handed to the script as a `Uint8Array`).
    pub fn complete_op(
        &self,
        id: u64,
        result: &HostResult,
        bytes: Option<Bytes>,
        budget_ns: u64,
    ) -> (Result<(), TurnError>, TurnOutcome) {
        let (ok, payload) = match result {
            Ok(value) => (true, value.to_string()),
            Err(error) => (
                false,
                serde_json::json!({ "code": error.code, "message": error.message }).to_string(),
            ),
        };
        self.turn(budget_ns, |ctx, this| {
            let complete = this.complete_op_fn.clone().restore(ctx)?;
            let bytes = match bytes {
                Some(bytes) => TypedArray::<u8>::new(ctx.clone(), bytes.to_vec())?.into_value(),
                None => Value::new_undefined(ctx.clone()),
            };
            complete.call::<_, ()>((id as f64, ok, payload, bytes))
        })
    }
}

struct Handles {
    dispatch: Persistent<Function<'static>>,
    fire_timer: Persistent<Function<'static>>,
    complete_op: Persistent<Function<'static>>,
    env: Persistent<Object<'static>>,
    freeze: Persistent<Function<'static>>,
}

/// Loads the prelude and the bundle and runs `init()`. Errors are rendered to text here,
/// while the context is still entered.
fn setup(
    ctx: &Ctx<'_>,
    host: &Rc<HostState>,
    script: &ScriptVersion,
    irq: &Interrupt,
) -> Result<(Handles, Vec<RouteSpec>), String> {
    let fail = |e: rquickjs::Error| turn_error(ctx, e).message;
    let bytecode = prelude_bytecode()?;
    // SAFETY: the bytes were written by `Module::write` of this same QuickJS build in this
    // process (`prelude_bytecode`), and they live for the rest of the process, as QuickJS's
    // ROM-data loading requires.
    #[allow(unsafe_code)]
    let prelude = unsafe { Module::load(ctx.clone(), bytecode) }.map_err(fail)?;
    let (prelude, evaluated) = prelude.eval().map_err(fail)?;
    settle(ctx, evaluated, irq)?;
    let wrapper: Function = prelude
        .namespace()
        .map_err(fail)?
        .get("default")
        .map_err(fail)?;
    let host_obj = build_host(ctx, host).map_err(fail)?;
    let internal: Object = wrapper.call((host_obj, ctx.globals())).map_err(fail)?;
    // Taken before the bundle runs: a script replacing `Object.freeze` cannot unfreeze ctx.env.
    let object_ctor: Object = ctx.globals().get("Object").map_err(fail)?;
    let freeze: Function = object_ctor.get("freeze").map_err(fail)?;

    let entry = script.bundle.entry().to_owned();
    let code = script
        .bundle
        .module_code(&entry)
        .ok_or_else(|| format!("{entry}: the entry module is missing from the bundle"))?
        .to_owned();
    let module = Module::declare(ctx.clone(), entry.clone(), code).map_err(fail)?;
    let (module, evaluated) = module.eval().map_err(fail)?;
    settle(ctx, evaluated, irq)?;
    let namespace = module.namespace().map_err(fail)?;
    let init: Option<Function> = namespace.get("init").map_err(fail)?;
    let init = init.ok_or_else(|| {
        format!("{entry} does not export an init() function (add `export function init() {{ registerWebHandler(...) }}`)")
    })?;

    let begin: Function = internal.get("beginInit").map_err(fail)?;
    let end: Function = internal.get("endInit").map_err(fail)?;
    begin.call::<_, ()>(()).map_err(fail)?;
    let returned: Value = init.call(()).map_err(fail)?;
    if let Some(promise) = returned.as_promise() {
        settle(ctx, promise.clone(), irq)?;
    }
    end.call::<_, ()>(()).map_err(fail)?;

    let routes_fn: Function = internal.get("routes").map_err(fail)?;
    let raw: Vec<Vec<String>> = routes_fn.call(()).map_err(fail)?;
    let routes = raw
        .into_iter()
        .map(|entry| {
            let mut parts = entry.into_iter();
            let method = parts.next().unwrap_or_default();
            let path = parts.next().unwrap_or_default();
            let options = parts
                .next()
                .and_then(|o| serde_json::from_str(&o).ok())
                .unwrap_or(serde_json::Value::Null);
            RouteSpec {
                method,
                path,
                options,
            }
        })
        .collect();

    let env = Object::new(ctx.clone()).map_err(fail)?;
    for (key, value) in &script.env {
        env.set(key.as_str(), value.as_str()).map_err(fail)?;
    }
    let env: Object = freeze.call((env,)).map_err(fail)?;

    let dispatch: Function = internal.get("dispatch").map_err(fail)?;
    let fire_timer: Function = internal.get("fireTimer").map_err(fail)?;
    let complete_op: Function = internal.get("completeOp").map_err(fail)?;
    Ok((
        Handles {
            dispatch: Persistent::save(ctx, dispatch),
            fire_timer: Persistent::save(ctx, fire_timer),
            complete_op: Persistent::save(ctx, complete_op),
            env: Persistent::save(ctx, env),
            freeze: Persistent::save(ctx, freeze),
        },
        routes,
    ))
}

/// Runs queued jobs until the promise settles (init may be async, but may only wait on
/// other promises: timers and I/O do not run during start-up).
fn settle<'js>(ctx: &Ctx<'js>, promise: Promise<'js>, irq: &Interrupt) -> Result<(), String> {
    drain_jobs(ctx, irq);
    match promise.state() {
        PromiseState::Resolved => Ok(()),
        PromiseState::Rejected => match promise.result::<Value>() {
            Some(Err(e)) => Err(turn_error(ctx, e).message),
            _ => Err("a promise was rejected during start-up".into()),
        },
        PromiseState::Pending => Err(
            "init() (or the module's top-level code) is waiting on something that never happens during start-up: timers and I/O do not run before init() returns"
                .into(),
        ),
    }
}

/// Drains the microtask queue, stopping when the turn's CPU deadline passes.
fn drain_jobs(ctx: &Ctx<'_>, irq: &Interrupt) {
    let mut count = 0u32;
    loop {
        if irq.fired.get() {
            return;
        }
        if !ctx.execute_pending_job() {
            return;
        }
        count = count.wrapping_add(1);
        if count.is_multiple_of(JOBS_PER_CLOCK_CHECK) && irq.expired() {
            irq.fired.set(true);
            return;
        }
    }
}

/// Renders an error thrown out of JavaScript (message plus stack) while the context is entered.
fn turn_error(ctx: &Ctx<'_>, error: rquickjs::Error) -> TurnError {
    let message = if error.is_exception() {
        describe(&ctx.catch())
    } else {
        error.to_string()
    };
    let out_of_memory = message.contains("out of memory");
    TurnError {
        message,
        out_of_memory,
    }
}

/// `Name: message` plus the stack, for an exception value; `String(value)` otherwise.
pub(crate) fn describe(value: &Value<'_>) -> String {
    if let Some(exception) = value.as_exception() {
        let message = exception.message().unwrap_or_default();
        let name: String = exception
            .get::<_, Option<String>>("name")
            .ok()
            .flatten()
            .unwrap_or_else(|| "Error".into());
        let stack = exception.stack().unwrap_or_default();
        if stack.trim().is_empty() {
            format!("{name}: {message}")
        } else {
            format!("{name}: {message}\n{}", stack.trim_end())
        }
    } else if let Some(s) = value.as_string() {
        s.to_string().unwrap_or_default()
    } else {
        format!("uncaught value of type {}", value.type_name())
    }
}

/// Resolves `import` specifiers against the bundle. Anything outside it does not exist.
struct BundleResolver(Arc<Bundle>);

impl Resolver for BundleResolver {
    fn resolve<'js>(
        &mut self,
        _ctx: &Ctx<'js>,
        base: &str,
        name: &str,
        attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<String> {
        if attributes.is_some() {
            return Err(rquickjs::Error::new_resolving_message(
                base,
                name,
                "import attributes are not supported",
            ));
        }
        self.0.resolve(base, name).ok_or_else(|| {
            rquickjs::Error::new_resolving_message(
                base,
                name,
                "no such module in the script bundle",
            )
        })
    }
}

/// Hands QuickJS the transpiled code of a bundle module.
struct BundleLoader(Arc<Bundle>);

impl Loader for BundleLoader {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<Module<'js, Declared>> {
        let code = self.0.module_code(name).ok_or_else(|| {
            rquickjs::Error::new_loading_message(name, "not a module of this bundle")
        })?;
        Module::declare(ctx.clone(), name, code.to_owned())
    }
}
