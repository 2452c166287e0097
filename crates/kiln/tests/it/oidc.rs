//! OpenID Connect login against the local test provider: the whole authorization-code + PKCE
//! flow, and each way a provider (or an attacker in between) can get it wrong.

use kiln::oidc::{OidcError, OidcIdentity, OidcProvider, OidcProviderConfig, PendingLogin};
use reqwest::Url;

use crate::common::no_redirects;
use crate::oidc_provider::{CLIENT_ID, OidcTestProvider, Tamper, TestUser};

/// Where the provider sends the browser back; never contacted (the redirect is not followed).
const REDIRECT: &str = "http://127.0.0.1:9/auth/oidc/test/callback";

async fn discover(provider: &OidcTestProvider) -> OidcProvider {
    OidcProvider::discover("test", &provider.config(), REDIRECT)
        .await
        .expect("discovery")
}

/// Plays the browser: follows the authorize URL up to the redirect back, returns `(code, state)`.
async fn authorize(authorize_url: &str) -> (String, String) {
    let response = no_redirects().get(authorize_url).send().await.unwrap();
    assert!(
        response.status().is_redirection(),
        "authorize answered {}",
        response.status()
    );
    let location = response
        .headers()
        .get("location")
        .expect("Location header")
        .to_str()
        .unwrap();
    assert!(location.starts_with(REDIRECT), "redirected to {location}");
    let location = Url::parse(location).unwrap();
    let param = |name: &str| {
        location
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no {name} in {location}"))
    };
    (param("code"), param("state"))
}

/// begin → browser → state check → complete.
async fn login(client: &OidcProvider) -> Result<OidcIdentity, OidcError> {
    let (url, pending) = client.begin();
    let (code, state) = authorize(&url).await;
    assert_eq!(state, pending.state(), "state must round-trip unchanged");
    client.complete(&pending, &code).await
}

#[tokio::test]
async fn oidc_full_login_yields_the_providers_user() {
    let provider = OidcTestProvider::start().await;
    provider.set_user("user-42", Some("ada@example.com"), Some("Ada Lovelace"));
    let client = discover(&provider).await;
    assert_eq!(client.issuer(), provider.issuer);
    assert_eq!(client.display_name(), "Test IdP");

    let (url, pending) = client.begin();
    let parsed = Url::parse(&url).unwrap();
    assert_eq!(parsed.path(), "/authorize");
    // The pending login survives a round trip through a session store.
    let stored = serde_json::to_string(&pending).unwrap();
    let pending: PendingLogin = serde_json::from_str(&stored).unwrap();

    let (code, state) = authorize(&url).await;
    assert_eq!(state, pending.state());
    let identity = client.complete(&pending, &code).await.unwrap();
    assert_eq!(
        identity,
        OidcIdentity {
            issuer: provider.issuer.clone(),
            subject: "user-42".into(),
            email: Some("ada@example.com".into()),
            email_verified: true,
            name: Some("Ada Lovelace".into()),
        }
    );

    let authorizes = provider.authorize_requests();
    assert_eq!(authorizes.len(), 1);
    assert_eq!(authorizes[0].client_id, CLIENT_ID);
    assert_eq!(authorizes[0].redirect_uri, REDIRECT);
    assert_eq!(authorizes[0].code_challenge_method.as_deref(), Some("S256"));
    let scopes: Vec<&str> = authorizes[0].scope.split(' ').collect();
    for scope in ["openid", "email", "profile"] {
        assert_eq!(
            scopes.iter().filter(|s| **s == scope).count(),
            1,
            "{scope} in {scopes:?}"
        );
    }
    let tokens = provider.token_requests();
    assert_eq!(tokens.len(), 1);
    assert!(tokens[0].client_authenticated);
    assert_eq!(tokens[0].auth_method, "client_secret_basic");
    assert!(tokens[0].pkce_verified, "PKCE verifier must be sent");
    assert!(tokens[0].issued);
}

#[tokio::test]
async fn oidc_each_login_gets_fresh_state_and_unverified_email_is_reported() {
    let provider = OidcTestProvider::start().await;
    provider.set_test_user(TestUser {
        subject: "u".into(),
        email: Some("maybe@example.com".into()),
        email_verified: false,
        name: None,
    });
    let client = discover(&provider).await;
    let (_, first) = client.begin();
    let (_, second) = client.begin();
    assert_ne!(first.state(), second.state());
    let challenges: Vec<_> = {
        let (a, _) = client.begin();
        let (b, _) = client.begin();
        [a, b]
            .iter()
            .map(|u| {
                Url::parse(u)
                    .unwrap()
                    .query_pairs()
                    .find(|(k, _)| k == "code_challenge")
                    .map(|(_, v)| v.into_owned())
                    .unwrap()
            })
            .collect()
    };
    assert_ne!(challenges[0], challenges[1]);

    let identity = login(&client).await.unwrap();
    assert_eq!(identity.email.as_deref(), Some("maybe@example.com"));
    assert!(!identity.email_verified);
    assert_eq!(identity.name, None);
}

#[tokio::test]
async fn oidc_wrong_client_secret_fails_the_token_exchange() {
    let provider = OidcTestProvider::start().await;
    let config = OidcProviderConfig {
        client_secret: Some("not-the-secret".into()),
        ..provider.config()
    };
    let client = OidcProvider::discover("test", &config, REDIRECT)
        .await
        .unwrap();
    let err = login(&client).await.unwrap_err();
    assert!(matches!(err, OidcError::TokenExchange { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("invalid_client"), "{message}");
    assert!(
        message.contains(&format!("{}/token", provider.issuer)),
        "{message}"
    );
    let tokens = provider.token_requests();
    assert_eq!(tokens.len(), 1);
    assert!(!tokens[0].client_authenticated && !tokens[0].issued);
}

#[tokio::test]
async fn oidc_wrong_pkce_verifier_is_refused_by_the_provider() {
    let provider = OidcTestProvider::start().await;
    let client = discover(&provider).await;
    let (url, pending) = client.begin();
    let (code, _) = authorize(&url).await;
    // Swap the verifier for another (valid-looking) one.
    let mut stored: serde_json::Value = serde_json::to_value(&pending).unwrap();
    stored["pkce_verifier"] = serde_json::json!("a".repeat(43));
    let forged: PendingLogin = serde_json::from_value(stored).unwrap();
    let err = client.complete(&forged, &code).await.unwrap_err();
    assert!(matches!(err, OidcError::TokenExchange { .. }), "{err:?}");
    assert!(err.to_string().contains("invalid_grant"), "{err}");
    let tokens = provider.token_requests();
    assert!(tokens[0].client_authenticated && !tokens[0].pkce_verified && !tokens[0].issued);
}

#[tokio::test]
async fn oidc_code_is_single_use() {
    let provider = OidcTestProvider::start().await;
    let client = discover(&provider).await;
    let (url, pending) = client.begin();
    let (code, _) = authorize(&url).await;
    client.complete(&pending, &code).await.unwrap();
    let err = client.complete(&pending, &code).await.unwrap_err();
    assert!(err.to_string().contains("invalid_grant"), "{err}");
}

/// Runs a login against a provider tampering with its ID token; returns the error.
async fn tampered_login(tamper: Tamper) -> OidcError {
    let provider = OidcTestProvider::start().await;
    let client = discover(&provider).await;
    provider.tamper(tamper);
    let err = login(&client)
        .await
        .expect_err("a tampered ID token must be rejected");
    // The provider did issue tokens: the client is the one refusing them.
    assert!(provider.token_requests()[0].issued);
    assert!(
        matches!(err, OidcError::InvalidIdToken { .. }),
        "{tamper:?}: {err:?}"
    );
    err
}

#[tokio::test]
async fn oidc_rejects_an_id_token_with_the_wrong_nonce() {
    let err = tampered_login(Tamper::WrongNonce).await.to_string();
    assert!(err.to_lowercase().contains("nonce"), "{err}");
}

#[tokio::test]
async fn oidc_rejects_an_id_token_signed_by_another_key() {
    let err = tampered_login(Tamper::ForeignKey).await.to_string();
    assert!(err.contains("ignature"), "{err}");
}

#[tokio::test]
async fn oidc_rejects_wrong_audience_issuer_expiry_and_at_hash() {
    let err = tampered_login(Tamper::WrongAudience).await.to_string();
    assert!(err.contains("audience"), "{err}");
    let err = tampered_login(Tamper::WrongIssuer).await.to_string();
    assert!(err.contains("issuer"), "{err}");
    let err = tampered_login(Tamper::Expired).await.to_string();
    assert!(err.contains("Expired"), "{err}");
    let err = tampered_login(Tamper::WrongAccessTokenHash)
        .await
        .to_string();
    assert!(err.contains("at_hash"), "{err}");
}

#[tokio::test]
async fn oidc_login_started_with_one_provider_cannot_finish_with_another() {
    let provider = OidcTestProvider::start().await;
    let a = OidcProvider::discover("a", &provider.config(), REDIRECT)
        .await
        .unwrap();
    let b = OidcProvider::discover("b", &provider.config(), REDIRECT)
        .await
        .unwrap();
    let (url, pending) = a.begin();
    assert_eq!(pending.provider(), "a");
    let (code, _) = authorize(&url).await;
    let err = b.complete(&pending, &code).await.unwrap_err();
    assert!(matches!(err, OidcError::ProviderMismatch { .. }), "{err:?}");
    assert!(
        provider.token_requests().is_empty(),
        "no code may be sent to the wrong provider"
    );
}

/// `provider`'s settings with another issuer URL.
fn with_issuer(provider: &OidcTestProvider, issuer: String) -> OidcProviderConfig {
    OidcProviderConfig {
        issuer,
        ..provider.config()
    }
}

/// Discovery of provider `name` with `config` fails with a discovery error; returns its message.
async fn discovery_error(name: &str, config: &OidcProviderConfig) -> String {
    let err = OidcProvider::discover(name, config, REDIRECT)
        .await
        .expect_err("discovery must fail");
    assert!(matches!(err, OidcError::Discovery { .. }), "{err:?}");
    err.to_string()
}

#[tokio::test]
async fn oidc_unknown_issuer_is_a_clear_discovery_error() {
    let provider = OidcTestProvider::start().await;
    let config = with_issuer(&provider, format!("{}/no-such-realm", provider.issuer));
    let message = discovery_error("corp", &config).await;
    assert!(message.contains("`corp`"), "{message}");
    assert!(
        message.contains(&format!(
            "{}/no-such-realm/.well-known/openid-configuration",
            provider.issuer
        )),
        "{message}"
    );
    assert!(message.contains("404"), "{message}");
}

#[tokio::test]
async fn oidc_unreachable_issuer_is_a_clear_discovery_error() {
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let config = OidcProviderConfig {
        issuer: format!("http://{addr}"),
        client_id: "c".into(),
        client_secret: None,
        scopes: vec!["openid".into()],
        display_name: None,
    };
    let message = discovery_error("down", &config).await;
    assert!(
        message.contains(&format!("http://{addr}/.well-known/openid-configuration")),
        "{message}"
    );
    assert!(message.contains("request failed"), "{message}");
}

#[tokio::test]
async fn oidc_discovery_does_not_follow_redirects() {
    let provider = OidcTestProvider::start().await;
    let config = with_issuer(&provider, format!("{}/redirecting", provider.issuer));
    let message = discovery_error("test", &config).await;
    assert!(message.contains("redirect"), "{message}");
}

#[tokio::test]
async fn oidc_issuer_must_match_the_discovery_document() {
    let provider = OidcTestProvider::start().await;
    // Same server, but named by `localhost`: the document's issuer is 127.0.0.1.
    let port = Url::parse(&provider.issuer).unwrap().port().unwrap();
    let config = with_issuer(&provider, format!("http://localhost:{port}"));
    let message = discovery_error("test", &config).await;
    assert!(message.contains(&provider.issuer), "{message}");
}

#[tokio::test]
async fn oidc_bad_config_is_rejected_before_any_request() {
    let provider = OidcTestProvider::start().await;
    for issuer in ["not a url", "ftp://127.0.0.1/"] {
        let config = with_issuer(&provider, issuer.into());
        let err = OidcProvider::discover("test", &config, REDIRECT)
            .await
            .unwrap_err();
        assert!(matches!(err, OidcError::Config { .. }), "{issuer}: {err:?}");
        assert!(err.to_string().contains("issuer"), "{err}");
    }
    let err = OidcProvider::discover("test", &provider.config(), "/relative")
        .await
        .unwrap_err();
    assert!(matches!(err, OidcError::Config { .. }), "{err:?}");
}
