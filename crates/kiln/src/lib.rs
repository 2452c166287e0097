//! Kiln: the server, its management API, configuration and command-line interface.
//!
//! # Layout
//! - [`config`]: one configuration struct, layered `kiln.toml` < `KILN_*` environment < flags.
//! - [`cli`]: the `kiln` command line (serve, deploy, rollback, logs, config check).
//! - [`server`]: state, router, middleware order, start-up and graceful shutdown.
//! - [`front`]: the service every request enters: Kiln's own routes vs scripts' routes.
//! - [`http_policy`]: client identity behind proxies, security headers, CORS, compression.
//! - [`dispatch`]: the request path for script routes (route table → engine → response).
//! - [`request_body`]: a script route's request body, read under its size limit.
//! - [`routing`]: the atomically swapped table of script routes.
//! - [`public_files`]: static assets — a bundle's `public/` files served with caching headers.
//! - [`route_cors`]: CORS policies of individual script routes.
//! - [`scripts`]: deploy, rollback, delete and restore — validate, commit, switch.
//! - [`env_vars`]: a version's plain variables (`kiln.toml` `[vars]`, deploy `--var`).
//! - [`secrets`]: scripts' encrypted secrets — master key, cache, `ctx.env`, log redaction.
//! - [`api`]: the management REST API under `/engine/api`.
//! - [`wasm_route`]: routes served by a bundle's WebAssembly module, CGI-style.
//! - [`bundle_wasm`]: the `.wasm` files of script bundles, compiled at deploy and memoised.
//! - [`execute`]: one-shot WebAssembly execution (`POST /execute`, WasmWiz-compatible).
//! - [`script_services`]: the platform operations scripts call (`wasm.run`, …).
//! - [`script_db`]: each script's own SQL database (`db`): limits, transactions, migrations.
//! - [`modules`]: stored WebAssembly modules (`/api/modules`), executed through `execute`.
//! - [`auth`]: who is calling — sessions, API keys, passwords, CSRF, `/auth/*`, policy.
//! - [`metering`]: rate limits, quotas, concurrency caps and usage accounting per call.
//! - [`rate_limit`]: per-minute rate limits and daily quotas per subject (key or IP).
//! - [`batching`]: bounded off-request-path batch writers (logs, usage).
//! - [`oidc`]: OpenID Connect login (authorization code + PKCE) against configured providers.
//! - [`health`], [`script_logs`], [`admin_token`], [`error`]: one job each.

pub mod admin_token;
pub mod api;
pub mod auth;
pub mod batching;
pub mod bundle_wasm;
pub mod cli;
pub mod config;
pub mod dispatch;
pub mod env_vars;
pub mod error;
pub mod execute;
pub mod front;
pub mod health;
pub mod http_policy;
pub mod metering;
pub mod modules;
pub mod oidc;
pub mod openapi;
pub mod public_files;
pub mod rate_limit;
pub mod request_body;
pub mod route_cors;
pub mod routing;
pub mod script_db;
pub mod script_logs;
pub mod script_services;
pub mod scripts;
pub mod secrets;
pub mod server;
pub mod wasm_route;
