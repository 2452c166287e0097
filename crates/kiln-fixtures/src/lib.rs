//! Test fixtures for Kiln's WebAssembly tests, built from source inside the test suite so a
//! fresh clone passes on its own and no opaque binary is committed.
//!
//! Layout: [`c_module`] compiles the C programs under `c/` to `wasm32-wasi` with Debian's clang
//! and wasi-libc, once per build (cached under this crate's `OUT_DIR`); [`wat_modules`] holds
//! the hostile modules that only WebAssembly text can express (table bombs, start functions);
//! [`wasmwiz`] finds the original WasmWiz sample binaries next to the repository, when they are
//! there; [`process_cpu`] measures the process for "nothing keeps spinning" checks. This crate
//! is a dev-dependency only (`publish = false`); it panics with instructions instead of
//! returning errors, because a test cannot go on without its fixture.

mod c_modules;
mod process_cpu;
pub mod wasmwiz;
pub mod wat_modules;

pub use c_modules::{C_FLAGS, c_module, c_module_file, c_names, c_source};
pub use process_cpu::process_cpu;
