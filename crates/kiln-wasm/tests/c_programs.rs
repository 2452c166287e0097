//! Real C programs (wasi-libc, compiled by `kiln-fixtures` with clang) in the sandbox: the
//! WasmWiz sample equivalents and their original binaries side by side, args and env, the
//! refused filesystem and sockets, a CGI-style program, and the hostile ones — a malloc bomb,
//! deep recursion, a 100 MiB stdout flood, a busy loop, an unknown import.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use std::sync::OnceLock;

use kiln_fixtures::{c_module, wasmwiz};
use kiln_wasm::limits::DEFAULT_MAX_STDOUT;
use kiln_wasm::{ExecLimits, ExecOutcome, ExecRequest, ExecStatus, WasmError, WasmRuntime};

/// One runtime for the whole binary, as a server has: each module compiles once (compiling
/// these modules with a debug build of Cranelift takes seconds).
fn runtime() -> &'static WasmRuntime {
    static RUNTIME: OnceLock<WasmRuntime> = OnceLock::new();
    RUNTIME.get_or_init(common::runtime)
}

/// Runs C fixture `name` with `request`.
fn run_c(rt: &WasmRuntime, name: &str, request: ExecRequest) -> ExecOutcome {
    let module = rt.prepare(&c_module(name)).expect("the C fixture prepares");
    rt.run(&module, request)
}

fn stdin(input: &[u8]) -> ExecRequest {
    ExecRequest {
        stdin: input.to_vec(),
        ..ExecRequest::default()
    }
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("UTF-8 output")
}

#[test]
fn the_wasmwiz_sample_equivalents_give_the_documented_outputs() {
    let rt = runtime();
    let outcome = run_c(
        rt,
        "hello_world",
        stdin(b"# Input is not used by this module"),
    );
    assert_eq!(outcome.status, ExecStatus::Success, "{outcome:?}");
    assert_eq!(text(&outcome.stdout), "Hello, World!\n");

    for (input, sum) in [("5 3", "8\n"), (" 2\t40 \n7", "42\n"), ("x -5 +3", "-2\n")] {
        let outcome = run_c(rt, "calc_add", stdin(input.as_bytes()));
        assert_eq!(
            outcome.status,
            ExecStatus::Success,
            "{input:?}: {outcome:?}"
        );
        assert_eq!(text(&outcome.stdout), sum, "{input:?}");
    }
    let outcome = run_c(rt, "calc_add", stdin(b"1.5 one"));
    assert_eq!(outcome.status, ExecStatus::ExitNonZero);
    assert_eq!(outcome.exit_code, Some(1));
    assert_eq!(
        text(&outcome.stderr),
        "Error: Please provide at least two numbers\n"
    );

    // Like the original: surrounding whitespace trimmed, no newline added.
    let outcome = run_c(rt, "echo", stdin(b"  This is my input.\n\n"));
    assert_eq!(outcome.status, ExecStatus::Success, "{outcome:?}");
    assert_eq!(text(&outcome.stdout), "This is my input.");
    // Any bytes, not only text (the original panics on invalid UTF-8), beyond one read's worth.
    let input: Vec<u8> = (0..20_000u32).map(|i| (i % 256) as u8).collect();
    let outcome = run_c(rt, "echo", stdin(&input));
    assert_eq!(outcome.status, ExecStatus::Success, "{outcome:?}");
    assert_eq!(outcome.stdout, input);
}

/// The exit code a shell would see: returning from `_start` is 0.
fn exit_code(outcome: &ExecOutcome) -> Option<i32> {
    outcome
        .exit_code
        .or_else(|| outcome.status.is_success().then_some(0))
}

#[test]
fn the_c_equivalents_behave_like_the_original_wasmwiz_binaries() {
    let Some(samples) = wasmwiz::samples() else {
        return;
    };
    let rt = runtime();
    for sample in samples {
        let original = rt.prepare(&sample.module).expect("the original prepares");
        let mut inputs = vec![sample.input.clone(), Vec::new()];
        if sample.name == "calc_add" {
            for extra in [
                "1 2 3",
                "x 1 2",
                "99999999999 1",
                "+4 1",
                "3\t4",
                "3,4",
                "2147483647 1",
                "-2147483648 -1",
                "abc",
                "7",
            ] {
                inputs.push(extra.as_bytes().to_vec());
            }
        } else {
            for extra in [
                "two\nlines\n",
                "  \t padded \r\n\n",
                "\n",
                "\u{b}\u{c}vt ff",
            ] {
                inputs.push(extra.as_bytes().to_vec());
            }
        }
        for input in inputs {
            let theirs = rt.run(&original, stdin(&input));
            let ours = run_c(rt, sample.name, stdin(&input));
            let what = format!("{} with {:?}", sample.name, String::from_utf8_lossy(&input));
            assert_eq!(ours.status, theirs.status, "{what}: {theirs:?}");
            assert_eq!(exit_code(&ours), exit_code(&theirs), "{what}");
            assert_eq!(ours.stdout, theirs.stdout, "{what}");
            assert_eq!(ours.stderr, theirs.stderr, "{what}");
        }
        // And the documented sample itself.
        let theirs = rt.run(&original, stdin(&sample.input));
        assert_eq!(
            text(&theirs.stdout).trim_end(),
            sample.expected_output.trim_end(),
            "{}",
            sample.name
        );
    }
}

#[test]
fn a_c_program_sees_its_args_and_env_and_nothing_of_the_host() {
    let rt = runtime();
    let outcome = run_c(
        rt,
        "args_env",
        ExecRequest {
            args: vec!["one".into(), "two words".into()],
            env: vec![
                ("MODE".into(), "fast".into()),
                ("EXIT_CODE".into(), "7".into()),
            ],
            ..ExecRequest::default()
        },
    );
    assert_eq!(outcome.status, ExecStatus::ExitNonZero, "{outcome:?}");
    assert_eq!(outcome.exit_code, Some(7));
    assert_eq!(
        text(&outcome.stdout),
        "argc=3\nargv[0]=module\nargv[1]=one\nargv[2]=two words\nenv MODE=fast\nenv EXIT_CODE=7\n"
    );

    let outcome = run_c(rt, "args_env", ExecRequest::default());
    assert_eq!(outcome.status, ExecStatus::Success, "{outcome:?}");
    assert_eq!(text(&outcome.stdout), "argc=1\nargv[0]=module\n");
}

#[test]
fn files_and_sockets_are_refused_to_a_c_program() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("escaped.txt");
    let outcome = run_c(
        rt,
        "sandbox_escape",
        ExecRequest {
            args: vec![target.display().to_string()],
            ..ExecRequest::default()
        },
    );
    // Every attempt failed, so the program reports it and exits with 1.
    assert_eq!(outcome.status, ExecStatus::ExitNonZero, "{outcome:?}");
    assert_eq!(outcome.exit_code, Some(1));
    let report = text(&outcome.stdout);
    for attempt in [
        "read /etc/passwd",
        "create file",
        "list /",
        "accept on fd 3",
        "send on fd 3",
    ] {
        assert!(
            report.contains(&format!("{attempt}: refused (")),
            "{attempt}: {report}"
        );
    }
    assert!(!report.contains(": ok"), "{report}");
    assert!(!report.contains("root:"), "{report}");
    assert!(!target.exists(), "the guest created a file on the host");
}

#[test]
fn a_cgi_program_prints_headers_and_echoes_its_body() {
    let rt = runtime();
    let outcome = run_c(
        rt,
        "cgi_echo",
        ExecRequest {
            stdin: b"name=kiln".to_vec(),
            env: vec![
                ("REQUEST_METHOD".into(), "POST".into()),
                ("PATH_INFO".into(), "/submit".into()),
                ("QUERY_STRING".into(), "a=1".into()),
                ("CONTENT_LENGTH".into(), "9".into()),
            ],
            ..ExecRequest::default()
        },
    );
    assert_eq!(outcome.status, ExecStatus::Success, "{outcome:?}");
    assert_eq!(
        text(&outcome.stdout),
        "Content-Type: text/plain; charset=utf-8\r\nStatus: 200 OK\r\nX-Request-Method: POST\r\n\
         X-Path-Info: /submit\r\nX-Query-String: a=1\r\nX-Content-Length: 9\r\n\r\nname=kiln"
    );
}

#[test]
fn a_malloc_bomb_hits_the_memory_limit() {
    let rt = runtime();
    let limit = 32 * 1024 * 1024;
    let outcome = run_c(
        rt,
        "memory_bomb",
        ExecRequest {
            limits: ExecLimits {
                memory_bytes: limit,
                ..ExecLimits::default()
            },
            ..ExecRequest::default()
        },
    );
    assert_eq!(
        outcome.status,
        ExecStatus::MemoryLimitExceeded,
        "{outcome:?}"
    );
    // Stopped inside malloc: it never got to report a NULL.
    assert!(outcome.stdout.is_empty(), "{outcome:?}");
    assert!(outcome.memory_peak_bytes <= limit);
    assert!(outcome.memory_peak_bytes > limit / 2, "{outcome:?}");
}

#[test]
fn deep_c_recursion_is_a_stack_overflow_trap() {
    let rt = runtime();
    let outcome = run_c(rt, "deep_recursion", ExecRequest::default());
    let ExecStatus::Trap { message } = &outcome.status else {
        panic!("expected a trap, got {outcome:?}");
    };
    assert!(message.contains("stack overflow"), "{message}");
    // The name section survives the build: the backtrace names the C function.
    assert!(message.contains("depth"), "{message}");
    assert!(message.lines().count() < 30, "{message}");
}

#[test]
fn a_100_mib_stdout_flood_is_stopped_at_the_cap() {
    let rt = runtime();
    let outcome = run_c(rt, "stdout_flood", ExecRequest::default());
    assert_eq!(
        outcome.status,
        ExecStatus::OutputLimitExceeded,
        "{outcome:?}"
    );
    assert_eq!(outcome.stdout.len(), DEFAULT_MAX_STDOUT);
    assert!(outcome.stdout.iter().all(|&b| b == b'x'));
    // Stopped at the cap, not after writing the rest.
    assert!(outcome.stderr.is_empty(), "{}", text(&outcome.stderr));
}

#[test]
fn a_c_busy_loop_hits_the_time_limit() {
    let rt = runtime();
    let budget = Duration::from_millis(300);
    let outcome = run_c(
        rt,
        "busy_loop",
        ExecRequest {
            limits: ExecLimits {
                time: budget,
                ..ExecLimits::default()
            },
            ..ExecRequest::default()
        },
    );
    assert_eq!(outcome.status, ExecStatus::TimeLimitExceeded);
    assert!(outcome.duration >= budget, "{:?}", outcome.duration);
}

#[test]
fn a_c_program_importing_an_unknown_function_is_refused() {
    let rt = runtime();
    let err = rt.prepare(&c_module("unknown_import")).unwrap_err();
    match &err {
        WasmError::UnknownImport { module, name } => {
            assert_eq!((module.as_str(), name.as_str()), ("env", "host_secret"));
        }
        other => panic!("expected UnknownImport, got {other:?}"),
    }
}
