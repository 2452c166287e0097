//! One error type for every HTTP answer Kiln itself gives, and the middleware that renders
//! every error — Kiln's, axum's rejections, tower-http's limits — in the one JSON shape:
//! `{"error": {"code": "…", "message": "…", "request_id": "…"}}`.
//!
//! Handlers return [`ApiError`]; its `IntoResponse` only records the code and message in a
//! response extension. [`render_errors`] runs inside the request-id layer and writes the body
//! with the request id. Responses produced by scripts carry [`ScriptResponse`] and are left
//! exactly as the script made them.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

/// The request header (and response header) carrying the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// An error answered to a client.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code, e.g. `SCRIPT_NOT_FOUND`.
    pub code: String,
    /// Message for a human, saying what to do.
    pub message: String,
}

impl ApiError {
    /// An error with an explicit status and code.
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// 400 with code `BAD_REQUEST`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }

    /// 404 with the given code.
    pub fn not_found(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 500 with code `INTERNAL_ERROR`; the detail goes to the server log, not the client.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "Kiln failed to handle the request; the server log has the details",
        )
    }
}

/// The error recorded on a response for [`render_errors`] to render.
#[derive(Clone, Debug)]
struct ErrorBody {
    code: String,
    message: String,
}

/// Marks a response as produced by a script: [`render_errors`] leaves it alone.
#[derive(Clone, Copy, Debug)]
pub struct ScriptResponse;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(ErrorBody {
            code: self.code,
            message: self.message,
        });
        response
    }
}

impl From<kiln_store::StoreError> for ApiError {
    fn from(error: kiln_store::StoreError) -> Self {
        match error {
            kiln_store::StoreError::NotFound { what } => {
                ApiError::not_found("NOT_FOUND", format!("{what} not found"))
            }
            kiln_store::StoreError::Conflict { message } => {
                ApiError::new(StatusCode::CONFLICT, "CONFLICT", message)
            }
            kiln_store::StoreError::LimitExceeded { message } => {
                ApiError::new(StatusCode::INSUFFICIENT_STORAGE, "QUOTA_EXCEEDED", message)
            }
            error @ kiln_store::StoreError::Invalid { .. } => {
                ApiError::bad_request(error.to_string())
            }
            other => ApiError::internal(other),
        }
    }
}

/// Middleware (the outermost one): gives every request an `x-request-id` — the client's own
/// if it is a sane token, a fresh UUID otherwise — echoes it on the response, renders
/// [`ApiError`]s and framework errors as the standard JSON body carrying that id, turns a panic
/// below it into a 500, and writes the access log line. A plain
/// tower layer (no boxing, no service clone per request): it wraps every request.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestContextLayer;

impl<S> tower::Layer<S> for RequestContextLayer {
    type Service = RequestContext<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestContext { inner }
    }
}

/// The service of [`RequestContextLayer`].
#[derive(Clone, Debug)]
pub struct RequestContext<S> {
    inner: S,
}

impl<S> tower::Service<Request> for RequestContext<S>
where
    S: tower::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = RequestContextFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let request_id = match request.headers().get(REQUEST_ID_HEADER) {
            Some(value) if is_acceptable_id(value) => value.clone(),
            _ => {
                let value = new_request_id();
                request
                    .headers_mut()
                    .insert(REQUEST_ID_HEADER, value.clone());
                value
            }
        };
        // The access log costs nothing unless debug logging (or a 5xx) asks for it.
        let access = AccessLog {
            method: request.method().clone(),
            path: tracing::enabled!(tracing::Level::DEBUG).then(|| request.uri().path().to_owned()),
            started: std::time::Instant::now(),
        };
        RequestContextFuture {
            inner: self.inner.call(request),
            request_id: Some(request_id),
            access,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`RequestContext`].
    pub struct RequestContextFuture<F> {
        #[pin]
        inner: F,
        request_id: Option<HeaderValue>,
        access: AccessLog,
    }
}

/// What the access log line needs from the request.
#[derive(Debug)]
struct AccessLog {
    method: http::Method,
    /// Only captured when debug logging is on.
    path: Option<String>,
    started: std::time::Instant,
}

impl AccessLog {
    fn write(&self, status: StatusCode, request_id: &str) {
        let latency_us = self.started.elapsed().as_micros() as u64;
        let path = self.path.as_deref().unwrap_or("");
        if status.is_server_error() {
            tracing::warn!(method = %self.method, path, status = status.as_u16(), latency_us, request_id, "request failed");
        } else {
            tracing::debug!(method = %self.method, path, status = status.as_u16(), latency_us, request_id, "request");
        }
    }
}

impl<F, E> Future for RequestContextFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        // A panic anywhere below becomes a 500 (rendered like every error), never a dropped
        // connection or a dead worker thread. The inner future is not polled again after it.
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            this.inner.as_mut().poll(cx)
        }));
        let response = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(result)) => result?,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(panic = %what, "a request handler panicked");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        };
        let request_id = this
            .request_id
            .take()
            .unwrap_or(HeaderValue::from_static(""));
        let id = request_id.to_str().unwrap_or_default();
        this.access.write(response.status(), id);
        let mut response = render_errors(response, id);
        response.headers_mut().insert(REQUEST_ID_HEADER, request_id);
        Poll::Ready(Ok(response))
    }
}

/// Longest client-supplied request id that is kept.
const MAX_REQUEST_ID_LEN: usize = 128;

fn is_acceptable_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_REQUEST_ID_LEN
        && bytes.iter().all(|b| b.is_ascii_graphic())
}

fn new_request_id() -> HeaderValue {
    let mut buffer = uuid::Uuid::encode_buffer();
    let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buffer);
    HeaderValue::from_str(id).unwrap_or(HeaderValue::from_static("unknown"))
}

/// Renders an error response's body in the standard shape.
fn render_errors(mut response: Response, request_id: &str) -> Response {
    if let Some(body) = response.extensions_mut().remove::<ErrorBody>() {
        return with_body(response, &body.code, &body.message, request_id);
    }
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if (status.is_client_error() || status.is_server_error())
        && !is_json
        && response.extensions().get::<ScriptResponse>().is_none()
    {
        // An error from axum or a tower layer (body too large, bad JSON, panic…).
        let (code, message) = framework_error(status);
        return with_body(response, code, message, request_id);
    }
    response
}

fn framework_error(status: StatusCode) -> (&'static str, &'static str) {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => (
            "PAYLOAD_TOO_LARGE",
            "The request body is larger than the server accepts",
        ),
        StatusCode::NOT_FOUND => ("NOT_FOUND", "Nothing is served at this path"),
        StatusCode::METHOD_NOT_ALLOWED => (
            "METHOD_NOT_ALLOWED",
            "This path does not accept this method",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "UNSUPPORTED_MEDIA_TYPE",
            "The request's Content-Type is not accepted here",
        ),
        StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => {
            ("BAD_REQUEST", "The request is malformed")
        }
        StatusCode::REQUEST_TIMEOUT => ("REQUEST_TIMEOUT", "The request took too long to arrive"),
        s if s.is_server_error() => (
            "INTERNAL_ERROR",
            "Kiln failed to handle the request; the server log has the details",
        ),
        _ => ("HTTP_ERROR", "The request could not be handled"),
    }
}

fn with_body(response: Response, code: &str, message: &str, request_id: &str) -> Response {
    let body = serde_json::json!({
        "error": { "code": code, "message": message, "request_id": request_id }
    });
    let (mut parts, _) = response.into_parts();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body.to_string()))
}
