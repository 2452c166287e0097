//! The platform operations Kiln offers scripts, behind the engine's [`HostServices`] door:
//! the engine hands over each operation a script starts (`wasm.run(…)` → op `wasm.run`) with
//! the script version, the invocation's identity and its remaining CPU budget; this module
//! routes it by name to the service that implements it and returns a future the worker runs
//! off the isolate. Blocking work (running WebAssembly) goes to tokio's blocking pool, never
//! onto the worker thread.

mod wasm;

use std::sync::Arc;

use kiln_js::{HostCall, HostError, HostFuture, HostServices};

/// Kiln's implementation of the operations scripts may call.
pub struct ScriptServices {
    wasm: Arc<kiln_wasm::WasmRuntime>,
}

impl ScriptServices {
    /// Services backed by the server's WebAssembly runtime.
    pub fn new(wasm: Arc<kiln_wasm::WasmRuntime>) -> Self {
        ScriptServices { wasm }
    }
}

impl HostServices for ScriptServices {
    fn call(&self, call: HostCall) -> HostFuture {
        match call.op.as_str() {
            "wasm.run" => Box::pin(wasm::run(self.wasm.clone(), call)),
            other => {
                let error = HostError::new(
                    "UNKNOWN_OPERATION",
                    format!("'{other}' is not an operation this Kiln offers"),
                );
                Box::pin(async move { Err(error) })
            }
        }
    }
}
