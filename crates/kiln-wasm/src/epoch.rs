//! The epoch ticker: the clock that time limits are enforced with.
//!
//! wasmtime's epoch interruption makes compiled guest code check, at function entries and loop
//! back-edges, whether the engine's epoch has reached its store's deadline. One thread per
//! runtime bumps the epoch every [`EPOCH_TICK`] while at least one run is active and sleeps on a
//! condition variable otherwise, so an idle runtime costs no wake-ups. Dropping the [`Ticker`]
//! stops and joins the thread.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use wasmtime::Engine;

use crate::limits::EPOCH_TICK;

#[derive(Default)]
struct State {
    active_runs: usize,
    stopping: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Owns the ticker thread of one runtime.
pub(crate) struct Ticker {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Keeps the ticker running while it lives; one per active run.
pub(crate) struct ActiveRun {
    shared: Arc<Shared>,
}

impl Ticker {
    /// Starts the ticker thread for `engine`.
    pub(crate) fn start(engine: Engine) -> std::io::Result<Ticker> {
        let shared = Arc::new(Shared::default());
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("kiln-wasm-epoch".into())
            .spawn(move || tick(&thread_shared, &engine))?;
        Ok(Ticker {
            shared,
            thread: Some(thread),
        })
    }

    /// Marks a run as active (the epoch advances) until the returned guard drops.
    pub(crate) fn active(&self) -> ActiveRun {
        let mut state = self.shared.lock();
        state.active_runs += 1;
        if state.active_runs == 1 {
            self.shared.wake.notify_all();
        }
        ActiveRun {
            shared: Arc::clone(&self.shared),
        }
    }
}

fn tick(shared: &Shared, engine: &Engine) {
    loop {
        {
            let mut state = shared.lock();
            while state.active_runs == 0 && !state.stopping {
                state = shared
                    .wake
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if state.stopping {
                return;
            }
        }
        std::thread::sleep(EPOCH_TICK);
        engine.increment_epoch();
    }
}

impl Drop for ActiveRun {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.active_runs = state.active_runs.saturating_sub(1);
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            // The thread exits within one tick; a panic in it has nothing left to clean up.
            let _ = thread.join();
        }
    }
}
