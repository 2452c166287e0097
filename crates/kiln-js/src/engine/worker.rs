//! A worker thread: owns isolates and runs their JavaScript, one turn at a time.
//!
//! Each worker runs a single-threaded tokio runtime whose one task is [`Worker::run`]: it
//! receives messages (invoke, warm, retire), fires due timers and enforces wall-clock
//! deadlines. Isolates never leave their worker (QuickJS runtimes are not `Send`). Many
//! invocations can be in flight per isolate: a handler that awaits a timer simply leaves its
//! promise pending and the worker moves on to the next message.
//!
//! Failure containment: a turn cut off by its CPU budget, or an isolate that ran out of
//! memory, **retires** the isolate — new requests get a fresh one, the old one finishes its
//! other in-flight invocations and is dropped (immediately, if its job queue is poisoned).

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::AbortHandle;

use super::host::{OpRequest, TimerOp};
use super::isolate::{Isolate, StartError, TurnError, TurnOutcome};
use super::watchdog::Heartbeat;
use crate::invocation::{
    HttpRequest, HttpResponse, InvokeError, LogLevel, LogSink, ScriptLog, now_ms,
};
use crate::script::ScriptVersion;
use crate::services::{HostCall, HostError, HostResult, HostServices, ReplyBytes};

/// Messages handled before due timers and deadlines are checked again.
const MESSAGES_PER_TICK: usize = 64;

/// The reply channel of one invocation.
pub(crate) type Reply = oneshot::Sender<Result<HttpResponse, InvokeError>>;

/// A task to run on a worker thread's runtime (the HTTP server's accept loop).
pub type WorkerTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

thread_local! {
    /// The worker owning this thread, so requests accepted here run here (no thread hop).
    static LOCAL_WORKER: RefCell<Option<Rc<RefCell<Worker>>>> = const { RefCell::new(None) };
}

/// Runs `invocation` on the calling thread's worker, if the caller is on a worker thread
/// whose worker is not busy; otherwise gives the invocation back (`Some`) for another worker.
pub(crate) fn invoke_local(invocation: Invocation) -> Option<Invocation> {
    LOCAL_WORKER.with(|slot| {
        let slot = slot.borrow();
        match slot.as_ref().map(|worker| worker.try_borrow_mut()) {
            Some(Ok(mut worker)) => {
                worker.guarded(move |w| w.invoke(invocation));
                // A timer or deadline was added: let the worker loop re-plan its sleep.
                if std::mem::take(&mut worker.replan) {
                    worker.wake.notify_one();
                }
                None
            }
            _ => Some(invocation),
        }
    })
}

/// A request for a worker.
pub(crate) enum WorkerMsg {
    /// Run a task on the worker's runtime (e.g. the HTTP accept loop for this thread).
    Spawn(WorkerTask),
    /// Run a route handler.
    Invoke(Box<Invocation>),
    /// Build the isolate for this version now, so the first request does not pay for it.
    Warm(Arc<ScriptVersion>),
    /// The version left the route table: drop its isolate once idle.
    Retire(u64),
    /// A host operation finished: settle its promise.
    OpDone(Box<OpDone>),
}

/// The result of a host operation, on its way back to the isolate that started it.
pub(crate) struct OpDone {
    isolate: u64,
    id: u64,
    owner: Option<u64>,
    result: HostResult,
    /// The binary part of a successful result, if the operation produced one.
    bytes: Option<Bytes>,
}

/// One route invocation.
pub(crate) struct Invocation {
    pub script: Arc<ScriptVersion>,
    pub route: usize,
    pub params: Vec<(String, String)>,
    pub request: HttpRequest,
    pub request_id: Arc<str>,
    pub reply: Reply,
}

struct Slot {
    isolate: Isolate,
    in_flight: usize,
    retiring: bool,
}

struct Pending {
    isolate: u64,
    reply: Reply,
    /// The invocation's whole CPU budget (to report what it used).
    cpu_budget_ns: u64,
    cpu_left_ns: u64,
    request_id: Arc<str>,
    /// Who the invocation runs for (handed to host operations).
    identity: Option<Arc<str>>,
    /// When the wall-clock budget runs out.
    deadline: Instant,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Timer {
    due: Instant,
    seq: u64,
    isolate: u64,
    id: u64,
    owner: Option<u64>,
}

pub(crate) struct Worker {
    index: usize,
    heartbeat: Arc<Heartbeat>,
    /// Wakes the event loop after work was done outside it (a local invocation).
    wake: Arc<Notify>,
    /// Set when a timer or deadline was added outside the event loop.
    replan: bool,
    sink: Arc<dyn LogSink>,
    /// The application's host operations (`None`: every operation fails `UNAVAILABLE`).
    services: Option<Arc<dyn HostServices>>,
    /// This worker's own channel, for finished host operations (weak: the worker must not
    /// keep its channel open, or it would never see the last sender go).
    mailbox: mpsc::WeakUnboundedSender<WorkerMsg>,
    slots: HashMap<u64, Slot>,
    /// Script version id → key of the isolate serving it now.
    current: HashMap<u64, u64>,
    /// Versions whose isolate failed to start on this worker (not retried per request).
    failed: HashMap<u64, StartError>,
    /// Versions no longer routed (ids are never reused; one entry per deploy).
    retired: HashSet<u64>,
    pending: HashMap<u64, Pending>,
    /// Wall-clock deadlines of invocations still pending after their first turn (an
    /// invocation answered in its first turn — the common case — never enters this set).
    deadlines: BTreeSet<(Instant, u64)>,
    timers: BinaryHeap<Reverse<Timer>>,
    cancelled: HashSet<(u64, u64)>,
    /// Host operations running for an isolate, by (isolate key, op id): cancelling one
    /// aborts its task, and an operation missing here when it reports was cancelled.
    ops: HashMap<(u64, u64), AbortHandle>,
    next_key: u64,
    next_seq: u64,
}

/// Source of invocation ids, shared by every worker so that an id names one invocation in the
/// whole process (host services key per-invocation state by it).
static NEXT_INVOCATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Worker {
    pub fn new(
        index: usize,
        sink: Arc<dyn LogSink>,
        services: Option<Arc<dyn HostServices>>,
        mailbox: mpsc::WeakUnboundedSender<WorkerMsg>,
        heartbeat: Arc<Heartbeat>,
    ) -> Self {
        Worker {
            index,
            heartbeat,
            wake: Arc::new(Notify::new()),
            replan: false,
            sink,
            services,
            mailbox,
            slots: HashMap::new(),
            current: HashMap::new(),
            failed: HashMap::new(),
            retired: HashSet::new(),
            pending: HashMap::new(),
            deadlines: BTreeSet::new(),
            timers: BinaryHeap::new(),
            cancelled: HashSet::new(),
            ops: HashMap::new(),
            next_key: 1,
            next_seq: 0,
        }
    }

    /// The worker's event loop; returns when every sender is gone. While it runs, the worker
    /// is also reachable through [`invoke_local`] from tasks on the same thread.
    pub async fn run(self, mut rx: mpsc::UnboundedReceiver<WorkerMsg>) {
        let wake = self.wake.clone();
        let worker = Rc::new(RefCell::new(self));
        LOCAL_WORKER.with(|slot| *slot.borrow_mut() = Some(worker.clone()));
        loop {
            let next = {
                let mut w = worker.borrow_mut();
                w.replan = false;
                w.next_wake()
            };
            let msg = tokio::select! {
                biased;
                msg = rx.recv() => msg,
                _ = wake.notified() => continue,
                _ = sleep_until_or_forever(next) => {
                    worker.borrow_mut().guarded(|w| w.on_time());
                    continue;
                }
            };
            let Some(msg) = msg else { break };
            worker.borrow_mut().guarded(|w| w.handle(msg));
            for _ in 0..MESSAGES_PER_TICK {
                match rx.try_recv() {
                    Ok(msg) => worker.borrow_mut().guarded(|w| w.handle(msg)),
                    Err(_) => break,
                }
            }
            worker.borrow_mut().guarded(|w| w.on_time());
        }
        LOCAL_WORKER.with(|slot| *slot.borrow_mut() = None);
    }

    /// Runs `f`; if it panics (a bug in Kiln or QuickJS bindings), every isolate of this worker
    /// is suspect: drop them all and fail their invocations instead of losing the thread.
    fn guarded(&mut self, f: impl FnOnce(&mut Self)) {
        self.heartbeat.enter();
        let outcome = catch_unwind(AssertUnwindSafe(|| f(self)));
        self.heartbeat.leave();
        if outcome.is_err() {
            tracing::error!(
                worker = self.index,
                "a worker turn panicked; dropping this worker's isolates"
            );
            let keys: Vec<u64> = self.slots.keys().copied().collect();
            for key in keys {
                self.drop_slot(key);
            }
            self.current.clear();
        }
    }

    fn next_wake(&self) -> Option<Instant> {
        let deadline = self.deadlines.first().map(|(at, _)| *at);
        let timer = self.timers.peek().map(|Reverse(t)| t.due);
        match (deadline, timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn handle(&mut self, msg: WorkerMsg) {
        match msg {
            WorkerMsg::Spawn(task) => {
                tokio::spawn(task);
            }
            WorkerMsg::Invoke(inv) => self.invoke(*inv),
            WorkerMsg::Warm(script) => {
                if !self.retired.contains(&script.id) {
                    let _ = self.isolate_for(&script);
                }
            }
            WorkerMsg::OpDone(done) => self.complete_op(*done),
            WorkerMsg::Retire(version_id) => {
                self.retired.insert(version_id);
                self.failed.remove(&version_id);
                if let Some(key) = self.current.remove(&version_id) {
                    self.retire(key, false);
                }
            }
        }
    }

    /// The key of the isolate serving `script`, starting one if needed.
    fn isolate_for(&mut self, script: &Arc<ScriptVersion>) -> Result<u64, StartError> {
        if let Some(key) = self.current.get(&script.id) {
            return Ok(*key);
        }
        if let Some(error) = self.failed.get(&script.id) {
            return Err(error.clone());
        }
        let started = Isolate::start(script.clone(), self.sink.clone()).and_then(|isolate| {
            if isolate.routes == script.routes {
                Ok(isolate)
            } else {
                Err(StartError::Script(
                    "init() registered different routes than when the script was deployed; init() must register the same routes every time it runs".into(),
                ))
            }
        });
        match started {
            Ok(isolate) => {
                let key = self.next_key;
                self.next_key += 1;
                // A request that looked the route table up just before a deploy switched it
                // may still arrive for the old version: serve it from an isolate that goes
                // away with its last invocation instead of keeping it forever.
                let retiring = self.retired.contains(&script.id);
                self.slots.insert(
                    key,
                    Slot {
                        isolate,
                        in_flight: 0,
                        retiring,
                    },
                );
                if !retiring {
                    self.current.insert(script.id, key);
                }
                self.apply_timer_ops(key, None);
                Ok(key)
            }
            Err(error) => {
                self.script_log(
                    script,
                    LogLevel::Error,
                    None,
                    format!("the script failed to start: {error}"),
                );
                self.failed.insert(script.id, error.clone());
                Err(error)
            }
        }
    }

    fn invoke(&mut self, inv: Invocation) {
        let key = match self.isolate_for(&inv.script) {
            Ok(key) => key,
            Err(error) => {
                let _ = inv.reply.send(Err(InvokeError::Startup(error.to_string())));
                return;
            }
        };
        let id = NEXT_INVOCATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let limits = &inv.script.limits;
        let cpu_limit = match inv.request.cpu_limit {
            Some(tighter) => tighter.min(limits.cpu),
            None => limits.cpu,
        };
        let budget = u64::try_from(cpu_limit.as_nanos()).unwrap_or(u64::MAX);
        let deadline = Instant::now() + limits.wall;
        self.pending.insert(
            id,
            Pending {
                isolate: key,
                reply: inv.reply,
                cpu_budget_ns: budget,
                cpu_left_ns: budget,
                request_id: inv.request_id.clone(),
                identity: inv.request.identity.clone(),
                deadline,
            },
        );
        let Some(slot) = self.slots.get_mut(&key) else {
            self.finish(id, Err(InvokeError::Unavailable));
            return;
        };
        slot.in_flight += 1;
        *slot.isolate.host.current_request.borrow_mut() = Some(inv.request_id.clone());
        let (result, outcome) = slot.isolate.dispatch(
            id,
            inv.route,
            &inv.request,
            &inv.params,
            &inv.request_id,
            budget,
        );
        self.after_turn(key, Some(id), result, outcome);
        if self.pending.contains_key(&id) {
            self.deadlines.insert((deadline, id));
            self.replan = true;
        }
    }

    /// Applies what a turn left behind: timer changes, completions, CPU use, failures.
    fn after_turn(
        &mut self,
        key: u64,
        owner: Option<u64>,
        result: Result<(), TurnError>,
        outcome: TurnOutcome,
    ) {
        self.apply_timer_ops(key, owner);
        self.start_ops(key, owner);
        self.cancel_ops(key);
        let Some(slot) = self.slots.get(&key) else {
            return;
        };
        let script = slot.isolate.host.script.clone();
        // Charge the turn to its invocation first, so a completion reports the CPU it used.
        if let Some(p) = owner.and_then(|id| self.pending.get_mut(&id)) {
            p.cpu_left_ns = p.cpu_left_ns.saturating_sub(outcome.cpu_ns);
        }
        // Usually one completion: take the queue (no allocation) instead of collecting it.
        let completions = std::mem::take(&mut *slot.isolate.host.completions.borrow_mut());
        let mut out_of_memory =
            slot.isolate.host.out_of_memory.replace(false) || outcome.out_of_memory;
        let limit_mib = script.limits.memory_bytes / (1024 * 1024);
        for completion in completions {
            // The heap limit was hit during this turn: whatever the script made of the failed
            // allocation (it may surface as a bare `null`), the answer is a memory-limit error.
            let result = if outcome.out_of_memory && Some(completion.id) == owner {
                Err(InvokeError::MemoryLimit { limit_mib })
            } else {
                completion.outcome
            };
            self.finish(completion.id, result);
        }
        let request_id = owner
            .and_then(|id| self.pending.get(&id))
            .map(|p| p.request_id.clone());
        if outcome.timed_out {
            let limit_ms = owner
                .and_then(|id| self.pending.get(&id))
                .map_or(script.limits.cpu.as_millis() as u64, |p| {
                    p.cpu_budget_ns / 1_000_000
                });
            self.script_log(
                &script,
                LogLevel::Error,
                request_id.as_deref(),
                format!("CPU budget of {limit_ms} ms exceeded; the invocation was stopped"),
            );
            if let Some(id) = owner {
                self.finish(
                    id,
                    Err(InvokeError::Timeout {
                        budget: "CPU time",
                        limit_ms,
                    }),
                );
            }
            self.retire(key, outcome.jobs_left);
            return;
        }
        if let Err(error) = result {
            if error.out_of_memory {
                out_of_memory = true;
            } else {
                let detail = super::host::script_stack(&script.bundle, &error.message);
                self.script_log(
                    &script,
                    LogLevel::Error,
                    request_id.as_deref(),
                    format!("Uncaught exception: {detail}"),
                );
                if let Some(id) = owner {
                    self.finish(
                        id,
                        Err(InvokeError::Script {
                            status: 500,
                            code: "SCRIPT_ERROR".into(),
                            message: "The script failed while handling the request".into(),
                        }),
                    );
                }
            }
        }
        if out_of_memory {
            self.script_log(
                &script,
                LogLevel::Error,
                request_id.as_deref(),
                format!("memory limit of {limit_mib} MiB exceeded; the isolate is being replaced"),
            );
            if let Some(id) = owner {
                self.finish(id, Err(InvokeError::MemoryLimit { limit_mib }));
            }
            self.retire(key, true);
        }
    }

    fn apply_timer_ops(&mut self, key: u64, owner: Option<u64>) {
        let Some(slot) = self.slots.get(&key) else {
            return;
        };
        let ops = std::mem::take(&mut *slot.isolate.host.timer_ops.borrow_mut());
        if ops.is_empty() {
            return;
        }
        let now = Instant::now();
        for op in ops {
            match op {
                TimerOp::Schedule { id, delay_ms } => {
                    self.next_seq += 1;
                    self.replan = true;
                    self.timers.push(Reverse(Timer {
                        due: now + Duration::from_millis(delay_ms),
                        seq: self.next_seq,
                        isolate: key,
                        id,
                        owner,
                    }));
                }
                TimerOp::Cancel { id } => {
                    self.cancelled.insert((key, id));
                }
            }
        }
    }

    /// Starts the host operations the last turn of isolate `key` requested, on this worker's
    /// runtime; each reports back through the mailbox as [`WorkerMsg::OpDone`].
    fn start_ops(&mut self, key: u64, owner: Option<u64>) {
        let Some(slot) = self.slots.get(&key) else {
            return;
        };
        let requests = std::mem::take(&mut *slot.isolate.host.op_requests.borrow_mut());
        if requests.is_empty() {
            return;
        }
        let script = slot.isolate.host.script.clone();
        let invocation_id = owner.filter(|id| self.pending.contains_key(id));
        let invocation = invocation_id.and_then(|id| self.pending.get(&id));
        let request_id = invocation.map(|p| p.request_id.clone());
        let identity = invocation.and_then(|p| p.identity.clone());
        let cpu_left =
            invocation.map_or(script.limits.cpu, |p| Duration::from_nanos(p.cpu_left_ns));
        for OpRequest {
            id,
            op,
            args,
            bytes,
        } in requests
        {
            let mailbox = self.mailbox.clone();
            let reply = ReplyBytes::default();
            let future = match &self.services {
                Some(services) => services.call(HostCall {
                    script: script.clone(),
                    op,
                    args,
                    bytes,
                    request_id: request_id.clone(),
                    invocation: invocation_id,
                    identity: identity.clone(),
                    cpu_budget: cpu_left,
                    reply: reply.clone(),
                }),
                None => {
                    let error = HostError::new(
                        "UNAVAILABLE",
                        format!("{op} is not available in this engine"),
                    );
                    Box::pin(async move { Err(error) })
                }
            };
            let task = tokio::spawn(async move {
                let result = future.await;
                let bytes = result.as_ref().ok().and_then(|_| reply.take());
                if let Some(mailbox) = mailbox.upgrade() {
                    let _ = mailbox.send(WorkerMsg::OpDone(Box::new(OpDone {
                        isolate: key,
                        id,
                        owner,
                        result,
                        bytes,
                    })));
                }
            });
            self.ops.insert((key, id), task.abort_handle());
        }
    }

    /// Stops the host operations isolate `key` cancelled in its last turn (the script has
    /// already settled their promises): the task is aborted — dropping the operation's future
    /// closes its connections — and the slot it held is freed at once.
    fn cancel_ops(&mut self, key: u64) {
        let Some(slot) = self.slots.get(&key) else {
            return;
        };
        let host = &slot.isolate.host;
        let cancels = std::mem::take(&mut *host.op_cancels.borrow_mut());
        for id in cancels {
            if let Some(task) = self.ops.remove(&(key, id)) {
                task.abort();
                host.pending_ops
                    .set(host.pending_ops.get().saturating_sub(1));
            }
        }
    }

    /// Settles a finished host operation in its isolate, in a turn charged to the invocation
    /// that started it (if that is still pending).
    fn complete_op(&mut self, done: OpDone) {
        if self.ops.remove(&(done.isolate, done.id)).is_none() {
            return; // cancelled meanwhile
        }
        let Some(slot) = self.slots.get(&done.isolate) else {
            return;
        };
        let host = &slot.isolate.host;
        host.pending_ops
            .set(host.pending_ops.get().saturating_sub(1));
        let owner = done.owner.filter(|id| self.pending.contains_key(id));
        let (budget, request_id) = match owner.and_then(|id| self.pending.get(&id)) {
            Some(p) => (p.cpu_left_ns, Some(p.request_id.clone())),
            None => (host.script.limits.cpu.as_nanos() as u64, None),
        };
        *host.current_request.borrow_mut() = request_id;
        let (result, outcome) = slot
            .isolate
            .complete_op(done.id, &done.result, done.bytes, budget);
        self.after_turn(done.isolate, owner, result, outcome);
    }

    /// Fires due timers and answers invocations past their wall-clock deadline.
    fn on_time(&mut self) {
        let now = Instant::now();
        while let Some((at, id)) = self.deadlines.first().copied() {
            if at > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some(p) = self.pending.get(&id) {
                let script = self
                    .slots
                    .get(&p.isolate)
                    .map(|s| s.isolate.host.script.clone());
                if let Some(script) = script {
                    let limit_ms = script.limits.wall.as_millis() as u64;
                    let request_id = p.request_id.clone();
                    self.script_log(
                        &script,
                        LogLevel::Warn,
                        Some(&request_id),
                        format!(
                            "wall-clock budget of {limit_ms} ms exceeded; the client got a timeout"
                        ),
                    );
                    self.finish(
                        id,
                        Err(InvokeError::Timeout {
                            budget: "wall-clock time",
                            limit_ms,
                        }),
                    );
                } else {
                    self.finish(id, Err(InvokeError::Restarted));
                }
            }
        }
        while let Some(Reverse(timer)) = self.timers.peek() {
            if timer.due > now {
                break;
            }
            let Some(Reverse(timer)) = self.timers.pop() else {
                break;
            };
            self.fire(timer);
        }
    }

    fn fire(&mut self, timer: Timer) {
        let Some(slot) = self.slots.get(&timer.isolate) else {
            return;
        };
        let host = &slot.isolate.host;
        host.pending_timers
            .set(host.pending_timers.get().saturating_sub(1));
        if self.cancelled.remove(&(timer.isolate, timer.id)) {
            return;
        }
        let owner = timer.owner.filter(|id| self.pending.contains_key(id));
        let (budget, request_id) = match owner.and_then(|id| self.pending.get(&id)) {
            Some(p) => (p.cpu_left_ns, Some(p.request_id.clone())),
            None => (host.script.limits.cpu.as_nanos() as u64, None),
        };
        *host.current_request.borrow_mut() = request_id;
        let (result, outcome) = slot.isolate.fire_timer(timer.id, budget);
        self.after_turn(timer.isolate, owner, result, outcome);
    }

    /// Answers invocation `id` (if still pending) and releases its isolate.
    fn finish(&mut self, id: u64, outcome: Result<HttpResponse, InvokeError>) {
        let Some(p) = self.pending.remove(&id) else {
            return;
        };
        self.deadlines.remove(&(p.deadline, id));
        self.invocation_ended(id);
        let used = p.cpu_budget_ns.saturating_sub(p.cpu_left_ns);
        let _ = p.reply.send(outcome.map(|mut response| {
            response.cpu_ns = used;
            response
        }));
        if let Some(slot) = self.slots.get_mut(&p.isolate) {
            slot.in_flight = slot.in_flight.saturating_sub(1);
            if slot.retiring && slot.in_flight == 0 {
                self.drop_slot(p.isolate);
            }
        }
    }

    /// Stops routing new invocations to isolate `key`; drops it now if it is idle or broken.
    fn retire(&mut self, key: u64, broken: bool) {
        self.current.retain(|_, k| *k != key);
        let Some(slot) = self.slots.get_mut(&key) else {
            return;
        };
        slot.retiring = true;
        if broken || slot.in_flight == 0 {
            self.drop_slot(key);
        }
    }

    fn drop_slot(&mut self, key: u64) {
        self.slots.remove(&key);
        self.cancelled.retain(|(k, _)| *k != key);
        // Nothing would settle the isolate's operations any more: stop them.
        self.ops.retain(|(k, _), task| {
            if *k == key {
                task.abort();
            }
            *k != key
        });
        let orphans: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.isolate == key)
            .map(|(id, _)| *id)
            .collect();
        for id in orphans {
            if let Some(p) = self.pending.remove(&id) {
                self.deadlines.remove(&(p.deadline, id));
                self.invocation_ended(id);
                let _ = p.reply.send(Err(InvokeError::Restarted));
            }
        }
    }

    /// Tells the services that invocation `id` is over (they release what they hold for it).
    fn invocation_ended(&self, id: u64) {
        if let Some(services) = &self.services {
            services.invocation_ended(id);
        }
    }

    fn script_log(
        &self,
        script: &ScriptVersion,
        level: LogLevel,
        request_id: Option<&str>,
        message: String,
    ) {
        self.sink.log(ScriptLog {
            script: script.name.clone(),
            version: script.version,
            level,
            message,
            request_id: request_id.map(str::to_owned),
            time_ms: now_ms(),
        });
    }
}

async fn sleep_until_or_forever(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
