//! The platform operations Kiln offers scripts, behind the engine's [`HostServices`] door
//! (`wasm.run` in [`wasm`], `kv` and `kv.user` in [`kv`], `files` in [`files`], `render` in
//! [`template`], `markdown` in [`markdown`], `fetch` in [`fetch`] under the policy of
//! [`egress`], `db` in [`db`]):
//! the engine hands over each operation a script starts (`wasm.run(…)` → op `wasm.run`) with
//! the script version, the invocation's identity and its remaining CPU budget; this module
//! routes it by name to the service that implements it and returns a future the worker runs
//! off the isolate. Blocking work (running WebAssembly) goes to tokio's blocking pool, never
//! onto the worker thread. Every failed operation is written to the calling script's log with
//! the invocation's request id (see [`failure_log`]), whatever service it came from.

pub mod db;
pub mod egress;
mod failure_log;
pub mod fetch;
mod files;
pub mod kv;
pub mod markdown;
mod template;
mod wasm;

use std::sync::Arc;

use kiln_js::{HostCall, HostError, HostFuture, HostServices, LogSink};
use kiln_store::Store;

use crate::bundle_wasm::BundleModules;
use crate::config::KvConfig;
use db::DbService;
use fetch::FetchService;

/// Kiln's implementation of the operations scripts may call.
pub struct ScriptServices {
    modules: Arc<BundleModules>,
    store: Arc<dyn Store>,
    kv: Arc<KvConfig>,
    templates: Arc<template::Templates>,
    /// `fetch`; `None` until [`ScriptServices::with_fetch`] configures it.
    fetch: Option<Arc<FetchService>>,
    /// The scripts' log, where failed operations are reported.
    log: Arc<dyn LogSink>,
    /// `db`; `None` until [`ScriptServices::with_db`] configures it.
    db: Option<Arc<DbService>>,
}

impl ScriptServices {
    /// Services backed by the bundles' prepared WebAssembly modules and the store, reporting
    /// failures to `log`.
    pub fn new(
        modules: Arc<BundleModules>,
        store: Arc<dyn Store>,
        kv: KvConfig,
        log: Arc<dyn LogSink>,
    ) -> Self {
        ScriptServices {
            modules,
            store,
            kv: Arc::new(kv),
            templates: Arc::default(),
            fetch: None,
            log,
            db: None,
        }
    }

    /// Offers `db`, each script's own SQL database.
    pub fn with_db(mut self, db: DbService) -> Self {
        self.db = Some(Arc::new(db));
        self
    }

    /// Offers `fetch`, held to its egress policy and limits.
    pub fn with_fetch(mut self, fetch: FetchService) -> Self {
        self.fetch = Some(Arc::new(fetch));
        self
    }
}

impl HostServices for ScriptServices {
    fn call(&self, call: HostCall) -> HostFuture {
        let failure = failure_log::Pending::of(&call);
        let operation = self.route(call);
        let log = self.log.clone();
        Box::pin(async move {
            let result = operation.await;
            if let Err(error) = &result {
                failure.report(log.as_ref(), error);
            }
            result
        })
    }

    fn invocation_ended(&self, invocation: u64) {
        if let Some(db) = &self.db {
            db.invocation_ended(invocation);
        }
    }
}

impl ScriptServices {
    /// The service's future for `call`, chosen by the operation's name.
    fn route(&self, call: HostCall) -> HostFuture {
        match call.op.as_str() {
            "wasm.run" => Box::pin(wasm::run(self.modules.clone(), call)),
            op if op.starts_with("kv.") => {
                Box::pin(kv::call(self.store.clone(), self.kv.clone(), call))
            }
            op if op.starts_with("files.") => Box::pin(files::call(call)),
            "template.render" => Box::pin(self.templates.clone().render(call)),
            "markdown.render" => Box::pin(markdown::render(call)),
            "fetch" | "fetch.read" | "fetch.cancel" => match &self.fetch {
                Some(fetch) => match call.op.as_str() {
                    "fetch.read" => Box::pin(fetch.clone().read(call)),
                    "fetch.cancel" => Box::pin(fetch.clone().cancel(call)),
                    _ => Box::pin(fetch.clone().call(call)),
                },
                None => Box::pin(async {
                    Err(HostError::new(
                        "UNAVAILABLE",
                        "fetch is not available in this Kiln",
                    ))
                }),
            },
            op if op.starts_with("db.") => match &self.db {
                Some(db) => Box::pin(db.clone().call(call)),
                None => Box::pin(async {
                    Err(HostError::new(
                        "UNAVAILABLE",
                        "db is not available in this Kiln",
                    ))
                }),
            },
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
