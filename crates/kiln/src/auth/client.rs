//! What auth and metering need to know about the client of a request: its address as text
//! (the subject of per-IP limits and audit entries) and whether the request arrived over TLS
//! (for the cookie `Secure` attribute) — both as resolved by [`crate::http_policy`] from the
//! peer address and trusted proxies.

use http::Extensions;

use crate::http_policy;

/// The client of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientMeta {
    /// Client address as text (`0.0.0.0` when the server was called without a socket).
    pub ip: String,
    /// Whether the request arrived over TLS.
    pub secure: bool,
}

impl ClientMeta {
    /// Reads the client from a request's extensions.
    pub fn from_extensions(extensions: &Extensions) -> ClientMeta {
        let info = http_policy::client_info(extensions);
        ClientMeta {
            ip: info.ip.to_string(),
            secure: info.secure,
        }
    }
}
