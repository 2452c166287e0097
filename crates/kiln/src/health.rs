//! Health endpoints: `/health/live` (the process answers), `/health/ready` (the store answers,
//! so this instance can serve), `/health` (details as JSON).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

use crate::server::AppState;

/// `GET /health/live`.
pub async fn live() -> Response {
    Json(serde_json::json!({ "status": "ok" })).into_response()
}

/// `GET /health/ready`: 200 when the store answers, 503 otherwise.
pub async fn ready(State(state): State<Arc<AppState>>) -> Response {
    match state.scripts.store().ping().await {
        Ok(()) => Json(serde_json::json!({ "status": "ready" })).into_response(),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({
                "status": "unavailable",
                "checks": { "database": error.to_string() }
            })),
        )
            .into_response(),
    }
}

/// `GET /health`: status of each dependency and basic counters.
pub async fn details(State(state): State<Arc<AppState>>) -> Response {
    let database = state.scripts.store().ping().await;
    let table = state.scripts.table();
    let wasm = state.wasm.cache_stats();
    let body = serde_json::json!({
        "status": if database.is_ok() { "ok" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
        "checks": {
            "database": match &database { Ok(()) => "ok".to_string(), Err(e) => e.to_string() },
        },
        "scripts": table.scripts().count(),
        "routes": table.routes().len(),
        "workers": state.scripts.engine().worker_count(),
        "workers_replaced": state.scripts.engine().workers_replaced(),
        "script_log_lines_dropped": state.log_pipeline.dropped(),
        "wasm_module_cache": {
            "hits": wasm.hits,
            "misses": wasm.misses,
            "disk_hits": wasm.disk_hits,
            "entries": wasm.entries,
        },
    });
    let status = if database.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}
