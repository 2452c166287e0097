//! The request path for script routes: everything that is not one of Kiln's own paths.
//!
//! Look the method + path up in the current route table, read the body (bounded), hand the
//! request to the engine, and turn its answer into an HTTP response. Engine failures become
//! the standard JSON error with the right status (`SCRIPT_TIMEOUT` 504, `SCRIPT_MEMORY_LIMIT`
//! 503, a thrown `HttpError`'s own status…).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use kiln_js::{HttpRequest, InvokeError};

use crate::error::{ApiError, REQUEST_ID_HEADER, ScriptResponse};
use crate::routing::Lookup;
use crate::server::AppState;

/// Axum fallback handler serving script routes.
pub async fn script_route(State(state): State<Arc<AppState>>, request: Request) -> Response {
    script_request(&state, request).await
}

/// Serves a request from the scripts' routes (the front service calls this directly).
pub async fn script_request(state: &AppState, request: Request) -> Response {
    match serve(state, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn serve(state: &AppState, request: Request) -> Result<Response, ApiError> {
    let table = state.scripts.table();
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let (script, route, params) = match table.lookup(&method, &path) {
        Lookup::Found {
            script,
            route,
            params,
        } => (script.clone(), route, params),
        Lookup::MethodNotAllowed { allow } => {
            let mut response = ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                format!("{method} is not allowed for {path}; allowed: {allow}"),
            )
            .into_response();
            if let Ok(value) = HeaderValue::from_str(&allow) {
                response.headers_mut().insert(header::ALLOW, value);
            }
            return Ok(response);
        }
        Lookup::NotFound => {
            return Err(ApiError::not_found(
                "ROUTE_NOT_FOUND",
                format!("no route matches {method} {path}"),
            ));
        }
    };
    drop(table);

    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let url = absolute_url(&request);
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let body = axum::body::to_bytes(body, state.config.http.max_body_bytes)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!(
                    "the request body is larger than the limit of {} bytes",
                    state.config.http.max_body_bytes
                ),
            )
        })?;
    let http_request = HttpRequest {
        method,
        url,
        headers,
        body,
    };
    match state
        .scripts
        .engine()
        .invoke(&script, route, params, http_request, &request_id)
        .await
    {
        Ok(answer) => Ok(to_response(answer)),
        Err(error) => Err(invoke_error(error)),
    }
}

fn to_response(answer: kiln_js::HttpResponse) -> Response {
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    *response.headers_mut() = answer.headers;
    if response.status().as_u16() >= 400 {
        // Only error statuses are looked at by `render_errors`; marking just those keeps the
        // common path free of an extensions allocation.
        response.extensions_mut().insert(ScriptResponse);
    }
    response
}

fn invoke_error(error: InvokeError) -> ApiError {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    ApiError::new(status, error.code(), error.to_string())
}

/// The request's absolute URL as the script sees it (`http://host/path?query`).
fn absolute_url(request: &Request) -> String {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))
        .unwrap_or("localhost");
    let scheme = request
        .headers()
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .filter(|p| *p == "https" || *p == "http")
        .unwrap_or("http");
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut url = String::with_capacity(scheme.len() + 3 + host.len() + path_and_query.len());
    url.push_str(scheme);
    url.push_str("://");
    url.push_str(host);
    url.push_str(path_and_query);
    url
}
