//! One-shot WebAssembly execution, compatible with WasmWiz: `POST /execute` and
//! `POST /api/execute` take a module and its input as `multipart/form-data` (see [`form`]),
//! authenticate an API key with the `execute` scope, apply the key's tier (rate limit, daily
//! quota, concurrency, module/input size, time and memory limits), run the module in the
//! `kiln-wasm` sandbox on the blocking pool, answer WasmWiz's JSON shape (plus Kiln's extra
//! fields), and record a usage event.

pub mod form;

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Multipart, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use kiln_wasm::{ExecLimits, ExecOutcome, ExecRequest, ExecStatus, WasmError};
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

/// `POST /execute`, `POST /api/execute`.
pub async fn execute(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    client: axum::extract::Extension<ClientMeta>,
    multipart: Multipart,
) -> Response {
    let request_id = headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let caller = match authenticate(&state, &headers).await {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    let usage = UsageRecorder::start(&state.metering, &caller, "execute", None, None);
    let record = |status: StatusCode, class: ErrorClass, cpu: Duration, bytes: (usize, usize)| {
        usage.record(status, class, cpu, bytes.0, bytes.1);
    };
    let metered = match meter(&state, Some(&caller), &client).await {
        Ok(metered) => metered,
        Err((error, extra)) => {
            record(
                error.status,
                ErrorClass::of_error(error.status, &error.code),
                Duration::ZERO,
                (0, 0),
            );
            return with_headers(error.into_response(), &extra);
        }
    };
    let Some(tier) = metered.tier.clone() else {
        return ApiError::internal("an API key call was not metered").into_response();
    };
    let limits = FormLimits {
        max_wasm_bytes: usize::try_from(tier.max_wasm_bytes).unwrap_or(usize::MAX),
        max_input_bytes: usize::try_from(tier.max_input_bytes).unwrap_or(usize::MAX),
    };
    let form = match form::parse(multipart, limits, true).await {
        Ok(form) => form,
        Err(error) => {
            record(
                error.status,
                ErrorClass::ValidationError,
                Duration::ZERO,
                (0, 0),
            );
            return with_headers(error.into_response(), &metered.headers);
        }
    };
    let module_bytes = form.wasm.unwrap_or_default();
    let bytes_in = module_bytes.len() + form.input.len();
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
        let module = runtime.prepare(&module_bytes)?;
        Ok::<ExecOutcome, WasmError>(runtime.run(&module, exec))
    })
    .await;
    let outcome = match outcome {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(error)) => {
            let error = module_error(error);
            record(
                error.status,
                ErrorClass::ValidationError,
                Duration::ZERO,
                (bytes_in, 0),
            );
            return with_headers(error.into_response(), &metered.headers);
        }
        Err(join) => {
            record(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorClass::ExecutionError,
                Duration::ZERO,
                (bytes_in, 0),
            );
            return ApiError::internal(format!("the execution task failed: {join}"))
                .into_response();
        }
    };
    let (status, class) = match &outcome.status {
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
    };
    record(
        status,
        class,
        outcome.cpu_time,
        (bytes_in, outcome.stdout.len() + outcome.stderr.len()),
    );
    let body = outcome_json(&outcome, &request_id);
    let mut response = (status, Json(body)).into_response();
    for (name, value) in &metered.headers {
        response.headers_mut().insert(name, value.clone());
    }
    drop(metered);
    response
}

/// The caller: an API key with the `execute` scope.
async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Caller, Response> {
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

/// A module that cannot be run at all: 400 with what is wrong.
fn module_error(error: WasmError) -> ApiError {
    match error {
        WasmError::NotWasm(_) => {
            ApiError::new(StatusCode::BAD_REQUEST, "NOT_WASM", error.to_string())
        }
        WasmError::InvalidModule(_) => {
            ApiError::new(StatusCode::BAD_REQUEST, "INVALID_MODULE", error.to_string())
        }
        WasmError::UnknownImport { .. } => ApiError::new(
            StatusCode::BAD_REQUEST,
            "UNSUPPORTED_IMPORT",
            error.to_string(),
        ),
        WasmError::TooLarge { .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            error.to_string(),
        ),
        other => ApiError::internal(other),
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
