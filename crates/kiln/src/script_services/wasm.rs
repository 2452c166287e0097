//! `wasm.run(path, {stdin, args, env})`: runs a `.wasm` file of the calling script's bundle
//! as a WASI command in the `kiln-wasm` sandbox, under the script's limits (time: the CPU
//! budget the invocation has left, capped by its wall-clock budget; memory: the script's
//! memory limit; stdout and stderr capped), and answers `{stdout, stderr, exitCode}`.
//!
//! A non-zero exit code is an answer, not an error; a module that cannot run (missing file,
//! not WebAssembly, unsupported imports) or a run stopped by a trap or a limit rejects with
//! the same machine-readable codes `POST /execute` uses.

use std::sync::Arc;
use std::time::Duration;

use kiln_js::{HostCall, HostError, HostResult};
use kiln_wasm::{ExecLimits, ExecRequest, ExecStatus};
use serde_json::{Value, json};

use crate::bundle_wasm::{BundleModules, BundleWasmError};
use crate::execute::{MAX_OUTPUT_BYTES, module_error_code};

/// Shortest time limit a run gets, so an invocation that spent nearly all its CPU still gets
/// a clear `TIME_LIMIT_EXCEEDED` from the module instead of a refusal to start.
const MIN_TIME: Duration = Duration::from_millis(1);

/// The arguments of one `wasm.run` call, as the prelude sends them.
struct RunArgs {
    path: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

fn parse_args(args: &Value) -> Result<RunArgs, HostError> {
    let invalid = |what: &str| HostError::new("INVALID_ARGUMENT", format!("wasm.run: {what}"));
    let path = args["path"]
        .as_str()
        .ok_or_else(|| invalid("the module path must be a string"))?
        .to_owned();
    let list = args["args"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let args_out = list
        .iter()
        .map(|a| a.as_str().map(str::to_owned))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| invalid("args must be strings"))?;
    let env = match args["env"].as_object() {
        Some(map) => map
            .iter()
            .map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| invalid("env values must be strings"))?,
        None => Vec::new(),
    };
    Ok(RunArgs {
        path,
        args: args_out,
        env,
    })
}

fn module_error(error: BundleWasmError) -> HostError {
    let code = match &error {
        BundleWasmError::Missing { .. } => "WASM_NOT_FOUND",
        BundleWasmError::Invalid { source, .. } => {
            module_error_code(source).map_or("INTERNAL_ERROR", |(_, code)| code)
        }
        _ => "INTERNAL_ERROR",
    };
    HostError::new(code, format!("wasm.run: {error}"))
}

/// Runs the call's module on the blocking pool and shapes the answer.
pub(super) async fn run(modules: Arc<BundleModules>, call: HostCall) -> HostResult {
    let RunArgs { path, args, env } = parse_args(&call.args)?;
    let script = call.script.clone();
    // The prelude resolved the path within the bundle; deploys compiled every module, so this
    // is normally a memo hit.
    let module = modules
        .module(&script.bundle, &path)
        .await
        .map_err(module_error)?;
    let time = call.cpu_budget.min(script.limits.wall).max(MIN_TIME);
    let request = ExecRequest {
        stdin: call.bytes.map(|b| b.to_vec()).unwrap_or_default(),
        args,
        env,
        limits: ExecLimits {
            time,
            memory_bytes: script.limits.memory_bytes as u64,
            max_stdout: MAX_OUTPUT_BYTES,
            max_stderr: MAX_OUTPUT_BYTES,
            ..ExecLimits::default()
        },
        ..ExecRequest::default()
    };
    let runtime = modules.runtime().clone();
    let outcome = tokio::task::spawn_blocking(move || runtime.run(&module, request))
        .await
        .map_err(|e| HostError::new("INTERNAL_ERROR", format!("wasm.run: the run failed: {e}")))?;
    match &outcome.status {
        ExecStatus::Success | ExecStatus::ExitNonZero => Ok(json!({
            "stdout": String::from_utf8_lossy(&outcome.stdout),
            "stderr": String::from_utf8_lossy(&outcome.stderr),
            "exitCode": outcome.exit_code.unwrap_or(0),
        })),
        other => Err(HostError::new(
            other.code(),
            format!("wasm.run: {path}: {}", other.message()),
        )),
    }
}
