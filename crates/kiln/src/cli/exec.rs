//! `kiln exec MODULE.wasm`: runs a WebAssembly module locally in the same sandbox `/execute`
//! uses (WASI preview 1, no files, no sockets, time/memory/output limits), with stdin from a
//! file or this process's stdin, prints the guest's stdout and stderr, and exits with the
//! guest's exit code (1 for traps and limits, with the reason on stderr).

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use kiln_wasm::{ExecLimits, ExecRequest, RuntimeConfig, WasmRuntime};

/// What a guest is run with: stdin, arguments, environment and entry point (shared by
/// `kiln exec` and `kiln modules exec`).
#[derive(Clone, Debug, Args)]
pub struct GuestArgs {
    /// File to use as the guest's stdin (`-` for this process's stdin; default: empty).
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// An argument for the guest (repeatable).
    #[arg(long = "arg", value_name = "ARG")]
    pub args: Vec<String>,
    /// An environment variable for the guest, `KEY=VALUE` (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    /// Call this exported function instead of `_start`; `--arg`s are then its numbers.
    #[arg(long)]
    pub function: Option<String>,
}

impl GuestArgs {
    /// The guest's stdin: the `--input` file, this process's stdin for `-`, or nothing.
    pub fn read_stdin(&self) -> anyhow::Result<Vec<u8>> {
        match &self.input {
            None => Ok(Vec::new()),
            Some(path) if path.as_os_str() == "-" => {
                let mut buf = Vec::new();
                std::io::stdin()
                    .read_to_end(&mut buf)
                    .context("reading stdin")?;
                Ok(buf)
            }
            Some(path) => {
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))
            }
        }
    }

    /// The `--arg`s as the numbers of a `--function` call.
    pub fn numbers(&self) -> anyhow::Result<Vec<serde_json::Number>> {
        self.args
            .iter()
            .map(|a| {
                serde_json::from_str::<serde_json::Number>(a).map_err(|_| {
                    anyhow::anyhow!("--arg {a:?} is not a number (needed with --function)")
                })
            })
            .collect()
    }
}

/// `kiln exec` arguments.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The module to run (`.wasm`).
    pub module: PathBuf,
    /// Stdin, arguments (`argv[0]` is `module`), environment, entry point.
    #[command(flatten)]
    pub guest: GuestArgs,
    /// Time budget in milliseconds.
    #[arg(long, default_value_t = 5_000)]
    pub time_ms: u64,
    /// Memory limit in MiB.
    #[arg(long, default_value_t = 128)]
    pub memory: u64,
}

pub(super) fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

/// Runs the module; the exit code mirrors the guest's.
pub fn run(args: ExecArgs) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(&args.module)
        .with_context(|| format!("reading {}", args.module.display()))?;
    let stdin = args.guest.read_stdin()?;
    let (cmd_args, function_args) = match &args.guest.function {
        Some(_) => (Vec::new(), args.guest.numbers()?),
        None => (args.guest.args.clone(), Vec::new()),
    };
    let runtime = WasmRuntime::new(RuntimeConfig::default())?;
    let module = runtime.prepare(&bytes)?;
    let outcome = runtime.run(
        &module,
        ExecRequest {
            stdin,
            args: cmd_args,
            env: args.guest.env,
            function: args.guest.function,
            function_args,
            limits: ExecLimits {
                time: Duration::from_millis(args.time_ms),
                memory_bytes: args.memory.saturating_mul(1024 * 1024),
                ..ExecLimits::default()
            },
        },
    );
    std::io::stdout().write_all(&outcome.stdout)?;
    if !outcome.returned.is_empty() {
        println!("{}", serde_json::Value::from(outcome.returned.clone()));
    }
    std::io::stderr().write_all(&outcome.stderr)?;
    if outcome.status.is_success() {
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(code) = outcome.exit_code {
        return Ok(ExitCode::from(
            u8::try_from(code.clamp(0, 255)).unwrap_or(1),
        ));
    }
    eprintln!(
        "error: {} ({})",
        outcome.status.message(),
        outcome.status.code()
    );
    Ok(ExitCode::FAILURE)
}
