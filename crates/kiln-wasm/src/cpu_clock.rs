//! Per-thread CPU time, reported as an execution's `cpu_time`.
//!
//! A guest runs on the thread that calls [`WasmRuntime::run`](crate::WasmRuntime::run), host
//! calls (WASI) included, so the calling thread's CPU clock (`CLOCK_THREAD_CPUTIME_ID`) measures
//! exactly the run. The same ten lines live in `kiln-js` (`cpu_clock.rs`); the crates share no
//! dependency to put them in, and `kiln-wasm` must not link the JavaScript engine.
#![allow(unsafe_code)]

/// CPU time consumed by the calling thread so far, in nanoseconds (0 if the clock fails).
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec and CLOCK_THREAD_CPUTIME_ID is supported on
    // every Linux and macOS kernel Kiln targets; on failure `ts` stays zero, which only makes
    // the reported CPU time zero for that run.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}
