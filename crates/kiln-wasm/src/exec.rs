//! What a caller asks of one execution and what it gets back.
//!
//! [`ExecRequest`] carries the guest's inputs (stdin, arguments, environment, which export to
//! call) and its [`ExecLimits`]; [`ExecOutcome`] carries everything observable about the run.
//! A run never fails as a Rust `Result`: traps, exceeded limits, exit codes and bad invocations
//! are all [`ExecStatus`] values, each with a stable machine-readable [`ExecStatus::code`].

use std::time::Duration;

use crate::limits::ExecLimits;

/// One execution of a prepared module.
#[derive(Clone, Debug, Default)]
pub struct ExecRequest {
    /// Bytes the guest reads from stdin (then end of file).
    pub stdin: Vec<u8>,
    /// Command-line arguments after `argv[0]` (which is always [`ARGV0`](crate::ARGV0)).
    pub args: Vec<String>,
    /// Environment variables, in order. Nothing is inherited from the host.
    pub env: Vec<(String, String)>,
    /// Export to call instead of `_start`. A module exporting `_initialize` (a WASI reactor)
    /// has it called first.
    pub function: Option<String>,
    /// Arguments of `function`, converted to its parameter types (`i32`, `i64`, `f32`, `f64`).
    /// Integers may be given in the signed or the unsigned range of the type.
    pub function_args: Vec<serde_json::Number>,
    /// Limits of this run.
    pub limits: ExecLimits,
}

/// Everything observable about one execution.
#[derive(Clone, Debug)]
pub struct ExecOutcome {
    /// How the run ended.
    pub status: ExecStatus,
    /// What the guest wrote to stdout (at most `limits.max_stdout` bytes).
    pub stdout: Vec<u8>,
    /// What the guest wrote to stderr (at most `limits.max_stderr` bytes).
    pub stderr: Vec<u8>,
    /// The code passed to WASI `proc_exit`, when the guest called it.
    pub exit_code: Option<i32>,
    /// Results of the called `function` as JSON numbers (empty for `_start`). A NaN or
    /// infinite float result is the string `"NaN"`, `"Infinity"` or `"-Infinity"`.
    pub returned: Vec<serde_json::Value>,
    /// Wall-clock time of the run, instantiation included.
    pub duration: Duration,
    /// CPU time of the calling thread during the run (guest code and WASI host calls).
    pub cpu_time: Duration,
    /// Largest total size the guest's linear memories reached, in bytes.
    pub memory_peak_bytes: u64,
}

/// How an execution ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecStatus {
    /// `_start` or the function returned, or the guest called `proc_exit(0)`.
    Success,
    /// The guest called `proc_exit` with a non-zero code (in [`ExecOutcome::exit_code`]).
    ExitNonZero,
    /// The guest trapped (`unreachable`, out-of-bounds access, division by zero, stack
    /// overflow, table limit, …). The message names the trap and holds the wasm backtrace.
    Trap {
        /// What happened, for the module's author.
        message: String,
    },
    /// The run used up its time budget (guest code, start function or sleeping).
    TimeLimitExceeded,
    /// The guest tried to grow its linear memory past `limits.memory_bytes`.
    MemoryLimitExceeded,
    /// The guest wrote more than `limits.max_stdout` / `limits.max_stderr`; the output kept is
    /// truncated to the cap.
    OutputLimitExceeded,
    /// The request does not fit the module: no such export, wrong argument count or types,
    /// neither `_start` nor `function`. The guest did not run.
    InvalidInvocation {
        /// What is wrong, for the caller.
        message: String,
    },
}

impl ExecStatus {
    /// A stable machine-readable code for the status, e.g. `TIME_LIMIT_EXCEEDED`.
    pub fn code(&self) -> &'static str {
        match self {
            ExecStatus::Success => "SUCCESS",
            ExecStatus::ExitNonZero => "EXIT_NONZERO",
            ExecStatus::Trap { .. } => "TRAP",
            ExecStatus::TimeLimitExceeded => "TIME_LIMIT_EXCEEDED",
            ExecStatus::MemoryLimitExceeded => "MEMORY_LIMIT_EXCEEDED",
            ExecStatus::OutputLimitExceeded => "OUTPUT_LIMIT_EXCEEDED",
            ExecStatus::InvalidInvocation { .. } => "INVALID_INVOCATION",
        }
    }

    /// A one-line human-readable description of the status.
    pub fn message(&self) -> String {
        match self {
            ExecStatus::Success => "the module ran to completion".into(),
            ExecStatus::ExitNonZero => "the module exited with a non-zero code".into(),
            ExecStatus::Trap { message } | ExecStatus::InvalidInvocation { message } => {
                message.clone()
            }
            ExecStatus::TimeLimitExceeded => "the module exceeded its time limit".into(),
            ExecStatus::MemoryLimitExceeded => "the module exceeded its memory limit".into(),
            ExecStatus::OutputLimitExceeded => "the module exceeded its output limit".into(),
        }
    }

    /// Whether the run counts as successful.
    pub fn is_success(&self) -> bool {
        matches!(self, ExecStatus::Success)
    }
}

impl ExecOutcome {
    /// The outcome of a request refused before the guest ran.
    pub(crate) fn not_run(status: ExecStatus) -> ExecOutcome {
        ExecOutcome {
            status,
            stdout: Vec::new(),
            stderr: Vec::new(),
            exit_code: None,
            returned: Vec::new(),
            duration: Duration::ZERO,
            cpu_time: Duration::ZERO,
            memory_peak_bytes: 0,
        }
    }
}
