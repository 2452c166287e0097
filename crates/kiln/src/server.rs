//! The HTTP server: state, router, middleware order, start-up and graceful shutdown.
//!
//! Middleware, outermost first (one place, so the order is reviewable):
//! 1. [`RequestContextLayer`] — every request gets an `x-request-id` (kept if the client sent a
//!    sane one), echoed on the response; every error body gets the standard JSON shape with it;
//!    a panic below becomes a 500; it also writes the access log line (debug level; server
//!    errors at warn);
//! 2. [`HttpPolicy`](http_policy::HttpPolicy) — stores the [`ClientInfo`](http_policy::ClientInfo)
//!    (peer address, or the forwarded one from a trusted proxy; HTTPS or not) in the request
//!    extensions, adds the security headers the response lacks (`http.security_headers`) and,
//!    when `[http.cors]` lists origins, runs the request through tower-http's CORS layer, which
//!    answers preflights itself and adds the CORS headers to the other responses;
//! 3. tower-http's compression (`http.compression`): gzip or brotli as the client accepts,
//!    never tiny bodies, images, `text/event-stream` or Kiln's own error responses (layer 1
//!    rewrites those);
//! 4. [`Front`] — Kiln's own paths go to the axum router, everything else to the scripts. Body
//!    limits are per route class: scripts `http.max_body_bytes` (in [`dispatch`]), the
//!    management API the larger of that and twice `limits.max_bundle_bytes`
//!    ([`DefaultBodyLimit`] on its router); `http.max_auth_body_bytes` is meant for `/auth`.
//!    An oversized body is a 413 `PAYLOAD_TOO_LARGE` in the standard JSON shape.
//!
//! Connections are served with `ConnectInfo<SocketAddr>` (axum's connect info), which layer 2
//! reads; a service called without it (`oneshot` in tests) sees clients as `0.0.0.0`.
//!
//! Routes: `/health*`, `/engine/api/*` (management), `/engine/types/kiln.d.ts`, `/auth/*`, `/execute` and `/api/execute`
//! (one-shot WebAssembly), `/api/modules*` (stored modules), and everything else to scripts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use kiln_js::{Engine, EngineConfig};

use crate::script_db::ScriptDbs;
use crate::script_services::ScriptServices;
use crate::script_services::db::DbService;
use crate::script_services::fetch::FetchService;
use kiln_store::{SqliteStore, Store};

use crate::admin_token::AdminToken;
use crate::auth::AuthService;
use crate::auth::client::ClientMeta;
use crate::auth::oidc_routes::OidcRegistry;
use crate::bundle_wasm::BundleModules;
use crate::config::Config;
use crate::error::{RequestContext, RequestContextLayer};
use crate::front::Front;
use crate::http_policy;
use crate::metering::Metering;
use crate::script_logs::{self, LogPipeline};
use crate::scripts::ScriptService;
use crate::secrets::{SecretsService, master_key};
use crate::{api, auth, dispatch, execute, health, modules};

/// Everything request handlers share.
pub struct AppState {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// Scripts: route table, deploys, store and engine.
    pub scripts: Arc<ScriptService>,
    /// Authentication: sessions, API keys, the bootstrap token, audit.
    pub auth: Arc<AuthService>,
    /// Rate limits, quotas, usage accounting.
    pub metering: Arc<Metering>,
    /// Configured OIDC providers.
    pub oidc: Arc<OidcRegistry>,
    /// The WebAssembly runtime (module cache, sandbox).
    pub wasm: Arc<kiln_wasm::WasmRuntime>,
    /// The script log pipeline (for its counters).
    pub log_pipeline: Arc<LogPipeline>,
    /// Scripts' secrets: management, `ctx.env` overlays, log redaction.
    pub secrets: Arc<SecretsService>,
    /// Stored modules' (owner, name) → hash, briefly cached for executions by name.
    pub module_lookups: Arc<crate::modules::lookup::ModuleLookups>,
}

/// The whole HTTP service: the request-context middleware around the HTTP hygiene stack around
/// the [`Front`] split between Kiln's router and the scripts (no socket; testable with
/// `oneshot`). See the module documentation for the order.
pub type App = RequestContext<http_policy::Hygiene<Front>>;

/// Builds the [`App`] service.
pub fn app(state: Arc<AppState>) -> App {
    let router = kiln_router(state.clone());
    let front = Front::new(router, state.clone());
    let hygiene = http_policy::layer(&state.config.http, front);
    tower::Layer::layer(&RequestContextLayer, hygiene)
}

/// Kiln's own routes (`/health*`, `/engine/api/*`, `/engine/types/kiln.d.ts`); other paths fall
/// back to the scripts.
fn kiln_router(state: Arc<AppState>) -> Router {
    let api_body_limit = state
        .config
        .http
        .max_body_bytes
        .max(state.config.limits.max_bundle_bytes.saturating_mul(2));
    Router::new()
        .route("/health", get(health::details))
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/engine/types/kiln.d.ts", get(script_types))
        .merge(crate::openapi::docs::router())
        .nest(
            "/engine/api",
            api::router(state.clone()).layer(DefaultBodyLimit::max(api_body_limit)),
        )
        .route("/execute", execute_route())
        .route("/api/execute", execute_route())
        .merge(modules::router().layer(DefaultBodyLimit::max(modules::MAX_BODY_BYTES)))
        .nest(
            "/auth",
            auth::routes::router()
                .layer(DefaultBodyLimit::max(state.config.http.max_auth_body_bytes)),
        )
        .fallback(dispatch::script_route)
        .layer(axum::middleware::map_request(with_client_meta))
        .with_state(state)
}

/// The TypeScript declarations of the script API (`types/kiln.d.ts` of this build), for editors
/// and `tsc`: `curl -o kiln.d.ts http://…/engine/types/kiln.d.ts`.
async fn script_types() -> impl axum::response::IntoResponse {
    (
        [
            (
                http::header::CONTENT_TYPE,
                "application/typescript; charset=utf-8",
            ),
            (http::header::CACHE_CONTROL, "public, max-age=300"),
        ],
        SCRIPT_TYPES,
    )
}

/// `types/kiln.d.ts`, compiled into the binary.
pub const SCRIPT_TYPES: &str = include_str!("../../../types/kiln.d.ts");

/// `POST` of the one-shot execution API, with its own body limit (modules are large).
fn execute_route() -> axum::routing::MethodRouter<Arc<AppState>> {
    post(execute::execute).layer(DefaultBodyLimit::max(execute::MAX_BODY_BYTES))
}

/// Records who the client is ([`ClientMeta`]) in the request's extensions for handlers.
async fn with_client_meta(mut request: axum::extract::Request) -> axum::extract::Request {
    let client = ClientMeta::from_extensions(request.extensions());
    request.extensions_mut().insert(client);
    request
}

/// Opens the store, starts the engine, restores every script and serves on `listener` until
/// `shutdown` resolves; then finishes in-flight requests, stops the workers and flushes logs.
pub async fn run(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let config = Arc::new(config);
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
    let db_path = config.database_path();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&db_path)
            .await
            .with_context(|| format!("opening the database {}", db_path.display()))?,
    );
    let (key, key_source) = master_key::load(&config)?;
    match &key_source {
        master_key::KeySource::Generated(path) => tracing::warn!(
            path = %path.display(),
            "generated the master key of scripts' secrets; back it up: without it no secret can be read"
        ),
        source => tracing::debug!(?source, "loaded the master key of scripts' secrets"),
    }
    let secrets = Arc::new(SecretsService::new(
        store.clone(),
        &key,
        config.secrets.clone(),
    ));
    let admin_token = AdminToken::bootstrap(store.as_ref(), config.admin_token.as_deref()).await?;
    let auth = Arc::new(AuthService::start(store.clone(), config.clone(), admin_token).await?);
    let (metering, usage_writer) = Metering::start(store.clone(), &config);
    let wasm = Arc::new(
        kiln_wasm::WasmRuntime::new(kiln_wasm::RuntimeConfig {
            cache_dir: Some(config.data_dir.join("wasm-cache")),
            max_module_bytes: execute::MAX_MODULE_BYTES,
            ..kiln_wasm::RuntimeConfig::default()
        })
        .context("starting the WebAssembly runtime")?,
    );
    let housekeeping = metering.spawn_housekeeping(store.clone(), auth.clone(), config.clone());
    let (log_pipeline, log_writer) = script_logs::start(
        store.clone(),
        config.logs.retention_per_script,
        secrets.clone(),
    );
    let bundle_modules = Arc::new(BundleModules::new(wasm.clone()));
    let script_dbs = Arc::new(
        ScriptDbs::sqlite(&config.data_dir, &config.db)
            .context("creating the directory of scripts' databases")?,
    );
    let engine = Arc::new(
        Engine::start(
            EngineConfig {
                workers: config.engine.workers,
                stuck_after: config.watchdog_after(),
                services: Some(Arc::new(
                    ScriptServices::new(
                        bundle_modules.clone(),
                        store.clone(),
                        config.kv.clone(),
                        log_pipeline.clone(),
                    )
                    .with_fetch(
                        FetchService::new(&config).context("building the HTTP client of fetch")?,
                    )
                    .with_db(DbService::new(script_dbs.clone())),
                )),
            },
            log_pipeline.clone(),
        )
        .context("starting the JavaScript workers")?,
    );
    let scripts = Arc::new(ScriptService::new(
        store.clone(),
        engine.clone(),
        config.clone(),
        bundle_modules,
        script_dbs,
        secrets.clone(),
    ));
    let restored = scripts
        .restore()
        .await
        .context("restoring scripts from the store")?;
    let state = Arc::new(AppState {
        config: config.clone(),
        scripts,
        auth: auth.clone(),
        metering,
        oidc: Arc::new(OidcRegistry::new(
            config.auth.oidc.clone(),
            config.auth.public_url.clone(),
        )),
        wasm,
        log_pipeline,
        secrets,
        module_lookups: Arc::default(),
    });
    let address = listener.local_addr()?;
    tracing::info!(
        %address,
        data_dir = %config.data_dir.display(),
        workers = engine.worker_count(),
        scripts = restored,
        "kiln is serving"
    );
    serve_on_workers(&engine, listener, app(state.clone()), shutdown).await?;
    drop(engine);
    tracing::info!("shutting down: stopping workers and flushing logs");
    // Dropping the last handles stops the workers (joining them) and closes the log channel.
    housekeeping.abort();
    tokio::task::spawn_blocking(move || drop(state)).await?;
    log_writer.flush_and_stop().await;
    auth.flush_key_uses().await;
    drop(auth);
    usage_writer.flush_and_stop().await;
    Ok(())
}

/// Longest time in-flight requests get to finish after shutdown was requested.
const GRACEFUL_SHUTDOWN: Duration = Duration::from_secs(30);

/// Serves `app` from every JavaScript worker thread: each accepts connections on its own
/// handle of the one listening socket, so a request is parsed, dispatched to the isolate and
/// answered on one thread, without handing it to another. A worker busy (or stuck) in a long
/// turn stops accepting; the others take the new connections. Returns once `shutdown` has
/// resolved and every accept loop has finished its in-flight requests (or the grace period
/// has passed).
async fn serve_on_workers(
    engine: &Engine,
    listener: tokio::net::TcpListener,
    app: App,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = Arc::new(listener.into_std()?);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let alive = Arc::new(());
    let tracker = Arc::downgrade(&alive);
    engine.run_on_workers(Arc::new(move |index| {
        let listener = listener.try_clone();
        let app = app.clone();
        let mut stop = stop_rx.clone();
        let alive = tracker.upgrade();
        Box::pin(async move {
            let Some(_alive) = alive else { return };
            let listener = match listener.and_then(tokio::net::TcpListener::from_std) {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::error!(%error, worker = index, "could not listen on a worker thread");
                    return;
                }
            };
            let stopped = async move {
                let _ = stop.wait_for(|stopped| *stopped).await;
            };
            // Connect info: the peer address reaches the client-identity middleware.
            let make_service =
                axum::ServiceExt::into_make_service_with_connect_info::<SocketAddr>(app);
            if let Err(error) = axum::serve(listener, make_service)
                .with_graceful_shutdown(stopped)
                .await
            {
                tracing::error!(%error, worker = index, "HTTP server failed on a worker thread");
            }
        })
    }));
    shutdown.await;
    engine.clear_worker_tasks();
    let _ = stop_tx.send(true);
    let deadline = tokio::time::Instant::now() + GRACEFUL_SHUTDOWN;
    while Arc::strong_count(&alive) > 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}
