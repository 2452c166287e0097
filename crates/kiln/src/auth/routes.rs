//! The `/auth/*` endpoints: the login page and local password login (HTML form or JSON),
//! logout, `/auth/me`, and OIDC sign-in (see [`crate::auth::oidc_routes`]). Failed logins are
//! throttled per account and per client address and audited.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, Query, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Deserialize;
use serde_json::json;

use super::client::ClientMeta;
use super::{AuthMethod, SESSION_COOKIE, cookie_value, csrf_failed, password, unauthorized};
use crate::api::users::user_view;
use crate::error::ApiError;
use crate::server::AppState;

/// The `/auth` router (nested by the server).
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/me", get(me))
        .merge(super::oidc_routes::router())
}

/// Query of the login page and form: where to go after signing in.
#[derive(Deserialize, Default)]
pub struct NextQuery {
    next: Option<String>,
    error: Option<String>,
}

/// Only same-site relative paths are followed after login (no open redirects).
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control) =>
        {
            path
        }
        _ => "/engine/",
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// `GET /auth/login`: a plain HTML form (and links to OIDC providers).
async fn login_page(
    State(state): State<Arc<AppState>>,
    Query(query): Query<NextQuery>,
) -> Response {
    let next = escape(safe_next(query.next.as_deref()));
    let error = query
        .error
        .as_deref()
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    let providers: String = state
        .oidc
        .names()
        .map(|(name, label)| {
            format!(
                "<p><a href=\"/auth/oidc/{}/start?next={}\">Sign in with {}</a></p>",
                escape(name),
                escape(&urlencode(safe_next(query.next.as_deref()))),
                escape(label)
            )
        })
        .collect();
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign in · Kiln</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head><body>\
         <main><h1>Sign in to Kiln</h1>{error}\
         <form method=\"post\" action=\"/auth/login\">\
         <input type=\"hidden\" name=\"next\" value=\"{next}\">\
         <p><label>Email <input name=\"email\" type=\"email\" autocomplete=\"username\" required></label></p>\
         <p><label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label></p>\
         <p><button type=\"submit\">Sign in</button></p></form>{providers}</main></body></html>"
    ))
    .into_response()
}

/// Login credentials (JSON or form).
#[derive(Deserialize)]
struct Credentials {
    email: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

/// `POST /auth/login`: JSON `{"email","password"}` (answers JSON with the CSRF token) or an
/// HTML form (answers a redirect). Starts a fresh session; the previous one, if the browser
/// had one, ends (session rotation).
async fn login(
    State(state): State<Arc<AppState>>,
    Extension(client): Extension<ClientMeta>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let parsed: Result<Credentials, String> = if is_form {
        serde_urlencoded_credentials(&body)
    } else {
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    };
    let credentials = match parsed {
        Ok(c) => c,
        Err(e) => {
            return ApiError::bad_request(format!(
                "expected {{\"email\": \"…\", \"password\": \"…\"}} (JSON or a form): {e}"
            ))
            .into_response();
        }
    };
    let next = safe_next(credentials.next.as_deref()).to_owned();
    match password_login(&state, &client, &headers, credentials).await {
        Ok((user, session)) => {
            let mut response = if is_form {
                (StatusCode::SEE_OTHER, [(header::LOCATION, next)]).into_response()
            } else {
                Json(json!({ "user": user_view(&user), "csrf_token": session.csrf_token }))
                    .into_response()
            };
            for cookie in session.cookies {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(error) if is_form => {
            let location = format!(
                "/auth/login?error={}&next={}",
                urlencode(&error.message),
                urlencode(&next)
            );
            let mut response =
                (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
            if let Some(retry) = error_retry_after(&error) {
                response.headers_mut().insert(header::RETRY_AFTER, retry);
            }
            response
        }
        Err(error) => {
            let retry = error_retry_after(&error);
            let mut response = error.error.into_response();
            if let Some(retry) = retry {
                response.headers_mut().insert(header::RETRY_AFTER, retry);
            }
            response
        }
    }
}

/// A failed login and how long to wait, if throttled.
struct LoginFailure {
    error: ApiError,
    message: String,
    retry_after_secs: Option<u64>,
}

fn error_retry_after(error: &LoginFailure) -> Option<HeaderValue> {
    error
        .retry_after_secs
        .and_then(|s| HeaderValue::from_str(&s.to_string()).ok())
}

impl From<ApiError> for LoginFailure {
    fn from(error: ApiError) -> Self {
        LoginFailure {
            message: error.message.clone(),
            error,
            retry_after_secs: None,
        }
    }
}

async fn password_login(
    state: &AppState,
    client: &ClientMeta,
    headers: &HeaderMap,
    credentials: Credentials,
) -> Result<(kiln_store::UserRecord, super::NewSession), LoginFailure> {
    let auth = &state.auth;
    let email = credentials.email.trim().to_lowercase();
    if let Some(wait) = auth.throttle.check(&email, &client.ip) {
        let secs = wait.as_secs().max(1);
        auth.audit(
            None,
            "login_throttled",
            Some(email.clone()),
            Some(client),
            json!({ "retry_after_secs": secs }),
        )
        .await;
        let error = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "LOGIN_THROTTLED",
            format!("too many failed sign-in attempts; try again in {secs} seconds"),
        );
        return Err(LoginFailure {
            message: error.message.clone(),
            error,
            retry_after_secs: Some(secs),
        });
    }
    let user = auth
        .store()
        .get_user_by_email(&email)
        .await
        .map_err(ApiError::from)?;
    let stored = user
        .as_ref()
        .filter(|u| !u.disabled)
        .and_then(|u| u.password_hash.clone());
    let ok = password::verify(credentials.password, stored)
        .await
        .map_err(ApiError::internal)?;
    let Some(user) = user.filter(|u| ok && !u.disabled) else {
        auth.throttle.failed(&email, &client.ip);
        auth.audit(None, "login_failed", Some(email), Some(client), json!({}))
            .await;
        return Err(unauthorized("INVALID_CREDENTIALS", "wrong email or password").into());
    };
    auth.throttle.succeeded(&email);
    let previous = cookie_value(headers, SESSION_COOKIE);
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let session = auth
        .create_session(&user, previous.as_deref(), client, user_agent)
        .await?;
    auth.audit_as(
        Some(user.id),
        user.email.clone(),
        "login",
        Some(user.email.clone()),
        Some(client),
        json!({ "method": "password" }),
    )
    .await;
    Ok((user, session))
}

fn serde_urlencoded_credentials(body: &[u8]) -> Result<Credentials, String> {
    let mut email = None;
    let mut password = None;
    let mut next = None;
    for (key, value) in form_urlencoded::parse(body) {
        match key.as_ref() {
            "email" => email = Some(value.into_owned()),
            "password" => password = Some(value.into_owned()),
            "next" => next = Some(value.into_owned()),
            _ => {}
        }
    }
    match (email, password) {
        (Some(email), Some(password)) => Ok(Credentials {
            email,
            password,
            next,
        }),
        _ => Err("the form needs email and password".to_owned()),
    }
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// `POST /auth/logout`: ends the session. Needs the CSRF token (`X-CSRF-Token` header, or a
/// `_csrf` form field).
async fn logout(
    State(state): State<Arc<AppState>>,
    Extension(client): Extension<ClientMeta>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = state
        .auth
        .authenticate(&http::Method::POST, &headers)
        .await?
        .ok_or_else(|| unauthorized("UNAUTHORIZED", "not signed in"))?;
    let AuthMethod::Session {
        id_hash,
        csrf_token,
        csrf_ok,
    } = &caller.method
    else {
        return Err(ApiError::bad_request(
            "logout ends a browser session; API keys are revoked instead",
        ));
    };
    let form_token = form_urlencoded::parse(&body)
        .find(|(k, _)| k == "_csrf")
        .map(|(_, v)| v.into_owned());
    let form_ok = form_token.is_some_and(|t| super::constant_time_eq(&t, csrf_token));
    if !csrf_ok && !form_ok {
        return Err(csrf_failed());
    }
    state.auth.store().delete_session(id_hash).await?;
    state
        .auth
        .audit(Some(&caller), "logout", None, Some(&client), json!({}))
        .await;
    let mut response = StatusCode::NO_CONTENT.into_response();
    for cookie in state.auth.clear_cookies(&client) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// `GET /auth/me`: the signed-in user (session or API key) and, for sessions, the CSRF token.
async fn me(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let caller = state
        .auth
        .authenticate(&http::Method::GET, &headers)
        .await?
        .ok_or_else(|| unauthorized("UNAUTHORIZED", "not signed in"))?;
    let Some(user) = &caller.user else {
        return Ok(Json(json!({ "user": null, "bootstrap": true })).into_response());
    };
    let csrf = match &caller.method {
        AuthMethod::Session { csrf_token, .. } => Some(csrf_token.clone()),
        _ => None,
    };
    let key = caller.api_key.as_deref().map(crate::api::keys::key_view);
    Ok(
        Json(json!({ "user": user_view(user), "csrf_token": csrf, "api_key": key }))
            .into_response(),
    )
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_relative_paths_are_followed() {
        assert_eq!(safe_next(Some("/engine/scripts")), "/engine/scripts");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil",
            "evil",
            "/\t/evil.example",
        ] {
            assert_eq!(safe_next(Some(bad)), "/engine/", "{bad}");
        }
        assert_eq!(safe_next(None), "/engine/");
    }
}
