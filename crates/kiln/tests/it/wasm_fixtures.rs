//! WebAssembly modules for the HTTP tests, built from WAT in the test (no binaries in the
//! repository): a greeter, a stdin echo, a module printing its args and environment, an adder,
//! and hostile ones (an endless loop, a memory bomb, a non-zero exit).

/// `fd_write`s `text` to stdout, then returns (exit 0).
pub fn hello(text: &str) -> Vec<u8> {
    let escaped: String = text.bytes().map(|b| format!("\\{b:02x}")).collect();
    wat::parse_str(format!(
        r#"(module
          (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 64) "{escaped}")
          (func (export "_start")
            (i32.store (i32.const 0) (i32.const 64))
            (i32.store (i32.const 4) (i32.const {len}))
            (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 32)))))"#,
        len = text.len()
    ))
    .expect("wat")
}

/// Copies stdin to stdout.
pub fn echo() -> Vec<u8> {
    wat::parse_str(
        r#"(module
          (import "wasi_snapshot_preview1" "fd_read" (func $r (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (func (export "_start")
            (loop $more
              (i32.store (i32.const 0) (i32.const 1024))
              (i32.store (i32.const 4) (i32.const 4096))
              (drop (call $r (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
              (if (i32.gt_u (i32.load (i32.const 8)) (i32.const 0))
                (then
                  (i32.store (i32.const 4) (i32.load (i32.const 8)))
                  (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 12)))
                  (br $more))))))"#,
    )
    .expect("wat")
}

pub const ADD: &str = r#"(module (func (export "add") (param i32 i32) (result i32)
  (i32.add (local.get 0) (local.get 1))))"#;
pub const SPIN: &str = r#"(module (func (export "_start") (loop $l (br $l))))"#;
pub const BOMB: &str = r#"(module (memory 1) (func (export "_start")
  (loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) unreachable))"#;
pub const EXIT3: &str = r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $exit (i32.const 3))))"#;

pub fn module(wat: &str) -> Vec<u8> {
    wat::parse_str(wat).expect("wat")
}

/// Writes its argv buffer, then its environment buffer, to stdout: each string NUL-terminated
/// (`argv[0]`, the args, then `KEY=VALUE`s).
pub fn args_env() -> Vec<u8> {
    module(
        r#"(module
          (import "wasi_snapshot_preview1" "args_sizes_get" (func $asg (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "args_get" (func $ag (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "environ_sizes_get" (func $esg (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "environ_get" (func $eg (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (func $out (param $ptr i32) (param $len i32)
            (i32.store (i32.const 16) (local.get $ptr))
            (i32.store (i32.const 20) (local.get $len))
            (drop (call $w (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 32))))
          (func (export "_start")
            (drop (call $asg (i32.const 0) (i32.const 4)))
            (drop (call $ag (i32.const 1024) (i32.const 4096)))
            (call $out (i32.const 4096) (i32.load (i32.const 4)))
            (drop (call $esg (i32.const 0) (i32.const 4)))
            (drop (call $eg (i32.const 2048) (i32.const 8192)))
            (call $out (i32.const 8192) (i32.load (i32.const 4)))))"#,
    )
}

/// A module importing a function no host provides.
pub const UNKNOWN_IMPORT: &str = r#"(module (import "env" "launch_missiles" (func))
  (func (export "_start")))"#;
