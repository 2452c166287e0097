//! Running modules: WASI stdio, args, env and exit codes; calling exports; refusing bad
//! modules; and the limits that stop hostile guests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{HELLO, SPIN, call, prepare, run, runtime, wasm, with_time};
use kiln_wasm::limits::DEFAULT_MAX_STDOUT;
use kiln_wasm::{ExecLimits, ExecRequest, ExecStatus, RuntimeConfig, WasmError, WasmRuntime};
use serde_json::{Number, json};

fn n(v: i64) -> Number {
    Number::from(v)
}

fn f(v: f64) -> Number {
    Number::from_f64(v).unwrap()
}

fn invalid_message(status: &ExecStatus) -> &str {
    match status {
        ExecStatus::InvalidInvocation { message } => message,
        other => panic!("expected InvalidInvocation, got {other:?}"),
    }
}

fn trap_message(status: &ExecStatus) -> &str {
    match status {
        ExecStatus::Trap { message } => message,
        other => panic!("expected Trap, got {other:?}"),
    }
}

#[test]
fn hello_world_writes_to_stdout() {
    let rt = runtime();
    let outcome = run(&rt, HELLO, ExecRequest::default());
    assert_eq!(outcome.status, ExecStatus::Success, "{outcome:?}");
    assert_eq!(outcome.stdout, b"hello, world\n");
    assert!(outcome.stderr.is_empty());
    assert_eq!(outcome.exit_code, None);
    assert!(outcome.returned.is_empty());
    assert_eq!(outcome.memory_peak_bytes, 65536);
    assert_eq!(outcome.status.code(), "SUCCESS");
}

const ECHO: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (local $n i32)
    (loop $again
      (i32.store (i32.const 0) (i32.const 1024))
      (i32.store (i32.const 4) (i32.const 4096))
      (if (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8))
        (then unreachable))
      (local.set $n (i32.load (i32.const 8)))
      (if (i32.eqz (local.get $n)) (then return))
      (i32.store (i32.const 16) (i32.const 1024))
      (i32.store (i32.const 20) (local.get $n))
      (drop (call $fd_write (i32.const 2) (i32.const 16) (i32.const 1) (i32.const 24)))
      (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))
      (br $again))))
"#;

#[test]
fn stdin_is_echoed_to_stdout_and_stderr() {
    let rt = runtime();
    let input: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let outcome = run(
        &rt,
        ECHO,
        ExecRequest {
            stdin: input.clone(),
            ..ExecRequest::default()
        },
    );
    assert_eq!(outcome.status, ExecStatus::Success, "{outcome:?}");
    assert_eq!(outcome.stdout, input);
    assert_eq!(outcome.stderr, input);
}

const ARGS_AND_ENV: &str = r#"
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $write (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start")
    (drop (call $args_sizes_get (i32.const 16) (i32.const 20)))
    (drop (call $args_get (i32.const 1024) (i32.const 4096)))
    (call $write (i32.const 4096) (i32.load (i32.const 20)))
    (drop (call $environ_sizes_get (i32.const 16) (i32.const 20)))
    (drop (call $environ_get (i32.const 1024) (i32.const 8192)))
    (call $write (i32.const 8192) (i32.load (i32.const 20)))))
"#;

#[test]
fn args_and_env_are_visible_and_nothing_else() {
    let rt = runtime();
    let outcome = run(
        &rt,
        ARGS_AND_ENV,
        ExecRequest {
            args: vec!["one".into(), "two words".into()],
            env: vec![("FOO".into(), "bar".into()), ("X".into(), "1".into())],
            ..ExecRequest::default()
        },
    );
    assert_eq!(outcome.status, ExecStatus::Success, "{outcome:?}");
    assert_eq!(outcome.stdout, b"module\0one\0two words\0FOO=bar\0X=1\0");

    // No request env: the guest sees an empty environment, not the host's.
    let outcome = run(&rt, ARGS_AND_ENV, ExecRequest::default());
    assert_eq!(outcome.stdout, b"module\0");
}

fn exit_with(code: i32) -> String {
    format!(
        r#"(module
          (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
          (memory (export "memory") 1)
          (func (export "_start") (call $exit (i32.const {code})) unreachable))"#
    )
}

#[test]
fn exit_codes_are_reported() {
    let rt = runtime();
    let outcome = run(&rt, &exit_with(3), ExecRequest::default());
    assert_eq!(outcome.status, ExecStatus::ExitNonZero);
    assert_eq!(outcome.status.code(), "EXIT_NONZERO");
    assert_eq!(outcome.exit_code, Some(3));

    let outcome = run(&rt, &exit_with(0), ExecRequest::default());
    assert_eq!(outcome.status, ExecStatus::Success);
    assert_eq!(outcome.exit_code, Some(0));
}

/// No WASI imports at all.
const MATH: &str = r#"
(module
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "mul") (param f64 f64) (result f64) (f64.mul (local.get 0) (local.get 1)))
  (func (export "wide") (param i64) (result i64 f32) (i64.mul (local.get 0) (i64.const 2)) (f32.const 0.5))
  (func (export "div0") (param f64) (result f64) (f64.div (local.get 0) (f64.const 0)))
  (func $boom (export "boom") unreachable)
  (func (export "takes_ref") (param funcref))
  (memory (export "mem") 1))
"#;

#[test]
fn exported_functions_are_called_with_converted_arguments() {
    let rt = runtime();
    let module = prepare(&rt, MATH);
    assert!(!module.uses_wasi());

    let outcome = rt.run(&module, call("add", &[n(2), n(40)]));
    assert_eq!(outcome.status, ExecStatus::Success, "{outcome:?}");
    assert_eq!(outcome.returned, vec![json!(42)]);

    let outcome = rt.run(&module, call("mul", &[f(1.5), n(4)]));
    assert_eq!(outcome.status, ExecStatus::Success, "{outcome:?}");
    assert_eq!(outcome.returned, vec![json!(6.0)]);

    let outcome = rt.run(&module, call("wide", &[n(1 << 40)]));
    assert_eq!(outcome.returned, vec![json!(1i64 << 41), json!(0.5)]);

    let outcome = rt.run(&module, call("div0", &[n(1)]));
    assert_eq!(outcome.returned, vec![json!("Infinity")]);

    // Unsigned i32 values wrap like wasm integers do.
    let outcome = rt.run(&module, call("add", &[n(4_294_967_295), n(1)]));
    assert_eq!(outcome.returned, vec![json!(0)]);
}

#[test]
fn bad_invocations_are_refused_with_clear_messages() {
    let rt = runtime();
    let module = prepare(&rt, MATH);

    let outcome = rt.run(&module, call("add", &[n(2)]));
    let message = invalid_message(&outcome.status);
    assert!(message.contains("takes 2 arguments; 1 given"), "{message}");
    assert_eq!(outcome.status.code(), "INVALID_INVOCATION");

    let outcome = rt.run(&module, call("add", &[f(2.5), n(1)]));
    let message = invalid_message(&outcome.status);
    assert!(
        message.contains("argument 1 of `add` must be an i32"),
        "{message}"
    );

    let outcome = rt.run(&module, call("add", &[n(1 << 40), n(1)]));
    invalid_message(&outcome.status);

    let outcome = rt.run(&module, call("nope", &[]));
    let message = invalid_message(&outcome.status);
    assert!(message.contains("no function `nope`"), "{message}");
    assert!(message.contains("add(i32, i32) -> i32"), "{message}");

    let outcome = rt.run(&module, call("mem", &[]));
    let message = invalid_message(&outcome.status);
    assert!(
        message.contains("memory export, not a function"),
        "{message}"
    );

    let outcome = rt.run(&module, call("takes_ref", &[n(0)]));
    let message = invalid_message(&outcome.status);
    assert!(message.contains("only i32, i64, f32 and f64"), "{message}");

    // Neither `_start` nor a function.
    let outcome = rt.run(&module, ExecRequest::default());
    let message = invalid_message(&outcome.status);
    assert!(message.contains("exports neither `_start`"), "{message}");
    assert!(message.contains("mul(f64, f64) -> f64"), "{message}");
}

#[test]
fn a_reactor_is_initialized_before_its_function() {
    let rt = runtime();
    let wat = r#"
      (module
        (global $base (mut i32) (i32.const 0))
        (func (export "_initialize") (global.set $base (i32.const 40)))
        (func (export "get") (result i32) (i32.add (global.get $base) (i32.const 2))))"#;
    let outcome = run(&rt, wat, call("get", &[]));
    assert_eq!(outcome.returned, vec![json!(42)]);
}

#[test]
fn traps_are_reported_with_the_trap_and_a_backtrace() {
    let rt = runtime();
    let outcome = run(&rt, MATH, call("boom", &[]));
    let message = trap_message(&outcome.status);
    assert!(message.contains("unreachable"), "{message}");
    assert!(message.contains("wasm backtrace"), "{message}");
    assert!(message.contains("boom"), "{message}");
    assert_eq!(outcome.status.code(), "TRAP");
}

#[test]
fn imports_outside_wasi_are_refused_at_prepare() {
    let rt = runtime();
    let err = rt
        .prepare(&wasm(
            r#"(module (import "env" "now" (func (result f64))) (func (export "_start")))"#,
        ))
        .unwrap_err();
    match &err {
        WasmError::UnknownImport { module, name } => {
            assert_eq!((module.as_str(), name.as_str()), ("env", "now"));
        }
        other => panic!("expected UnknownImport, got {other:?}"),
    }
    assert!(err.to_string().contains("`env::now`"), "{err}");

    let err = rt
        .prepare(&wasm(
            r#"(module (import "wasi_snapshot_preview1" "no_such_call" (func)))"#,
        ))
        .unwrap_err();
    assert!(matches!(err, WasmError::UnknownImport { .. }), "{err:?}");

    // A real WASI function with the wrong signature.
    let err = rt
        .prepare(&wasm(
            r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32))))"#,
        ))
        .unwrap_err();
    assert!(matches!(err, WasmError::InvalidModule(_)), "{err:?}");
}

#[test]
fn bytes_that_are_not_a_module_are_refused_clearly() {
    let rt = runtime();
    let err = rt.prepare(b"#!/bin/sh\necho hi\n").unwrap_err();
    assert!(matches!(err, WasmError::NotWasm(_)), "{err:?}");
    assert!(err.to_string().contains("00 61 73 6d"), "{err}");

    let err = rt.prepare(HELLO.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("WebAssembly text"), "{err}");

    let bytes = wasm(HELLO);
    let err = rt.prepare(&bytes[..bytes.len() - 7]).unwrap_err();
    match &err {
        WasmError::InvalidModule(message) => {
            assert!(message.contains("end"), "{message}");
        }
        other => panic!("expected InvalidModule, got {other:?}"),
    }

    let err = rt.prepare(&bytes[..6]).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");

    // Valid binary, invalid code: a type error.
    let err = rt
        .prepare(&wasm(r#"(module (func (result i32) (i64.const 1)))"#))
        .unwrap_err();
    assert!(matches!(err, WasmError::InvalidModule(_)), "{err:?}");
}

#[test]
fn oversized_modules_are_refused_before_compiling() {
    let rt = WasmRuntime::new(RuntimeConfig {
        max_module_bytes: 16,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let err = rt.prepare(&wasm(HELLO)).unwrap_err();
    assert!(
        matches!(err, WasmError::TooLarge { limit: 16, .. }),
        "{err:?}"
    );
    assert_eq!(rt.cache_stats().misses, 0);
}

#[test]
fn an_infinite_loop_hits_the_time_limit() {
    let rt = runtime();
    let budget = Duration::from_millis(200);
    let outcome = run(&rt, SPIN, with_time(budget));
    assert_eq!(outcome.status, ExecStatus::TimeLimitExceeded);
    assert_eq!(outcome.status.code(), "TIME_LIMIT_EXCEEDED");
    assert!(outcome.duration >= budget, "{:?}", outcome.duration);
    assert!(
        outcome.duration < budget * 2 + Duration::from_millis(800),
        "{:?}",
        outcome.duration
    );
}

#[test]
fn an_endless_start_function_hits_the_time_limit() {
    let rt = runtime();
    let wat = r#"
      (module
        (func $init (loop $l (br $l)))
        (start $init)
        (func (export "_start")))"#;
    let outcome = run(&rt, wat, with_time(Duration::from_millis(200)));
    assert_eq!(outcome.status, ExecStatus::TimeLimitExceeded);
}

const SLEEP: &str = r#"
(module
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; One relative monotonic clock subscription of $ns nanoseconds.
  (func (export "sleep") (param $ns i64) (result i32)
    (i32.store8 (i32.const 8) (i32.const 0))
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (local.get $ns))
    (i32.store16 (i32.const 40) (i32.const 0))
    (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128))))
"#;

#[test]
fn sleeping_past_the_budget_is_stopped_at_once() {
    let rt = runtime();
    let module = prepare(&rt, SLEEP);
    let budget = Duration::from_millis(500);

    let mut request = with_time(budget);
    request.function = Some("sleep".into());
    request.function_args = vec![n(3_600_000_000_000)];
    let outcome = rt.run(&module, request.clone());
    assert_eq!(outcome.status, ExecStatus::TimeLimitExceeded);
    assert!(outcome.duration < budget, "{:?}", outcome.duration);

    // A short sleep within the budget works (errno 0 = success).
    request.function_args = vec![n(5_000_000)];
    let outcome = rt.run(&module, request);
    assert_eq!(outcome.status, ExecStatus::Success, "{outcome:?}");
    assert_eq!(outcome.returned, vec![json!(0)]);
}

#[test]
fn sleeping_with_a_ready_fd_returns_at_once() {
    let rt = runtime();
    // A one-hour clock and a write subscription on stdout: stdout is ready, so poll_oneoff
    // returns one fd_write event (type 2) at once. Returns nevents * 10 + the event's type.
    let wat = r#"
      (module
        (import "wasi_snapshot_preview1" "poll_oneoff"
          (func $poll (param i32 i32 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (func (export "poll") (result i32)
          (i32.store8 (i32.const 8) (i32.const 0))
          (i32.store (i32.const 16) (i32.const 1))
          (i64.store (i32.const 24) (i64.const 3600000000000))
          (i32.store8 (i32.const 56) (i32.const 2))
          (i32.store (i32.const 64) (i32.const 1))
          (if (result i32) (call $poll (i32.const 0) (i32.const 128) (i32.const 2) (i32.const 256))
            (then (i32.const -1))
            (else (i32.add
              (i32.mul (i32.load (i32.const 256)) (i32.const 10))
              (i32.load8_u (i32.const 138)))))))"#;
    let mut request = call("poll", &[]);
    request.limits.time = Duration::from_secs(2);
    let outcome = run(&rt, wat, request);
    assert_eq!(outcome.status, ExecStatus::Success, "{outcome:?}");
    assert_eq!(outcome.returned, vec![json!(12)]);
    assert!(outcome.duration < Duration::from_secs(2));
}

#[test]
fn runs_work_on_tokio_blocking_threads_and_with_huge_budgets() {
    let rt = std::sync::Arc::new(runtime());
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let outcome = tokio.block_on(async {
        let rt = rt.clone();
        tokio::task::spawn_blocking(move || {
            let module = prepare(&rt, ECHO);
            rt.run(
                &module,
                ExecRequest {
                    stdin: b"from tokio".to_vec(),
                    limits: ExecLimits {
                        time: Duration::MAX,
                        ..ExecLimits::default()
                    },
                    ..ExecRequest::default()
                },
            )
        })
        .await
        .unwrap()
    });
    assert_eq!(outcome.status, ExecStatus::Success, "{outcome:?}");
    assert_eq!(outcome.stdout, b"from tokio");
}

fn limited(memory_bytes: u64) -> ExecRequest {
    ExecRequest {
        limits: ExecLimits {
            memory_bytes,
            ..ExecLimits::default()
        },
        ..ExecRequest::default()
    }
}

#[test]
fn a_memory_bomb_hits_the_memory_limit() {
    let rt = runtime();
    let wat = r#"
      (module
        (memory 1)
        (func (export "_start")
          (loop $l (drop (memory.grow (i32.const 16))) (br $l))))"#;
    let limit = 16 * 1024 * 1024;
    let outcome = run(&rt, wat, limited(limit));
    assert_eq!(outcome.status, ExecStatus::MemoryLimitExceeded);
    assert_eq!(outcome.status.code(), "MEMORY_LIMIT_EXCEEDED");
    assert!(outcome.memory_peak_bytes <= limit);
    assert!(outcome.memory_peak_bytes > limit - 2 * 1024 * 1024);
}

#[test]
fn a_huge_initial_memory_hits_the_memory_limit() {
    let rt = runtime();
    let outcome = run(
        &rt,
        r#"(module (memory 1000) (func (export "_start")))"#,
        limited(16 * 1024 * 1024),
    );
    assert_eq!(outcome.status, ExecStatus::MemoryLimitExceeded);
}

#[test]
fn growing_past_the_modules_own_maximum_fails_the_spec_way() {
    let rt = runtime();
    let wat = r#"
      (module
        (memory 1 2)
        (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))"#;
    let outcome = run(&rt, wat, call("grow", &[n(5)]));
    assert_eq!(outcome.status, ExecStatus::Success, "{outcome:?}");
    assert_eq!(outcome.returned, vec![json!(-1)]);
    assert_eq!(outcome.memory_peak_bytes, 65536);
}

#[test]
fn a_table_bomb_traps() {
    let rt = runtime();
    let wat = r#"
      (module
        (table 1 funcref)
        (func (export "_start")
          (loop $l (drop (table.grow (ref.null func) (i32.const 1000))) (br $l))))"#;
    let outcome = run(&rt, wat, ExecRequest::default());
    let message = trap_message(&outcome.status);
    assert!(message.contains("table limit exceeded"), "{message}");
}

#[test]
fn deep_recursion_is_a_stack_overflow_trap() {
    let rt = runtime();
    let wat = r#"
      (module
        (func $down (param i32) (result i32)
          (i32.add (call $down (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))
        (func (export "_start") (drop (call $down (i32.const 0)))))"#;
    let outcome = run(&rt, wat, ExecRequest::default());
    let message = trap_message(&outcome.status);
    assert!(message.contains("stack overflow"), "{message}");
    // Thousands of frames, but the message stays short.
    assert!(message.lines().count() < 30, "{message}");
}

/// Writes 1600 × 64 KiB (100 MiB) to the fd given as the argument.
const FLOOD: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "flood") (param $fd i32)
    (local $i i32)
    (i32.store (i32.const 0) (i32.const 65536))
    (i32.store (i32.const 4) (i32.const 65536))
    (loop $l
      (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 1600))))))
"#;

#[test]
fn an_output_flood_is_stopped_and_truncated_to_the_cap() {
    let rt = runtime();
    let module = prepare(&rt, FLOOD);
    let outcome = rt.run(&module, call("flood", &[n(1)]));
    assert_eq!(outcome.status, ExecStatus::OutputLimitExceeded);
    assert_eq!(outcome.status.code(), "OUTPUT_LIMIT_EXCEEDED");
    assert_eq!(outcome.stdout.len(), DEFAULT_MAX_STDOUT);

    let mut request = call("flood", &[n(2)]);
    request.limits.max_stderr = 1000;
    let outcome = rt.run(&module, request);
    assert_eq!(outcome.status, ExecStatus::OutputLimitExceeded);
    assert_eq!(outcome.stderr.len(), 1000);
    assert!(outcome.stdout.is_empty());
}

#[test]
fn the_filesystem_is_not_reachable() {
    let rt = runtime();
    // Asks for the preopen at fd 3, then tries to open a path under it; exits with the errno.
    let wat = r#"
      (module
        (import "wasi_snapshot_preview1" "fd_prestat_get"
          (func $prestat (param i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "path_open"
          (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
        (memory (export "memory") 1)
        (data (i32.const 0) "etc/passwd")
        (func (export "prestat") (result i32) (call $prestat (i32.const 3) (i32.const 64)))
        (func (export "_start")
          (call $exit
            (call $path_open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 10)
              (i32.const 0) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 100)))))"#;
    let module = prepare(&rt, wat);
    const EBADF: i32 = 8;
    let outcome = rt.run(&module, ExecRequest::default());
    assert_eq!(outcome.status, ExecStatus::ExitNonZero, "{outcome:?}");
    assert_eq!(outcome.exit_code, Some(EBADF));

    let outcome = rt.run(&module, call("prestat", &[]));
    assert_eq!(outcome.returned, vec![json!(EBADF)]);
}

#[test]
fn a_normal_run_succeeds_while_a_hostile_one_spins() {
    let rt = runtime();
    let spin = prepare(&rt, SPIN);
    let hello = prepare(&rt, HELLO);
    std::thread::scope(|scope| {
        let hostile = scope.spawn(|| rt.run(&spin, with_time(Duration::from_secs(3))));
        // Give the hostile run time to start spinning.
        std::thread::sleep(Duration::from_millis(100));
        let outcome = rt.run(&hello, ExecRequest::default());
        assert_eq!(outcome.status, ExecStatus::Success);
        assert_eq!(outcome.stdout, b"hello, world\n");
        assert!(!hostile.is_finished(), "the hostile run is still going");
        let hostile = hostile.join().unwrap();
        assert_eq!(hostile.status, ExecStatus::TimeLimitExceeded);
    });
}

#[test]
fn a_module_from_another_runtime_is_refused() {
    let rt = runtime();
    let other = runtime();
    let module = prepare(&other, HELLO);
    let outcome = rt.run(&module, ExecRequest::default());
    let message = invalid_message(&outcome.status);
    assert!(message.contains("another WasmRuntime"), "{message}");
}

#[test]
fn cpu_time_and_duration_are_measured() {
    let rt = runtime();
    let outcome = run(&rt, SPIN, with_time(Duration::from_millis(100)));
    assert!(outcome.duration >= Duration::from_millis(100));
    assert!(outcome.cpu_time > Duration::ZERO);
    assert!(outcome.cpu_time <= outcome.duration + Duration::from_millis(20));
}
