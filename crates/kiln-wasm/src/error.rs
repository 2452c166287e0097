//! Errors of the runtime itself: creating it and preparing modules.
//!
//! What a guest does wrong while running (traps, limits, exit codes, bad invocations) is not an
//! error of the runtime; it is reported in [`ExecOutcome`](crate::ExecOutcome). The messages
//! here are written for the person who uploaded the module.

use std::sync::Arc;

/// Why a runtime could not be created or a module could not be prepared.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WasmError {
    /// The bytes are not a WebAssembly binary module at all.
    #[error("not a WebAssembly module: {0}")]
    NotWasm(String),
    /// The bytes are WebAssembly but fail validation or compilation.
    #[error("invalid WebAssembly module: {0}")]
    InvalidModule(String),
    /// The module is larger than the runtime accepts.
    #[error("WebAssembly module is {size} bytes; the limit is {limit} bytes")]
    TooLarge {
        /// Size of the rejected module in bytes.
        size: usize,
        /// The runtime's `max_module_bytes`.
        limit: usize,
    },
    /// The module imports something Kiln does not provide. Only WASI preview 1
    /// (`wasi_snapshot_preview1`) functions are available to guests.
    #[error(
        "the module imports `{module}::{name}`, which Kiln does not provide; only WASI preview 1 \
         functions (`wasi_snapshot_preview1`) can be imported"
    )]
    UnknownImport {
        /// The import's module name.
        module: String,
        /// The import's field name.
        name: String,
    },
    /// The on-disk cache directory could not be created or used.
    #[error("WebAssembly module cache: {0}")]
    Cache(#[source] Arc<std::io::Error>),
    /// wasmtime refused the engine configuration or failed internally.
    #[error("WebAssembly engine: {0}")]
    Engine(String),
}

impl From<std::io::Error> for WasmError {
    fn from(err: std::io::Error) -> Self {
        WasmError::Cache(Arc::new(err))
    }
}
