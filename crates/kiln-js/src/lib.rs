//! Kiln's JavaScript engine: scripts in pooled, limited QuickJS isolates.
//!
//! # Layout
//! - [`bundle`]: turns a deployed directory into checked, transpiled ES modules (oxc).
//! - [`script`]: an immutable, runnable script version (bundle + routes + limits).
//! - [`engine`]: the worker pool; each worker thread owns isolates and runs their turns.
//! - [`services`]: the asynchronous operations the application offers scripts (`wasm.run`…).
//! - [`limits`]: every resource limit, named and documented.
//! - [`invocation`]: the request/response/error/log values crossing the engine boundary.
//! - [`form_data`]: `multipart/form-data` and urlencoded bodies behind `formData()`.
//! - [`web_url`]: WHATWG URL parsing and setters behind the prelude's `URL` class.
//! - `js/`: the prelude — Web-standard globals and Kiln's registration/dispatch glue.
#![deny(missing_docs)]

pub mod bundle;
mod cpu_clock;
pub mod engine;
pub mod form_data;
pub mod invocation;
pub mod limits;
pub mod script;
pub mod services;
pub mod web_url;

pub use bundle::{Bundle, BundleError, BundleFile, BundleLimits};
pub use engine::{Engine, EngineConfig, PrepareError, StartError};
pub use invocation::{
    EnvOverlay, HttpRequest, HttpResponse, InvokeError, LogLevel, LogSink, ScriptLog,
};
pub use limits::Limits;
pub use script::{RouteSpec, ScriptVersion};
pub use services::{HostCall, HostError, HostFuture, HostResult, HostServices, ReplyBytes};
