//! Reading a script route's request body under its size limit.
//!
//! The limit is the server's (`http.max_body_bytes`, lowered by an API key's tier) or, when the
//! route sets `maxBodyBytes` below it, the route's own: the operator's setting is a ceiling no
//! script can raise. A declared `Content-Length` above the limit is refused before a byte is
//! read; a body without one (chunked) is read only until it passes the limit. Either way the
//! answer is `413 PAYLOAD_TOO_LARGE` naming the limit, and the connection is not kept (the
//! unread rest of the body is never waited for).

use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, StatusCode, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::error::ApiError;

/// The largest body a request may send, and who set it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyLimit {
    /// The limit in bytes.
    pub bytes: usize,
    /// Whether the route's `maxBodyBytes` set it (rather than the server or the caller's tier).
    pub from_route: bool,
}

impl BodyLimit {
    /// The tighter of the server's limit (already lowered by the tier) and the route's own.
    pub fn new(server: usize, route: Option<u64>) -> BodyLimit {
        match route.map(|r| usize::try_from(r).unwrap_or(usize::MAX)) {
            Some(route) if route < server => BodyLimit {
                bytes: route,
                from_route: true,
            },
            _ => BodyLimit {
                bytes: server,
                from_route: false,
            },
        }
    }

    /// The `413 PAYLOAD_TOO_LARGE` answer naming this limit.
    pub fn exceeded(&self) -> ApiError {
        let message = if self.from_route {
            format!(
                "the request body is larger than this route's limit of {} bytes (its maxBodyBytes option)",
                self.bytes
            )
        } else {
            format!(
                "the request body is larger than the limit of {} bytes",
                self.bytes
            )
        };
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", message)
    }
}

/// Reads the whole body, refusing one larger than `limit` as early as possible.
pub async fn read(body: Body, headers: &HeaderMap, limit: BodyLimit) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > u64::try_from(limit.bytes).unwrap_or(u64::MAX)) {
        return Err(limit.exceeded());
    }
    match Limited::new(body, limit.bytes).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => Err(limit.exceeded()),
        Err(error) => Err(ApiError::bad_request(format!(
            "the request body could not be read: {error}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_may_only_lower_the_server_limit() {
        assert_eq!(
            BodyLimit::new(100, Some(10)),
            BodyLimit {
                bytes: 10,
                from_route: true
            }
        );
        assert_eq!(BodyLimit::new(100, Some(1000)).bytes, 100);
        assert!(!BodyLimit::new(100, None).from_route);
        assert!(
            BodyLimit::new(5, Some(3))
                .exceeded()
                .message
                .contains("route's limit of 3")
        );
    }

    #[tokio::test]
    async fn declared_and_streamed_lengths_are_both_checked() {
        let limit = BodyLimit::new(4, None);
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, "5".parse().expect("value"));
        let early = read(Body::empty(), &headers, limit).await;
        assert_eq!(
            early.map_err(|e| e.code).err().as_deref(),
            Some("PAYLOAD_TOO_LARGE")
        );
        let streamed = read(Body::from("12345"), &HeaderMap::new(), limit).await;
        assert_eq!(
            streamed.map_err(|e| e.code).err().as_deref(),
            Some("PAYLOAD_TOO_LARGE")
        );
        let fits = read(Body::from("1234"), &HeaderMap::new(), limit).await;
        assert_eq!(fits.ok().as_deref(), Some(&b"1234"[..]));
    }
}
