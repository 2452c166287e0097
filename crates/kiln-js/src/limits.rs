//! Resource limits for script invocations and isolates.
//!
//! Every limit is a named value with a default and a doc comment saying which abuse it stops.
//! The server merges its global configuration with per-script overrides into one [`Limits`]
//! per deployed script version; the engine enforces them (CPU through QuickJS's interrupt
//! handler, memory through QuickJS's allocator limit, wall-clock time in the worker loop).

use std::time::Duration;

/// Default CPU budget for one request invocation: stops `while (true) {}` and runaway compute.
pub const DEFAULT_CPU: Duration = Duration::from_millis(50);
/// Default CPU budget for evaluating a bundle and running its `init()`: stops hostile start-up code.
pub const DEFAULT_INIT_CPU: Duration = Duration::from_secs(1);
/// Default wall-clock budget for one invocation: stops never-resolving promises from holding a
/// client (and its memory) forever.
pub const DEFAULT_WALL: Duration = Duration::from_secs(30);
/// Default memory limit per isolate: stops memory bombs from taking the host's memory.
pub const DEFAULT_MEMORY_BYTES: usize = 64 * 1024 * 1024;
/// Default cap on one response body: stops a script from making the server buffer gigabytes.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 10 * 1024 * 1024;
/// Default JavaScript stack size: turns unbounded recursion into a catchable `RangeError`
/// long before the worker thread's native stack (see [`WORKER_THREAD_STACK_BYTES`]) is at risk.
pub const DEFAULT_MAX_STACK_BYTES: usize = 1024 * 1024;
/// Native stack of every thread that runs JavaScript. Must comfortably exceed the JS stack limit.
pub const WORKER_THREAD_STACK_BYTES: usize = 16 * 1024 * 1024;
/// Timers one isolate may have pending at once: stops a script from growing the timer heap
/// without bound with `setTimeout` in a loop.
pub const MAX_PENDING_TIMERS: usize = 10_000;
/// Host operations (`wasm.run`, …) one isolate may have in flight at once: each holds work
/// outside the isolate (a blocking thread, a connection), so a script cannot start them
/// without bound.
pub const MAX_PENDING_OPS: usize = 64;
/// Largest binary input one host operation takes (e.g. a module's stdin).
pub const MAX_OP_INPUT_BYTES: usize = 16 * 1024 * 1024;
/// Entries one `formData()` body may hold: stops a body of many tiny parts from costing far
/// more (one JavaScript object each) than its byte size suggests.
pub const MAX_FORM_ENTRIES: usize = 1000;
/// Largest text (non-file) entry of a `formData()` body: form fields are short; data that
/// large belongs in a file part, whose size only the route's body limit bounds.
pub const MAX_FORM_TEXT_BYTES: usize = 1024 * 1024;
/// Longest entry name of a `formData()` body.
pub const MAX_FORM_NAME_BYTES: usize = 1024;

/// The limits applied to one script version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// CPU time one request invocation may use (all its turns together).
    pub cpu: Duration,
    /// CPU time evaluating the bundle and running `init()` may use.
    pub init_cpu: Duration,
    /// Wall-clock time one invocation may take before it is answered with a timeout.
    pub wall: Duration,
    /// Heap limit of each isolate, in bytes.
    pub memory_bytes: usize,
    /// Largest response body a handler may produce, in bytes.
    pub max_response_bytes: usize,
    /// Largest JavaScript stack, in bytes.
    pub max_stack_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu: DEFAULT_CPU,
            init_cpu: DEFAULT_INIT_CPU,
            wall: DEFAULT_WALL,
            memory_bytes: DEFAULT_MEMORY_BYTES,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_stack_bytes: DEFAULT_MAX_STACK_BYTES,
        }
    }
}
