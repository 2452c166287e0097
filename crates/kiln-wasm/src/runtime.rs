//! The runtime: one wasmtime engine, its epoch ticker, its linker and its module cache.
//!
//! [`WasmRuntime::prepare`] turns bytes into a [`PreparedModule`] (checked, compiled, linked
//! once as an `InstancePre`), going through a bounded in-memory cache and, when configured, the
//! on-disk artifact cache, both keyed by the SHA-256 of the bytes; concurrent prepares of the
//! same new module compile it once. [`WasmRuntime::run`] instantiates a prepared module in a
//! fresh store and runs it on the calling thread under the request's limits.
//!
//! Instances use wasmtime's on-demand allocator, not the pooling one: a run costs about 2 µs
//! for a module without WASI imports and 15 µs for a WASI hello world (release build, this
//! machine), far below anything else on a request, while pooling would reserve address space
//! and fix per-slot memory sizes up front. A cache hit in `prepare` costs the SHA-256 of the
//! bytes (~35 µs for a 64 KiB module), except for bytes exactly equal to a recently prepared
//! module's ([`KnownBytes`]: a fingerprint lookup and a comparison, ~2 µs); callers serving a
//! stored module keep its `Arc<PreparedModule>` rather than preparing it per request.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::{Config, Engine, InstancePre, Module};

use crate::disk_cache::{DiskCache, content_hash};
use crate::epoch::Ticker;
use crate::error::WasmError;
use crate::exec::{ExecOutcome, ExecRequest, ExecStatus};
use crate::known_bytes::KnownBytes;
use crate::limits::{DEFAULT_CACHE_ENTRIES, DEFAULT_MAX_MODULE_BYTES};
use crate::run::{self, RunState};
use crate::wasi::{GuestLinker, WASI_MODULE};

/// How a [`WasmRuntime`] is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Directory for compiled artifacts (created if missing); `None` keeps the cache in memory
    /// only. Only this runtime may write into it.
    pub cache_dir: Option<PathBuf>,
    /// Compiled modules kept in memory at most (least recently used ones are dropped first).
    pub cache_entries: usize,
    /// Largest module `prepare` accepts, in bytes.
    pub max_module_bytes: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            cache_entries: DEFAULT_CACHE_ENTRIES,
            max_module_bytes: DEFAULT_MAX_MODULE_BYTES,
        }
    }
}

/// Counters of the module cache since the runtime was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// `prepare` calls answered from memory.
    pub hits: u64,
    /// Compilations: modules found neither in memory nor on disk (including ones that then
    /// failed validation or were refused for their imports; failures are not cached).
    pub misses: u64,
    /// Modules loaded from an on-disk artifact instead of compiled.
    pub disk_hits: u64,
    /// Modules currently held in memory.
    pub entries: u64,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    disk_hits: AtomicU64,
}

/// A module checked, compiled and linked, ready to run any number of times, on any thread.
pub struct PreparedModule {
    hash: String,
    pub(crate) module: Module,
    pub(crate) pre: InstancePre<RunState>,
    uses_wasi: bool,
}

impl PreparedModule {
    /// SHA-256 of the module's bytes, lower-case hex.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// Whether the module imports any WASI function.
    pub fn uses_wasi(&self) -> bool {
        self.uses_wasi
    }

    /// Names of the module's exported functions.
    pub fn exported_functions(&self) -> Vec<String> {
        self.module
            .exports()
            .filter(|export| export.ty().func().is_some())
            .map(|export| export.name().to_owned())
            .collect()
    }
}

impl fmt::Debug for PreparedModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedModule")
            .field("hash", &self.hash)
            .field("uses_wasi", &self.uses_wasi)
            .finish_non_exhaustive()
    }
}

/// Kiln's WebAssembly runtime; share one per process (it is `Send + Sync`).
pub struct WasmRuntime {
    engine: Engine,
    linker: GuestLinker,
    memory: moka::sync::Cache<String, Arc<PreparedModule>>,
    /// Bytes of recently prepared modules, so a repeated upload skips the SHA-256.
    known: KnownBytes,
    disk: Option<DiskCache>,
    counters: Counters,
    max_module_bytes: usize,
    ticker: Ticker,
}

impl fmt::Debug for WasmRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WasmRuntime")
            .field("cache_stats", &self.cache_stats())
            .finish_non_exhaustive()
    }
}

impl WasmRuntime {
    /// Creates the engine (epoch interruption on, on-demand instance allocation), starts the
    /// epoch ticker thread and opens the disk cache.
    pub fn new(config: RuntimeConfig) -> Result<WasmRuntime, WasmError> {
        let mut engine_config = Config::new();
        engine_config.epoch_interruption(true);
        let engine =
            Engine::new(&engine_config).map_err(|e| WasmError::Engine(format!("{e:#}")))?;
        let linker = GuestLinker::new(&engine).map_err(|e| WasmError::Engine(format!("{e:#}")))?;
        let disk = match &config.cache_dir {
            Some(dir) => Some(DiskCache::open(dir, &engine)?),
            None => None,
        };
        let memory = moka::sync::Cache::builder()
            .max_capacity(config.cache_entries as u64)
            .build();
        let ticker = Ticker::start(engine.clone())?;
        Ok(WasmRuntime {
            engine,
            linker,
            memory,
            known: KnownBytes::new(),
            disk,
            counters: Counters::default(),
            max_module_bytes: config.max_module_bytes,
            ticker,
        })
    }

    /// Checks, compiles and links a module, or returns it from the cache (memory, then disk)
    /// by the SHA-256 of `bytes`. Compiling is CPU-heavy: call it from a blocking context.
    pub fn prepare(&self, bytes: &[u8]) -> Result<Arc<PreparedModule>, WasmError> {
        if bytes.len() > self.max_module_bytes {
            return Err(WasmError::TooLarge {
                size: bytes.len(),
                limit: self.max_module_bytes,
            });
        }
        check_header(bytes)?;
        let known = self.known.hash_of(bytes);
        let hash = match &known {
            Some(hash) => hash.to_string(),
            None => content_hash(bytes),
        };
        let mut loaded = false;
        let result = self.memory.try_get_with(hash.clone(), || {
            loaded = true;
            self.load(bytes, &hash).map(Arc::new)
        });
        match result {
            Ok(module) => {
                if !loaded {
                    self.counters.hits.fetch_add(1, Ordering::Relaxed);
                }
                if known.is_none() {
                    self.known.remember(bytes, Arc::from(hash));
                }
                Ok(module)
            }
            Err(err) => Err(WasmError::clone(&err)),
        }
    }

    /// The module with content hash `hash` (SHA-256, lowercase hex) if it is prepared in
    /// memory — no hashing, no compiling, no disk. For callers that already know a module's
    /// hash (stored modules); on `None`, [`WasmRuntime::prepare`] the bytes. Counts as a hit.
    pub fn cached(&self, hash: &str) -> Option<Arc<PreparedModule>> {
        let module = self.memory.get(hash)?;
        self.counters.hits.fetch_add(1, Ordering::Relaxed);
        Some(module)
    }

    /// Runs `module` on the calling thread, blocking until it ends (at the latest one epoch
    /// tick after `request.limits.time`). Call it from a blocking context (e.g. tokio's
    /// `spawn_blocking`), never from an async task: WASI host calls block on a tokio runtime.
    pub fn run(&self, module: &PreparedModule, request: ExecRequest) -> ExecOutcome {
        if !Engine::same(module.module.engine(), &self.engine) {
            return ExecOutcome::not_run(ExecStatus::InvalidInvocation {
                message: "the module was prepared by another WasmRuntime".into(),
            });
        }
        let _active = self.ticker.active();
        run::execute(&self.engine, module, request)
    }

    /// The module cache's counters.
    pub fn cache_stats(&self) -> CacheStats {
        self.memory.run_pending_tasks();
        CacheStats {
            hits: self.counters.hits.load(Ordering::Relaxed),
            misses: self.counters.misses.load(Ordering::Relaxed),
            disk_hits: self.counters.disk_hits.load(Ordering::Relaxed),
            entries: self.memory.entry_count(),
        }
    }

    /// Loads a module missing from memory: from disk if possible, else by compiling it (and
    /// then writing it to disk).
    fn load(&self, bytes: &[u8], hash: &str) -> Result<PreparedModule, WasmError> {
        if let Some(disk) = &self.disk
            && let Some(module) = disk.load(&self.engine, hash)
        {
            self.counters.disk_hits.fetch_add(1, Ordering::Relaxed);
            return self.link(hash, module);
        }
        self.counters.misses.fetch_add(1, Ordering::Relaxed);
        let module = Module::from_binary(&self.engine, bytes)
            .map_err(|e| WasmError::InvalidModule(format!("{e:#}")))?;
        let prepared = self.link(hash, module)?;
        if let Some(disk) = &self.disk {
            disk.store(hash, &prepared.module);
        }
        Ok(prepared)
    }

    /// Checks the module's imports and links it once (`InstancePre`).
    fn link(&self, hash: &str, module: Module) -> Result<PreparedModule, WasmError> {
        let mut uses_wasi = false;
        for import in module.imports() {
            if !self.linker.provides(import.module(), import.name()) {
                return Err(WasmError::UnknownImport {
                    module: import.module().to_owned(),
                    name: import.name().to_owned(),
                });
            }
            uses_wasi |= import.module() == WASI_MODULE;
        }
        let pre = self
            .linker
            .instantiate_pre(&module)
            .map_err(|e| WasmError::InvalidModule(format!("{e:#}")))?;
        Ok(PreparedModule {
            hash: hash.to_owned(),
            module,
            pre,
            uses_wasi,
        })
    }
}

/// The first eight bytes of a core module: magic, then version 1.
const MAGIC: &[u8; 4] = b"\0asm";
const VERSION_1: [u8; 4] = [1, 0, 0, 0];
/// Version field of a component-model binary (version 0x0d, layer 1).
const COMPONENT_VERSION: [u8; 4] = [0x0d, 0, 1, 0];

/// Rejects bytes that are not a core WebAssembly binary, with a message saying what they are.
fn check_header(bytes: &[u8]) -> Result<(), WasmError> {
    if bytes.is_empty() {
        return Err(WasmError::NotWasm("the module is empty".into()));
    }
    if !bytes.starts_with(MAGIC) {
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(64)]);
        if text.trim_start().starts_with('(') {
            return Err(WasmError::NotWasm(
                "this looks like WebAssembly text (.wat); compile it to a binary .wasm module \
                 first (for example with `wasm-tools parse` or `wat2wasm`)"
                    .into(),
            ));
        }
        let start: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
        return Err(WasmError::NotWasm(format!(
            "a WebAssembly binary starts with the bytes 00 61 73 6d (\"\\0asm\"), but this one \
             starts with {}",
            start.join(" ")
        )));
    }
    match bytes.get(4..8) {
        None => Err(WasmError::InvalidModule(
            "the module is truncated: it ends inside the 8-byte header".into(),
        )),
        Some(v) if v == VERSION_1 => Ok(()),
        Some(v) if v == COMPONENT_VERSION => Err(WasmError::InvalidModule(
            "this is a WebAssembly component; Kiln runs core WebAssembly modules (with WASI \
             preview 1 imports) only"
                .into(),
        )),
        Some(v) => Err(WasmError::InvalidModule(format!(
            "unsupported WebAssembly binary version {:02x} {:02x} {:02x} {:02x}; Kiln runs \
             version 1 modules",
            v[0], v[1], v[2], v[3]
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn public_types_are_send_and_sync() {
        assert_send_sync::<WasmRuntime>();
        assert_send_sync::<PreparedModule>();
        assert_send_sync::<Arc<PreparedModule>>();
    }

    #[test]
    fn headers_are_checked_with_helpful_messages() {
        let msg = |bytes: &[u8]| check_header(bytes).err().map(|e| e.to_string());
        assert_eq!(
            msg(b""),
            Some("not a WebAssembly module: the module is empty".into())
        );
        assert!(msg(b"(module)").is_some_and(|m| m.contains("WebAssembly text")));
        assert!(msg(b"\x7fELF\x02\x01").is_some_and(|m| m.contains("starts with 7f 45 4c 46")));
        assert!(msg(b"\0asm\x01").is_some_and(|m| m.contains("truncated")));
        assert!(msg(b"\0asm\x0d\0\x01\0").is_some_and(|m| m.contains("component")));
        assert!(msg(b"\0asm\x02\0\0\0").is_some_and(|m| m.contains("version 02 00 00 00")));
        assert!(check_header(b"\0asm\x01\0\0\0").is_ok());
    }
}
