//! The request path for script routes: everything that is not one of Kiln's own paths.
//!
//! Look the method + path up in the current route table, admit and meter the caller, read the
//! body (bounded by the server, the caller's tier and the route: [`crate::request_body`]), invoke the route — the JavaScript engine, or for a `registerWasmHandler`
//! route the module ([`crate::wasm_route`]) — record usage and turn the answer into an HTTP
//! response. Failures become the standard JSON error with the right status (`SCRIPT_TIMEOUT`
//! 504, `SCRIPT_MEMORY_LIMIT` 503, a thrown `HttpError`'s own status…).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use kiln_js::{HttpRequest, InvokeError, ScriptVersion};

use crate::auth::client::ClientMeta;
use crate::auth::{AuthMethod, Caller, csrf_failed, forbidden, unauthorized};
use crate::error::{ApiError, REQUEST_ID_HEADER, ScriptResponse};
use crate::metering::{ErrorClass, Metered, UsageRecorder, meter};
use crate::public_files::{self, StaticAnswer};
use crate::request_body::{self, BodyLimit};
use crate::route_cors::RouteCors;
use crate::routing::Lookup;
use crate::server::AppState;
use crate::wasm_route::{self, WasmCall};

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

/// Who a route lets in (`registerWebHandler(…, { auth })`).
#[derive(Clone, Debug, PartialEq, Eq)]
enum RouteAuth {
    /// Anyone (the default, or `"public"`).
    Public,
    /// A signed-in user or an API key's owner.
    User,
    /// An API key with the `invoke` scope; metered against its tier.
    ApiKey,
    /// A user holding the role.
    Role(String),
}

impl RouteAuth {
    fn of(options: &serde_json::Value) -> RouteAuth {
        match options.get("auth").and_then(|a| a.as_str()) {
            Some("user") => RouteAuth::User,
            Some("apiKey") => RouteAuth::ApiKey,
            Some(other) => match other.strip_prefix("role:") {
                Some(role) => RouteAuth::Role(role.to_owned()),
                None => RouteAuth::Public,
            },
            None => RouteAuth::Public,
        }
    }
}

/// Whether the request carries anything Kiln authenticates (so anonymous requests skip it).
fn has_credentials(headers: &HeaderMap) -> bool {
    headers.contains_key(header::AUTHORIZATION) || headers.contains_key(header::COOKIE)
}

/// An error answer with extra headers (rate-limit headers, `WWW-Authenticate`).
fn with_headers(error: ApiError, headers: &HeaderMap) -> Response {
    let mut response = error.into_response();
    for (name, value) in headers {
        response.headers_mut().insert(name, value.clone());
    }
    response
}

/// Identifies the caller of a script route and checks the route's requirement.
async fn admit(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    requirement: &RouteAuth,
) -> Result<Option<Caller>, ApiError> {
    let mut caller = if has_credentials(headers) {
        match state.auth.authenticate(method, headers).await {
            Ok(caller) => caller,
            // A stale session cookie must not lock a browser out of public pages.
            Err(error) if *requirement == RouteAuth::Public && error.code == "SESSION_EXPIRED" => {
                None
            }
            Err(error) => return Err(error),
        }
    } else {
        None
    };
    if let Some(c) = &caller {
        if matches!(c.method, AuthMethod::BootstrapToken) {
            // The bootstrap token manages Kiln; it is nobody to scripts.
            caller = None;
        } else if !c.has_scope("invoke") {
            return Err(forbidden(
                "INSUFFICIENT_SCOPE",
                "this API key lacks the `invoke` scope needed to call script routes",
            ));
        }
    }
    // A cookie-authenticated state-changing request without the CSRF token could be forged by
    // another site: on a protected route it is refused, elsewhere the caller is anonymous.
    let csrf_missing = matches!(
        caller.as_ref().map(|c| &c.method),
        Some(AuthMethod::Session { csrf_ok: false, .. })
    );
    if csrf_missing {
        if *requirement != RouteAuth::Public {
            return Err(csrf_failed());
        }
        caller = None;
    }
    match requirement {
        RouteAuth::Public => {}
        RouteAuth::ApiKey => {
            if caller.as_ref().is_none_or(|c| c.api_key.is_none()) {
                return Err(unauthorized(
                    "API_KEY_REQUIRED",
                    "this route needs an API key: `Authorization: Bearer kiln_…`",
                ));
            }
        }
        RouteAuth::User => {
            if caller.as_ref().is_none_or(|c| c.user.is_none()) {
                return Err(unauthorized(
                    "UNAUTHORIZED",
                    "this route needs a signed-in user or an API key",
                ));
            }
        }
        RouteAuth::Role(role) => match &caller {
            None => {
                return Err(unauthorized(
                    "UNAUTHORIZED",
                    format!("this route needs a signed-in user with the role {role:?}"),
                ));
            }
            Some(c) if !c.has_role(role) => {
                return Err(forbidden(
                    "FORBIDDEN",
                    format!("this route needs the role {role:?}"),
                ));
            }
            Some(_) => {}
        },
    }
    Ok(caller)
}

/// Answers a CORS preflight for a script route with a `cors` option; `None` when the request
/// is not a preflight or the route has no CORS policy (it then goes the normal way).
fn route_preflight(state: &AppState, request: &Request) -> Option<Response> {
    if request.method() != Method::OPTIONS || !request.headers().contains_key(header::ORIGIN) {
        return None;
    }
    let requested = request
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)?
        .to_str()
        .ok()?
        .to_ascii_uppercase();
    let table = state.scripts.table();
    let Lookup::Found { script, route, .. } = table.lookup(&requested, request.uri().path()) else {
        return None;
    };
    let cors = RouteCors::from_options(&script.routes.get(route)?.options)?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Some(headers) = cors.preflight(request.headers(), &requested) {
        response.headers_mut().extend(headers);
    }
    Some(response)
}

async fn serve(state: &AppState, request: Request) -> Result<Response, ApiError> {
    if let Some(response) = route_preflight(state, &request) {
        return Ok(response);
    }
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
            if let StaticAnswer::Answer(response) = static_answer(&table, &request, true) {
                return Ok(response);
            }
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
            if let StaticAnswer::Answer(response) = static_answer(&table, &request, false) {
                return Ok(response);
            }
            return Err(ApiError::not_found(
                "ROUTE_NOT_FOUND",
                format!("no route matches {method} {path}"),
            ));
        }
    };
    drop(table);

    let requirement = script
        .routes
        .get(route)
        .map_or(RouteAuth::Public, |r| RouteAuth::of(&r.options));
    let cors = script
        .routes
        .get(route)
        .and_then(|r| RouteCors::from_options(&r.options))
        .map(|policy| (policy, request.headers().clone()));
    let mut response = match serve_route(state, request, &script, route, params, &requirement).await
    {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    if let Some((policy, request_headers)) = &cors {
        policy.decorate(request_headers, response.headers_mut());
    }
    Ok(response)
}

/// The scripts' public files' answer to a request no route serves (for its method).
fn static_answer(
    table: &crate::routing::RouteTable,
    request: &Request,
    route_exists: bool,
) -> StaticAnswer {
    public_files::answer(
        table,
        request.method(),
        request.uri().path(),
        request.uri().query(),
        request.headers(),
        route_exists,
    )
}

/// Serves a request whose route was found: admission, metering, the invocation, usage.
async fn serve_route(
    state: &AppState,
    request: Request,
    script: &Arc<kiln_js::ScriptVersion>,
    route: usize,
    params: Vec<(String, String)>,
    requirement: &RouteAuth,
) -> Result<Response, ApiError> {
    // The common case — a public route called without credentials — needs none of this; the
    // authentication futures (store queries) are boxed so they do not bloat every request's.
    let caller = if *requirement == RouteAuth::Public && !has_credentials(request.headers()) {
        Ok(None)
    } else {
        Box::pin(admit(
            state,
            request.method(),
            request.headers(),
            requirement,
        ))
        .await
    };
    let caller = match caller {
        Ok(caller) => caller,
        Err(error) if error.status == StatusCode::UNAUTHORIZED => {
            let headers = HeaderMap::from_iter([(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer"),
            )]);
            return Ok(with_headers(error, &headers));
        }
        Err(error) => return Err(error),
    };
    let client = if caller.is_none() && !state.metering.anonymous_limits().is_unlimited() {
        ClientMeta::from_extensions(request.extensions())
    } else {
        ClientMeta {
            ip: String::new(),
            secure: false,
        }
    };
    let usage = caller.as_ref().map(|c| {
        let route = script.routes.get(route);
        UsageRecorder::start(
            &state.metering,
            c,
            "http",
            Some(script.name.clone()),
            route.map(|r| format!("{} {}", r.method, r.path)),
        )
    });
    let record =
        |status: StatusCode, class: ErrorClass, cpu_ns: u64, bytes_in: usize, bytes_out: usize| {
            if let Some(usage) = &usage {
                usage.record(
                    status,
                    class,
                    Duration::from_nanos(cpu_ns),
                    bytes_in,
                    bytes_out,
                );
            }
        };
    let unmetered = caller.as_ref().is_none_or(|c| c.api_key.is_none())
        && (caller.is_some() || state.metering.anonymous_limits().is_unlimited());
    let metered = if unmetered {
        Ok(Metered::unmetered(state))
    } else {
        Box::pin(meter(state, caller.as_ref(), &client)).await
    };
    let metered = match metered {
        Ok(metered) => metered,
        Err((error, headers)) => {
            record(
                error.status,
                ErrorClass::of_error(error.status, &error.code),
                0,
                0,
                0,
            );
            return Ok(with_headers(error, &headers));
        }
    };

    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (parts, body) = request.into_parts();
    let route_limit = script
        .routes
        .get(route)
        .and_then(kiln_js::RouteSpec::max_body_bytes);
    let limit = BodyLimit::new(metered.body_limit, route_limit);
    let body = match request_body::read(body, &parts.headers, limit).await {
        Ok(body) => body,
        Err(error) => {
            record(error.status, ErrorClass::ValidationError, 0, 0, 0);
            return Ok(with_headers(error, &metered.headers));
        }
    };
    let bytes_in = body.len();
    let wasm = script
        .routes
        .get(route)
        .and_then(|spec| spec.wasm_module().map(|module| (spec, module)));
    let invoked = match wasm {
        Some((spec, module)) => {
            let call = WasmCall {
                script,
                route: spec,
                module,
                params: &params,
                parts: &parts,
                body,
                caller: caller.as_ref(),
                cpu_limit: metered.cpu_limit,
                request_id: &request_id,
            };
            // Boxed: the JavaScript path's future stays small.
            Box::pin(wasm_route::serve(state, call)).await
        }
        None => {
            let invocation = Invocation {
                script,
                route,
                params,
                parts,
                body,
                caller: caller.as_ref(),
                cpu_limit: metered.cpu_limit,
                request_id: &request_id,
            };
            invoke_script(state, invocation).await
        }
    };
    record(
        invoked.response.status(),
        invoked.class,
        u64::try_from(invoked.cpu.as_nanos()).unwrap_or(u64::MAX),
        bytes_in,
        invoked.bytes_out,
    );
    let mut response = invoked.response;
    for (name, value) in &metered.headers {
        response.headers_mut().insert(name, value.clone());
    }
    Ok(response)
}

/// What invoking a route produced: the answer, and what usage records about it.
pub struct Invoked {
    /// The answer (a script's response or a JSON error).
    pub response: Response,
    /// How the call ended.
    pub class: ErrorClass,
    /// CPU time charged to the call.
    pub cpu: Duration,
    /// Response body bytes.
    pub bytes_out: usize,
}

/// A JavaScript route's admitted request.
struct Invocation<'a> {
    script: &'a Arc<ScriptVersion>,
    route: usize,
    params: Vec<(String, String)>,
    parts: http::request::Parts,
    body: Bytes,
    caller: Option<&'a Caller>,
    cpu_limit: Option<Duration>,
    request_id: &'a str,
}

/// Runs a JavaScript route's handler in the engine.
async fn invoke_script(state: &AppState, call: Invocation<'_>) -> Invoked {
    // The script's secrets, laid over its variables in ctx.env: usually cached (no await).
    let secrets = match state.secrets.cached(&call.script.name) {
        Some(secrets) => secrets,
        None => match Box::pin(state.secrets.for_script(&call.script.name)).await {
            Ok(secrets) => secrets,
            Err(error) => {
                let error = ApiError::from(error);
                return Invoked {
                    class: ErrorClass::of_error(error.status, &error.code),
                    response: error.into_response(),
                    cpu: Duration::ZERO,
                    bytes_out: 0,
                };
            }
        },
    };
    let http_request = HttpRequest {
        method: call.parts.method.as_str().to_owned(),
        url: absolute_url(&call.parts),
        headers: call.parts.headers,
        body: call.body,
        identity: call.caller.map(Caller::script_identity),
        cpu_limit: call.cpu_limit,
        env: secrets.overlay.clone(),
    };
    let outcome = state
        .scripts
        .engine()
        .invoke(
            call.script,
            call.route,
            call.params,
            http_request,
            call.request_id,
        )
        .await;
    match outcome {
        Ok(answer) => {
            let cpu = Duration::from_nanos(answer.cpu_ns);
            let bytes_out = answer.body.len();
            let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
            Invoked {
                response: script_response(status, answer.headers, answer.body),
                class: ErrorClass::Success,
                cpu,
                bytes_out,
            }
        }
        Err(error) => {
            // A CPU timeout used exactly the budget it exceeded (the tighter of the tier's and
            // the script's); what a wall-clock timeout used is unknown, so nothing is charged.
            let cpu = match &error {
                InvokeError::Timeout {
                    budget: "CPU time",
                    limit_ms,
                } => Duration::from_millis(*limit_ms),
                _ => Duration::ZERO,
            };
            let error = invoke_error(error);
            Invoked {
                class: ErrorClass::of_error(error.status, &error.code),
                response: error.into_response(),
                cpu,
                bytes_out: 0,
            }
        }
    }
}

/// A response made by a script (JavaScript or WebAssembly), sent exactly as made.
pub fn script_response(status: StatusCode, headers: HeaderMap, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
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
fn absolute_url(request: &http::request::Parts) -> String {
    let host = request
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri.authority().map(|a| a.as_str()))
        .unwrap_or("localhost");
    // `X-Forwarded-Proto` counts only from trusted proxies (resolved by `http_policy`).
    let scheme = if crate::http_policy::client_info(&request.extensions).secure {
        "https"
    } else {
        "http"
    };
    let path_and_query = request
        .uri
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
