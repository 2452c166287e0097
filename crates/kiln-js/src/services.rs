//! Host services: the asynchronous operations the embedding application offers scripts
//! (`wasm.run` today; storage, fetch and the other platform APIs build on the same door).
//!
//! A script calls an operation through the prelude (`hostCall("wasm.run", args, bytes)`),
//! which returns a promise. The worker hands the request to the application's
//! [`HostServices`] as a [`HostCall`] — tagged with the script version, the invocation's
//! request id and identity (bound on the Rust side, never taken from the script) and the CPU
//! budget the invocation has left — and runs the returned future on the worker's runtime, so
//! the isolate keeps serving its other requests meanwhile. When the future completes, the
//! worker settles the promise in a turn charged to the invocation that started the call.
//!
//! An operation answers with a JSON value; one that also produces binary data (a fetched body)
//! leaves it in the call's [`ReplyBytes`] before resolving, and the script receives it as a
//! `Uint8Array` in the value's `bytes` property — or, when the value is `null` (`files.read`),
//! as the promise's result itself.
//!
//! The engine itself knows no operations: without services every call fails with
//! `UNAVAILABLE`.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;

use crate::script::ScriptVersion;

/// One asynchronous operation requested by a script.
#[derive(Debug)]
pub struct HostCall {
    /// The script version making the call (its bundle, limits and name).
    pub script: Arc<ScriptVersion>,
    /// Operation name, e.g. `wasm.run`.
    pub op: String,
    /// The operation's arguments (a JSON value built by the prelude).
    pub args: serde_json::Value,
    /// Binary input, when the operation takes one (e.g. a module's stdin).
    pub bytes: Option<Bytes>,
    /// Request id of the invocation that made the call (`None` outside an invocation).
    pub request_id: Option<Arc<str>>,
    /// The invocation that made the call: unique in the process (request ids come from
    /// clients and need not be), `None` outside an invocation. State a service keeps for an
    /// invocation (an open database transaction) is released in
    /// [`HostServices::invocation_ended`].
    pub invocation: Option<u64>,
    /// The caller's identity (the JSON given as [`crate::HttpRequest::identity`]).
    pub identity: Option<Arc<str>>,
    /// CPU time the invocation has left; work done on the script's behalf off the isolate
    /// (a WebAssembly run) is limited to it.
    pub cpu_budget: Duration,
    /// Where the operation may leave a binary result next to its JSON value.
    pub reply: ReplyBytes,
}

/// A binary result handed back next to an operation's JSON value (which must then be an
/// object): the script receives it as a `Uint8Array` in the value's `bytes` property. Kept
/// beside the result rather than in it so that operations answering JSON only stay plain
/// `async fn … -> HostResult`.
#[derive(Clone, Debug, Default)]
pub struct ReplyBytes(Arc<Mutex<Option<Bytes>>>);

impl ReplyBytes {
    /// Sets the binary result (replacing an earlier one).
    pub fn set(&self, bytes: Bytes) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(bytes);
    }

    /// Takes the binary result, if one was set.
    pub fn take(&self) -> Option<Bytes> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// Why an operation failed: becomes a `KilnError` with this `code` in the script.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct HostError {
    /// Machine-readable code, e.g. `WASM_NOT_FOUND`.
    pub code: String,
    /// What went wrong, for the script author.
    pub message: String,
}

impl HostError {
    /// An error with `code` and `message`.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        HostError {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// What an operation resolves to: a JSON value handed to the script.
pub type HostResult = Result<serde_json::Value, HostError>;

/// The future of one operation. It runs on a worker's single-threaded runtime: blocking work
/// belongs on `tokio::task::spawn_blocking`, never in the future itself.
pub type HostFuture = Pin<Box<dyn Future<Output = HostResult> + Send + 'static>>;

/// The application's implementation of the operations scripts may call.
pub trait HostServices: Send + Sync + 'static {
    /// Starts `call`. Called on a worker thread: return quickly and do the work in the future.
    fn call(&self, call: HostCall) -> HostFuture;

    /// Invocation `invocation` (see [`HostCall::invocation`]) has ended — answered, failed, cut
    /// off or dropped with its isolate. Called on a worker thread: release what the service
    /// holds for it without blocking. Operations it started may still be running.
    fn invocation_ended(&self, invocation: u64) {
        let _ = invocation;
    }
}
