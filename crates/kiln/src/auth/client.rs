//! What the server knows about the client of a request, as auth and metering need it: its
//! address (the subject of per-IP limits and audit entries) and whether the request arrived
//! over TLS (for the cookie `Secure` attribute).

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use http::Extensions;

/// The client of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientMeta {
    /// Client address as text (`unknown` when the server was called without a socket).
    pub ip: String,
    /// Whether the request arrived over TLS.
    pub secure: bool,
}

impl ClientMeta {
    /// Reads the client from a request's extensions.
    pub fn from_extensions(extensions: &Extensions) -> ClientMeta {
        let ip = extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string());
        ClientMeta { ip, secure: false }
    }
}
