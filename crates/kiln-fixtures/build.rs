//! Gives the crate an `OUT_DIR`: compiled C fixtures are cached there (see `src/c_modules.rs`),
//! so `cargo clean` removes them with the rest of the build.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
}
