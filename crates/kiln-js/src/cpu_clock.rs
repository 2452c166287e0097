//! Per-thread CPU time, the clock that CPU budgets are measured with.
//!
//! Wall-clock time would charge a script for time the OS gave to other threads; on a busy
//! two-core machine that turns into false timeouts. `CLOCK_THREAD_CPUTIME_ID` counts only the
//! time the calling thread actually ran, and JavaScript for an isolate always runs on the
//! worker thread that owns it.

use rustix::time::{ClockId, clock_gettime};

/// CPU time consumed by the calling thread so far, in nanoseconds (rustix's safe wrapper of
/// `clock_gettime(CLOCK_THREAD_CPUTIME_ID)`).
pub fn thread_cpu_ns() -> u64 {
    let ts = clock_gettime(ClockId::ThreadCPUTime);
    u64::try_from(ts.tv_sec)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(ts.tv_nsec).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advances_with_work_but_not_with_sleep() {
        let start = thread_cpu_ns();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let after_work = thread_cpu_ns();
        assert!(after_work > start);
        std::thread::sleep(std::time::Duration::from_millis(50));
        let after_sleep = thread_cpu_ns();
        // Sleeping costs (almost) no CPU: far less than the 50 ms that passed.
        assert!(after_sleep - after_work < 20_000_000);
    }
}
