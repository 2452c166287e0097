//! A deployed script version as the engine runs it: the validated bundle, the routes its
//! `init()` registered, its limits and environment. Immutable and shared (`Arc`) between the
//! server's route table and every worker; each worker builds its own isolate from it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::bundle::Bundle;
use crate::limits::Limits;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A route registered with `registerWebHandler` or `registerWasmHandler`, in registration order.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteSpec {
    /// Upper-case method or `ANY`.
    pub method: String,
    /// Path pattern: literal segments, `:param`, optional trailing `*`.
    pub path: String,
    /// The JSON-serialisable options (auth, summary, …; `wasm` for a WebAssembly route).
    pub options: serde_json::Value,
}

impl RouteSpec {
    /// The bundle path of the WebAssembly module serving this route (`registerWasmHandler`,
    /// already normalised and checked to be in the bundle), or `None` for a JavaScript route.
    pub fn wasm_module(&self) -> Option<&str> {
        self.options.get("wasm").and_then(serde_json::Value::as_str)
    }

    /// The route's own request body limit (`maxBodyBytes`, validated at registration as a
    /// positive integer), if it set one.
    pub fn max_body_bytes(&self) -> Option<u64> {
        self.options
            .get("maxBodyBytes")
            .and_then(serde_json::Value::as_u64)
    }
}

/// One immutable, runnable version of a script.
#[derive(Debug)]
pub struct ScriptVersion {
    /// Process-unique id; workers key their isolates by it.
    pub id: u64,
    /// Script name.
    pub name: String,
    /// Version number in the store (0 while a deploy is being validated).
    pub version: i64,
    /// The transpiled, import-checked bundle.
    pub bundle: Arc<Bundle>,
    /// Limits for invocations and isolates of this version.
    pub limits: Limits,
    /// Variables visible as `ctx.env`.
    pub env: BTreeMap<String, String>,
    /// Routes registered by `init()`; index = route index for dispatch.
    pub routes: Vec<RouteSpec>,
}

impl ScriptVersion {
    /// Creates a version with a fresh id.
    pub fn new(
        name: impl Into<String>,
        version: i64,
        bundle: Arc<Bundle>,
        limits: Limits,
        env: BTreeMap<String, String>,
        routes: Vec<RouteSpec>,
    ) -> Self {
        ScriptVersion {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            name: name.into(),
            version,
            bundle,
            limits,
            env,
            routes,
        }
    }

    /// The same bundle under a committed version number, with the validated routes.
    pub fn committed(&self, version: i64) -> ScriptVersion {
        ScriptVersion::new(
            self.name.clone(),
            version,
            self.bundle.clone(),
            self.limits.clone(),
            self.env.clone(),
            self.routes.clone(),
        )
    }
}
