//! Executing a stored module: `POST /api/modules/{name}/execute` hands the request to the
//! shared execution pipeline ([`crate::execute::run_execution`]) with the module's name; the
//! pipeline calls back here to find the module ([`runnable`]) and, once it ran, to count the
//! execution ([`count_execution`]). The module's hash comes from [`super::lookup`] (a
//! short-lived cache) or the store, and the compiled module from the runtime's cache by that
//! hash when it is there (no bytes read, no hashing); otherwise the bytes are read and prepared
//! (a cache hit on disk, or a compile).

use std::sync::Arc;

use axum::extract::{Extension, FromRequest as _, Multipart, Path, Request, State};
use axum::response::{IntoResponse as _, Response};
use http::{HeaderMap, StatusCode, header};

use super::lookup::ModuleRef;
use super::{not_found, valid_name};
use crate::auth::Caller;
use crate::auth::client::ClientMeta;
use crate::error::ApiError;
use crate::execute::{ModuleSource, RunnableModule, form, run_execution};
use crate::server::AppState;

/// `POST /api/modules/{name}/execute`: the `/execute` fields minus `wasm`, as
/// `multipart/form-data`; every field is optional, so a request without a body runs the
/// module with no input, arguments or environment.
pub async fn execute(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Extension(client): Extension<ClientMeta>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    let multipart = if has_body(&headers) {
        match Multipart::from_request(request, &state).await {
            Ok(multipart) => Some(multipart),
            Err(rejection) => {
                return form::bad_request(format!(
                    "the body must be multipart/form-data: {}",
                    rejection.body_text()
                ))
                .into_response();
            }
        }
    } else {
        None
    };
    let source = ModuleSource::Stored(name);
    run_execution(&state, &headers, &client, multipart, source).await
}

/// Whether a request has a body to parse: a `Content-Type`, a chunked body or a non-zero
/// `Content-Length`.
fn has_body(headers: &HeaderMap) -> bool {
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    headers.contains_key(header::CONTENT_TYPE)
        || headers.contains_key(header::TRANSFER_ENCODING)
        || length.is_some_and(|n| n > 0)
}

/// The caller's module `name`, ready to run, and its size. 404 when the caller has no such
/// module, 413 when it is larger than the caller's tier allows (`max_wasm_bytes`).
pub async fn runnable(
    state: &AppState,
    caller: &Caller,
    name: &str,
    max_wasm_bytes: usize,
) -> Result<(RunnableModule, usize), ApiError> {
    valid_name(name)?;
    let owner = caller
        .user_id()
        .ok_or_else(|| ApiError::internal("an execution without an account"))?;
    let store = state.scripts.store();
    let lookups = &state.module_lookups;
    let module = match lookups.get(owner, name) {
        Some(module) => module,
        None => {
            let generation = lookups.generation();
            let record = store
                .get_module(owner, name)
                .await?
                .ok_or_else(|| not_found(name))?;
            let module = ModuleRef {
                hash: record.hash,
                size_bytes: record.size_bytes,
            };
            lookups.insert(owner, name, module.clone(), generation);
            module
        }
    };
    let size = usize::try_from(module.size_bytes).unwrap_or(usize::MAX);
    if size > max_wasm_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!(
                "the module {name:?} ({size} bytes) is larger than your tier's limit of \
                 {max_wasm_bytes} bytes"
            ),
        ));
    }
    if let Some(prepared) = state.wasm.cached(&module.hash) {
        return Ok((RunnableModule::Prepared(prepared), size));
    }
    // Evicted from memory (or a restart): read the bytes; preparing them hits the disk cache.
    let (_, bytes) = store
        .get_module_with_bytes(owner, name)
        .await?
        .ok_or_else(|| not_found(name))?;
    let size = bytes.len();
    Ok((RunnableModule::Bytes(bytes), size))
}

/// Counts one execution of `owner`'s module `name` (its `execution_count` and
/// `last_executed_at`). A failure is logged, not answered: the execution itself happened.
pub async fn count_execution(state: &AppState, owner: i64, name: &str) {
    let store = state.scripts.store();
    match store
        .record_module_execution(owner, name, crate::auth::now_ms())
        .await
    {
        Ok(true) => {}
        // Deleted while it ran: nothing left to count.
        Ok(false) => tracing::debug!(module = name, "executed module was deleted meanwhile"),
        Err(error) => tracing::warn!(%error, module = name, "could not count a module execution"),
    }
}
