//! The identity and metering sections of the configuration: `[auth]` (sessions, login
//! throttling, API key hashing secret, anonymous per-IP limits) and `[metering]` (usage and
//! audit retention, what the rate limiter does when it fails). Validation of these sections
//! lives here too and is called from [`Config::validate`](super::Config::validate).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ConfigProblem;
use crate::oidc::OidcProviderConfig;

/// Sign-in, sessions and API keys (`[auth]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// A session not used for this many minutes ends.
    pub session_idle_minutes: u64,
    /// A session ends this many hours after sign-in, however active.
    pub session_max_hours: u64,
    /// Failed logins for one account within [`AuthConfig::login_window_minutes`] before further
    /// attempts are refused until the window passes.
    pub max_failed_logins_per_account: u32,
    /// Failed logins from one client address within the window before it is refused.
    pub max_failed_logins_per_ip: u32,
    /// The failed-login window, in minutes.
    pub login_window_minutes: u64,
    /// Secret for the keyed hash of API keys (at least 32 characters). Unset: one is
    /// generated on first start and kept in the database. Set it when several instances
    /// share a database so that they agree (they do anyway through the database).
    pub key_secret: Option<String>,
    /// Public base URL of this server (e.g. `https://kiln.example.com`), used to build OIDC
    /// redirect URLs. Unset: derived from each request's `Host`.
    pub public_url: Option<String>,
    /// Requests per minute per client address for anonymous callers of script routes; 0 = no
    /// limit.
    pub anonymous_per_minute: u32,
    /// Requests per UTC day per client address for anonymous callers; 0 = no limit.
    pub anonymous_per_day: u32,
    /// OpenID Connect providers users may sign in with (`[auth.oidc.<name>]`), by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub oidc: BTreeMap<String, OidcProviderConfig>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            session_idle_minutes: 12 * 60,
            session_max_hours: 7 * 24,
            max_failed_logins_per_account: 5,
            max_failed_logins_per_ip: 20,
            login_window_minutes: 15,
            key_secret: None,
            public_url: None,
            anonymous_per_minute: 0,
            anonymous_per_day: 0,
            oidc: BTreeMap::new(),
        }
    }
}

/// Usage accounting, the audit log and the rate limiter (`[metering]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MeteringConfig {
    /// Days usage events are kept; a cleanup job deletes older ones hourly.
    pub usage_retention_days: u32,
    /// Days audit events are kept.
    pub audit_retention_days: u32,
    /// What happens when the rate limiter itself fails (e.g. its Redis is down): `open` lets
    /// requests through, `closed` refuses them with 503. Either way the failure is logged.
    pub limiter_failure: LimiterFailure,
}

/// Behaviour when the rate limiter cannot answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LimiterFailure {
    /// Let the request through.
    #[default]
    Open,
    /// Refuse it with 503.
    Closed,
}

impl Default for MeteringConfig {
    fn default() -> Self {
        MeteringConfig {
            usage_retention_days: 30,
            audit_retention_days: 365,
            limiter_failure: LimiterFailure::Open,
        }
    }
}

/// Shortest accepted [`AuthConfig::key_secret`].
pub const MIN_KEY_SECRET_CHARS: usize = 32;

impl AuthConfig {
    /// A copy with secrets replaced by `redacted`.
    pub(super) fn redacted(&self, redacted: &str) -> AuthConfig {
        let mut copy = self.clone();
        copy.key_secret = copy.key_secret.map(|_| redacted.to_owned());
        for provider in copy.oidc.values_mut() {
            provider.client_secret = provider.client_secret.take().map(|_| redacted.to_owned());
        }
        copy
    }

    /// Problems with the `[auth]` values.
    pub(super) fn validate(&self, problems: &mut Vec<ConfigProblem>) {
        let mut range = |key: &str, value: u64, min: u64, max: u64| {
            if !(min..=max).contains(&value) {
                problems.push(ConfigProblem::new(
                    format!("auth.{key}"),
                    format!("must be between {min} and {max} (got {value})"),
                ));
            }
        };
        range(
            "session_idle_minutes",
            self.session_idle_minutes,
            1,
            525_600,
        );
        range("session_max_hours", self.session_max_hours, 1, 8_760);
        range(
            "max_failed_logins_per_account",
            u64::from(self.max_failed_logins_per_account),
            1,
            1_000,
        );
        range(
            "max_failed_logins_per_ip",
            u64::from(self.max_failed_logins_per_ip),
            1,
            100_000,
        );
        range("login_window_minutes", self.login_window_minutes, 1, 1_440);
        if let Some(secret) = &self.key_secret
            && secret.chars().count() < MIN_KEY_SECRET_CHARS
        {
            problems.push(ConfigProblem::new(
                "auth.key_secret",
                format!("must be at least {MIN_KEY_SECRET_CHARS} characters"),
            ));
        }
        for (name, provider) in &self.oidc {
            let valid_name = !name.is_empty()
                && name.len() <= 63
                && name.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                });
            if !valid_name {
                problems.push(ConfigProblem::new(
                    format!("auth.oidc.{name}"),
                    "provider names use lowercase letters, digits, '-' and '_' (it appears in URLs)",
                ));
            }
            if !url::Url::parse(&provider.issuer)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
            {
                problems.push(ConfigProblem::new(
                    format!("auth.oidc.{name}.issuer"),
                    format!(
                        "must be an absolute http(s) URL (got {:?})",
                        provider.issuer
                    ),
                ));
            }
            if provider.client_id.is_empty() {
                problems.push(ConfigProblem::new(
                    format!("auth.oidc.{name}.client_id"),
                    "must not be empty",
                ));
            }
        }
        if let Some(url) = &self.public_url {
            match url::Url::parse(url) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
                _ => problems.push(ConfigProblem::new(
                    "auth.public_url",
                    format!("must be an absolute http(s) URL (got {url:?})"),
                )),
            }
        }
    }
}

impl MeteringConfig {
    /// Problems with the `[metering]` values.
    pub(super) fn validate(&self, problems: &mut Vec<ConfigProblem>) {
        for (key, value) in [
            ("usage_retention_days", self.usage_retention_days),
            ("audit_retention_days", self.audit_retention_days),
        ] {
            if !(1..=36_500).contains(&value) {
                problems.push(ConfigProblem::new(
                    format!("metering.{key}"),
                    format!("must be between 1 and 36500 (got {value})"),
                ));
            }
        }
    }
}
