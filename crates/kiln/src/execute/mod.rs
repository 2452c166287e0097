//! One-shot WebAssembly execution, compatible with WasmWiz: `POST /execute` and
//! `POST /api/execute` take a module and its input as `multipart/form-data` (see [`form`]),
//! authenticate an API key with the `execute` scope, apply the key's tier (rate limit, daily
//! quota, concurrency, module/input size, time and memory limits), run the module in the
//! `kiln-wasm` sandbox on the blocking pool, answer WasmWiz's JSON shape (plus Kiln's extra
//! fields), and record a usage event. The pipeline ([`run_execution`]) is shared with stored
//! modules (`POST /api/modules/{name}/execute`, [`crate::modules`]); only where the module
//! comes from differs ([`ModuleSource`]).

pub mod form;

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Extension, Multipart, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use kiln_wasm::{ExecLimits, ExecOutcome, ExecRequest, ExecStatus, PreparedModule, WasmError};
use serde_json::json;

use crate::auth::client::ClientMeta;
use crate::auth::{Caller, forbidden, unauthorized};
use crate::error::{ApiError, REQUEST_ID_HEADER};
use crate::metering::{ErrorClass, UsageRecorder, meter};
use crate::server::AppState;
use form::FormLimits;

/// Cap on a module's stdout and on its stderr.
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;
/// Largest module any tier may upload (tiers set their own, lower limits).
pub const MAX_MODULE_BYTES: usize = 64 * 1024 * 1024;
/// Largest `/execute` body: the largest module, input and form overhead.
pub const MAX_BODY_BYTES: usize = MAX_MODULE_BYTES + 16 * 1024 * 1024;

/// Where an execution's module comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModuleSource {
    /// The form's `wasm` field (`POST /execute`).
    Upload,
    /// The caller's stored module of this name (`POST /api/modules/{name}/execute`); the form
    /// must not carry a `wasm` field.
    Stored(String),
}

impl ModuleSource {
    /// The usage event's route: none for uploads, `module:NAME` for stored modules.
    fn usage_route(&self) -> Option<String> {
        match self {
            ModuleSource::Upload => None,
            ModuleSource::Stored(name) => Some(format!("module:{name}")),
        }
    }
}

/// A module ready for the blocking run: bytes still to prepare (the runtime's cache makes a
/// repeat cheap), or a module already prepared.
pub enum RunnableModule {
    /// Bytes to hand to [`kiln_wasm::WasmRuntime::prepare`].
    Bytes(Vec<u8>),
    /// A module found in the runtime's cache by its hash.
    Prepared(Arc<PreparedModule>),
}

/// `POST /execute`, `POST /api/execute`.
pub async fn execute(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Extension(client): Extension<ClientMeta>,
    multipart: Multipart,
) -> Response {
    run_execution(
        &state,
        &headers,
        &client,
        Some(multipart),
        ModuleSource::Upload,
    )
    .await
}

/// The execution pipeline shared by one-shot and stored-module executions: authenticate an
/// `execute` API key, meter it against its tier, parse the form, find the module (`source`),
/// run it on the blocking pool, record usage (and, for a stored module, its execution
/// statistics) and answer WasmWiz's JSON with the rate-limit headers. `multipart` is `None`
/// for a request without a body (a stored module run without any field).
pub async fn run_execution(
    state: &AppState,
    headers: &HeaderMap,
    client: &ClientMeta,
    multipart: Option<Multipart>,
    source: ModuleSource,
) -> Response {
    let request_id = headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let caller = match authenticate(state, headers).await {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    let mut usage = UsageRecorder::start(
        &state.metering,
        &caller,
        "execute",
        None,
        source.usage_route(),
    );
    let metered = match meter(state, Some(&caller), client).await {
        Ok(metered) => metered,
        Err((error, extra)) => {
            let class = ErrorClass::of_error(error.status, &error.code);
            usage.record(error.status, class, Duration::ZERO, 0, 0);
            return with_headers(error.into_response(), &extra);
        }
    };
    // A refusal before the module ran: a validation error in usage, with the metering headers.
    let refuse = |usage: &UsageRecorder<'_>, error: ApiError, bytes_in: usize| {
        usage.record(
            error.status,
            ErrorClass::ValidationError,
            Duration::ZERO,
            bytes_in,
            0,
        );
        with_headers(error.into_response(), &metered.headers)
    };
    let Some(tier) = metered.tier.clone() else {
        return ApiError::internal("an API key call was not metered").into_response();
    };
    let limits = FormLimits {
        max_wasm_bytes: usize::try_from(tier.max_wasm_bytes).unwrap_or(usize::MAX),
        max_input_bytes: usize::try_from(tier.max_input_bytes).unwrap_or(usize::MAX),
    };
    let parsed = match multipart {
        Some(multipart) => form::parse(multipart, limits, source == ModuleSource::Upload).await,
        None if source != ModuleSource::Upload => Ok(form::ExecuteForm::default()),
        None => Err(form::bad_request(
            "send the module as multipart/form-data (field `wasm`)",
        )),
    };
    let form = match parsed {
        Ok(form) => form,
        Err(error) => return refuse(&usage, error, 0),
    };
    let (module, module_bytes) = match &source {
        ModuleSource::Upload => {
            let bytes = form.wasm.unwrap_or_default();
            let size = bytes.len();
            (RunnableModule::Bytes(bytes), size)
        }
        ModuleSource::Stored(name) => {
            if form.wasm.is_some() {
                let error = form::bad_request(
                    "a stored module runs by its name: leave out the `wasm` field",
                );
                return refuse(&usage, error, form.input.len());
            }
            match crate::modules::runnable(state, &caller, name, limits.max_wasm_bytes).await {
                Ok(found) => found,
                Err(error) => return refuse(&usage, error, form.input.len()),
            }
        }
    };
    let input_bytes = form.input.len();
    let bytes_in = module_bytes_in(&source, module_bytes) + input_bytes;
    usage.set_wasm(module_bytes, input_bytes, 0);
    let runtime = state.wasm.clone();
    let exec = ExecRequest {
        stdin: form.input,
        args: form.args,
        env: form.env,
        function: form.function,
        function_args: form.function_args,
        limits: ExecLimits {
            time: Duration::from_millis(u64::try_from(tier.cpu_ms).unwrap_or(1)),
            memory_bytes: u64::try_from(tier.memory_mb)
                .unwrap_or(1)
                .saturating_mul(1024 * 1024),
            max_stdout: MAX_OUTPUT_BYTES,
            max_stderr: MAX_OUTPUT_BYTES,
            ..ExecLimits::default()
        },
    };
    let outcome = tokio::task::spawn_blocking(move || {
        let module = match module {
            RunnableModule::Bytes(bytes) => runtime.prepare(&bytes)?,
            RunnableModule::Prepared(module) => module,
        };
        Ok::<ExecOutcome, WasmError>(runtime.run(&module, exec))
    })
    .await;
    let outcome = match outcome {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(error)) => return refuse(&usage, module_error(error), bytes_in),
        Err(join) => {
            usage.record(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorClass::ExecutionError,
                Duration::ZERO,
                bytes_in,
                0,
            );
            return ApiError::internal(format!("the execution task failed: {join}"))
                .into_response();
        }
    };
    let (status, class) = status_of(&outcome.status);
    usage.set_wasm(module_bytes, input_bytes, outcome.memory_peak_bytes);
    usage.record(
        status,
        class,
        outcome.cpu_time,
        bytes_in,
        outcome.stdout.len() + outcome.stderr.len(),
    );
    if let (ModuleSource::Stored(name), Some(owner)) = (&source, caller.user_id()) {
        crate::modules::count_execution(state, owner, name).await;
    }
    let body = outcome_json(&outcome, &request_id);
    let response = with_headers((status, Json(body)).into_response(), &metered.headers);
    drop(metered);
    response
}

/// Request bytes of the module: an uploaded module came with the request; a stored one did not.
fn module_bytes_in(source: &ModuleSource, module_bytes: usize) -> usize {
    match source {
        ModuleSource::Upload => module_bytes,
        ModuleSource::Stored(_) => 0,
    }
}

/// The answer's status and the usage class of an execution that ran.
fn status_of(status: &ExecStatus) -> (StatusCode, ErrorClass) {
    match status {
        ExecStatus::Success => (StatusCode::OK, ErrorClass::Success),
        ExecStatus::TimeLimitExceeded => (
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorClass::TimeLimitExceeded,
        ),
        ExecStatus::MemoryLimitExceeded => (
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorClass::MemoryLimitExceeded,
        ),
        ExecStatus::InvalidInvocation { .. } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorClass::ValidationError,
        ),
        _ => (StatusCode::UNPROCESSABLE_ENTITY, ErrorClass::ExecutionError),
    }
}

/// The caller: an API key with the `execute` scope.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Caller, Response> {
    let caller = state
        .auth
        .authenticate(&http::Method::POST, headers)
        .await
        .map_err(IntoResponse::into_response)?;
    let Some(caller) = caller.filter(|c| c.api_key.is_some()) else {
        let mut response = unauthorized(
            "API_KEY_REQUIRED",
            "executing WebAssembly needs an API key with the `execute` scope: `Authorization: Bearer kiln_…`",
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return Err(response);
    };
    if !caller.has_scope("execute") {
        return Err(forbidden(
            "INSUFFICIENT_SCOPE",
            "this API key lacks the `execute` scope needed to run WebAssembly",
        )
        .into_response());
    }
    Ok(caller)
}

/// A module that cannot be run at all: 400 with what is wrong (413 when too large).
pub fn module_error(error: WasmError) -> ApiError {
    match module_error_code(&error) {
        Some((status, code)) => ApiError::new(status, code, error.to_string()),
        None => ApiError::internal(error),
    }
}

/// The status and code of a module the caller got wrong (not WebAssembly, invalid, importing
/// what Kiln does not provide, too large); `None` for Kiln's own failures.
pub fn module_error_code(error: &WasmError) -> Option<(StatusCode, &'static str)> {
    match error {
        WasmError::NotWasm(_) => Some((StatusCode::BAD_REQUEST, "NOT_WASM")),
        WasmError::InvalidModule(_) => Some((StatusCode::BAD_REQUEST, "INVALID_MODULE")),
        WasmError::UnknownImport { .. } => Some((StatusCode::BAD_REQUEST, "UNSUPPORTED_IMPORT")),
        WasmError::TooLarge { .. } => Some((StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE")),
        _ => None,
    }
}

/// WasmWiz's answer (`output`, `error`) plus Kiln's fields.
fn outcome_json(outcome: &ExecOutcome, request_id: &str) -> serde_json::Value {
    let (output, output_base64) = match std::str::from_utf8(&outcome.stdout) {
        Ok(text) => (text.to_owned(), None),
        Err(_) => (
            String::from_utf8_lossy(&outcome.stdout).into_owned(),
            Some(base64::engine::general_purpose::STANDARD.encode(&outcome.stdout)),
        ),
    };
    let (error, error_code) = match &outcome.status {
        ExecStatus::Success => (None, None),
        other => (Some(other.message()), Some(other.code())),
    };
    let mut body = json!({
        "output": output,
        "error": error,
        "error_code": error_code,
        // A command that returns from `_start` exits with 0, as under a real WASI host.
        "exit_code": outcome.exit_code.or_else(|| outcome.status.is_success().then_some(0)),
        "stderr": String::from_utf8_lossy(&outcome.stderr),
        "duration_ms": u64::try_from(outcome.duration.as_millis()).unwrap_or(u64::MAX),
        "cpu_ms": u64::try_from(outcome.cpu_time.as_millis()).unwrap_or(u64::MAX),
        "memory_peak_bytes": outcome.memory_peak_bytes,
        "request_id": request_id,
    });
    if let Some(encoded) = output_base64 {
        body["output_base64"] = json!(encoded);
    }
    if !outcome.returned.is_empty() {
        body["result"] = json!(outcome.returned);
    }
    body
}

fn with_headers(mut response: Response, extra: &HeaderMap) -> Response {
    for (name, value) in extra {
        response.headers_mut().insert(name, value.clone());
    }
    response
}
