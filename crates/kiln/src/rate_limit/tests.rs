//! Tests of the limiter with a manual clock: minute windows, day quotas across them, resets
//! at UTC midnight, concurrency, headers and failure policies.

use super::*;

/// 2024-06-01T23:55:00Z: five minutes before a UTC midnight.
const FIVE_TO_MIDNIGHT: u64 = 1_717_286_100;

fn limiter_at(unix: u64) -> (LocalLimiter<ManualClock>, ManualClock) {
    let clock = ManualClock::starting_at(Duration::from_secs(unix));
    (LocalLimiter::with_clock(clock.clone()), clock)
}

fn limits(per_minute: u32, per_day: u32) -> RateLimits {
    RateLimits {
        per_minute,
        per_day,
    }
}

#[test]
fn the_test_clock_starts_five_minutes_before_midnight() {
    assert_eq!(FIVE_TO_MIDNIGHT % DAY_SECS, DAY_SECS - 300);
}

#[test]
fn minute_limit_allows_exactly_n_then_denies_with_the_real_wait() {
    let (limiter, _clock) = limiter_at(FIVE_TO_MIDNIGHT);
    let lim = limits(3, 0);
    for expected_remaining in [2, 1, 0] {
        let d = limiter.decide("key:a", lim);
        assert!(d.allowed);
        assert_eq!(d.window, Some(Window::Minute));
        assert_eq!((d.limit, d.remaining), (3, expected_remaining));
        assert_eq!(d.reset_secs, u64::from(3 - expected_remaining) * 20);
    }
    let d = limiter.decide("key:a", lim);
    assert!(!d.allowed);
    assert_eq!(d.exceeded, Some(Window::Minute));
    assert_eq!(d.denial(), Some(Denial::OverLimit(Window::Minute)));
    assert_eq!(
        d.denial().map(Denial::status),
        Some(StatusCode::TOO_MANY_REQUESTS)
    );
    // One cell of 3/min replenishes every 20 s; the whole bucket in 60 s.
    assert_eq!(d.retry_after_secs, Some(20));
    assert_eq!((d.remaining, d.reset_secs), (0, 60));
}

#[test]
fn retry_after_rounds_up_and_is_at_least_one_second() {
    let (limiter, clock) = limiter_at(FIVE_TO_MIDNIGHT);
    let lim = limits(7, 0); // one cell every 8.57 s
    for _ in 0..7 {
        assert!(limiter.decide("key:a", lim).allowed);
    }
    assert_eq!(limiter.decide("key:a", lim).retry_after_secs, Some(9));
    clock.advance(Duration::from_millis(8_500));
    // 71 ms left: still at least one second.
    assert_eq!(limiter.decide("key:a", lim).retry_after_secs, Some(1));
    clock.advance(Duration::from_millis(100));
    assert!(limiter.decide("key:a", lim).allowed);
}

#[test]
fn capacity_refills_as_time_passes() {
    let (limiter, clock) = limiter_at(FIVE_TO_MIDNIGHT);
    let lim = limits(3, 0);
    for _ in 0..3 {
        assert!(limiter.decide("key:a", lim).allowed);
    }
    assert!(!limiter.decide("key:a", lim).allowed);
    clock.advance(Duration::from_secs(19));
    assert!(!limiter.decide("key:a", lim).allowed);
    clock.advance(Duration::from_secs(1));
    let d = limiter.decide("key:a", lim);
    assert!(d.allowed);
    assert_eq!(d.remaining, 0);
    assert!(!limiter.decide("key:a", lim).allowed);
    clock.advance(Duration::from_secs(60));
    for _ in 0..3 {
        assert!(limiter.decide("key:a", lim).allowed);
    }
    assert!(!limiter.decide("key:a", lim).allowed);
}

#[test]
fn day_quota_bites_across_minutes_and_resets_at_utc_midnight() {
    let (limiter, clock) = limiter_at(FIVE_TO_MIDNIGHT);
    let lim = limits(3, 5);
    for _ in 0..3 {
        assert!(limiter.decide("key:a", lim).allowed);
    }
    assert_eq!(limiter.decide("key:a", lim).exceeded, Some(Window::Minute));
    clock.advance(Duration::from_secs(61)); // 23:56:01
    assert!(limiter.decide("key:a", lim).allowed);
    let fifth = limiter.decide("key:a", lim);
    assert!(fifth.allowed);
    // Day: 0 left beats minute: 1 left.
    assert_eq!(fifth.window, Some(Window::Day));
    assert_eq!(
        (fifth.limit, fifth.remaining, fifth.reset_secs),
        (5, 0, 239)
    );
    clock.advance(Duration::from_secs(120)); // 23:58:01, the minute bucket is full again
    let sixth = limiter.decide("key:a", lim);
    assert!(!sixth.allowed);
    assert_eq!(sixth.exceeded, Some(Window::Day));
    assert_eq!(
        sixth.denial().map(Denial::status),
        Some(StatusCode::TOO_MANY_REQUESTS)
    );
    assert_eq!(sixth.retry_after_secs, Some(119));
    assert_eq!(
        (sixth.limit, sixth.remaining, sixth.reset_secs),
        (5, 0, 119)
    );
    clock.advance(Duration::from_secs(118)); // 23:59:59
    assert_eq!(limiter.decide("key:a", lim).retry_after_secs, Some(1));
    clock.advance(Duration::from_secs(1)); // 00:00:00 UTC
    let next_day = limiter.decide("key:a", lim);
    assert!(next_day.allowed);
    assert_eq!(next_day.window, Some(Window::Minute));
    assert_eq!(next_day.remaining, 2);
    for _ in 0..2 {
        assert!(limiter.decide("key:a", lim).allowed);
    }
    assert_eq!(limiter.decide("key:a", lim).exceeded, Some(Window::Minute));
}

#[test]
fn denied_requests_consume_nothing() {
    let (limiter, clock) = limiter_at(FIVE_TO_MIDNIGHT);
    // Minute denials do not count against the day.
    let lim = limits(2, 4);
    for _ in 0..2 {
        assert!(limiter.decide("key:a", lim).allowed);
    }
    for _ in 0..10 {
        assert_eq!(limiter.decide("key:a", lim).exceeded, Some(Window::Minute));
    }
    clock.advance(Duration::from_secs(60));
    let d = limiter.decide("key:a", lim);
    assert!(d.allowed);
    assert_eq!(d.window, Some(Window::Day));
    assert_eq!(d.remaining, 1);
    assert!(limiter.decide("key:a", lim).allowed);
    // Day denials do not consume minute capacity: when the quota grows, the bucket is
    // as full as time made it.
    clock.advance(Duration::from_secs(60));
    for _ in 0..10 {
        assert_eq!(limiter.decide("key:a", lim).exceeded, Some(Window::Day));
    }
    let d = limiter.decide("key:a", limits(2, 10));
    assert!(d.allowed);
    assert_eq!((d.window, d.remaining), (Some(Window::Minute), 1));
}

#[test]
fn subjects_are_independent() {
    let (limiter, _clock) = limiter_at(FIVE_TO_MIDNIGHT);
    let lim = limits(2, 3);
    for _ in 0..2 {
        assert!(limiter.decide("key:a", lim).allowed);
    }
    assert!(!limiter.decide("key:a", lim).allowed);
    for _ in 0..2 {
        assert!(limiter.decide("key:b", lim).allowed);
        assert!(limiter.decide("ip:192.0.2.1", lim).allowed);
    }
    assert!(!limiter.decide("key:b", lim).allowed);
    assert!(!limiter.decide("ip:192.0.2.1", lim).allowed);
}

#[test]
fn a_changed_limit_applies_on_the_next_call() {
    let (limiter, _clock) = limiter_at(FIVE_TO_MIDNIGHT);
    for _ in 0..2 {
        assert!(limiter.decide("key:a", limits(2, 0)).allowed);
    }
    assert!(!limiter.decide("key:a", limits(2, 0)).allowed);
    // Upgraded to 5/min.
    let d = limiter.decide("key:a", limits(5, 0));
    assert!(d.allowed);
    assert_eq!((d.limit, d.remaining), (5, 4));
    for _ in 0..4 {
        assert!(limiter.decide("key:a", limits(5, 0)).allowed);
    }
    assert!(!limiter.decide("key:a", limits(5, 0)).allowed);
    // The day count carries over a quota change.
    for _ in 0..3 {
        assert!(limiter.decide("key:b", limits(0, 10)).allowed);
    }
    let d = limiter.decide("key:b", limits(0, 4));
    assert!(d.allowed);
    assert_eq!((d.limit, d.remaining), (4, 0));
    assert_eq!(
        limiter.decide("key:b", limits(0, 4)).exceeded,
        Some(Window::Day)
    );
    assert!(limiter.decide("key:b", limits(0, 5)).allowed);
}

#[test]
fn zero_means_unlimited() {
    let (limiter, _clock) = limiter_at(FIVE_TO_MIDNIGHT);
    for _ in 0..1_000 {
        let d = limiter.decide("key:a", RateLimits::UNLIMITED);
        assert!(d.allowed);
        assert_eq!(d.window, None);
    }
    let mut headers = HeaderMap::new();
    limiter
        .decide("key:a", RateLimits::UNLIMITED)
        .write_headers(&mut headers);
    assert!(headers.is_empty());
    // Only the day limited.
    for n in 0..100 {
        let d = limiter.decide("key:day", limits(0, 100));
        assert!(d.allowed);
        assert_eq!((d.window, d.remaining), (Some(Window::Day), 99 - n));
    }
    assert_eq!(
        limiter.decide("key:day", limits(0, 100)).exceeded,
        Some(Window::Day)
    );
    // Only the minute limited: no day counter is kept.
    for _ in 0..10 {
        assert!(limiter.decide("ip:198.51.100.7", limits(10, 0)).allowed);
    }
    assert_eq!(
        limiter.decide("ip:198.51.100.7", limits(10, 0)).exceeded,
        Some(Window::Minute)
    );
    assert!(!read(&limiter.days).contains_key("ip:198.51.100.7"));
}

#[test]
fn seeded_usage_counts_and_never_lowers_the_count() {
    let (limiter, clock) = limiter_at(FIVE_TO_MIDNIGHT);
    limiter.seed_day_usage("key:a", 8);
    let d = limiter.decide("key:a", limits(0, 10));
    assert_eq!((d.allowed, d.remaining), (true, 1));
    limiter.seed_day_usage("key:a", 2); // lower: ignored
    assert!(limiter.decide("key:a", limits(0, 10)).allowed);
    assert_eq!(
        limiter.decide("key:a", limits(0, 10)).exceeded,
        Some(Window::Day)
    );
    limiter.seed_day_usage("key:b", 50);
    assert_eq!(
        limiter.decide("key:b", limits(0, 10)).exceeded,
        Some(Window::Day)
    );
    // Seeding on a new day replaces yesterday's count.
    clock.advance(Duration::from_secs(300));
    limiter.seed_day_usage("key:a", 3);
    let d = limiter.decide("key:a", limits(0, 10));
    assert_eq!((d.allowed, d.remaining), (true, 6));
}

#[test]
fn concurrent_checks_never_overshoot_the_day_quota() {
    let (limiter, _clock) = limiter_at(FIVE_TO_MIDNIGHT);
    let limiter = Arc::new(limiter);
    let lim = limits(1_000, 50);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let limiter = Arc::clone(&limiter);
            std::thread::spawn(move || {
                (0..100)
                    .filter(|_| limiter.decide("key:shared", lim).allowed)
                    .count()
            })
        })
        .collect();
    let allowed: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(allowed, 50);
    // And none of the 750 denials took minute capacity: 1000 - 50 remain.
    let d = limiter.decide("key:shared", limits(1_000, 0));
    assert_eq!((d.allowed, d.remaining), (true, 949));
}

#[test]
fn headers_are_written_exactly() {
    let (limiter, _clock) = limiter_at(FIVE_TO_MIDNIGHT);
    let lim = limits(3, 5);
    let mut headers = HeaderMap::new();
    headers.insert(RETRY_AFTER, HeaderValue::from_static("stale"));
    limiter.decide("key:a", lim).write_headers(&mut headers);
    assert_eq!(headers.len(), 5);
    assert_eq!(headers["ratelimit-limit"], "3");
    assert_eq!(headers["ratelimit-remaining"], "2");
    assert_eq!(headers["ratelimit-reset"], "20");
    assert_eq!(headers["ratelimit-policy"], "3;w=60, 5;w=86400");
    // An allowed decision leaves someone else's Retry-After alone.
    assert_eq!(headers["retry-after"], "stale");

    limiter.decide("key:a", lim);
    limiter.decide("key:a", lim);
    let mut headers = HeaderMap::new();
    limiter.decide("key:a", lim).write_headers(&mut headers);
    assert_eq!(headers.len(), 5);
    assert_eq!(headers["ratelimit-limit"], "3");
    assert_eq!(headers["ratelimit-remaining"], "0");
    assert_eq!(headers["ratelimit-reset"], "60");
    assert_eq!(headers["ratelimit-policy"], "3;w=60, 5;w=86400");
    assert_eq!(headers["retry-after"], "20");

    let mut headers = HeaderMap::new();
    limiter
        .decide("key:b", limits(0, 10_000))
        .write_headers(&mut headers);
    assert_eq!(headers.len(), 4);
    assert_eq!(headers["ratelimit-limit"], "10000");
    assert_eq!(headers["ratelimit-remaining"], "9999");
    assert_eq!(headers["ratelimit-reset"], "300");
    assert_eq!(headers["ratelimit-policy"], "10000;w=86400");
    assert_eq!(
        limits(100, 10_000).policy_header().as_deref(),
        Some("100;w=60, 10000;w=86400")
    );
}

#[test]
fn forget_idle_drops_only_state_that_no_longer_matters() {
    let (limiter, clock) = limiter_at(FIVE_TO_MIDNIGHT);
    for _ in 0..3 {
        limiter.decide("key:a", limits(3, 5));
    }
    limiter.decide("ip:192.0.2.1", limits(60, 0));
    limiter.forget_idle();
    // Busy buckets and today's counters stay.
    assert!(!limiter.decide("key:a", limits(3, 5)).allowed);
    assert_eq!(read(&limiter.minute).len(), 2);
    assert_eq!(read(&limiter.days).len(), 1);
    // Past midnight, with every bucket full again: all state goes.
    clock.advance(Duration::from_secs(600));
    limiter.forget_idle();
    assert!(read(&limiter.minute).is_empty());
    assert!(read(&limiter.days).is_empty());
    // And a forgotten subject starts over.
    let d = limiter.decide("key:a", limits(3, 5));
    assert_eq!((d.allowed, d.remaining), (true, 2));
}

struct Broken;

#[async_trait]
impl Limiter for Broken {
    async fn check(&self, _: &str, _: RateLimits) -> Result<Decision, LimiterError> {
        Err(LimiterError::Unavailable("connection refused".into()))
    }
}

#[tokio::test]
async fn a_failing_limiter_fails_open_or_closed_by_policy() {
    let lim = limits(3, 5);
    let open = check_with_policy(&Broken, FailurePolicy::Open, "key:a", lim).await;
    assert!(open.allowed && open.unavailable);
    assert_eq!(open.denial(), None);
    let mut headers = HeaderMap::new();
    open.write_headers(&mut headers);
    assert!(headers.is_empty());

    let closed = check_with_policy(&Broken, FailurePolicy::Closed, "key:a", lim).await;
    assert!(!closed.allowed && closed.unavailable);
    assert_eq!(closed.exceeded, None);
    assert_eq!(closed.denial(), Some(Denial::Unavailable));
    assert_eq!(
        closed.denial().map(Denial::status),
        Some(StatusCode::SERVICE_UNAVAILABLE)
    );
    let mut headers = HeaderMap::new();
    closed.write_headers(&mut headers);
    assert!(headers.is_empty());

    // A working limiter's decision passes through untouched.
    let (local, _clock) = limiter_at(FIVE_TO_MIDNIGHT);
    let d = check_with_policy(&local, FailurePolicy::Closed, "key:a", lim).await;
    assert!(d.allowed && !d.unavailable);
    assert_eq!((d.limit, d.remaining), (3, 2));
}

#[test]
fn failure_policy_parses_lowercase() {
    #[derive(Deserialize)]
    struct Config {
        on_failure: FailurePolicy,
    }
    let closed: Config = toml::from_str(r#"on_failure = "closed""#).unwrap();
    assert_eq!(closed.on_failure, FailurePolicy::Closed);
    let open: Config = toml::from_str(r#"on_failure = "open""#).unwrap();
    assert_eq!(open.on_failure, FailurePolicy::Open);
    assert_eq!(FailurePolicy::default(), FailurePolicy::Open);
}
