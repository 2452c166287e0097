//! The data that crosses the boundary between the server and the engine for one invocation:
//! the request handed to a handler, the response (or failure) it produced, and the log lines
//! scripts write. These are plain `Send` values; nothing here touches QuickJS.

use bytes::Bytes;

/// An HTTP request as a script handler sees it.
#[derive(Clone, Debug, Default)]
pub struct HttpRequest {
    /// Upper-case method, e.g. `GET`.
    pub method: String,
    /// Absolute URL, e.g. `http://example.com/hello/x?y=1`.
    pub url: String,
    /// The request headers (names are lower-case; values that are not visible ASCII are
    /// passed to scripts as Latin-1).
    pub headers: http::HeaderMap,
    /// The request body (empty when there is none).
    pub body: Bytes,
    /// Who is calling, as a JSON object `{"user": {…} | null, "apiKey": {…} | null}` built by
    /// the server; becomes the frozen `ctx.user` / `ctx.apiKey`. `None` = anonymous.
    pub identity: Option<std::sync::Arc<str>>,
    /// A CPU budget tighter than the script's own (e.g. the caller's tier); the smaller wins.
    pub cpu_limit: Option<std::time::Duration>,
    /// Values laid over the version's variables in this invocation's `ctx.env` (the script's
    /// secrets, which change without a redeploy). `None` = the version's variables alone.
    pub env: Option<std::sync::Arc<EnvOverlay>>,
}

/// Values an invocation adds to (or overrides in) its version's `ctx.env`, e.g. the script's
/// decrypted secrets. Each overlay gets a process-unique id: an isolate builds its frozen
/// `ctx.env` object once per overlay and reuses it while invocations bring the same one, so a
/// server that hands out one `Arc<EnvOverlay>` per change pays for the object once, not per
/// request. `Debug` shows names only, never values.
pub struct EnvOverlay {
    /// Process-unique; isolates key their cached `ctx.env` object by it.
    id: u64,
    /// `(name, value)` pairs; a name here wins over a version variable of the same name.
    values: Vec<(String, String)>,
}

static NEXT_OVERLAY_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl EnvOverlay {
    /// An overlay with a fresh id.
    pub fn new(values: Vec<(String, String)>) -> Self {
        EnvOverlay {
            id: NEXT_OVERLAY_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            values,
        }
    }

    /// The process-unique id of this overlay.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The `(name, value)` pairs.
    pub fn values(&self) -> &[(String, String)] {
        &self.values
    }
}

impl std::fmt::Debug for EnvOverlay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvOverlay")
            .field("id", &self.id)
            .field(
                "names",
                &self.values.iter().map(|(name, _)| name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The response a handler produced.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpResponse {
    /// Status code, 200..=599.
    pub status: u16,
    /// The response headers; `set-cookie` may repeat.
    pub headers: http::HeaderMap,
    /// The body.
    pub body: Bytes,
    /// CPU time the invocation used, in nanoseconds (filled in by the engine).
    pub cpu_ns: u64,
}

/// Why an invocation did not produce a response. Each variant maps to one public error code.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum InvokeError {
    /// The handler threw (an `HttpError` or any other exception), or returned something that
    /// cannot be turned into a response.
    #[error("{message}")]
    Script {
        /// HTTP status to answer with.
        status: u16,
        /// Public error code, e.g. `BAD_REQUEST` or `SCRIPT_ERROR`.
        code: String,
        /// Message for the client (never a stack trace).
        message: String,
    },
    /// The invocation used up its CPU or wall-clock budget.
    #[error("the script exceeded its {budget} budget of {limit_ms} ms")]
    Timeout {
        /// `"CPU time"` or `"wall-clock time"`.
        budget: &'static str,
        /// The budget that was exceeded.
        limit_ms: u64,
    },
    /// The isolate ran out of memory.
    #[error("the script exceeded its memory limit of {limit_mib} MiB")]
    MemoryLimit {
        /// The limit that was exceeded.
        limit_mib: usize,
    },
    /// The response body was larger than allowed.
    #[error("the script's response is larger than the limit of {limit_bytes} bytes")]
    ResponseTooLarge {
        /// The limit that was exceeded.
        limit_bytes: usize,
    },
    /// The isolate could not be created (bundle evaluation or `init()` failed on this worker).
    #[error("the script could not be started: {0}")]
    Startup(String),
    /// The isolate was discarded while this invocation was in flight (another invocation broke it).
    #[error("the script's isolate was restarted while handling this request")]
    Restarted,
    /// The engine is shutting down or a worker is gone.
    #[error("the script engine is unavailable")]
    Unavailable,
}

impl InvokeError {
    /// HTTP status for this error.
    pub fn status(&self) -> u16 {
        match self {
            InvokeError::Script { status, .. } => *status,
            InvokeError::Timeout { .. } => 504,
            InvokeError::MemoryLimit { .. } => 503,
            InvokeError::ResponseTooLarge { .. } => 500,
            InvokeError::Startup(_) => 500,
            InvokeError::Restarted | InvokeError::Unavailable => 503,
        }
    }

    /// Public error code for this error.
    pub fn code(&self) -> &str {
        match self {
            InvokeError::Script { code, .. } => code,
            InvokeError::Timeout { .. } => "SCRIPT_TIMEOUT",
            InvokeError::MemoryLimit { .. } => "SCRIPT_MEMORY_LIMIT",
            InvokeError::ResponseTooLarge { .. } => "RESPONSE_TOO_LARGE",
            InvokeError::Startup(_) => "SCRIPT_STARTUP_FAILED",
            InvokeError::Restarted => "SCRIPT_RESTARTED",
            InvokeError::Unavailable => "ENGINE_UNAVAILABLE",
        }
    }
}

/// Severity of a script log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// `console.debug`, `console.trace`.
    Debug,
    /// `console.log`, `console.info`.
    Info,
    /// `console.warn`.
    Warn,
    /// `console.error` and errors the engine records for the script.
    Error,
}

impl LogLevel {
    /// Parses the level names the JavaScript side uses.
    pub fn from_js(name: &str) -> LogLevel {
        match name {
            "debug" | "trace" => LogLevel::Debug,
            "warn" => LogLevel::Warn,
            "error" => LogLevel::Error,
            _ => LogLevel::Info,
        }
    }
}

/// One log line written by (or about) a script.
#[derive(Clone, Debug)]
pub struct ScriptLog {
    /// Script name.
    pub script: String,
    /// Script version that was running.
    pub version: i64,
    /// Severity.
    pub level: LogLevel,
    /// The formatted message.
    pub message: String,
    /// The request being handled, when there was one.
    pub request_id: Option<String>,
    /// Unix time in milliseconds.
    pub time_ms: i64,
}

/// Where script log lines go. Implementations must not block (the caller is a JS worker).
pub trait LogSink: Send + Sync + 'static {
    /// Records one line.
    fn log(&self, entry: ScriptLog);
}

/// Current Unix time in milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
