//! A small OpenID provider for tests, on 127.0.0.1:0: discovery, JWKS, `/authorize` (no UI: it
//! logs the configured user straight in), `/token` (client auth, single-use codes bound to the
//! redirect URI, PKCE S256) and `/userinfo`. ID tokens are RS256-signed with the fixed key in
//! `tests/fixtures/oidc_test_key.pem`.
//!
//! ```ignore
//! let provider = OidcTestProvider::start().await;
//! provider.set_user("user-1", Some("ada@example.com"), Some("Ada"));
//! let config = provider.config(); // issuer = provider.issuer, CLIENT_ID, CLIENT_SECRET
//! ```
//!
//! [`Tamper`] makes the provider misbehave in one way, to test that the client notices.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use kiln::oidc::OidcProviderConfig;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The provider's signing key (RSA 2048, PKCS#1 PEM).
const SIGNING_KEY_PEM: &str = include_str!("../fixtures/oidc_test_key.pem");
/// Another RSA key, not in the JWKS: tokens signed with it must be rejected.
const FOREIGN_KEY_PEM: &str = include_str!("../fixtures/oidc_other_key.pem");
/// The `kid` of the signing key in the JWKS and in ID token headers.
pub const KEY_ID: &str = "kiln-test-key";

pub const CLIENT_ID: &str = "kiln-test-client";
pub const CLIENT_SECRET: &str = "kiln-test-secret";

/// The user `/authorize` logs in.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
}

/// One way for the provider to misbehave when it issues an ID token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Tamper {
    #[default]
    None,
    /// `nonce` is not the one sent to `/authorize`.
    WrongNonce,
    /// Signed with a key that is not in the JWKS (but with the JWKS key's `kid`).
    ForeignKey,
    /// `aud` is another client.
    WrongAudience,
    /// `exp` is an hour ago.
    Expired,
    /// `iss` is another issuer.
    WrongIssuer,
    /// `at_hash` does not match the access token.
    WrongAccessTokenHash,
}

/// What `/authorize` received, for assertions.
#[derive(Clone, Debug)]
pub struct AuthorizeRecord {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
}

/// What `/token` received and concluded, for assertions.
#[derive(Clone, Debug)]
pub struct TokenRecord {
    /// Client id and secret were right.
    pub client_authenticated: bool,
    /// How the client authenticated: `client_secret_basic`, `client_secret_post` or `none`.
    pub auth_method: &'static str,
    /// A `code_verifier` was sent and hashed (S256) to the code's challenge.
    pub pkce_verified: bool,
    /// Tokens were issued.
    pub issued: bool,
    /// The OAuth error answered instead, if any.
    pub error: Option<String>,
}

struct Grant {
    client_id: String,
    redirect_uri: String,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    user: TestUser,
}

struct Inner {
    issuer: String,
    client_secret: String,
    user: TestUser,
    tamper: Tamper,
    codes: HashMap<String, Grant>,
    access_tokens: HashMap<String, TestUser>,
    authorize_log: Vec<AuthorizeRecord>,
    token_log: Vec<TokenRecord>,
}

#[derive(Clone)]
struct Shared {
    inner: Arc<Mutex<Inner>>,
    key: Arc<EncodingKey>,
    foreign_key: Arc<EncodingKey>,
    jwks: Arc<Value>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running test provider; stops when dropped.
pub struct OidcTestProvider {
    /// The issuer URL (`http://127.0.0.1:<port>`, no trailing slash): use it as `issuer`.
    pub issuer: String,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for OidcTestProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl OidcTestProvider {
    /// Starts a provider whose user is `test-user` / `test@example.com` (verified) / `Test User`.
    pub async fn start() -> OidcTestProvider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let issuer = format!("http://{}", listener.local_addr().expect("addr"));
        let key = EncodingKey::from_rsa_pem(SIGNING_KEY_PEM.as_bytes()).expect("signing key");
        let foreign_key =
            EncodingKey::from_rsa_pem(FOREIGN_KEY_PEM.as_bytes()).expect("foreign key");
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::RS256).expect("jwk");
        jwk.common.key_id = Some(KEY_ID.to_string());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        let jwks = serde_json::to_value(JwkSet { keys: vec![jwk] }).expect("jwks json");
        let shared = Shared {
            inner: Arc::new(Mutex::new(Inner {
                issuer: issuer.clone(),
                client_secret: CLIENT_SECRET.to_string(),
                user: TestUser {
                    subject: "test-user".into(),
                    email: Some("test@example.com".into()),
                    email_verified: true,
                    name: Some("Test User".into()),
                },
                tamper: Tamper::None,
                codes: HashMap::new(),
                access_tokens: HashMap::new(),
                authorize_log: Vec::new(),
                token_log: Vec::new(),
            })),
            key: Arc::new(key),
            foreign_key: Arc::new(foreign_key),
            jwks: Arc::new(jwks),
        };
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route(
                "/redirecting/.well-known/openid-configuration",
                get(redirecting_discovery),
            )
            .route("/jwks", get(jwks_handler))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        OidcTestProvider {
            issuer,
            shared,
            task,
        }
    }

    /// A client config for this provider with the right id and secret.
    pub fn config(&self) -> OidcProviderConfig {
        OidcProviderConfig {
            issuer: self.issuer.clone(),
            client_id: CLIENT_ID.to_string(),
            client_secret: Some(CLIENT_SECRET.to_string()),
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
            display_name: Some("Test IdP".into()),
        }
    }

    /// The user the next `/authorize` logs in (e-mail marked verified).
    pub fn set_user(&self, subject: &str, email: Option<&str>, name: Option<&str>) {
        self.set_test_user(TestUser {
            subject: subject.to_string(),
            email: email.map(String::from),
            email_verified: true,
            name: name.map(String::from),
        });
    }

    /// The user the next `/authorize` logs in, every field given.
    pub fn set_test_user(&self, user: TestUser) {
        self.shared.lock().user = user;
    }

    /// Make ID tokens issued from now on wrong in one way.
    pub fn tamper(&self, tamper: Tamper) {
        self.shared.lock().tamper = tamper;
    }

    /// Every `/authorize` request so far.
    pub fn authorize_requests(&self) -> Vec<AuthorizeRecord> {
        self.shared.lock().authorize_log.clone()
    }

    /// Every `/token` request so far.
    pub fn token_requests(&self) -> Vec<TokenRecord> {
        self.shared.lock().token_log.clone()
    }
}

async fn discovery(State(shared): State<Shared>) -> Json<Value> {
    let issuer = shared.lock().issuer.clone();
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nonce", "email", "email_verified", "name"],
    }))
}

/// A discovery URL that redirects to the real one: clients must not follow it.
async fn redirecting_discovery(State(shared): State<Shared>) -> Redirect {
    let issuer = shared.lock().issuer.clone();
    Redirect::temporary(&format!("{issuer}/.well-known/openid-configuration"))
}

async fn jwks_handler(State(shared): State<Shared>) -> Json<Value> {
    Json((*shared.jwks).clone())
}

fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, message.to_string()).into_response()
}

/// Logs the configured user in at once and redirects back with `code` and `state`.
async fn authorize(
    State(shared): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let param = |name: &str| q.get(name).cloned();
    let (Some(client_id), Some(redirect_uri)) = (param("client_id"), param("redirect_uri")) else {
        return bad_request("client_id and redirect_uri are required");
    };
    if client_id != CLIENT_ID {
        return bad_request("unknown client_id");
    }
    let Ok(mut location) = reqwest::Url::parse(&redirect_uri) else {
        return bad_request("redirect_uri is not a URL");
    };
    if param("response_type").as_deref() != Some("code") {
        return bad_request("only response_type=code is supported");
    }
    let scope = param("scope").unwrap_or_default();
    if !scope.split(' ').any(|s| s == "openid") {
        return bad_request("scope must include openid");
    }
    let code = uuid::Uuid::new_v4().simple().to_string();
    {
        let mut inner = shared.lock();
        inner.authorize_log.push(AuthorizeRecord {
            client_id: client_id.clone(),
            redirect_uri: redirect_uri.clone(),
            scope,
            code_challenge: param("code_challenge"),
            code_challenge_method: param("code_challenge_method"),
        });
        let user = inner.user.clone();
        inner.codes.insert(
            code.clone(),
            Grant {
                client_id,
                redirect_uri,
                nonce: param("nonce"),
                code_challenge: param("code_challenge"),
                code_challenge_method: param("code_challenge_method"),
                user,
            },
        );
    }
    {
        let mut query = location.query_pairs_mut();
        query.append_pair("code", &code);
        if let Some(state) = param("state") {
            query.append_pair("state", &state);
        }
    }
    Redirect::to(location.as_str()).into_response()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"kiln-test-idp\""),
        );
    }
    response
}

fn form_decode(value: &str) -> String {
    openidconnect::url::form_urlencoded::parse(format!("v={value}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// `(client_id, client_secret, method)` from HTTP Basic or from the form body.
fn client_credentials(
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> (Option<String>, Option<String>, &'static str) {
    if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    {
        let decoded = STANDARD
            .decode(basic.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default();
        let (id, secret) = decoded.split_once(':').unwrap_or((&decoded, ""));
        return (
            Some(form_decode(id)),
            Some(form_decode(secret)),
            "client_secret_basic",
        );
    }
    match form.get("client_secret") {
        Some(secret) => (
            form.get("client_id").cloned(),
            Some(secret.clone()),
            "client_secret_post",
        ),
        None => (form.get("client_id").cloned(), None, "none"),
    }
}

async fn token(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut record = TokenRecord {
        client_authenticated: false,
        auth_method: "none",
        pkce_verified: false,
        issued: false,
        error: None,
    };
    let result = issue_tokens(&shared, &headers, &form, &mut record);
    if let Err((_, error, _)) = &result {
        record.error = Some(error.to_string());
    }
    shared.lock().token_log.push(record);
    match result {
        Ok(body) => ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response(),
        Err((status, error, description)) => oauth_error(status, error, &description),
    }
}

type OAuthError = (StatusCode, &'static str, String);

fn issue_tokens(
    shared: &Shared,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
    record: &mut TokenRecord,
) -> Result<Value, OAuthError> {
    let (client_id, secret, method) = client_credentials(headers, form);
    record.auth_method = method;
    let mut inner = shared.lock();
    if client_id.as_deref() != Some(CLIENT_ID) || secret.as_deref() != Some(&inner.client_secret) {
        return Err((
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed".into(),
        ));
    }
    record.client_authenticated = true;
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return Err((
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only authorization_code".into(),
        ));
    }
    let code = form.get("code").cloned().unwrap_or_default();
    // Codes are single-use: taken out whatever happens next.
    let Some(grant) = inner.codes.remove(&code) else {
        return Err((
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "unknown or already used code".into(),
        ));
    };
    if grant.client_id != CLIENT_ID {
        return Err((
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "code was issued to another client".into(),
        ));
    }
    if form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return Err((
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "redirect_uri differs from the one sent to /authorize".into(),
        ));
    }
    if let Some(challenge) = &grant.code_challenge {
        if grant.code_challenge_method.as_deref() != Some("S256") {
            return Err((
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "only code_challenge_method=S256".into(),
            ));
        }
        let Some(verifier) = form.get("code_verifier") else {
            return Err((
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "code_verifier missing".into(),
            ));
        };
        if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != *challenge {
            return Err((
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "code_verifier does not match code_challenge".into(),
            ));
        }
        record.pkce_verified = true;
    }

    let access_token = uuid::Uuid::new_v4().simple().to_string();
    let digest = Sha256::digest(access_token.as_bytes());
    let mut at_hash = URL_SAFE_NO_PAD.encode(&digest[..16]);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let tamper = inner.tamper;
    let user = grant.user.clone();
    let mut claims = json!({
        "iss": inner.issuer,
        "sub": user.subject,
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 300,
        "email_verified": user.email_verified,
    });
    if let Some(nonce) = &grant.nonce {
        claims["nonce"] = json!(nonce);
    }
    if let Some(email) = &user.email {
        claims["email"] = json!(email);
    }
    if let Some(name) = &user.name {
        claims["name"] = json!(name);
    }
    let mut key = &shared.key;
    match tamper {
        Tamper::None => {}
        Tamper::WrongNonce => claims["nonce"] = json!("not-the-nonce-you-sent"),
        Tamper::ForeignKey => key = &shared.foreign_key,
        Tamper::WrongAudience => claims["aud"] = json!("some-other-client"),
        Tamper::Expired => {
            claims["iat"] = json!(now - 7200);
            claims["exp"] = json!(now - 3600);
        }
        Tamper::WrongIssuer => claims["iss"] = json!("https://evil.example.com"),
        Tamper::WrongAccessTokenHash => at_hash = URL_SAFE_NO_PAD.encode([0u8; 16]),
    }
    claims["at_hash"] = json!(at_hash);
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(KEY_ID.to_string());
    let id_token = jsonwebtoken::encode(&header, &claims, key).map_err(|e| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            e.to_string(),
        )
    })?;
    inner.access_tokens.insert(access_token.clone(), user);
    record.issued = true;
    Ok(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 3600,
        "id_token": id_token,
        "scope": "openid email profile",
    }))
}

async fn userinfo(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();
    let Some(user) = shared.lock().access_tokens.get(&token).cloned() else {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
        )
            .into_response();
    };
    Json(json!({
        "sub": user.subject,
        "email": user.email,
        "email_verified": user.email_verified,
        "name": user.name,
    }))
    .into_response()
}
