//! Routes served by a WebAssembly module of the script's bundle (`registerWasmHandler`),
//! CGI-style: this module owns the "invoke" step of such a route. [`crate::dispatch`] has
//! already found the route, admitted and metered the caller and read the body (the same path as
//! a JavaScript route); here the request becomes CGI meta-variables ([`env`]) and stdin, the
//! module (prepared at deploy, from [`crate::bundle_wasm`]'s memo) runs on tokio's blocking pool
//! under the script's limits, and its stdout is parsed as a CGI response ([`output`]). The
//! module's stderr and every failure go to the script's log, never to the server's; the client
//! gets the standard JSON error: 504 `SCRIPT_TIMEOUT`, 503 `SCRIPT_MEMORY_LIMIT`, or 502
//! (`WASM_TRAP`, `WASM_EXIT_NONZERO`, `WASM_OUTPUT_LIMIT`, `WASM_BAD_GATEWAY` for output that
//! is not valid CGI).

pub mod env;
pub mod output;

use std::sync::Arc;
use std::time::Duration;

use axum::response::IntoResponse;
use bytes::Bytes;
use http::StatusCode;
use kiln_js::invocation::now_ms;
use kiln_js::{LogLevel, LogSink, RouteSpec, ScriptLog, ScriptVersion};
use kiln_wasm::{ExecLimits, ExecOutcome, ExecRequest, ExecStatus};

use crate::auth::Caller;
use crate::dispatch::{Invoked, script_response};
use crate::error::ApiError;
use crate::http_policy;
use crate::metering::ErrorClass;
use crate::server::AppState;

/// Cap on a module's stderr per request: writing more stops it (`WASM_OUTPUT_LIMIT`).
pub const MAX_STDERR_BYTES: usize = 1024 * 1024;
/// Most bytes of a request's stderr written to the script's log (the rest is cut): one chatty
/// module cannot flood the log store.
pub const MAX_LOGGED_STDERR_BYTES: usize = 16 * 1024;

/// An admitted, metered request for a WebAssembly route.
pub struct WasmCall<'a> {
    /// The script version serving it.
    pub script: &'a Arc<ScriptVersion>,
    /// The route.
    pub route: &'a RouteSpec,
    /// Bundle path of the module.
    pub module: &'a str,
    /// Route parameters as matched.
    pub params: &'a [(String, String)],
    /// The request without its body.
    pub parts: &'a http::request::Parts,
    /// The body (within the body limit), the module's stdin.
    pub body: Bytes,
    /// Who is calling, when known.
    pub caller: Option<&'a Caller>,
    /// The caller's tier CPU budget, when it is tighter than the script's.
    pub cpu_limit: Option<Duration>,
    /// The request id.
    pub request_id: &'a str,
}

/// Runs the route's module for `call` and answers.
pub async fn serve(state: &AppState, call: WasmCall<'_>) -> Invoked {
    let log = ScriptLogger {
        state,
        script: call.script,
        request_id: call.request_id,
    };
    let (route_method, route_path) = (call.route.method.as_str(), call.route.path.as_str());
    let modules = state.scripts.wasm_modules();
    let module = match modules.module(&call.script.bundle, call.module).await {
        Ok(module) => module,
        // Deploys compile every module, so this is Kiln's failure, not the script's.
        Err(error) => return failed(ApiError::internal(error), ErrorClass::ExecutionError),
    };
    let client = http_policy::client_info(&call.parts.extensions);
    let mut environment = env::environment(&env::CgiRequest {
        method: &call.parts.method,
        uri: &call.parts.uri,
        version: call.parts.version,
        headers: &call.parts.headers,
        body_len: call.body.len(),
        route_method,
        route_path,
        params: call.params,
        remote_addr: client.ip.to_string(),
        secure: client.secure,
        request_id: call.request_id,
        script: &call.script.name,
        version_number: call.script.version,
    });
    environment.extend(identity(call.caller));
    let limits = &call.script.limits;
    let time = call
        .cpu_limit
        .map_or(limits.cpu, |tier| tier.min(limits.cpu));
    let request = ExecRequest {
        stdin: call.body.to_vec(),
        env: environment,
        limits: ExecLimits {
            time,
            memory_bytes: u64::try_from(limits.memory_bytes).unwrap_or(u64::MAX),
            max_stdout: limits
                .max_response_bytes
                .saturating_add(output::MAX_HEADER_BYTES),
            max_stderr: MAX_STDERR_BYTES,
            ..ExecLimits::default()
        },
        ..ExecRequest::default()
    };
    let runtime = modules.runtime().clone();
    let outcome = match tokio::task::spawn_blocking(move || runtime.run(&module, request)).await {
        Ok(outcome) => outcome,
        Err(join) => {
            return failed(
                ApiError::internal(format!("the WebAssembly task failed: {join}")),
                ErrorClass::ExecutionError,
            );
        }
    };
    log.stderr(&outcome.stderr);
    let what = format!(
        "WebAssembly handler {route_method} {route_path} ({})",
        call.module
    );
    let (mut invoked, problem) = answer(&outcome, time, limits, &what);
    if let Some(problem) = problem {
        log.line(LogLevel::Error, problem);
    }
    invoked.cpu = match invoked.class {
        // Like a JavaScript CPU timeout: the call used the budget it exceeded.
        ErrorClass::TimeLimitExceeded => time,
        _ => outcome.cpu_time,
    };
    invoked
}

/// The answer for `outcome`, and the problem to log when it failed.
fn answer(
    outcome: &ExecOutcome,
    time: Duration,
    limits: &kiln_js::Limits,
    what: &str,
) -> (Invoked, Option<String>) {
    let error = |status: StatusCode, code: &str, message: String| {
        ApiError::new(status, code, format!("{what}: {message}"))
    };
    let (error, class, detail) = match &outcome.status {
        ExecStatus::Success => match output::parse(&outcome.stdout, limits.max_response_bytes) {
            Ok(cgi) => {
                let bytes_out = cgi.body.len();
                let invoked = Invoked {
                    response: script_response(cgi.status, cgi.headers, cgi.body),
                    class: ErrorClass::Success,
                    cpu: Duration::ZERO,
                    bytes_out,
                };
                return (invoked, None);
            }
            Err(problem) => (
                error(
                    StatusCode::BAD_GATEWAY,
                    "WASM_BAD_GATEWAY",
                    format!("the output is not a valid CGI response: {problem}"),
                ),
                ErrorClass::ExecutionError,
                None,
            ),
        },
        ExecStatus::TimeLimitExceeded => (
            error(
                StatusCode::GATEWAY_TIMEOUT,
                "SCRIPT_TIMEOUT",
                format!("exceeded its time budget of {} ms", time.as_millis()),
            ),
            ErrorClass::TimeLimitExceeded,
            None,
        ),
        ExecStatus::MemoryLimitExceeded => (
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "SCRIPT_MEMORY_LIMIT",
                format!(
                    "exceeded its memory limit of {} MiB",
                    limits.memory_bytes / (1024 * 1024)
                ),
            ),
            ErrorClass::MemoryLimitExceeded,
            None,
        ),
        ExecStatus::ExitNonZero => (
            error(
                StatusCode::BAD_GATEWAY,
                "WASM_EXIT_NONZERO",
                format!(
                    "exited with code {}",
                    outcome.exit_code.map_or("?".to_owned(), |c| c.to_string())
                ),
            ),
            ErrorClass::ExecutionError,
            None,
        ),
        ExecStatus::OutputLimitExceeded => (
            error(
                StatusCode::BAD_GATEWAY,
                "WASM_OUTPUT_LIMIT",
                format!(
                    "wrote more than {} bytes to stdout or {MAX_STDERR_BYTES} bytes to stderr",
                    limits
                        .max_response_bytes
                        .saturating_add(output::MAX_HEADER_BYTES)
                ),
            ),
            ErrorClass::ExecutionError,
            None,
        ),
        // The trap's message (with the wasm backtrace) is for the author: the log, not the client.
        ExecStatus::Trap { message } => (
            error(
                StatusCode::BAD_GATEWAY,
                "WASM_TRAP",
                "trapped (the script's log has the details)".to_owned(),
            ),
            ErrorClass::ExecutionError,
            Some(format!("trapped: {message}")),
        ),
        ExecStatus::InvalidInvocation { message } => (
            error(
                StatusCode::BAD_GATEWAY,
                "WASM_BAD_GATEWAY",
                "could not be run (the script's log has the details)".to_owned(),
            ),
            ErrorClass::ExecutionError,
            Some(message.clone()),
        ),
    };
    let problem = detail.map_or_else(|| error.message.clone(), |d| format!("{what}: {d}"));
    (failed(error, class), Some(problem))
}

fn failed(error: ApiError, class: ErrorClass) -> Invoked {
    Invoked {
        response: error.into_response(),
        class,
        cpu: Duration::ZERO,
        bytes_out: 0,
    }
}

/// CGI's `AUTH_TYPE` / `REMOTE_USER` and Kiln's identity variables for an identified caller.
/// Credentials themselves never reach the module.
fn identity(caller: Option<&Caller>) -> Vec<(String, String)> {
    let Some(caller) = caller else {
        return Vec::new();
    };
    let mut env = Vec::new();
    let mut set = |name: &str, value: String| env.push((name.to_owned(), value));
    set(
        "AUTH_TYPE",
        if caller.api_key.is_some() {
            "Bearer"
        } else {
            "Cookie"
        }
        .to_owned(),
    );
    if let Some(user) = &caller.user {
        set("REMOTE_USER", user.email.clone());
        set("KILN_USER_ID", user.id.to_string());
        set("KILN_USER_EMAIL", user.email.clone());
        set("KILN_USER_ROLES", user.roles.join(","));
    }
    if let Some(key) = &caller.api_key {
        set("KILN_API_KEY_ID", key.id.to_string());
        set("KILN_API_KEY_NAME", key.name.clone());
        set("KILN_API_KEY_TIER", key.tier.clone());
    }
    env
}

/// Writes a request's lines to its script's log.
struct ScriptLogger<'a> {
    state: &'a AppState,
    script: &'a ScriptVersion,
    request_id: &'a str,
}

impl ScriptLogger<'_> {
    fn line(&self, level: LogLevel, message: String) {
        self.state.log_pipeline.log(ScriptLog {
            script: self.script.name.clone(),
            version: self.script.version,
            level,
            message,
            request_id: Some(self.request_id.to_owned()),
            time_ms: now_ms(),
        });
    }

    /// The module's stderr as one log line (at most [`MAX_LOGGED_STDERR_BYTES`]).
    fn stderr(&self, stderr: &[u8]) {
        let text = String::from_utf8_lossy(stderr);
        let text = text.trim_end_matches(['\n', '\r']);
        if text.is_empty() {
            return;
        }
        let mut cut = text.len().min(MAX_LOGGED_STDERR_BYTES);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut message = text[..cut].to_owned();
        if cut < text.len() {
            message.push_str("… [truncated]");
        }
        self.line(LogLevel::Info, message);
    }
}
