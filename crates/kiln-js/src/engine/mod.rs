//! The engine: a pool of worker threads running isolates, and the API the server uses —
//! prepare (validate) a deploy, invoke a route, warm and retire versions.
//!
//! Request path: [`Engine::invoke`] picks a worker (round robin), sends it the invocation,
//! and awaits the reply. The worker owns the isolates and enforces the budgets; the reply
//! wait has an outer deadline slightly past the wall-clock budget as a watchdog, so a worker
//! stuck in code QuickJS's interrupt handler cannot reach still answers its clients.

mod host;
mod isolate;
mod worker;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

pub use isolate::StartError;

use crate::bundle::{Bundle, BundleError, BundleFile, BundleLimits};
use crate::invocation::{HttpRequest, HttpResponse, InvokeError, LogSink, ScriptLog};
use crate::limits::{Limits, WORKER_THREAD_STACK_BYTES};
use crate::script::ScriptVersion;
use isolate::Isolate;
use worker::{Invocation, Worker, WorkerMsg};

/// Extra time past a script's wall-clock budget before the server stops waiting for a worker.
const WATCHDOG_GRACE: Duration = Duration::from_secs(2);

/// Engine settings.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Number of worker threads (0 = one per available core).
    pub workers: usize,
}

/// Why a deploy was rejected before anything was committed.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The files do not form a valid bundle (syntax, imports, size…).
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// Evaluating the bundle or running `init()` failed.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The validation thread could not be run.
    #[error("the script could not be validated: {0}")]
    Internal(String),
}

/// The pool of JavaScript workers.
pub struct Engine {
    workers: Vec<mpsc::UnboundedSender<WorkerMsg>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    next: AtomicUsize,
}

/// A sink that drops everything (validation runs `init()` once more than needed; its log
/// lines appear when the workers start the committed version).
struct DiscardLogs;

impl LogSink for DiscardLogs {
    fn log(&self, _entry: ScriptLog) {}
}

impl Engine {
    /// Starts the worker threads.
    pub fn start(config: EngineConfig, sink: Arc<dyn LogSink>) -> std::io::Result<Engine> {
        let count = if config.workers == 0 {
            std::thread::available_parallelism().map_or(1, usize::from)
        } else {
            config.workers
        };
        let mut workers = Vec::with_capacity(count);
        let mut threads = Vec::with_capacity(count);
        for index in 0..count {
            let (tx, rx) = mpsc::unbounded_channel();
            let sink = sink.clone();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()?;
            let thread = std::thread::Builder::new()
                .name(format!("kiln-js-{index}"))
                .stack_size(WORKER_THREAD_STACK_BYTES)
                .spawn(move || runtime.block_on(Worker::new(index, sink).run(rx)))?;
            workers.push(tx);
            threads.push(thread);
        }
        Ok(Engine {
            workers,
            threads: Mutex::new(threads),
            next: AtomicUsize::new(0),
        })
    }

    /// Number of worker threads.
    pub fn worker_count(&self) -> usize {
        self.workers.len()
    }

    /// Validates a deploy: builds the bundle, evaluates it and runs `init()` in a fresh
    /// isolate under `limits`. Returns the version (numbered 0) with the routes it registered;
    /// nothing is committed or served yet.
    pub async fn prepare(
        &self,
        name: &str,
        files: Vec<BundleFile>,
        limits: Limits,
        env: BTreeMap<String, String>,
        bundle_limits: BundleLimits,
    ) -> Result<ScriptVersion, PrepareError> {
        let name = name.to_owned();
        let (tx, rx) = oneshot::channel();
        std::thread::Builder::new()
            .name("kiln-js-prepare".into())
            .stack_size(WORKER_THREAD_STACK_BYTES)
            .spawn(move || {
                let _ = tx.send(prepare_blocking(name, files, limits, env, &bundle_limits));
            })
            .map_err(|e| PrepareError::Internal(e.to_string()))?;
        rx.await.map_err(|_| {
            PrepareError::Internal("the validation thread stopped unexpectedly".into())
        })?
    }

    /// Runs route `route` of `script` for `request`.
    pub async fn invoke(
        &self,
        script: &Arc<ScriptVersion>,
        route: usize,
        params: Vec<(String, String)>,
        request: HttpRequest,
        request_id: &str,
    ) -> Result<HttpResponse, InvokeError> {
        let (reply, rx) = oneshot::channel();
        let invocation = Invocation {
            script: script.clone(),
            route,
            params,
            request,
            request_id: Arc::from(request_id),
            reply,
        };
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.workers.len().max(1);
        let worker = self.workers.get(index).ok_or(InvokeError::Unavailable)?;
        worker
            .send(WorkerMsg::Invoke(Box::new(invocation)))
            .map_err(|_| InvokeError::Unavailable)?;
        let wait = script.limits.wall + WATCHDOG_GRACE;
        match tokio::time::timeout(wait, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(InvokeError::Unavailable),
            Err(_) => {
                tracing::error!(
                    script = %script.name,
                    worker = index,
                    "a worker did not answer within the wall-clock budget plus grace; it may be stuck"
                );
                Err(InvokeError::Timeout {
                    budget: "wall-clock time",
                    limit_ms: script.limits.wall.as_millis() as u64,
                })
            }
        }
    }

    /// Starts `script`'s isolate on every worker now.
    pub fn warm(&self, script: &Arc<ScriptVersion>) {
        for worker in &self.workers {
            let _ = worker.send(WorkerMsg::Warm(script.clone()));
        }
    }

    /// Tells every worker that `script` is no longer routed: its isolates go once idle.
    pub fn retire(&self, script: &ScriptVersion) {
        for worker in &self.workers {
            let _ = worker.send(WorkerMsg::Retire(script.id));
        }
    }

    /// Stops the workers (in-flight invocations are answered `Unavailable`) and joins them.
    pub fn shutdown(&mut self) {
        self.workers.clear();
        let threads = match self.threads.lock() {
            Ok(mut threads) => std::mem::take(&mut *threads),
            Err(_) => return,
        };
        for thread in threads {
            let _ = thread.join();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn prepare_blocking(
    name: String,
    files: Vec<BundleFile>,
    limits: Limits,
    env: BTreeMap<String, String>,
    bundle_limits: &BundleLimits,
) -> Result<ScriptVersion, PrepareError> {
    let bundle = Arc::new(Bundle::build(files, bundle_limits)?);
    let draft = Arc::new(ScriptVersion::new(name, 0, bundle, limits, env, Vec::new()));
    let isolate = Isolate::start(draft.clone(), Arc::new(DiscardLogs))?;
    let routes = isolate.routes.clone();
    drop(isolate);
    Ok(ScriptVersion::new(
        draft.name.clone(),
        0,
        draft.bundle.clone(),
        draft.limits.clone(),
        draft.env.clone(),
        routes,
    ))
}
