//! Resource limits for WebAssembly executions and the runtime's fixed bounds.
//!
//! Every limit is a named value with a default and a doc comment saying which abuse it stops.
//! [`ExecLimits`] travels with each [`ExecRequest`](crate::ExecRequest); the runtime enforces it
//! with wasmtime's epoch interruption (time), a store `ResourceLimiter` (memory, tables,
//! instance counts) and capped output pipes (stdout, stderr). The constants without a field are
//! bounds the caller cannot change.

use std::time::Duration;

/// Default time budget for one execution: stops `loop {}` guests, start-function loops and
/// guests sleeping in `poll_oneoff`.
pub const DEFAULT_TIME: Duration = Duration::from_secs(5);
/// Default cap on the guest's linear memory (all memories together): stops `memory.grow` bombs
/// and modules declaring a huge initial memory.
pub const DEFAULT_MEMORY_BYTES: u64 = 128 * 1024 * 1024;
/// Default cap on table elements (all tables together): stops `table.grow` bombs.
pub const DEFAULT_MAX_TABLE_ELEMENTS: u32 = 100_000;
/// Default cap on captured stdout: stops a guest from making the host buffer gigabytes.
pub const DEFAULT_MAX_STDOUT: usize = 1024 * 1024;
/// Default cap on captured stderr: same abuse as [`DEFAULT_MAX_STDOUT`].
pub const DEFAULT_MAX_STDERR: usize = 1024 * 1024;

/// Core instances one execution may create. Kiln instantiates exactly one module per run; the
/// bound keeps any future linking path from multiplying instances.
pub const MAX_INSTANCES: usize = 1;
/// Linear memories one execution may create (multi-memory modules): bounds the number of 4 GiB
/// virtual reservations a guest can make the host take.
pub const MAX_MEMORIES: usize = 4;
/// Tables one execution may create: bounds per-table bookkeeping a module can declare.
pub const MAX_TABLES: usize = 16;

/// Interval between epoch ticks. Time limits are enforced to this granularity (a run is stopped
/// within one tick after its budget ends).
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Default in-memory bound on compiled modules kept by a runtime: stops a stream of distinct
/// modules from keeping every compiled artifact resident.
pub const DEFAULT_CACHE_ENTRIES: usize = 256;
/// Default largest module `prepare` accepts: compile time and memory grow with module size, so
/// this stops a single upload from tying up the compiler.
pub const DEFAULT_MAX_MODULE_BYTES: usize = 32 * 1024 * 1024;

/// `argv[0]` the guest sees; the request's `args` follow it.
pub const ARGV0: &str = "module";

/// The limits applied to one execution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecLimits {
    /// Wall-clock budget of the run, including instantiation, the start function and time the
    /// guest spends sleeping in `poll_oneoff`.
    pub time: Duration,
    /// Largest total size of the guest's linear memories, in bytes.
    pub memory_bytes: u64,
    /// Largest total number of elements of the guest's tables.
    pub max_table_elements: u32,
    /// Largest stdout the guest may write, in bytes; writing more stops it.
    pub max_stdout: usize,
    /// Largest stderr the guest may write, in bytes; writing more stops it.
    pub max_stderr: usize,
}

impl Default for ExecLimits {
    fn default() -> Self {
        ExecLimits {
            time: DEFAULT_TIME,
            memory_bytes: DEFAULT_MEMORY_BYTES,
            max_table_elements: DEFAULT_MAX_TABLE_ELEMENTS,
            max_stdout: DEFAULT_MAX_STDOUT,
            max_stderr: DEFAULT_MAX_STDERR,
        }
    }
}
