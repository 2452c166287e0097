//! Per-thread CPU time, the clock that CPU budgets are measured with.
//!
//! Wall-clock time would charge a script for time the OS gave to other threads; on a busy
//! two-core machine that turns into false timeouts. `CLOCK_THREAD_CPUTIME_ID` counts only the
//! time the calling thread actually ran, and JavaScript for an isolate always runs on the
//! worker thread that owns it.
#![allow(unsafe_code)]

/// CPU time consumed by the calling thread so far, in nanoseconds.
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec and CLOCK_THREAD_CPUTIME_ID is supported on
    // every Linux and macOS kernel Kiln targets; on failure `ts` stays zero, which only makes
    // the budget check lenient for that call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
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
