//! C programs compiled to WebAssembly (`wasm32-wasi`, WASI preview 1 commands) for tests.
//!
//! The sources live in `crates/kiln-fixtures/c/` and are embedded here, so a changed source
//! rebuilds this crate. [`c_module`] compiles one with clang ([`C_FLAGS`]) the first time any test
//! asks for it and caches the result under this crate's `OUT_DIR`, keyed by a hash of the
//! source, the flags, the sysroot and clang's version: each module compiles once per build,
//! however many tests and test binaries use it. Parallel tests are safe: one compilation per
//! module per process, and across processes each writes a temporary file and renames it into
//! place. Without clang, wasm-ld, wasi-libc or the wasm32 compiler-rt builtins, it panics and
//! says to run `./test.sh`, which installs them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use sha2::{Digest, Sha256};

/// The clang flags every fixture is compiled with (plus `--sysroot` when one is configured).
/// The DWARF sections go, the name section stays, so trap backtraces name C functions.
pub const C_FLAGS: &[&str] = &["--target=wasm32-wasi", "-O2", "-Wl,--strip-debug"];

/// Every C fixture: its name (the file `c/<name>.c`) and source.
const SOURCES: &[(&str, &str)] = &[
    ("args_env", include_str!("../c/args_env.c")),
    ("busy_loop", include_str!("../c/busy_loop.c")),
    ("calc_add", include_str!("../c/calc_add.c")),
    ("cgi_echo", include_str!("../c/cgi_echo.c")),
    ("deep_recursion", include_str!("../c/deep_recursion.c")),
    ("echo", include_str!("../c/echo.c")),
    ("hello_world", include_str!("../c/hello_world.c")),
    ("memory_bomb", include_str!("../c/memory_bomb.c")),
    ("sandbox_escape", include_str!("../c/sandbox_escape.c")),
    ("stdout_flood", include_str!("../c/stdout_flood.c")),
    ("unknown_import", include_str!("../c/unknown_import.c")),
];

/// The default place of a WASI sysroot in the layout of wasi-sdk and newer distributions.
/// Debian 12's `wasi-libc` installs into `/usr/include/wasm32-wasi` and `/usr/lib/wasm32-wasi`
/// instead, where its clang looks without `--sysroot`.
const SHARE_SYSROOT: &str = "/usr/share/wasi-sysroot";

/// What to do when the toolchain is missing or broken.
const INSTALL_HINT: &str = "The C test fixtures need clang, lld (wasm-ld), wasi-libc and the \
    wasm32 compiler-rt builtins. Run ./test.sh, which installs them when they are missing \
    (on Debian: apt-get install clang lld wasi-libc libclang-rt-<clang major>-dev-wasm32). \
    CLANG and WASI_SYSROOT override the compiler and the sysroot.";

/// The names of all C fixtures.
pub fn c_names() -> impl Iterator<Item = &'static str> {
    SOURCES.iter().map(|(name, _)| *name)
}

/// The C source of fixture `name`. Panics for an unknown name.
pub fn c_source(name: &str) -> &'static str {
    match SOURCES.iter().find(|(n, _)| *n == name) {
        Some((_, source)) => source,
        None => panic!(
            "no C fixture `{name}`; there are: {}",
            c_names().collect::<Vec<_>>().join(", ")
        ),
    }
}

/// The WebAssembly module built from `c/<name>.c`, compiling it on first use. Panics for an
/// unknown name, a missing toolchain or a compile error.
pub fn c_module(name: &str) -> Vec<u8> {
    let path = c_module_file(name);
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("cannot read the compiled fixture {}: {e}", path.display()))
}

/// The cached `.wasm` file built from `c/<name>.c` (for tests that pass a path, like
/// `kiln exec`), compiling it on first use. Panics like [`c_module`].
pub fn c_module_file(name: &str) -> PathBuf {
    let source = c_source(name);
    static BUILT: Mutex<BTreeMap<String, Arc<OnceLock<PathBuf>>>> = Mutex::new(BTreeMap::new());
    let cell = {
        let mut built = BUILT
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        built.entry(name.to_owned()).or_default().clone()
    };
    // One compilation per module in this process; other threads wait for it.
    cell.get_or_init(|| compile(name, source)).clone()
}

/// The compiler and where its WASI libc is.
struct Toolchain {
    clang: String,
    sysroot: Option<PathBuf>,
    /// `clang --version`, part of the cache key.
    version: String,
}

fn toolchain() -> &'static Toolchain {
    static TOOLCHAIN: OnceLock<Result<Toolchain, String>> = OnceLock::new();
    match TOOLCHAIN.get_or_init(detect) {
        Ok(toolchain) => toolchain,
        Err(problem) => panic!("{problem}\n{INSTALL_HINT}"),
    }
}

fn detect() -> Result<Toolchain, String> {
    let clang = std::env::var("CLANG")
        .ok()
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "clang".to_owned());
    let output = Command::new(&clang)
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run `{clang}`: {e}"))?;
    if !output.status.success() {
        return Err(format!("`{clang} --version` failed"));
    }
    let sysroot = match std::env::var_os("WASI_SYSROOT").filter(|s| !s.is_empty()) {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if !dir.is_dir() {
                return Err(format!("WASI_SYSROOT={} is not a directory", dir.display()));
            }
            Some(dir)
        }
        None => Some(PathBuf::from(SHARE_SYSROOT)).filter(|dir| dir.is_dir()),
    };
    Ok(Toolchain {
        clang,
        sysroot,
        version: String::from_utf8_lossy(&output.stdout).into_owned(),
    })
}

/// Compiles `c/<name>.c` into the cache unless it is there already; returns the cached file.
fn compile(name: &str, source: &str) -> PathBuf {
    let toolchain = toolchain();
    let mut args: Vec<String> = C_FLAGS.iter().map(|f| (*f).to_owned()).collect();
    if let Some(sysroot) = &toolchain.sysroot {
        args.push(format!("--sysroot={}", sysroot.display()));
    }
    let mut hasher = Sha256::new();
    for part in [name, source, &args.join(" "), &toolchain.version] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let key = hex::encode(&hasher.finalize()[..8]);
    let dir = Path::new(env!("OUT_DIR")).join("c-modules");
    let cached = dir.join(format!("{name}-{key}.wasm"));
    if cached.is_file() {
        return cached;
    }
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create the fixture cache {}: {e}", dir.display()));

    // A name no other thread or process uses, renamed into place once complete.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let temporary = dir.join(format!(
        "{name}-{key}.{}-{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("c")
        .join(format!("{name}.c"));
    let output = Command::new(&toolchain.clang)
        .args(&args)
        .arg("-o")
        .arg(&temporary)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{}`: {e}\n{INSTALL_HINT}", toolchain.clang));
    if !output.status.success() {
        let _ = std::fs::remove_file(&temporary);
        panic!(
            "compiling {} to WebAssembly failed: {} {} -o … {}\n{}\n{INSTALL_HINT}",
            file.display(),
            toolchain.clang,
            args.join(" "),
            file.display(),
            String::from_utf8_lossy(&output.stderr).trim_end()
        );
    }
    std::fs::rename(&temporary, &cached).unwrap_or_else(|e| {
        panic!(
            "cannot move {} to {}: {e}",
            temporary.display(),
            cached.display()
        )
    });
    cached
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_file_is_listed() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("c");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("c/: {e}"))
            .filter_map(|entry| {
                let name = entry.ok()?.file_name().into_string().ok()?;
                Some(name.strip_suffix(".c")?.to_owned())
            })
            .collect();
        on_disk.sort();
        assert_eq!(on_disk, c_names().collect::<Vec<_>>());
    }

    #[test]
    fn modules_compile_once_and_are_webassembly() {
        let first = c_module_file("hello_world");
        let again = c_module_file("hello_world");
        assert_eq!(first, again);
        let bytes = c_module("hello_world");
        assert_eq!(&bytes[..4], b"\0asm");
    }
}
