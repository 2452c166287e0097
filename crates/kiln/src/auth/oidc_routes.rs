//! OIDC sign-in endpoints and the registry of configured providers.
//!
//! `GET /auth/oidc/{provider}/start?next=/path` discovers the provider (once, then cached),
//! remembers the login's state, nonce and PKCE verifier server-side for ten minutes, binds the
//! state to the browser with a short-lived HttpOnly cookie (so a login cannot be planted in
//! someone else's browser), and redirects to the provider. `GET /auth/oidc/{provider}/callback`
//! checks the state against both, exchanges the code, and signs the user in: an identity
//! already linked to an account uses it; otherwise a verified email that matches an account is
//! linked to it; otherwise a new account with the `user` role is created.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Extension, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use kiln_store::{NewUser, UserRecord};
use serde::Deserialize;
use serde_json::json;

use super::client::ClientMeta;
use super::{SESSION_COOKIE, cookie_value};
use crate::error::ApiError;
use crate::oidc::{OidcIdentity, OidcProvider, OidcProviderConfig, PendingLogin};
use crate::server::AppState;

/// Cookie binding a pending login to the browser that started it.
const STATE_COOKIE: &str = "kiln_oidc_state";
/// How long a started login may take.
const PENDING_TTL: Duration = Duration::from_secs(600);
/// Most logins pending at once (older ones are dropped first).
const MAX_PENDING: usize = 10_000;

/// A login waiting for the provider's callback.
struct Pending {
    login: PendingLogin,
    next: String,
    started: Instant,
}

/// The configured OIDC providers, discovered on first use.
#[derive(Default)]
pub struct OidcRegistry {
    configs: BTreeMap<String, OidcProviderConfig>,
    public_url: Option<String>,
    discovered: tokio::sync::Mutex<HashMap<(String, String), Arc<OidcProvider>>>,
    pending: Mutex<HashMap<String, Pending>>,
}

impl OidcRegistry {
    /// A registry of `configs`; redirect URLs are built from `public_url` when set, else from
    /// each request's host.
    pub fn new(configs: BTreeMap<String, OidcProviderConfig>, public_url: Option<String>) -> Self {
        OidcRegistry {
            configs,
            public_url,
            ..OidcRegistry::default()
        }
    }

    /// `(name, label)` of every configured provider.
    pub fn names(&self) -> impl Iterator<Item = (&str, &str)> {
        self.configs.iter().map(|(name, config)| {
            (
                name.as_str(),
                config.display_name.as_deref().unwrap_or(name.as_str()),
            )
        })
    }

    async fn provider(&self, name: &str, redirect: &str) -> Result<Arc<OidcProvider>, ApiError> {
        let config = self.configs.get(name).ok_or_else(|| {
            ApiError::not_found(
                "OIDC_PROVIDER_NOT_FOUND",
                format!("no OIDC provider called {name:?} is configured"),
            )
        })?;
        let key = (name.to_owned(), redirect.to_owned());
        let mut discovered = self.discovered.lock().await;
        if let Some(provider) = discovered.get(&key) {
            return Ok(provider.clone());
        }
        let provider = OidcProvider::discover(name, config, redirect)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, provider = name, "OIDC discovery failed");
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "OIDC_PROVIDER_UNAVAILABLE",
                    e.to_string(),
                )
            })?;
        let provider = Arc::new(provider);
        discovered.insert(key, provider.clone());
        Ok(provider)
    }

    fn remember(&self, login: PendingLogin, next: String) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.retain(|_, p| p.started.elapsed() < PENDING_TTL);
            if pending.len() >= MAX_PENDING
                && let Some(oldest) = pending
                    .iter()
                    .min_by_key(|(_, p)| p.started)
                    .map(|(k, _)| k.clone())
            {
                pending.remove(&oldest);
            }
            pending.insert(
                login.state().to_owned(),
                Pending {
                    login,
                    next,
                    started: Instant::now(),
                },
            );
        }
    }

    fn take(&self, state: &str) -> Option<Pending> {
        let mut pending = self.pending.lock().ok()?;
        pending
            .remove(state)
            .filter(|p| p.started.elapsed() < PENDING_TTL)
    }

    fn redirect_url(&self, headers: &HeaderMap, client: &ClientMeta, name: &str) -> String {
        let base = match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => {
                let host = headers
                    .get(header::HOST)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("localhost");
                let scheme = if client.secure { "https" } else { "http" };
                format!("{scheme}://{host}")
            }
        };
        format!("{base}/auth/oidc/{name}/callback")
    }
}

/// The OIDC routes.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/oidc/{provider}/start", get(start))
        .route("/oidc/{provider}/callback", get(callback))
}

/// Query of `start`.
#[derive(Deserialize)]
struct StartQuery {
    next: Option<String>,
}

async fn start(
    State(state): State<Arc<AppState>>,
    Extension(client): Extension<ClientMeta>,
    Path(name): Path<String>,
    Query(query): Query<StartQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let redirect = state.oidc.redirect_url(&headers, &client, &name);
    let provider = state.oidc.provider(&name, &redirect).await?;
    let (url, login) = provider.begin();
    let cookie = state_cookie(login.state(), client.secure, 600);
    let next = super::routes::safe_next(query.next.as_deref());
    // Browsers drop tabs and newlines from URLs (`/\t/evil.example` becomes the off-site
    // `//evil.example`), and such characters cannot go in a `Location` header at all.
    let next = if next.chars().any(char::is_control) {
        super::routes::safe_next(None)
    } else {
        next
    }
    .to_owned();
    state.oidc.remember(login, next);
    let mut response = Redirect::to(&url).into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

/// Query of the callback.
#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn callback(
    State(state): State<Arc<AppState>>,
    Extension(client): Extension<ClientMeta>,
    Path(name): Path<String>,
    Query(query): Query<CallbackQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(error) = query.error {
        let detail = query.error_description.unwrap_or_default();
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "OIDC_LOGIN_FAILED",
            format!("the provider refused the sign-in: {error} {detail}"),
        ));
    }
    let (Some(code), Some(returned_state)) = (query.code, query.state) else {
        return Err(ApiError::bad_request(
            "the OIDC callback needs `code` and `state` query parameters",
        ));
    };
    let cookie_state = cookie_value(&headers, STATE_COOKIE);
    let bound = cookie_state.is_some_and(|c| super::constant_time_eq(&c, &returned_state));
    let pending = state.oidc.take(&returned_state);
    let Some(pending) = pending.filter(|p| bound && p.login.provider() == name) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "OIDC_STATE_INVALID",
            "this sign-in was not started in this browser or has expired; start again at /auth/login",
        ));
    };
    let redirect = state.oidc.redirect_url(&headers, &client, &name);
    let provider = state.oidc.provider(&name, &redirect).await?;
    let identity = provider
        .complete(&pending.login, &code)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, provider = %name, "OIDC sign-in failed");
            ApiError::new(StatusCode::UNAUTHORIZED, "OIDC_LOGIN_FAILED", e.to_string())
        })?;
    let user = match account_for(&state, &identity).await {
        Ok(user) => user,
        Err(error) => {
            state
                .auth
                .audit(
                    None,
                    "login_failed",
                    identity.email.clone(),
                    Some(&client),
                    json!({ "method": "oidc", "provider": name, "reason": error.message }),
                )
                .await;
            return Err(error);
        }
    };
    let previous = cookie_value(&headers, SESSION_COOKIE);
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let session = state
        .auth
        .create_session(&user, previous.as_deref(), &client, user_agent)
        .await?;
    state
        .auth
        .audit_as(
            Some(user.id),
            user.email.clone(),
            "login",
            Some(user.email.clone()),
            Some(&client),
            json!({ "method": "oidc", "provider": name, "subject": identity.subject }),
        )
        .await;
    let mut response = Redirect::to(&pending.next).into_response();
    for cookie in session.cookies {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
        .headers_mut()
        .append(header::SET_COOKIE, state_cookie("", client.secure, 0));
    Ok(response)
}

/// The account an identity signs in to (linking or creating it when needed).
async fn account_for(state: &AppState, identity: &OidcIdentity) -> Result<UserRecord, ApiError> {
    let store = state.auth.store();
    let user = match store
        .find_user_by_identity(&identity.issuer, &identity.subject)
        .await?
    {
        Some(user) => user,
        None => {
            let email = identity
                .email
                .clone()
                .filter(|_| identity.email_verified)
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::FORBIDDEN,
                        "OIDC_EMAIL_UNVERIFIED",
                        "the provider did not vouch for an email address; Kiln needs a verified \
                         email to create or link an account",
                    )
                })?;
            let user = match store.get_user_by_email(&email).await? {
                Some(existing) => existing,
                None => {
                    store
                        .create_user(&NewUser {
                            email,
                            display_name: identity.name.clone(),
                            password_hash: None,
                            roles: vec!["user".to_owned()],
                            allowed_tiers: vec!["free".to_owned()],
                        })
                        .await?
                }
            };
            store
                .link_identity(&identity.issuer, &identity.subject, user.id)
                .await?;
            user
        }
    };
    if user.disabled {
        return Err(super::unauthorized(
            "ACCOUNT_DISABLED",
            "this account is disabled",
        ));
    }
    Ok(user)
}

fn state_cookie(value: &str, secure: bool, max_age: i64) -> HeaderValue {
    let mut cookie = cookie::Cookie::new(STATE_COOKIE, value.to_owned());
    cookie.set_path("/auth/oidc");
    cookie.set_http_only(true);
    cookie.set_secure(secure);
    cookie.set_same_site(cookie::SameSite::Lax);
    cookie.set_max_age(cookie::time::Duration::seconds(max_age));
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}
