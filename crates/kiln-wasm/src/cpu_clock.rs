//! Per-thread CPU time, reported as an execution's `cpu_time`.
//!
//! A guest runs on the thread that calls [`WasmRuntime::run`](crate::WasmRuntime::run), host
//! calls (WASI) included, so the calling thread's CPU clock (`CLOCK_THREAD_CPUTIME_ID`, read
//! through rustix's safe wrapper) measures exactly the run.

use rustix::time::{ClockId, clock_gettime};

/// CPU time consumed by the calling thread so far, in nanoseconds.
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
        assert!(thread_cpu_ns() - after_work < 20_000_000);
    }
}
