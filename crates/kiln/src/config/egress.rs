//! The `[egress]` section and its per-script overrides (`[scripts.<name>.egress]`): which
//! addresses `fetch` may reach and how much one invocation may fetch. The rules themselves
//! (address classes, matching) live in [`crate::script_services::egress`].

use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use super::ConfigProblem;
use crate::script_services::egress::EgressRule;

/// Accepted range of [`EgressConfig::max_subrequests`].
const SUBREQUESTS_RANGE: RangeInclusive<u64> = 1..=100_000;
/// Accepted range of [`EgressConfig::max_concurrent`].
const CONCURRENT_RANGE: RangeInclusive<u64> = 1..=1_000;
/// Accepted range of [`EgressConfig::max_response_bytes`] (up to 1 GiB).
const RESPONSE_BYTES_RANGE: RangeInclusive<u64> = 1..=1024 * 1024 * 1024;
/// Accepted range of [`EgressConfig::timeout_ms`] (up to one hour).
const TIMEOUT_RANGE: RangeInclusive<u64> = 1..=3_600_000;

/// Outbound requests of scripts (`fetch`, `[egress]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EgressConfig {
    /// Lets scripts reach loopback, private (RFC 1918), link-local, CGNAT and unique-local
    /// addresses. Cloud-metadata addresses stay refused unless listed in `allow`.
    pub allow_private: bool,
    /// Destinations allowed whatever their address class: CIDR ranges or IP addresses
    /// (`"10.1.2.0/24"`), host names (`"api.internal.example"`) or `*.` suffixes.
    pub allow: Vec<String>,
    /// Destinations always refused (same forms as `allow`); wins over `allow`.
    pub deny: Vec<String>,
    /// Most requests (each redirect hop counts) one invocation may make.
    pub max_subrequests: u32,
    /// Most requests of one invocation in flight at once; further ones wait their turn.
    pub max_concurrent: u32,
    /// Largest response body one request may read, in bytes (bodies are buffered).
    pub max_response_bytes: u64,
    /// Time one request may take, redirects and the body included, in milliseconds.
    pub timeout_ms: u64,
}

impl Default for EgressConfig {
    fn default() -> Self {
        EgressConfig {
            allow_private: false,
            allow: Vec::new(),
            deny: Vec::new(),
            max_subrequests: 50,
            max_concurrent: 6,
            max_response_bytes: 10 * 1024 * 1024,
            timeout_ms: 30_000,
        }
    }
}

/// Per-script overrides of [`EgressConfig`] (`[scripts.<name>.egress]`): lists add to the
/// global ones, a `None` field keeps the global value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EgressOverrides {
    /// Overrides [`EgressConfig::allow_private`].
    pub allow_private: Option<bool>,
    /// Added to [`EgressConfig::allow`].
    pub allow: Vec<String>,
    /// Added to [`EgressConfig::deny`].
    pub deny: Vec<String>,
    /// Overrides [`EgressConfig::max_subrequests`].
    pub max_subrequests: Option<u32>,
    /// Overrides [`EgressConfig::max_concurrent`].
    pub max_concurrent: Option<u32>,
    /// Overrides [`EgressConfig::max_response_bytes`].
    pub max_response_bytes: Option<u64>,
    /// Overrides [`EgressConfig::timeout_ms`].
    pub timeout_ms: Option<u64>,
}

impl EgressOverrides {
    /// True when the script changes nothing.
    pub fn is_empty(&self) -> bool {
        self == &EgressOverrides::default()
    }

    /// `global` with these overrides applied.
    pub fn apply_to(&self, global: &EgressConfig) -> EgressConfig {
        let mut allow = global.allow.clone();
        allow.extend(self.allow.iter().cloned());
        let mut deny = global.deny.clone();
        deny.extend(self.deny.iter().cloned());
        EgressConfig {
            allow_private: self.allow_private.unwrap_or(global.allow_private),
            allow,
            deny,
            max_subrequests: self.max_subrequests.unwrap_or(global.max_subrequests),
            max_concurrent: self.max_concurrent.unwrap_or(global.max_concurrent),
            max_response_bytes: self.max_response_bytes.unwrap_or(global.max_response_bytes),
            timeout_ms: self.timeout_ms.unwrap_or(global.timeout_ms),
        }
    }
}

impl EgressConfig {
    /// Problems with these values; `prefix` is `egress`.
    pub(super) fn validate(&self, prefix: &str, problems: &mut Vec<ConfigProblem>) {
        check_rules(prefix, &self.allow, &self.deny, problems);
        check_numbers(
            prefix,
            [
                Some(u64::from(self.max_subrequests)),
                Some(u64::from(self.max_concurrent)),
                Some(self.max_response_bytes),
                Some(self.timeout_ms),
            ],
            problems,
        );
    }
}

impl EgressOverrides {
    /// Problems with the values this script sets; `prefix` is `scripts.<name>.egress`.
    pub(super) fn validate(&self, prefix: &str, problems: &mut Vec<ConfigProblem>) {
        check_rules(prefix, &self.allow, &self.deny, problems);
        check_numbers(
            prefix,
            [
                self.max_subrequests.map(u64::from),
                self.max_concurrent.map(u64::from),
                self.max_response_bytes,
                self.timeout_ms,
            ],
            problems,
        );
    }
}

fn check_rules(prefix: &str, allow: &[String], deny: &[String], problems: &mut Vec<ConfigProblem>) {
    for (key, list) in [("allow", allow), ("deny", deny)] {
        for entry in list {
            if let Err(why) = EgressRule::parse(entry) {
                problems.push(ConfigProblem::new(format!("{prefix}.{key}"), why));
            }
        }
    }
}

/// Checks `max_subrequests`, `max_concurrent`, `max_response_bytes`, `timeout_ms` (in that
/// order; `None` for a value not set here).
fn check_numbers(prefix: &str, values: [Option<u64>; 4], problems: &mut Vec<ConfigProblem>) {
    let keys = [
        ("max_subrequests", SUBREQUESTS_RANGE),
        ("max_concurrent", CONCURRENT_RANGE),
        ("max_response_bytes", RESPONSE_BYTES_RANGE),
        ("timeout_ms", TIMEOUT_RANGE),
    ];
    for ((key, range), value) in keys.into_iter().zip(values) {
        if let Some(value) = value.filter(|v| !range.contains(v)) {
            problems.push(ConfigProblem::new(
                format!("{prefix}.{key}"),
                format!(
                    "must be between {} and {} (got {value})",
                    range.start(),
                    range.end()
                ),
            ));
        }
    }
}
