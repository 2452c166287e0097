//! Kiln's WebAssembly runtime: it owns everything between uploaded `.wasm` bytes and the
//! outcome of running them — validation and compilation (wasmtime with Cranelift), the
//! compiled-module cache (in memory and on disk, keyed by content hash), the guest's world
//! (WASI preview 1 with captured stdio, the request's args and env, and nothing from the host:
//! no files, no sockets), and the limits that stop hostile guests (time via epoch interruption,
//! memory and tables via a resource limiter, output caps, wasmtime's stack limit).
//!
//! It knows nothing about HTTP, scripts or storage; `kiln` uses it for `POST /execute`,
//! stored modules, WebAssembly route handlers and `wasm.run` from scripts.
//!
//! ```no_run
//! use kiln_wasm::{ExecRequest, RuntimeConfig, WasmRuntime};
//!
//! # fn demo(wasm: &[u8]) -> Result<(), kiln_wasm::WasmError> {
//! let runtime = WasmRuntime::new(RuntimeConfig::default())?;
//! let module = runtime.prepare(wasm)?;
//! let outcome = runtime.run(&module, ExecRequest { stdin: b"hi".to_vec(), ..Default::default() });
//! println!("{} {}", outcome.status.code(), String::from_utf8_lossy(&outcome.stdout));
//! # Ok(())
//! # }
//! ```
//!
//! Both `prepare` and `run` block the calling thread; async callers use `spawn_blocking`.

#![warn(missing_docs)]

mod cpu_clock;
mod disk_cache;
mod epoch;
mod error;
mod exec;
mod known_bytes;
pub mod limits;
mod output;
mod run;
mod runtime;
mod wasi;

pub use error::WasmError;
pub use exec::{ExecOutcome, ExecRequest, ExecStatus};
pub use limits::{ARGV0, ExecLimits};
pub use runtime::{CacheStats, PreparedModule, RuntimeConfig, WasmRuntime};
