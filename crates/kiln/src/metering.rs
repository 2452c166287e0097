//! Metering of calls: the rate limiter (per-key limits from the key's tier, per-IP limits for
//! anonymous callers), per-key concurrency caps, and usage accounting (events batched off the
//! request path, aggregated by the store). Also the periodic housekeeping: seeding day quotas
//! from recorded usage, dropping idle limiter state, retention of usage and audit rows, and
//! flushing API key `last_used_at`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue, StatusCode, header};
use kiln_store::{Store, TierRecord, UsageEvent};

use crate::auth::client::ClientMeta;
use crate::auth::{AuthService, Caller};
use crate::batching::{BatchWriter, Batcher};
use crate::config::{Config, LimiterFailure};
use crate::error::ApiError;
use crate::rate_limit::{
    Decision, Denial, FailurePolicy, Limiter, LocalLimiter, RateLimits, check_with_policy,
};
use crate::server::AppState;

/// Usage events buffered before new ones are dropped.
const USAGE_BUFFER: usize = 100_000;
/// Most usage events written per transaction.
const USAGE_BATCH: usize = 1_000;
/// How long the usage writer waits after an event for more to join its batch: under load,
/// one wake-up and one transaction per interval instead of per call, at the price of usage
/// queries seeing a call this much later.
const USAGE_LINGER: Duration = Duration::from_millis(50);
/// How often housekeeping runs.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(30);

/// The outcome class of a metered call, as stored in usage events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Answered normally (any status the script chose).
    Success,
    /// The script failed (threw, bad response, engine error).
    ExecutionError,
    /// CPU or wall-clock budget exceeded.
    TimeLimitExceeded,
    /// Memory limit hit.
    MemoryLimitExceeded,
    /// Rejected before running: bad input, too large, unauthenticated.
    ValidationError,
    /// Rejected by a rate limit, quota or concurrency cap.
    RateLimited,
}

impl ErrorClass {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Success => "success",
            ErrorClass::ExecutionError => "execution_error",
            ErrorClass::TimeLimitExceeded => "time_limit_exceeded",
            ErrorClass::MemoryLimitExceeded => "memory_limit_exceeded",
            ErrorClass::ValidationError => "validation_error",
            ErrorClass::RateLimited => "rate_limited",
        }
    }

    /// The class of an error answer with `code`.
    pub fn of_error(status: StatusCode, code: &str) -> ErrorClass {
        match code {
            "SCRIPT_TIMEOUT" => ErrorClass::TimeLimitExceeded,
            "SCRIPT_MEMORY_LIMIT" => ErrorClass::MemoryLimitExceeded,
            _ if status == StatusCode::TOO_MANY_REQUESTS => ErrorClass::RateLimited,
            _ if status.is_client_error() => ErrorClass::ValidationError,
            _ => ErrorClass::ExecutionError,
        }
    }
}

/// Shared metering state.
pub struct Metering {
    limiter: Arc<LocalLimiter>,
    policy: FailurePolicy,
    usage: Arc<Batcher<UsageEvent>>,
    concurrency: Mutex<HashMap<i64, u32>>,
    /// Day counters already seeded from the store, per subject and UTC day.
    seeded: Mutex<HashMap<String, i64>>,
    anonymous: RateLimits,
}

impl Metering {
    /// Starts the usage writer; returns the metering state and the writer handle.
    pub fn start(store: Arc<dyn Store>, config: &Config) -> (Arc<Metering>, BatchWriter) {
        let (usage, writer) = Batcher::start(
            USAGE_BUFFER,
            USAGE_BATCH,
            USAGE_LINGER,
            move |batch| {
                let store = store.clone();
                async move {
                    if let Err(error) = store.append_usage(&batch).await {
                        tracing::warn!(%error, events = batch.len(), "could not store usage events");
                    }
                }
            },
        );
        let policy = match config.metering.limiter_failure {
            LimiterFailure::Open => FailurePolicy::Open,
            LimiterFailure::Closed => FailurePolicy::Closed,
        };
        let metering = Arc::new(Metering {
            limiter: Arc::new(LocalLimiter::new()),
            policy,
            usage,
            concurrency: Mutex::new(HashMap::new()),
            seeded: Mutex::new(HashMap::new()),
            anonymous: RateLimits {
                per_minute: config.auth.anonymous_per_minute,
                per_day: config.auth.anonymous_per_day,
            },
        });
        (metering, writer)
    }

    /// Per-IP limits for anonymous callers (may be unlimited).
    pub fn anonymous_limits(&self) -> RateLimits {
        self.anonymous
    }

    /// Checks `subject` against `limits`, seeding a key's day count from the store on first
    /// sight each day (so a restart does not hand out a fresh quota).
    pub async fn check(
        &self,
        store: &dyn Store,
        subject: &str,
        key_id: Option<i64>,
        limits: RateLimits,
    ) -> Decision {
        if let Some(key_id) = key_id
            && limits.per_day > 0
        {
            self.seed_day(store, subject, key_id).await;
        }
        check_with_policy(
            self.limiter.as_ref() as &dyn Limiter,
            self.policy,
            subject,
            limits,
        )
        .await
    }

    async fn seed_day(&self, store: &dyn Store, subject: &str, key_id: i64) {
        let day_start = day_start_ms(crate::auth::now_ms());
        let already = self
            .seeded
            .lock()
            .map(|m| m.get(subject) == Some(&day_start))
            .unwrap_or(true);
        if already {
            return;
        }
        match store.count_key_usage(key_id, day_start).await {
            Ok(count) => {
                self.limiter
                    .seed_day_usage(subject, u64::try_from(count).unwrap_or(0));
                if let Ok(mut seeded) = self.seeded.lock() {
                    seeded.insert(subject.to_owned(), day_start);
                }
            }
            Err(error) => tracing::warn!(%error, subject, "could not seed the day quota"),
        }
    }

    /// Takes one of `max` concurrent slots of key `key_id`; `None` when all are in use.
    pub fn acquire(self: &Arc<Self>, key_id: i64, max: i64) -> Option<ConcurrencySlot> {
        let mut map = self.concurrency.lock().ok()?;
        let count = map.entry(key_id).or_insert(0);
        if i64::from(*count) >= max {
            return None;
        }
        *count += 1;
        Some(ConcurrencySlot {
            metering: self.clone(),
            key_id,
        })
    }

    /// Queues a usage event.
    pub fn record(&self, event: UsageEvent) {
        self.usage.push(event);
    }

    /// Starts the periodic housekeeping task.
    pub fn spawn_housekeeping(
        self: &Arc<Self>,
        store: Arc<dyn Store>,
        auth: Arc<AuthService>,
        config: Arc<Config>,
    ) -> tokio::task::JoinHandle<()> {
        let metering = self.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(HOUSEKEEPING_EVERY);
            let mut ticks: u64 = 0;
            loop {
                interval.tick().await;
                ticks += 1;
                auth.flush_key_uses().await;
                auth.throttle.sweep();
                metering.limiter.forget_idle();
                crate::script_services::kv::sweep(store.as_ref()).await;
                if ticks % 120 == 1 {
                    metering.prune(store.as_ref(), &config).await;
                }
            }
        })
    }

    async fn prune(&self, store: &dyn Store, config: &Config) {
        let now = crate::auth::now_ms();
        let day = 86_400_000_i64;
        let usage_before = now - i64::from(config.metering.usage_retention_days) * day;
        let audit_before = now - i64::from(config.metering.audit_retention_days) * day;
        let idle = i64::try_from(config.auth.session_idle_minutes.saturating_mul(60_000))
            .unwrap_or(i64::MAX);
        if let Err(error) = store.prune_usage(usage_before).await {
            tracing::warn!(%error, "could not prune usage events");
        }
        if let Err(error) = store.prune_audit(audit_before).await {
            tracing::warn!(%error, "could not prune the audit log");
        }
        if let Err(error) = store.prune_sessions(now, now - idle).await {
            tracing::warn!(%error, "could not prune sessions");
        }
        if let Ok(mut seeded) = self.seeded.lock() {
            let today = day_start_ms(now);
            seeded.retain(|_, d| *d == today);
        }
    }
}

/// The usage event of one call, started when the call is admitted and recorded once its
/// outcome is known (through the batched pipeline).
pub struct UsageRecorder<'a> {
    metering: &'a Metering,
    started: Instant,
    event: UsageEvent,
}

impl<'a> UsageRecorder<'a> {
    /// Starts the event of a call by `caller` of `kind` (`http`, `execute`, …).
    pub fn start(
        metering: &'a Metering,
        caller: &Caller,
        kind: &str,
        script: Option<String>,
        route: Option<String>,
    ) -> Self {
        UsageRecorder {
            metering,
            started: Instant::now(),
            event: UsageEvent {
                time: 0,
                key_id: caller.api_key.as_ref().map(|k| k.id),
                user_id: caller.user_id(),
                script,
                kind: kind.to_owned(),
                route,
                status: 0,
                duration_ms: 0,
                cpu_ms: 0,
                bytes_in: 0,
                bytes_out: 0,
                error_class: String::new(),
                module_bytes: None,
                input_bytes: None,
                memory_peak_bytes: None,
            },
        }
    }

    /// Adds what a WebAssembly execution's event carries besides the common fields: the
    /// module's and the input's sizes, and (once it ran) the guest's peak memory.
    pub fn set_wasm(&mut self, module_bytes: usize, input_bytes: usize, memory_peak_bytes: u64) {
        let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.event.module_bytes = Some(as_i64(module_bytes as u64));
        self.event.input_bytes = Some(as_i64(input_bytes as u64));
        self.event.memory_peak_bytes = Some(as_i64(memory_peak_bytes));
    }

    /// Records the outcome: status, class, CPU time used and body sizes.
    pub fn record(
        &self,
        status: StatusCode,
        class: ErrorClass,
        cpu: Duration,
        bytes_in: usize,
        bytes_out: usize,
    ) {
        let as_i64 = |n: u128| i64::try_from(n).unwrap_or(i64::MAX);
        let mut event = self.event.clone();
        event.time = crate::auth::now_ms();
        event.status = i64::from(status.as_u16());
        event.duration_ms = as_i64(self.started.elapsed().as_millis());
        event.cpu_ms = as_i64(cpu.as_millis());
        event.bytes_in = as_i64(bytes_in as u128);
        event.bytes_out = as_i64(bytes_out as u128);
        event.error_class = class.as_str().to_owned();
        self.metering.record(event);
    }
}

/// A held concurrency slot, released on drop.
pub struct ConcurrencySlot {
    metering: Arc<Metering>,
    key_id: i64,
}

impl Drop for ConcurrencySlot {
    fn drop(&mut self) {
        if let Ok(mut map) = self.metering.concurrency.lock()
            && let Some(count) = map.get_mut(&self.key_id)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                map.remove(&self.key_id);
            }
        }
    }
}

/// What metering decided before the invocation.
pub struct Metered {
    /// Rate-limit headers for the answer.
    pub headers: HeaderMap,
    /// The caller's tier CPU budget, if tighter limits apply.
    pub cpu_limit: Option<Duration>,
    /// Largest accepted request body.
    pub body_limit: usize,
    /// The tier, when an API key is metered.
    pub tier: Option<TierRecord>,
    /// The concurrency slot held for the call.
    pub slot: Option<ConcurrencySlot>,
}

impl Metered {
    /// No limits beyond the server's own.
    pub fn unmetered(state: &AppState) -> Metered {
        Metered {
            headers: HeaderMap::new(),
            cpu_limit: None,
            body_limit: state.config.http.max_body_bytes,
            tier: None,
            slot: None,
        }
    }
}

/// Applies the caller's rate limit, quota and concurrency cap (API keys: their tier; anonymous
/// callers: the per-IP limits when configured).
pub async fn meter(
    state: &AppState,
    caller: Option<&Caller>,
    client: &ClientMeta,
) -> Result<Metered, (ApiError, HeaderMap)> {
    let store = state.scripts.store();
    let mut metered = Metered::unmetered(state);
    if let Some(key) = caller.and_then(|c| c.api_key.as_ref()) {
        let tier = match state.auth.tier(&key.tier).await {
            Ok(Some(tier)) => TierRecord::clone(&tier),
            Ok(None) => {
                return Err((
                    ApiError::internal(format!(
                        "key {} is on a missing tier {}",
                        key.prefix, key.tier
                    )),
                    HeaderMap::new(),
                ));
            }
            Err(error) => return Err((ApiError::from(error), HeaderMap::new())),
        };
        // The concurrency slot is taken before the rate check: a call refused for want of a
        // slot must not consume minute capacity or day quota (the day count seeded from the
        // store after a restart leaves these 429s out too).
        metered.slot = state.metering.acquire(key.id, tier.max_concurrent);
        if metered.slot.is_none() {
            return Err((
                ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "CONCURRENCY_LIMIT",
                    format!(
                        "the {} tier allows {} concurrent calls per key; retry when one finishes",
                        tier.name, tier.max_concurrent
                    ),
                ),
                HeaderMap::from_iter([(header::RETRY_AFTER, HeaderValue::from_static("1"))]),
            ));
        }
        let subject = format!("key:{}", key.id);
        let decision = state
            .metering
            .check(store.as_ref(), &subject, Some(key.id), tier_limits(&tier))
            .await;
        if !decision.allowed {
            return Err(denied_response(&decision));
        }
        decision.write_headers(&mut metered.headers);
        metered.cpu_limit = Some(Duration::from_millis(
            u64::try_from(tier.cpu_ms).unwrap_or(1),
        ));
        metered.body_limit = metered
            .body_limit
            .min(usize::try_from(tier.max_input_bytes).unwrap_or(usize::MAX));
        metered.tier = Some(tier);
    } else if caller.is_none() {
        let limits = state.metering.anonymous_limits();
        if !limits.is_unlimited() {
            let subject = format!("ip:{}", client.ip);
            let decision = state
                .metering
                .check(store.as_ref(), &subject, None, limits)
                .await;
            if !decision.allowed {
                return Err(denied_response(&decision));
            }
            decision.write_headers(&mut metered.headers);
        }
    }
    Ok(metered)
}

/// The rate limits of a tier.
pub fn tier_limits(tier: &TierRecord) -> RateLimits {
    RateLimits {
        per_minute: u32::try_from(tier.rate_per_minute).unwrap_or(u32::MAX),
        per_day: u32::try_from(tier.quota_per_day).unwrap_or(u32::MAX),
    }
}

/// The answer for a denied decision: 429 with `Retry-After` (or 503 when the limiter failed
/// closed), plus the rate-limit headers.
pub fn denied_response(decision: &Decision) -> (ApiError, HeaderMap) {
    let mut headers = HeaderMap::new();
    decision.write_headers(&mut headers);
    let error = match decision.denial() {
        Some(Denial::OverLimit(window)) => {
            let wait = decision.retry_after_secs.unwrap_or(1);
            let (code, what) = match window {
                crate::rate_limit::Window::Minute => ("RATE_LIMITED", "per-minute rate limit"),
                crate::rate_limit::Window::Day => ("QUOTA_EXCEEDED", "daily quota"),
            };
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                code,
                format!(
                    "the {what} of {} requests is used up; retry in {wait} seconds",
                    decision.limit
                ),
            )
        }
        _ => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "RATE_LIMITER_UNAVAILABLE",
                "the rate limiter is unavailable and this server refuses unmetered requests",
            )
        }
    };
    (error, headers)
}

/// Start of the UTC day containing `ms`.
fn day_start_ms(ms: i64) -> i64 {
    ms - ms.rem_euclid(86_400_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_classes_follow_codes_and_statuses() {
        assert_eq!(
            ErrorClass::of_error(StatusCode::GATEWAY_TIMEOUT, "SCRIPT_TIMEOUT"),
            ErrorClass::TimeLimitExceeded
        );
        assert_eq!(
            ErrorClass::of_error(StatusCode::SERVICE_UNAVAILABLE, "SCRIPT_MEMORY_LIMIT"),
            ErrorClass::MemoryLimitExceeded
        );
        assert_eq!(
            ErrorClass::of_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED"),
            ErrorClass::RateLimited
        );
        assert_eq!(
            ErrorClass::of_error(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
            ErrorClass::ValidationError
        );
        assert_eq!(
            ErrorClass::of_error(StatusCode::INTERNAL_SERVER_ERROR, "SCRIPT_ERROR"),
            ErrorClass::ExecutionError
        );
        assert_eq!(day_start_ms(86_400_000 * 3 + 5), 86_400_000 * 3);
    }
}
