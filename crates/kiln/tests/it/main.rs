//! Black-box tests: a real Kiln server on 127.0.0.1:0 with a real SQLite file, driven over
//! HTTP with a real client. One integration binary, one module per area.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod api;
mod db;
mod deploy;
mod examples;
mod execute;
mod execute_hostile;
mod execute_samples;
mod fetch;
mod fetch_abort;
mod fetch_body;
mod files;
mod globals;
mod handlers;
mod hostile;
mod hygiene;
mod identity;
mod keys;
mod kv;
mod metering;
mod modules;
mod oidc;
mod oidc_login;
mod oidc_provider;
mod openapi;
mod route_cors;
mod routing;
mod script_wasm;
mod secrets;
mod static_assets;
mod typescript;
mod uploads;
mod wasm_fixtures;
mod wasm_routes;
