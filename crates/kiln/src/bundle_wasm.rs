//! WebAssembly modules shipped inside script bundles: this module owns turning a bundle's
//! `.wasm` file into a runnable [`PreparedModule`] and remembering the result per bundle.
//!
//! Every `.wasm` file of a bundle is compiled when a version is deployed (or restored at
//! start-up), so an invalid module rejects the deploy and the runtime's compiled-module cache is
//! warm before the first request. [`BundleModules`] then keeps each bundle's prepared modules by
//! path: a request (a `registerWasmHandler` route, or `wasm.run` from a script) finds its module
//! without hashing the bytes again. The memo is keyed by the bundle's allocation and holds only a
//! weak reference to it, so a retired version's entries are dropped with the next insertion and
//! never keep its files alive. Preparing blocks (hashing, compiling): the async entry points run
//! it on tokio's blocking pool.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};

use kiln_js::{Bundle, RouteSpec, ScriptVersion};
use kiln_wasm::{PreparedModule, WasmError, WasmRuntime};

/// File-name suffix of the bundle files that are WebAssembly modules.
pub const WASM_SUFFIX: &str = ".wasm";

/// Why a bundle's module cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BundleWasmError {
    /// The bundle has no file at `path`.
    #[error("'{path}' is not a file of the script bundle")]
    Missing {
        /// The bundle path asked for.
        path: String,
    },
    /// The file is not a valid module (or imports what Kiln does not provide, or is too large).
    #[error("'{path}': {source}")]
    Invalid {
        /// The bundle path of the module.
        path: String,
        /// What the runtime reported.
        #[source]
        source: WasmError,
    },
    /// A route is served by a module that is not a WASI command (no `_start` export).
    #[error(
        "'{path}' exports no `_start` function: a WebAssembly route needs a WASI command module \
         (for C, build an executable with a `main`; for Rust, a binary crate)"
    )]
    NotCommand {
        /// The bundle path of the module.
        path: String,
    },
    /// The preparing task could not be run (the blocking pool is shutting down).
    #[error("WebAssembly modules could not be prepared: {0}")]
    Task(String),
}

/// Checks and compiles the module at `path` of `bundle` (through `runtime`'s content-hash
/// cache). Blocking: call it from a blocking context.
pub fn prepare_bundle_module(
    runtime: &WasmRuntime,
    bundle: &Bundle,
    path: &str,
) -> Result<Arc<PreparedModule>, BundleWasmError> {
    let bytes = bundle.file(path).ok_or_else(|| BundleWasmError::Missing {
        path: path.to_owned(),
    })?;
    runtime
        .prepare(bytes)
        .map_err(|source| BundleWasmError::Invalid {
            path: path.to_owned(),
            source,
        })
}

/// The paths of a bundle's WebAssembly modules (files ending in `.wasm`), sorted.
pub fn wasm_paths(bundle: &Bundle) -> impl Iterator<Item = &str> {
    bundle
        .files()
        .map(|f| f.path.as_str())
        .filter(|p| p.ends_with(WASM_SUFFIX))
}

/// One bundle's prepared modules.
struct Entry {
    /// The bundle the modules come from; holding it weakly keeps the allocation (and so the
    /// key) from being reused while the entry exists, without keeping the files alive.
    bundle: Weak<Bundle>,
    /// Bundle path → prepared module.
    modules: HashMap<String, Arc<PreparedModule>>,
}

/// Prepared modules per bundle, shared by every request; cheap to query.
pub struct BundleModules {
    runtime: Arc<WasmRuntime>,
    /// Keyed by the address of the bundle's `Arc` allocation (see [`Entry::bundle`]).
    memo: RwLock<HashMap<usize, Entry>>,
}

impl BundleModules {
    /// An empty memo preparing modules with `runtime`.
    pub fn new(runtime: Arc<WasmRuntime>) -> Self {
        BundleModules {
            runtime,
            memo: RwLock::new(HashMap::new()),
        }
    }

    /// The runtime that prepares (and should run) the modules.
    pub fn runtime(&self) -> &Arc<WasmRuntime> {
        &self.runtime
    }

    /// The module at `path` of `bundle` if it was prepared before (no hashing, no blocking).
    pub fn cached(&self, bundle: &Arc<Bundle>, path: &str) -> Option<Arc<PreparedModule>> {
        let memo = self.memo.read().ok()?;
        let entry = memo.get(&key(bundle))?;
        // A live weak reference at the same address is the same allocation.
        if entry.bundle.strong_count() == 0 {
            return None;
        }
        entry.modules.get(path).cloned()
    }

    /// The module at `path` of `bundle`: from the memo, or prepared on the blocking pool (and
    /// remembered).
    pub async fn module(
        self: &Arc<Self>,
        bundle: &Arc<Bundle>,
        path: &str,
    ) -> Result<Arc<PreparedModule>, BundleWasmError> {
        if let Some(module) = self.cached(bundle, path) {
            return Ok(module);
        }
        let this = self.clone();
        let bundle = bundle.clone();
        let owned = path.to_owned();
        tokio::task::spawn_blocking(move || this.prepare_blocking(&bundle, &owned))
            .await
            .map_err(|e| BundleWasmError::Task(e.to_string()))?
    }

    /// Prepares every `.wasm` file of `bundle` on the blocking pool (deploy-time validation and
    /// cache warming); the first invalid module is the error. Returns the modules by path.
    pub async fn prepare_all(
        self: &Arc<Self>,
        bundle: &Arc<Bundle>,
    ) -> Result<HashMap<String, Arc<PreparedModule>>, BundleWasmError> {
        if wasm_paths(bundle).next().is_none() {
            return Ok(HashMap::new());
        }
        let this = self.clone();
        let bundle = bundle.clone();
        tokio::task::spawn_blocking(move || {
            let mut prepared = HashMap::new();
            for path in wasm_paths(&bundle) {
                let module = this.prepare_blocking(&bundle, path)?;
                prepared.insert(path.to_owned(), module);
            }
            Ok(prepared)
        })
        .await
        .map_err(|e| BundleWasmError::Task(e.to_string()))?
    }

    /// Deploy-time check of a script version: every `.wasm` file of its bundle compiles, and
    /// every `registerWasmHandler` route names one of them that is a WASI command.
    pub async fn validate(self: &Arc<Self>, script: &ScriptVersion) -> Result<(), BundleWasmError> {
        let prepared = self.prepare_all(&script.bundle).await?;
        for path in script.routes.iter().filter_map(RouteSpec::wasm_module) {
            let module = prepared.get(path).ok_or_else(|| BundleWasmError::Missing {
                path: path.to_owned(),
            })?;
            if !module.exported_functions().iter().any(|f| f == "_start") {
                return Err(BundleWasmError::NotCommand {
                    path: path.to_owned(),
                });
            }
        }
        Ok(())
    }

    /// Prepares the module at `path` of `bundle` on this thread and remembers it. Blocking.
    pub fn prepare_blocking(
        &self,
        bundle: &Arc<Bundle>,
        path: &str,
    ) -> Result<Arc<PreparedModule>, BundleWasmError> {
        if let Some(module) = self.cached(bundle, path) {
            return Ok(module);
        }
        let module = prepare_bundle_module(&self.runtime, bundle, path)?;
        self.remember(bundle, path, module.clone());
        Ok(module)
    }

    fn remember(&self, bundle: &Arc<Bundle>, path: &str, module: Arc<PreparedModule>) {
        let Ok(mut memo) = self.memo.write() else {
            return;
        };
        // Forget retired bundles (their versions are gone) before adding.
        memo.retain(|_, entry| entry.bundle.strong_count() > 0);
        memo.entry(key(bundle))
            .or_insert_with(|| Entry {
                bundle: Arc::downgrade(bundle),
                modules: HashMap::new(),
            })
            .modules
            .insert(path.to_owned(), module);
    }

    /// Bundles with remembered modules (for tests and diagnostics).
    pub fn bundles(&self) -> usize {
        self.memo
            .read()
            .map(|memo| {
                memo.values()
                    .filter(|e| e.bundle.strong_count() > 0)
                    .count()
            })
            .unwrap_or(0)
    }
}

fn key(bundle: &Arc<Bundle>) -> usize {
    Arc::as_ptr(bundle) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_js::{BundleFile, BundleLimits};

    const EMPTY_MODULE: &[u8] = b"\0asm\x01\0\0\0";

    fn bundle(files: &[(&str, &[u8])]) -> Arc<Bundle> {
        let mut all = vec![BundleFile {
            path: "main.js".into(),
            content: b"export function init() {}".to_vec(),
        }];
        all.extend(files.iter().map(|(path, content)| BundleFile {
            path: (*path).into(),
            content: content.to_vec(),
        }));
        Arc::new(Bundle::build(all, &BundleLimits::default()).expect("bundle"))
    }

    fn runtime() -> Arc<WasmRuntime> {
        Arc::new(WasmRuntime::new(kiln_wasm::RuntimeConfig::default()).expect("runtime"))
    }

    #[tokio::test]
    async fn modules_are_prepared_once_per_bundle_and_forgotten_with_it() {
        let modules = Arc::new(BundleModules::new(runtime()));
        let first = bundle(&[("a.wasm", EMPTY_MODULE), ("lib/b.wasm", EMPTY_MODULE)]);
        let prepared = modules.prepare_all(&first).await.expect("valid");
        assert_eq!(prepared.len(), 2);
        assert!(modules.cached(&first, "lib/b.wasm").is_some());
        let again = modules.module(&first, "a.wasm").await.expect("module");
        assert!(Arc::ptr_eq(&again, &prepared["a.wasm"]));

        // Another bundle with the same bytes has its own entry.
        let second = bundle(&[("a.wasm", EMPTY_MODULE)]);
        assert!(modules.cached(&second, "a.wasm").is_none());
        modules.module(&second, "a.wasm").await.expect("module");
        assert_eq!(modules.bundles(), 2);
        drop(first);
        assert_eq!(modules.bundles(), 1);
    }

    #[tokio::test]
    async fn invalid_and_missing_modules_name_the_file() {
        let modules = Arc::new(BundleModules::new(runtime()));
        let broken = bundle(&[
            ("ok.wasm", EMPTY_MODULE),
            ("bad/x.wasm", b"\0asm\x01\0\0\0\x7f"),
        ]);
        let error = modules.prepare_all(&broken).await.expect_err("invalid");
        assert!(error.to_string().starts_with("'bad/x.wasm': "), "{error}");
        let error = modules
            .module(&broken, "nope.wasm")
            .await
            .expect_err("missing");
        assert!(matches!(error, BundleWasmError::Missing { .. }), "{error}");
        let not_wasm = bundle(&[("text.wasm", b"hello")]);
        let error = modules.prepare_all(&not_wasm).await.expect_err("not wasm");
        assert!(
            error.to_string().contains("not a WebAssembly module"),
            "{error}"
        );
    }
}
