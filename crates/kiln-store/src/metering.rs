//! Usage accounting and the audit log: the [`MeteringStore`] trait with its record and query
//! types. Usage events are written in batches off the request path and read back as hourly or
//! daily aggregates; audit events record security-relevant actions for admins.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::StoreError;

/// Rows [`MeteringStore::query_audit`] returns when [`AuditQuery::limit`] is 0.
pub const DEFAULT_AUDIT_LIMIT: u32 = 100;

/// Most rows one [`MeteringStore::query_audit`] call returns, whatever the caller asks for.
pub const MAX_AUDIT_LIMIT: u32 = 1000;

/// One metered call (an HTTP invocation, a WASM execution…).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageEvent {
    /// When the call finished (unix ms).
    pub time: i64,
    /// API key that authenticated it, if any.
    pub key_id: Option<i64>,
    /// User it ran for (the key's owner or the signed-in user), if any.
    pub user_id: Option<i64>,
    /// Script that handled it, if any.
    pub script: Option<String>,
    /// What was called: `http`, `execute`, …
    pub kind: String,
    /// Route pattern or other detail (e.g. `GET /orders/:id`).
    pub route: Option<String>,
    /// HTTP status answered.
    pub status: i64,
    /// Wall time, ms.
    pub duration_ms: i64,
    /// CPU time spent by the guest, ms.
    pub cpu_ms: i64,
    /// Request body bytes.
    pub bytes_in: i64,
    /// Response body bytes.
    pub bytes_out: i64,
    /// `success`, `execution_error`, `time_limit_exceeded`, `memory_limit_exceeded`,
    /// `validation_error` or `rate_limited`.
    pub error_class: String,
    /// WebAssembly executions: the module's size in bytes (`None` for other calls).
    #[serde(default)]
    pub module_bytes: Option<i64>,
    /// WebAssembly executions: the input's (stdin) size in bytes.
    #[serde(default)]
    pub input_bytes: Option<i64>,
    /// WebAssembly executions: the guest's peak linear memory in bytes (0 when it never ran).
    #[serde(default)]
    pub memory_peak_bytes: Option<i64>,
}

/// Bucket size of [`UsageQuery`] aggregates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UsagePeriod {
    /// One bucket per UTC hour.
    #[default]
    Hour,
    /// One bucket per UTC day.
    Day,
}

impl UsagePeriod {
    /// Bucket length in milliseconds.
    pub fn millis(self) -> i64 {
        match self {
            UsagePeriod::Hour => 3_600_000,
            UsagePeriod::Day => 86_400_000,
        }
    }
}

/// Filters for [`MeteringStore::usage_summary`]; all given filters must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsageQuery {
    /// Only this key's calls.
    pub key_id: Option<i64>,
    /// Only this user's calls.
    pub user_id: Option<i64>,
    /// Only this script's calls.
    pub script: Option<String>,
    /// Only calls with `time >= since` (unix ms).
    pub since: Option<i64>,
    /// Only calls with `time < until` (unix ms).
    pub until: Option<i64>,
    /// Bucket size.
    pub period: UsagePeriod,
}

/// One aggregate bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageBucket {
    /// Bucket start (unix ms, aligned to the period in UTC).
    pub start: i64,
    /// Calls in the bucket (all classes).
    pub requests: i64,
    /// Calls whose class is not `success`.
    pub errors: i64,
    /// Calls rejected by rate limits or quotas.
    pub rate_limited: i64,
    /// Total CPU ms.
    pub cpu_ms: i64,
    /// Total wall ms.
    pub duration_ms: i64,
    /// Total request bytes.
    pub bytes_in: i64,
    /// Total response bytes.
    pub bytes_out: i64,
    /// Total module bytes of WebAssembly executions.
    pub module_bytes: i64,
    /// Total input bytes of WebAssembly executions.
    pub input_bytes: i64,
    /// Largest peak memory of one WebAssembly execution.
    pub max_memory_peak_bytes: i64,
    /// Calls per error class (including `success`), sorted by class.
    pub by_class: Vec<(String, i64)>,
}

/// A security-relevant event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAuditEvent {
    /// When it happened (unix ms).
    pub time: i64,
    /// The acting user, if known.
    pub actor_user_id: Option<i64>,
    /// Who acted, human-readable (`alice@example.com`, `bootstrap token`, `api key kiln_ab…`).
    pub actor: String,
    /// What happened: `login`, `login_failed`, `logout`, `key_created`, `key_revoked`,
    /// `role_granted`, `role_revoked`, `deploy`, …
    pub action: String,
    /// What it happened to (script name, key prefix, user email…).
    pub target: Option<String>,
    /// Client address.
    pub ip: Option<String>,
    /// Free-form details.
    pub detail: serde_json::Value,
}

/// A stored audit event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Store-assigned id, increasing.
    pub id: i64,
    /// The event.
    #[serde(flatten)]
    pub event: NewAuditEvent,
}

/// Filters for [`MeteringStore::query_audit`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only this action.
    pub action: Option<String>,
    /// Only events by this user.
    pub actor_user_id: Option<i64>,
    /// Only events with `time >= since`.
    pub since: Option<i64>,
    /// Only events with `id < before_id` (paging backwards).
    pub before_id: Option<i64>,
    /// Most rows (clamped to 1..=1000; 0 means 100). See [`AuditQuery::effective_limit`].
    pub limit: u32,
}

impl AuditQuery {
    /// The limit a store applies: [`DEFAULT_AUDIT_LIMIT`] for 0, else [`AuditQuery::limit`]
    /// capped at [`MAX_AUDIT_LIMIT`].
    pub fn effective_limit(&self) -> u32 {
        match self.limit {
            0 => DEFAULT_AUDIT_LIMIT,
            limit => limit.min(MAX_AUDIT_LIMIT),
        }
    }
}

/// Usage events and the audit log. Part of [`Store`](crate::Store).
#[async_trait]
pub trait MeteringStore: Send + Sync {
    /// Stores a batch of usage events, all or none.
    async fn append_usage(&self, events: &[UsageEvent]) -> Result<(), StoreError>;

    /// Aggregates matching events into buckets, oldest first; empty buckets are omitted.
    async fn usage_summary(&self, query: &UsageQuery) -> Result<Vec<UsageBucket>, StoreError>;

    /// Number of calls by `key_id` since `since` (unix ms) that counted against its quota
    /// (every class except `rate_limited`). Seeds the day quota after a restart.
    async fn count_key_usage(&self, key_id: i64, since: i64) -> Result<i64, StoreError>;

    /// Deletes usage events older than `before` (unix ms); returns how many.
    async fn prune_usage(&self, before: i64) -> Result<u64, StoreError>;

    /// Appends an audit event; returns its id.
    async fn append_audit(&self, event: &NewAuditEvent) -> Result<i64, StoreError>;

    /// Matching audit events, newest (highest id) first, at most `query.effective_limit()`.
    async fn query_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError>;

    /// Deletes audit events older than `before`; returns how many.
    async fn prune_audit(&self, before: i64) -> Result<u64, StoreError>;
}
