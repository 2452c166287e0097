//! A guest stopped for exceeding its time budget leaves nothing spinning. This test measures
//! the whole process's CPU time, so it lives in its own test binary (no other tests run
//! alongside it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{SPIN, run, runtime, with_time};
use kiln_fixtures::process_cpu;
use kiln_wasm::ExecStatus;

#[test]
fn a_timed_out_guest_stops_using_cpu() {
    let rt = runtime();
    let budget = Duration::from_millis(300);
    let outcome = run(&rt, SPIN, with_time(budget));
    assert_eq!(outcome.status, ExecStatus::TimeLimitExceeded);
    // Stopped within about twice the budget (generous slack for a loaded machine).
    assert!(
        outcome.duration < budget * 2 + Duration::from_millis(500),
        "took {:?}",
        outcome.duration
    );
    // The guest really spun: most of the budget was CPU on the calling thread.
    assert!(outcome.cpu_time > budget / 3, "cpu {:?}", outcome.cpu_time);

    let before = process_cpu();
    std::thread::sleep(Duration::from_millis(500));
    let used = process_cpu() - before;
    // Nothing keeps spinning after the run returned (not the guest, not the epoch ticker).
    assert!(
        used < Duration::from_millis(60),
        "process used {used:?} CPU while idle"
    );
    drop(rt);
}
