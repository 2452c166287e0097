/* The bench's stand-in for WasmWiz's hello_world.wasm (a Rust WASI command that ignores stdin
 * and prints "Hello, World!"), built by bench/run.sh when the WasmWiz binary is not around:
 *   clang --target=wasm32-wasi -O2 -o hello.wasm hello.c
 * (Debian: clang, lld, wasi-libc, libclang-rt-14-dev-wasm32). */
#include <stdio.h>

int main(void) {
    puts("Hello, World!");
    return 0;
}
