//! Failed-login throttling: counts failures per account and per client address in a sliding
//! window and refuses further attempts while either count is at its limit. In-process (each
//! instance throttles what it sees); every failure is also written to the audit log.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The throttle: failure times per account and per address.
pub struct LoginThrottle {
    window: Duration,
    max_per_account: usize,
    max_per_ip: usize,
    accounts: Mutex<HashMap<String, VecDeque<Instant>>>,
    addresses: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginThrottle {
    /// A throttle allowing `max_per_account` / `max_per_ip` failures per `window`.
    pub fn new(window: Duration, max_per_account: u32, max_per_ip: u32) -> Self {
        LoginThrottle {
            window,
            max_per_account: max_per_account as usize,
            max_per_ip: max_per_ip as usize,
            accounts: Mutex::new(HashMap::new()),
            addresses: Mutex::new(HashMap::new()),
        }
    }

    /// `None` when an attempt for `account` from `ip` may proceed, or how long to wait.
    pub fn check(&self, account: &str, ip: &str) -> Option<Duration> {
        let now = Instant::now();
        let a = wait(
            &self.accounts,
            account,
            self.max_per_account,
            self.window,
            now,
        );
        let b = wait(&self.addresses, ip, self.max_per_ip, self.window, now);
        a.max(b)
    }

    /// Records a failed attempt.
    pub fn failed(&self, account: &str, ip: &str) {
        let now = Instant::now();
        record(&self.accounts, account, now, self.window);
        record(&self.addresses, ip, now, self.window);
    }

    /// Forgets an account's failures (after a successful login).
    pub fn succeeded(&self, account: &str) {
        if let Ok(mut map) = self.accounts.lock() {
            map.remove(account);
        }
    }

    /// Drops entries with no failure inside the window (called periodically).
    pub fn sweep(&self) {
        let now = Instant::now();
        for map in [&self.accounts, &self.addresses] {
            if let Ok(mut map) = map.lock() {
                map.retain(|_, times| {
                    prune(times, now, self.window);
                    !times.is_empty()
                });
            }
        }
    }
}

fn prune(times: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while times
        .front()
        .is_some_and(|t| now.duration_since(*t) >= window)
    {
        times.pop_front();
    }
}

fn wait(
    map: &Mutex<HashMap<String, VecDeque<Instant>>>,
    key: &str,
    max: usize,
    window: Duration,
    now: Instant,
) -> Option<Duration> {
    let mut map = map.lock().ok()?;
    let times = map.get_mut(key)?;
    prune(times, now, window);
    if times.len() < max {
        return None;
    }
    // The oldest failure that keeps the count at the limit must leave the window.
    let index = times.len() - max;
    let oldest = times.get(index)?;
    Some(window.saturating_sub(now.duration_since(*oldest)))
}

fn record(
    map: &Mutex<HashMap<String, VecDeque<Instant>>>,
    key: &str,
    now: Instant,
    window: Duration,
) {
    if let Ok(mut map) = map.lock() {
        let times = map.entry(key.to_owned()).or_default();
        prune(times, now, window);
        times.push_back(now);
        // Never keep more than a bounded history per key.
        while times.len() > 10_000 {
            times.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_an_account_after_its_limit_and_per_ip_separately() {
        let throttle = LoginThrottle::new(Duration::from_secs(60), 3, 5);
        for _ in 0..3 {
            assert_eq!(throttle.check("a@x", "1.1.1.1"), None);
            throttle.failed("a@x", "1.1.1.1");
        }
        let wait = throttle.check("a@x", "2.2.2.2").expect("account locked");
        assert!(wait > Duration::from_secs(55) && wait <= Duration::from_secs(60));
        assert_eq!(
            throttle.check("b@x", "2.2.2.2"),
            None,
            "other accounts fine"
        );
        throttle.failed("b@x", "1.1.1.1");
        throttle.failed("c@x", "1.1.1.1");
        assert!(throttle.check("d@x", "1.1.1.1").is_some(), "address locked");
        assert_eq!(throttle.check("d@x", "3.3.3.3"), None);
        throttle.succeeded("a@x");
        assert_eq!(throttle.check("a@x", "2.2.2.2"), None);
    }

    #[test]
    fn failures_expire_with_the_window() {
        let throttle = LoginThrottle::new(Duration::from_millis(30), 1, 100);
        throttle.failed("a@x", "ip");
        assert!(throttle.check("a@x", "ip").is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(throttle.check("a@x", "ip"), None);
        throttle.sweep();
        assert!(throttle.accounts.lock().unwrap().is_empty());
    }
}
