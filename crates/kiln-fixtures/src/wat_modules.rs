//! Hostile modules that only WebAssembly text can express (a start function, table growth) or
//! that are clearer in it than in C, compiled with the `wat` crate.

/// Compiles WebAssembly text; panics on a syntax error (a bug in the fixture).
pub fn wasm(text: &str) -> Vec<u8> {
    wat::parse_str(text).unwrap_or_else(|e| panic!("fixture WAT does not parse: {e}"))
}

/// `_start` spins forever (only a time limit stops it).
pub fn spin() -> Vec<u8> {
    wasm(r#"(module (func (export "_start") (loop $l (br $l))))"#)
}

/// `_start` grows its table by 1000 elements at a time, forever.
pub fn table_bomb() -> Vec<u8> {
    wasm(
        r#"(module
          (table 1 funcref)
          (func (export "_start")
            (loop $l (drop (table.grow (ref.null func) (i32.const 1000))) (br $l))))"#,
    )
}

/// The module's start function (run during instantiation, before `_start`) counts to 2^62
/// with a little arithmetic on the way: centuries of work that only a time limit stops.
pub fn huge_start() -> Vec<u8> {
    wasm(
        r#"(module
          (global $sink (mut i64) (i64.const 0))
          (func $init
            (local $i i64)
            (loop $l
              (global.set $sink (i64.xor (global.get $sink) (i64.mul (local.get $i) (i64.const 31))))
              (local.set $i (i64.add (local.get $i) (i64.const 1)))
              (br_if $l (i64.lt_u (local.get $i) (i64.const 0x4000000000000000)))))
          (start $init)
          (func (export "_start")))"#,
    )
}
