//! The benchmark baseline: a minimal native axum server with exactly the three routes of the
//! Kiln benchmark (see `bench/README.md`), so Kiln's throughput can be compared with native Rust
//! handlers measured on the same machine in the same run.
//!
//! - `GET /` → `hello world` (text/plain)
//! - `POST /echo` → the JSON body with `"echoed": true` added, as JSON
//! - `GET /fib?n=20` → `{"n":20,"fib":6765}`, recursive, `n` capped at 30 (400 on a bad `n`)
//!
//! Usage: `kiln-bench-baseline [ADDR]` (default `127.0.0.1:9001`).

use std::collections::HashMap;
use std::process::ExitCode;

use axum::Json;
use axum::Router;
use axum::extract::Query;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

/// Largest `n` accepted by `/fib` (keeps one request's work bounded).
const MAX_FIB_N: u32 = 30;

async fn hello() -> &'static str {
    "hello world"
}

async fn echo(Json(mut body): Json<Value>) -> Response {
    match body.as_object_mut() {
        Some(object) => {
            object.insert("echoed".to_owned(), Value::Bool(true));
            Json(body).into_response()
        }
        None => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "the body must be a JSON object"})),
        )
            .into_response(),
    }
}

fn fib(n: u32) -> u64 {
    if n < 2 {
        u64::from(n)
    } else {
        fib(n - 1) + fib(n - 2)
    }
}

async fn fib_handler(Query(query): Query<HashMap<String, String>>) -> Response {
    let n = match query.get("n") {
        None => 20,
        Some(raw) => match raw.parse::<u32>() {
            Ok(n) if n <= MAX_FIB_N => n,
            _ => {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"error": format!("n must be an integer from 0 to {MAX_FIB_N}")})),
                )
                    .into_response();
            }
        },
    };
    // Written directly so the keys keep the order of the benchmark's `{"n":20,"fib":6765}`
    // (serde_json's `Value` sorts object keys).
    (
        [(header::CONTENT_TYPE, "application/json")],
        format!("{{\"n\":{n},\"fib\":{}}}", fib(n)),
    )
        .into_response()
}

fn app() -> Router {
    Router::new()
        .route("/", get(hello))
        .route("/echo", post(echo))
        .route("/fib", get(fib_handler))
}

#[tokio::main]
async fn main() -> ExitCode {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".to_owned());
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("kiln-bench-baseline: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("kiln-bench-baseline: listening on {addr}");
    if let Err(e) = axum::serve(listener, app()).await {
        eprintln!("kiln-bench-baseline: server error: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
