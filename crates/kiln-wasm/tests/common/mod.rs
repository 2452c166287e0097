//! Helpers shared by the test binaries: WAT fixtures compiled with the `wat` crate, a runtime,
//! and shorthand for requests.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use kiln_wasm::{ExecLimits, ExecOutcome, ExecRequest, PreparedModule, RuntimeConfig, WasmRuntime};

/// Compiles WebAssembly text to a binary module.
pub fn wasm(wat: &str) -> Vec<u8> {
    wat::parse_str(wat).expect("fixture WAT is valid")
}

/// A runtime with an in-memory cache only.
pub fn runtime() -> WasmRuntime {
    WasmRuntime::new(RuntimeConfig::default()).expect("runtime starts")
}

/// Prepares a WAT fixture.
pub fn prepare(rt: &WasmRuntime, wat: &str) -> Arc<PreparedModule> {
    rt.prepare(&wasm(wat)).expect("fixture prepares")
}

/// Prepares and runs a WAT fixture.
pub fn run(rt: &WasmRuntime, wat: &str, request: ExecRequest) -> ExecOutcome {
    let module = prepare(rt, wat);
    rt.run(&module, request)
}

/// A request with default limits except the time budget.
pub fn with_time(time: Duration) -> ExecRequest {
    ExecRequest {
        limits: ExecLimits {
            time,
            ..ExecLimits::default()
        },
        ..ExecRequest::default()
    }
}

/// Calls `function` with `args`.
pub fn call(function: &str, args: &[serde_json::Number]) -> ExecRequest {
    ExecRequest {
        function: Some(function.to_owned()),
        function_args: args.to_vec(),
        ..ExecRequest::default()
    }
}

/// A guest that spins forever in `_start`.
pub const SPIN: &str = r#"(module (func (export "_start") (loop $l (br $l))))"#;

/// Writes "hello, world\n" to stdout.
pub const HELLO: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello, world\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 13))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
"#;
