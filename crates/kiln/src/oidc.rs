//! OpenID Connect login (authorization-code flow with PKCE) against configured providers: the
//! `[auth.oidc.<name>]` settings ([`OidcProviderConfig`]), discovery of a provider's endpoints and
//! signing keys ([`OidcProvider::discover`]), the authorize URL plus the server-side state a login
//! needs until the browser comes back ([`OidcProvider::begin`], [`PendingLogin`]), and the code
//! exchange with ID-token verification that yields who logged in ([`OidcProvider::complete`],
//! [`OidcIdentity`]). It owns no sessions or storage: the caller keeps [`PendingLogin`] keyed by
//! its `state`, checks the callback's `state` against it, and decides what an identity may do.

use std::fmt;
use std::time::Duration;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreClientAuthMethod, CoreJsonWebKeySet,
    CoreProviderMetadata,
};
use openidconnect::{
    AccessTokenHash, AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};

/// How long one request to a provider (discovery, keys, token exchange) may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(15);

/// One OpenID provider as configured under `[auth.oidc.<name>]`.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderConfig {
    /// The issuer URL, exactly as the provider states it in its discovery document
    /// (e.g. `https://accounts.google.com`). `/.well-known/openid-configuration` is appended.
    pub issuer: String,
    /// The client id registered with the provider.
    pub client_id: String,
    /// The client secret; `None` for a public client (PKCE alone protects the code).
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Scopes to request; `openid` is always requested whether listed or not.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Name shown on the login button; defaults to the provider's config name.
    #[serde(default)]
    pub display_name: Option<String>,
}

fn default_scopes() -> Vec<String> {
    ["openid", "email", "profile"]
        .into_iter()
        .map(String::from)
        .collect()
}

/// Why an OpenID Connect step failed. Messages name the provider, the URL involved and the cause.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The configuration (or the redirect URL) cannot be used as given.
    #[error("OIDC provider `{provider}` is misconfigured: {reason}")]
    Config {
        /// The provider's config name.
        provider: String,
        /// What is wrong and what to change.
        reason: String,
    },
    /// Fetching or validating the discovery document or the signing keys failed.
    #[error("OIDC discovery for provider `{provider}` failed at {url}: {reason}")]
    Discovery {
        /// The provider's config name.
        provider: String,
        /// The URL that was being fetched.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The token endpoint refused the authorization code or could not be reached.
    #[error("OIDC token exchange with provider `{provider}` at {url} failed: {reason}")]
    TokenExchange {
        /// The provider's config name.
        provider: String,
        /// The token endpoint.
        url: String,
        /// What went wrong (the provider's `error`/`error_description` when it sent one).
        reason: String,
    },
    /// The provider answered, but its ID token does not prove who logged in.
    #[error("ID token from OIDC provider `{provider}` is invalid: {reason}")]
    InvalidIdToken {
        /// The provider's config name.
        provider: String,
        /// Which check failed.
        reason: String,
    },
    /// The pending login was started for another provider.
    #[error(
        "this login was started with OIDC provider `{expected}`, not `{actual}`; start the login again"
    )]
    ProviderMismatch {
        /// The provider the login was started with.
        expected: String,
        /// The provider asked to complete it.
        actual: String,
    },
}

/// A login in progress: what [`OidcProvider::complete`] needs once the browser returns.
///
/// Keep it server-side, keyed by [`PendingLogin::state`], for a few minutes; it holds the PKCE
/// verifier and the nonce, which must never reach the browser.
#[derive(Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    provider: String,
    state: String,
    nonce: String,
    pkce_verifier: String,
}

impl PendingLogin {
    /// The CSRF `state` sent to the provider; the callback's `state` query parameter must equal it.
    pub fn state(&self) -> &str {
        &self.state
    }

    /// The config name of the provider this login was started with.
    pub fn provider(&self) -> &str {
        &self.provider
    }
}

impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLogin")
            .field("provider", &self.provider)
            .field("state", &self.state)
            .field("nonce", &"[redacted]")
            .field("pkce_verifier", &"[redacted]")
            .finish()
    }
}

/// Who logged in, from a verified ID token. `(issuer, subject)` is the stable identity; the
/// e-mail can change and is only trustworthy when `email_verified`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcIdentity {
    /// The `iss` claim (the provider's issuer URL).
    pub issuer: String,
    /// The `sub` claim: the user's id at that issuer.
    pub subject: String,
    /// The `email` claim, if the provider sent one.
    pub email: Option<String>,
    /// The `email_verified` claim; `false` when absent.
    pub email_verified: bool,
    /// The `name` claim (default language), if sent.
    pub name: Option<String>,
}

/// The client after discovery: authorization and token endpoints known.
type DiscoveredClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
    EndpointMaybeSet,
>;

/// A discovered provider, ready to start and complete logins. Cheap to share behind an `Arc`.
pub struct OidcProvider {
    name: String,
    display_name: String,
    issuer: String,
    token_url: String,
    scopes: Vec<Scope>,
    client: DiscoveredClient,
    http: reqwest::Client,
}

impl fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcProvider")
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

impl OidcProvider {
    /// Fetches `<issuer>/.well-known/openid-configuration` and the provider's JWKS and builds a
    /// client that sends the browser back to `redirect_url`.
    ///
    /// `http://` issuers are accepted (local and test providers); anything but loopback over
    /// plain HTTP is logged as a warning.
    pub async fn discover(
        name: &str,
        config: &OidcProviderConfig,
        redirect_url: &str,
    ) -> Result<OidcProvider, OidcError> {
        let config_error = |reason: String| OidcError::Config {
            provider: name.to_string(),
            reason,
        };
        let issuer = IssuerUrl::new(config.issuer.clone()).map_err(|e| {
            config_error(format!(
                "`issuer` {:?} is not a URL ({e}); use the provider's issuer, e.g. https://accounts.example.com",
                config.issuer
            ))
        })?;
        let issuer_url = issuer.url();
        match issuer_url.scheme() {
            "https" => {}
            "http" => {
                let loopback = match issuer_url.host() {
                    Some(openidconnect::url::Host::Ipv4(ip)) => ip.is_loopback(),
                    Some(openidconnect::url::Host::Ipv6(ip)) => ip.is_loopback(),
                    Some(openidconnect::url::Host::Domain(d)) => d == "localhost",
                    None => false,
                };
                if !loopback {
                    tracing::warn!(
                        provider = name,
                        issuer = %config.issuer,
                        "OIDC issuer uses plain http; tokens and codes travel unencrypted"
                    );
                }
            }
            other => {
                return Err(config_error(format!(
                    "`issuer` {:?} has scheme `{other}`; it must be https (or http for a local provider)",
                    config.issuer
                )));
            }
        }
        let redirect = RedirectUrl::new(redirect_url.to_string()).map_err(|e| {
            config_error(format!("redirect URL {redirect_url:?} is not a URL ({e})"))
        })?;
        let http = http_client().map_err(|e| config_error(format!("HTTP client: {e}")))?;

        let discovery_url = issuer
            .join(".well-known/openid-configuration")
            .map_err(|e| {
                config_error(format!("cannot build the discovery URL from `issuer`: {e}"))
            })?;
        let discovery_error = |url: &str, reason: String| OidcError::Discovery {
            provider: name.to_string(),
            url: url.to_string(),
            reason,
        };
        let metadata = fetch_metadata(&http, &discovery_url)
            .await
            .map_err(|reason| discovery_error(discovery_url.as_str(), reason))?;
        if metadata.issuer() != &issuer {
            return Err(discovery_error(
                discovery_url.as_str(),
                format!(
                    "the document names issuer `{}` but `issuer` is configured as `{}`; set `issuer` to exactly the provider's value",
                    metadata.issuer().as_str(),
                    issuer.as_str()
                ),
            ));
        }
        let token_url = metadata.token_endpoint().cloned().ok_or_else(|| {
            discovery_error(
                discovery_url.as_str(),
                "the document has no `token_endpoint`; the authorization-code flow needs one"
                    .to_string(),
            )
        })?;
        let jwks_url = metadata.jwks_uri().clone();
        let jwks = CoreJsonWebKeySet::fetch_async(&jwks_url, &http)
            .await
            .map_err(|e| discovery_error(jwks_url.as_str(), error_chain(&e)))?;
        if jwks.keys().is_empty() {
            return Err(discovery_error(
                jwks_url.as_str(),
                "the key set is empty, so no ID token could be verified".to_string(),
            ));
        }

        // client_secret_basic unless the provider says it only takes the secret in the body.
        let auth_type = match metadata.token_endpoint_auth_methods_supported() {
            Some(methods)
                if !methods.contains(&CoreClientAuthMethod::ClientSecretBasic)
                    && methods.contains(&CoreClientAuthMethod::ClientSecretPost) =>
            {
                AuthType::RequestBody
            }
            _ => AuthType::BasicAuth,
        };
        let metadata = metadata.set_jwks(jwks);
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(config.client_id.clone()),
            config.client_secret.clone().map(ClientSecret::new),
        )
        .set_token_uri(token_url.clone())
        .set_redirect_uri(redirect)
        .set_auth_type(auth_type);

        let scopes = config
            .scopes
            .iter()
            .filter(|s| s.as_str() != "openid") // the client always adds `openid`
            .map(|s| Scope::new(s.clone()))
            .collect();
        Ok(OidcProvider {
            name: name.to_string(),
            display_name: config
                .display_name
                .clone()
                .unwrap_or_else(|| name.to_string()),
            issuer: issuer.as_str().to_string(),
            token_url: token_url.as_str().to_string(),
            scopes,
            client,
            http,
        })
    }

    /// The provider's config name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name to show users (`display_name`, else the config name).
    pub fn display_name(&self) -> &str {
        &self.display_name
    }

    /// The issuer URL identities from this provider carry.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Starts a login: the URL to redirect the browser to, and the state to keep until it
    /// returns (fresh random state, nonce and PKCE S256 verifier each call).
    pub fn begin(&self) -> (String, PendingLogin) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = self
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scopes(self.scopes.iter().cloned())
            .set_pkce_challenge(challenge)
            .url();
        let pending = PendingLogin {
            provider: self.name.clone(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        };
        (url.to_string(), pending)
    }

    /// Finishes a login: exchanges `code` (with the PKCE verifier) at the token endpoint and
    /// verifies the ID token's signature, issuer, audience, expiry and nonce. The caller must
    /// already have checked that the callback's `state` equals [`PendingLogin::state`].
    pub async fn complete(
        &self,
        pending: &PendingLogin,
        code: &str,
    ) -> Result<OidcIdentity, OidcError> {
        if pending.provider != self.name {
            return Err(OidcError::ProviderMismatch {
                expected: pending.provider.clone(),
                actual: self.name.clone(),
            });
        }
        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| OidcError::TokenExchange {
                provider: self.name.clone(),
                url: self.token_url.clone(),
                reason: token_error_reason(&e),
            })?;

        let invalid = |reason: String| OidcError::InvalidIdToken {
            provider: self.name.clone(),
            reason,
        };
        let id_token = response.id_token().ok_or_else(|| {
            invalid(
                "the token response has no `id_token` (does the provider treat this client as OpenID Connect?)"
                    .to_string(),
            )
        })?;
        let verifier = self.client.id_token_verifier();
        let nonce = Nonce::new(pending.nonce.clone());
        let claims = id_token
            .claims(&verifier, &nonce)
            .map_err(|e| invalid(error_chain(&e)))?;

        // The access token must be the one the ID token was issued with, if it says which.
        if let Some(expected) = claims.access_token_hash() {
            let alg = id_token
                .signing_alg()
                .map_err(|e| invalid(error_chain(&e)))?;
            let key = id_token
                .signing_key(&verifier)
                .map_err(|e| invalid(error_chain(&e)))?;
            let actual = AccessTokenHash::from_token(response.access_token(), alg, key)
                .map_err(|e| invalid(error_chain(&e)))?;
            if actual != *expected {
                return Err(invalid(
                    "`at_hash` does not match the access token it came with".to_string(),
                ));
            }
        }

        Ok(OidcIdentity {
            issuer: claims.issuer().as_str().to_string(),
            subject: claims.subject().as_str().to_string(),
            email: claims.email().map(|e| e.as_str().to_string()),
            email_verified: claims.email_verified().unwrap_or(false),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_string()),
        })
    }
}

/// The HTTP client for provider requests. It never follows redirects: a redirect from a
/// provider endpoint could point the server at internal addresses (SSRF).
fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(HTTP_TIMEOUT)
        .connect_timeout(HTTP_TIMEOUT)
        .user_agent(concat!("kiln/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// GETs and parses the discovery document; the error says what went wrong, for a person.
async fn fetch_metadata(
    http: &reqwest::Client,
    url: &openidconnect::url::Url,
) -> Result<CoreProviderMetadata, String> {
    let response = http
        .get(url.as_str())
        .header(http::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| format!("request failed: {}", error_chain(&e.without_url())))?;
    let status = response.status();
    if status.is_redirection() {
        let location = response
            .headers()
            .get(http::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .unwrap_or("(none)");
        return Err(format!(
            "HTTP {status} to {location}; redirects are not followed, so set `issuer` to the final URL"
        ));
    }
    if !status.is_success() {
        return Err(format!(
            "HTTP {status}; check that `issuer` is the provider's issuer URL"
        ));
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("reading the response failed: {}", error_chain(&e)))?;
    serde_json::from_slice::<CoreProviderMetadata>(&body)
        .map_err(|e| format!("not a valid OpenID provider configuration: {e}"))
}

/// The token endpoint's own error (`error: error_description`) when it sent one, else the cause.
fn token_error_reason<RE>(
    error: &RequestTokenError<
        RE,
        openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    >,
) -> String
where
    RE: std::error::Error + 'static,
{
    match error {
        RequestTokenError::ServerResponse(response) => {
            let mut reason = format!("the provider answered `{}`", response.error());
            if let Some(description) = response.error_description() {
                reason.push_str(": ");
                reason.push_str(description);
            }
            reason
        }
        RequestTokenError::Parse(e, body) => format!(
            "unreadable token response ({e}): {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ),
        other => error_chain(other),
    }
}

/// An error and its sources, joined with `: `.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_scopes_and_rejects_unknown_fields() {
        let config: OidcProviderConfig =
            toml::from_str("issuer = \"https://id.example.com\"\nclient_id = \"kiln\"\n").unwrap();
        assert_eq!(config.scopes, ["openid", "email", "profile"]);
        assert_eq!(config.client_secret, None);
        let err = toml::from_str::<OidcProviderConfig>(
            "issuer = \"https://id.example.com\"\nclient_id = \"kiln\"\nclient_sercet = \"x\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("client_sercet"), "{err}");
    }

    #[test]
    fn pending_login_debug_hides_secrets() {
        let pending = PendingLogin {
            provider: "p".into(),
            state: "st".into(),
            nonce: "nonce-secret".into(),
            pkce_verifier: "verifier-secret".into(),
        };
        let text = format!("{pending:?}");
        assert!(text.contains("st"));
        assert!(!text.contains("nonce-secret") && !text.contains("verifier-secret"));
    }
}
