//! Script lifecycle: deploy, rollback, delete, and restoring every active version at start-up.
//!
//! Every change follows the same order, under one lock so changes never interleave:
//! 1. **validate** — the engine builds the bundle and runs `init()` in a throwaway isolate
//!    under the script's limits; every `.wasm` file of the bundle is compiled and the
//!    WebAssembly routes checked ([`crate::bundle_wasm`]); route collisions are checked against
//!    the live table;
//! 2. **commit** — the store records the version / active pointer in one transaction;
//! 3. **switch** — workers are told to warm the new version, then the route table is swapped
//!    atomically; the old version's isolates finish their in-flight requests and are retired.
//!
//! A failure in step 1 or 2 leaves the previous version serving, untouched.
//!
//! A version's plain variables (`crate::env_vars`) are merged at deploy, recorded in its
//! metadata and given to the engine as the version's `ctx.env`; rollback and restore read them
//! back from the metadata. Deleting a script also forgets its cached secrets.

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use http::StatusCode;
use kiln_js::{BundleLimits, Engine, Limits, PrepareError, ScriptVersion};
use kiln_store::Store;

use crate::bundle_wasm::{BundleModules, BundleWasmError};
use crate::config::Config;
use crate::error::ApiError;
use crate::public_files::{PublicFiles, time_of};
use crate::routing::RouteTable;
use crate::script_db::error as db_error;
use crate::script_db::{PendingMigrations, ScriptDbs};
use crate::secrets::SecretsService;

/// Longest script name.
pub const MAX_SCRIPT_NAME: usize = 63;

/// Owns the live route table and every operation that changes it.
pub struct ScriptService {
    store: Arc<dyn Store>,
    engine: Arc<Engine>,
    config: Arc<Config>,
    wasm_modules: Arc<BundleModules>,
    /// Scripts' databases: migrations at deploy, removal with the script.
    dbs: Arc<ScriptDbs>,
    secrets: Arc<SecretsService>,
    table: ArcSwap<RouteTable>,
    changes: tokio::sync::Mutex<()>,
}

/// What a successful deploy reports.
pub struct Deployed {
    /// The new version number.
    pub version: i64,
    /// Whether it is now the active version.
    pub active: bool,
    /// The version as validated (routes included).
    pub script: Arc<ScriptVersion>,
}

impl ScriptService {
    /// A service with an empty route table; call [`ScriptService::restore`] next.
    pub fn new(
        store: Arc<dyn Store>,
        engine: Arc<Engine>,
        config: Arc<Config>,
        wasm_modules: Arc<BundleModules>,
        dbs: Arc<ScriptDbs>,
        secrets: Arc<SecretsService>,
    ) -> Self {
        ScriptService {
            store,
            engine,
            config,
            wasm_modules,
            dbs,
            secrets,
            table: ArcSwap::from_pointee(RouteTable::default()),
            changes: tokio::sync::Mutex::new(()),
        }
    }

    /// The current route table (a snapshot; cheap).
    pub fn table(&self) -> Arc<RouteTable> {
        self.table.load_full()
    }

    /// The store behind the service.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The engine behind the service.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// The prepared WebAssembly modules of the deployed bundles.
    pub fn wasm_modules(&self) -> &Arc<BundleModules> {
        &self.wasm_modules
    }

    /// The scripts' databases.
    pub fn dbs(&self) -> &Arc<ScriptDbs> {
        &self.dbs
    }

    /// Loads every script's active version from the store and serves it. A version that no
    /// longer validates (e.g. limits were lowered) is logged and left out; others still serve.
    pub async fn restore(&self) -> anyhow::Result<usize> {
        let _guard = self.changes.lock().await;
        let mut table = RouteTable::default();
        let mut restored = 0;
        for (record, files) in self.store.active_versions().await? {
            let vars = crate::env_vars::from_meta(&record.meta);
            let prepared = match self.prepare(&record.script, files, vars).await {
                Ok(p) => p,
                Err(error) => {
                    tracing::error!(script = %record.script, version = record.version, %error, "could not restore script");
                    continue;
                }
            };
            let script = Arc::new(prepared.committed(record.version));
            let public = PublicFiles::build(&script.bundle, time_of(record.created_at));
            match table.with(script.clone(), Arc::new(public)) {
                Ok(next) => {
                    table = next;
                    self.engine.warm(&script);
                    restored += 1;
                }
                Err(error) => {
                    tracing::error!(script = %record.script, %error, "could not restore script's routes")
                }
            }
        }
        self.table.store(Arc::new(table));
        Ok(restored)
    }

    /// Validates and commits a new version of `name` with variables `vars` laid over its
    /// `kiln.toml` ones; activates it when `activate`.
    pub async fn deploy(
        &self,
        name: &str,
        files: Vec<kiln_store::BundleFile>,
        vars: BTreeMap<String, String>,
        activate: bool,
    ) -> Result<Deployed, ApiError> {
        validate_name(name)?;
        if files.is_empty() {
            return Err(ApiError::bad_request(
                "a deploy needs at least one file (main.js or main.ts)",
            ));
        }
        let vars = crate::env_vars::for_deploy(&files, vars).map_err(|message| {
            ApiError::new(StatusCode::BAD_REQUEST, "DEPLOY_REJECTED", message)
        })?;
        let _guard = self.changes.lock().await;
        let prepared = self
            .prepare(name, files.clone(), vars.clone())
            .await
            .map_err(deploy_rejected)?;
        let draft = Arc::new(prepared);
        let public = PublicFiles::build(&draft.bundle, std::time::SystemTime::now());
        let current = self.table.load_full();
        if activate {
            current
                .with(draft.clone(), Arc::new(public.clone()))
                .map_err(route_conflict)?;
        }
        let meta = serde_json::json!({
            "routes": draft.routes.iter().map(|r| serde_json::json!({"method": r.method, "path": r.path})).collect::<Vec<_>>(),
            "vars": vars,
        });
        // Migrations run for the version that becomes active, before it is recorded, and are
        // committed only once it is (dropped uncommitted otherwise).
        let migrations = match activate {
            true => self.migrate(name, &files).await?,
            false => None,
        };
        let record = self
            .store
            .create_version(name, draft.bundle.entry(), &files, meta, activate)
            .await?;
        commit_migrations(name, migrations).await?;
        let script = Arc::new(draft.committed(record.version));
        if activate {
            let public = public.at(time_of(record.created_at));
            self.switch(&current, script.clone(), public)?;
        }
        Ok(Deployed {
            version: record.version,
            active: activate,
            script,
        })
    }

    /// Makes `version` of `name` the active version again.
    pub async fn rollback(&self, name: &str, version: i64) -> Result<Arc<ScriptVersion>, ApiError> {
        let _guard = self.changes.lock().await;
        let Some(record) = self.store.get_version(name, version).await? else {
            return Err(ApiError::not_found(
                "VERSION_NOT_FOUND",
                format!("script '{name}' has no version {version}"),
            ));
        };
        let files = self.store.get_version_files(name, version).await?;
        let migrations_of = files.clone();
        let vars = crate::env_vars::from_meta(&record.meta);
        let prepared = self
            .prepare(name, files, vars)
            .await
            .map_err(deploy_rejected)?;
        let script = Arc::new(prepared.committed(version));
        let public = PublicFiles::build(&script.bundle, time_of(record.created_at));
        let current = self.table.load_full();
        current
            .with(script.clone(), Arc::new(public.clone()))
            .map_err(route_conflict)?;
        let migrations = self.migrate(name, &migrations_of).await?;
        self.store.set_active_version(name, version).await?;
        commit_migrations(name, migrations).await?;
        self.switch(&current, script.clone(), public)?;
        Ok(script)
    }

    /// Deletes `name` with all its versions and logs; its routes stop answering.
    pub async fn delete(&self, name: &str) -> Result<(), ApiError> {
        let _guard = self.changes.lock().await;
        let existed = self.store.delete_script(name).await?;
        self.secrets.forget(name);
        if !existed {
            return Err(script_not_found(name));
        }
        let current = self.table.load_full();
        let next = current.without(name).map_err(route_conflict)?;
        self.table.store(Arc::new(next));
        if let Some(old) = current.script(name) {
            self.engine.retire(old);
        }
        // The script's database goes with it (export it first to keep the data).
        if let Err(error) = self.dbs.remove(name).await {
            tracing::error!(script = %name, %error, "could not delete the script's database");
        }
        Ok(())
    }

    /// Applies the pending migrations of `files` to `name`'s database, uncommitted; a failure
    /// rejects the deploy (400 `DEPLOY_REJECTED`) with the database unchanged.
    async fn migrate(
        &self,
        name: &str,
        files: &[kiln_store::BundleFile],
    ) -> Result<Option<PendingMigrations>, ApiError> {
        let files = files
            .iter()
            .map(|f| (f.path.as_str(), f.content.as_slice()));
        self.dbs
            .migrate(name, files)
            .await
            .map_err(|error| match error.code {
                db_error::UNAVAILABLE => ApiError::internal(error),
                _ => ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "DEPLOY_REJECTED",
                    format!("migration refused: {} ({})", error.message, error.code),
                ),
            })
    }

    fn switch(
        &self,
        current: &RouteTable,
        script: Arc<ScriptVersion>,
        public: PublicFiles,
    ) -> Result<(), ApiError> {
        let next = current
            .with(script.clone(), Arc::new(public))
            .map_err(route_conflict)?;
        self.engine.warm(&script);
        self.table.store(Arc::new(next));
        if let Some(old) = current.script(&script.name) {
            self.engine.retire(old);
        }
        Ok(())
    }

    async fn prepare(
        &self,
        name: &str,
        files: Vec<kiln_store::BundleFile>,
        vars: BTreeMap<String, String>,
    ) -> Result<ScriptVersion, Invalid> {
        let limits = self.limits_for(name);
        let bundle_limits = BundleLimits {
            max_total_bytes: self.config.limits_for(name).max_bundle_bytes,
            ..BundleLimits::default()
        };
        let files = files
            .into_iter()
            .map(|f| kiln_js::BundleFile {
                path: f.path,
                content: f.content,
            })
            .collect();
        let version = self
            .engine
            .prepare(name, files, limits, vars, bundle_limits)
            .await?;
        self.wasm_modules.validate(&version).await?;
        Ok(version)
    }

    /// The engine limits for script `name` (global defaults merged with its overrides).
    pub fn limits_for(&self, name: &str) -> Limits {
        let configured = self.config.limits_for(name);
        Limits {
            cpu: configured.cpu(),
            init_cpu: configured.init_cpu(),
            wall: configured.wall(),
            memory_bytes: configured.memory_bytes(),
            max_response_bytes: configured.max_response_bytes,
            ..Limits::default()
        }
    }
}

/// Commits migrations applied for a version that is now recorded. A failure here (the
/// database could not write its commit) leaves the version recorded without its migrations:
/// reported as an internal error, and the version is not switched to.
async fn commit_migrations(
    name: &str,
    migrations: Option<PendingMigrations>,
) -> Result<(), ApiError> {
    let Some(migrations) = migrations else {
        return Ok(());
    };
    let applied = migrations.applied.clone();
    migrations.commit().await.map_err(ApiError::internal)?;
    if !applied.is_empty() {
        tracing::info!(script = %name, ?applied, "applied migrations");
    }
    Ok(())
}

/// The error for a script that does not exist.
pub fn script_not_found(name: &str) -> ApiError {
    ApiError::not_found("SCRIPT_NOT_FOUND", format!("no script named '{name}'"))
}

/// Script names: 1–63 characters of `a-z`, `0-9`, `-`, `_`, starting with a letter or digit.
pub fn validate_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_SCRIPT_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "invalid script name '{name}': use 1-{MAX_SCRIPT_NAME} characters a-z, 0-9, '-' or '_', starting with a letter or digit"
        )))
    }
}

/// Why a version does not validate.
#[derive(Debug, thiserror::Error)]
enum Invalid {
    /// The bundle or its `init()`.
    #[error(transparent)]
    Script(#[from] PrepareError),
    /// One of its WebAssembly modules.
    #[error(transparent)]
    Wasm(#[from] BundleWasmError),
}

fn deploy_rejected(error: Invalid) -> ApiError {
    match error {
        Invalid::Script(PrepareError::Internal(detail)) => ApiError::internal(detail),
        Invalid::Wasm(BundleWasmError::Task(detail)) => ApiError::internal(detail),
        other => ApiError::new(
            StatusCode::BAD_REQUEST,
            "DEPLOY_REJECTED",
            other.to_string(),
        ),
    }
}

fn route_conflict(error: crate::routing::RouteError) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "ROUTE_CONFLICT", error.to_string())
}
