//! One error type for every HTTP answer Kiln itself gives, and the middleware that renders
//! every error — Kiln's, axum's rejections, tower-http's limits — in the one JSON shape:
//! `{"error": {"code": "…", "message": "…", "request_id": "…"}}`.
//!
//! Handlers return [`ApiError`]; its `IntoResponse` only records the code and message in a
//! response extension. [`render_errors`] runs inside the request-id layer and writes the body
//! with the request id. Responses produced by scripts carry [`ScriptResponse`] and are left
//! exactly as the script made them.

use axum::extract::Request;
use axum::middleware::Next;
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
            other => ApiError::internal(other),
        }
    }
}

/// Middleware: renders [`ApiError`]s and framework errors as the standard JSON body.
pub async fn render_errors(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut response = next.run(request).await;
    if let Some(body) = response.extensions_mut().remove::<ErrorBody>() {
        return with_body(response, &body.code, &body.message, &request_id);
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
        return with_body(response, code, message, &request_id);
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
