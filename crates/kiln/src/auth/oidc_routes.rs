//! OIDC sign-in endpoints (`/auth/oidc/{provider}/start` and `/callback`) and the registry of
//! configured providers.

use std::sync::Arc;

use axum::Router;

use crate::server::AppState;

/// The configured OIDC providers.
#[derive(Default)]
pub struct OidcRegistry {
    providers: Vec<(String, String)>,
}

impl OidcRegistry {
    /// `(name, label)` of every configured provider.
    pub fn names(&self) -> impl Iterator<Item = (&str, &str)> {
        self.providers.iter().map(|(n, l)| (n.as_str(), l.as_str()))
    }
}

/// The OIDC routes.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
}
