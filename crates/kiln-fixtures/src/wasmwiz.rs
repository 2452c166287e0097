//! The sample modules WasmWiz shipped (`hello_world`, `calc_add`, `echo`: Rust binaries whose
//! sources were never published), with their sample inputs and expected outputs.
//!
//! They are not in this repository: they live in `shared/fixtures/wasmwiz/` next to it (CI
//! has them), or under `$KILN_SHARED_DIR/fixtures/wasmwiz/`. Tests that use them skip when the
//! folder is absent; the C equivalents in `c/` (same names) keep a fresh clone covered.

use std::path::{Path, PathBuf};

/// The samples' names: each has `<name>.wasm`, `<name>_input.txt` and `<name>_output.txt`.
pub const SAMPLES: [&str; 3] = ["hello_world", "calc_add", "echo"];

/// One WasmWiz sample.
#[derive(Clone, Debug)]
pub struct Sample {
    /// `hello_world`, `calc_add` or `echo`.
    pub name: &'static str,
    /// The original module, unchanged.
    pub module: Vec<u8>,
    /// Its sample stdin.
    pub input: Vec<u8>,
    /// Its expected stdout, to compare after trimming trailing whitespace.
    pub expected_output: String,
}

/// The folder of the WasmWiz samples, if present: `$KILN_SHARED_DIR/fixtures/wasmwiz` when the
/// variable is set (then the folder must exist), else `shared/fixtures/wasmwiz` next to the
/// repository.
pub fn dir() -> Option<PathBuf> {
    if let Some(shared) = std::env::var_os("KILN_SHARED_DIR").filter(|s| !s.is_empty()) {
        let dir = Path::new(&shared).join("fixtures").join("wasmwiz");
        assert!(
            dir.is_dir(),
            "KILN_SHARED_DIR is set but {} is not a directory",
            dir.display()
        );
        return Some(dir);
    }
    // This crate is `<repository>/crates/kiln-fixtures`.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/wasmwiz");
    dir.is_dir().then_some(dir)
}

/// The three samples, or `None` (with a note on stderr) when their folder is absent. Panics
/// if the folder exists but a file is missing.
pub fn samples() -> Option<Vec<Sample>> {
    let Some(dir) = dir() else {
        eprintln!(
            "the WasmWiz samples are not present (shared/fixtures/wasmwiz next to the \
             repository, or KILN_SHARED_DIR): skipped"
        );
        return None;
    };
    let read = |file: String| {
        let path = dir.join(file);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    Some(
        SAMPLES
            .iter()
            .map(|&name| Sample {
                name,
                module: read(format!("{name}.wasm")),
                input: read(format!("{name}_input.txt")),
                expected_output: String::from_utf8_lossy(&read(format!("{name}_output.txt")))
                    .into_owned(),
            })
            .collect(),
    )
}
