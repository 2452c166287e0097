//! The management API client used by the remote commands: builds URLs under
//! `{server}/engine/api/` (or, for the customer API such as `/api/modules`, under the server's
//! root), sends the bearer token, decodes JSON answers, and turns failures into
//! [`RemoteError`]s that say what happened — the server's own error (`message (CODE, request
//! id)`), an unreachable server (naming its URL), or an answer that is not Kiln's.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::RemoteArgs;

/// Longest wait for a TCP/TLS connection: an unreachable server is reported quickly.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for a whole request (a deploy uploads a bundle of up to several MiB).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// How much of an unexpected (non-Kiln) response body an error message quotes.
const BODY_SNIPPET_CHARS: usize = 200;

/// A client for one server's management API.
#[derive(Clone, Debug)]
pub(super) struct ApiClient {
    /// The HTTP client (connection pool, timeouts).
    http: reqwest::Client,
    /// Base URL of the server, as given with `--server`.
    server: Url,
    /// Bearer token, when given.
    token: Option<String>,
}

/// Why a management API call failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum RemoteError {
    /// The server answered with Kiln's error shape.
    #[error("{message} ({code}{})", request_suffix(.request_id))]
    Api {
        /// HTTP status of the answer.
        status: StatusCode,
        /// Kiln's error code (`SCRIPT_NOT_FOUND`…).
        code: String,
        /// Human-readable message from the server.
        message: String,
        /// The request id, to find the request in the server's logs.
        request_id: Option<String>,
    },
    /// The request did not get an answer (connection refused, DNS, TLS, timeout).
    #[error(
        "cannot reach the Kiln server at {server} (is it running? set --server or KILN_SERVER)"
    )]
    Unreachable {
        /// The server URL that was tried.
        server: Url,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered, but not in a shape Kiln's API uses.
    #[error("unexpected answer from {url} ({status}): {detail}")]
    Unexpected {
        /// The URL that was requested.
        url: Url,
        /// HTTP status of the answer.
        status: StatusCode,
        /// What was wrong with it, quoting the start of the body.
        detail: String,
    },
}

/// `, request ID` when the server sent a request id.
fn request_suffix(request_id: &Option<String>) -> String {
    request_id
        .as_ref()
        .map_or_else(String::new, |id| format!(", request {id}"))
}

/// Kiln's error body: `{"error":{"code","message","request_id"}}`.
#[derive(serde::Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(serde::Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
    #[serde(default)]
    request_id: Option<String>,
}

impl ApiClient {
    /// A client for the server and token in `remote`.
    pub(super) fn new(remote: &RemoteArgs) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("kiln-cli/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(ApiClient {
            http,
            server: remote.server.clone(),
            token: remote.token.clone(),
        })
    }

    /// `GET {server}/engine/api/{segments…}?{query}`, decoding the JSON answer.
    pub(super) async fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<T, RemoteError> {
        let request = self.request(Method::GET, segments).query(query);
        self.send(request).await
    }

    /// `POST {server}/engine/api/{segments…}` with a JSON body, decoding the JSON answer.
    pub(super) async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        segments: &[&str],
        body: &B,
    ) -> Result<T, RemoteError> {
        let request = self.request(Method::POST, segments).json(body);
        self.send(request).await
    }

    /// `PATCH {server}/engine/api/{segments…}` with a JSON body, decoding the JSON answer.
    pub(super) async fn patch<B: Serialize, T: DeserializeOwned>(
        &self,
        segments: &[&str],
        body: &B,
    ) -> Result<T, RemoteError> {
        let request = self.request(Method::PATCH, segments).json(body);
        self.send(request).await
    }

    /// `PUT {server}/engine/api/{segments…}` without a body, decoding the JSON answer.
    pub(super) async fn put<T: DeserializeOwned>(
        &self,
        segments: &[&str],
    ) -> Result<T, RemoteError> {
        let request = self.request(Method::PUT, segments);
        self.send(request).await
    }

    /// `DELETE {server}/engine/api/{segments…}`, decoding the JSON answer.
    pub(super) async fn delete<T: DeserializeOwned>(
        &self,
        segments: &[&str],
    ) -> Result<T, RemoteError> {
        let request = self.request(Method::DELETE, segments);
        self.send(request).await
    }

    fn request(&self, method: Method, segments: &[&str]) -> RequestBuilder {
        self.authorized(self.http.request(method, api_url(&self.server, segments)))
    }

    /// A request to `{server}/{segments…}` (outside the management API, e.g.
    /// `["api", "modules"]`), with the bearer token.
    pub(super) fn request_at(&self, method: Method, segments: &[&str]) -> RequestBuilder {
        self.authorized(self.http.request(method, root_url(&self.server, segments)))
    }

    fn authorized(&self, request: RequestBuilder) -> RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends `request`, decoding the JSON answer.
    pub(super) async fn send<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
    ) -> Result<T, RemoteError> {
        let (status, url, body) = self.send_raw(request).await?;
        decode(url, status, &body)
    }

    /// Sends `request` whose success has no body (`204 No Content`).
    pub(super) async fn send_empty(&self, request: RequestBuilder) -> Result<(), RemoteError> {
        let (status, url, body) = self.send_raw(request).await?;
        if status.is_success() {
            return Ok(());
        }
        decode::<serde_json::Value>(url, status, &body).map(drop)
    }

    /// Sends `request`; the answer's status, final URL and body, whatever the status.
    pub(super) async fn send_raw(
        &self,
        request: RequestBuilder,
    ) -> Result<(StatusCode, Url, bytes::Bytes), RemoteError> {
        let unreachable = |source| RemoteError::Unreachable {
            server: self.server.clone(),
            source,
        };
        let response = request.send().await.map_err(unreachable)?;
        let (status, url) = (response.status(), response.url().clone());
        let body = response.bytes().await.map_err(unreachable)?;
        Ok((status, url, body))
    }
}

/// `{server}/engine/api/{segments…}`, keeping any base path of `server` and percent-encoding
/// each segment (a script name cannot escape its path segment).
pub(super) fn api_url(server: &Url, segments: &[&str]) -> Url {
    let mut all = vec!["engine", "api"];
    all.extend_from_slice(segments);
    root_url(server, &all)
}

/// `{server}/{segments…}`, keeping any base path of `server` and percent-encoding each segment.
pub(super) fn root_url(server: &Url, segments: &[&str]) -> Url {
    let mut url = server.clone();
    url.set_query(None);
    url.set_fragment(None);
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

/// Decodes an answer: `T` on success, [`RemoteError::Api`] for Kiln's error shape,
/// [`RemoteError::Unexpected`] for anything else.
pub(super) fn decode<T: DeserializeOwned>(
    url: Url,
    status: StatusCode,
    body: &[u8],
) -> Result<T, RemoteError> {
    let unexpected = |detail: String| RemoteError::Unexpected {
        url: url.clone(),
        status,
        detail: format!("{detail}; body: {}", snippet(body)),
    };
    if status.is_success() {
        return serde_json::from_slice(body)
            .map_err(|err| unexpected(format!("cannot decode it: {err}")));
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { error }) => Err(RemoteError::Api {
            status,
            code: error.code,
            message: error.message,
            request_id: error.request_id,
        }),
        Err(_) => Err(unexpected(
            "not a Kiln API error (is --server a Kiln server?)".into(),
        )),
    }
}

/// The start of `body` as text, for error messages.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty)".into();
    }
    match text.char_indices().nth(BODY_SNIPPET_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn url() -> Url {
        Url::parse("http://127.0.0.1:8080/engine/api/scripts").unwrap()
    }

    #[test]
    fn api_errors_read_message_code_and_request() {
        let body = br#"{"error":{"code":"SCRIPT_NOT_FOUND","message":"no script named `x`","request_id":"01J9"}}"#;
        let err = decode::<serde_json::Value>(url(), StatusCode::NOT_FOUND, body).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no script named `x` (SCRIPT_NOT_FOUND, request 01J9)"
        );
        let body = br#"{"error":{"code":"UNAUTHORIZED","message":"missing token"}}"#;
        let err = decode::<serde_json::Value>(url(), StatusCode::UNAUTHORIZED, body).unwrap_err();
        assert_eq!(err.to_string(), "missing token (UNAUTHORIZED)");
    }

    #[test]
    fn foreign_answers_are_quoted() {
        let err = decode::<serde_json::Value>(url(), StatusCode::BAD_GATEWAY, b"<html>bad</html>")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "unexpected answer from http://127.0.0.1:8080/engine/api/scripts (502 Bad Gateway): \
             not a Kiln API error (is --server a Kiln server?); body: <html>bad</html>"
        );
        let long = "x".repeat(500);
        let err = decode::<Vec<u8>>(url(), StatusCode::OK, long.as_bytes()).unwrap_err();
        assert!(
            err.to_string().ends_with(&format!("{}…", "x".repeat(200))),
            "{err}"
        );
        assert_eq!(
            decode::<Vec<u8>>(url(), StatusCode::OK, b"[1,2]").unwrap(),
            [1, 2]
        );
    }

    #[tokio::test]
    async fn unreachable_servers_are_named() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let server = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        drop(listener);
        let client = ApiClient::new(&RemoteArgs {
            server: server.clone(),
            token: None,
        })
        .unwrap();
        let err = client
            .get::<serde_json::Value>(&["scripts"], &[])
            .await
            .unwrap_err();
        assert!(matches!(err, RemoteError::Unreachable { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with(&format!("cannot reach the Kiln server at {server}"))
        );
    }

    #[test]
    fn urls_keep_the_base_path_and_encode_segments() {
        let server = Url::parse("https://h.example/kiln/").unwrap();
        assert_eq!(
            root_url(&server, &["api", "modules", "a b"]).as_str(),
            "https://h.example/kiln/api/modules/a%20b"
        );
        let server = Url::parse("https://h.example/kiln/?x=1").unwrap();
        let url = api_url(&server, &["scripts", "a b/c", "logs"]);
        assert_eq!(
            url.as_str(),
            "https://h.example/kiln/engine/api/scripts/a%20b%2Fc/logs"
        );
        let server = Url::parse("http://h:1").unwrap();
        assert_eq!(
            api_url(&server, &["scripts"]).as_str(),
            "http://h:1/engine/api/scripts"
        );
    }
}
