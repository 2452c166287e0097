//! The whole process's CPU time, for tests that check nothing keeps spinning after a guest or
//! script was stopped (they run alone in their own test binary, so the process is theirs).

use std::time::Duration;

/// CPU time (user + system) of the whole process so far, from `/proc/self/stat`, in clock
/// ticks of 10 ms; zero where `/proc` is unavailable.
pub fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may contain spaces.
    let fields: Vec<&str> = stat
        .rsplit(") ")
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: u64 = fields.get(11).and_then(|u| u.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    Duration::from_millis(ticks * 10)
}
