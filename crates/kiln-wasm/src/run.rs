//! One execution: resolve the entry point, instantiate under limits, call, classify.
//!
//! The entry is resolved against the module's export types before anything is instantiated,
//! so a bad invocation costs no guest work. Each run gets a fresh `Store` holding its WASI
//! context and its [`GuestLimiter`]; the epoch deadline and the limiter stop the guest, and
//! [`classify`] turns however it stopped into an [`ExecStatus`]. Limit hits are recorded in the
//! store's state by whoever enforced them, so classification does not depend on error text.

use std::time::{Duration, Instant};

use serde_json::{Number, Value};
use wasmtime::{
    Engine, ExternType, FuncType, ResourceLimiter, Store, Trap, Val, ValType, WasmBacktrace,
};
use wasmtime_wasi::I32Exit;
use wasmtime_wasi::p1::WasiP1Ctx;

use crate::cpu_clock::thread_cpu_ns;
use crate::exec::{ExecOutcome, ExecRequest, ExecStatus};
use crate::limits::{EPOCH_TICK, ExecLimits, MAX_INSTANCES, MAX_MEMORIES, MAX_TABLES};
use crate::output::CappedOutput;
use crate::runtime::PreparedModule;
use crate::wasi;

/// How wasmtime's backtrace context introduces itself in an error chain.
const BACKTRACE_PREFIX: &str = "error while executing at ";
/// Lines of wasm backtrace kept in a trap message (a stack overflow has thousands of frames).
const MAX_BACKTRACE_LINES: usize = 21;
/// The export a WASI command runs.
const START: &str = "_start";
/// The export a WASI reactor wants called before any other.
const INITIALIZE: &str = "_initialize";

/// The data of one run's `Store`.
pub(crate) struct RunState {
    pub(crate) wasi: WasiP1Ctx,
    limiter: GuestLimiter,
    /// When the run's time budget ends.
    pub(crate) deadline: Instant,
    /// Origin of the guest's monotonic clock.
    pub(crate) clock_origin: Instant,
    /// Set when the `poll_oneoff` guard stopped the guest.
    pub(crate) slept_past_deadline: bool,
}

impl RunState {
    /// A state for stores that never run a guest (listing the linker's definitions).
    pub(crate) fn placeholder() -> RunState {
        let now = Instant::now();
        RunState {
            wasi: wasmtime_wasi::WasiCtxBuilder::new().build_p1(),
            limiter: GuestLimiter::new(&ExecLimits::default()),
            deadline: now,
            clock_origin: now,
            slept_past_deadline: false,
        }
    }
}

/// The store's `ResourceLimiter`: caps total linear memory and table elements, counts peak
/// memory, and remembers which limit (if any) stopped the guest.
struct GuestLimiter {
    /// Bytes of linear memory, all memories together.
    memory: Budget,
    /// Elements, all tables together.
    tables: Budget,
}

/// One limited quantity summed over all of a store's memories (or tables).
struct Budget {
    limit: u64,
    used: u64,
    peak: u64,
    /// The last approved growth `(used before, used after, peak before)`, undone if wasmtime
    /// then fails it.
    pending: Option<(u64, u64, u64)>,
    /// The total the guest asked for when it went over the limit.
    exceeded: Option<u64>,
}

impl Budget {
    fn new(limit: u64) -> Budget {
        Budget {
            limit,
            used: 0,
            peak: 0,
            pending: None,
            exceeded: None,
        }
    }

    /// Approves (`Ok(true)`) or refuses the spec way (`Ok(false)`, growth past the memory's or
    /// table's own declared maximum, which is not Kiln's limit) one growth; `Err(total)` when
    /// the total would pass the limit.
    fn grow(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool, u64> {
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        let total = self
            .used
            .saturating_sub(current as u64)
            .saturating_add(desired as u64);
        if total > self.limit {
            self.exceeded = Some(total);
            return Err(total);
        }
        self.pending = Some((self.used, total, self.peak));
        self.used = total;
        self.peak = self.peak.max(total);
        Ok(true)
    }

    /// Undoes the last approved growth, which wasmtime failed after all.
    fn grow_failed(&mut self) {
        if let Some((before, after, peak)) = self.pending.take()
            && self.used == after
        {
            self.used = before;
            self.peak = peak;
        }
    }
}

/// A growth refused by the limiter; the guest traps with it.
#[derive(Debug, thiserror::Error)]
#[error("{what} limit exceeded: the module asked for {asked} {unit}; the limit is {limit}")]
struct LimitRefused {
    what: &'static str,
    unit: &'static str,
    asked: u64,
    limit: u64,
}

impl GuestLimiter {
    fn new(limits: &ExecLimits) -> GuestLimiter {
        GuestLimiter {
            memory: Budget::new(limits.memory_bytes),
            tables: Budget::new(u64::from(limits.max_table_elements)),
        }
    }

    /// The trap message for a table growth past the limit, if that is what happened.
    fn table_refusal(&self) -> Option<LimitRefused> {
        self.tables.exceeded.map(|asked| LimitRefused {
            what: "table",
            unit: "table elements",
            asked,
            limit: self.tables.limit,
        })
    }
}

impl ResourceLimiter for GuestLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.memory
            .grow(current, desired, maximum)
            .map_err(|asked| {
                wasmtime::Error::new(LimitRefused {
                    what: "memory",
                    unit: "bytes of linear memory",
                    asked,
                    limit: self.memory.limit,
                })
            })
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory.grow_failed();
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.tables.grow(current, desired, maximum).map_err(|_| {
            self.table_refusal()
                .map(wasmtime::Error::new)
                .unwrap_or_else(|| wasmtime::format_err!("table limit exceeded"))
        })
    }

    fn table_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.tables.grow_failed();
        Ok(())
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

/// What the run will call once the module is instantiated.
enum Entry {
    /// `_start` of a WASI command.
    Start,
    /// An export, with its converted arguments and whether to call `_initialize` first.
    Function {
        name: String,
        args: Vec<Val>,
        results: usize,
        initialize: bool,
    },
}

/// Runs `module` for `request` on the calling thread.
pub(crate) fn execute(
    engine: &Engine,
    module: &PreparedModule,
    request: ExecRequest,
) -> ExecOutcome {
    let started = Instant::now();
    let cpu_start = thread_cpu_ns();
    let limits = request.limits.clone();
    let stdout = CappedOutput::new("stdout", limits.max_stdout);
    let stderr = CappedOutput::new("stderr", limits.max_stderr);

    let mut returned = Vec::new();
    let mut memory_peak = 0;
    let (status, exit_code) = match resolve_entry(module, &request) {
        Err(message) => (ExecStatus::InvalidInvocation { message }, None),
        Ok(entry) => {
            let state = RunState {
                wasi: wasi::context(
                    request.stdin,
                    &request.args,
                    &request.env,
                    &stdout,
                    &stderr,
                    started,
                ),
                limiter: GuestLimiter::new(&limits),
                deadline: deadline(started, limits.time),
                clock_origin: started,
                slept_past_deadline: false,
            };
            let mut store = Store::new(engine, state);
            store.limiter(|state| &mut state.limiter);
            store.set_epoch_deadline(deadline_ticks(limits.time));
            store.epoch_deadline_trap();
            let result = call(&mut store, module, entry, &mut returned);
            memory_peak = store.data().limiter.memory.peak;
            match result {
                Ok(()) => (ExecStatus::Success, None),
                Err(err) => classify(
                    &err,
                    store.data(),
                    stdout.overflowed() || stderr.overflowed(),
                ),
            }
        }
    };

    let stdout = stdout.take();
    let stderr = stderr.take();
    let cpu_ns = thread_cpu_ns().saturating_sub(cpu_start);
    ExecOutcome {
        status,
        stdout,
        stderr,
        exit_code,
        returned,
        duration: started.elapsed(),
        cpu_time: Duration::from_nanos(cpu_ns),
        memory_peak_bytes: memory_peak,
    }
}

/// When a budget of `time` from `started` ends (a year on, for budgets past `Instant`'s range).
fn deadline(started: Instant, time: Duration) -> Instant {
    const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);
    started
        .checked_add(time)
        .or_else(|| started.checked_add(YEAR))
        .unwrap_or(started)
}

/// Epoch ticks for a time budget: rounded up, plus one because the current tick may end at once.
fn deadline_ticks(time: Duration) -> u64 {
    let tick = EPOCH_TICK.as_nanos().max(1);
    let ticks = time.as_nanos().div_ceil(tick);
    u64::try_from(ticks)
        .unwrap_or(u64::MAX - 1)
        .saturating_add(1)
}

/// Instantiates the module and calls the entry, collecting results into `returned`.
fn call(
    store: &mut Store<RunState>,
    module: &PreparedModule,
    entry: Entry,
    returned: &mut Vec<Value>,
) -> wasmtime::Result<()> {
    let instance = module.pre.instantiate(&mut *store)?;
    match entry {
        Entry::Start => {
            let start = instance.get_typed_func::<(), ()>(&mut *store, START)?;
            start.call(&mut *store, ())
        }
        Entry::Function {
            name,
            args,
            results,
            initialize,
        } => {
            if initialize {
                let init = instance.get_typed_func::<(), ()>(&mut *store, INITIALIZE)?;
                init.call(&mut *store, ())?;
            }
            let func = instance
                .get_func(&mut *store, &name)
                .ok_or_else(|| wasmtime::format_err!("export `{name}` disappeared"))?;
            let mut out = vec![Val::I32(0); results];
            func.call(&mut *store, &args, &mut out)?;
            returned.extend(out.iter().map(to_json));
            Ok(())
        }
    }
}

/// Decides what the run will call, checking the request against the module's export types.
fn resolve_entry(module: &PreparedModule, request: &ExecRequest) -> Result<Entry, String> {
    let Some(name) = &request.function else {
        return match module.module.get_export(START) {
            Some(ExternType::Func(ty)) if ty.params().len() == 0 && ty.results().len() == 0 => {
                if request.function_args.is_empty() {
                    Ok(Entry::Start)
                } else {
                    Err("function arguments were given but no function to call".into())
                }
            }
            Some(_) => Err("`_start` must be a function without parameters or results".into()),
            None => Err(format!(
                "the module exports neither `_start` nor a requested function; name a function \
                 to call. Exported functions: {}",
                export_list(module)
            )),
        };
    };
    let ty = match module.module.get_export(name) {
        Some(ExternType::Func(ty)) => ty,
        Some(other) => {
            return Err(format!(
                "`{name}` is a {} export, not a function",
                kind(&other)
            ));
        }
        None => {
            return Err(format!(
                "the module exports no function `{name}`. Exported functions: {}",
                export_list(module)
            ));
        }
    };
    let args = convert_args(name, &ty, &request.function_args)?;
    for (i, result) in ty.results().enumerate() {
        if !is_number(&result) {
            return Err(format!(
                "result {} of `{name}` has type {result}; only i32, i64, f32 and f64 results can \
                 be returned",
                i + 1
            ));
        }
    }
    let initialize = name != INITIALIZE
        && matches!(module.module.get_export(INITIALIZE), Some(ExternType::Func(t)) if t.params().len() == 0 && t.results().len() == 0);
    Ok(Entry::Function {
        name: name.clone(),
        args,
        results: ty.results().len(),
        initialize,
    })
}

fn kind(ty: &ExternType) -> &'static str {
    match ty {
        ExternType::Func(_) => "function",
        ExternType::Global(_) => "global",
        ExternType::Table(_) => "table",
        ExternType::Memory(_) => "memory",
        ExternType::Tag(_) => "tag",
    }
}

fn export_list(module: &PreparedModule) -> String {
    let names: Vec<String> = module
        .module
        .exports()
        .filter_map(|export| match export.ty() {
            ExternType::Func(ty) => Some(format!("{}{}", export.name(), signature(&ty))),
            _ => None,
        })
        .collect();
    if names.is_empty() {
        "(none)".into()
    } else {
        names.join(", ")
    }
}

/// `(i32, i32) -> i32`-style rendering of a function type.
fn signature(ty: &FuncType) -> String {
    let params: Vec<String> = ty.params().map(|p| p.to_string()).collect();
    let results: Vec<String> = ty.results().map(|r| r.to_string()).collect();
    match results.len() {
        0 => format!("({})", params.join(", ")),
        1 => format!("({}) -> {}", params.join(", "), results.join("")),
        _ => format!("({}) -> ({})", params.join(", "), results.join(", ")),
    }
}

fn is_number(ty: &ValType) -> bool {
    matches!(
        ty,
        ValType::I32 | ValType::I64 | ValType::F32 | ValType::F64
    )
}

/// Converts JSON numbers to the export's parameter types.
fn convert_args(name: &str, ty: &FuncType, args: &[Number]) -> Result<Vec<Val>, String> {
    let params: Vec<ValType> = ty.params().collect();
    if params.len() != args.len() {
        return Err(format!(
            "`{name}{}` takes {} argument{}; {} given",
            signature(ty),
            params.len(),
            if params.len() == 1 { "" } else { "s" },
            args.len()
        ));
    }
    params
        .iter()
        .zip(args)
        .enumerate()
        .map(|(i, (param, arg))| {
            convert_arg(param, arg).ok_or_else(|| {
                if is_number(param) {
                    format!(
                        "argument {} of `{name}` must be {}; {arg} is not",
                        i + 1,
                        describe(param)
                    )
                } else {
                    format!(
                        "parameter {} of `{name}` has type {param}; only i32, i64, f32 and f64 \
                         parameters can be passed",
                        i + 1
                    )
                }
            })
        })
        .collect()
}

fn describe(ty: &ValType) -> &'static str {
    match ty {
        ValType::I32 => "an i32 (an integer from -2147483648 to 4294967295)",
        ValType::I64 => "an i64 (an integer from -2^63 to 2^64-1)",
        ValType::F32 => "an f32 (a number)",
        _ => "an f64 (a number)",
    }
}

fn convert_arg(ty: &ValType, arg: &Number) -> Option<Val> {
    match ty {
        // Unsigned values are accepted and wrapped, as wasm integers are sign-agnostic.
        ValType::I32 => {
            let v = arg.as_i64()?;
            let v = i32::try_from(v)
                .ok()
                .or_else(|| u32::try_from(v).ok().map(|u| u as i32))?;
            Some(Val::I32(v))
        }
        ValType::I64 => arg
            .as_i64()
            .or_else(|| arg.as_u64().map(|u| u as i64))
            .map(Val::I64),
        ValType::F32 => arg.as_f64().map(|f| Val::F32((f as f32).to_bits())),
        ValType::F64 => arg.as_f64().map(|f| Val::F64(f.to_bits())),
        _ => None,
    }
}

fn to_json(val: &Val) -> Value {
    match val {
        Val::I32(v) => Value::from(*v),
        Val::I64(v) => Value::from(*v),
        Val::F32(bits) => float_json(f64::from(f32::from_bits(*bits))),
        Val::F64(bits) => float_json(f64::from_bits(*bits)),
        // Excluded by `resolve_entry`.
        _ => Value::Null,
    }
}

fn float_json(f: f64) -> Value {
    match Number::from_f64(f) {
        Some(n) => Value::Number(n),
        None if f.is_nan() => Value::from("NaN"),
        None if f > 0.0 => Value::from("Infinity"),
        None => Value::from("-Infinity"),
    }
}

/// Turns the error a run ended with into its status (and exit code).
fn classify(
    err: &wasmtime::Error,
    state: &RunState,
    output_overflowed: bool,
) -> (ExecStatus, Option<i32>) {
    if output_overflowed {
        return (ExecStatus::OutputLimitExceeded, None);
    }
    if state.limiter.memory.exceeded.is_some() {
        return (ExecStatus::MemoryLimitExceeded, None);
    }
    if let Some(refusal) = state.limiter.table_refusal() {
        let message = refusal.to_string();
        return (ExecStatus::Trap { message }, None);
    }
    if state.slept_past_deadline {
        return (ExecStatus::TimeLimitExceeded, None);
    }
    if let Some(exit) = err.downcast_ref::<I32Exit>() {
        let status = if exit.0 == 0 {
            ExecStatus::Success
        } else {
            ExecStatus::ExitNonZero
        };
        return (status, Some(exit.0));
    }
    let trap = err.downcast_ref::<Trap>();
    if trap == Some(&Trap::Interrupt) {
        return (ExecStatus::TimeLimitExceeded, None);
    }
    let mut message = match trap {
        Some(Trap::StackOverflow) => "stack overflow: wasm trap: call stack exhausted".to_owned(),
        Some(trap) => trap.to_string(),
        // A host error (WASI): its chain of messages without the backtrace context.
        None => err
            .chain()
            .map(|cause| cause.to_string())
            .filter(|cause| !cause.starts_with(BACKTRACE_PREFIX))
            .collect::<Vec<_>>()
            .join(": "),
    };
    if let Some(backtrace) = err.downcast_ref::<WasmBacktrace>() {
        let frames = backtrace.to_string();
        // "error while executing at wasm backtrace:\n    0: …" → "wasm backtrace:\n    0: …"
        let frames = frames.trim_end();
        let frames = frames.strip_prefix(BACKTRACE_PREFIX).unwrap_or(frames);
        let mut lines = frames.lines();
        let shown: Vec<&str> = lines.by_ref().take(MAX_BACKTRACE_LINES).collect();
        let hidden = lines.count();
        if !shown.is_empty() {
            message.push('\n');
            message.push_str(&shown.join("\n"));
        }
        if hidden > 0 {
            message.push_str(&format!("\n    … {hidden} more frames"));
        }
    }
    (ExecStatus::Trap { message }, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_round_up_and_add_one() {
        assert_eq!(deadline_ticks(Duration::ZERO), 1);
        assert_eq!(deadline_ticks(EPOCH_TICK), 2);
        assert_eq!(
            deadline_ticks(EPOCH_TICK * 10 + Duration::from_nanos(1)),
            12
        );
        assert_eq!(deadline_ticks(Duration::MAX), u64::MAX);
    }

    #[test]
    fn integers_convert_in_signed_and_unsigned_range() {
        let n = |v: i64| Number::from(v);
        assert_eq!(
            convert_arg(&ValType::I32, &n(-1)).map(|v| v.i32()),
            Some(Some(-1))
        );
        assert_eq!(
            convert_arg(&ValType::I32, &n(4_294_967_295)).map(|v| v.i32()),
            Some(Some(-1))
        );
        assert!(convert_arg(&ValType::I32, &n(4_294_967_296)).is_none());
        assert!(convert_arg(&ValType::I32, &Number::from_f64(2.5).unwrap_or(n(0))).is_none());
        assert_eq!(
            convert_arg(&ValType::I64, &Number::from(u64::MAX)).map(|v| v.i64()),
            Some(Some(-1))
        );
        assert_eq!(
            convert_arg(&ValType::F64, &n(3)).map(|v| v.f64()),
            Some(Some(3.0))
        );
    }

    #[test]
    fn budgets_sum_growth_and_undo_failed_growth() {
        let mut budget = Budget::new(100);
        assert_eq!(budget.grow(0, 60, None), Ok(true));
        assert_eq!(
            budget.grow(0, 30, None),
            Ok(true),
            "a second memory adds up"
        );
        assert_eq!(budget.used, 90);
        assert_eq!(budget.grow(30, 50, None), Err(110));
        assert_eq!(budget.exceeded, Some(110));
        assert_eq!(budget.grow(60, 70, None), Ok(true));
        budget.grow_failed();
        assert_eq!((budget.used, budget.peak), (90, 90));
        // Past the declared maximum: refused the spec way, not counted as the limit.
        let mut budget = Budget::new(100);
        assert_eq!(budget.grow(10, 1000, Some(20)), Ok(false));
        assert_eq!(budget.exceeded, None);
    }

    #[test]
    fn non_finite_floats_become_strings() {
        assert_eq!(float_json(f64::NAN), Value::from("NaN"));
        assert_eq!(float_json(f64::INFINITY), Value::from("Infinity"));
        assert_eq!(float_json(f64::NEG_INFINITY), Value::from("-Infinity"));
        assert_eq!(float_json(1.5), serde_json::json!(1.5));
    }
}
