//! Rate limits and daily quotas: this module owns the decision whether one more request of a
//! subject (`key:<id>`, `ip:<addr>`) may pass under the limits the caller passes in
//! ([`RateLimits`]: requests per minute, enforced as a GCRA token bucket with `governor`, and
//! requests per UTC calendar day, a counter that resets at 00:00 UTC), the [`Decision`] that
//! describes the outcome (and writes the IETF draft `RateLimit-*` and `Retry-After` headers),
//! the [`Limiter`] trait a shared backend (e.g. Redis) can implement later, the in-process
//! [`LocalLimiter`] with its clean-up ([`LocalLimiter::forget_idle`]) and restart seeding
//! ([`LocalLimiter::seed_day_usage`]), and what happens when a limiter fails
//! ([`FailurePolicy`], [`check_with_policy`]). A denied request never consumes minute capacity
//! or day quota. The clock is injectable ([`LimiterClock`], [`ManualClock`]) so tests can move
//! time.

#![deny(missing_docs)]

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use governor::clock::{Clock, FakeRelativeClock, MonotonicClock};
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use http::StatusCode;
use http::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use serde::{Deserialize, Serialize};

/// Seconds in a minute window (the `w=` of the minute policy).
const MINUTE_SECS: u64 = 60;
/// Seconds in a day window (the `w=` of the day policy).
const DAY_SECS: u64 = 86_400;

/// `RateLimit-Limit`: the quota of the reported window.
pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
/// `RateLimit-Remaining`: requests left in the reported window.
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
/// `RateLimit-Reset`: seconds until the reported window is fully replenished.
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
/// `RateLimit-Policy`: every limit that applies, e.g. `100;w=60, 10000;w=86400`.
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

/// The limits of one subject for one call; `0` means unlimited in that dimension.
///
/// Limits travel with each call (they come from the subject's tier), so a subject whose tier
/// changes gets the new limits on its next request.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// Requests per minute (also the burst size); `0` = unlimited.
    pub per_minute: u32,
    /// Requests per UTC calendar day; `0` = unlimited.
    pub per_day: u32,
}

impl RateLimits {
    /// No limit in either dimension.
    pub const UNLIMITED: RateLimits = RateLimits {
        per_minute: 0,
        per_day: 0,
    };

    /// True when neither dimension is limited.
    pub fn is_unlimited(&self) -> bool {
        self.per_minute == 0 && self.per_day == 0
    }

    /// The `RateLimit-Policy` header value, e.g. `100;w=60, 10000;w=86400`; `None` when unlimited.
    pub fn policy_header(&self) -> Option<String> {
        let parts: Vec<String> = [
            (self.per_minute, Window::Minute),
            (self.per_day, Window::Day),
        ]
        .into_iter()
        .filter(|(limit, _)| *limit > 0)
        .map(|(limit, window)| format!("{limit};w={}", window.seconds()))
        .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// A limit window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Window {
    /// The per-minute rate limit (a token bucket refilling continuously).
    Minute,
    /// The per-day quota (resets at 00:00 UTC).
    Day,
}

impl Window {
    /// The nominal length of the window in seconds (the `w=` of `RateLimit-Policy`).
    pub fn seconds(self) -> u64 {
        match self {
            Window::Minute => MINUTE_SECS,
            Window::Day => DAY_SECS,
        }
    }
}

/// Why a request was denied, and the status code that says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denial {
    /// The subject is over its limit in this window: `429 Too Many Requests`.
    OverLimit(Window),
    /// The limiter could not decide and the policy is fail-closed: `503 Service Unavailable`.
    Unavailable,
}

impl Denial {
    /// `429` for [`Denial::OverLimit`], `503` for [`Denial::Unavailable`].
    pub fn status(self) -> StatusCode {
        match self {
            Denial::OverLimit(_) => StatusCode::TOO_MANY_REQUESTS,
            Denial::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// The outcome of one check, describing the window closest to exhaustion.
///
/// `limit`, `remaining` and `reset_secs` describe [`Decision::window`]: the exceeded window
/// when denied, otherwise the limited window with the fewest requests left (the day on a tie).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// The quota of the reported window (requests per minute or per day); `0` when no window.
    pub limit: u32,
    /// Requests left in the reported window after this one (`0` when denied).
    pub remaining: u32,
    /// Seconds until the reported window is fully replenished, rounded up: the minute bucket
    /// is full again, or the next 00:00 UTC for the day; `0` when no window.
    pub reset_secs: u64,
    /// When denied for a limit, the real wait before a retry can pass: the earliest time the
    /// minute bucket conforms (rounded up, at least 1) or the seconds to the next 00:00 UTC.
    pub retry_after_secs: Option<u64>,
    /// The window whose limit denied the request; `None` when allowed or unavailable.
    pub exceeded: Option<Window>,
    /// The window `limit`/`remaining`/`reset_secs` describe; `None` when the subject is
    /// unlimited or the limiter could not decide.
    pub window: Option<Window>,
    /// The limits the decision was made under (the source of `RateLimit-Policy`).
    pub limits: RateLimits,
    /// True when the limiter failed and the [`FailurePolicy`] decided instead: allowed when
    /// fail-open, denied (a `503`, not a `429`) when fail-closed.
    pub unavailable: bool,
}

impl Decision {
    /// An allowed request under no limit at all.
    fn unlimited(limits: RateLimits) -> Decision {
        Decision {
            allowed: true,
            limit: 0,
            remaining: 0,
            reset_secs: 0,
            retry_after_secs: None,
            exceeded: None,
            window: None,
            limits,
            unavailable: false,
        }
    }

    /// A request denied because `window` is exhausted.
    fn over_limit(
        limits: RateLimits,
        window: Window,
        limit: u32,
        reset_secs: u64,
        retry_after_secs: u64,
    ) -> Decision {
        Decision {
            allowed: false,
            limit,
            remaining: 0,
            reset_secs,
            retry_after_secs: Some(retry_after_secs),
            exceeded: Some(window),
            window: Some(window),
            limits,
            unavailable: false,
        }
    }

    /// The decision of a [`FailurePolicy`] when the limiter failed.
    fn by_policy(limits: RateLimits, policy: FailurePolicy) -> Decision {
        Decision {
            allowed: policy == FailurePolicy::Open,
            limit: 0,
            remaining: 0,
            reset_secs: 0,
            retry_after_secs: None,
            exceeded: None,
            window: None,
            limits,
            unavailable: true,
        }
    }

    /// Why the request was denied; `None` when allowed. A denial without an exceeded window
    /// counts as [`Denial::Unavailable`].
    pub fn denial(&self) -> Option<Denial> {
        if self.allowed {
            None
        } else if let Some(window) = self.exceeded {
            Some(Denial::OverLimit(window))
        } else {
            Some(Denial::Unavailable)
        }
    }

    /// Writes `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (when a window is
    /// reported), `RateLimit-Policy` (when any limit applies) and, when denied with a known
    /// wait, `Retry-After`. Existing values of these headers are replaced. Nothing about limits
    /// is written when the limiter could not decide.
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        if !self.unavailable {
            if self.window.is_some() {
                headers.insert(RATELIMIT_LIMIT, HeaderValue::from(self.limit));
                headers.insert(RATELIMIT_REMAINING, HeaderValue::from(self.remaining));
                headers.insert(RATELIMIT_RESET, HeaderValue::from(self.reset_secs));
            }
            if let Some(policy) = self.limits.policy_header()
                && let Ok(value) = HeaderValue::from_str(&policy)
            {
                headers.insert(RATELIMIT_POLICY, value);
            }
        }
        if !self.allowed
            && let Some(secs) = self.retry_after_secs
        {
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
    }
}

/// A limiter backend failed to decide.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LimiterError {
    /// The backend cannot be reached (e.g. the Redis connection is down).
    #[error("rate-limit backend unavailable: {0}")]
    Unavailable(String),
    /// The backend answered with an error.
    #[error("rate-limit backend error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A rate-limit backend: decides, and records, one request of `subject` under `limits`.
#[async_trait]
pub trait Limiter: Send + Sync {
    /// Decides whether one more request of `subject` may pass and, if so, counts it against
    /// both windows. A denied request must not consume anything.
    async fn check(&self, subject: &str, limits: RateLimits) -> Result<Decision, LimiterError>;
}

/// What to do when the limiter fails (`rate_limit.on_failure = "open" | "closed"`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FailurePolicy {
    /// Allow the request (availability over enforcement).
    #[default]
    Open,
    /// Deny the request with `503` (enforcement over availability).
    Closed,
}

/// Checks `subject` with `limiter`; when the limiter fails, logs the error and lets `policy`
/// decide: [`FailurePolicy::Open`] allows, [`FailurePolicy::Closed`] denies with a decision
/// whose [`Decision::denial`] is [`Denial::Unavailable`] (a `503`, not a `429`).
pub async fn check_with_policy(
    limiter: &dyn Limiter,
    policy: FailurePolicy,
    subject: &str,
    limits: RateLimits,
) -> Decision {
    match limiter.check(subject, limits).await {
        Ok(decision) => decision,
        Err(error) => {
            match policy {
                FailurePolicy::Open => tracing::warn!(
                    subject,
                    error = %error,
                    "rate limiter failed; allowing the request (fail-open)"
                ),
                FailurePolicy::Closed => tracing::error!(
                    subject,
                    error = %error,
                    "rate limiter failed; denying the request with 503 (fail-closed)"
                ),
            }
            Decision::by_policy(limits, policy)
        }
    }
}

/// The time source of a [`LocalLimiter`]: a `governor` clock for the minute buckets and the
/// wall-clock time since the Unix epoch (UTC) for day boundaries.
pub trait LimiterClock: Clock + Clone + Send + Sync + 'static {
    /// Time since 1970-01-01T00:00:00Z.
    fn unix_now(&self) -> Duration;
}

/// The production clock: monotonic time for the buckets, system time for the days.
#[derive(Clone, Debug, Default)]
pub struct SystemLimiterClock {
    monotonic: MonotonicClock,
}

impl Clock for SystemLimiterClock {
    type Instant = <MonotonicClock as Clock>::Instant;

    fn now(&self) -> Self::Instant {
        self.monotonic.now()
    }
}

impl LimiterClock for SystemLimiterClock {
    fn unix_now(&self) -> Duration {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
    }
}

/// A clock that only moves when told to ([`ManualClock::advance`]); clones share the time.
/// Both the buckets and the day boundaries follow it.
#[derive(Clone, Debug, Default)]
pub struct ManualClock {
    elapsed: FakeRelativeClock,
    unix_start: Duration,
}

impl ManualClock {
    /// A clock whose wall time starts at `unix_start` after the Unix epoch.
    pub fn starting_at(unix_start: Duration) -> ManualClock {
        ManualClock {
            elapsed: FakeRelativeClock::default(),
            unix_start,
        }
    }

    /// Moves the time forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.elapsed.advance(by);
    }
}

impl Clock for ManualClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        self.elapsed.now()
    }
}

impl LimiterClock for ManualClock {
    fn unix_now(&self) -> Duration {
        self.unix_start
            .saturating_add(Duration::from(self.elapsed.now()))
    }
}

/// The keyed GCRA limiter of one per-minute value, keyed by subject.
type MinuteLimiter<C> =
    RateLimiter<String, DashMapStateStore<String>, C, StateInformationMiddleware>;

/// Requests counted for one subject on one UTC day.
#[derive(Debug, Clone, Copy)]
struct DayCount {
    /// Days since the Unix epoch (UTC).
    day: u64,
    /// Requests allowed on `day`.
    used: u64,
}

impl DayCount {
    /// The count for `today`: a count of an earlier day starts over.
    fn roll(&mut self, today: u64) {
        if self.day != today {
            self.day = today;
            self.used = 0;
        }
    }
}

/// The in-process [`Limiter`]: one keyed GCRA limiter per distinct per-minute value and one
/// day counter per subject, all in memory (so per instance, and lost on restart unless seeded
/// with [`LocalLimiter::seed_day_usage`]).
///
/// A subject's check runs under that subject's day-counter lock: the day quota is checked
/// first, then the minute bucket, and only when both allow is the day counter incremented, so
/// concurrent requests never overshoot the day quota and a denied request consumes nothing.
/// Day counters exist only for subjects that have (or had today) a day quota, so subjects
/// limited per minute only (e.g. IPs) cost nothing beyond their bucket; a subject whose day
/// quota starts mid-day counts from its first day-limited request.
///
/// When a subject's per-minute limit changes, its bucket for the new value starts full (each
/// value has its own bucket); the day counter carries over.
pub struct LocalLimiter<C: LimiterClock = SystemLimiterClock> {
    clock: C,
    minute: RwLock<HashMap<NonZeroU32, Arc<MinuteLimiter<C>>>>,
    days: RwLock<HashMap<String, Arc<Mutex<DayCount>>>>,
}

impl LocalLimiter {
    /// A limiter on the system clock.
    pub fn new() -> LocalLimiter {
        LocalLimiter::with_clock(SystemLimiterClock::default())
    }
}

impl Default for LocalLimiter {
    fn default() -> Self {
        LocalLimiter::new()
    }
}

impl<C: LimiterClock> fmt::Debug for LocalLimiter<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalLimiter")
            .field("minute_limiters", &read(&self.minute).len())
            .field("day_counters", &read(&self.days).len())
            .finish()
    }
}

impl<C: LimiterClock> LocalLimiter<C> {
    /// A limiter on `clock` (tests pass a [`ManualClock`]).
    pub fn with_clock(clock: C) -> LocalLimiter<C> {
        LocalLimiter {
            clock,
            minute: RwLock::new(HashMap::new()),
            days: RwLock::new(HashMap::new()),
        }
    }

    /// Decides one request of `subject` under `limits` and, when allowed, counts it (the
    /// synchronous core of [`Limiter::check`]; it never fails).
    pub fn decide(&self, subject: &str, limits: RateLimits) -> Decision {
        let now = self.clock.unix_now();
        let today = day_index(now);
        let minute = NonZeroU32::new(limits.per_minute).map(|n| (n, self.minute_limiter(n)));
        // Only day-limited subjects need a counter; an existing one keeps counting so that a
        // subject whose quota returns later today starts from its real usage.
        let counter = if limits.per_day > 0 {
            Some(self.day_counter(subject))
        } else {
            read(&self.days).get(subject).cloned()
        };
        // Held until the request is counted: the day check, the minute check and the
        // increment are one step for this subject.
        let mut day = counter.as_deref().map(lock);
        if let Some(day) = day.as_deref_mut() {
            day.roll(today);
        }
        let used = day.as_deref().map_or(0, |day| day.used);

        if limits.per_day > 0 && used >= u64::from(limits.per_day) {
            let wait = secs_until_midnight(now);
            return Decision::over_limit(limits, Window::Day, limits.per_day, wait, wait);
        }

        let mut best: Option<(Window, u32, u32, u64)> = None;
        if let Some((n, limiter)) = minute {
            let interval = limiter_interval(n);
            match limiter.check_key(&subject.to_owned()) {
                Ok(snapshot) => {
                    let remaining = snapshot.remaining_burst_capacity().min(n.get());
                    // The bucket is full again after the used cells replenish.
                    let used_cells = u128::from(n.get() - remaining);
                    let reset = ceil_secs_nanos(used_cells.saturating_mul(interval.as_nanos()));
                    best = Some((Window::Minute, n.get(), remaining, reset));
                }
                Err(not_until) => {
                    let wait = not_until.wait_time_from(limiter.clock().now());
                    let retry = ceil_secs(wait).max(1);
                    // Full again once the earliest cell conforms plus the rest of the burst.
                    let rest = u128::from(n.get() - 1).saturating_mul(interval.as_nanos());
                    let reset = ceil_secs_nanos(wait.as_nanos().saturating_add(rest)).max(retry);
                    return Decision::over_limit(limits, Window::Minute, n.get(), reset, retry);
                }
            }
        }

        if let Some(day) = day.as_deref_mut() {
            day.used = day.used.saturating_add(1);
            if limits.per_day > 0 {
                let remaining = u64::from(limits.per_day).saturating_sub(day.used);
                let remaining = u32::try_from(remaining).unwrap_or(u32::MAX);
                let candidate = (
                    Window::Day,
                    limits.per_day,
                    remaining,
                    secs_until_midnight(now),
                );
                // Closest to exhaustion: fewest left; the day wins a tie (it lasts longer).
                best = match best {
                    Some(minute) if minute.2 < remaining => Some(minute),
                    _ => Some(candidate),
                };
            }
        }

        match best {
            None => Decision::unlimited(limits),
            Some((window, limit, remaining, reset_secs)) => Decision {
                allowed: true,
                limit,
                remaining,
                reset_secs,
                retry_after_secs: None,
                exceeded: None,
                window: Some(window),
                limits,
                unavailable: false,
            },
        }
    }

    /// Starts today's count of `subject` at `used_today` (e.g. the usage recorded before a
    /// restart). Seeding never lowers a count.
    pub fn seed_day_usage(&self, subject: &str, used_today: u64) {
        let today = day_index(self.clock.unix_now());
        let counter = self.day_counter(subject);
        let mut day = lock(&counter);
        day.roll(today);
        day.used = day.used.max(used_today);
    }

    /// Drops the state of idle subjects: minute buckets that are full again (governor's
    /// `retain_recent`), limiters of per-minute values no subject uses any more, and day
    /// counters of past days. Meant for a periodic task (e.g. every few minutes).
    pub fn forget_idle(&self) {
        {
            let mut minute = write(&self.minute);
            for limiter in minute.values() {
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
            // A limiter another thread holds stays: its check may be about to store state.
            minute.retain(|_, limiter| Arc::strong_count(limiter) > 1 || !limiter.is_empty());
        }
        let today = day_index(self.clock.unix_now());
        let mut days = write(&self.days);
        days.retain(|_, counter| Arc::strong_count(counter) > 1 || lock(counter).day >= today);
        days.shrink_to_fit();
    }

    /// The keyed limiter for `n` requests per minute, created on first use.
    fn minute_limiter(&self, n: NonZeroU32) -> Arc<MinuteLimiter<C>> {
        if let Some(limiter) = read(&self.minute).get(&n) {
            return Arc::clone(limiter);
        }
        let mut minute = write(&self.minute);
        let limiter = minute.entry(n).or_insert_with(|| {
            Arc::new(
                RateLimiter::dashmap_with_clock(Quota::per_minute(n), self.clock.clone())
                    .with_middleware::<StateInformationMiddleware>(),
            )
        });
        Arc::clone(limiter)
    }

    /// The day counter of `subject`, created (empty, today) on first use.
    fn day_counter(&self, subject: &str) -> Arc<Mutex<DayCount>> {
        if let Some(counter) = read(&self.days).get(subject) {
            return Arc::clone(counter);
        }
        let today = day_index(self.clock.unix_now());
        let mut days = write(&self.days);
        let counter = days.entry(subject.to_owned()).or_insert_with(|| {
            Arc::new(Mutex::new(DayCount {
                day: today,
                used: 0,
            }))
        });
        Arc::clone(counter)
    }
}

#[async_trait]
impl<C: LimiterClock> Limiter for LocalLimiter<C> {
    async fn check(&self, subject: &str, limits: RateLimits) -> Result<Decision, LimiterError> {
        Ok(self.decide(subject, limits))
    }
}

/// The replenish interval of `n` per minute, as governor computes it.
fn limiter_interval(n: NonZeroU32) -> Duration {
    Quota::per_minute(n).replenish_interval()
}

/// Days since the Unix epoch (UTC) at `unix`.
fn day_index(unix: Duration) -> u64 {
    unix.as_secs() / DAY_SECS
}

/// Seconds from `unix` to the next 00:00 UTC, rounded up (`86400` exactly at midnight).
fn secs_until_midnight(unix: Duration) -> u64 {
    let next = Duration::from_secs(day_index(unix).saturating_add(1).saturating_mul(DAY_SECS));
    ceil_secs(next.saturating_sub(unix)).max(1)
}

/// `d` in whole seconds, rounded up.
fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// `nanos` in whole seconds, rounded up.
fn ceil_secs_nanos(nanos: u128) -> u64 {
    u64::try_from(nanos.div_ceil(1_000_000_000)).unwrap_or(u64::MAX)
}

/// Locks `mutex`, ignoring poisoning (the counters stay consistent: no code panics under it).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Read-locks `lock`, ignoring poisoning.
fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

/// Write-locks `lock`, ignoring poisoning.
fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
