//! Who is calling: authentication of every request that carries credentials, and the pieces it
//! is built from. [`AuthService`] turns a request's `Authorization: Bearer` header (an API key,
//! or the bootstrap admin token while no admin account exists) or its session cookie into a
//! [`Caller`], checks CSRF tokens for cookie-authenticated state-changing requests, creates and
//! ends sessions, and writes audit events. Policy (which caller may do what) is in [`policy`];
//! the `/auth/*` endpoints are in [`routes`].

pub mod api_keys;
pub mod client;
pub mod identity_cache;
pub mod oidc_routes;
pub mod password;
pub mod policy;
pub mod routes;
pub mod throttle;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use kiln_store::{
    ApiKeyRecord, NewAuditEvent, SessionRecord, Store, StoreError, TierRecord, UserRecord,
};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::admin_token::AdminToken;
use crate::config::Config;
use crate::error::ApiError;
use api_keys::KeySecret;
use client::ClientMeta;
use identity_cache::IdentityCache;
use throttle::LoginThrottle;

/// Name of the session cookie (HttpOnly).
pub const SESSION_COOKIE: &str = "kiln_session";
/// Name of the cookie mirroring the session's CSRF token for the console's scripts.
pub const CSRF_COOKIE: &str = "kiln_csrf";
/// Header carrying the CSRF token on cookie-authenticated state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// A session's `last_seen_at` is written at most this often.
const TOUCH_EVERY_MS: i64 = 60_000;

/// How a caller proved who they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// The session cookie; `csrf_ok` says whether the request also carried the session's CSRF
    /// token (state-changing requests need it).
    Session {
        /// Hash of the session token.
        id_hash: String,
        /// The session's CSRF token.
        csrf_token: String,
        /// Whether the request presented that token.
        csrf_ok: bool,
    },
    /// An API key in `Authorization: Bearer`.
    ApiKey,
    /// The bootstrap admin token (only while no admin account exists).
    BootstrapToken,
}

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The account (absent only for the bootstrap token).
    pub user: Option<Arc<UserRecord>>,
    /// The API key used, if any.
    pub api_key: Option<Arc<ApiKeyRecord>>,
    /// How they authenticated.
    pub method: AuthMethod,
}

impl Caller {
    /// Admins (and the bootstrap token) may manage everything.
    pub fn is_admin(&self) -> bool {
        match (&self.method, &self.user) {
            (AuthMethod::BootstrapToken, _) => true,
            (_, Some(user)) => user.has_role(kiln_store::ADMIN_ROLE),
            _ => false,
        }
    }

    /// Whether the account holds `role` (admins hold every built-in power, not custom roles).
    pub fn has_role(&self, role: &str) -> bool {
        self.user.as_ref().is_some_and(|u| u.has_role(role))
    }

    /// The account id, if any.
    pub fn user_id(&self) -> Option<i64> {
        self.user.as_ref().map(|u| u.id)
    }

    /// Whether an API key (if one was used) carries `scope`; sessions and the bootstrap token
    /// have every scope.
    pub fn has_scope(&self, scope: &str) -> bool {
        match &self.api_key {
            Some(key) => key.scopes.iter().any(|s| s == scope),
            None => true,
        }
    }

    /// Human-readable actor for audit events.
    pub fn actor(&self) -> String {
        match (&self.user, &self.api_key) {
            (Some(user), Some(key)) => format!("{} (key {})", user.email, key.prefix),
            (Some(user), None) => user.email.clone(),
            _ => "bootstrap token".to_owned(),
        }
    }

    /// The JSON handed to scripts as `ctx.user` / `ctx.apiKey`.
    pub fn script_identity(&self) -> Arc<str> {
        let user = self.user.as_ref().map(|u| {
            json!({
                "id": u.id,
                "email": u.email,
                "name": u.display_name,
                "roles": u.roles,
            })
        });
        let key = self.api_key.as_ref().map(|k| {
            json!({
                "id": k.id,
                "prefix": k.prefix,
                "name": k.name,
                "tier": k.tier,
                "scopes": k.scopes,
            })
        });
        Arc::from(json!({ "user": user, "apiKey": key }).to_string())
    }
}

/// Authentication state shared by every request.
pub struct AuthService {
    store: Arc<dyn Store>,
    config: Arc<Config>,
    bootstrap: AdminToken,
    key_secret: KeySecret,
    /// Failed-login throttle.
    pub throttle: LoginThrottle,
    /// `last_used_at` per key id, flushed to the store in batches.
    key_uses: Mutex<HashMap<i64, i64>>,
    /// Keys, their owners and tiers as recently read from the store.
    identities: IdentityCache,
}

impl AuthService {
    /// Loads the key secret and bootstrap token.
    pub async fn start(
        store: Arc<dyn Store>,
        config: Arc<Config>,
        bootstrap: AdminToken,
    ) -> anyhow::Result<AuthService> {
        let key_secret = KeySecret::load(store.as_ref(), config.auth.key_secret.as_deref()).await?;
        let throttle = LoginThrottle::new(
            Duration::from_secs(config.auth.login_window_minutes.saturating_mul(60)),
            config.auth.max_failed_logins_per_account,
            config.auth.max_failed_logins_per_ip,
        );
        Ok(AuthService {
            store,
            config,
            bootstrap,
            key_secret,
            throttle,
            key_uses: Mutex::new(HashMap::new()),
            identities: IdentityCache::default(),
        })
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The key hashing secret.
    pub fn key_secret(&self) -> &KeySecret {
        &self.key_secret
    }

    /// Makes changes to API keys, accounts or tiers apply to the next request: call it after
    /// every such change (cached copies otherwise live up to
    /// [`identity_cache::IDENTITY_TTL`]).
    pub fn identities_changed(&self) {
        self.identities.invalidate();
    }

    /// The tier `name` (cached like the keys on it).
    pub async fn tier(&self, name: &str) -> Result<Option<Arc<TierRecord>>, StoreError> {
        self.identities.tier(self.store.as_ref(), name).await
    }

    /// Authenticates a request from its headers: `Ok(None)` when it carries no Kiln
    /// credentials (an `Authorization` header that is not a Kiln key or token is left to the
    /// script), an error when it carries bad ones.
    pub async fn authenticate(
        &self,
        method: &Method,
        headers: &HeaderMap,
    ) -> Result<Option<Caller>, ApiError> {
        if let Some(bearer) = bearer_token(headers) {
            if api_keys::prefix_of(bearer).is_some() {
                return self.authenticate_key(bearer).await.map(Some);
            }
            if self.bootstrap.verify(bearer) {
                return self.authenticate_bootstrap(bearer).await.map(Some);
            }
            if bearer.starts_with(api_keys::KEY_PREFIX) {
                // Shaped like (but not) a Kiln key: a typo'd or truncated key.
                return Err(unauthorized("INVALID_API_KEY", "the API key is not valid"));
            }
        }
        if let Some(token) = cookie_value(headers, SESSION_COOKIE) {
            return self.authenticate_session(method, headers, &token).await;
        }
        Ok(None)
    }

    async fn authenticate_bootstrap(&self, token: &str) -> Result<Caller, ApiError> {
        if !self.bootstrap.verify(token) {
            return Err(unauthorized(
                "INVALID_TOKEN",
                "the bearer token is not a valid API key or admin token",
            ));
        }
        if self.store.count_active_admins().await? > 0 {
            return Err(unauthorized(
                "BOOTSTRAP_TOKEN_RETIRED",
                "the bootstrap admin token stops working once an admin account exists; sign in \
                 at /auth/login or use an API key with the `manage` scope",
            ));
        }
        Ok(Caller {
            user: None,
            api_key: None,
            method: AuthMethod::BootstrapToken,
        })
    }

    async fn authenticate_key(&self, key: &str) -> Result<Caller, ApiError> {
        let invalid = || unauthorized("INVALID_API_KEY", "the API key is not valid");
        let prefix = api_keys::prefix_of(key).ok_or_else(invalid)?;
        let store = self.store.as_ref();
        let find = |rows: &[Arc<ApiKeyRecord>]| {
            rows.iter()
                .find(|k| self.key_secret.verify(key, &k.hash))
                .cloned()
        };
        let (rows, cached) = self.identities.keys_by_prefix(store, prefix, false).await?;
        let record = match find(&rows) {
            Some(record) => record,
            // Not among the cached rows: perhaps a key created since (prefixes may collide).
            None if cached => {
                let (rows, _) = self.identities.keys_by_prefix(store, prefix, true).await?;
                find(&rows).ok_or_else(invalid)?
            }
            None => return Err(invalid()),
        };
        let now = now_ms();
        if record.revoked_at.is_some() {
            return Err(unauthorized(
                "API_KEY_REVOKED",
                format!("the API key {} was revoked", record.prefix),
            ));
        }
        if record.expires_at.is_some_and(|at| at <= now) {
            return Err(unauthorized(
                "API_KEY_EXPIRED",
                format!("the API key {} has expired", record.prefix),
            ));
        }
        let user = self
            .identities
            .user(store, record.user_id)
            .await?
            .ok_or_else(invalid)?;
        if user.disabled {
            return Err(unauthorized(
                "ACCOUNT_DISABLED",
                "the account owning this API key is disabled",
            ));
        }
        if let Ok(mut uses) = self.key_uses.lock() {
            uses.insert(record.id, now);
        }
        Ok(Caller {
            user: Some(user),
            api_key: Some(record),
            method: AuthMethod::ApiKey,
        })
    }

    async fn authenticate_session(
        &self,
        method: &Method,
        headers: &HeaderMap,
        token: &str,
    ) -> Result<Option<Caller>, ApiError> {
        let id_hash = session_hash(token);
        let Some(session) = self.store.get_session(&id_hash).await? else {
            return Err(session_expired());
        };
        let now = now_ms();
        let idle_ms = minutes_ms(self.config.auth.session_idle_minutes);
        if session.expires_at <= now || session.last_seen_at.saturating_add(idle_ms) <= now {
            self.store.delete_session(&id_hash).await?;
            return Err(session_expired());
        }
        let Some(user) = self.store.get_user(session.user_id).await? else {
            return Err(session_expired());
        };
        if user.disabled {
            return Err(unauthorized("ACCOUNT_DISABLED", "this account is disabled"));
        }
        if now - session.last_seen_at >= TOUCH_EVERY_MS {
            self.store.touch_session(&id_hash, now).await?;
        }
        let csrf_ok = is_safe(method)
            || headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|presented| constant_time_eq(presented, &session.csrf_token));
        Ok(Some(Caller {
            user: Some(Arc::new(user)),
            api_key: None,
            method: AuthMethod::Session {
                id_hash,
                csrf_token: session.csrf_token,
                csrf_ok,
            },
        }))
    }

    /// Starts a session for `user` (ending `previous`, the session the browser had, if any:
    /// rotation on login) and returns the `Set-Cookie` values and the CSRF token.
    pub async fn create_session(
        &self,
        user: &UserRecord,
        previous: Option<&str>,
        client: &ClientMeta,
        user_agent: Option<&str>,
    ) -> Result<NewSession, ApiError> {
        if let Some(old) = previous {
            self.store.delete_session(&session_hash(old)).await?;
        }
        let token = random_hex(32)?;
        let csrf_token = random_hex(32)?;
        let now = now_ms();
        let max_ms = self.config.auth.session_max_hours.saturating_mul(3_600_000);
        let record = SessionRecord {
            id_hash: session_hash(&token),
            user_id: user.id,
            csrf_token: csrf_token.clone(),
            created_at: now,
            last_seen_at: now,
            expires_at: now.saturating_add(i64::try_from(max_ms).unwrap_or(i64::MAX)),
            ip: Some(client.ip.clone()),
            user_agent: user_agent.map(|ua| ua.chars().take(256).collect()),
        };
        self.store.create_session(&record).await?;
        let secure = self.cookie_secure(client);
        let max_age = self.config.auth.session_max_hours.saturating_mul(3600);
        Ok(NewSession {
            cookies: vec![
                cookie_header(SESSION_COOKIE, &token, true, secure, Some(max_age)),
                cookie_header(CSRF_COOKIE, &csrf_token, false, secure, Some(max_age)),
            ],
            csrf_token,
        })
    }

    /// `Set-Cookie` values that clear the session cookies.
    pub fn clear_cookies(&self, client: &ClientMeta) -> Vec<HeaderValue> {
        let secure = self.cookie_secure(client);
        vec![
            cookie_header(SESSION_COOKIE, "", true, secure, Some(0)),
            cookie_header(CSRF_COOKIE, "", false, secure, Some(0)),
        ]
    }

    /// Cookies carry `Secure` when the request arrived over TLS (see `http.secure`).
    fn cookie_secure(&self, client: &ClientMeta) -> bool {
        client.secure
    }

    /// Writes an audit event by `actor` (or an anonymous one); failures are logged, never
    /// returned (auditing must not turn a successful action into an error).
    pub async fn audit(
        &self,
        actor: Option<&Caller>,
        action: &str,
        target: Option<String>,
        client: Option<&ClientMeta>,
        detail: serde_json::Value,
    ) {
        let (user_id, name) = match actor {
            Some(caller) => (caller.user_id(), caller.actor()),
            None => (None, "anonymous".to_owned()),
        };
        self.audit_as(user_id, name, action, target, client, detail)
            .await;
    }

    /// Writes an audit event by an explicit actor (e.g. a user signing in).
    pub async fn audit_as(
        &self,
        actor_user_id: Option<i64>,
        actor: String,
        action: &str,
        target: Option<String>,
        client: Option<&ClientMeta>,
        detail: serde_json::Value,
    ) {
        let event = NewAuditEvent {
            time: now_ms(),
            actor_user_id,
            actor,
            action: action.to_owned(),
            target,
            ip: client.map(|c| c.ip.clone()),
            detail,
        };
        if let Err(error) = self.store.append_audit(&event).await {
            tracing::error!(%error, action, "could not write an audit event");
        }
    }

    /// Writes the batched `last_used_at` times of API keys.
    pub async fn flush_key_uses(&self) {
        let uses: Vec<(i64, i64)> = match self.key_uses.lock() {
            Ok(mut map) => map.drain().collect(),
            Err(_) => return,
        };
        if uses.is_empty() {
            return;
        }
        if let Err(error) = self.store.touch_api_keys(&uses).await {
            tracing::warn!(%error, keys = uses.len(), "could not record API key use");
        }
    }
}

/// A session just created.
pub struct NewSession {
    /// `Set-Cookie` header values.
    pub cookies: Vec<HeaderValue>,
    /// The session's CSRF token (also returned in JSON answers).
    pub csrf_token: String,
}

/// The bearer token of `Authorization`, if any.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name && !c.value().is_empty())
        .map(|c| c.value().to_owned())
}

fn cookie_header(
    name: &str,
    value: &str,
    http_only: bool,
    secure: bool,
    max_age_secs: Option<u64>,
) -> HeaderValue {
    let mut cookie = cookie::Cookie::new(name.to_owned(), value.to_owned());
    cookie.set_path("/");
    cookie.set_http_only(http_only);
    cookie.set_secure(secure);
    cookie.set_same_site(cookie::SameSite::Lax);
    if let Some(secs) = max_age_secs {
        cookie.set_max_age(cookie::time::Duration::seconds(
            i64::try_from(secs).unwrap_or(i64::MAX),
        ));
    }
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Hex SHA-256 of a session token (what the store keys sessions by).
pub fn session_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// `bytes` random bytes as hex.
pub fn random_hex(bytes: usize) -> Result<String, ApiError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(ApiError::internal)?;
    Ok(hex::encode(buf))
}

/// Methods that never change state (no CSRF token needed).
pub fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Equality that does not stop at the first differing byte.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// 401 with `WWW-Authenticate`-worthy code and message.
pub fn unauthorized(code: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, code, message)
}

/// 403.
pub fn forbidden(code: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, code, message)
}

fn session_expired() -> ApiError {
    unauthorized(
        "SESSION_EXPIRED",
        "the session has expired or was ended; sign in again at /auth/login",
    )
}

/// The CSRF failure answer.
pub fn csrf_failed() -> ApiError {
    forbidden(
        "CSRF_TOKEN_INVALID",
        "this cookie-authenticated request changes state and needs the session's CSRF token in \
         the `X-CSRF-Token` header (GET /auth/me returns it)",
    )
}

/// Now, unix ms.
pub fn now_ms() -> i64 {
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}

fn minutes_ms(minutes: u64) -> i64 {
    i64::try_from(minutes.saturating_mul(60_000)).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_and_cookies_are_parsed() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  abc "),
        );
        assert_eq!(bearer_token(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&headers), None);
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; kiln_session=tok; b=2"),
        );
        assert_eq!(
            cookie_value(&headers, SESSION_COOKIE).as_deref(),
            Some("tok")
        );
        assert_eq!(cookie_value(&headers, "missing"), None);
    }

    #[test]
    fn cookies_are_http_only_lax_and_secure_when_asked() {
        let value = cookie_header(SESSION_COOKIE, "t", true, true, Some(60));
        let text = value.to_str().unwrap();
        for part in [
            "kiln_session=t",
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
            "Path=/",
            "Max-Age=60",
        ] {
            assert!(text.contains(part), "{text} lacks {part}");
        }
        let plain = cookie_header(CSRF_COOKIE, "c", false, false, None);
        assert!(!plain.to_str().unwrap().contains("HttpOnly"));
        assert!(!plain.to_str().unwrap().contains("Secure"));
    }

    #[test]
    fn constant_time_eq_compares_whole_strings() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
