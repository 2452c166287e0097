//! The watchdog: replaces a worker thread that has been inside one turn far longer than any
//! budget allows.
//!
//! QuickJS's interrupt handler stops JavaScript that runs too long, but some native paths
//! (module resolution corner cases, long native builtins) never call it. A worker stuck there
//! cannot be killed — threads cannot be — but it can be **replaced**: the watchdog starts a
//! fresh worker in its slot so new requests are served, and abandons the stuck thread, which
//! exits on its own if it ever returns (its channel is closed). Clients already queued on the
//! stuck worker are answered by the engine's outer deadline.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often the watchdog looks at the workers.
const CHECK_EVERY: Duration = Duration::from_millis(100);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// A worker's "I am inside a turn since…" marker, read by the watchdog.
#[derive(Default)]
pub(crate) struct Heartbeat {
    /// Milliseconds since the process epoch when the current turn began, plus one; 0 = idle.
    busy_since: AtomicU64,
}

impl Heartbeat {
    /// Marks the start of a turn.
    pub fn enter(&self) {
        let now = epoch().elapsed().as_millis() as u64;
        self.busy_since.store(now + 1, Ordering::Relaxed);
    }

    /// Marks the end of a turn.
    pub fn leave(&self) {
        self.busy_since.store(0, Ordering::Relaxed);
    }

    /// How long the current turn has been running, if the worker is inside one.
    pub fn busy_for(&self) -> Option<Duration> {
        match self.busy_since.load(Ordering::Relaxed) {
            0 => None,
            since => {
                let now = epoch().elapsed().as_millis() as u64;
                Some(Duration::from_millis(now.saturating_sub(since - 1)))
            }
        }
    }
}

/// Runs until `stop` is dropped: every [`CHECK_EVERY`], asks `replace` to swap out each worker
/// whose turn has lasted longer than `stuck_after`.
pub(crate) fn run(
    stop: std::sync::mpsc::Receiver<()>,
    stuck_after: Duration,
    heartbeats: impl Fn() -> Vec<Arc<Heartbeat>>,
    replace: impl Fn(usize) -> bool,
    replaced: &AtomicU64,
) {
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECK_EVERY) {
        for (index, heartbeat) in heartbeats().iter().enumerate() {
            if let Some(busy) = heartbeat.busy_for()
                && busy > stuck_after
            {
                tracing::error!(
                    worker = index,
                    busy_ms = busy.as_millis() as u64,
                    "a JavaScript worker is stuck in one turn beyond every budget; replacing it"
                );
                if replace(index) {
                    replaced.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_reports_time_inside_a_turn_only() {
        let heartbeat = Heartbeat::default();
        assert_eq!(heartbeat.busy_for(), None);
        heartbeat.enter();
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            heartbeat
                .busy_for()
                .is_some_and(|d| d >= Duration::from_millis(15))
        );
        heartbeat.leave();
        assert_eq!(heartbeat.busy_for(), None);
    }
}
