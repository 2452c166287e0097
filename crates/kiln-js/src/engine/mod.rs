//! The engine: a pool of worker threads running isolates, and the API the server uses —
//! prepare (validate) a deploy, invoke a route, warm and retire versions.
//!
//! Request path: [`Engine::invoke`] picks a worker (round robin), sends it the invocation,
//! and awaits the reply. The worker owns the isolates and enforces the budgets; the reply
//! wait has an outer deadline slightly past the wall-clock budget as a watchdog, so a worker
//! stuck in code QuickJS's interrupt handler cannot reach still answers its clients.

mod allocator;
pub(crate) mod host;
mod host_crypto;
mod isolate;
mod watchdog;
mod worker;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::{mpsc, oneshot};

pub use isolate::StartError;

use crate::bundle::{Bundle, BundleError, BundleFile, BundleLimits};
use crate::invocation::{HttpRequest, HttpResponse, InvokeError, LogSink, ScriptLog};
use crate::limits::{Limits, WORKER_THREAD_STACK_BYTES};
use crate::script::ScriptVersion;
use crate::services::HostServices;
use isolate::Isolate;
use watchdog::Heartbeat;
pub use worker::WorkerTask;
use worker::{Invocation, Worker, WorkerMsg};

/// Builds the task each worker thread runs besides its isolates (given the worker's index).
pub type WorkerTaskFactory = Arc<dyn Fn(usize) -> WorkerTask + Send + Sync>;

/// Extra time past a script's wall-clock budget before the server stops waiting for a worker.
const WATCHDOG_GRACE: Duration = Duration::from_secs(2);

/// Longest time shutdown waits for worker threads to finish their current turn.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(15);

/// Default time a worker may spend inside one turn before the watchdog replaces it. Far above
/// every default budget (a request turn stops after 50 ms of CPU, `init()` after 1 s).
pub const DEFAULT_STUCK_AFTER: Duration = Duration::from_secs(10);

/// Engine settings.
#[derive(Clone)]
pub struct EngineConfig {
    /// Number of worker threads (0 = one per available core).
    pub workers: usize,
    /// A worker inside one turn for longer than this is replaced by the watchdog. Must exceed
    /// the largest CPU budget configured for any script.
    pub stuck_after: Duration,
    /// The asynchronous operations scripts may call (`None`: they all fail `UNAVAILABLE`).
    pub services: Option<Arc<dyn HostServices>>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            workers: 0,
            stuck_after: DEFAULT_STUCK_AFTER,
            services: None,
        }
    }
}

impl std::fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineConfig")
            .field("workers", &self.workers)
            .field("stuck_after", &self.stuck_after)
            .field("services", &self.services.is_some())
            .finish()
    }
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

/// One worker slot: the channel to its thread and the thread's heartbeat.
struct WorkerHandle {
    tx: mpsc::UnboundedSender<WorkerMsg>,
    heartbeat: Arc<Heartbeat>,
}

/// The worker slots, replaceable one by one (by the watchdog) without stopping the others.
struct Pool {
    slots: ArcSwap<Vec<Arc<WorkerHandle>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    sink: Arc<dyn LogSink>,
    services: Option<Arc<dyn HostServices>>,
    /// Started on every worker, including replacements (the HTTP accept loops).
    tasks: Mutex<Option<WorkerTaskFactory>>,
}

impl Pool {
    fn spawn(&self, index: usize) -> std::io::Result<Arc<WorkerHandle>> {
        let (tx, rx) = mpsc::unbounded_channel();
        let heartbeat = Arc::new(Heartbeat::default());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let sink = self.sink.clone();
        let services = self.services.clone();
        let mailbox = tx.downgrade();
        let beat = heartbeat.clone();
        let thread = std::thread::Builder::new()
            .name(format!("kiln-js-{index}"))
            .stack_size(WORKER_THREAD_STACK_BYTES)
            .spawn(move || {
                runtime.block_on(Worker::new(index, sink, services, mailbox, beat).run(rx))
            })?;
        if let Ok(mut threads) = self.threads.lock() {
            threads.push(thread);
        }
        if let Ok(tasks) = self.tasks.lock()
            && let Some(factory) = tasks.as_ref()
        {
            let _ = tx.send(WorkerMsg::Spawn(factory(index)));
        }
        Ok(Arc::new(WorkerHandle { tx, heartbeat }))
    }

    /// Puts a fresh worker in slot `index`; the old thread is abandoned (it exits if it ever
    /// returns, because its channel closes when the old handle is dropped).
    fn replace(&self, index: usize) -> bool {
        match self.spawn(index) {
            Ok(fresh) => {
                let mut slots: Vec<Arc<WorkerHandle>> = self.slots.load().iter().cloned().collect();
                if let Some(slot) = slots.get_mut(index) {
                    *slot = fresh;
                }
                self.slots.store(Arc::new(slots));
                true
            }
            Err(error) => {
                tracing::error!(%error, worker = index, "could not start a replacement worker");
                false
            }
        }
    }
}

/// The pool of JavaScript workers.
pub struct Engine {
    pool: Arc<Pool>,
    next: AtomicUsize,
    replaced: Arc<AtomicU64>,
    watchdog: Option<(std::sync::mpsc::Sender<()>, JoinHandle<()>)>,
}

/// A sink that drops everything (validation runs `init()` once more than needed; its log
/// lines appear when the workers start the committed version).
struct DiscardLogs;

impl LogSink for DiscardLogs {
    fn log(&self, _entry: ScriptLog) {}
}

impl Engine {
    /// Starts the worker threads and the watchdog.
    pub fn start(config: EngineConfig, sink: Arc<dyn LogSink>) -> std::io::Result<Engine> {
        let count = if config.workers == 0 {
            std::thread::available_parallelism().map_or(1, usize::from)
        } else {
            config.workers
        };
        let pool = Arc::new(Pool {
            slots: ArcSwap::from_pointee(Vec::new()),
            threads: Mutex::new(Vec::new()),
            sink,
            services: config.services.clone(),
            tasks: Mutex::new(None),
        });
        let mut slots = Vec::with_capacity(count);
        for index in 0..count {
            slots.push(pool.spawn(index)?);
        }
        pool.slots.store(Arc::new(slots));
        let replaced = Arc::new(AtomicU64::new(0));
        let (stop_tx, stop_rx) = std::sync::mpsc::channel();
        let watchdog = {
            let pool = pool.clone();
            let replaced = replaced.clone();
            std::thread::Builder::new()
                .name("kiln-js-watchdog".into())
                .spawn(move || {
                    watchdog::run(
                        stop_rx,
                        config.stuck_after,
                        || {
                            pool.slots
                                .load()
                                .iter()
                                .map(|w| w.heartbeat.clone())
                                .collect()
                        },
                        |index| pool.replace(index),
                        &replaced,
                    )
                })?
        };
        Ok(Engine {
            pool,
            next: AtomicUsize::new(0),
            replaced,
            watchdog: Some((stop_tx, watchdog)),
        })
    }

    /// Number of worker threads.
    pub fn worker_count(&self) -> usize {
        self.pool.slots.load().len()
    }

    /// Runs `factory(index)` on every worker thread's runtime, now and on every replacement
    /// worker: Kiln's HTTP server uses it to accept connections on the threads that run the
    /// scripts, so a request is handled start to finish on one thread.
    pub fn run_on_workers(&self, factory: WorkerTaskFactory) {
        if let Ok(mut tasks) = self.pool.tasks.lock() {
            *tasks = Some(factory.clone());
        }
        for (index, worker) in self.pool.slots.load().iter().enumerate() {
            let _ = worker.tx.send(WorkerMsg::Spawn(factory(index)));
        }
    }

    /// Forgets the factory given to [`Engine::run_on_workers`] (replacement workers no longer
    /// start its task). The factory may hold references back to the engine; clearing it
    /// breaks that cycle at shutdown.
    pub fn clear_worker_tasks(&self) {
        if let Ok(mut tasks) = self.pool.tasks.lock() {
            *tasks = None;
        }
    }

    /// Workers the watchdog has replaced since start.
    pub fn workers_replaced(&self) -> u64 {
        self.replaced.load(Ordering::Relaxed)
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
        let (reply, mut rx) = oneshot::channel();
        let invocation = Invocation {
            script: script.clone(),
            route,
            params,
            request,
            request_id: Arc::from(request_id),
            reply,
        };
        // On a worker thread (the normal case: the HTTP server runs on the workers) the
        // invocation runs right here; elsewhere it goes to a worker round robin.
        let index = match worker::invoke_local(invocation) {
            None => None,
            Some(invocation) => {
                let slots = self.pool.slots.load();
                let index = self.next.fetch_add(1, Ordering::Relaxed) % slots.len().max(1);
                let worker = slots.get(index).ok_or(InvokeError::Unavailable)?;
                worker
                    .tx
                    .send(WorkerMsg::Invoke(Box::new(invocation)))
                    .map_err(|_| InvokeError::Unavailable)?;
                Some(index)
            }
        };
        // The common case: a local invocation answered in its first turn.
        if let Ok(result) = rx.try_recv() {
            return result;
        }
        let wait = script.limits.wall + WATCHDOG_GRACE;
        match tokio::time::timeout(wait, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(InvokeError::Unavailable),
            Err(_) => {
                tracing::error!(
                    script = %script.name,
                    worker = ?index,
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
        for worker in self.pool.slots.load().iter() {
            let _ = worker.tx.send(WorkerMsg::Warm(script.clone()));
        }
    }

    /// Tells every worker that `script` is no longer routed: its isolates go once idle.
    pub fn retire(&self, script: &ScriptVersion) {
        for worker in self.pool.slots.load().iter() {
            let _ = worker.tx.send(WorkerMsg::Retire(script.id));
        }
    }

    /// Stops the watchdog and the workers (in-flight invocations are answered `Unavailable`)
    /// and joins them. Replaced (stuck) workers are not waited for.
    pub fn shutdown(&mut self) {
        if let Some((stop, thread)) = self.watchdog.take() {
            drop(stop);
            let _ = thread.join();
        }
        drop(self.pool.slots.swap(Arc::new(Vec::new())));
        let threads = match self.pool.threads.lock() {
            Ok(mut threads) => std::mem::take(&mut *threads),
            Err(_) => return,
        };
        // Workers exit after their current turn. A worker the watchdog replaced may still be
        // stuck: wait a bounded time for it, then leave it behind rather than hang shutdown.
        let deadline = std::time::Instant::now() + SHUTDOWN_WAIT;
        for thread in threads {
            while !thread.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if thread.is_finished() {
                let _ = thread.join();
            }
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
