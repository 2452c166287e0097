//! Kiln's configuration: the one [`Config`] struct every part of the server reads, and how it is
//! assembled. Sources are layered `kiln.toml` < `KILN_*` environment variables < command-line
//! flags (later wins) with `figment`; every key has a default, unknown keys are errors, and after
//! extraction [`Config::validate`] checks every value, reporting all problems at once. Each
//! problem names the dotted key and, where known, where the bad value came from (the file, the
//! environment variable or the flag). `kiln.example.toml` at the repository root documents every
//! key with its default; a test keeps the two in sync.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::error::Kind;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider, Source};
use serde::{Deserialize, Serialize};

mod auth;
mod egress;
mod secrets;
mod storage;
use crate::http_policy;
pub use auth::{AuthConfig, LimiterFailure, MeteringConfig};
pub use egress::{EgressConfig, EgressOverrides};
pub use secrets::{MASTER_KEY_BYTES, SecretsConfig, decode_master_key};
pub use storage::{DbConfig, KvConfig};

/// Configuration file read from the working directory when `--config` is not given. A missing
/// default file is fine (every key has a default); a missing explicit file is an error.
pub const DEFAULT_CONFIG_FILE: &str = "kiln.toml";
/// Prefix of the environment variables that configure the server.
pub const ENV_PREFIX: &str = "KILN_";
/// Separates nesting levels in environment variable names: `KILN_LIMITS__CPU_MS` sets
/// `limits.cpu_ms`.
pub const ENV_SEPARATOR: &str = "__";
/// `KILN_*` variables that belong to the command line (`KILN_TOKEN`, `KILN_SERVER` for remote
/// commands, `KILN_ADMIN_PASSWORD` for `kiln users create-admin`), not to the server's
/// configuration; they are not treated as unknown keys.
const CLI_ONLY_ENV_KEYS: &[&str] = &["token", "server", "admin_password"];
/// Name of the database file inside [`Config::data_dir`].
pub const DATABASE_FILE: &str = "kiln.db";
/// Shortest accepted [`Config::admin_token`]: stops trivially guessable admin credentials.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 16;
/// What [`Config::redacted`] puts in place of secrets.
pub const REDACTED: &str = "<redacted>";

/// Default [`Config::listen`]: loopback only, so a fresh install is not reachable from outside.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 1), 8080));

/// Accepted range of every byte-size setting (1 byte to 1 GiB).
const BYTES_RANGE: RangeInclusive<u64> = 1..=1024 * 1024 * 1024;
/// Accepted range of CPU budgets, in milliseconds (up to ten minutes).
const CPU_MS_RANGE: RangeInclusive<u64> = 1..=600_000;
/// Accepted range of wall-clock budgets, in milliseconds (up to one hour).
const WALL_MS_RANGE: RangeInclusive<u64> = 1..=3_600_000;
/// Accepted range of the per-isolate memory limit, in MiB (up to 16 GiB).
const MEMORY_MB_RANGE: RangeInclusive<u64> = 1..=16_384;
/// Accepted range of [`EngineConfig::watchdog_ms`].
const WATCHDOG_RANGE: RangeInclusive<u64> = 0..=3_600_000;
/// Shortest automatic watchdog threshold.
const MIN_WATCHDOG: Duration = Duration::from_secs(10);
/// Accepted range of [`EngineConfig::workers`].
const WORKERS_RANGE: RangeInclusive<u64> = 0..=1024;
/// Accepted range of [`LogsConfig::retention_per_script`].
const RETENTION_RANGE: RangeInclusive<u64> = 1..=10_000_000;
/// Accepted range of [`CorsConfig::max_age_secs`] (up to one day; browsers cap it lower).
const CORS_MAX_AGE_RANGE: RangeInclusive<u64> = 0..=86_400;

/// The whole server configuration. Every field has a default, so an empty file is valid.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Socket address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Directory holding Kiln's state; the SQLite database is `<data_dir>/kiln.db`.
    pub data_dir: PathBuf,
    /// Bearer token granting full access to the management API (`KILN_ADMIN_TOKEN`). At least
    /// [`MIN_ADMIN_TOKEN_CHARS`] characters when set. Never printed: see [`Config::redacted`].
    pub admin_token: Option<String>,
    /// Master key of scripts' secrets, base64 of 32 bytes (`KILN_MASTER_KEY`); overrides
    /// [`SecretsConfig::master_key_file`]. Never printed: see [`Config::redacted`].
    pub master_key: Option<String>,
    /// How log lines are written: human-readable or JSON.
    pub log_format: LogFormat,
    /// Which log lines are written: a `tracing` `EnvFilter` directive such as
    /// `info,kiln=debug`.
    pub log_level: String,
    /// HTTP server settings.
    pub http: HttpConfig,
    /// Script engine settings.
    pub engine: EngineConfig,
    /// Resource limits applied to every script unless overridden in [`Config::scripts`].
    pub limits: Limits,
    /// Script log storage.
    pub logs: LogsConfig,
    /// Sign-in, sessions, API keys.
    pub auth: AuthConfig,
    /// Usage accounting, audit log, rate limiter.
    pub metering: MeteringConfig,
    /// Scripts' key/value storage quotas.
    pub kv: KvConfig,
    /// Scripts' SQL databases: statement limits and size quota.
    pub db: DbConfig,
    /// What scripts' `fetch` may reach, and how much.
    pub egress: EgressConfig,
    /// Scripts' secrets: master key file, size caps, cache lifetime.
    pub secrets: SecretsConfig,
    /// Per-script settings, keyed by script name (`[scripts.<name>.limits]`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub scripts: BTreeMap<String, ScriptConfig>,
}

/// Format of the server's log output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Pretty when standard output is a terminal, JSON otherwise.
    #[default]
    Auto,
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// HTTP server settings (`[http]`). The hygiene settings (client identity behind proxies,
/// security headers, CORS, compression) are applied by [`crate::http_policy`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Largest accepted request body, in bytes; larger requests get `413`. Stops clients from
    /// making the server buffer huge bodies. A script route's `maxBodyBytes` option may lower
    /// it for that route, never raise it (see `crate::request_body`).
    pub max_body_bytes: usize,
    /// Largest accepted request body on the `/auth` routes, in bytes (login forms and token
    /// requests are small; a low limit stops unauthenticated clients from making the server
    /// buffer large bodies).
    pub max_auth_body_bytes: usize,
    /// Reverse proxies whose `X-Forwarded-For` / `X-Forwarded-Proto` headers are believed: IP
    /// addresses or CIDR ranges (`"10.0.0.0/8"`, `"127.0.0.1"`, `"fd00::/8"`). Empty: the
    /// client is always the TCP peer.
    pub trusted_proxies: Vec<String>,
    /// Whether requests count as arriving over HTTPS (HSTS is only sent on those).
    pub secure: SecureMode,
    /// Adds `X-Content-Type-Options`, `Referrer-Policy`, HSTS and, on Kiln's own pages,
    /// `X-Frame-Options` and `Content-Security-Policy` to responses that do not set them.
    pub security_headers: bool,
    /// Compresses responses (gzip or brotli, as the client accepts) except tiny bodies,
    /// images and event streams.
    pub compression: bool,
    /// Cross-origin resource sharing (`[http.cors]`), off by default.
    pub cors: CorsConfig,
}

/// Whether requests are considered secure (`http.secure`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecureMode {
    /// Secure when a trusted proxy sent `X-Forwarded-Proto: https` (Kiln itself speaks plain
    /// HTTP).
    #[default]
    Auto,
    /// Every request is secure (TLS is terminated in front of Kiln by something that does not
    /// send `X-Forwarded-Proto`).
    Always,
    /// No request is secure.
    Never,
}

/// Global CORS settings (`[http.cors]`). Preflight requests are answered by Kiln; scripts see
/// only the actual requests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins allowed to make cross-origin requests (`"https://app.example.com"`); empty turns
    /// CORS off, `["*"]` allows any origin.
    pub allowed_origins: Vec<String>,
    /// Methods allowed in cross-origin requests; `["*"]` allows any.
    pub allowed_methods: Vec<String>,
    /// Request headers allowed in cross-origin requests; `["*"]` allows any.
    pub allowed_headers: Vec<String>,
    /// Response headers a cross-origin page may read (beyond the always-readable ones).
    pub expose_headers: Vec<String>,
    /// Whether cross-origin requests may carry cookies and HTTP authentication; not allowed
    /// together with `allowed_origins = ["*"]` or `expose_headers = ["*"]`.
    pub allow_credentials: bool,
    /// How long browsers may cache a preflight answer, in seconds.
    pub max_age_secs: u64,
}

/// Script engine settings (`[engine]`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Number of JavaScript worker threads; `0` means one per CPU core (see
    /// [`EngineConfig::worker_count`]).
    pub workers: usize,
    /// Milliseconds a worker may spend inside one turn before the watchdog replaces it; `0`
    /// derives it from the largest CPU budget (see [`Config::watchdog_after`]).
    pub watchdog_ms: u64,
}

/// Resource limits of one script (`[limits]`, the defaults for every script).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// CPU time one request invocation may use, in milliseconds: stops runaway compute.
    pub cpu_ms: u64,
    /// CPU time evaluating a bundle and running its `init()` may use, in milliseconds.
    pub init_cpu_ms: u64,
    /// Wall-clock time one invocation may take, in milliseconds: stops never-settling promises
    /// from holding a client forever.
    pub wall_ms: u64,
    /// Heap limit of each isolate, in MiB: stops memory bombs.
    pub memory_mb: u64,
    /// Largest accepted bundle (sum of its files), in bytes.
    pub max_bundle_bytes: usize,
    /// Largest response body a handler may produce, in bytes.
    pub max_response_bytes: usize,
}

/// Per-script settings (`[scripts.<name>]`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScriptConfig {
    /// Overrides of the global [`Limits`] for this script.
    pub limits: LimitOverrides,
    /// Overrides of the global [`EgressConfig`] for this script.
    #[serde(skip_serializing_if = "EgressOverrides::is_empty")]
    pub egress: EgressOverrides,
}

/// Optional overrides of [`Limits`]; a `None` field keeps the global value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitOverrides {
    /// Overrides [`Limits::cpu_ms`].
    pub cpu_ms: Option<u64>,
    /// Overrides [`Limits::init_cpu_ms`].
    pub init_cpu_ms: Option<u64>,
    /// Overrides [`Limits::wall_ms`].
    pub wall_ms: Option<u64>,
    /// Overrides [`Limits::memory_mb`].
    pub memory_mb: Option<u64>,
    /// Overrides [`Limits::max_bundle_bytes`].
    pub max_bundle_bytes: Option<usize>,
    /// Overrides [`Limits::max_response_bytes`].
    pub max_response_bytes: Option<usize>,
}

/// Script log storage (`[logs]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogsConfig {
    /// Newest log lines kept per script; older ones are pruned. Stops a chatty script from
    /// filling the disk.
    pub retention_per_script: u32,
}

/// Settings given on the command line; they override the file and the environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CliOverrides {
    /// `--config FILE`: the configuration file to read instead of `./kiln.toml`.
    pub config: Option<PathBuf>,
    /// `--listen ADDR`.
    pub listen: Option<SocketAddr>,
    /// `--data-dir DIR`.
    pub data_dir: Option<PathBuf>,
    /// `--log-format FORMAT`.
    pub log_format: Option<LogFormat>,
}

/// One thing wrong with the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Dotted key path (`limits.cpu_ms`); empty when the problem is not about one key (a TOML
    /// syntax error).
    pub key: String,
    /// What is wrong.
    pub message: String,
    /// Where the offending value came from (`file kiln.toml`, `env KILN_LIMITS__CPU_MS`,
    /// `flag --listen`), when known.
    pub origin: Option<String>,
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--config` named a file that does not exist.
    #[error("config file {} does not exist", path.display())]
    MissingFile {
        /// The path given with `--config`.
        path: PathBuf,
    },
    /// The sources could not be read or hold invalid values; all problems found are listed.
    #[error("{}", problem_list(problems))]
    Invalid {
        /// Every problem found, in key order for validation problems.
        problems: Vec<ConfigProblem>,
    },
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: DEFAULT_LISTEN,
            data_dir: PathBuf::from("./kiln-data"),
            admin_token: None,
            master_key: None,
            log_format: LogFormat::Auto,
            log_level: "info".to_owned(),
            http: HttpConfig::default(),
            engine: EngineConfig::default(),
            limits: Limits::default(),
            logs: LogsConfig::default(),
            auth: AuthConfig::default(),
            metering: MeteringConfig::default(),
            kv: KvConfig::default(),
            db: DbConfig::default(),
            egress: EgressConfig::default(),
            secrets: SecretsConfig::default(),
            scripts: BTreeMap::new(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_body_bytes: 10 * 1024 * 1024,
            max_auth_body_bytes: 64 * 1024,
            trusted_proxies: Vec::new(),
            secure: SecureMode::Auto,
            security_headers: true,
            compression: true,
            cors: CorsConfig::default(),
        }
    }
}

impl Default for CorsConfig {
    fn default() -> Self {
        let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect();
        CorsConfig {
            allowed_origins: Vec::new(),
            allowed_methods: strings(&["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]),
            allowed_headers: strings(&["authorization", "content-type", "x-request-id"]),
            expose_headers: strings(&[
                "x-request-id",
                "ratelimit",
                "ratelimit-policy",
                "ratelimit-limit",
                "ratelimit-remaining",
                "ratelimit-reset",
                "retry-after",
            ]),
            allow_credentials: false,
            max_age_secs: 600,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu_ms: 50,
            init_cpu_ms: 1000,
            wall_ms: 30_000,
            memory_mb: 64,
            max_bundle_bytes: 10 * 1024 * 1024,
            max_response_bytes: 10 * 1024 * 1024,
        }
    }
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            retention_per_script: 10_000,
        }
    }
}

/// Hand-written so that the admin token never reaches a log line or a panic message.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("admin_token", &self.admin_token.as_ref().map(|_| REDACTED))
            .field("master_key", &self.master_key.as_ref().map(|_| REDACTED))
            .field("log_format", &self.log_format)
            .field("log_level", &self.log_level)
            .field("http", &self.http)
            .field("engine", &self.engine)
            .field("limits", &self.limits)
            .field("logs", &self.logs)
            .field("scripts", &self.scripts)
            .finish()
    }
}

impl Config {
    /// Loads the configuration: defaults < config file < `KILN_*` environment < `overrides`,
    /// then validates it. The file is `overrides.config`, or `./kiln.toml` when present.
    pub fn load(overrides: &CliOverrides) -> Result<Config, ConfigError> {
        if let Some(path) = overrides.config.as_ref().filter(|path| !path.exists()) {
            return Err(ConfigError::MissingFile { path: path.clone() });
        }
        let mut figment = Figment::new();
        if let Some(path) = overrides.config_file() {
            figment = figment.merge(Toml::file_exact(path));
        }
        let figment = figment.merge(env_provider()).merge(EnvStrings);
        Self::from_figment(&figment.merge(overrides.clone()))
    }

    /// Extracts and validates a configuration from `figment`, naming each bad key's source.
    fn from_figment(figment: &Figment) -> Result<Config, ConfigError> {
        let config: Config = figment.extract().map_err(|error| ConfigError::Invalid {
            problems: error
                .into_iter()
                .map(|e| problem_from_figment(figment, e))
                .collect(),
        })?;
        let mut problems = config.validate();
        if problems.is_empty() {
            return Ok(config);
        }
        for problem in &mut problems {
            problem.origin = origin_of(figment, &problem.key);
        }
        Err(ConfigError::Invalid { problems })
    }

    /// Checks every value against its accepted range; returns all problems (empty when valid).
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if self.data_dir.as_os_str().is_empty() {
            problems.push(ConfigProblem::new("data_dir", "must not be empty"));
        }
        if let Some(token) = &self.admin_token {
            let chars = token.chars().count();
            if chars < MIN_ADMIN_TOKEN_CHARS {
                problems.push(ConfigProblem::new(
                    "admin_token",
                    format!("must be at least {MIN_ADMIN_TOKEN_CHARS} characters (got {chars})"),
                ));
            }
        }
        if let Err(err) = tracing_subscriber::EnvFilter::builder().parse(&self.log_level) {
            problems.push(ConfigProblem::new(
                "log_level",
                format!("not a valid log filter directive: {err}"),
            ));
        }
        if let Err(message) = http_policy::TrustedProxies::parse(&self.http.trusted_proxies) {
            problems.push(ConfigProblem::new("http.trusted_proxies", message));
        }
        if let Err(errors) = http_policy::cors_layer(&self.http.cors) {
            for (field, message) in errors {
                problems.push(ConfigProblem::new(format!("http.cors.{field}"), message));
            }
        }
        let mut check = |key: String, value: u64, range: RangeInclusive<u64>| {
            if !range.contains(&value) {
                let (min, max) = range.into_inner();
                let message = format!("must be between {min} and {max} (got {value})");
                problems.push(ConfigProblem::new(key, message));
            }
        };
        let max_body_bytes = as_u64(self.http.max_body_bytes);
        check("http.max_body_bytes".into(), max_body_bytes, BYTES_RANGE);
        let max_auth_body_bytes = as_u64(self.http.max_auth_body_bytes);
        check(
            "http.max_auth_body_bytes".into(),
            max_auth_body_bytes,
            BYTES_RANGE,
        );
        check(
            "http.cors.max_age_secs".into(),
            self.http.cors.max_age_secs,
            CORS_MAX_AGE_RANGE,
        );
        check(
            "engine.workers".into(),
            as_u64(self.engine.workers),
            WORKERS_RANGE,
        );
        check(
            "engine.watchdog_ms".into(),
            self.engine.watchdog_ms,
            WATCHDOG_RANGE,
        );
        for (field, value, range) in self.limits.fields() {
            check(format!("limits.{field}"), value, range);
        }
        let retention = u64::from(self.logs.retention_per_script);
        check(
            "logs.retention_per_script".into(),
            retention,
            RETENTION_RANGE,
        );
        for (name, script) in &self.scripts {
            // The defaults are valid, so only fields the script overrides can be out of range.
            for (field, value, range) in script.limits.apply_to(Limits::default()).fields() {
                check(format!("scripts.{name}.limits.{field}"), value, range);
            }
        }
        self.auth.validate(&mut problems);
        self.metering.validate(&mut problems);
        self.kv.validate(&mut problems);
        self.db.validate(&mut problems);
        self.secrets
            .validate(self.master_key.as_deref(), &mut problems);
        self.egress.validate("egress", &mut problems);
        for (name, script) in &self.scripts {
            script
                .egress
                .validate(&format!("scripts.{name}.egress"), &mut problems);
        }
        problems
    }

    /// The limits of `script`: the global [`Config::limits`] with its per-script overrides.
    pub fn limits_for(&self, script: &str) -> Limits {
        match self.scripts.get(script) {
            Some(config) => config.limits.apply_to(self.limits),
            None => self.limits,
        }
    }

    /// Path of the SQLite database: `<data_dir>/kiln.db`.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join(DATABASE_FILE)
    }

    /// A copy safe to print: secrets replaced by [`REDACTED`].
    pub fn redacted(&self) -> Config {
        Config {
            admin_token: self.admin_token.as_ref().map(|_| REDACTED.to_owned()),
            master_key: self.master_key.as_ref().map(|_| REDACTED.to_owned()),
            auth: self.auth.redacted(REDACTED),
            ..self.clone()
        }
    }
}

impl Config {
    /// How long a worker may stay inside one turn before the watchdog replaces it:
    /// `engine.watchdog_ms`, or three times the largest CPU budget any script may use (at
    /// least 10 s), so a legitimately long `init()` is never mistaken for a stuck worker.
    pub fn watchdog_after(&self) -> Duration {
        if self.engine.watchdog_ms > 0 {
            return Duration::from_millis(self.engine.watchdog_ms);
        }
        let largest = self
            .scripts
            .keys()
            .map(|name| self.limits_for(name))
            .chain(std::iter::once(self.limits))
            .map(|l| l.cpu_ms.max(l.init_cpu_ms))
            .max()
            .unwrap_or(0);
        MIN_WATCHDOG.max(Duration::from_millis(largest.saturating_mul(3)))
    }
}

impl EngineConfig {
    /// The number of worker threads to start: [`EngineConfig::workers`], or one per available
    /// core when it is `0`.
    pub fn worker_count(&self) -> usize {
        match self.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

impl Limits {
    /// [`Limits::cpu_ms`] as a duration.
    pub fn cpu(&self) -> Duration {
        Duration::from_millis(self.cpu_ms)
    }

    /// [`Limits::init_cpu_ms`] as a duration.
    pub fn init_cpu(&self) -> Duration {
        Duration::from_millis(self.init_cpu_ms)
    }

    /// [`Limits::wall_ms`] as a duration.
    pub fn wall(&self) -> Duration {
        Duration::from_millis(self.wall_ms)
    }

    /// [`Limits::memory_mb`] in bytes.
    pub fn memory_bytes(&self) -> usize {
        usize::try_from(self.memory_mb.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX)
    }

    /// Every field with its value and accepted range: the one table of limit ranges.
    #[rustfmt::skip]
    fn fields(&self) -> [(&'static str, u64, RangeInclusive<u64>); 6] {
        [
            ("cpu_ms", self.cpu_ms, CPU_MS_RANGE),
            ("init_cpu_ms", self.init_cpu_ms, CPU_MS_RANGE),
            ("wall_ms", self.wall_ms, WALL_MS_RANGE),
            ("memory_mb", self.memory_mb, MEMORY_MB_RANGE),
            ("max_bundle_bytes", as_u64(self.max_bundle_bytes), BYTES_RANGE),
            ("max_response_bytes", as_u64(self.max_response_bytes), BYTES_RANGE),
        ]
    }
}

impl LimitOverrides {
    /// `base` with every field this override sets replaced.
    pub fn apply_to(&self, base: Limits) -> Limits {
        Limits {
            cpu_ms: self.cpu_ms.unwrap_or(base.cpu_ms),
            init_cpu_ms: self.init_cpu_ms.unwrap_or(base.init_cpu_ms),
            wall_ms: self.wall_ms.unwrap_or(base.wall_ms),
            memory_mb: self.memory_mb.unwrap_or(base.memory_mb),
            max_bundle_bytes: self.max_bundle_bytes.unwrap_or(base.max_bundle_bytes),
            max_response_bytes: self.max_response_bytes.unwrap_or(base.max_response_bytes),
        }
    }
}

/// Name of the figment provider holding [`CliOverrides`]; recognised by [`origin_of`].
const FLAGS_PROVIDER: &str = "command-line flags";

impl CliOverrides {
    /// The configuration file to read: `--config`, or `./kiln.toml` when it exists.
    pub fn config_file(&self) -> Option<PathBuf> {
        match &self.config {
            Some(path) => Some(path.clone()),
            None => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|path| path.is_file()),
        }
    }
}

impl Provider for CliOverrides {
    fn metadata(&self) -> Metadata {
        Metadata::named(FLAGS_PROVIDER)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        /// Only the flags that were given, so absent flags do not mask lower layers.
        #[derive(Serialize)]
        struct Given<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            listen: Option<SocketAddr>,
            #[serde(skip_serializing_if = "Option::is_none")]
            data_dir: Option<&'a Path>,
            #[serde(skip_serializing_if = "Option::is_none")]
            log_format: Option<LogFormat>,
        }
        Serialized::defaults(Given {
            listen: self.listen,
            data_dir: self.data_dir.as_deref(),
            log_format: self.log_format,
        })
        .data()
    }
}

impl ConfigProblem {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigProblem {
            key: key.into(),
            message: message.into(),
            origin: None,
        }
    }
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)?;
        if let Some(origin) = &self.origin {
            write!(f, " [{origin}]")?;
        }
        Ok(())
    }
}

impl ConfigError {
    /// The individual problems (empty for [`ConfigError::MissingFile`]).
    pub fn problems(&self) -> &[ConfigProblem] {
        match self {
            ConfigError::MissingFile { .. } => &[],
            ConfigError::Invalid { problems } => problems,
        }
    }
}

/// A problem list for display: inline for one problem, one per line for several.
fn problem_list(problems: &[ConfigProblem]) -> String {
    match problems {
        [one] => format!("invalid configuration: {one}"),
        many => many.iter().fold(
            format!("invalid configuration ({} problems):", many.len()),
            |out, problem| format!("{out}\n  {problem}"),
        ),
    }
}

/// The `KILN_*` environment provider, without the command line's own variables.
fn env_provider() -> Env {
    Env::prefixed(ENV_PREFIX)
        .ignore(CLI_ONLY_ENV_KEYS)
        .split(ENV_SEPARATOR)
}

/// Top-level keys whose values are strings (or parsed from strings).
#[rustfmt::skip]
const STRING_KEYS: &[&str] = &["listen", "data_dir", "admin_token", "master_key", "log_format", "log_level"];

/// The `KILN_*` values of [`STRING_KEYS`], verbatim. Merged over [`env_provider`], whose values
/// figment parses: without this, an all-digit `KILN_ADMIN_TOKEN` would become a number.
struct EnvStrings;

impl Provider for EnvStrings {
    fn metadata(&self) -> Metadata {
        env_provider().metadata()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let vars = env_provider().only(STRING_KEYS);
        let dict = vars
            .iter()
            .map(|(key, value)| (key.into_string(), Value::from(value)));
        Ok(Profile::Default.collect(dict.collect()))
    }
}

/// Turns one figment error (wrong type, unknown key, unreadable file…) into a problem naming
/// the full key and the value's source.
fn problem_from_figment(figment: &Figment, error: figment::Error) -> ConfigProblem {
    let mut path = error.path.clone();
    let message = match &error.kind {
        Kind::UnknownField(field, expected) => {
            if path.last() != Some(field) {
                path.push(field.clone());
            }
            format!("unknown key (expected one of: {})", expected.join(", "))
        }
        kind => kind.to_string(),
    };
    let mut problem = ConfigProblem::new(path.join("."), message);
    let source = error.metadata.as_ref().map(describe_source);
    problem.origin = origin_of(figment, &problem.key).or(source);
    problem
}

/// Where the value of `key` came from, or `None` for a default or an unknown source.
fn origin_of(figment: &Figment, key: &str) -> Option<String> {
    if key.is_empty() {
        return None;
    }
    let metadata = figment.find_metadata(key)?;
    if metadata.name == FLAGS_PROVIDER {
        return Some(format!("flag --{}", key.replace('_', "-")));
    }
    if metadata.name == env_provider().metadata().name {
        let var = key
            .split('.')
            .map(str::to_ascii_uppercase)
            .collect::<Vec<_>>()
            .join(ENV_SEPARATOR);
        return Some(format!("env {ENV_PREFIX}{var}"));
    }
    Some(describe_source(metadata))
}

/// A provider's source in words: `file kiln.toml`, or the provider's name.
fn describe_source(metadata: &Metadata) -> String {
    match &metadata.source {
        Some(Source::File(path)) => format!("file {}", path.display()),
        _ => metadata.name.to_string(),
    }
}

fn as_u64(value: usize) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
